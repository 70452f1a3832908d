//! A decoder's configuration, read from GGUF metadata or a Hugging Face `config.json`, and the
//! rotary embedding's frequencies it implies.

use std::path::Path;

use serde_json::Value as Json;

use super::gguf::{GgufFile, Value};
use crate::lm::error::{LmError, Result};

/// The architectures this engine runs.
pub const SUPPORTED_ARCHITECTURES: &str =
    "llama (Llama 2/3.x, SmolLM/SmolLM2, TinyLlama, Mistral-style), qwen2, qwen3";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Qwen2,
    Qwen3,
}

impl Architecture {
    fn parse(name: &str) -> Option<Architecture> {
        match name {
            "llama" | "mistral" => Some(Architecture::Llama),
            "qwen2" => Some(Architecture::Qwen2),
            "qwen3" => Some(Architecture::Qwen3),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
        }
    }
}

/// How rotary frequencies are stretched for long contexts.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Llama 3.1's: low frequencies divided by `factor`, high ones kept, a smooth band between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_context: f64,
    },
    /// Positions divided by `factor`.
    Linear { factor: f64 },
    /// Per-frequency divisors as llama.cpp stores them (`rope_freqs.weight`).
    Factors(Vec<f32>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub rms_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Option<RopeScaling>,
    pub context_length: usize,
    /// Whether the output layer is the token embedding (no separate weight).
    pub tied_embeddings: bool,
    /// q/k/v projections with biases (qwen2).
    pub attention_bias: bool,
    /// RMS norms on each head's queries and keys (qwen3).
    pub qk_norm: bool,
}

