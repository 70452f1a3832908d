//! A Hugging Face model folder as it is distributed: `config.json`, `tokenizer.json`,
//! `model.safetensors`, and, when present, the sentence-transformers files that say how token
//! vectors become one sentence vector (`modules.json`, `1_Pooling/config.json`,
//! `sentence_bert_config.json`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::{LmError, Result};
use super::pooling::{Pooling, PoolingMode};

/// The architectures reclab runs, as `config.json` names them in `model_type`.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["bert"];

const SUPPORTED_HELP: &str = "reclab runs BERT-family encoders (`model_type` \"bert\": BERT, \
     MiniLM such as all-MiniLM-L6-v2, e5-, bge- and gte-small and the like)";

/// The fields of a BERT `config.json` the encoder needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
}

impl BertConfig {
    /// How many numbers the encoder this config describes holds (embeddings, layers; no
    /// pooler), or `None` when the count overflows: used to refuse a config that does not fit
    /// its weights file before any memory is reserved for it.
    pub fn parameter_count(&self) -> Option<u64> {
        let n = |v: usize| u64::try_from(v).ok();
        let hidden = n(self.hidden_size)?;
        let inner = n(self.intermediate_size)?;
        let embedding_rows = n(self.vocab_size)?
            .checked_add(n(self.max_position_embeddings)?)?
            .checked_add(n(self.type_vocab_size)?)?;
        let embeddings = embedding_rows
            .checked_mul(hidden)?
            .checked_add(2 * hidden)?;
        // Four hidden×hidden projections with biases, two hidden×inner ones with biases, two
        // LayerNorms.
        let attention = hidden
            .checked_mul(hidden)?
            .checked_add(hidden)?
            .checked_mul(4)?;
        let feed_forward = hidden
            .checked_mul(inner)?
            .checked_mul(2)?
            .checked_add(inner)?
            .checked_add(hidden)?;
        let layer = attention
            .checked_add(feed_forward)?
            .checked_add(4 * hidden)?;
        layer
            .checked_mul(n(self.num_hidden_layers)?)?
            .checked_add(embeddings)
    }
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".into()
}

/// One entry of `modules.json`.
#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Debug, Default, Deserialize)]
struct SentenceBertFile {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// A model folder, read and checked; the weights and tokenizer are loaded by the encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFolder {
    pub dir: PathBuf,
    pub config: BertConfig,
    pub pooling: Pooling,
    /// Tokens per text, special tokens included, after which a text is truncated.
    pub max_seq_length: usize,
    /// sentence-transformers lowercases texts itself when this is set.
    pub lowercase: bool,
    pub tokenizer_path: PathBuf,
    pub weights_path: PathBuf,
}

impl ModelFolder {
    /// Whether `path` looks like a Hugging Face model folder (a `config.json` and a
    /// `tokenizer.json`), as opposed to a dataset: used to route a dropped folder.
    pub fn looks_like(path: &Path) -> bool {
        path.join("config.json").is_file() && path.join("tokenizer.json").is_file()
    }

    /// Reads the folder's configuration files; every file and field it relies on is checked.
    pub fn open(dir: impl AsRef<Path>) -> Result<ModelFolder> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(LmError::MissingFile {
                path: dir,
                expected: "a folder with config.json, tokenizer.json and model.safetensors".into(),
            });
        }
        let config_path = dir.join("config.json");
        let config: BertConfig = read_json(&config_path, "the model's config.json")?;
        check_config(&config_path, &config)?;
        let tokenizer_path = existing(&dir, "tokenizer.json", "its tokenizer (tokenizer.json)")?;
        let weights_path = existing(
            &dir,
            "model.safetensors",
            "its weights as model.safetensors (PyTorch .bin files are not read)",
        )?;
        let (pooling, lowercase, max_seq_length) = sentence_transformer_settings(&dir, &config)?;
        Ok(ModelFolder {
            dir,
            config,
            pooling,
            max_seq_length,
            lowercase,
            tokenizer_path,
            weights_path,
        })
    }

    /// The files whose content defines what the model computes, for cache keys.
    pub fn content_files(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.dir.join("config.json"),
            self.tokenizer_path.clone(),
            self.weights_path.clone(),
        ];
        files.extend(
            ["modules.json", "sentence_bert_config.json"]
                .iter()
                .map(|f| self.dir.join(f))
                .filter(|p| p.is_file()),
        );
        files
    }

    /// A short name: the folder's name.
    pub fn name(&self) -> String {
        std::fs::canonicalize(&self.dir)
            .unwrap_or_else(|_| self.dir.clone())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    }
}

fn existing(dir: &Path, file: &str, expected: &str) -> Result<PathBuf> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(LmError::MissingFile {
            path,
            expected: expected.into(),
        })
    }
}

fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    if !path.is_file() {
        return Err(LmError::MissingFile {
            path: path.to_path_buf(),
            expected: what.into(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| LmError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| LmError::Parse {
        path: path.to_path_buf(),
        message: format!("not {what}: {e}"),
    })
}

fn check_config(path: &Path, config: &BertConfig) -> Result<()> {
    let field = |field: &str, found: String, expected: &str| LmError::Field {
        path: path.to_path_buf(),
        field: field.into(),
        found,
        expected: expected.into(),
    };
    if !SUPPORTED_MODEL_TYPES.contains(&config.model_type.as_str()) {
        return Err(field(
            "model_type",
            format!("{:?}", config.model_type),
            SUPPORTED_HELP,
        ));
    }
    if config.hidden_act != "gelu" {
        return Err(field(
            "hidden_act",
            format!("{:?}", config.hidden_act),
            "reclab's BERT uses the exact (erf) \"gelu\"",
        ));
    }
    if config.position_embedding_type != "absolute" {
        return Err(field(
            "position_embedding_type",
            format!("{:?}", config.position_embedding_type),
            "reclab's BERT uses \"absolute\" position embeddings",
        ));
    }
    if config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(field(
            "num_attention_heads",
            config.num_attention_heads.to_string(),
            &format!(
                "it must divide hidden_size ({}) into equal heads",
                config.hidden_size
            ),
        ));
    }
    Ok(())
}

/// Pooling, lowercasing and the length limit, from the sentence-transformers files; a plain
/// Hugging Face folder gets mean pooling without normalisation, as sentence-transformers does.
fn sentence_transformer_settings(
    dir: &Path,
    config: &BertConfig,
) -> Result<(Pooling, bool, usize)> {
    let mut pooling = Pooling {
        mode: PoolingMode::Mean,
        normalize: false,
    };
    let modules_path = dir.join("modules.json");
    if modules_path.is_file() {
        let modules: Vec<ModuleEntry> = read_json(&modules_path, "a sentence-transformers list")?;
        for module in &modules {
            let kind = module.kind.rsplit('.').next().unwrap_or_default();
            match kind {
                "Transformer" => {}
                "Normalize" => pooling.normalize = true,
                "Pooling" => {
                    let path = dir.join(&module.path).join("config.json");
                    pooling.mode = pooling_mode(&path)?;
                }
                _ => {
                    return Err(LmError::Field {
                        path: modules_path.clone(),
                        field: "type".into(),
                        found: format!("{:?}", module.kind),
                        expected: "reclab reads the modules Transformer, Pooling and Normalize"
                            .into(),
                    });
                }
            }
        }
    }
    let sbert_path = dir.join("sentence_bert_config.json");
    let sbert: SentenceBertFile = if sbert_path.is_file() {
        read_json(&sbert_path, "a sentence-transformers configuration")?
    } else {
        SentenceBertFile::default()
    };
    let max_seq_length = sbert
        .max_seq_length
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings);
    if max_seq_length < 2 {
        return Err(LmError::Field {
            path: sbert_path,
            field: "max_seq_length".into(),
            found: max_seq_length.to_string(),
            expected: "at least 2 tokens ([CLS] and [SEP])".into(),
        });
    }
    Ok((pooling, sbert.do_lower_case, max_seq_length))
}

fn pooling_mode(path: &Path) -> Result<PoolingMode> {
    let file: PoolingFile = read_json(path, "a sentence-transformers pooling configuration")?;
    let chosen: Vec<PoolingMode> = [
        (file.pooling_mode_cls_token, PoolingMode::Cls),
        (file.pooling_mode_mean_tokens, PoolingMode::Mean),
        (file.pooling_mode_max_tokens, PoolingMode::Max),
        (
            file.pooling_mode_mean_sqrt_len_tokens,
            PoolingMode::MeanSqrtLen,
        ),
    ]
    .into_iter()
    .filter_map(|(on, mode)| on.then_some(mode))
    .collect();
    let unsupported = file.pooling_mode_weightedmean_tokens || file.pooling_mode_lasttoken;
    match chosen.as_slice() {
        [mode] if !unsupported => Ok(*mode),
        _ => Err(LmError::Field {
            path: path.to_path_buf(),
            field: "pooling_mode_*".into(),
            found: format!(
                "{} mode(s) switched on{}",
                chosen.len(),
                if unsupported {
                    " (weighted-mean or last-token among them)"
                } else {
                    ""
                }
            ),
            expected: "exactly one of cls_token, mean_tokens, max_tokens, mean_sqrt_len_tokens"
                .into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_the_weights_of_all_minilm_l6_v2() {
        let config: BertConfig = serde_json::from_str(
            r#"{"model_type": "bert", "vocab_size": 30522, "hidden_size": 384,
                "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536,
                "max_position_embeddings": 512, "type_vocab_size": 2}"#,
        )
        .unwrap();
        // The sum of the tensor sizes in all-MiniLM-L6-v2's model.safetensors, pooler and
        // position_ids left out, read with the safetensors Python package.
        assert_eq!(config.parameter_count(), Some(22_565_376));
        let absurd = BertConfig {
            vocab_size: usize::MAX,
            ..config
        };
        assert_eq!(absurd.parameter_count(), None);
    }
}
