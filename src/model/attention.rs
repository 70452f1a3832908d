//! Scaled dot-product attention fused into one host kernel forward and one backward, for
//! training on the CPU backend.
//!
//! Written with tensor operations, attention is the largest part of a CPU training step:
//! burn's autodiff records the scaling, the batched product, the dropout, the mask fill, the
//! five operations of a softmax and the second product, and walks each back, every one a pass
//! over `[batch, heads, queries, keys]` values and a small batched matrix product with its own
//! overhead. Here each sequence's heads are computed while they are in cache — scores, dropout,
//! mask, softmax and the product with the values in one pass per query; the backward the same —
//! sequences in parallel, and with a causal mask the hidden keys' products are skipped. The
//! inner loops are the dispatched kernels of [`super::host_math`] (AVX2+FMA, AVX-512, or the
//! generic body).
//!
//! The computation is [`tensor_attention`]'s, the tensor form the encoder used before (dropout
//! on the scaled scores, then the mask fill, as burn's `MultiHeadAttention` places them), with
//! the same dropout mask drawn from the same seed, so the two agree up to rounding; the tests
//! hold them to it, values and gradients. Other backends, and inference, keep the tensor form.

use std::any::TypeId;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::activation::softmax;
use rayon::prelude::*;

use super::dropout::{dropout, host_mask_for};
use super::host_math::{dispatched, exp_shifted_body, madd};

/// The training backend the fused kernel serves: burn's CPU backend under autodiff.
type Host = Autodiff<Flex>;

/// The sizes and constants of one attention call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub heads: usize,
    pub head_dim: usize,
    pub queries: usize,
    pub keys: usize,
    /// Multiplies each query·key product: `1 / √head_dim`.
    pub scale: f32,
    /// The score of a hidden key (burn's `min_float`): large and negative, not −∞, so a row
    /// whose keys are all hidden softmaxes to a uniform row instead of NaN.
    pub fill: f32,
}

impl Dims {
    fn hidden_size(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Attention weights per sequence: `[heads, queries, keys]`.
    fn weights_per_sequence(&self) -> usize {
        self.heads * self.queries * self.keys
    }
}

/// One sequence's inputs. `query` `[queries, hidden]`, `key` and `value` `[keys, hidden]`
/// (head `h` in columns `h·head_dim..`), `hidden` `[queries, keys]` (true: that key is masked
/// for that query), `drop` `[heads, queries, keys]` (dropout's multipliers, when it is on).
pub(crate) struct Sequence<'a> {
    pub query: &'a [f32],
    pub key: &'a [f32],
    pub value: &'a [f32],
    pub hidden: &'a [bool],
    pub drop: Option<&'a [f32]>,
}

/// `y += alpha · x`.
#[inline(always)]
fn add_scaled<const FMA: bool>(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = madd::<FMA>(alpha, x, *y);
    }
}

/// Head `column..column + head_dim` of `rows` `[len, hidden]`, transposed into `out`
/// `[head_dim, len]`: a query's scores against every key are then `head_dim` scaled additions
/// of contiguous rows, which vectorise, instead of `len` dot products that each end in a
/// horizontal sum.
#[inline(always)]
fn transpose_head(rows: &[f32], dims: &Dims, len: usize, column: usize, out: &mut [f32]) {
    let width = dims.hidden_size();
    for j in 0..len {
        for (c, &value) in rows[j * width + column..][..dims.head_dim]
            .iter()
            .enumerate()
        {
            out[c * len + j] = value;
        }
    }
}

/// `row = Σ_c vector[c] · columns[c]` with `columns` `[vector.len(), row.len()]`.
#[inline(always)]
fn combine<const FMA: bool>(vector: &[f32], columns: &[f32], row: &mut [f32]) {
    let len = row.len();
    row.fill(0.0);
    for (c, &factor) in vector.iter().enumerate() {
        add_scaled::<FMA>(factor, &columns[c * len..][..len], row);
    }
}

