//! A BERT encoder in burn whose parameter names follow Hugging Face's `BertModel`, so a
//! `model.safetensors` loads through burn's store with a few renames.

use std::path::Path;

use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::activation::softmax;

use crate::model::activation::gelu;
use crate::model::linear::over_positions;

use super::error::{LmError, Result};
use super::folder::BertConfig;

#[derive(Module, Debug)]
pub struct Embeddings<B: Backend> {
    word_embeddings: Embedding<B>,
    position_embeddings: Embedding<B>,
    token_type_embeddings: Embedding<B>,
    layer_norm: LayerNorm<B>,
}

#[derive(Module, Debug)]
pub struct SelfAttention<B: Backend> {
    query: Linear<B>,
    key: Linear<B>,
    value: Linear<B>,
}

/// A dense layer, then LayerNorm over it plus the residual (`BertSelfOutput`, `BertOutput`).
#[derive(Module, Debug)]
pub struct DenseResidual<B: Backend> {
    dense: Linear<B>,
    layer_norm: LayerNorm<B>,
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    self_attention: SelfAttention<B>,
    output: DenseResidual<B>,
}

#[derive(Module, Debug)]
pub struct Intermediate<B: Backend> {
    dense: Linear<B>,
}

#[derive(Module, Debug)]
pub struct Layer<B: Backend> {
    attention: Attention<B>,
    intermediate: Intermediate<B>,
    output: DenseResidual<B>,
}

#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    layer: Vec<Layer<B>>,
}

/// `BertModel` without its pooler (sentence vectors come from [`super::Pooling`]).
#[derive(Module, Debug)]
pub struct Bert<B: Backend> {
    embeddings: Embeddings<B>,
    encoder: Encoder<B>,
    heads: usize,
}

