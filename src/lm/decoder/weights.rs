//! A decoder's tensors by role (embedding, each layer's projections and norms), from a GGUF file
//! or a Hugging Face folder's safetensors (one file, or shards listed in
//! `model.safetensors.index.json`). GGUF matrices stay in their blocks; llama.cpp's row
//! permutation of the query and key projections is undone so both sources give Hugging Face's
//! layout and one rotary embedding serves both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use half::{bf16, f16};

use super::config::{Architecture, DecoderConfig};
use super::gguf::GgufFile;
use super::quant::{QuantMatrix, TensorType};
use crate::lm::error::{LmError, Result};

/// A tensor's role in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Embedding,
    OutputNorm,
    Output,
    Layer(usize, LayerPart),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerPart {
    AttnNorm,
    Q,
    K,
    V,
    O,
    QBias,
    KBias,
    VBias,
    QNorm,
    KNorm,
    FfnNorm,
    Gate,
    Up,
    Down,
}

impl Role {
    fn gguf_name(self) -> String {
        match self {
            Role::Embedding => "token_embd.weight".into(),
            Role::OutputNorm => "output_norm.weight".into(),
            Role::Output => "output.weight".into(),
            Role::Layer(i, part) => {
                let name = match part {
                    LayerPart::AttnNorm => "attn_norm.weight",
                    LayerPart::Q => "attn_q.weight",
                    LayerPart::K => "attn_k.weight",
                    LayerPart::V => "attn_v.weight",
                    LayerPart::O => "attn_output.weight",
                    LayerPart::QBias => "attn_q.bias",
                    LayerPart::KBias => "attn_k.bias",
                    LayerPart::VBias => "attn_v.bias",
                    LayerPart::QNorm => "attn_q_norm.weight",
                    LayerPart::KNorm => "attn_k_norm.weight",
                    LayerPart::FfnNorm => "ffn_norm.weight",
                    LayerPart::Gate => "ffn_gate.weight",
                    LayerPart::Up => "ffn_up.weight",
                    LayerPart::Down => "ffn_down.weight",
                };
                format!("blk.{i}.{name}")
            }
        }
    }

    fn hf_name(self) -> String {
        match self {
            Role::Embedding => "model.embed_tokens.weight".into(),
            Role::OutputNorm => "model.norm.weight".into(),
            Role::Output => "lm_head.weight".into(),
            Role::Layer(i, part) => {
                let name = match part {
                    LayerPart::AttnNorm => "input_layernorm.weight",
                    LayerPart::Q => "self_attn.q_proj.weight",
                    LayerPart::K => "self_attn.k_proj.weight",
                    LayerPart::V => "self_attn.v_proj.weight",
                    LayerPart::O => "self_attn.o_proj.weight",
                    LayerPart::QBias => "self_attn.q_proj.bias",
                    LayerPart::KBias => "self_attn.k_proj.bias",
                    LayerPart::VBias => "self_attn.v_proj.bias",
                    LayerPart::QNorm => "self_attn.q_norm.weight",
                    LayerPart::KNorm => "self_attn.k_norm.weight",
                    LayerPart::FfnNorm => "post_attention_layernorm.weight",
                    LayerPart::Gate => "mlp.gate_proj.weight",
                    LayerPart::Up => "mlp.up_proj.weight",
                    LayerPart::Down => "mlp.down_proj.weight",
                };
                format!("model.layers.{i}.{name}")
            }
        }
    }
}

/// A matrix in host memory: quantized blocks, or f32 values.
pub enum HostMatrix {
    Quant(QuantMatrix),
    Dense {
        rows: usize,
        cols: usize,
        values: Vec<f32>,
    },
}

impl HostMatrix {
    pub fn shape(&self) -> (usize, usize) {
        match self {
            HostMatrix::Quant(q) => (q.rows, q.cols),
            HostMatrix::Dense { rows, cols, .. } => (*rows, *cols),
        }
    }

    /// The type the values are stored in.
    pub fn type_name(&self) -> &'static str {
        match self {
            HostMatrix::Quant(q) => q.ty.name(),
            HostMatrix::Dense { .. } => "F32",
        }
    }

    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            HostMatrix::Quant(q) => q.dequantize(),
            HostMatrix::Dense { values, .. } => values.clone(),
        }
    }

    pub fn into_f32(self) -> Vec<f32> {
        match self {
            HostMatrix::Quant(q) => q.dequantize(),
            HostMatrix::Dense { values, .. } => values,
        }
    }

    /// Row `row` into `out`.
    pub fn row_into(&self, row: usize, out: &mut [f32]) {
        match self {
            HostMatrix::Quant(q) => q.dequantize_row_into(row, out),
            HostMatrix::Dense { cols, values, .. } => {
                out.copy_from_slice(&values[row * cols..(row + 1) * cols])
            }
        }
    }

    /// Bytes held in memory.
    pub fn bytes(&self) -> usize {
        match self {
            HostMatrix::Quant(q) => q.bytes(),
            HostMatrix::Dense { values, .. } => values.len() * 4,
        }
    }
}