/// The forward pass of one sequence: `weights` `[heads, queries, keys]` and `context`
/// `[queries, hidden]` (both overwritten). `scratch` holds `head_dim · keys` values.
#[inline(always)]
fn forward_body<const FMA: bool>(
    dims: &Dims,
    input: &Sequence,
    weights: &mut [f32],
    context: &mut [f32],
    scratch: &mut [f32],
) {
    let (width, d, keys) = (dims.hidden_size(), dims.head_dim, dims.keys);
    context.fill(0.0);
    let keys_by_column = &mut scratch[..d * keys];
    for h in 0..dims.heads {
        let column = h * d;
        transpose_head(input.key, dims, keys, column, keys_by_column);
        for i in 0..dims.queries {
            let query = &input.query[i * width + column..][..d];
            let hidden = &input.hidden[i * keys..][..keys];
            let at = (h * dims.queries + i) * keys;
            let row = &mut weights[at..at + keys];
            combine::<FMA>(query, keys_by_column, row);
            let mut max = f32::NEG_INFINITY;
            for j in 0..keys {
                let score = if hidden[j] {
                    dims.fill
                } else {
                    let score = row[j] * dims.scale;
                    input.drop.map_or(score, |drop| score * drop[at + j])
                };
                row[j] = score;
                max = max.max(score);
            }
            let sum = exp_shifted_body::<FMA>(row, max);
            let inverse = 1.0 / sum;
            // A hidden key's weight is 0 (the vector exp stops at 1e-38, not 0, so it is set),
            // unless every key of the row is hidden: then the row is uniform, as the fill makes
            // it. Its products are then skipped, forward and backward.
            let some_visible = hidden.iter().any(|&hidden| !hidden);
            let out = &mut context[i * width + column..][..d];
            for (j, p) in row.iter_mut().enumerate() {
                *p = if some_visible && hidden[j] {
                    0.0
                } else {
                    *p * inverse
                };
                if *p != 0.0 {
                    add_scaled::<FMA>(*p, &input.value[j * width + column..][..d], out);
                }
            }
        }
    }
}

/// What the backward pass of one sequence writes: the gradients of its query, key and value.
pub(crate) struct SequenceGrads<'a> {
    pub query: &'a mut [f32],
    pub key: &'a mut [f32],
    pub value: &'a mut [f32],
}

/// The backward pass of one sequence, from its forward `weights` and the gradient of its
/// context `[queries, hidden]`: with `P` the weights and `dP = dContext · Vᵀ`,
/// `dV = Pᵀ · dContext`, the scores' gradient `P ⊙ (dP − rowsum(dP ⊙ P))` (zero where the key is
/// hidden, as the mask fill wrote a constant there), times dropout's multiplier and the scale,
/// then `dQ = dS · K` and `dK = dSᵀ · Q`. `scratch` holds `(head_dim + 1) · keys` values.
#[inline(always)]
fn backward_body<const FMA: bool>(
    dims: &Dims,
    input: &Sequence,
    weights: &[f32],
    d_context: &[f32],
    grads: &mut SequenceGrads,
    scratch: &mut [f32],
) {
    let (width, d, keys) = (dims.hidden_size(), dims.head_dim, dims.keys);
    grads.query.fill(0.0);
    grads.key.fill(0.0);
    grads.value.fill(0.0);
    let (values_by_column, d_weights) = scratch[..(d + 1) * keys].split_at_mut(d * keys);
    for h in 0..dims.heads {
        let column = h * d;
        transpose_head(input.value, dims, keys, column, values_by_column);
        for i in 0..dims.queries {
            let upstream = &d_context[i * width + column..][..d];
            let hidden = &input.hidden[i * keys..][..keys];
            let at = (h * dims.queries + i) * keys;
            let row = &weights[at..at + keys];
            combine::<FMA>(upstream, values_by_column, d_weights);
            let mut weighted = 0.0f32;
            for j in 0..keys {
                if row[j] != 0.0 {
                    weighted = madd::<FMA>(d_weights[j], row[j], weighted);
                    let value = j * width + column;
                    add_scaled::<FMA>(row[j], upstream, &mut grads.value[value..][..d]);
                }
            }
            let query = &input.query[i * width + column..][..d];
            for j in 0..keys {
                if hidden[j] || row[j] == 0.0 {
                    continue;
                }
                let drop = input.drop.map_or(1.0, |drop| drop[at + j]);
                let d_score = row[j] * (d_weights[j] - weighted) * drop * dims.scale;
                let key = j * width + column;
                add_scaled::<FMA>(
                    d_score,
                    &input.key[key..][..d],
                    &mut grads.query[i * width + column..][..d],
                );
                add_scaled::<FMA>(d_score, query, &mut grads.key[key..][..d]);
            }
        }
    }
}

