//! Generative decoder LLMs (the Llama family, Qwen2, Qwen3) from a GGUF file or a Hugging Face
//! folder, run in burn: on the CPU either with every weight dequantized to f32 (the reference
//! path) or with GGUF weights kept in their quantized blocks and multiplied by our own
//! dispatched kernels (`auto`); on CUDA or wgpu in f32.
//!
//! `gguf` reads the file format, `quant` the tensor types, `config` the architecture,
//! `weights` the tensors by role, `tokenizer` and `chat` the text side, `model` the network and
//! `generate` the decoding loop. [`Llm`] puts them together for the CLI and the app.

pub mod chat;
pub mod config;
pub mod generate;
pub mod gguf;
pub mod model;
/// GGUF tensor types and the quantized matrix product, from the host-kernel crate.
pub use reclab_kernels::quant;
pub mod score;
pub mod tokenizer;
pub mod weights;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::prelude::*;

pub use chat::{ChatTemplate, Message};
pub use config::{Architecture, DecoderConfig, SUPPORTED_ARCHITECTURES};
pub use generate::{Control, Finish, Output, Sampling, Timing};
pub use model::Decoder;
pub use tokenizer::DecoderTokenizer;

use self::gguf::{GgufFile, Value};
use self::weights::{Safetensors, WeightSource};
use super::error::{LmError, Result};
use crate::device::{DeviceChoice, Resolved};

/// The numeric path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// Quantized weights stay quantized on the CPU; f32 elsewhere.
    Auto,
    /// Every weight dequantized to f32 at load (the reference path).
    F32,
}

impl FromStr for Dtype {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Dtype::Auto),
            "f32" => Ok(Dtype::F32),
            other => Err(format!("unknown dtype {other:?}: use auto or f32")),
        }
    }
}

/// A model's files, opened and checked, before any weight is loaded.
pub struct ModelFiles {
    pub path: PathBuf,
    /// "GGUF" or "Hugging Face folder".
    pub format: &'static str,
    pub config: DecoderConfig,
    pub tokenizer: DecoderTokenizer,
    pub chat: Option<ChatTemplate>,
    /// Ids that end generation.
    pub eos: Vec<u32>,
    source: WeightSource,
}

impl ModelFiles {
    /// Opens a `.gguf` file or a Hugging Face folder.
    pub fn open(path: &Path) -> Result<ModelFiles> {
        if path.is_dir() {
            Self::open_folder(path)
        } else if path.exists() {
            Self::open_gguf(path)
        } else {
            Err(LmError::MissingFile {
                path: path.to_path_buf(),
                expected: "a .gguf file or a Hugging Face folder (config.json, tokenizer.json, model.safetensors)".into(),
            })
        }
    }

