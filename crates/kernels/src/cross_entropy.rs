//! The tied-weights softmax cross-entropy of a training step, with its two gradients, computed
//! a block of rows at a time.
//!
//! For hidden states H `[n, d]`, the item table T `[v, d]` and one target item per row, the
//! logits are L = H·Tᵀ, the loss is the mean over rows of `logsumexp(Lᵣ) − Lᵣ[targetᵣ]`, and
//! with C = (softmax(L) − one-hot)/n the gradients are dH = C·T and dT = Cᵀ·H.
//!
//! Computed whole, L and C are `[n, v]` matrices (36 MB for a SASRec batch of 128 on
//! MovieLens), written once and read three times: the step spends more time moving them than
//! multiplying. Here 64 rows at a time go through all of it while their logits are in the
//! core's cache: their logits, their softmax rows turned into C in place, their rows of dH, and
//! their share of dT added into a partial sum. The matrix products are `gemm`'s (the crate
//! burn's CPU backend multiplies with, with its own run-time dispatch); the softmax rows use
//! [`crate::math`]'s exponential of the given instruction set.
//!
//! Rows are split into a number of groups fixed by `n` alone, each with its own partial dT,
//! and the partials are added in group order: the result is the same to the last bit whatever
//! the number of threads and however rayon schedules them, so a seeded training run repeats.

use rayon::prelude::*;

use crate::isa::Isa;
use crate::math::exp_shifted_body;
use crate::matmul::{Matrix, Operand, Threads, multiply, sum_in_order};

/// Rows whose logits are computed together: 64 rows of a 1,683-item catalogue are 430 KB,
/// which stays in a core's L2 cache beside the table.
const BLOCK_ROWS: usize = 64;

/// At most this many groups of rows, each with a partial table gradient (`v·d` values):
/// enough to share work among 16 threads, few enough that the partials stay small.
const MAX_GROUPS: usize = 16;

/// The loss and gradients of [`tied_softmax_cross_entropy`].
#[derive(Debug, Clone, PartialEq)]
pub struct CrossEntropy {
    /// Mean over rows of `−log softmax(Lᵣ)[targetᵣ]` (0 for no rows), summed in f64.
    pub loss: f64,
    /// ∂loss/∂H, `[n, d]`.
    pub hidden_gradient: Vec<f32>,
    /// ∂loss/∂T, `[v, d]`.
    pub table_gradient: Vec<f32>,
}

/// Loss and gradients of the softmax cross-entropy of `hidden · tableᵀ` (`hidden` `[n, d]`,
/// `table` `[v, d]`, both row-major, `d = width`) against `targets` (one row of `table` per
/// row of `hidden`), with the softmax rows computed by the kernel of `isa`.
///
/// # Panics
/// If the slices' lengths do not match `width`, or a target is not a row of `table`: callers
/// pass tensors whose shapes the model fixed and targets that index its own table.
pub fn tied_softmax_cross_entropy(
    isa: Isa,
    hidden: &[f32],
    table: &[f32],
    targets: &[usize],
    width: usize,
) -> CrossEntropy {
    let rows = targets.len();
    assert!(width > 0, "cross-entropy over rows of width 0");
    assert_eq!(hidden.len(), rows * width, "hidden is not [targets, width]");
    assert_eq!(table.len() % width, 0, "table is not [items, width]");
    let items = table.len() / width;
    if let Some(&target) = targets.iter().find(|&&target| target >= items) {
        panic!("target {target} is not one of the table's {items} items");
    }
    let mut hidden_gradient = vec![0.0f32; rows * width];
    if rows == 0 {
        return CrossEntropy {
            loss: 0.0,
            hidden_gradient,
            table_gradient: vec![0.0; items * width],
        };
    }
    let scale = 1.0 / rows as f32;
    let group_rows = rows_per_group(rows);
    let groups: Vec<(f64, Vec<f32>)> = hidden
        .par_chunks(group_rows * width)
        .zip(targets.par_chunks(group_rows))
        .zip(hidden_gradient.par_chunks_mut(group_rows * width))
        .map(|((hidden, targets), hidden_gradient)| {
            group(isa, hidden, table, targets, width, scale, hidden_gradient)
        })
        .collect();
    let loss_sum: f64 = groups.iter().map(|(loss, _)| loss).sum();
    let partials: Vec<&[f32]> = groups.iter().map(|(_, partial)| &partial[..]).collect();
    CrossEntropy {
        loss: loss_sum / rows as f64,
        hidden_gradient,
        table_gradient: sum_in_order(&partials, items * width),
    }
}