dispatched! {
    /// The forward pass of one sequence (see [`forward_body`]).
    pub fn forward_sequence / forward_sequence_on / forward_avx2 / forward_avx512
        (dims: &Dims, input: &Sequence, weights: &mut [f32], context: &mut [f32],
         scratch: &mut [f32]) -> ()
        = forward_body
}

dispatched! {
    /// The backward pass of one sequence (see [`backward_body`]).
    pub fn backward_sequence / backward_sequence_on / backward_avx2 / backward_avx512
        (dims: &Dims, input: &Sequence, weights: &[f32], d_context: &[f32],
         grads: &mut SequenceGrads, scratch: &mut [f32]) -> ()
        = backward_body
}

/// A batch on the host: `query` `[batch, queries, hidden]`, `key` and `value`
/// `[batch, keys, hidden]`, `hidden` `[batch, queries, keys]`, `drop`
/// `[batch, heads, queries, keys]`.
#[derive(Debug)]
pub(crate) struct Batch {
    pub dims: Dims,
    pub batch: usize,
    pub query: Vec<f32>,
    pub key: Vec<f32>,
    pub value: Vec<f32>,
    pub hidden: Vec<bool>,
    pub drop: Option<Vec<f32>>,
}

impl Batch {
    fn sequence(&self, b: usize) -> Sequence<'_> {
        let dims = &self.dims;
        let (width, per_weights) = (dims.hidden_size(), dims.weights_per_sequence());
        let queries = dims.queries * width;
        let keys = dims.keys * width;
        Sequence {
            query: &self.query[b * queries..][..queries],
            key: &self.key[b * keys..][..keys],
            value: &self.value[b * keys..][..keys],
            hidden: &self.hidden[b * dims.queries * dims.keys..][..dims.queries * dims.keys],
            drop: self
                .drop
                .as_deref()
                .map(|drop| &drop[b * per_weights..][..per_weights]),
        }
    }

    /// The weights `[batch, heads, queries, keys]` and the context `[batch, queries, hidden]`,
    /// sequences in parallel.
    pub(crate) fn forward(&self, isa: crate::device::isa::Isa) -> (Vec<f32>, Vec<f32>) {
        let dims = &self.dims;
        let per_weights = dims.weights_per_sequence();
        let per_context = dims.queries * dims.hidden_size();
        let mut weights = vec![0.0f32; self.batch * per_weights];
        let mut context = vec![0.0f32; self.batch * per_context];
        weights
            .par_chunks_mut(per_weights)
            .zip(context.par_chunks_mut(per_context))
            .enumerate()
            .for_each_init(
                || vec![0.0f32; dims.head_dim * dims.keys],
                |scratch, (b, (weights, context))| {
                    forward_sequence_on(isa, dims, &self.sequence(b), weights, context, scratch);
                },
            );
        (weights, context)
    }

    /// The gradients of the query, key and value from the forward `weights` and the
    /// context's gradient `[batch, queries, hidden]`, sequences in parallel.
    pub(crate) fn backward(
        &self,
        isa: crate::device::isa::Isa,
        weights: &[f32],
        d_context: &[f32],
    ) -> [Vec<f32>; 3] {
        let dims = &self.dims;
        let per_weights = dims.weights_per_sequence();
        let per_query = dims.queries * dims.hidden_size();
        let per_key = dims.keys * dims.hidden_size();
        let mut d_query = vec![0.0f32; self.query.len()];
        let mut d_key = vec![0.0f32; self.key.len()];
        let mut d_value = vec![0.0f32; self.value.len()];
        d_query
            .par_chunks_mut(per_query)
            .zip(d_key.par_chunks_mut(per_key))
            .zip(d_value.par_chunks_mut(per_key))
            .enumerate()
            .for_each_init(
                || vec![0.0f32; (dims.head_dim + 1) * dims.keys],
                |scratch, (b, ((query, key), value))| {
                    let mut grads = SequenceGrads { query, key, value };
                    backward_sequence_on(
                        isa,
                        dims,
                        &self.sequence(b),
                        &weights[b * per_weights..][..per_weights],
                        &d_context[b * per_query..][..per_query],
                        &mut grads,
                        scratch,
                    );
                },
            );
        [d_query, d_key, d_value]
    }
}

