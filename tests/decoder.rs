//! The generative decoder against independent references: gguf-py's dequantization, Hugging
//! Face transformers' logits and greedy continuations (fixtures written by
//! `tests/reference/decoder_parity.py`), and properties every decoding path must keep (the KV
//! cache equals a full recompute, a batch equals its prompts one by one, a seed repeats its
//! text, stop strings stop).

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use reclab::device::isa::Isa;
use reclab::lm::decoder::config::DecoderConfig;
use reclab::lm::decoder::generate::{self, Control, Sampling};
use reclab::lm::decoder::gguf::{GgufFile, Value, Writer};
use reclab::lm::decoder::model::{Decoder, KvCache};
use reclab::lm::decoder::quant::{self, TensorType};
use reclab::lm::decoder::weights::{Safetensors, WeightSource};
use reclab::lm::decoder::{Dtype, Finish, Llm, Message, ModelFiles};
use reclab::train::DeviceChoice;
use serde_json::Value as Json;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm/decoder")
}

fn read_json(name: &str) -> Json {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

fn floats(v: &Json) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn every_tensor_type_dequantizes_as_gguf_py_does_on_every_kernel() {
    let cases = read_json("gguf-dequant.json");
    for case in cases.as_array().unwrap() {
        let name = case["type"].as_str().unwrap();
        let ty = [
            TensorType::F16,
            TensorType::BF16,
            TensorType::Q4_0,
            TensorType::Q4_1,
            TensorType::Q8_0,
            TensorType::Q4K,
            TensorType::Q6K,
        ]
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap();
        let hex = case["bytes"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let expected = floats(&case["values"]);
        for isa in [Isa::Baseline, Isa::Avx2Fma, Isa::Avx512] {
            let mut out = vec![f32::NAN; expected.len()];
            quant::dequantize_row_on(isa, ty, &bytes, &mut out);
            for (i, (a, b)) in out.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "{name} on {isa:?}, value {i}: {a} against gguf-py's {b}"
                );
            }
        }
    }
}

#[test]
fn the_dot_kernels_agree_with_a_double_precision_sum() {
    let a: Vec<f32> = (0..1003)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
        .collect();
    let b: Vec<f32> = (0..1003)
        .map(|i| ((i * 11 % 53) as f32 - 26.0) / 3.0)
        .collect();
    let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
    for isa in [Isa::Baseline, Isa::Avx2Fma, Isa::Avx512] {
        let got = quant::dot_on(isa, &a, &b) as f64;
        assert!(
            (got - exact).abs() < 1e-3 * exact.abs().max(1.0),
            "{isa:?}: {got} vs {exact}"
        );
    }
}

/// A tiny Hugging Face folder of the fixtures, loaded without a tokenizer (ids in, logits out).
fn tiny(name: &str) -> (DecoderConfig, WeightSource) {
    let dir = fixtures().join(name);
    let config = DecoderConfig::from_hf_config(&dir.join("config.json")).unwrap();
    (
        config,
        WeightSource::Safetensors(Safetensors::open(&dir).unwrap()),
    )
}

fn last_logits(decoder: &Decoder<Flex>, prompt: &[u32]) -> Vec<f32> {
    let mut cache = KvCache::new(decoder.config.layers, vec![0]);
    decoder
        .forward(&[prompt.to_vec()], &mut cache, false)
        .into_data()
        .iter::<f32>()
        .collect()
}

fn greedy(decoder: &Decoder<Flex>, prompts: &[Vec<u32>], n: usize) -> Vec<Vec<u32>> {
    let sampling = Sampling {
        max_new_tokens: n,
        ..Sampling::default()
    };
    let (out, _) = generate::generate_ids(decoder, prompts, &[], &sampling, &mut |_, _| {
        Control::Continue
    })
    .unwrap();
    out.into_iter().map(|(ids, _)| ids).collect()
}

