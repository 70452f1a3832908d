//! LayerNorm over the last dimension, forward and backward, rows in parallel.
//!
//! Written with tensor operations, a LayerNorm under autodiff is nine passes forward (mean,
//! centring, square, mean, epsilon, square root, division, scale, shift) and their backward
//! passes, each over the whole activation. Here each row is normalised while it is in cache,
//! and the backward pass computes the input's, the scale's and the shift's gradients in one
//! sweep. The row loops are dispatched like [`crate::math`]'s (AVX2+FMA, AVX-512, or the
//! generic body).
//!
//! Forward, for a row x of width d: μ = Σx/d, σ² = Σ(x − μ)²/d (the biased variance, as burn
//! and PyTorch compute it), x̂ = (x − μ)/√(σ² + ε), y = γ ⊙ x̂ + β.
//! Backward, with g = γ ⊙ dy: dx = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / √(σ² + ε),
//! dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy.

use rayon::prelude::*;

use crate::buffer::zeros;
use crate::isa::Isa;
use crate::math::{dot, madd};

/// Lanes of the row sums: one AVX-512 register, two AVX2 ones, four NEON ones.
const LANES: usize = 16;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// Σ values, over sixteen partial sums so the loop vectorises (a single running sum is a chain
/// the compiler may not reorder).
#[inline(always)]
fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane += value;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// A LayerNorm's parameters: the scale γ and shift β (one per column), and ε.
#[derive(Clone, Copy, Debug)]
pub struct Affine<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub epsilon: f32,
}

/// Normalises each row of `input` (rows of `gamma.len()` values) into `normalized` (x̂) and
/// `output` (γ ⊙ x̂ + β), and writes each row's 1/√(σ² + ε) into `inverse_std`.
#[inline(always)]
fn forward_body<const FMA: bool>(
    input: &[f32],
    affine: &Affine,
    normalized: &mut [f32],
    output: &mut [f32],
    inverse_std: &mut [f32],
) {
    let Affine {
        gamma,
        beta,
        epsilon,
    } = *affine;
    let width = gamma.len();
    let rows = input
        .chunks_exact(width)
        .zip(normalized.chunks_exact_mut(width))
        .zip(output.chunks_exact_mut(width))
        .zip(inverse_std.iter_mut());
    for (((x, x_hat), y), inverse_std) in rows {
        let mean = sum(x) / width as f32;
        for (x_hat, &x) in x_hat.iter_mut().zip(x) {
            *x_hat = x - mean;
        }
        let variance = dot::<FMA>(x_hat, x_hat) / width as f32;
        let scale = 1.0 / (variance + epsilon).sqrt();
        *inverse_std = scale;
        for (((x_hat, y), &g), &b) in x_hat.iter_mut().zip(y.iter_mut()).zip(gamma).zip(beta) {
            *x_hat *= scale;
            *y = madd::<FMA>(g, *x_hat, b);
        }
    }
}

/// The input's gradient of each row into `d_input`, and this block of rows' sums of dy ⊙ x̂
/// and dy added into `sums` (`[dγ | dβ]`).
#[inline(always)]
fn backward_body<const FMA: bool>(
    normalized: &[f32],
    inverse_std: &[f32],
    gamma: &[f32],
    d_output: &[f32],
    d_input: &mut [f32],
    sums: &mut [f32],
) {
    let width = gamma.len();
    let (d_gamma, d_beta) = sums.split_at_mut(width);
    let rows = normalized
        .chunks_exact(width)
        .zip(d_output.chunks_exact(width))
        .zip(d_input.chunks_exact_mut(width))
        .zip(inverse_std);
    for (((x_hat, dy), dx), &scale) in rows {
        // dx holds g = γ ⊙ dy until the last loop turns it into the gradient.
        for ((g, &dy), &gamma) in dx.iter_mut().zip(dy).zip(gamma) {
            *g = gamma * dy;
        }
        let mean_g = sum(dx) / width as f32;
        let mean_g_x_hat = dot::<FMA>(dx, x_hat) / width as f32;
        for (g, &x_hat) in dx.iter_mut().zip(x_hat) {
            *g = scale * (*g - madd::<FMA>(x_hat, mean_g_x_hat, mean_g));
        }
        for (((d_gamma, d_beta), &dy), &x_hat) in
            d_gamma.iter_mut().zip(d_beta.iter_mut()).zip(dy).zip(x_hat)
        {
            *d_gamma = madd::<FMA>(dy, x_hat, *d_gamma);
            *d_beta += dy;
        }
    }
}