/// What the backward pass keeps: the inputs and the forward weights.
#[derive(Debug, Clone)]
struct Saved {
    batch: Arc<Batch>,
    weights: Arc<Vec<f32>>,
}

#[derive(Debug)]
struct FusedAttention;

impl Backward<Flex, 3> for FusedAttention {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_context = grads.consume::<Flex>(&ops.node);
        let d_context = host_values(Tensor::<Flex, 3>::from_primitive(TensorPrimitive::Float(
            d_context,
        )));
        let saved = &ops.state;
        let batch = &saved.batch;
        let gradients = batch.backward(
            crate::device::isa::Isa::detected(),
            &saved.weights,
            &d_context,
        );
        let dims = &batch.dims;
        let shapes = [
            [batch.batch, dims.queries, dims.hidden_size()],
            [batch.batch, dims.keys, dims.hidden_size()],
            [batch.batch, dims.keys, dims.hidden_size()],
        ];
        let device = Default::default();
        for ((parent, gradient), shape) in ops.parents.iter().zip(gradients).zip(shapes) {
            if let Some(node) = parent {
                let tensor =
                    Tensor::<Flex, 3>::from_data(TensorData::new(gradient, shape), &device);
                grads.register::<Flex>(node.id, tensor.into_primitive().tensor());
            }
        }
    }
}

fn host_values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap_or_default()
}

/// The inputs of [`try_fused`]: the projected query `[batch, queries, hidden]`, key and value
/// `[batch, keys, hidden]`, the padding `[batch, keys]` and, when causal, the future mask
/// `[batch, queries, keys]` (true: hidden).
pub(crate) struct AttentionInputs<B: Backend> {
    pub query: Tensor<B, 3>,
    pub key: Tensor<B, 3>,
    pub value: Tensor<B, 3>,
    pub padding: Tensor<B, 2, Bool>,
    pub future: Option<Tensor<B, 3, Bool>>,
}

/// Multi-head attention of the projected inputs: the context `[batch, queries, hidden]` (heads
/// side by side, before the output projection) and the weights `[batch, heads, queries, keys]`.
/// Fused when training on the CPU, with tensor operations otherwise.
pub(crate) fn attention<B: Backend>(
    inputs: AttentionInputs<B>,
    heads: usize,
    dropout: f64,
    fill: f32,
) -> (Tensor<B, 3>, Tensor<B, 4>) {
    match try_fused(inputs, heads, dropout, fill) {
        Ok(outputs) => outputs,
        Err(inputs) => tensor_attention(inputs, heads, dropout, fill),
    }
}

