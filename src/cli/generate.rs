//! `reclab generate …`: text from a generative model (a GGUF file or a Hugging Face folder),
//! streamed to the terminal; `--info` describes the model without loading its weights.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail};
use clap::Args;
use reclab::device::DeviceChoice;
use reclab::lm::decoder::{Dtype, Message, ModelFiles, Sampling};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A `.gguf` file or a Hugging Face folder (config.json, tokenizer.json, model.safetensors).
    #[arg(long)]
    llm: PathBuf,
    /// Plain text to continue, as given (repeat for a batch).
    #[arg(long, conflicts_with = "chat")]
    prompt: Vec<String>,
    /// A user message, put through the model's chat template (repeat for a batch).
    #[arg(long)]
    chat: Vec<String>,
    /// A system message for `--chat` (else the template's default, if it has one).
    #[arg(long, requires = "chat")]
    system: Option<String>,
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Sample among the smallest set of tokens whose probabilities reach P (1: all).
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Sample among the K most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Hugging Face's repetition penalty (1: off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop where the text reaches this (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Write `--max-new-tokens` tokens whatever the model says (for benchmarks).
    #[arg(long)]
    ignore_eos: bool,
    /// auto keeps a GGUF's quantized weights in their blocks on the CPU; f32 dequantizes them.
    #[arg(long, default_value = "auto")]
    dtype: Dtype,
    /// auto, cpu, cuda or wgpu.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Print one JSON object (an array of them for several prompts) instead of streaming.
    #[arg(long)]
    json: bool,
    /// Describe the model (architecture, sizes, tensor types, chat template, memory) and stop.
    #[arg(long)]
    info: bool,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let files = ModelFiles::open(&args.llm)?;
    if args.info {
        return print_info(&files, args.json);
    }
    if args.prompt.is_empty() && args.chat.is_empty() {
        bail!("nothing to generate from: give --prompt TEXT or --chat TEXT (or --info)");
    }
    let llm = files.load(args.dtype, args.device)?;
    let prompts: Vec<Vec<u32>> = if args.chat.is_empty() {
        args.prompt
            .iter()
            .map(|p| llm.prompt_ids(p))
            .collect::<reclab::lm::Result<_>>()?
    } else {
        args.chat
            .iter()
            .map(|c| {
                let mut messages = Vec::new();
                if let Some(system) = &args.system {
                    messages.push(Message::new("system", system));
                }
                messages.push(Message::new("user", c));
                llm.chat_ids(&messages)
            })
            .collect::<reclab::lm::Result<_>>()?
    };
    let sampling = Sampling {
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
        stop: args.stop.clone(),
        ignore_eos: args.ignore_eos,
    };
    let cancelled = Arc::new(AtomicBool::new(false));
    {
        let cancelled = cancelled.clone();
        // Ctrl-C ends generation cleanly (what was written is kept and printed).
        let _ = ctrlc::set_handler(move || cancelled.store(true, Ordering::SeqCst));
    }
    let stream = !args.json && prompts.len() == 1;
    let mut stdout = std::io::stdout();
    let (outputs, timing) = llm.generate(&prompts, &sampling, &mut |_, piece| {
        if stream {
            let _ = write!(stdout, "{piece}");
            let _ = stdout.flush();
        }
        !cancelled.load(Ordering::SeqCst)
    })?;
    if args.json {
        let objects: Vec<serde_json::Value> = outputs
            .iter()
            .zip(&prompts)
            .map(|(out, prompt)| {
                serde_json::json!({
                    "text": out.text,
                    "token_ids": out.token_ids,
                    "prompt_tokens": prompt.len(),
                    "finish": out.finish,
                    "prefill_tokens_per_s": timing.prefill_tokens_per_s(),
                    "decode_tokens_per_s": timing.decode_tokens_per_s(),
                    "dtype": if llm.quantized { "quantized" } else { "f32" },
                    "device": llm.device.label(),
                    "cpu_kernels": reclab::device::isa::Isa::detected().label(),
                })
            })
            .collect();
        let value = if objects.len() == 1 {
            objects.into_iter().next().unwrap_or_default()
        } else {
            serde_json::Value::Array(objects)
        };
        println!("{value}");
    } else {
        if stream {
            println!();
        } else {
            for (i, out) in outputs.iter().enumerate() {
                println!("--- {}\n{}", i + 1, out.text);
            }
        }
        eprintln!(
            "{} prompt tokens at {:.1} tokens/s, {} generated at {:.1} tokens/s ({}, {}, kernels {})",
            timing.prompt_tokens,
            timing.prefill_tokens_per_s(),
            outputs.iter().map(|o| o.token_ids.len()).sum::<usize>(),
            timing.decode_tokens_per_s(),
            llm.device.label(),
            if llm.quantized {
                "weights quantized"
            } else {
                "weights f32"
            },
            reclab::device::isa::Isa::detected().label(),
        );
    }
    Ok(())
}

fn print_info(files: &ModelFiles, json: bool) -> Result<()> {
    let c = &files.config;
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let auto = files.memory_bytes(Dtype::Auto);
    let f32_bytes = files.memory_bytes(Dtype::F32);
    if json {
        let value = serde_json::json!({
            "path": files.path,
            "format": files.format,
            "architecture": c.architecture.name(),
            "parameters": c.parameters(),
            "layers": c.layers,
            "hidden": c.hidden,
            "heads": c.heads,
            "kv_heads": c.kv_heads,
            "head_dim": c.head_dim,
            "ffn": c.ffn,
            "vocab_size": c.vocab_size,
            "context_length": c.context_length,
            "rope_theta": c.rope_theta,
            "tied_embeddings": c.tied_embeddings,
            "tensor_types": files.tensor_types(),
            "tokenizer": files.tokenizer.source,
            "eos_token_ids": files.eos,
            "chat_template": files.chat.as_ref().map(|t| &t.source),
            "memory_bytes_auto": auto,
            "memory_bytes_f32": f32_bytes,
        });
        println!("{value}");
        return Ok(());
    }
    println!("{} ({})", files.path.display(), files.format);
    println!(
        "architecture {}: {:.1}M parameters, {} layers, hidden {}, {} heads ({} key/value, size {}), feed-forward {}",
        c.architecture.name(),
        c.parameters() as f64 / 1e6,
        c.layers,
        c.hidden,
        c.heads,
        c.kv_heads,
        c.head_dim,
        c.ffn
    );
    println!(
        "vocabulary {}, context {}, rope theta {}{}, output layer {}",
        c.vocab_size,
        c.context_length,
        c.rope_theta,
        match &c.rope_scaling {
            Some(s) => format!(" (scaling {s:?})")
                .chars()
                .take(80)
                .collect::<String>(),
            None => String::new(),
        },
        if c.tied_embeddings {
            "tied to the embedding"
        } else {
            "separate"
        }
    );
    let types: Vec<String> = files
        .tensor_types()
        .iter()
        .map(|(t, n)| format!("{n} {t}"))
        .collect();
    println!("tensors: {}", types.join(", "));
    println!(
        "tokenizer: {} (end of sequence: {:?})",
        files.tokenizer.source, files.eos
    );
    println!(
        "memory: {:.2} GiB with --dtype auto{}, {:.2} GiB with --dtype f32",
        gib(auto),
        if files.is_quantized() {
            " (weights kept quantized on the CPU)"
        } else {
            ""
        },
        gib(f32_bytes)
    );
    match &files.chat {
        Some(t) => println!("chat template:\n{}", t.source),
        None => println!("chat template: none (use --prompt)"),
    }
    Ok(())
}
