//! The decoder itself, in burn: RMSNorm, rotary position embeddings, grouped-query attention
//! with a KV cache, a SiLU-gated feed-forward, and the output layer. Batches of prompts are
//! left-padded; each row's padding is masked out and its positions start at its first real
//! token, so a row computes exactly what it would alone.
//!
//! A projection is either a burn tensor (f32; on every backend) or, on the CPU, a matrix kept in
//! its GGUF blocks and multiplied by our own kernels ([`QuantMatrix::matmul`]): burn 0.21's
//! quantization dequantizes before it computes, which would give up the memory the blocks save.

use burn::prelude::*;
use burn::tensor::activation::{silu, softmax};

use super::config::DecoderConfig;
use super::quant::QuantMatrix;
use super::weights::{HostMatrix, LayerPart, Role, WeightSource};
use crate::lm::error::Result;

/// Added to the scores of keys a query may not see (finite, so no row ever computes ∞ − ∞).
const MASKED: f32 = -1e30;

/// `x · Wᵀ + b` for `x` of shape `[n, in]`.
enum Projection<B: Backend> {
    /// Quantized blocks on the host.
    Host {
        matrix: QuantMatrix,
        bias: Option<Tensor<B, 1>>,
    },
    /// `Wᵀ`, shape `[in, out]`.
    Device {
        weight_t: Tensor<B, 2>,
        bias: Option<Tensor<B, 1>>,
    },
}

impl<B: Backend> Projection<B> {
    fn new(matrix: HostMatrix, bias: Option<Tensor<B, 1>>, device: &B::Device) -> Self {
        match matrix {
            HostMatrix::Quant(matrix) => Projection::Host { matrix, bias },
            dense @ HostMatrix::Dense { .. } => {
                let (rows, cols) = dense.shape();
                let values = dense.into_f32();
                let weight =
                    Tensor::<B, 2>::from_data(TensorData::new(values, [rows, cols]), device);
                Projection::Device {
                    weight_t: weight.transpose(),
                    bias,
                }
            }
        }
    }

    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let (y, bias) = match self {
            Projection::Host { matrix, bias } => {
                let device = x.device();
                let n = x.dims()[0];
                let input: Vec<f32> = x.into_data().iter::<f32>().collect();
                let out = matrix.matmul(&input, n);
                (
                    Tensor::from_data(TensorData::new(out, [n, matrix.rows]), &device),
                    bias,
                )
            }
            Projection::Device { weight_t, bias } => (x.matmul(weight_t.clone()), bias),
        };
        match bias {
            Some(b) => y + b.clone().unsqueeze(),
            None => y,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Projection::Host { matrix, .. } => matrix.bytes(),
            Projection::Device { weight_t, .. } => weight_t.shape().num_elements() * 4,
        }
    }
}

struct Layer<B: Backend> {
    attn_norm: Tensor<B, 1>,
    q: Projection<B>,
    k: Projection<B>,
    v: Projection<B>,
    o: Projection<B>,
    q_norm: Option<Tensor<B, 1>>,
    k_norm: Option<Tensor<B, 1>>,
    ffn_norm: Tensor<B, 1>,
    gate: Projection<B>,
    up: Projection<B>,
    down: Projection<B>,
}

/// Keys and values of every layer for the positions seen so far, per batch row.
#[derive(Clone)]
pub struct KvCache<B: Backend> {
    keys: Vec<Option<Tensor<B, 4>>>,
    values: Vec<Option<Tensor<B, 4>>>,
    /// Padding tokens at the start of each row.
    pads: Vec<usize>,
    /// Positions held (padding included).
    len: usize,
}