/// [`attention`] with tensor operations, on any backend.
pub(crate) fn tensor_attention<B: Backend>(
    inputs: AttentionInputs<B>,
    heads: usize,
    dropout_prob: f64,
    fill: f32,
) -> (Tensor<B, 3>, Tensor<B, 4>) {
    let AttentionInputs {
        query,
        key,
        value,
        padding,
        future,
    } = inputs;
    let [batch, queries, width] = query.dims();
    let [_, keys] = padding.dims();
    let head_dim = width / heads;
    let split_heads = |x: Tensor<B, 3>| {
        let [batch, len, _] = x.dims();
        x.reshape([batch, len, heads, head_dim]).swap_dims(1, 2)
    };
    let (query, key, value) = (split_heads(query), split_heads(key), split_heads(value));
    // Scaled before the product (as PyTorch's attention does): the queries are smaller than
    // the scores when the sequence is longer than a head's width.
    let scores = query
        .div_scalar((head_dim as f32).sqrt())
        .matmul(key.transpose());
    // One mask for padding and future together: one fill of the scores instead of two.
    let padding = padding.reshape([batch, 1, 1, keys]);
    let hidden_keys = match future {
        Some(future) => padding
            .expand([batch, 1, queries, keys])
            .bool_or(future.reshape([batch, 1, queries, keys])),
        None => padding,
    };
    let scores = dropout(scores, dropout_prob).mask_fill(hidden_keys, fill);
    let weights = softmax(scores, 3);
    let context = weights
        .clone()
        .matmul(value)
        .swap_dims(1, 2)
        .reshape([batch, queries, width]);
    (context, weights)
}

/// The fused attention's context and weights where `B` is the CPU training backend; the
/// inputs back otherwise, for the tensor version.
fn try_fused<B: Backend>(
    inputs: AttentionInputs<B>,
    heads: usize,
    dropout: f64,
    fill: f32,
) -> Result<(Tensor<B, 3>, Tensor<B, 4>), AttentionInputs<B>> {
    if TypeId::of::<B>() != TypeId::of::<Host>() {
        return Err(inputs);
    }
    let host = AttentionInputs::<Host> {
        query: same_backend(inputs.query),
        key: same_backend(inputs.key),
        value: same_backend(inputs.value),
        padding: same_backend(inputs.padding),
        future: inputs.future.map(same_backend),
    };
    let (context, weights) = fused_on_host(host, heads, dropout, fill);
    Ok((same_backend(context), same_backend(weights)))
}

/// `value` as the type it is: for a tensor of one backend seen through a generic parameter
/// that [`try_fused`] has checked to be that backend.
fn same_backend<From: 'static, To: 'static>(value: From) -> To {
    let boxed: Box<dyn std::any::Any> = Box::new(value);
    match boxed.downcast::<To>() {
        Ok(value) => *value,
        // Invariant: called only on types whose backends `try_fused` found identical.
        Err(_) => unreachable!("same_backend between different types"),
    }
}

fn fused_on_host(
    inputs: AttentionInputs<Host>,
    heads: usize,
    dropout: f64,
    fill: f32,
) -> (Tensor<Host, 3>, Tensor<Host, 4>) {
    let [batch, queries, width] = inputs.query.dims();
    let [_, keys, _] = inputs.key.dims();
    let device = inputs.query.device();
    let head_dim = width / heads;
    let dims = Dims {
        heads,
        head_dim,
        queries,
        keys,
        scale: 1.0 / (head_dim as f32).sqrt(),
        fill,
    };
    let hidden = hidden_keys(inputs.padding, inputs.future, queries);
    let drop = host_mask_for::<Host>(batch * dims.weights_per_sequence(), dropout, &device);
    let primitive = |tensor: Tensor<Host, 3>| tensor.into_primitive().tensor();
    let (query, key, value) = (
        primitive(inputs.query),
        primitive(inputs.key),
        primitive(inputs.value),
    );
    let values = |tensor: &<Host as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive| {
        host_values(Tensor::<Flex, 3>::from_primitive(TensorPrimitive::Float(
            tensor.primitive.clone(),
        )))
    };
    let host_batch = Batch {
        dims,
        batch,
        query: values(&query),
        key: values(&key),
        value: values(&value),
        hidden,
        drop,
    };
    let (weights, context) = host_batch.forward(crate::device::isa::Isa::detected());
    let weights_tensor = Tensor::<Flex, 4>::from_data(
        TensorData::new(weights.clone(), [batch, heads, queries, keys]),
        &Default::default(),
    );
    let context = Tensor::<Flex, 3>::from_data(
        TensorData::new(context, [batch, queries, width]),
        &Default::default(),
    )
    .into_primitive()
    .tensor();
    let nodes = [query.node.clone(), key.node.clone(), value.node.clone()];
    let output = match FusedAttention
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                batch: Arc::new(host_batch),
                weights: Arc::new(weights),
            },
            context,
        ),
        OpsKind::UnTracked(prep) => prep.finish(context),
    };
    (
        Tensor::from_primitive(TensorPrimitive::Float(output)),
        Tensor::from_inner(weights_tensor),
    )
}

