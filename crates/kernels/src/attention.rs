//! Scaled dot-product attention of a batch on the host, forward and backward, each sequence's
//! heads computed while they are in cache — scores, dropout, mask, softmax and the product with
//! the values in one pass per query; the backward the same — sequences in parallel. With a
//! causal mask the hidden keys' products are skipped. The inner loops are dispatched like
//! [`crate::math`]'s (AVX2+FMA, AVX-512, or the generic body).
//!
//! The order of operations is burn's `MultiHeadAttention`'s: dropout on the scaled scores, then
//! the mask fill, then the softmax. reclab's model wraps this as one autodiff operation.

use std::ops::Range;

use rayon::prelude::*;

use crate::isa::Isa;
use crate::math::{exp_shifted_body, madd};

/// The sizes and constants of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
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
    pub fn hidden_size(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Attention weights per sequence: `[heads, queries, keys]`.
    pub fn weights_per_sequence(&self) -> usize {
        self.heads * self.queries * self.keys
    }
}

/// One sequence's inputs. `query` `[queries, hidden]`, `key` and `value` `[keys, hidden]`
/// (head `h` in columns `h·head_dim..`), `hidden` `[queries, keys]` (true: that key is masked
/// for that query), `drop` `[heads, queries, keys]` (dropout's multipliers, when it is on).
pub struct Sequence<'a> {
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

/// `row = Σ_c vector[c] · columns[c][span]` with `columns` `[vector.len(), stride]`, `row` as
/// long as `span`.
#[inline(always)]
fn combine<const FMA: bool>(
    vector: &[f32],
    columns: &[f32],
    stride: usize,
    span: &Range<usize>,
    row: &mut [f32],
) {
    row.fill(0.0);
    for (c, &factor) in vector.iter().enumerate() {
        add_scaled::<FMA>(
            factor,
            &columns[c * stride + span.start..c * stride + span.end],
            row,
        );
    }
}

