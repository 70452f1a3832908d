//! Scaled dot-product attention of a batch on the host, forward and backward, sequences in
//! parallel. Within a sequence each head is computed while it is in cache, a block of four
//! queries (or, for the key and value gradients, four keys) at a time: their scores against
//! sixteen keys are one register tile, summed over the head's columns, and so is every other
//! product of the pass. With a causal mask only the tiles a block's queries can see are
//! computed. The inner loops are dispatched like [`crate::math`]'s (AVX2+FMA, AVX-512, or the
//! generic body).
//!
//! The order of operations is burn's `MultiHeadAttention`'s: dropout on the scaled scores, then
//! the mask fill, then the softmax. reclab's model wraps this as one autodiff operation.

use std::ops::Range;

use rayon::prelude::*;

use crate::buffer::zeros;
use crate::isa::Isa;
use crate::math::{dot, exp_shifted_body, madd};

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

/// Lanes of a tile's row: one AVX-512 register, two AVX2 ones, four NEON ones.
const TILE: usize = 16;

/// Rows of a tile. The products below take this many rows of their left operand at once, so
/// each row of the right operand is loaded once for all of them and the sums stay in registers
/// (four rows of sixteen lanes: four AVX-512 registers, eight AVX2 ones).
const ROWS: usize = 4;

/// `n` rounded up to whole tiles.
fn padded(n: usize) -> usize {
    n.div_ceil(TILE) * TILE
}

/// `out[r][l] = Σ_{k ∈ range} a[r][k · a_step] · b[k · b_stride + l]` for the `TILE` lanes `l`:
/// one tile of a product. Both scores and context (and every product of the backward pass) are
/// this shape, with rows of 50 or so keys: too short for a general matrix product's packing to
/// pay, too long to leave to one dot product per score.
#[inline(always)]
fn tile<const FMA: bool>(
    a: [&[f32]; ROWS],
    a_step: usize,
    b: &[f32],
    b_stride: usize,
    range: Range<usize>,
) -> [[f32; TILE]; ROWS] {
    let mut sums = [[0.0f32; TILE]; ROWS];
    let Some(last) = range.end.checked_sub(1).filter(|_| !range.is_empty()) else {
        return sums;
    };
    // Every bound checked once here, so the compiler drops the checks inside the loop and the
    // multiply-adds run unbroken on registers.
    let a = a.map(|a| &a[..=last * a_step]);
    let b = &b[..last * b_stride + TILE];
    for k in range {
        let factors: [f32; ROWS] = std::array::from_fn(|r| a[r][k * a_step]);
        let b: &[f32; TILE] = b[k * b_stride..][..TILE]
            .try_into()
            .expect("a slice of TILE values is a TILE array");
        for r in 0..ROWS {
            for l in 0..TILE {
                sums[r][l] = madd::<FMA>(factors[r], b[l], sums[r][l]);
            }
        }
    }
    sums
}

/// A block's rows (each `head_dim` long) times a transposed head `columns`
/// `[head_dim, keys_padded]`, over the tiles of keys in `seen`, into `out`
/// `[ROWS, keys_padded]`: the scores forward, dP backward. Other tiles of `out` are left as
/// they were.
#[inline(always)]
fn against_columns<const FMA: bool>(
    rows: [&[f32]; ROWS],
    columns: &[f32],
    keys_padded: usize,
    seen: &Range<usize>,
    out: &mut [f32],
) {
    let head_dim = rows[0].len();
    for t in seen.start / TILE..seen.end.div_ceil(TILE) {
        let sums = tile::<FMA>(rows, 1, &columns[t * TILE..], keys_padded, 0..head_dim);
        for (row, sums) in out.chunks_exact_mut(keys_padded).zip(&sums) {
            row[t * TILE..][..TILE].copy_from_slice(sums);
        }
    }
}