impl DecoderConfig {
    /// Checks the sizes agree with each other; `source` names the file for the error.
    fn checked(self, source: &Path) -> Result<DecoderConfig> {
        let bad = |field: &str, found: String, expected: &str| LmError::Field {
            path: source.to_path_buf(),
            field: field.to_string(),
            found,
            expected: expected.to_string(),
        };
        for (field, v) in [
            ("vocabulary size", self.vocab_size),
            ("hidden size", self.hidden),
            ("layer count", self.layers),
            ("head count", self.heads),
            ("key/value head count", self.kv_heads),
            ("head size", self.head_dim),
            ("feed-forward size", self.ffn),
        ] {
            if v == 0 || v > 1 << 24 {
                return Err(bad(field, v.to_string(), "a positive size"));
            }
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(bad(
                "key/value head count",
                self.kv_heads.to_string(),
                &format!("a divisor of the head count {}", self.heads),
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(bad(
                "head size",
                self.head_dim.to_string(),
                "an even number",
            ));
        }
        if !(self.rope_theta > 0.0 && self.rope_theta.is_finite()) {
            return Err(bad(
                "rope theta",
                self.rope_theta.to_string(),
                "a positive number",
            ));
        }
        if !(self.rms_eps >= 0.0 && self.rms_eps < 1.0) {
            return Err(bad(
                "rms norm epsilon",
                self.rms_eps.to_string(),
                "a small positive number",
            ));
        }
        Ok(self)
    }

    /// The inverse frequencies of the rotary embedding, one per pair of a head's dimensions.
    pub fn inv_freq(&self) -> Vec<f32> {
        let half = self.head_dim / 2;
        (0..half)
            .map(|i| {
                let base = 1.0 / self.rope_theta.powf(2.0 * i as f64 / self.head_dim as f64);
                let scaled = match &self.rope_scaling {
                    None => base,
                    Some(RopeScaling::Linear { factor }) => base / factor,
                    Some(RopeScaling::Factors(f)) => base / f.get(i).copied().unwrap_or(1.0) as f64,
                    Some(RopeScaling::Llama3 {
                        factor,
                        low_freq_factor,
                        high_freq_factor,
                        original_context,
                    }) => {
                        let wavelen = 2.0 * std::f64::consts::PI / base;
                        let low_wavelen = original_context / low_freq_factor;
                        let high_wavelen = original_context / high_freq_factor;
                        if wavelen < high_wavelen {
                            base
                        } else if wavelen > low_wavelen {
                            base / factor
                        } else {
                            let smooth = (original_context / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * base / factor + smooth * base
                        }
                    }
                };
                scaled as f32
            })
            .collect()
    }

    /// Parameters of the model (embedding counted once when tied).
    /// (In f64, so sizes a damaged file claims cannot overflow; saturates at `usize::MAX`.)
    pub fn parameters(&self) -> usize {
        let [hidden, head_dim, heads, kv_heads, ffn, vocab, layers] = [
            self.hidden,
            self.head_dim,
            self.heads,
            self.kv_heads,
            self.ffn,
            self.vocab_size,
            self.layers,
        ]
        .map(|v| v as f64);
        let attn = hidden * head_dim * (heads * 2.0 + kv_heads * 2.0);
        let per_layer = attn + 3.0 * hidden * ffn + 2.0 * hidden;
        let embed = vocab * hidden * if self.tied_embeddings { 1.0 } else { 2.0 };
        (embed + layers * per_layer + hidden) as usize
    }

    /// Reads the configuration of a GGUF file.
    pub fn from_gguf(file: &GgufFile) -> Result<DecoderConfig> {
        let path = &file.path;
        let arch_name = file
            .metadata("general.architecture")
            .and_then(Value::as_str)
            .ok_or_else(|| LmError::Field {
                path: path.clone(),
                field: "general.architecture".into(),
                found: "missing".into(),
                expected: "the model's architecture".into(),
            })?;
        let architecture =
            Architecture::parse(arch_name).ok_or_else(|| unsupported(path, arch_name))?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let get = |k: &str| -> Result<&Value> {
            file.metadata(&key(k)).ok_or_else(|| LmError::Field {
                path: path.clone(),
                field: key(k),
                found: "missing".into(),
                expected: "it in every GGUF of this architecture".into(),
            })
        };
        let int = |k: &str| -> Result<usize> {
            let v = get(k)?;
            v.as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| LmError::Field {
                    path: path.clone(),
                    field: key(k),
                    found: v.describe(),
                    expected: "a non-negative integer".into(),
                })
        };
        let float = |k: &str, default: f64| -> Result<f64> {
            match file.metadata(&key(k)) {
                None => Ok(default),
                Some(v) => v.as_f64().ok_or_else(|| LmError::Field {
                    path: path.clone(),
                    field: key(k),
                    found: v.describe(),
                    expected: "a number".into(),
                }),
            }
        };
        let hidden = int("embedding_length")?;
        let heads = int("attention.head_count")?;
        let kv_heads = match file.metadata(&key("attention.head_count_kv")) {
            Some(_) => int("attention.head_count_kv")?,
            None => heads,
        };
        let head_dim = match file.metadata(&key("attention.key_length")) {
            Some(_) => int("attention.key_length")?,
            None => hidden / heads.max(1),
        };
        let vocab_size = match file.metadata(&key("vocab_size")) {
            Some(_) => int("vocab_size")?,
            None => file
                .metadata("tokenizer.ggml.tokens")
                .and_then(Value::as_array)
                .map(|t| t.len())
                .unwrap_or(0),
        };
        let rope_scaling = if let Some(info) = file.tensor("rope_freqs.weight") {
            Some(RopeScaling::Factors(file.dequantize(info)?))
        } else {
            match file
                .metadata(&key("rope.scaling.type"))
                .and_then(Value::as_str)
            {
                None | Some("none") => None,
                Some("linear") => Some(RopeScaling::Linear {
                    factor: float("rope.scaling.factor", 1.0)?,
                }),
                Some(other) => {
                    return Err(LmError::Field {
                        path: path.clone(),
                        field: key("rope.scaling.type"),
                        found: format!("{other:?}"),
                        expected: "none or linear (Llama 3 scaling comes as rope_freqs.weight)"
                            .into(),
                    });
                }
            }
        };
        DecoderConfig {
            architecture,
            vocab_size,
            hidden,
            layers: int("block_count")?,
            heads,
            kv_heads,
            head_dim,
            ffn: int("feed_forward_length")?,
            rms_eps: float("attention.layer_norm_rms_epsilon", 1e-5)?,
            rope_theta: float("rope.freq_base", 10_000.0)?,
            rope_scaling,
            context_length: int("context_length").unwrap_or(4096),
            tied_embeddings: file.tensor("output.weight").is_none(),
            attention_bias: file.tensor("blk.0.attn_q.bias").is_some(),
            qk_norm: file.tensor("blk.0.attn_q_norm.weight").is_some(),
        }
        .checked(path)
    }

    /// Reads a Hugging Face `config.json`.
    pub fn from_hf_config(path: &Path) -> Result<DecoderConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| LmError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let json: Json = serde_json::from_str(&text).map_err(|e| LmError::Parse {
            path: path.to_path_buf(),
            message: format!("not valid JSON: {e}"),
        })?;
        let field = |name: &str, expected: &str| LmError::Field {
            path: path.to_path_buf(),
            field: name.to_string(),
            found: json
                .get(name)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "missing".into()),
            expected: expected.to_string(),
        };
        let model_type = json
            .get("model_type")
            .and_then(Json::as_str)
            .ok_or_else(|| field("model_type", "the model's architecture"))?;
        let architecture =
            Architecture::parse(model_type).ok_or_else(|| unsupported(path, model_type))?;
        let int = |name: &str| -> Result<usize> {
            json.get(name)
                .and_then(Json::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| field(name, "a non-negative integer"))
        };
        let float = |name: &str, default: f64| -> Result<f64> {
            match json.get(name) {
                None | Some(Json::Null) => Ok(default),
                Some(v) => v.as_f64().ok_or_else(|| field(name, "a number")),
            }
        };
        let hidden = int("hidden_size")?;
        let heads = int("num_attention_heads")?;
        let kv_heads = match json.get("num_key_value_heads") {
            None | Some(Json::Null) => heads,
            Some(_) => int("num_key_value_heads")?,
        };
        let head_dim = match json.get("head_dim") {
            None | Some(Json::Null) => hidden / heads.max(1),
            Some(_) => int("head_dim")?,
        };
        // transformers 5 writes `rope_parameters` (theta and scaling together); earlier versions
        // `rope_theta` and `rope_scaling`.
        let rope_parameters = json.get("rope_parameters").filter(|v| v.is_object());
        let rope_theta = match rope_parameters.and_then(|p| p.get("rope_theta")) {
            Some(theta) => theta
                .as_f64()
                .ok_or_else(|| field("rope_parameters", "a number as rope_theta"))?,
            None => float("rope_theta", 10_000.0)?,
        };
        let rope_scaling = match rope_parameters.or(json.get("rope_scaling")) {
            None | Some(Json::Null) => None,
            Some(s) => {
                let kind = s
                    .get("rope_type")
                    .or_else(|| s.get("type"))
                    .and_then(Json::as_str)
                    .unwrap_or("");
                let num = |k: &str| s.get(k).and_then(Json::as_f64);
                match kind {
                    "default" | "" => None,
                    "linear" => Some(RopeScaling::Linear {
                        factor: num("factor").ok_or_else(|| field("rope_scaling", "a factor"))?,
                    }),
                    "llama3" => Some(RopeScaling::Llama3 {
                        factor: num("factor").ok_or_else(|| field("rope_scaling", "a factor"))?,
                        low_freq_factor: num("low_freq_factor").unwrap_or(1.0),
                        high_freq_factor: num("high_freq_factor").unwrap_or(4.0),
                        original_context: num("original_max_position_embeddings").unwrap_or(8192.0),
                    }),
                    _ => {
                        return Err(field(
                            "rope_scaling",
                            "none, default, linear or llama3 (rope_parameters.rope_type)",
                        ));
                    }
                }
            }
        };
        DecoderConfig {
            architecture,
            vocab_size: int("vocab_size")?,
            hidden,
            layers: int("num_hidden_layers")?,
            heads,
            kv_heads,
            head_dim,
            ffn: int("intermediate_size")?,
            rms_eps: float("rms_norm_eps", 1e-6)?,
            rope_theta,
            rope_scaling,
            context_length: int("max_position_embeddings").unwrap_or(4096),
            tied_embeddings: json
                .get("tie_word_embeddings")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            attention_bias: match architecture {
                Architecture::Qwen2 => true,
                _ => json
                    .get("attention_bias")
                    .and_then(Json::as_bool)
                    .unwrap_or(false),
            },
            qk_norm: architecture == Architecture::Qwen3,
        }
        .checked(path)
    }
}