dispatched! {
    /// The forward pass over a block of rows (see [`forward_body`]).
    pub fn forward_rows_on / forward_avx2 / forward_avx512
        (input: &[f32], affine: &Affine, normalized: &mut [f32], output: &mut [f32],
         inverse_std: &mut [f32]) -> ()
        = forward_body
}

dispatched! {
    /// The backward pass over a block of rows (see [`backward_body`]).
    pub fn backward_rows_on / backward_avx2 / backward_avx512
        (normalized: &[f32], inverse_std: &[f32], gamma: &[f32], d_output: &[f32],
         d_input: &mut [f32], sums: &mut [f32]) -> ()
        = backward_body
}

/// What the forward pass returns: the output, and what its backward pass needs.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// γ ⊙ x̂ + β, the shape of the input.
    pub output: Vec<f32>,
    /// x̂, the shape of the input.
    pub normalized: Vec<f32>,
    /// 1/√(σ² + ε), one per row.
    pub inverse_std: Vec<f32>,
}

/// The gradients of a LayerNorm's input, scale and shift.
#[derive(Debug, Clone)]
pub struct Gradients {
    pub input: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// LayerNorm of `input`, rows of `gamma.len()` values (`input.len()` a multiple of it, `beta`
/// as long as `gamma`), with the kernels of `isa`.
pub fn forward(isa: Isa, input: &[f32], affine: &Affine) -> Normalized {
    let width = affine.gamma.len();
    assert!(
        width > 0 && input.len().is_multiple_of(width) && affine.beta.len() == width,
        "LayerNorm of {} values with {} scales and {} shifts",
        input.len(),
        width,
        affine.beta.len()
    );
    let mut output = zeros(input.len());
    let mut normalized = zeros(input.len());
    let mut inverse_std = vec![0.0f32; input.len() / width];
    let block = ROWS_PER_TASK * width;
    input
        .par_chunks(block)
        .zip(normalized.par_chunks_mut(block))
        .zip(output.par_chunks_mut(block))
        .zip(inverse_std.par_chunks_mut(ROWS_PER_TASK))
        .for_each(|(((input, normalized), output), inverse_std)| {
            forward_rows_on(isa, input, affine, normalized, output, inverse_std);
        });
    Normalized {
        output,
        normalized,
        inverse_std,
    }
}

/// The gradients for the output's gradient `d_output`, from x̂ and 1/√(σ² + ε) as [`forward`]
/// returned them.
pub fn backward(
    isa: Isa,
    normalized: &[f32],
    inverse_std: &[f32],
    gamma: &[f32],
    d_output: &[f32],
) -> Gradients {
    let width = gamma.len();
    assert!(
        d_output.len() == normalized.len() && normalized.len() == inverse_std.len() * width,
        "LayerNorm gradient of {} values for {} normalised values in {} rows of {}",
        d_output.len(),
        normalized.len(),
        inverse_std.len(),
        width
    );
    let mut d_input = zeros(d_output.len());
    let block = ROWS_PER_TASK * width;
    // Each task sums its rows' dγ and dβ side by side, `[dγ | dβ]`; the tasks' sums are added.
    let sums = normalized
        .par_chunks(block)
        .zip(inverse_std.par_chunks(ROWS_PER_TASK))
        .zip(d_output.par_chunks(block))
        .zip(d_input.par_chunks_mut(block))
        .map(|(((normalized, inverse_std), d_output), d_input)| {
            let mut sums = vec![0.0f32; 2 * width];
            backward_rows_on(
                isa,
                normalized,
                inverse_std,
                gamma,
                d_output,
                d_input,
                &mut sums,
            );
            sums
        })
        .reduce(
            || vec![0.0f32; 2 * width],
            |mut total, part| {
                for (total, part) in total.iter_mut().zip(part) {
                    *total += part;
                }
                total
            },
        );
    let (d_gamma, d_beta) = sums.split_at(width);
    Gradients {
        input: d_input,
        gamma: d_gamma.to_vec(),
        beta: d_beta.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random values in [−2, 2) (a 64-bit LCG), with an offset per row so the means
    /// are not near zero.
    fn values(n: usize, width: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..n)
            .map(|i| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
                4.0 * unit - 2.0 + (i / width % 7) as f32 * 0.5
            })
            .collect()
    }