/// Rows per group: whole blocks, as few groups as [`MAX_GROUPS`] allows and no fewer blocks
/// per group than that needs (a function of `rows` alone, never of the threads).
fn rows_per_group(rows: usize) -> usize {
    let blocks = rows.div_ceil(BLOCK_ROWS);
    blocks.div_ceil(MAX_GROUPS) * BLOCK_ROWS
}

/// One group of rows, a block at a time: writes the rows' dH and returns the sum of their
/// losses and their partial dT.
fn group(
    isa: Isa,
    hidden: &[f32],
    table: &[f32],
    targets: &[usize],
    width: usize,
    scale: f32,
    hidden_gradient: &mut [f32],
) -> (f64, Vec<f32>) {
    let items = table.len() / width;
    let mut table_gradient = vec![0.0f32; items * width];
    let mut logits = vec![0.0f32; BLOCK_ROWS * items];
    let mut loss = 0.0f64;
    let blocks = hidden
        .chunks(BLOCK_ROWS * width)
        .zip(targets.chunks(BLOCK_ROWS))
        .zip(hidden_gradient.chunks_mut(BLOCK_ROWS * width));
    for ((hidden, targets), hidden_gradient) in blocks {
        let rows = targets.len();
        let logits = &mut logits[..rows * items];
        // L = H·Tᵀ: H's rows by T's rows.
        multiply(
            Matrix::rows(logits, items),
            Operand::rows(hidden, width),
            Operand::columns(table, width),
            (rows, items, width),
            false,
            Threads::One,
        );
        loss += coefficients_on(isa, logits, targets, items, scale);
        // dH = C·T.
        multiply(
            Matrix::rows(hidden_gradient, width),
            Operand::rows(logits, items),
            Operand::rows(table, width),
            (rows, width, items),
            false,
            Threads::One,
        );
        // dT += Cᵀ·H.
        multiply(
            Matrix::rows(&mut table_gradient, width),
            Operand::columns(logits, items),
            Operand::rows(hidden, width),
            (items, width, rows),
            true,
            Threads::One,
        );
    }
    (loss, table_gradient)
}

/// Turns each row of `logits` (rows of `items` values) into its row of C,
/// `(softmax − one-hot(target)) · scale`, in place, and returns the sum of the rows' losses
/// `logsumexp − logit[target]`.
#[inline(always)]
fn coefficients_body<const FMA: bool>(
    logits: &mut [f32],
    targets: &[usize],
    items: usize,
    scale: f32,
) -> f64 {
    let mut loss = 0.0f64;
    for (row, &target) in logits.chunks_exact_mut(items).zip(targets) {
        let target_logit = row[target];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum = exp_shifted_body::<FMA>(row, max);
        let factor = scale / sum;
        row.iter_mut().for_each(|value| *value *= factor);
        row[target] -= scale;
        loss += f64::from(sum.ln() + max - target_logit);
    }
    loss
}