#[test]
fn tiny_llama_qwen2_qwen3_folders_match_transformers() {
    // bf16 sharded llama with Llama 3 rope scaling and its own output layer; f16 qwen2 with
    // q/k/v biases; bf16 qwen3 with q/k norms and a head size apart from hidden / heads.
    let reference = read_json("tiny-decoders.json");
    for name in ["tiny-llama", "tiny-qwen2", "tiny-qwen3"] {
        let (config, source) = tiny(name);
        let decoder = Decoder::<Flex>::load(&source, &config, false, &Default::default()).unwrap();
        let case = &reference[name];
        let prompt = ids(&case["prompt_ids"]);
        let diff = max_abs_diff(
            &last_logits(&decoder, &prompt),
            &floats(&case["last_logits"]),
        );
        assert!(
            diff < 1e-4,
            "{name}: logits differ from transformers' by {diff}"
        );
        assert_eq!(
            greedy(&decoder, &[prompt], 12)[0],
            ids(&case["greedy_12"]),
            "{name}"
        );
    }
}

#[test]
fn kv_cache_decoding_equals_a_full_recompute() {
    let (config, source) = tiny("tiny-qwen3");
    let decoder = Decoder::<Flex>::load(&source, &config, false, &Default::default()).unwrap();
    let tokens: Vec<u32> = vec![5, 77, 301, 2, 19, 64, 64, 200, 3];
    let full: Vec<f32> = {
        let mut cache = KvCache::new(config.layers, vec![0]);
        decoder
            .forward(std::slice::from_ref(&tokens), &mut cache, true)
            .into_data()
            .iter::<f32>()
            .collect()
    };
    // Prefill four tokens, then one at a time.
    let mut cache = KvCache::new(config.layers, vec![0]);
    let mut stepped: Vec<f32> = decoder
        .forward(&[tokens[..4].to_vec()], &mut cache, true)
        .into_data()
        .iter::<f32>()
        .collect();
    for &t in &tokens[4..] {
        stepped.extend(
            decoder
                .forward(&[vec![t]], &mut cache, false)
                .into_data()
                .iter::<f32>(),
        );
    }
    assert_eq!(cache.len(), tokens.len());
    let diff = max_abs_diff(&full, &stepped);
    assert!(
        diff < 1e-4,
        "cached decoding differs from recomputing by {diff}"
    );
}

#[test]
fn a_batch_gives_what_its_prompts_give_one_by_one() {
    let (config, source) = tiny("tiny-llama");
    let decoder = Decoder::<Flex>::load(&source, &config, false, &Default::default()).unwrap();
    let prompts = vec![vec![1, 17, 250], vec![1, 3, 99, 42, 42, 7, 311], vec![9]];
    let batched = greedy(&decoder, &prompts, 10);
    for (prompt, ids) in prompts.iter().zip(&batched) {
        assert_eq!(&greedy(&decoder, std::slice::from_ref(prompt), 10)[0], ids);
    }
    // And the logits of a left-padded row equal the row alone.
    let mut cache = KvCache::new(config.layers, vec![4, 0]);
    let padded = vec![vec![0, 0, 0, 0, 1, 17, 250], vec![1, 3, 99, 42, 42, 7, 311]];
    let both: Vec<f32> = decoder
        .forward(&padded, &mut cache, false)
        .into_data()
        .iter::<f32>()
        .collect();
    let alone = last_logits(&decoder, &[1, 17, 250]);
    assert!(max_abs_diff(&both[..config.vocab_size], &alone) < 1e-4);
}