/// Where the tensors come from.
pub enum WeightSource {
    Gguf(GgufFile),
    Safetensors(Safetensors),
}

impl WeightSource {
    /// The file a role's tensor lies in, for error messages.
    pub fn path_of(&self, role: Role) -> PathBuf {
        match self {
            WeightSource::Gguf(file) => file.path.clone(),
            WeightSource::Safetensors(st) => st.path_of(&role.hf_name()),
        }
    }

    pub fn name_of(&self, role: Role) -> String {
        match self {
            WeightSource::Gguf(_) => role.gguf_name(),
            WeightSource::Safetensors(_) => role.hf_name(),
        }
    }

    pub fn has(&self, role: Role) -> bool {
        match self {
            WeightSource::Gguf(file) => file.tensor(&role.gguf_name()).is_some(),
            WeightSource::Safetensors(st) => st.has(&role.hf_name()),
        }
    }

    /// The tensor of `role` as a `(rows, cols)` matrix (a vector is one row), checked against
    /// `shape`.
    pub fn matrix(
        &self,
        role: Role,
        shape: (usize, usize),
        config: &DecoderConfig,
    ) -> Result<HostMatrix> {
        let name = self.name_of(role);
        let wrong = |message: String| LmError::Weights {
            path: self.path_of(role),
            architecture: config.architecture.name().into(),
            message,
        };
        let matrix = match self {
            WeightSource::Gguf(file) => {
                let info = file
                    .tensor(&name)
                    .ok_or_else(|| wrong(format!("tensor `{name}` is missing")))?;
                let matrix = file.matrix(info)?;
                if (matrix.rows, matrix.cols) != shape {
                    return Err(wrong(format!(
                        "tensor `{name}` is {:?}, a {} × {} matrix was expected",
                        info.dims, shape.0, shape.1
                    )));
                }
                let matrix = match (config.architecture, role) {
                    // llama.cpp's conversion permutes the rows of llama's q and k projections
                    // (its rotary embedding pairs neighbouring dimensions); undo it.
                    (Architecture::Llama, Role::Layer(_, LayerPart::Q)) => {
                        unpermute_rows(&matrix, config.heads)
                    }
                    (Architecture::Llama, Role::Layer(_, LayerPart::K)) => {
                        unpermute_rows(&matrix, config.kv_heads)
                    }
                    _ => matrix,
                };
                if matrix.ty.is_quantized() {
                    HostMatrix::Quant(matrix)
                } else {
                    HostMatrix::Dense {
                        rows: matrix.rows,
                        cols: matrix.cols,
                        values: matrix.dequantize(),
                    }
                }
            }
            WeightSource::Safetensors(st) => {
                let (dims, values) = st.read(&name)?;
                let (rows, cols) = match dims.as_slice() {
                    [n] => (1, *n),
                    [r, c] => (*r, *c),
                    _ => (0, 0),
                };
                if (rows, cols) != shape {
                    return Err(wrong(format!(
                        "tensor `{name}` has shape {dims:?}, [{}, {}] was expected",
                        shape.0, shape.1
                    )));
                }
                HostMatrix::Dense { rows, cols, values }
            }
        };
        Ok(matrix)
    }
}

/// The rows of a GGUF llama q/k projection back in Hugging Face's order: llama.cpp stores, per
/// head of `d` rows, row `2i + j` where Hugging Face has row `j·d/2 + i`.
fn unpermute_rows(matrix: &QuantMatrix, heads: usize) -> QuantMatrix {
    let d = matrix.rows / heads.max(1);
    let row_bytes = matrix.ty.row_bytes(matrix.cols).unwrap_or(0);
    let mut bytes = vec![0u8; matrix.bytes()];
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..d / 2 {
                let hf_row = h * d + j * (d / 2) + i;
                let gguf_row = h * d + 2 * i + j;
                bytes[hf_row * row_bytes..(hf_row + 1) * row_bytes]
                    .copy_from_slice(matrix.row_bytes_of(gguf_row));
            }
        }
    }
    let data: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(bytes);
    // The bytes were sized for exactly these rows; `new` cannot refuse them.
    QuantMatrix::new(matrix.ty, matrix.rows, matrix.cols, data, 0)
        .unwrap_or_else(|| unreachable!("unpermuted rows fill their buffer exactly"))
}

struct Mapped(memmap2::Mmap);

/// A Hugging Face folder's safetensors files, mapped.
pub struct Safetensors {
    /// Tensor name → file index.
    index: BTreeMap<String, usize>,
    files: Vec<(PathBuf, Mapped)>,
}