    fn open_gguf(path: &Path) -> Result<ModelFiles> {
        let file = GgufFile::open(path)?;
        let config = DecoderConfig::from_gguf(&file)?;
        let tokenizer = DecoderTokenizer::from_gguf(&file)?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(LmError::Field {
                path: path.to_path_buf(),
                field: "tokenizer.ggml.tokens".into(),
                found: format!("{} tokens", tokenizer.vocab_size()),
                expected: format!("at most the model's vocabulary of {}", config.vocab_size),
            });
        }
        let chat = file
            .metadata("tokenizer.chat_template")
            .and_then(Value::as_str)
            .map(|source| ChatTemplate {
                source: source.to_string(),
                bos_token: tokenizer.bos_text.clone(),
                eos_token: tokenizer.eos_text.clone(),
            });
        let mut eos = Vec::new();
        for key in [
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
        ] {
            if let Some(id) = file.metadata(key).and_then(Value::as_u64) {
                eos.push(id as u32);
            }
        }
        eos.dedup();
        Ok(ModelFiles {
            path: path.to_path_buf(),
            format: "GGUF",
            config,
            tokenizer,
            chat,
            eos,
            source: WeightSource::Gguf(file),
        })
    }

    fn open_folder(dir: &Path) -> Result<ModelFiles> {
        let config_path = dir.join("config.json");
        if !config_path.exists() {
            return Err(LmError::MissingFile {
                path: config_path,
                expected: "config.json with the model's architecture".into(),
            });
        }
        let config = DecoderConfig::from_hf_config(&config_path)?;
        let read_json = |name: &str| -> Result<Option<serde_json::Value>> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(LmError::Io { path, source }),
                Ok(text) => serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| LmError::Parse {
                        path,
                        message: format!("not valid JSON: {e}"),
                    }),
            }
        };
        let tokenizer_config = read_json("tokenizer_config.json")?.unwrap_or_default();
        let generation = read_json("generation_config.json")?.unwrap_or_default();
        let model_config = read_json("config.json")?.unwrap_or_default();
        // A special token is written as a string or as {"content": …}.
        let token_text = |key: &str| -> String {
            match tokenizer_config.get(key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v
                    .get("content")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default()
                    .to_string(),
                None => String::new(),
            }
        };
        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.exists() {
            return Err(LmError::MissingFile {
                path: tokenizer_path,
                expected: "tokenizer.json (the fast tokenizer)".into(),
            });
        }
        let ids = |v: Option<&serde_json::Value>| -> Vec<u32> {
            match v {
                Some(serde_json::Value::Number(n)) => {
                    n.as_u64().map(|n| vec![n as u32]).unwrap_or_default()
                }
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .filter_map(|n| n.as_u64())
                    .map(|n| n as u32)
                    .collect(),
                _ => Vec::new(),
            }
        };
        let bos = ids(generation
            .get("bos_token_id")
            .or(model_config.get("bos_token_id")))
        .first()
        .copied();
        let add_bos = tokenizer_config
            .get("add_bos_token")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let mut tokenizer = DecoderTokenizer::from_file(&tokenizer_path, bos, add_bos)?;
        tokenizer.bos_text = token_text("bos_token");
        tokenizer.eos_text = token_text("eos_token");
        let mut eos = ids(generation.get("eos_token_id"));
        if eos.is_empty() {
            eos = ids(model_config.get("eos_token_id"));
        }
        let template_file = std::fs::read_to_string(dir.join("chat_template.jinja")).ok();
        let template = template_file.or_else(|| match tokenizer_config.get("chat_template") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            // A list of named templates: the default one.
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template"))
                .and_then(|t| t.as_str())
                .map(str::to_string),
            _ => None,
        });
        let chat = template.map(|source| ChatTemplate {
            source,
            bos_token: tokenizer.bos_text.clone(),
            eos_token: tokenizer.eos_text.clone(),
        });
        Ok(ModelFiles {
            path: dir.to_path_buf(),
            format: "Hugging Face folder",
            config,
            tokenizer,
            chat,
            eos,
            source: WeightSource::Safetensors(Safetensors::open(dir)?),
        })
    }

    /// How many tensors of each type the weights hold.
    pub fn tensor_types(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        match &self.source {
            WeightSource::Gguf(file) => {
                for t in &file.header.tensors {
                    *counts.entry(t.ty.name().to_string()).or_insert(0) += 1;
                }
            }
            WeightSource::Safetensors(st) => {
                for ty in st.dtypes() {
                    *counts.entry(ty).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    /// Bytes the weights will take in memory on the CPU with `dtype`.
    pub fn memory_bytes(&self, dtype: Dtype) -> u64 {
        let c = &self.config;
        let f32_bytes = (c.parameters() as u64).saturating_mul(4).saturating_add(
            // The tied output layer is held once more, as f32 beside the embedding's rows.
            if c.tied_embeddings {
                (c.vocab_size as u64).saturating_mul(c.hidden as u64 * 4)
            } else {
                0
            },
        );
        match (&self.source, dtype) {
            (WeightSource::Gguf(file), Dtype::Auto) => file
                .header
                .tensors
                .iter()
                .map(|t| {
                    if t.ty.is_quantized() {
                        t.bytes as u64
                    } else {
                        t.elements() as u64 * 4
                    }
                })
                .sum(),
            _ => f32_bytes,
        }
    }

    /// The file's own tensor types a CPU `auto` load keeps quantized.
    pub fn is_quantized(&self) -> bool {
        match &self.source {
            WeightSource::Gguf(file) => file.header.tensors.iter().any(|t| t.ty.is_quantized()),
            WeightSource::Safetensors(_) => false,
        }
    }

    /// Loads the weights onto `device`.
    pub fn load(self, dtype: Dtype, device: DeviceChoice) -> Result<Llm> {
        let resolved = device.resolve().map_err(LmError::Device)?;
        let keep_quantized = dtype == Dtype::Auto && resolved == Resolved::Cpu;
        let needed = self.memory_bytes(if keep_quantized {
            Dtype::Auto
        } else {
            Dtype::F32
        });
        if let Some(available) = available_memory_bytes()
            && needed > available
        {
            return Err(LmError::Device(format!(
                "{}: the model needs about {:.1} GiB of memory ({}), and this machine has {:.1} GiB available{}",
                self.path.display(),
                needed as f64 / (1u64 << 30) as f64,
                if keep_quantized {
                    "weights kept quantized"
                } else {
                    "weights as f32"
                },
                available as f64 / (1u64 << 30) as f64,
                if keep_quantized {
                    ""
                } else {
                    "; --dtype auto keeps a quantized GGUF's weights in their blocks"
                }
            )));
        }
        let started = std::time::Instant::now();
        let engine = match resolved {
            Resolved::Cpu => Engine::Cpu(Decoder::load(
                &self.source,
                &self.config,
                keep_quantized,
                &Default::default(),
            )?),
            #[cfg(feature = "cuda")]
            Resolved::Cuda => Engine::Cuda(Decoder::load(
                &self.source,
                &self.config,
                false,
                &Default::default(),
            )?),
            #[cfg(feature = "wgpu")]
            Resolved::Wgpu => Engine::Wgpu(Decoder::load(
                &self.source,
                &self.config,
                false,
                &Default::default(),
            )?),
            #[allow(unreachable_patterns)] // reachable only in builds without some backends
            other => {
                return Err(LmError::Device(format!(
                    "{} is not compiled into this build",
                    other.label()
                )));
            }
        };
        Ok(Llm {
            files: self,
            engine,
            quantized: keep_quantized,
            device: resolved,
            load_secs: started.elapsed().as_secs_f64(),
        })
    }
}

/// `MemAvailable` of `/proc/meminfo`, where there is one.
fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

// One per loaded model, held for its lifetime: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Engine {
    Cpu(Decoder<burn::backend::Flex>),
    #[cfg(feature = "cuda")]
    Cuda(Decoder<burn::backend::Cuda>),
    #[cfg(feature = "wgpu")]
    Wgpu(Decoder<burn::backend::Wgpu>),
}

/// Runs `$body` with `$d` bound to the engine's decoder, whatever its backend.
macro_rules! with_decoder {
    ($engine:expr, $d:ident => $body:expr) => {
        match $engine {
            Engine::Cpu($d) => $body,
            #[cfg(feature = "cuda")]
            Engine::Cuda($d) => $body,
            #[cfg(feature = "wgpu")]
            Engine::Wgpu($d) => $body,
        }
    };
}

/// A loaded generative model.
pub struct Llm {
    pub files: ModelFiles,
    engine: Engine,
    /// Whether the weights are kept quantized (the CPU's `auto` with a quantized GGUF).
    pub quantized: bool,
    pub device: Resolved,
    pub load_secs: f64,
}

impl Llm {
    /// Opens and loads in one step.
    pub fn open(path: &Path, dtype: Dtype, device: DeviceChoice) -> Result<Llm> {
        ModelFiles::open(path)?.load(dtype, device)
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.files.config
    }

    pub fn tokenizer(&self) -> &DecoderTokenizer {
        &self.files.tokenizer
    }

    /// The prompt text the chat template gives for `messages`.
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<String> {
        let template = self.files.chat.as_ref().ok_or_else(|| {
            LmError::Template(format!(
                "{} has no chat template; use --prompt with the text as the model expects it",
                self.files.path.display()
            ))
        })?;
        template.render(messages)
    }

    /// Token ids of a chat.
    pub fn chat_ids(&self, messages: &[Message]) -> Result<Vec<u32>> {
        self.files.tokenizer.encode(&self.chat_prompt(messages)?)
    }

    /// Token ids of a plain prompt, with the BOS token where the model asks for one.
    pub fn prompt_ids(&self, text: &str) -> Result<Vec<u32>> {
        let t = &self.files.tokenizer;
        let mut ids = Vec::new();
        if let (true, Some(bos)) = (t.add_bos, t.bos) {
            ids.push(bos);
        }
        ids.extend(t.encode(text)?);
        Ok(ids)
    }

    /// Generates text for each prompt, streaming pieces to `on_text(row, piece)`.
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        sampling: &Sampling,
        on_text: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Result<(Vec<Output>, Timing)> {
        let tokenizer = &self.files.tokenizer;
        let eos = &self.files.eos;
        with_decoder!(&self.engine, d => generate::generate_text(d, tokenizer, prompts, eos, sampling, on_text))
    }

    /// Token ids only, ending at `eos` (pass none to run the full length).
    pub fn generate_ids(
        &self,
        prompts: &[Vec<u32>],
        eos: &[u32],
        sampling: &Sampling,
    ) -> Result<Vec<Vec<u32>>> {
        let (out, _) = with_decoder!(&self.engine, d => generate::generate_ids(d, prompts, eos, sampling, &mut |_, _| Control::Continue))?;
        Ok(out.into_iter().map(|(ids, _)| ids).collect())
    }

    /// The logits after `ids`: of the last position, or of every position (rows of the
    /// vocabulary's size, one per position).
    pub fn logits(&self, ids: &[u32], all_positions: bool) -> Result<Vec<f32>> {
        let vocab = self.files.config.vocab_size;
        if let Some(id) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(LmError::Tokenize {
                what: "a prompt".into(),
                message: format!("token id {id} is outside the model's vocabulary of {vocab}"),
            });
        }
        Ok(with_decoder!(&self.engine, d => logits_of(d, ids, all_positions)))
    }

    /// The log-probability of each token of each continuation after `prefix` (see
    /// [`score::continuation_logprobs`]).
    pub fn continuation_logprobs(
        &self,
        prefix: &[u32],
        continuations: &[Vec<u32>],
    ) -> Result<Vec<Vec<f32>>> {
        let c = &self.files.config;
        if prefix.is_empty() {
            return Err(LmError::Tokenize {
                what: "a prompt".into(),
                message: "it has no tokens".into(),
            });
        }
        if let Some(id) = prefix
            .iter()
            .chain(continuations.iter().flatten())
            .find(|&&id| id as usize >= c.vocab_size)
        {
            return Err(LmError::Tokenize {
                what: "a prompt".into(),
                message: format!(
                    "token id {id} is outside the model's vocabulary of {}",
                    c.vocab_size
                ),
            });
        }
        let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
        if prefix.len() + longest > c.context_length {
            return Err(LmError::Tokenize {
                what: "a prompt".into(),
                message: format!(
                    "{} prompt tokens and a continuation of {longest} exceed the model's context of {} tokens",
                    prefix.len(),
                    c.context_length
                ),
            });
        }
        Ok(with_decoder!(&self.engine, d => score::continuation_logprobs(d, prefix, continuations)))
    }

    /// Bytes the loaded weights take.
    pub fn weight_bytes(&self) -> usize {
        with_decoder!(&self.engine, d => d.weight_bytes())
    }
}

fn logits_of<B: Backend>(decoder: &Decoder<B>, ids: &[u32], all_positions: bool) -> Vec<f32> {
    let mut cache = model::KvCache::new(decoder.config.layers, vec![0]);
    decoder
        .forward(&[ids.to_vec()], &mut cache, all_positions)
        .into_data()
        .iter::<f32>()
        .collect()
}