fn unsupported(path: &Path, name: &str) -> LmError {
    LmError::Parse {
        path: path.to_path_buf(),
        message: format!(
            "the architecture {name:?} is not supported; reclab's generative engine runs {SUPPORTED_ARCHITECTURES}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(scaling: Option<RopeScaling>) -> DecoderConfig {
        DecoderConfig {
            architecture: Architecture::Llama,
            vocab_size: 10,
            hidden: 8,
            layers: 1,
            heads: 2,
            kv_heads: 1,
            head_dim: 4,
            ffn: 16,
            rms_eps: 1e-5,
            rope_theta: 10_000.0,
            rope_scaling: scaling,
            context_length: 64,
            tied_embeddings: true,
            attention_bias: false,
            qk_norm: false,
        }
    }

    #[test]
    fn inverse_frequencies_by_hand() {
        // theta^(-2i/d) for d = 4: 1 and 1/100.
        assert_eq!(config(None).inv_freq(), vec![1.0, 0.01]);
        let linear = config(Some(RopeScaling::Linear { factor: 2.0 }));
        assert_eq!(linear.inv_freq(), vec![0.5, 0.005]);
        // Llama 3 scaling with an original context of 100: wavelengths 2π (kept, below 100/4)
        // and 200π (above 100/1: divided by 8).
        let llama3 = config(Some(RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_context: 100.0,
        }));
        assert_eq!(llama3.inv_freq(), vec![1.0, 0.01 / 8.0]);
    }

    #[test]
    fn rope_settings_read_alike_from_transformers_4_and_5_configs() {
        let dir = tempfile::tempdir().unwrap();
        let base = r#""model_type": "llama", "hidden_size": 8, "num_attention_heads": 2,
            "num_hidden_layers": 1, "intermediate_size": 16, "vocab_size": 10"#;
        let v4 = format!(
            r#"{{{base}, "rope_theta": 500000.0, "rope_scaling": {{"rope_type": "llama3", "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}}}"#
        );
        let v5 = format!(
            r#"{{{base}, "rope_parameters": {{"rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}}}"#
        );
        let read = |text: &str| {
            let path = dir.path().join("config.json");
            std::fs::write(&path, text).unwrap();
            DecoderConfig::from_hf_config(&path).unwrap()
        };
        let (a, b) = (read(&v4), read(&v5));
        assert_eq!(a, b);
        assert_eq!(a.rope_theta, 500000.0);
        assert!(matches!(
            a.rope_scaling,
            Some(RopeScaling::Llama3 { factor: 8.0, .. })
        ));
    }

    #[test]
    fn an_unknown_architecture_is_refused_with_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"model_type": "gpt2", "hidden_size": 8}"#).unwrap();
        let err = DecoderConfig::from_hf_config(&path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"gpt2\"") && err.contains("qwen3"), "{err}");
    }
}
