//! The training step taken apart: each operation of a SASRec step timed alone with the step's
//! shapes, forward and backward, for `reclab bench train --ops` (the table in ARCHITECTURE.md).
//! On the CPU backend operations run as they are called, so a wall clock around each one
//! measures it; on a GPU the figures would include queueing and are not printed.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use super::bench::process_cpu_secs;

use crate::model::activation::gelu;
use crate::model::attention::{AttentionInputs, attention, tensor_attention};
use crate::model::dropout::dropout;
use crate::model::layer_norm::layer_norm;
use crate::model::loss::{fused_softmax_cross_entropy, softmax_cross_entropy};
use crate::model::{SeqRec, TransformerConfig, Vocabulary};

/// One operation's mean time and how many times a step runs it.
#[derive(Debug, Clone, Serialize)]
pub struct OpTiming {
    pub name: String,
    pub per_step: usize,
    pub forward_ms: f64,
    pub backward_ms: f64,
    /// CPU time over wall time, forward and backward together: how many cores it keeps busy.
    pub cores_busy: Option<f64>,
}

/// Mean milliseconds of `forward` and of the backward pass from its output's sum, and the
/// cores they kept busy.
fn time_op<B: AutodiffBackend, const D: usize>(
    repeats: usize,
    mut forward: impl FnMut() -> Tensor<B, D>,
) -> (f64, f64, Option<f64>) {
    let (mut forward_secs, mut backward_secs) = (0.0, 0.0);
    let mut cpu_from = None;
    for round in 0..repeats + 1 {
        if round == 1 {
            cpu_from = process_cpu_secs();
        }
        let started = Instant::now();
        let output = forward();
        let computed = Instant::now();
        let _gradients = output.sum().backward();
        let done = Instant::now();
        // The first round warms caches and the allocator up.
        if round > 0 {
            forward_secs += (computed - started).as_secs_f64();
            backward_secs += (done - computed).as_secs_f64();
        }
    }
    let cores_busy = cpu_from
        .zip(process_cpu_secs())
        .map(|(from, to)| (to - from) / (forward_secs + backward_secs).max(1e-9));
    let n = repeats.max(1) as f64;
    (1e3 * forward_secs / n, 1e3 * backward_secs / n, cores_busy)
}

/// Times the operations of one step of a `config`-shaped SASRec over `vocabulary`, with
/// `batch` sequences of full length and `targets` positions with a target.
pub fn time_operations<B: AutodiffBackend>(
    device: &B::Device,
    config: &TransformerConfig,
    vocabulary: Vocabulary,
    batch: usize,
    targets: usize,
    repeats: usize,
) -> Vec<OpTiming> {
    B::seed(device, 7);
    let model = SeqRec::<B>::new(config, vocabulary, device);
    let (len, hidden) = (config.max_len, config.hidden);
    let ids: Vec<i64> = (0..batch * len)
        .map(|i| 1 + (i * 7919 % vocabulary.num_items) as i64)
        .collect();
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [batch, len]), device);
    let activations = || {
        Tensor::<B, 3>::random(
            [batch, len, hidden],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            device,
        )
        .require_grad()
    };
    let x = activations();
    let padding = tokens.clone().equal_elem(0);
    let future = model.future_mask(batch, len, device);
    let block = &model.blocks()[0];
    let layers = model.blocks().len();
    let mut timings = Vec::new();
    let mut record = |name: &str, per_step: usize, (forward_ms, backward_ms, cores_busy)| {
        timings.push(OpTiming {
            name: name.to_string(),
            per_step,
            forward_ms,
            backward_ms,
            cores_busy,
        })
    };
    record(
        "embedding: items + positions, LayerNorm, dropout",
        1,
        time_op(repeats, || model.embed(tokens.clone()).0),
    );
    record(
        "attention: Q/K/V/output projections, scores, masks, softmax, dropout",
        layers,
        time_op(repeats, || {
            block
                .attend(x.clone(), x.clone(), padding.clone(), Some(future.clone()))
                .0
        }),
    );
    // The part between the projections alone: the fused kernel (on the CPU backend) and the
    // tensor operations it replaced.
    let projected = || AttentionInputs {
        query: x.clone(),
        key: x.clone(),
        value: x.clone(),
        padding: padding.clone(),
        future: Some(future.clone()),
    };
    let fill = block.attention_fill();
    record(
        "  of which scores to context (fused on the CPU)",
        layers,
        time_op(repeats, || {
            attention(projected(), config.heads, config.dropout, fill).0
        }),
    );
    record(
        "  the same with tensor operations (before the fusion)",
        0,
        time_op(repeats, || {
            tensor_attention(projected(), config.heads, config.dropout, fill).0
        }),
    );
    record(
        "feed-forward: two projections, GELU, dropout",
        layers,
        time_op(repeats, || block.feed_forward_sublayer(x.clone())),
    );
    let inner = Tensor::<B, 3>::random(
        [batch, len, config.inner],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        device,
    )
    .require_grad();
    record(
        "  of which GELU alone",
        layers,
        time_op(repeats, || gelu(inner.clone())),
    );
    record(
        "  of which dropout alone",
        layers,
        time_op(repeats, || dropout(inner.clone(), config.dropout)),
    );
    record(
        "  of which the two projections alone",
        layers,
        time_op(repeats, || block.feed_forward_projections(x.clone())),
    );
    record(
        "LayerNorm",
        2 * layers,
        time_op(repeats, || layer_norm(model.layer_norm(), x.clone())),
    );
    record(
        "dropout (width 64)",
        2 * layers,
        time_op(repeats, || dropout(x.clone(), config.dropout)),
    );
    record(
        "residual addition",
        2 * layers,
        time_op(repeats, || x.clone() + x.clone()),
    );
    let states = || {
        Tensor::<B, 2>::random(
            [targets, hidden],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            device,
        )
        .require_grad()
    };
    let state = states();
    let target_ids: Vec<i64> = (0..targets)
        .map(|i| 1 + (i * 104_729 % vocabulary.num_items) as i64)
        .collect();
    let target_ids = Tensor::<B, 1, Int>::from_data(TensorData::new(target_ids, [targets]), device);
    record(
        "softmax-CE tail, fused, 64 rows at a time (logits to gradients)",
        1,
        time_op(repeats, || {
            fused_softmax_cross_entropy(state.clone(), model.item_table(), target_ids.clone())
        }),
    );
    record(
        "softmax-CE tail through autodiff (before the fused form)",
        0,
        time_op(repeats, || {
            softmax_cross_entropy(
                state.clone().matmul(model.item_table().transpose()),
                target_ids.clone(),
            )
        }),
    );
    timings
}