dispatched! {
    /// Softmax rows into cross-entropy coefficients (see `coefficients_body`).
    pub fn coefficients_on / coefficients_avx2 / coefficients_avx512
        (logits: &mut [f32], targets: &[usize], items: usize, scale: f32) -> f64
        = coefficients_body
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loss and gradients by the formula, in f64, one element at a time.
    fn reference(
        hidden: &[f32],
        table: &[f32],
        targets: &[usize],
        width: usize,
    ) -> (f64, Vec<f64>, Vec<f64>) {
        let rows = targets.len();
        let items = table.len() / width;
        let mut loss = 0.0;
        let mut hidden_gradient = vec![0.0; rows * width];
        let mut table_gradient = vec![0.0; items * width];
        for (r, &target) in targets.iter().enumerate() {
            let h = &hidden[r * width..(r + 1) * width];
            let logits: Vec<f64> = (0..items)
                .map(|j| {
                    let t = &table[j * width..(j + 1) * width];
                    h.iter()
                        .zip(t)
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum()
                })
                .collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = logits.iter().map(|l| (l - max).exp()).sum();
            loss += sum.ln() + max - logits[target];
            for (j, &logit) in logits.iter().enumerate() {
                let one_hot = if j == target { 1.0 } else { 0.0 };
                let c = ((logit - max).exp() / sum - one_hot) / rows as f64;
                for i in 0..width {
                    hidden_gradient[r * width + i] += c * f64::from(table[j * width + i]);
                    table_gradient[j * width + i] += c * f64::from(h[i]);
                }
            }
        }
        (loss / rows as f64, hidden_gradient, table_gradient)
    }

    /// Deterministic values in [−scale, scale).
    fn values(count: usize, seed: u32, scale: f32) -> Vec<f32> {
        (0..count as u32)
            .map(|i| ((i as f32 * 0.754_877_7 + seed as f32 * 0.31).fract() * 2.0 - 1.0) * scale)
            .collect()
    }

    fn assert_close(name: &str, ours: &[f32], reference: &[f64]) {
        let largest = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (&a, &b)) in ours.iter().zip(reference).enumerate() {
            assert!(
                (f64::from(a) - b).abs() <= 1e-5 * largest,
                "{name}[{i}]: {a} vs {b} (largest {largest})"
            );
        }
    }

    #[test]
    fn matches_the_formula_on_every_instruction_set() {
        // Fewer rows than a block, several blocks in one group, and more groups than
        // MAX_GROUPS' worth of single blocks (1,100 rows: 18 blocks, 2 per group).
        for (rows, items, width) in [(3, 7, 2), (150, 41, 5), (1100, 37, 16)] {
            let hidden = values(rows * width, 1, 2.0);
            let table = values(items * width, 2, 2.0);
            let targets: Vec<usize> = (0..rows).map(|r| (r * 7 + 3) % items).collect();
            let (loss, hidden_gradient, table_gradient) =
                reference(&hidden, &table, &targets, width);
            for isa in Isa::every_on_this_machine() {
                let ours = tied_softmax_cross_entropy(isa, &hidden, &table, &targets, width);
                assert!(
                    (ours.loss - loss).abs() <= 1e-5 * loss,
                    "{isa:?} {rows}×{items}: loss {} vs {loss}",
                    ours.loss
                );
                assert_close("dH", &ours.hidden_gradient, &hidden_gradient);
                assert_close("dT", &ours.table_gradient, &table_gradient);
            }
        }
    }

    #[test]
    fn one_row_by_hand() {
        // Logits [0, ln 3] with target 1: softmax (1/4, 3/4), loss −ln(3/4), C = (1/4, −1/4).
        let hidden = [1.0f32];
        let table = [0.0f32, 3f32.ln()];
        let ours = tied_softmax_cross_entropy(Isa::detected(), &hidden, &table, &[1], 1);
        assert!((ours.loss - (4.0f64 / 3.0).ln()).abs() < 1e-6);
        // dH = Σ_j C_j T_j = −ln 3 / 4; dT = C · h.
        assert!((ours.hidden_gradient[0] + 3f32.ln() / 4.0).abs() < 1e-6);
        assert!((ours.table_gradient[0] - 0.25).abs() < 1e-6);
        assert!((ours.table_gradient[1] + 0.25).abs() < 1e-6);
    }

    #[test]
    fn same_bits_whatever_the_threads() {
        let (rows, items, width) = (700, 53, 8);
        let hidden = values(rows * width, 3, 3.0);
        let table = values(items * width, 4, 3.0);
        let targets: Vec<usize> = (0..rows).map(|r| (r * 11) % items).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                tied_softmax_cross_entropy(Isa::detected(), &hidden, &table, &targets, width)
            })
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one, run(5));
    }

    #[test]
    fn no_rows_no_loss() {
        let ours = tied_softmax_cross_entropy(Isa::detected(), &[], &[1.0, 2.0], &[], 2);
        assert_eq!(ours.loss, 0.0);
        assert_eq!(ours.table_gradient, vec![0.0, 0.0]);
    }

    #[test]
    #[should_panic(expected = "target 2 is not one of the table's 2 items")]
    fn a_target_outside_the_table_is_refused() {
        tied_softmax_cross_entropy(Isa::detected(), &[1.0], &[1.0, 2.0], &[2], 1);
    }
}
