//! A generative model's tokenizer: the Hugging Face `tokenizer.json` beside the model, or the
//! one a GGUF file carries in its metadata (`tokenizer.ggml.*`), rebuilt as the same `tokenizers`
//! pipeline Hugging Face's conversion gives (byte-level BPE with the pre-tokenizer its
//! `tokenizer.ggml.pre` names), so a lone `.gguf` file works.

use std::path::Path;

use serde_json::{Value as Json, json};

use super::gguf::{GgufFile, Value};
use crate::guard::catching;
use crate::lm::error::{LmError, Result};

/// Llama 3's pre-tokenizer split (its `tokenizer.json`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: as Llama 3's, with single digits.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.ggml.pre` values this builder knows.
const SUPPORTED_PRE: &str = "gpt-2, smollm, starcoder, llama-bpe (llama3), qwen2";

/// A tokenizer with the special tokens generation needs.
pub struct DecoderTokenizer {
    pub inner: tokenizers::Tokenizer,
    /// Prepended to a plain prompt when the model asks for it (`add_bos_token`).
    pub bos: Option<u32>,
    pub add_bos: bool,
    pub bos_text: String,
    pub eos_text: String,
    /// Where it came from, for messages.
    pub source: String,
}

impl DecoderTokenizer {
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text`, special tokens written in it (`<|im_start|>`) recognised as such;
    /// no BOS added (chat templates write their own).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = catching(|| self.inner.encode(text, false))
            .map_err(|message| LmError::Tokenize {
                what: "the prompt".into(),
                message,
            })?
            .map_err(|e| LmError::Tokenize {
                what: "the prompt".into(),
                message: e.to_string(),
            })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| LmError::Tokenize {
            what: "generated tokens".into(),
            message: e.to_string(),
        })
    }

    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Reads a Hugging Face `tokenizer.json`.
    pub fn from_file(path: &Path, bos: Option<u32>, add_bos: bool) -> Result<DecoderTokenizer> {
        let inner = catching(|| tokenizers::Tokenizer::from_file(path))
            .map_err(|message| LmError::Tokenizer {
                path: path.to_path_buf(),
                message,
            })?
            .map_err(|e| LmError::Tokenizer {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let text = |id: Option<u32>| id.and_then(|id| inner.id_to_token(id)).unwrap_or_default();
        Ok(DecoderTokenizer {
            bos_text: text(bos),
            eos_text: String::new(),
            inner,
            bos,
            add_bos,
            source: path.display().to_string(),
        })
    }

    /// Builds the tokenizer a GGUF file describes.
    pub fn from_gguf(file: &GgufFile) -> Result<DecoderTokenizer> {
        let path = &file.path;
        let err = |message: String| LmError::Tokenizer {
            path: path.clone(),
            message,
        };
        let model = file
            .metadata("tokenizer.ggml.model")
            .and_then(Value::as_str)
            .ok_or_else(|| err("it has no `tokenizer.ggml.model`".into()))?;
        if model != "gpt2" {
            return Err(err(format!(
                "its tokenizer is of kind {model:?}; reclab builds byte-level BPE (\"gpt2\") tokenizers from GGUF metadata. Put the model's tokenizer.json beside the file to use it instead"
            )));
        }
        let strings = |key: &str| -> Result<Vec<&str>> {
            let items = file
                .metadata(key)
                .and_then(Value::as_array)
                .ok_or_else(|| err(format!("`{key}` is missing or not an array")))?;
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| err(format!("`{key}` holds {}", v.describe())))
                })
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let types: Vec<u64> = match file.metadata("tokenizer.ggml.token_type") {
            Some(Value::Array(items)) => items.iter().map(|v| v.as_u64().unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };
        let pre = file
            .metadata("tokenizer.ggml.pre")
            .and_then(Value::as_str)
            .unwrap_or("gpt-2");
        let id = |key: &str| {
            file.metadata(key)
                .and_then(Value::as_u64)
                .map(|v| v as u32)
                .filter(|&v| (v as usize) < tokens.len())
        };
        let bos = id("tokenizer.ggml.bos_token_id");
        let eos = id("tokenizer.ggml.eos_token_id");
        let add_bos = matches!(
            file.metadata("tokenizer.ggml.add_bos_token"),
            Some(Value::Bool(true))
        );
        let json = tokenizer_json(&tokens, &merges, &types, pre).map_err(err)?;
        let inner = catching(|| tokenizers::Tokenizer::from_bytes(json.to_string().as_bytes()))
            .map_err(err)?
            .map_err(|e| err(e.to_string()))?;
        let text = |id: Option<u32>| {
            id.map(|id| tokens[id as usize].to_string())
                .unwrap_or_default()
        };
        Ok(DecoderTokenizer {
            bos_text: text(bos),
            eos_text: text(eos),
            inner,
            bos,
            add_bos,
            source: format!("{} (its own metadata)", path.display()),
        })
    }
}

/// The `tokenizer.json` Hugging Face's conversion writes for a byte-level BPE GGUF tokenizer.
fn tokenizer_json(
    tokens: &[&str],
    merges: &[&str],
    types: &[u64],
    pre: &str,
) -> std::result::Result<Json, String> {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |pattern: &str| json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false});
    let pre_tokenizer = match pre {
        "gpt-2" | "default" => byte_level(true),
        "smollm" | "starcoder" | "refact" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "llama-bpe" | "llama3" | "llama-v3" => json!({"type": "Sequence", "pretokenizers": [
            split(LLAMA3_SPLIT), byte_level(false)]}),
        "qwen2" => json!({"type": "Sequence", "pretokenizers": [
            split(QWEN2_SPLIT), byte_level(false)]}),
        other => {
            return Err(format!(
                "its pre-tokenizer `tokenizer.ggml.pre` is {other:?}; reclab knows {SUPPORTED_PRE}. Put the model's tokenizer.json beside the file to use it instead"
            ));
        }
    };
    let mut vocab = serde_json::Map::with_capacity(tokens.len());
    let mut added = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        vocab.insert(token.to_string(), json!(id));
        // ggml token types: 3 control (special), 4 user-defined (added, not special).
        match types.get(id) {
            Some(3) | Some(4) => added.push(json!({
                "id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": types.get(id) == Some(&3),
            })),
            _ => {}
        }
    }
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": byte_level(true),
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": merges,
        }
    }))
}