/// A mask's values: read as they are stored (native booleans on the CPU backend), or through
/// integers where a backend stores them otherwise.
fn bools<const D: usize>(mask: Tensor<Host, D, Bool>) -> Vec<bool> {
    let data = mask.clone().into_data();
    match data.to_vec::<bool>() {
        Ok(values) => values,
        Err(_) => {
            let values = mask.int().into_data().convert::<i32>();
            values.iter::<i32>().map(|value| value != 0).collect()
        }
    }
}

/// Padding `[batch, keys]` and the future mask `[batch, queries, keys]` as one host mask
/// `[batch, queries, keys]`.
fn hidden_keys(
    padding: Tensor<Host, 2, Bool>,
    future: Option<Tensor<Host, 3, Bool>>,
    queries: usize,
) -> Vec<bool> {
    let [batch, keys] = padding.dims();
    let padding = bools(padding);
    let future = future.map(bools);
    let mut hidden = vec![false; batch * queries * keys];
    for (b, rows) in hidden.chunks_mut(queries * keys).enumerate() {
        for (i, row) in rows.chunks_mut(keys).enumerate() {
            for (j, value) in row.iter_mut().enumerate() {
                *value = padding[b * keys + j]
                    || future
                        .as_ref()
                        .is_some_and(|future| future[(b * queries + i) * keys + j]);
            }
        }
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::isa::Isa;
    use burn::tensor::Distribution;

    const BATCH: usize = 3;
    const LEN: usize = 7;
    const WIDTH: usize = 40;
    const HEADS: usize = 2;
    const FILL: f32 = -1.0e4;

    /// Query, key and value leaves, and the masks: sequence `b` has `padded[b]` padding
    /// positions at its start (the last one is padding throughout, so with the causal mask
    /// every one of its rows has all keys hidden), each query sees itself and earlier keys
    /// when `causal`.
    fn case(causal: bool) -> ([Tensor<Host, 3>; 3], AttentionInputs<Host>) {
        let device = Default::default();
        let leaf = |len| {
            Tensor::<Host, 3>::random([BATCH, len, WIDTH], Distribution::Normal(0.0, 1.0), &device)
                .require_grad()
        };
        let leaves = [leaf(LEN), leaf(LEN), leaf(LEN)];
        let padded = [0, 3, LEN];
        let padding: Vec<bool> = (0..BATCH)
            .flat_map(|b| (0..LEN).map(move |j| j < padded[b]))
            .collect();
        let future: Vec<bool> = (0..BATCH * LEN * LEN)
            .map(|at| at % LEN > (at / LEN) % LEN)
            .collect();
        let inputs = AttentionInputs {
            query: leaves[0].clone(),
            key: leaves[1].clone(),
            value: leaves[2].clone(),
            padding: Tensor::from_data(TensorData::new(padding, [BATCH, LEN]), &device),
            future: causal
                .then(|| Tensor::from_data(TensorData::new(future, [BATCH, LEN, LEN]), &device)),
        };
        (leaves, inputs)
    }

    fn copy(inputs: &AttentionInputs<Host>) -> AttentionInputs<Host> {
        AttentionInputs {
            query: inputs.query.clone(),
            key: inputs.key.clone(),
            value: inputs.value.clone(),
            padding: inputs.padding.clone(),
            future: inputs.future.clone(),
        }
    }

    /// Weights for a weighted sum of the context, so each element's gradient differs.
    fn upstream() -> Tensor<Host, 3> {
        Tensor::random(
            [BATCH, LEN, WIDTH],
            Distribution::Normal(0.0, 1.0),
            &Default::default(),
        )
    }

    fn assert_close(what: &str, ours: &[f32], reference: &[f32], tolerance: f32) {
        assert_eq!(ours.len(), reference.len(), "{what}: length");
        for (at, (a, b)) in ours.iter().zip(reference).enumerate() {
            assert!(
                (a - b).abs() <= tolerance,
                "{what}[{at}]: {a} against {b} (tolerance {tolerance})"
            );
        }
    }

    /// The context, weights and the three gradients of `Σ context ⊙ upstream`.
    fn run(
        outputs: (Tensor<Host, 3>, Tensor<Host, 4>),
        leaves: &[Tensor<Host, 3>; 3],
        upstream: &Tensor<Host, 3>,
    ) -> Vec<Vec<f32>> {
        let (context, weights) = outputs;
        let grads = (context.clone() * upstream.clone()).sum().backward();
        let mut readings = vec![host_values(context), host_values(weights)];
        for leaf in leaves {
            readings.push(host_values(
                leaf.grad(&grads).expect("a leaf has a gradient"),
            ));
        }
        readings
    }

    const NAMES: [&str; 5] = ["context", "weights", "d_query", "d_key", "d_value"];

    #[test]
    fn fused_matches_the_tensor_version_with_and_without_dropout() {
        let device = Default::default();
        for causal in [true, false] {
            for dropout in [0.0, 0.3] {
                let (leaves, inputs) = case(causal);
                let upstream = upstream();
                Host::seed(&device, 11);
                let reference = run(
                    tensor_attention(copy(&inputs), HEADS, dropout, FILL),
                    &leaves,
                    &upstream,
                );
                Host::seed(&device, 11);
                let fused = try_fused(inputs, HEADS, dropout, FILL)
                    .unwrap_or_else(|_| panic!("the CPU training backend takes the fused kernel"));
                let fused = run(fused, &leaves, &upstream);
                for ((name, ours), theirs) in NAMES.iter().zip(&fused).zip(&reference) {
                    let what = format!("{name} (causal {causal}, dropout {dropout})");
                    assert_close(&what, ours, theirs, 2e-5);
                }
                // A row with every key hidden is uniform, as burn's fill makes it.
                let last_row = &fused[1][fused[1].len() - LEN..];
                assert_close("uniform row", last_row, &[1.0 / LEN as f32; LEN], 1e-6);
            }
        }
    }

    #[test]
    fn every_instruction_set_matches_the_tensor_version() {
        let (leaves, inputs) = case(true);
        let upstream = upstream();
        let reference = run(
            tensor_attention(copy(&inputs), HEADS, 0.0, FILL),
            &leaves,
            &upstream,
        );
        let head_dim = WIDTH / HEADS;
        let batch = Batch {
            dims: Dims {
                heads: HEADS,
                head_dim,
                queries: LEN,
                keys: LEN,
                scale: 1.0 / (head_dim as f32).sqrt(),
                fill: FILL,
            },
            batch: BATCH,
            query: host_values(inputs.query.clone()),
            key: host_values(inputs.key.clone()),
            value: host_values(inputs.value.clone()),
            hidden: hidden_keys(inputs.padding.clone(), inputs.future.clone(), LEN),
            drop: None,
        };
        let d_context = host_values(upstream);
        for isa in Isa::every_on_this_machine() {
            let (weights, context) = batch.forward(isa);
            let [d_query, d_key, d_value] = batch.backward(isa, &weights, &d_context);
            let ours = [context, weights, d_query, d_key, d_value];
            for ((name, ours), theirs) in NAMES.iter().zip(&ours).zip(&reference) {
                assert_close(&format!("{name} on {isa:?}"), ours, theirs, 2e-5);
            }
        }
    }

    #[test]
    fn other_backends_and_inference_keep_the_tensor_version() {
        let device = Default::default();
        let tensor = || Tensor::<Flex, 3>::zeros([1, 2, 4], &device);
        let inputs = AttentionInputs {
            query: tensor(),
            key: tensor(),
            value: tensor(),
            padding: Tensor::<Flex, 2, Bool>::from_data(
                TensorData::new(vec![false, false], [1, 2]),
                &device,
            ),
            future: None,
        };
        assert!(try_fused(inputs, 2, 0.0, FILL).is_err());
    }
}
