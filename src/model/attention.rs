//! Scaled dot-product attention fused into one host kernel forward and one backward, for
//! training on the CPU backend.
//!
//! Written with tensor operations, attention is the largest part of a CPU training step:
//! burn's autodiff records the scaling, the batched product, the dropout, the mask fill, the
//! five operations of a softmax and the second product, and walks each back, every one a pass
//! over `[batch, heads, queries, keys]` values and a small batched matrix product with its own
//! overhead. Here each sequence's heads are computed while they are in cache — scores, dropout,
//! mask, softmax and the product with the values in one pass per query; the backward the same —
//! sequences in parallel, and with a causal mask the hidden keys' products are skipped. That
//! kernel is `reclab_kernels::attention` (dispatched to AVX2+FMA, AVX-512, or the generic
//! body); this module makes it one autodiff operation of burn's CPU backend.
//!
//! The computation is [`tensor_attention`]'s, the tensor form the encoder used before (dropout
//! on the scaled scores, then the mask fill, as burn's `MultiHeadAttention` places them), with
//! the same dropout mask drawn from the same seed, so the two agree up to rounding; the tests
//! hold them to it, values and gradients. Other backends, and inference, keep the tensor form.

use std::any::TypeId;
use std::sync::Arc;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::activation::softmax;
use reclab_kernels::attention::{Batch, Dims};

use super::dropout::{dropout, host_mask_for};
use super::host_math::{
    FlexPrimitive, Host, HostPrimitive, host_slice, host_tensor, record, same_backend,
};

/// What the backward pass keeps: the inputs and the forward weights (the tensor the forward
/// pass returns, shared rather than copied).
#[derive(Debug, Clone)]
struct Saved {
    batch: Arc<Batch>,
    weights: FlexPrimitive,
}

#[derive(Debug)]
struct FusedAttention;

impl Backward<Flex, 3> for FusedAttention {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_context = grads.consume::<Flex>(&ops.node);
        let d_context = host_slice(&d_context);
        let saved = &ops.state;
        let batch = &saved.batch;
        let gradients = batch.backward(
            crate::device::isa::Isa::detected(),
            &host_slice(&saved.weights),
            &d_context,
        );
        let dims = &batch.dims;
        let shapes = [
            [batch.batch, dims.queries, dims.hidden_size()],
            [batch.batch, dims.keys, dims.hidden_size()],
            [batch.batch, dims.keys, dims.hidden_size()],
        ];
        for ((parent, gradient), shape) in ops.parents.iter().zip(gradients).zip(shapes) {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, host_tensor(gradient, shape));
            }
        }
    }
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
    let values = |tensor: &HostPrimitive| host_slice(&tensor.primitive).into_owned();
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
    let weights = host_tensor(weights, [batch, heads, queries, keys]);
    let context = host_tensor(context, [batch, queries, width]);
    let state = || Saved {
        batch: Arc::new(host_batch),
        weights: weights.clone(),
    };
    let output = record(FusedAttention, [&query, &key, &value], state, context);
    (
        Tensor::from_primitive(TensorPrimitive::Float(output)),
        Tensor::from_inner(Tensor::from_primitive(TensorPrimitive::Float(weights))),
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
        let padding = &padding[b * keys..][..keys];
        for (i, row) in rows.chunks_mut(keys).enumerate() {
            match &future {
                Some(future) => {
                    let future = &future[(b * queries + i) * keys..][..keys];
                    for ((value, &padded), &ahead) in row.iter_mut().zip(padding).zip(future) {
                        *value = padded || ahead;
                    }
                }
                None => row.copy_from_slice(padding),
            }
        }
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::isa::Isa;
    use crate::model::host_math::host_values;
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