impl<B: Backend> Bert<B> {
    /// A randomly initialised model of this shape (tests, and the frame weights load into).
    pub fn new(config: &BertConfig, device: &B::Device) -> Self {
        let hidden = config.hidden_size;
        let norm = || {
            LayerNormConfig::new(hidden)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        let layer = (0..config.num_hidden_layers)
            .map(|_| Layer {
                attention: Attention {
                    self_attention: SelfAttention {
                        query: linear(hidden, hidden),
                        key: linear(hidden, hidden),
                        value: linear(hidden, hidden),
                    },
                    output: DenseResidual {
                        dense: linear(hidden, hidden),
                        layer_norm: norm(),
                    },
                },
                intermediate: Intermediate {
                    dense: linear(hidden, config.intermediate_size),
                },
                output: DenseResidual {
                    dense: linear(config.intermediate_size, hidden),
                    layer_norm: norm(),
                },
            })
            .collect();
        Bert {
            embeddings: Embeddings {
                word_embeddings: EmbeddingConfig::new(config.vocab_size, hidden).init(device),
                position_embeddings: EmbeddingConfig::new(config.max_position_embeddings, hidden)
                    .init(device),
                token_type_embeddings: EmbeddingConfig::new(config.type_vocab_size, hidden)
                    .init(device),
                layer_norm: norm(),
            },
            encoder: Encoder { layer },
            heads: config.num_attention_heads,
        }
    }

    /// Reads the weights of `model.safetensors` into a model of `config`'s shape. Every
    /// parameter must be found with its shape; extra tensors (the pooler, position ids) are
    /// ignored.
    pub fn load(config: &BertConfig, weights: &Path, device: &B::Device) -> Result<Self> {
        let weights_error = |message: String| LmError::Weights {
            path: weights.to_path_buf(),
            architecture: "BERT".into(),
            message,
        };
        // A config.json that does not belong to these weights (or claims absurd sizes) would
        // otherwise reserve its model's memory before the first tensor is compared.
        let file_bytes = std::fs::metadata(weights)
            .map_err(|e| weights_error(e.to_string()))?
            .len();
        let needed = config.parameter_count().and_then(|n| n.checked_mul(2));
        if needed.is_none_or(|needed| needed > file_bytes) {
            return Err(weights_error(format!(
                "config.json describes a BERT of {} parameters (vocab_size {}, hidden_size {}, num_hidden_layers {}, intermediate_size {}), more than this {file_bytes}-byte file can hold even in 16-bit floats; is config.json from another model?",
                config
                    .parameter_count()
                    .map_or("too many".to_string(), |n| n.to_string()),
                config.vocab_size,
                config.hidden_size,
                config.num_hidden_layers,
                config.intermediate_size
            )));
        }
        let mut model = Bert::new(config, device);
        let mut store = SafetensorsStore::from_file(weights)
            // Checkpoints of task models hold the encoder under `bert.`.
            .with_key_remapping(r"^bert\.", "")
            .with_key_remapping(r"\.LayerNorm\.", ".layer_norm.")
            .with_key_remapping(r"\.attention\.self\.", ".attention.self_attention.")
            // PyTorch keeps Linear weights as [out, in] and names LayerNorm's gamma `weight`.
            .with_from_adapter(PyTorchToBurnAdapter)
            .allow_partial(true)
            .validate(true);
        // burn's loading is not safe to interrupt: a parameter of an integer type made it
        // panic half-way, and catching that panic left the heap corrupted (found by fuzzing).
        // The element types are checked first instead.
        check_element_types(weights).map_err(weights_error)?;
        let result = model
            .load_from(&mut store)
            .map_err(|e| weights_error(e.to_string()))?;
        if !result.errors.is_empty() {
            let listed: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
            return Err(weights_error(listed.join("; ")));
        }
        if !result.missing.is_empty() {
            let names: Vec<&str> = result.missing.iter().map(|(n, _)| n.as_str()).collect();
            return Err(weights_error(format!(
                "{} tensor(s) missing, e.g. {} (the names follow Hugging Face's BertModel)",
                names.len(),
                names.iter().take(3).copied().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(model)
    }

    /// Token vectors `[batch, len, hidden]` for token ids `[batch, len]` and a float mask
    /// `[batch, len]` (1.0 for tokens, 0.0 for padding). One segment: token type 0 throughout.
    pub fn forward(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2>) -> Tensor<B, 3> {
        let [batch, len] = ids.dims();
        let e = &self.embeddings;
        let hidden = e.word_embeddings.weight.val().dims()[1];
        let positions = e
            .position_embeddings
            .weight
            .val()
            .slice([0..len, 0..hidden])
            .reshape([1, len, hidden]);
        let token_type = e
            .token_type_embeddings
            .weight
            .val()
            .slice([0..1, 0..hidden])
            .reshape([1, 1, hidden]);
        let mut x = e
            .layer_norm
            .forward(e.word_embeddings.forward(ids) + positions + token_type);
        // Added to attention scores: 0 for tokens, a large negative number for padding keys.
        let key_bias = (mask - 1.0).reshape([batch, 1, 1, len]) * 1e9;
        for layer in &self.encoder.layer {
            x = layer.forward(x, key_bias.clone(), self.heads);
        }
        x
    }
}

impl<B: Backend> Layer<B> {
    fn forward(&self, x: Tensor<B, 3>, key_bias: Tensor<B, 4>, heads: usize) -> Tensor<B, 3> {
        let [batch, len, hidden] = x.dims();
        let head_dim = hidden / heads;
        let split = |t: Tensor<B, 3>| t.reshape([batch, len, heads, head_dim]).swap_dims(1, 2);
        let attention = &self.attention.self_attention;
        let q = split(over_positions(&attention.query, x.clone()));
        let k = split(over_positions(&attention.key, x.clone()));
        let v = split(over_positions(&attention.value, x.clone()));
        let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt() + key_bias;
        let context = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, len, hidden]);
        let x = self.attention.output.forward(context, x);
        let inner = gelu(over_positions(&self.intermediate.dense, x.clone()));
        self.output.forward(inner, x)
    }
}

impl<B: Backend> DenseResidual<B> {
    fn forward(&self, x: Tensor<B, 3>, residual: Tensor<B, 3>) -> Tensor<B, 3> {
        self.layer_norm
            .forward(over_positions(&self.dense, x) + residual)
    }
}

/// Every weight, bias and LayerNorm parameter in the safetensors file is a float tensor (its
/// JSON header read directly; integer tensors such as `position_ids` are left alone).
fn check_element_types(weights: &Path) -> std::result::Result<(), String> {
    use std::io::Read;
    let mut file = std::fs::File::open(weights).map_err(|e| e.to_string())?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length)
        .map_err(|e| format!("{e} (expected an 8-byte header length)"))?;
    let length = u64::from_le_bytes(length);
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    if length > size.saturating_sub(8) || length > 100 << 20 {
        return Err(format!(
            "the header claims {length} bytes in a {size}-byte file"
        ));
    }
    let mut header = vec![0u8; length as usize];
    file.read_exact(&mut header).map_err(|e| e.to_string())?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| format!("its header is not the JSON safetensors writes ({e})"))?;
    for (name, tensor) in &header {
        let parameter = ["weight", "bias", "gamma", "beta"]
            .iter()
            .any(|suffix| name.ends_with(suffix));
        let dtype = tensor.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
        if parameter && !["F16", "BF16", "F32", "F64"].contains(&dtype) {
            return Err(format!(
                "tensor `{name}` holds {dtype:?} values where a float type belongs"
            ));
        }
    }
    Ok(())
}