/// The keys a query can see, from the first one not hidden to one past the last (all of them
/// where every key is hidden, whose row is then uniform). With a causal mask and left padding
/// that is about half the row: scores and products outside it are never computed.
#[inline(always)]
fn visible_span(hidden: &[bool]) -> (Range<usize>, bool) {
    match hidden.iter().position(|&hidden| !hidden) {
        Some(first) => {
            let last = hidden.iter().rposition(|&hidden| !hidden).unwrap_or(first);
            (first..last + 1, true)
        }
        None => (0..hidden.len(), false),
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
            let (span, some_visible) = visible_span(hidden);
            row.fill(0.0);
            let row = &mut row[span.clone()];
            combine::<FMA>(query, keys_by_column, keys, &span, row);
            let mut max = f32::NEG_INFINITY;
            for (score, j) in row.iter_mut().zip(span.clone()) {
                *score = if hidden[j] {
                    dims.fill
                } else {
                    let score = *score * dims.scale;
                    input.drop.map_or(score, |drop| score * drop[at + j])
                };
                max = max.max(*score);
            }
            let sum = exp_shifted_body::<FMA>(row, max);
            let inverse = 1.0 / sum;
            // A hidden key's weight is 0 (the vector exp stops at 1e-38, not 0, so it is set),
            // unless every key of the row is hidden: then the row is uniform, as the fill makes
            // it. Its products are then skipped, forward and backward.
            let out = &mut context[i * width + column..][..d];
            for (p, j) in row.iter_mut().zip(span) {
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
pub struct SequenceGrads<'a> {
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
            // Outside the visible span every weight is 0, and so is every term below.
            let (span, _) = visible_span(hidden);
            combine::<FMA>(
                upstream,
                values_by_column,
                keys,
                &span,
                &mut d_weights[span.clone()],
            );
            let mut weighted = 0.0f32;
            for j in span.clone() {
                if row[j] != 0.0 {
                    weighted = madd::<FMA>(d_weights[j], row[j], weighted);
                    let value = j * width + column;
                    add_scaled::<FMA>(row[j], upstream, &mut grads.value[value..][..d]);
                }
            }
            let query = &input.query[i * width + column..][..d];
            for j in span {
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
    pub fn forward_sequence_on / forward_avx2 / forward_avx512
        (dims: &Dims, input: &Sequence, weights: &mut [f32], context: &mut [f32],
         scratch: &mut [f32]) -> ()
        = forward_body
}

dispatched! {
    /// The backward pass of one sequence (see [`backward_body`]).
    pub fn backward_sequence_on / backward_avx2 / backward_avx512
        (dims: &Dims, input: &Sequence, weights: &[f32], d_context: &[f32],
         grads: &mut SequenceGrads, scratch: &mut [f32]) -> ()
        = backward_body
}

/// A batch on the host: `query` `[batch, queries, hidden]`, `key` and `value`
/// `[batch, keys, hidden]`, `hidden` `[batch, queries, keys]`, `drop`
/// `[batch, heads, queries, keys]`.
#[derive(Debug)]
pub struct Batch {
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
    pub fn forward(&self, isa: Isa) -> (Vec<f32>, Vec<f32>) {
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
    pub fn backward(&self, isa: Isa, weights: &[f32], d_context: &[f32]) -> [Vec<f32>; 3] {
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEADS: usize = 2;
    const HEAD_DIM: usize = 3;
    const LEN: usize = 5;
    const BATCH: usize = 3;

    /// Values in [−1, 1) from a fixed linear congruential sequence.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Three sequences, causal: the first unpadded, the second with two padding keys, the last
    /// all padding (every row hidden, so uniform). With `dropout`, a third of the multipliers
    /// are 0 and the rest 1.5.
    fn batch(dropout: bool) -> Batch {
        let width = HEADS * HEAD_DIM;
        let padded = [0, 2, LEN];
        let hidden = (0..BATCH * LEN * LEN)
            .map(|at| {
                let (b, i, j) = (at / (LEN * LEN), at / LEN % LEN, at % LEN);
                j < padded[b] || j > i
            })
            .collect();
        let drop = dropout.then(|| {
            (0..BATCH * HEADS * LEN * LEN)
                .map(|at| if at % 3 == 1 { 0.0 } else { 1.5 })
                .collect()
        });
        Batch {
            dims: Dims {
                heads: HEADS,
                head_dim: HEAD_DIM,
                queries: LEN,
                keys: LEN,
                scale: 1.0 / (HEAD_DIM as f32).sqrt(),
                fill: -1.0e4,
            },
            batch: BATCH,
            query: values(BATCH * LEN * width, 1),
            key: values(BATCH * LEN * width, 2),
            value: values(BATCH * LEN * width, 3),
            hidden,
            drop,
        }
    }

    /// The context `[batch, queries, hidden]` in f64, one score at a time as the formulas
    /// write it: `softmax(fill where hidden, else q·k · scale · drop) · V` per head.
    fn reference_context(batch: &Batch, query: &[f64], key: &[f64], value: &[f64]) -> Vec<f64> {
        let dims = &batch.dims;
        let (width, d, n) = (dims.hidden_size(), dims.head_dim, dims.keys);
        let mut context = vec![0.0; batch.batch * dims.queries * width];
        for b in 0..batch.batch {
            for h in 0..dims.heads {
                for i in 0..dims.queries {
                    let q = &query[(b * dims.queries + i) * width + h * d..][..d];
                    let scores: Vec<f64> = (0..n)
                        .map(|j| {
                            if batch.hidden[(b * dims.queries + i) * n + j] {
                                return f64::from(dims.fill);
                            }
                            let k = &key[(b * n + j) * width + h * d..][..d];
                            let dot: f64 = q.iter().zip(k).map(|(x, y)| x * y).sum();
                            let drop = batch.drop.as_ref().map_or(1.0, |drop| {
                                f64::from(drop[((b * dims.heads + h) * dims.queries + i) * n + j])
                            });
                            dot * f64::from(dims.scale) * drop
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let sum: f64 = exps.iter().sum();
                    for (j, e) in exps.iter().enumerate() {
                        for c in 0..d {
                            context[(b * dims.queries + i) * width + h * d + c] +=
                                e / sum * value[(b * n + j) * width + h * d + c];
                        }
                    }
                }
            }
        }
        context
    }

    fn widen(values: &[f32]) -> Vec<f64> {
        values.iter().map(|&v| f64::from(v)).collect()
    }

    #[test]
    fn the_forward_pass_matches_the_formulas_on_every_instruction_set() {
        for dropout in [false, true] {
            let batch = batch(dropout);
            let want = reference_context(
                &batch,
                &widen(&batch.query),
                &widen(&batch.key),
                &widen(&batch.value),
            );
            for isa in Isa::every_on_this_machine() {
                let (weights, context) = batch.forward(isa);
                for (at, (got, want)) in context.iter().zip(&want).enumerate() {
                    assert!(
                        (f64::from(*got) - want).abs() < 1e-5,
                        "{isa:?}, dropout {dropout}: context[{at}] {got} vs {want}"
                    );
                }
                // Each row of weights is a distribution; the all-padding sequence's is uniform.
                for row in weights.chunks(LEN) {
                    let sum: f32 = row.iter().sum();
                    assert!((sum - 1.0).abs() < 1e-5, "{isa:?}: row sums to {sum}");
                }
                let last = &weights[2 * HEADS * LEN * LEN..];
                assert!(last.iter().all(|&w| (w - 0.2).abs() < 1e-6), "{last:?}");
            }
        }
    }

    /// The backward pass against central differences of the f64 forward pass: the gradient of
    /// `Σ upstream · context` with respect to every query, key and value.
    #[test]
    fn the_backward_pass_matches_finite_differences_on_every_instruction_set() {
        for dropout in [false, true] {
            let batch = batch(dropout);
            let upstream = values(batch.query.len(), 4);
            let inputs = [widen(&batch.query), widen(&batch.key), widen(&batch.value)];
            let loss = |inputs: &[Vec<f64>; 3]| -> f64 {
                reference_context(&batch, &inputs[0], &inputs[1], &inputs[2])
                    .iter()
                    .zip(&upstream)
                    .map(|(c, u)| c * f64::from(*u))
                    .sum()
            };
            let step = 1e-5;
            let numeric: Vec<Vec<f64>> = (0..3)
                .map(|which| {
                    (0..inputs[which].len())
                        .map(|at| {
                            let mut plus = inputs.clone();
                            plus[which][at] += step;
                            let mut minus = inputs.clone();
                            minus[which][at] -= step;
                            (loss(&plus) - loss(&minus)) / (2.0 * step)
                        })
                        .collect()
                })
                .collect();
            for isa in Isa::every_on_this_machine() {
                let (weights, _) = batch.forward(isa);
                let grads = batch.backward(isa, &weights, &upstream);
                for (which, name) in ["query", "key", "value"].iter().enumerate() {
                    for (at, (got, want)) in grads[which].iter().zip(&numeric[which]).enumerate() {
                        assert!(
                            (f64::from(*got) - want).abs() < 2e-5,
                            "{isa:?}, dropout {dropout}: d{name}[{at}] {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