/// The tiny llama written as llama.cpp writes a GGUF: q/k rows permuted, Llama 3 scaling as
/// `rope_freqs.weight`, matrices as F32 or Q8_0.
fn tiny_llama_gguf(quantized: bool) -> GgufFile {
    let (config, folder) = tiny("tiny-llama");
    use reclab::lm::decoder::weights::{LayerPart, Role};
    let c = &config;
    let mut tensors = Vec::new();
    let mut put =
        |gguf_name: &str, role: Role, rows: usize, cols: usize, permute_heads: Option<usize>| {
            let mut values = folder.matrix(role, (rows, cols), c).unwrap().into_f32();
            if let Some(heads) = permute_heads {
                // llama.cpp's permutation: per head of d rows, HF row j·d/2 + i goes to 2i + j.
                let d = rows / heads;
                let original = values.clone();
                for h in 0..heads {
                    for j in 0..2 {
                        for i in 0..d / 2 {
                            let from = (h * d + j * (d / 2) + i) * cols;
                            let to = (h * d + 2 * i + j) * cols;
                            values[to..to + cols].copy_from_slice(&original[from..from + cols]);
                        }
                    }
                }
            }
            let (ty, bytes) = if quantized && rows > 1 {
                (TensorType::Q8_0, quant::quantize_q8_0(&values))
            } else {
                (
                    TensorType::F32,
                    values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            };
            let dims = if rows > 1 {
                vec![cols as u64, rows as u64]
            } else {
                vec![cols as u64]
            };
            tensors.push((gguf_name.to_string(), dims, ty, bytes));
        };
    let (h, q, kv) = (c.hidden, c.heads * c.head_dim, c.kv_heads * c.head_dim);
    put("token_embd.weight", Role::Embedding, c.vocab_size, h, None);
    put("output.weight", Role::Output, c.vocab_size, h, None);
    put("output_norm.weight", Role::OutputNorm, 1, h, None);
    for i in 0..c.layers {
        let l = |p| Role::Layer(i, p);
        put(
            &format!("blk.{i}.attn_norm.weight"),
            l(LayerPart::AttnNorm),
            1,
            h,
            None,
        );
        put(
            &format!("blk.{i}.attn_q.weight"),
            l(LayerPart::Q),
            q,
            h,
            Some(c.heads),
        );
        put(
            &format!("blk.{i}.attn_k.weight"),
            l(LayerPart::K),
            kv,
            h,
            Some(c.kv_heads),
        );
        put(
            &format!("blk.{i}.attn_v.weight"),
            l(LayerPart::V),
            kv,
            h,
            None,
        );
        put(
            &format!("blk.{i}.attn_output.weight"),
            l(LayerPart::O),
            h,
            q,
            None,
        );
        put(
            &format!("blk.{i}.ffn_norm.weight"),
            l(LayerPart::FfnNorm),
            1,
            h,
            None,
        );
        put(
            &format!("blk.{i}.ffn_gate.weight"),
            l(LayerPart::Gate),
            c.ffn,
            h,
            None,
        );
        put(
            &format!("blk.{i}.ffn_up.weight"),
            l(LayerPart::Up),
            c.ffn,
            h,
            None,
        );
        put(
            &format!("blk.{i}.ffn_down.weight"),
            l(LayerPart::Down),
            h,
            c.ffn,
            None,
        );
    }
    // Llama 3 scaling as llama.cpp stores it: each frequency's divisor.
    let plain = DecoderConfig {
        rope_scaling: None,
        ..config.clone()
    };
    let factors: Vec<u8> = plain
        .inv_freq()
        .iter()
        .zip(config.inv_freq())
        .flat_map(|(base, scaled)| (base / scaled).to_le_bytes())
        .collect();
    tensors.push((
        "rope_freqs.weight".into(),
        vec![(c.head_dim / 2) as u64],
        TensorType::F32,
        factors,
    ));
    let u32v = |v: usize| Value::U32(v as u32);
    let writer = Writer {
        metadata: vec![
            ("general.architecture".into(), Value::String("llama".into())),
            ("llama.block_count".into(), u32v(c.layers)),
            ("llama.context_length".into(), u32v(c.context_length)),
            ("llama.embedding_length".into(), u32v(c.hidden)),
            ("llama.feed_forward_length".into(), u32v(c.ffn)),
            ("llama.attention.head_count".into(), u32v(c.heads)),
            ("llama.attention.head_count_kv".into(), u32v(c.kv_heads)),
            (
                "llama.rope.freq_base".into(),
                Value::F32(c.rope_theta as f32),
            ),
            (
                "llama.attention.layer_norm_rms_epsilon".into(),
                Value::F32(c.rms_eps as f32),
            ),
            ("llama.vocab_size".into(), u32v(c.vocab_size)),
        ],
        tensors,
    };
    GgufFile::from_bytes(Path::new("tiny-llama.gguf"), writer.bytes()).unwrap()
}

#[test]
fn a_gguf_with_llama_cpp_permuted_rows_gives_the_folders_logits() {
    let reference = read_json("tiny-decoders.json");
    let prompt = ids(&reference["tiny-llama"]["prompt_ids"]);
    let expected = floats(&reference["tiny-llama"]["last_logits"]);

    let file = tiny_llama_gguf(false);
    let config = DecoderConfig::from_gguf(&file).unwrap();
    let source = WeightSource::Gguf(file);
    let decoder = Decoder::<Flex>::load(&source, &config, false, &Default::default()).unwrap();
    let diff = max_abs_diff(&last_logits(&decoder, &prompt), &expected);
    assert!(diff < 1e-4, "F32 GGUF differs from transformers by {diff}");

    // Q8_0: the quantized kernels (kept in blocks) and the dequantized f32 path agree with each
    // other to float rounding, and with transformers to what 8-bit weights cost.
    let file = tiny_llama_gguf(true);
    let config = DecoderConfig::from_gguf(&file).unwrap();
    let source = WeightSource::Gguf(file);
    let kept = Decoder::<Flex>::load(&source, &config, true, &Default::default()).unwrap();
    let dense = Decoder::<Flex>::load(&source, &config, false, &Default::default()).unwrap();
    assert!(kept.weight_bytes() * 3 < dense.weight_bytes());
    let (a, b) = (last_logits(&kept, &prompt), last_logits(&dense, &prompt));
    assert!(max_abs_diff(&a, &b) < 1e-4, "{}", max_abs_diff(&a, &b));
    let diff = max_abs_diff(&a, &expected);
    assert!(diff < 0.05, "Q8_0 GGUF differs from transformers by {diff}");
    assert_eq!(
        greedy(&kept, std::slice::from_ref(&prompt), 12),
        greedy(&dense, &[prompt], 12)
    );
}

// ---- the shared SmolLM2-135M-Instruct GGUF ----

fn smollm2() -> PathBuf {
    let root = std::env::var_os("RECLAB_MODELS")
        .expect("set RECLAB_MODELS to the folder that holds SmolLM2-135M-Instruct/");
    PathBuf::from(root).join("SmolLM2-135M-Instruct")
}

fn gguf_path() -> PathBuf {
    smollm2().join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn messages(case: &Json) -> Vec<Message> {
    serde_json::from_value(case["messages"].clone()).unwrap()
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct)"]
fn smollm2_f32_path_matches_transformers() {
    let reference = read_json("smollm2-gguf.json");
    let llm = Llm::open(&gguf_path(), Dtype::F32, DeviceChoice::Cpu).unwrap();
    assert!(!llm.quantized);
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let prompt = llm.chat_prompt(&messages(case)).unwrap();
        assert_eq!(
            prompt,
            case["prompt"].as_str().unwrap(),
            "{name}: chat template"
        );
        let prompt_ids = llm.chat_ids(&messages(case)).unwrap();
        assert_eq!(prompt_ids, ids(&case["prompt_ids"]), "{name}: prompt ids");
        let logits = llm.logits(&prompt_ids, false).unwrap();
        let first32 = floats(&case["last_logits_first32"]);
        let diff = max_abs_diff(&logits[..32], &first32);
        assert!(diff < 1e-3, "{name}: first 32 logits differ by {diff}");
        let top = &case["last_logits_top10"];
        for (id, value) in ids(&top["ids"]).iter().zip(floats(&top["values"])) {
            let got = logits[*id as usize];
            assert!(
                (got - value).abs() < 1e-3,
                "{name}: logit of {id}: {got} vs {value}"
            );
        }
        let continuation = llm
            .generate_ids(
                &[prompt_ids],
                &[],
                &Sampling {
                    max_new_tokens: 32,
                    ..Sampling::default()
                },
            )
            .unwrap();
        assert_eq!(
            continuation[0],
            ids(&case["greedy_32"]),
            "{name}: greedy continuation"
        );
    }
}

fn log_softmax(l: &[f32]) -> Vec<f64> {
    let m = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z = l.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln() + m;
    l.iter().map(|&x| x as f64 - z).collect()
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct)"]
fn smollm2_quantized_path_against_f32_top1_and_kl() {
    let reference = read_json("smollm2-gguf.json");
    let exact = Llm::open(&gguf_path(), Dtype::F32, DeviceChoice::Cpu).unwrap();
    let kept = Llm::open(&gguf_path(), Dtype::Auto, DeviceChoice::Cpu).unwrap();
    assert!(kept.quantized);
    assert!(
        kept.weight_bytes() * 4 < exact.weight_bytes(),
        "{} vs {}",
        kept.weight_bytes(),
        exact.weight_bytes()
    );
    let vocab = exact.config().vocab_size;
    let (mut agree, mut positions, mut kl_sum) = (0usize, 0usize, 0.0f64);
    for case in reference["cases"].as_array().unwrap() {
        let mut tokens = ids(&case["prompt_ids"]);
        tokens.extend(ids(&case["greedy_32"]));
        let a = exact.logits(&tokens, true).unwrap();
        let b = kept.logits(&tokens, true).unwrap();
        for (p, q) in a.chunks_exact(vocab).zip(b.chunks_exact(vocab)) {
            let argmax = |l: &[f32]| (0..l.len()).max_by(|&i, &j| l[i].total_cmp(&l[j])).unwrap();
            agree += (argmax(p) == argmax(q)) as usize;
            positions += 1;
            kl_sum += log_softmax(p)
                .into_iter()
                .zip(log_softmax(q))
                .map(|(lp, lq)| lp.exp() * (lp - lq))
                .sum::<f64>();
        }
    }
    let top1 = agree as f64 / positions as f64;
    let kl = kl_sum / positions as f64;
    eprintln!(
        "quantized vs f32 over {positions} positions: top-1 agreement {top1:.4}, mean KL {kl:.3e}"
    );
    // Both paths compute with the same dequantized values; only the order of float sums differs.
    assert!(top1 >= 0.99 && kl < 1e-4, "top-1 {top1}, KL {kl}");
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct)"]
fn the_gguf_tokenizer_encodes_as_tokenizer_json_does() {
    let files = ModelFiles::open(&gguf_path()).unwrap();
    let reference = tokenizers::Tokenizer::from_file(smollm2().join("tokenizer.json")).unwrap();
    let texts = [
        "What is the capital of France?",
        "Café crème à Zürich — résumé, s'il vous plaît! Ñandú, Ærø, Œuvre.",
        "emoji 🎬🍿👩‍👩‍👧 and flags 🇫🇷🇯🇵",
        "中文分词测试，日本語のテキスト、한국어 문장.",
        "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * 2).collect();\n}\n",
        "tabs\tand   runs    of spaces\n\n\nand newlines   ",
        "numbers 1234567 3.14159 1e-9 and 2026-11-30",
        "<|im_start|>user\nHi<|im_end|>\n",
        "",
        "  leading spaces and trailing  ",
    ];
    for text in texts {
        let expected = reference.encode(text, false).unwrap().get_ids().to_vec();
        assert_eq!(files.tokenizer.encode(text).unwrap(), expected, "{text:?}");
        assert_eq!(
            files.tokenizer.decode(&expected).unwrap(),
            reference.decode(&expected, true).unwrap()
        );
    }
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct)"]
fn smollm2_answers_seeds_repeat_stops_stop_and_batches_match() {
    let llm = Llm::open(&gguf_path(), Dtype::Auto, DeviceChoice::Cpu).unwrap();
    let ask = |q: &str| llm.chat_ids(&[Message::new("user", q)]).unwrap();
    let capital = ask("What is the capital of France?");
    let mut streamed = String::new();
    let greedy = Sampling {
        max_new_tokens: 24,
        ..Sampling::default()
    };
    let (out, timing) = llm
        .generate(std::slice::from_ref(&capital), &greedy, &mut |_, piece| {
            streamed.push_str(piece);
            true
        })
        .unwrap();
    assert!(out[0].text.contains("Paris"), "{:?}", out[0].text);
    assert_eq!(streamed, out[0].text, "the stream spells the whole text");
    assert_eq!(out[0].finish, Finish::EndOfSequence);
    assert!(timing.decode_tokens_per_s() > 0.0);

    // A stop string ends the text before it.
    let stop = Sampling {
        stop: vec!["Paris".into()],
        ..greedy.clone()
    };
    let (out, _) = llm
        .generate(std::slice::from_ref(&capital), &stop, &mut |_, _| true)
        .unwrap();
    assert!(
        !out[0].text.contains("Paris") && out[0].finish == Finish::StopString,
        "{:?}",
        out[0]
    );

    // Sampling: the same seed repeats its text; another seed gives another.
    let sampled = |seed| {
        let s = Sampling {
            temperature: 1.0,
            top_p: 0.95,
            max_new_tokens: 20,
            seed,
            ..Sampling::default()
        };
        let taste = ask("Describe a film you would recommend to a child.");
        llm.generate(&[taste], &s, &mut |_, _| true).unwrap().0[0]
            .token_ids
            .clone()
    };
    assert_eq!(sampled(7), sampled(7));
    assert_ne!(sampled(7), sampled(8));

    // Cancelling stops after the first piece.
    let mut pieces = 0;
    let (out, _) = llm
        .generate(std::slice::from_ref(&capital), &greedy, &mut |_, _| {
            pieces += 1;
            false
        })
        .unwrap();
    assert_eq!((pieces, out[0].finish), (1, Finish::Cancelled));

    // A batch of prompts of different lengths gives each prompt's own greedy text.
    let prompts = vec![
        capital,
        ask("Name three colours."),
        ask("I liked Toy Story and Finding Nemo. In one sentence, what do I like?"),
    ];
    let batch = llm.generate_ids(&prompts, &llm.files.eos, &greedy).unwrap();
    for (prompt, ids) in prompts.iter().zip(&batch) {
        assert_eq!(
            &llm.generate_ids(std::slice::from_ref(prompt), &llm.files.eos, &greedy)
                .unwrap()[0],
            ids
        );
    }
}

#[test]
fn damaged_gguf_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = tiny_llama_gguf(true).header.tensors.len();
    assert!(bytes > 0);
    let path = dir.path().join("model.gguf");
    std::fs::write(&path, b"GGUF\x03\x00\x00\x00").unwrap();
    let err = ModelFiles::open(&path).err().unwrap().to_string();
    assert!(
        err.contains("model.gguf") && err.contains("truncated"),
        "{err}"
    );
    std::fs::write(&path, b"PK\x03\x04 not a gguf at all").unwrap();
    let err = ModelFiles::open(&path).err().unwrap().to_string();
    assert!(err.contains("not a GGUF file"), "{err}");
    let err = ModelFiles::open(&dir.path().join("missing.gguf"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.gguf"), "{err}");
}

#[test]
fn a_gguf_of_another_architecture_is_refused_with_the_list() {
    let writer = Writer {
        metadata: vec![("general.architecture".into(), Value::String("gpt2".into()))],
        tensors: vec![],
    };
    let file = GgufFile::from_bytes(Path::new("gpt2.gguf"), writer.bytes()).unwrap();
    let err = DecoderConfig::from_gguf(&file).unwrap_err().to_string();
    assert!(
        err.contains("\"gpt2\"") && err.contains("qwen2") && err.contains("gpt2.gguf"),
        "{err}"
    );
}

#[test]
fn a_model_larger_than_the_memory_is_refused_saying_how_much_it_needs() {
    // A configuration of 2^20 hidden units over 2^20 tokens (its weights would be terabytes):
    // refused before any weight is read, whatever the tensors.
    let tokens: Vec<Value> = ["a", "b", "ab"]
        .iter()
        .map(|t| Value::String(t.to_string()))
        .collect();
    let big = Value::U32(1 << 20);
    let writer = Writer {
        metadata: vec![
            ("general.architecture".into(), Value::String("llama".into())),
            ("llama.block_count".into(), Value::U32(4)),
            ("llama.embedding_length".into(), big.clone()),
            ("llama.feed_forward_length".into(), big.clone()),
            ("llama.attention.head_count".into(), Value::U32(16)),
            ("llama.vocab_size".into(), big),
            ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
            ("tokenizer.ggml.tokens".into(), Value::Array(tokens)),
            (
                "tokenizer.ggml.merges".into(),
                Value::Array(vec![Value::String("a b".into())]),
            ),
        ],
        tensors: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.gguf");
    std::fs::write(&path, writer.bytes()).unwrap();
    let files = ModelFiles::open(&path).unwrap();
    let err = files
        .load(Dtype::F32, DeviceChoice::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("huge.gguf") && err.contains("needs about") && err.contains("GiB available"),
        "{err}"
    );
}