/// The `ROWS` rows of a block starting at `first`, the last one repeated where fewer are left
/// (their results are computed and not written).
fn block_rows(first: usize, len: usize) -> [usize; ROWS] {
    std::array::from_fn(|r| (first + r).min(len - 1))
}

/// The keys any of `rows` can see: the union of their visible spans.
fn union_span(spans: &[(Range<usize>, bool)], rows: &[usize]) -> Range<usize> {
    let start = rows.iter().map(|&i| spans[i].0.start).min().unwrap_or(0);
    let end = rows.iter().map(|&i| spans[i].0.end).max().unwrap_or(0);
    start..end
}

/// Head `column..column + head_dim` of `rows` `[len, hidden]` into `out` `[len, padded(head_dim)]`,
/// zeros beyond the head: each row then holds whole tiles.
fn pad_head(rows: &[f32], dims: &Dims, len: usize, column: usize, out: &mut [f32]) {
    let (width, d, stride) = (dims.hidden_size(), dims.head_dim, padded(dims.head_dim));
    for (out, row) in out[..len * stride]
        .chunks_exact_mut(stride)
        .zip(rows.chunks_exact(width))
    {
        out[..d].copy_from_slice(&row[column..column + d]);
        out[d..].fill(0.0);
    }
}

/// Head `column..` of `rows` `[len, hidden]` as the right operand of [`tile`], with its row
/// stride: the rows where they lie when the head is whole tiles (the usual 32 or 64 columns),
/// else a copy padded to whole tiles in `scratch`.
fn head_rows<'a>(
    rows: &'a [f32],
    dims: &Dims,
    len: usize,
    column: usize,
    scratch: &'a mut [f32],
) -> (&'a [f32], usize) {
    if dims.head_dim.is_multiple_of(TILE) {
        (&rows[column..len * dims.hidden_size()], dims.hidden_size())
    } else {
        pad_head(rows, dims, len, column, scratch);
        (scratch, padded(dims.head_dim))
    }
}