impl<B: Backend> KvCache<B> {
    pub fn new(layers: usize, pads: Vec<usize>) -> Self {
        KvCache {
            keys: vec![None; layers],
            values: vec![None; layers],
            pads,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn batch(&self) -> usize {
        self.pads.len()
    }

    /// Copies of row 0, `rows` of them: one prompt's keys and values shared by several
    /// continuations (a re-ranker's candidates), so the prompt is run once.
    pub fn repeat_first_row(&mut self, rows: usize) {
        let index = |t: &Tensor<B, 4>| {
            Tensor::<B, 1, Int>::from_data(TensorData::new(vec![0i64; rows], [rows]), &t.device())
        };
        for slot in self.keys.iter_mut().chain(self.values.iter_mut()) {
            if let Some(t) = slot.as_ref() {
                *slot = Some(t.clone().select(0, index(t)));
            }
        }
        self.pads = vec![self.pads.first().copied().unwrap_or(0); rows];
    }

    /// Keeps only the rows in `keep` (finished rows leave the batch).
    pub fn retain_rows(&mut self, keep: &[usize]) {
        if keep.len() == self.pads.len() {
            return;
        }
        let device_rows = |t: &Tensor<B, 4>| {
            let idx = Tensor::<B, 1, Int>::from_data(
                TensorData::new(
                    keep.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                    [keep.len()],
                ),
                &t.device(),
            );
            t.clone().select(0, idx)
        };
        for slot in self.keys.iter_mut().chain(self.values.iter_mut()) {
            if let Some(t) = slot.as_ref() {
                *slot = Some(device_rows(t));
            }
        }
        self.pads = keep.iter().map(|&i| self.pads[i]).collect();
    }
}

/// A loaded decoder on backend `B`.
pub struct Decoder<B: Backend> {
    pub config: DecoderConfig,
    embedding: HostMatrix,
    layers: Vec<Layer<B>>,
    norm: Tensor<B, 1>,
    lm_head: Projection<B>,
    inv_freq: Vec<f32>,
    device: B::Device,
}

impl<B: Backend> Decoder<B> {
    /// Loads every tensor from `source`. With `keep_quantized` (the CPU's `auto`), GGUF matrices
    /// stay in their blocks; otherwise every matrix is dequantized once to f32.
    pub fn load(
        source: &WeightSource,
        config: &DecoderConfig,
        keep_quantized: bool,
        device: &B::Device,
    ) -> Result<Self> {
        let c = config;
        let hidden = c.hidden;
        let q_out = c.heads * c.head_dim;
        let kv_out = c.kv_heads * c.head_dim;
        let vector = |role: Role, len: usize| -> Result<Tensor<B, 1>> {
            let values = source.matrix(role, (1, len), c)?.into_f32();
            Ok(Tensor::from_data(TensorData::new(values, [len]), device))
        };
        let matrix = |role: Role, rows: usize, cols: usize| -> Result<HostMatrix> {
            let m = source.matrix(role, (rows, cols), c)?;
            Ok(match m {
                HostMatrix::Quant(_) if !keep_quantized => {
                    let values = m.into_f32();
                    HostMatrix::Dense { rows, cols, values }
                }
                other => other,
            })
        };
        let projection =
            |role: Role, rows: usize, cols: usize, bias: Option<Role>| -> Result<Projection<B>> {
                let bias = match bias {
                    Some(b) if c.attention_bias => Some(vector(b, rows)?),
                    _ => None,
                };
                Ok(Projection::new(matrix(role, rows, cols)?, bias, device))
            };
        // Not reserved from the claimed layer count: a damaged file can claim millions (fuzzing).
        let mut layers = Vec::new();
        for i in 0..c.layers {
            let part = |p: LayerPart| Role::Layer(i, p);
            layers.push(Layer {
                attn_norm: vector(part(LayerPart::AttnNorm), hidden)?,
                q: projection(
                    part(LayerPart::Q),
                    q_out,
                    hidden,
                    Some(part(LayerPart::QBias)),
                )?,
                k: projection(
                    part(LayerPart::K),
                    kv_out,
                    hidden,
                    Some(part(LayerPart::KBias)),
                )?,
                v: projection(
                    part(LayerPart::V),
                    kv_out,
                    hidden,
                    Some(part(LayerPart::VBias)),
                )?,
                o: projection(part(LayerPart::O), hidden, q_out, None)?,
                q_norm: if c.qk_norm {
                    Some(vector(part(LayerPart::QNorm), c.head_dim)?)
                } else {
                    None
                },
                k_norm: if c.qk_norm {
                    Some(vector(part(LayerPart::KNorm), c.head_dim)?)
                } else {
                    None
                },
                ffn_norm: vector(part(LayerPart::FfnNorm), hidden)?,
                gate: projection(part(LayerPart::Gate), c.ffn, hidden, None)?,
                up: projection(part(LayerPart::Up), c.ffn, hidden, None)?,
                down: projection(part(LayerPart::Down), hidden, c.ffn, None)?,
            });
        }
        // The embedding is looked up on the host (a few rows per step), in its stored form.
        let embedding = source.matrix(Role::Embedding, (c.vocab_size, hidden), c)?;
        let tied = c.tied_embeddings || !source.has(Role::Output);
        let lm_head = if tied {
            let head = match &embedding {
                HostMatrix::Quant(q) if keep_quantized => HostMatrix::Quant(q.clone()),
                other => HostMatrix::Dense {
                    rows: c.vocab_size,
                    cols: hidden,
                    values: other.to_f32(),
                },
            };
            Projection::new(head, None, device)
        } else {
            projection(Role::Output, c.vocab_size, hidden, None)?
        };
        Ok(Decoder {
            config: config.clone(),
            embedding,
            layers,
            norm: vector(Role::OutputNorm, hidden)?,
            lm_head,
            inv_freq: config.inv_freq(),
            device: device.clone(),
        })
    }

    /// Bytes the weights take in memory (matrices and the embedding; norms are negligible).
    pub fn weight_bytes(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]
                    .iter()
                    .map(|p| p.bytes())
                    .sum::<usize>()
            })
            .sum();
        let shared = matches!(
            (&self.embedding, &self.lm_head),
            (HostMatrix::Quant(_), Projection::Host { .. })
        ) && self.config.tied_embeddings;
        layers + self.embedding.bytes() + if shared { 0 } else { self.lm_head.bytes() }
    }

    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Runs `tokens` (one row per batch row, all of one length) after what `cache` holds, adds
    /// their keys and values to it, and returns the logits: of each row's last position
    /// (`[batch, vocab]`), or with `all_positions` of every position (`[batch · len, vocab]`).
    pub fn forward(
        &self,
        tokens: &[Vec<u32>],
        cache: &mut KvCache<B>,
        all_positions: bool,
    ) -> Tensor<B, 2> {
        let c = &self.config;
        let batch = tokens.len();
        let len = tokens.first().map_or(0, Vec::len);
        let past = cache.len;
        let total = past + len;
        let n = batch * len;
        let (hd, heads, kv_heads) = (c.head_dim, c.heads, c.kv_heads);
        let group = heads / kv_heads;

        let mut embedded = vec![0.0f32; n * c.hidden];
        for (row, id) in embedded
            .chunks_exact_mut(c.hidden)
            .zip(tokens.iter().flatten())
        {
            // Ids were checked against the vocabulary by the caller; an id past it reads row 0.
            let id = if (*id as usize) < c.vocab_size {
                *id as usize
            } else {
                0
            };
            self.embedding.row_into(id, row);
        }
        let mut x =
            Tensor::<B, 2>::from_data(TensorData::new(embedded, [n, c.hidden]), &self.device);

        let (cos, sin) = self.rotary(batch, len, past, &cache.pads);
        let mask = self.mask(batch, len, past, group, &cache.pads);
        let scale = 1.0 / (hd as f64).sqrt();

        for (i, layer) in self.layers.iter().enumerate() {
            let h = rms_norm(x.clone(), &layer.attn_norm, c.rms_eps);
            let split =
                |t: Tensor<B, 2>, heads: usize| t.reshape([batch, len, heads, hd]).swap_dims(1, 2);
            let mut q = split(layer.q.forward(h.clone()), heads);
            let mut k = split(layer.k.forward(h.clone()), kv_heads);
            let v = split(layer.v.forward(h), kv_heads);
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                q = rms_norm(q, qn, c.rms_eps);
                k = rms_norm(k, kn, c.rms_eps);
            }
            let q = rotate(q, &cos, &sin);
            let k = rotate(k, &cos, &sin);
            let k = match cache.keys[i].take() {
                Some(prev) => Tensor::cat(vec![prev, k], 2),
                None => k,
            };
            let v = match cache.values[i].take() {
                Some(prev) => Tensor::cat(vec![prev, v], 2),
                None => v,
            };
            cache.keys[i] = Some(k.clone());
            cache.values[i] = Some(v.clone());
            // The heads sharing a key/value head are stacked along the query axis, so keys and
            // values are never copied per head.
            let q = q.reshape([batch, kv_heads, group * len, hd]);
            let scores = q.matmul(k.swap_dims(2, 3)) * scale + mask.clone();
            let context = softmax(scores, 3)
                .matmul(v)
                .reshape([batch, heads, len, hd])
                .swap_dims(1, 2)
                .reshape([n, heads * hd]);
            x = x + layer.o.forward(context);
            let h = rms_norm(x.clone(), &layer.ffn_norm, c.rms_eps);
            let gated = silu(layer.gate.forward(h.clone())) * layer.up.forward(h);
            x = x + layer.down.forward(gated);
        }
        cache.len = total;
        let x = if all_positions {
            x
        } else {
            x.reshape([batch, len, c.hidden])
                .narrow(1, len - 1, 1)
                .reshape([batch, c.hidden])
        };
        self.lm_head.forward(rms_norm(x, &self.norm, c.rms_eps))
    }

    /// cos and sin of each row's positions, `[batch, 1, len, head_dim]`, both halves alike
    /// (Hugging Face's rotate-half layout).
    fn rotary(
        &self,
        batch: usize,
        len: usize,
        past: usize,
        pads: &[usize],
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let hd = self.config.head_dim;
        let mut cos = Vec::with_capacity(batch * len * hd);
        let mut sin = Vec::with_capacity(batch * len * hd);
        for &pad in pads.iter().take(batch) {
            for t in 0..len {
                let position = (past + t).saturating_sub(pad) as f64;
                for _ in 0..2 {
                    for f in &self.inv_freq {
                        let angle = position * *f as f64;
                        cos.push(angle.cos() as f32);
                        sin.push(angle.sin() as f32);
                    }
                }
            }
        }
        let shape = [batch, 1, len, hd];
        (
            Tensor::from_data(TensorData::new(cos, shape), &self.device),
            Tensor::from_data(TensorData::new(sin, shape), &self.device),
        )
    }

    /// The additive attention mask, `[batch, 1, group · len, past + len]`: a query sees the keys
    /// up to its own position that are not padding (a padding query sees itself, so its row
    /// stays finite).
    fn mask(
        &self,
        batch: usize,
        len: usize,
        past: usize,
        group: usize,
        pads: &[usize],
    ) -> Tensor<B, 4> {
        let total = past + len;
        let mut mask = Vec::with_capacity(batch * group * len * total);
        for &pad in pads.iter().take(batch) {
            for _ in 0..group {
                for t in 0..len {
                    let query = past + t;
                    mask.extend((0..total).map(|key| {
                        if (key <= query && key >= pad) || key == query {
                            0.0
                        } else {
                            MASKED
                        }
                    }));
                }
            }
        }
        Tensor::from_data(
            TensorData::new(mask, [batch, 1, group * len, total]),
            &self.device,
        )
    }
}

/// RMS normalisation over the last dimension, times `weight`.
fn rms_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    weight: &Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    let inv_rms = (x.clone().square().mean_dim(D - 1) + eps).sqrt().recip();
    let mut shape = [1usize; D];
    shape[D - 1] = weight.dims()[0];
    x * inv_rms * weight.clone().reshape(shape)
}

/// Rotary embedding, rotate-half form: `x·cos + [−x₂, x₁]·sin`.
fn rotate<B: Backend>(x: Tensor<B, 4>, cos: &Tensor<B, 4>, sin: &Tensor<B, 4>) -> Tensor<B, 4> {
    let hd = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, hd / 2);
    let x2 = x.clone().narrow(3, hd / 2, hd / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * cos.clone() + rotated * sin.clone()
}