    /// The formula in f64: each row's y = γ (x − μ)/√(σ² + ε) + β.
    fn reference(input: &[f64], gamma: &[f64], beta: &[f64], epsilon: f64) -> Vec<f64> {
        let width = gamma.len();
        input
            .chunks(width)
            .flat_map(|x| {
                let mean = x.iter().sum::<f64>() / width as f64;
                let variance = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / width as f64;
                let scale = 1.0 / (variance + epsilon).sqrt();
                (0..width)
                    .map(|i| gamma[i] * (x[i] - mean) * scale + beta[i])
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn widen(values: &[f32]) -> Vec<f64> {
        values.iter().map(|&v| f64::from(v)).collect()
    }

    /// Widths below, at and above a sixteen-lane step, and enough rows for several tasks
    /// with a partial last one.
    const SHAPES: [(usize, usize); 3] = [(3, 5), (150, 64), (70, 37)];
    const EPSILON: f32 = 1e-5;

    #[test]
    fn the_forward_pass_matches_the_formula_on_every_instruction_set() {
        for isa in Isa::every_on_this_machine() {
            for (rows, width) in SHAPES {
                let input = values(rows * width, width, 1);
                let gamma = values(width, width, 2);
                let beta = values(width, width, 3);
                let affine = Affine {
                    gamma: &gamma,
                    beta: &beta,
                    epsilon: EPSILON,
                };
                let got = forward(isa, &input, &affine);
                let want = reference(&widen(&input), &widen(&gamma), &widen(&beta), 1e-5);
                for (i, (&got, want)) in got.output.iter().zip(want).enumerate() {
                    assert!(
                        (f64::from(got) - want).abs() < 2e-5,
                        "{isa:?} {rows}×{width} value {i}: {got} vs {want}"
                    );
                }
            }
        }
        // By hand: the row [1, 2, 3] has mean 2 and variance 2/3; with ε = 0, γ = 1, β = 0
        // it normalises to [−√1.5, 0, √1.5].
        let affine = Affine {
            gamma: &[1.0; 3],
            beta: &[0.0; 3],
            epsilon: 0.0,
        };
        let got = forward(Isa::detected(), &[1.0, 2.0, 3.0], &affine);
        let root = 1.5f32.sqrt();
        for (got, want) in got.output.iter().zip([-root, 0.0, root]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn the_backward_pass_matches_finite_differences_on_every_instruction_set() {
        for isa in Isa::every_on_this_machine() {
            for (rows, width) in SHAPES {
                let input = values(rows * width, width, 4);
                let gamma = values(width, width, 5);
                let beta = values(width, width, 6);
                // The loss Σ w ⊙ y, with weights w, so dy = w.
                let weights = values(rows * width, width, 7);
                let affine = Affine {
                    gamma: &gamma,
                    beta: &beta,
                    epsilon: EPSILON,
                };
                let state = forward(isa, &input, &affine);
                let got = backward(isa, &state.normalized, &state.inverse_std, &gamma, &weights);
                let loss = |input: &[f64], gamma: &[f64], beta: &[f64]| -> f64 {
                    reference(input, gamma, beta, 1e-5)
                        .iter()
                        .zip(&weights)
                        .map(|(y, &w)| y * f64::from(w))
                        .sum()
                };
                let (x, g, b) = (widen(&input), widen(&gamma), widen(&beta));
                let step = 1e-5;
                let central = |which: usize, i: usize| {
                    let mut plus = [x.clone(), g.clone(), b.clone()];
                    let mut minus = plus.clone();
                    plus[which][i] += step;
                    minus[which][i] -= step;
                    (loss(&plus[0], &plus[1], &plus[2]) - loss(&minus[0], &minus[1], &minus[2]))
                        / (2.0 * step)
                };
                // Every input of the first and last rows, and every scale and shift.
                let last_row = (rows - 1) * width..rows * width;
                for i in (0..width).chain(last_row) {
                    let want = central(0, i);
                    let got = f64::from(got.input[i]);
                    assert!(
                        (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                        "{isa:?} {rows}×{width} dx[{i}]: {got} vs {want}"
                    );
                }
                for (which, grads) in [(1, &got.gamma), (2, &got.beta)] {
                    for (i, &got) in grads.iter().enumerate() {
                        let want = central(which, i);
                        assert!(
                            (f64::from(got) - want).abs() < 1e-4 * (1.0 + want.abs()),
                            "{isa:?} {rows}×{width} parameter {which} [{i}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