impl Safetensors {
    /// `model.safetensors`, or the shards `model.safetensors.index.json` lists.
    pub fn open(dir: &Path) -> Result<Safetensors> {
        let single = dir.join("model.safetensors");
        let index_path = dir.join("model.safetensors.index.json");
        let shard_names: Vec<String> = if single.exists() {
            vec!["model.safetensors".into()]
        } else if index_path.exists() {
            let text = std::fs::read_to_string(&index_path).map_err(|source| LmError::Io {
                path: index_path.clone(),
                source,
            })?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| LmError::Parse {
                    path: index_path.clone(),
                    message: format!("not valid JSON: {e}"),
                })?;
            let map = json
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| LmError::Field {
                    path: index_path.clone(),
                    field: "weight_map".into(),
                    found: "missing".into(),
                    expected: "an object from tensor names to shard files".into(),
                })?;
            let mut names: Vec<String> = map
                .values()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            names.sort();
            names.dedup();
            if names.iter().any(|n| n.contains('/') || n.contains("..")) {
                return Err(LmError::Field {
                    path: index_path,
                    field: "weight_map".into(),
                    found: "a shard outside the folder".into(),
                    expected: "file names in the model's folder".into(),
                });
            }
            names
        } else {
            return Err(LmError::MissingFile {
                path: single,
                expected: "model.safetensors (or model.safetensors.index.json with its shards)"
                    .into(),
            });
        };
        let mut index = BTreeMap::new();
        let mut files = Vec::new();
        for name in shard_names {
            let path = dir.join(&name);
            let file = std::fs::File::open(&path).map_err(|source| LmError::Io {
                path: path.clone(),
                source,
            })?;
            // SAFETY: read-only private map of a weights file; see `GgufFile::open`.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| LmError::Io {
                path: path.clone(),
                source,
            })?;
            let names = safetensors::SafeTensors::read_metadata(&map)
                .map_err(|e| LmError::Parse {
                    path: path.clone(),
                    message: format!("not a safetensors file: {e}"),
                })?
                .1
                .tensors()
                .into_keys()
                .collect::<Vec<_>>();
            for tensor in names {
                index.insert(tensor, files.len());
            }
            files.push((path, Mapped(map)));
        }
        Ok(Safetensors { index, files })
    }

    fn has(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The element type of every tensor, as safetensors names it.
    pub fn dtypes(&self) -> Vec<String> {
        self.files
            .iter()
            .filter_map(|(_, Mapped(map))| safetensors::SafeTensors::read_metadata(map).ok())
            .flat_map(|(_, meta)| {
                meta.tensors()
                    .into_values()
                    .map(|info| format!("{:?}", info.dtype))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn path_of(&self, name: &str) -> PathBuf {
        let i = self.index.get(name).copied().unwrap_or(0);
        self.files
            .get(i)
            .map(|(p, _)| p.clone())
            .unwrap_or_default()
    }

    /// A tensor's shape and values as f32.
    fn read(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let path = self.path_of(name);
        let (_, Mapped(map)) = self
            .index
            .get(name)
            .and_then(|&i| self.files.get(i))
            .ok_or_else(|| LmError::Weights {
                path: path.clone(),
                architecture: "decoder".into(),
                message: format!("tensor `{name}` is missing"),
            })?;
        let parse = |message: String| LmError::Parse {
            path: path.clone(),
            message,
        };
        let tensors = safetensors::SafeTensors::deserialize(map)
            .map_err(|e| parse(format!("not a safetensors file: {e}")))?;
        let view = tensors
            .tensor(name)
            .map_err(|e| parse(format!("tensor `{name}`: {e}")))?;
        let ty = match view.dtype() {
            safetensors::Dtype::F32 => TensorType::F32,
            safetensors::Dtype::F16 => TensorType::F16,
            safetensors::Dtype::BF16 => TensorType::BF16,
            other => {
                return Err(parse(format!(
                    "tensor `{name}` is of type {other:?}; decoder weights must be F32, F16 or BF16"
                )));
            }
        };
        let data = view.data();
        let values: Vec<f32> = match ty {
            TensorType::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            TensorType::F16 => data
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            _ => data
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        };
        Ok((view.shape().to_vec(), values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermuting_inverts_llama_cpp_permutation() {
        // One head of 4 rows of 1 F32 value: HF rows [a0, a1, b0, b1] are stored by llama.cpp
        // as [a0, b0, a1, b1] (pairs of neighbours); values are the HF row numbers.
        let stored: Vec<u8> = [0.0f32, 2.0, 1.0, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let data: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(stored);
        let matrix = QuantMatrix::new(TensorType::F32, 4, 1, data, 0).unwrap();
        assert_eq!(
            unpermute_rows(&matrix, 1).dequantize(),
            vec![0.0, 1.0, 2.0, 3.0]
        );
    }
}