/// Head `column..column + head_dim` of `rows` `[len, hidden]`, transposed into `out`
/// `[head_dim, padded(len)]` with zeros beyond `len`: a block of queries' scores against a tile
/// of keys is then [`tile`] over the head's columns.
fn transpose_head(rows: &[f32], dims: &Dims, len: usize, column: usize, out: &mut [f32]) {
    let (width, d, stride) = (dims.hidden_size(), dims.head_dim, padded(len));
    for (c, out) in out[..d * stride].chunks_exact_mut(stride).enumerate() {
        let (values, padding) = out.split_at_mut(len);
        for (value, row) in values.iter_mut().zip(rows.chunks_exact(width)) {
            *value = row[column + c];
        }
        padding.fill(0.0);
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

/// Working memory for one thread's sequences, forward and backward.
pub struct Scratch {
    /// One head of the keys (forward) or values (backward), transposed: `[head_dim, padded(keys)]`.
    columns: Vec<f32>,
    /// One head of the values (forward) or keys (backward): `[keys, padded(head_dim)]`.
    key_rows: Vec<f32>,
    /// One head of the queries: `[queries, padded(head_dim)]`.
    query_rows: Vec<f32>,
    /// One head of the context's gradient: `[queries, padded(head_dim)]`.
    upstream_rows: Vec<f32>,
    /// A block's scores (forward) or weights' gradients (backward): `[ROWS, padded(keys)]`.
    block: Vec<f32>,
    /// One head's scores' gradients: `[queries, keys]`.
    d_scores: Vec<f32>,
    /// Each query's visible span (see [`visible_span`]).
    spans: Vec<(Range<usize>, bool)>,
}

impl Scratch {
    pub fn new(dims: &Dims) -> Scratch {
        let (keys, queries, d) = (padded(dims.keys), dims.queries, padded(dims.head_dim));
        Scratch {
            columns: vec![0.0; dims.head_dim * keys],
            key_rows: vec![0.0; dims.keys * d],
            query_rows: vec![0.0; queries * d],
            upstream_rows: vec![0.0; queries * d],
            block: vec![0.0; ROWS * keys],
            d_scores: vec![0.0; queries * dims.keys],
            spans: Vec::with_capacity(queries),
        }
    }

    fn find_spans(&mut self, dims: &Dims, hidden: &[bool]) {
        self.spans.clear();
        self.spans
            .extend(hidden.chunks_exact(dims.keys).map(visible_span));
    }
}

/// Writes a tile's rows (those of `rows` from `first`, before `len`) into `out` at
/// `row · stride + column`, `width` lanes of each.
fn write_tile(
    sums: &[[f32; TILE]; ROWS],
    first: usize,
    len: usize,
    out: &mut [f32],
    stride: usize,
    column: usize,
    width: usize,
) {
    for (r, sums) in sums.iter().enumerate().take(len.saturating_sub(first)) {
        let out = &mut out[(first + r) * stride + column..];
        // A whole tile (the usual case) as one fixed-length copy, inlined.
        if width == TILE {
            out[..TILE].copy_from_slice(sums);
        } else {
            out[..width].copy_from_slice(&sums[..width]);
        }
    }
}

/// Turns one query's scores (`scores`, a row of `padded(keys)` holding the products over
/// whole tiles of its visible span) into its weights row: scale, dropout, the mask's fill,
/// softmax. Outside the span the weights are 0.
#[inline(always)]
fn softmax_row<const FMA: bool>(
    dims: &Dims,
    hidden: &[bool],
    drop: Option<&[f32]>,
    (span, some_visible): &(Range<usize>, bool),
    scores: &mut [f32],
    weights: &mut [f32],
) {
    // Whole tiles, so the exponentials run on full vectors; the keys outside the span in them
    // take −∞, whose exponential is 1e-38 (the vector exp stops there), never read below.
    // Every loop is over slices of one length with selects, not branches, so each vectorises.
    let tiles = span.start / TILE * TILE..padded(span.end);
    let row = &mut scores[tiles.clone()];
    let (outside_before, rest) = row.split_at_mut(span.start - tiles.start);
    let (inside, outside_after) = rest.split_at_mut(span.len());
    outside_before.fill(f32::NEG_INFINITY);
    outside_after.fill(f32::NEG_INFINITY);
    let hidden = &hidden[span.clone()];
    match drop {
        Some(drop) => {
            for ((score, &hidden), &drop) in inside.iter_mut().zip(hidden).zip(&drop[span.clone()])
            {
                let kept = *score * dims.scale * drop;
                *score = if hidden { dims.fill } else { kept };
            }
        }
        None => {
            for (score, &hidden) in inside.iter_mut().zip(hidden) {
                let scaled = *score * dims.scale;
                *score = if hidden { dims.fill } else { scaled };
            }
        }
    }
    let sum: f32 = exp_shifted_body::<FMA>(row, max_of_tiles(row));
    let inverse = 1.0 / sum;
    let inside = &row[span.start - tiles.start..][..span.len()];
    weights[..span.start].fill(0.0);
    weights[span.end..].fill(0.0);
    // A hidden key's weight is 0, unless every key of the row is hidden: then the row is
    // uniform, as the fill makes it.
    for ((weight, &e), &hidden) in weights[span.clone()].iter_mut().zip(inside).zip(hidden) {
        *weight = if *some_visible && hidden {
            0.0
        } else {
            e * inverse
        };
    }
}

/// The largest of `values` (whole tiles), sixteen lanes at a time. A NaN is passed over, as
/// `f32::max` does; the softmax's exponentials carry it on.
#[inline(always)]
fn max_of_tiles(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; TILE];
    for tile in values.chunks_exact(TILE) {
        for (max, &value) in lanes.iter_mut().zip(tile) {
            *max = if value > *max { value } else { *max };
        }
    }
    lanes
        .iter()
        .fold(f32::NEG_INFINITY, |max, &value| max.max(value))
}

/// The forward pass of one sequence: `weights` `[heads, queries, keys]` and `context`
/// `[queries, hidden]` (both overwritten), a block of `ROWS` queries at a time: their scores
/// over the tiles of keys any of them sees, each row's softmax, then their context.
#[inline(always)]
fn forward_body<const FMA: bool>(
    dims: &Dims,
    input: &Sequence,
    weights: &mut [f32],
    context: &mut [f32],
    scratch: &mut Scratch,
) {
    let (width, d, keys, queries) = (dims.hidden_size(), dims.head_dim, dims.keys, dims.queries);
    let keys_padded = padded(keys);
    scratch.find_spans(dims, input.hidden);
    let Scratch {
        columns: keys_by_column,
        key_rows: values,
        block: scores,
        spans,
        ..
    } = scratch;
    for h in 0..dims.heads {
        let column = h * d;
        transpose_head(input.key, dims, keys, column, keys_by_column);
        let (values, value_stride) = head_rows(input.value, dims, keys, column, values);
        let head_weights = &mut weights[h * queries * keys..][..queries * keys];
        for first in (0..queries).step_by(ROWS) {
            let rows = block_rows(first, queries);
            let seen = union_span(spans, &rows);
            let query_rows = rows.map(|i| &input.query[i * width + column..][..d]);
            against_columns::<FMA>(query_rows, keys_by_column, keys_padded, &seen, scores);
            for (r, i) in (first..queries.min(first + ROWS)).enumerate() {
                softmax_row::<FMA>(
                    dims,
                    &input.hidden[i * keys..][..keys],
                    input
                        .drop
                        .map(|drop| &drop[(h * queries + i) * keys..][..keys]),
                    &spans[i],
                    &mut scores[r * keys_padded..][..keys_padded],
                    &mut head_weights[i * keys..][..keys],
                );
            }
            let weight_rows = rows.map(|i| &head_weights[i * keys..][..keys]);
            for c in (0..d).step_by(TILE) {
                let sums = tile::<FMA>(weight_rows, 1, &values[c..], value_stride, seen.clone());
                let lanes = TILE.min(d - c);
                write_tile(&sums, first, queries, context, width, column + c, lanes);
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
/// `dV = Pᵀ · dContext`, the scores' gradient `dS = P ⊙ (dP − rowsum(dP ⊙ P))` (zero where the
/// key is hidden, as the mask fill wrote a constant there), times dropout's multiplier and the
/// scale, then `dQ = dS · K` and `dK = dSᵀ · Q`. Each product in tiles of `ROWS` rows, over the
/// keys (or queries) that blocks' rows see.
#[inline(always)]
fn backward_body<const FMA: bool>(
    dims: &Dims,
    input: &Sequence,
    weights: &[f32],
    d_context: &[f32],
    grads: &mut SequenceGrads,
    scratch: &mut Scratch,
) {
    let (width, d, keys, queries) = (dims.hidden_size(), dims.head_dim, dims.keys, dims.queries);
    let keys_padded = padded(keys);
    scratch.find_spans(dims, input.hidden);
    let Scratch {
        columns: values_by_column,
        key_rows,
        query_rows,
        upstream_rows,
        block: d_weights,
        d_scores,
        spans,
    } = scratch;
    for h in 0..dims.heads {
        let column = h * d;
        transpose_head(input.value, dims, keys, column, values_by_column);
        let (key_rows, key_stride) = head_rows(input.key, dims, keys, column, key_rows);
        let (query_rows, query_stride) = head_rows(input.query, dims, queries, column, query_rows);
        let (upstream_rows, upstream_stride) =
            head_rows(d_context, dims, queries, column, upstream_rows);
        let head_weights = &weights[h * queries * keys..][..queries * keys];
        // dS, a block of queries at a time: dP over the tiles they see, then each row.
        for first in (0..queries).step_by(ROWS) {
            let rows = block_rows(first, queries);
            let seen = union_span(spans, &rows);
            let upstream = rows.map(|i| &d_context[i * width + column..][..d]);
            against_columns::<FMA>(upstream, values_by_column, keys_padded, &seen, d_weights);
            for (r, i) in (first..queries.min(first + ROWS)).enumerate() {
                let (span, _) = &spans[i];
                let weights = &head_weights[i * keys..][..keys];
                let d_weights = &d_weights[r * keys_padded..][..keys];
                let hidden = &input.hidden[i * keys..][..keys];
                let drop = input
                    .drop
                    .map(|drop| &drop[(h * queries + i) * keys..][..keys]);
                let weighted = dot::<FMA>(&weights[span.clone()], &d_weights[span.clone()]);
                let d_scores = &mut d_scores[i * keys..][..keys];
                d_scores[..span.start].fill(0.0);
                d_scores[span.end..].fill(0.0);
                // Outside the span every weight is 0, and so is the gradient; a hidden key's
                // score was the mask's constant fill, so it has none either.
                let terms = d_scores[span.clone()]
                    .iter_mut()
                    .zip(&weights[span.clone()])
                    .zip(&d_weights[span.clone()])
                    .zip(&hidden[span.clone()]);
                match drop {
                    Some(drop) => {
                        for ((((d_score, &p), &d_p), &hidden), &drop) in
                            terms.zip(&drop[span.clone()])
                        {
                            let gradient = p * (d_p - weighted) * drop * dims.scale;
                            *d_score = if hidden { 0.0 } else { gradient };
                        }
                    }
                    None => {
                        for (((d_score, &p), &d_p), &hidden) in terms {
                            let gradient = p * (d_p - weighted) * dims.scale;
                            *d_score = if hidden { 0.0 } else { gradient };
                        }
                    }
                }
            }
        }
        // dQ = dS · K, a block of queries at a time over the keys they see.
        for first in (0..queries).step_by(ROWS) {
            let rows = block_rows(first, queries);
            let seen = union_span(spans, &rows);
            let d_score_rows = rows.map(|i| &d_scores[i * keys..][..keys]);
            for c in (0..d).step_by(TILE) {
                let sums = tile::<FMA>(d_score_rows, 1, &key_rows[c..], key_stride, seen.clone());
                let lanes = TILE.min(d - c);
                write_tile(&sums, first, queries, grads.query, width, column + c, lanes);
            }
        }
        // dV = Pᵀ · dContext and dK = dSᵀ · Q, a block of keys at a time over the queries
        // that see any of them; the left operands are columns of P and dS.
        for first in (0..keys).step_by(ROWS) {
            let rows = block_rows(first, keys);
            let block = first..first + ROWS;
            let sees =
                |(span, _): &(Range<usize>, bool)| span.start < block.end && block.start < span.end;
            let seeing = match (spans.iter().position(sees), spans.iter().rposition(sees)) {
                (Some(start), Some(last)) => start..last + 1,
                _ => 0..0,
            };
            let weight_columns = rows.map(|j| &head_weights[j..]);
            let d_score_columns = rows.map(|j| &d_scores[j..]);
            for c in (0..d).step_by(TILE) {
                let lanes = TILE.min(d - c);
                let sums = tile::<FMA>(
                    weight_columns,
                    keys,
                    &upstream_rows[c..],
                    upstream_stride,
                    seeing.clone(),
                );
                write_tile(&sums, first, keys, grads.value, width, column + c, lanes);
                let sums = tile::<FMA>(
                    d_score_columns,
                    keys,
                    &query_rows[c..],
                    query_stride,
                    seeing.clone(),
                );
                write_tile(&sums, first, keys, grads.key, width, column + c, lanes);
            }
        }
    }
}

dispatched! {
    /// The forward pass of one sequence (see [`forward_body`]).
    pub fn forward_sequence_on / forward_avx2 / forward_avx512
        (dims: &Dims, input: &Sequence, weights: &mut [f32], context: &mut [f32],
         scratch: &mut Scratch) -> ()
        = forward_body
}

dispatched! {
    /// The backward pass of one sequence (see [`backward_body`]).
    pub fn backward_sequence_on / backward_avx2 / backward_avx512
        (dims: &Dims, input: &Sequence, weights: &[f32], d_context: &[f32],
         grads: &mut SequenceGrads, scratch: &mut Scratch) -> ()
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
        let mut weights = zeros(self.batch * per_weights);
        let mut context = zeros(self.batch * per_context);
        weights
            .par_chunks_mut(per_weights)
            .zip(context.par_chunks_mut(per_context))
            .enumerate()
            .for_each_init(
                || Scratch::new(dims),
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
        let mut d_query = zeros(self.query.len());
        let mut d_key = zeros(self.key.len());
        let mut d_value = zeros(self.value.len());
        d_query
            .par_chunks_mut(per_query)
            .zip(d_key.par_chunks_mut(per_key))
            .zip(d_value.par_chunks_mut(per_key))
            .enumerate()
            .for_each_init(
                || Scratch::new(dims),
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
        batch_shaped(HEADS, HEAD_DIM, LEN, [0, 2, LEN], true, dropout)
    }

    /// Three sequences of `len` with `padded[b]` padding keys at the front of sequence `b`,
    /// causal or not; dropout as in [`batch`].
    fn batch_shaped(
        heads: usize,
        head_dim: usize,
        len: usize,
        padded: [usize; BATCH],
        causal: bool,
        dropout: bool,
    ) -> Batch {
        let width = heads * head_dim;
        let hidden = (0..BATCH * len * len)
            .map(|at| {
                let (b, i, j) = (at / (len * len), at / len % len, at % len);
                j < padded[b] || (causal && j > i)
            })
            .collect();
        let drop = dropout.then(|| {
            (0..BATCH * heads * len * len)
                .map(|at| if at % 3 == 1 { 0.0 } else { 1.5 })
                .collect()
        });
        Batch {
            dims: Dims {
                heads,
                head_dim,
                queries: len,
                keys: len,
                scale: 1.0 / (head_dim as f32).sqrt(),
                fill: -1.0e4,
            },
            batch: BATCH,
            query: values(BATCH * len * width, 1),
            key: values(BATCH * len * width, 2),
            value: values(BATCH * len * width, 3),
            hidden,
            drop,
        }
    }

    /// One query's weights over every key in f64, one score at a time as the formulas write
    /// it: `softmax(fill where hidden, else q·k · scale · drop)`.
    fn reference_weights(
        batch: &Batch,
        query: &[f64],
        key: &[f64],
        (b, h, i): (usize, usize, usize),
    ) -> Vec<f64> {
        let dims = &batch.dims;
        let (width, d, n) = (dims.hidden_size(), dims.head_dim, dims.keys);
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
        exps.iter().map(|e| e / sum).collect()
    }

    /// The context `[batch, queries, hidden]` in f64: the weights times `V` per head.
    fn reference_context(batch: &Batch, query: &[f64], key: &[f64], value: &[f64]) -> Vec<f64> {
        let dims = &batch.dims;
        let (width, d, n) = (dims.hidden_size(), dims.head_dim, dims.keys);
        let mut context = vec![0.0; batch.batch * dims.queries * width];
        for b in 0..batch.batch {
            for h in 0..dims.heads {
                for i in 0..dims.queries {
                    let p = reference_weights(batch, query, key, (b, h, i));
                    for (j, p) in p.iter().enumerate() {
                        for c in 0..d {
                            context[(b * dims.queries + i) * width + h * d + c] +=
                                p * value[(b * n + j) * width + h * d + c];
                        }
                    }
                }
            }
        }
        context
    }

    /// The gradients of `Σ upstream · context` with respect to the query, key and value in
    /// f64, score by score from the softmax's derivative (`dS = P ⊙ (dP − Σ P ⊙ dP)`, nothing
    /// through a hidden key's constant fill).
    fn reference_gradients(batch: &Batch, upstream: &[f32]) -> [Vec<f64>; 3] {
        let dims = &batch.dims;
        let (width, d, n) = (dims.hidden_size(), dims.head_dim, dims.keys);
        let (query, key, value) = (widen(&batch.query), widen(&batch.key), widen(&batch.value));
        let mut grads = [
            vec![0.0; query.len()],
            vec![0.0; key.len()],
            vec![0.0; value.len()],
        ];
        for b in 0..batch.batch {
            for h in 0..dims.heads {
                for i in 0..dims.queries {
                    let p = reference_weights(batch, &query, &key, (b, h, i));
                    let row = (b * dims.queries + i) * width + h * d;
                    let up = &upstream[row..][..d];
                    let key_row = |j: usize| (b * n + j) * width + h * d;
                    let d_p: Vec<f64> = (0..n)
                        .map(|j| {
                            (0..d)
                                .map(|c| f64::from(up[c]) * value[key_row(j) + c])
                                .sum()
                        })
                        .collect();
                    let weighted: f64 = p.iter().zip(&d_p).map(|(p, g)| p * g).sum();
                    for j in 0..n {
                        for c in 0..d {
                            grads[2][key_row(j) + c] += p[j] * f64::from(up[c]);
                        }
                        if batch.hidden[(b * dims.queries + i) * n + j] {
                            continue;
                        }
                        let drop = batch.drop.as_ref().map_or(1.0, |drop| {
                            f64::from(drop[((b * dims.heads + h) * dims.queries + i) * n + j])
                        });
                        let d_score = p[j] * (d_p[j] - weighted) * f64::from(dims.scale) * drop;
                        for c in 0..d {
                            grads[0][row + c] += d_score * key[key_row(j) + c];
                            grads[1][key_row(j) + c] += d_score * query[row + c];
                        }
                    }
                }
            }
        }
        grads
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

    /// Shapes of the model's size (several blocks of queries and tiles of keys, the last of
    /// each partial; heads of whole tiles, read in place, and a head of 20, padded), causal and
    /// not, with and without dropout: forward and backward against the f64 formulas.
    #[test]
    fn tiles_and_blocks_of_every_size_match_the_formulas_on_every_instruction_set() {
        let cases = [
            (20, true, false),
            (20, true, true),
            (20, false, true),
            (32, true, true),
        ];
        for (head_dim, causal, dropout) in cases {
            let batch = batch_shaped(2, head_dim, 37, [0, 9, 37], causal, dropout);
            let query = widen(&batch.query);
            let want = reference_context(&batch, &query, &widen(&batch.key), &widen(&batch.value));
            let upstream = values(batch.query.len(), 4);
            let want_grads = reference_gradients(&batch, &upstream);
            for isa in Isa::every_on_this_machine() {
                let what = format!("{isa:?}, head {head_dim}, causal {causal}, dropout {dropout}");
                let (weights, context) = batch.forward(isa);
                for (at, (got, want)) in context.iter().zip(&want).enumerate() {
                    assert!(
                        (f64::from(*got) - want).abs() < 1e-5,
                        "{what}: context[{at}] {got} vs {want}"
                    );
                }
                let grads = batch.backward(isa, &weights, &upstream);
                for (which, name) in ["query", "key", "value"].iter().enumerate() {
                    for (at, (got, want)) in grads[which].iter().zip(&want_grads[which]).enumerate()
                    {
                        assert!(
                            (f64::from(*got) - want).abs() < 1e-5,
                            "{what}: d{name}[{at}] {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
