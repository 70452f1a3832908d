//! Whether a backend computes on the host, and vectorised f32 math for the element-wise
//! functions the CPU training step then runs itself: exponentials of softmax rows, and GELU
//! with its derivative. The standard library's `exp` and burn's CPU `erf` work one element at
//! a time; here eight lanes at once (`wide`).

use burn::prelude::*;
use wide::f32x8;

/// Whether tensors of this backend live in host memory (burn's CPU backend, with or without
/// autodiff).
pub(crate) fn on_host<B: Backend>(device: &B::Device) -> bool {
    let name = B::name(device);
    name == "flex" || name.ends_with("<flex>")
}

/// `exp(value − shift)` of every value, in place; returns their sum.
pub fn exp_shifted_in_place(values: &mut [f32], shift: f32) -> f32 {
    let shift8 = f32x8::splat(shift);
    let mut sum8 = f32x8::ZERO;
    let mut chunks = values.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let lanes: [f32; 8] = (&*chunk).try_into().unwrap_or([0.0; 8]);
        let e = (f32x8::from(lanes) - shift8).exp();
        sum8 += e;
        chunk.copy_from_slice(&e.to_array());
    }
    let mut sum = sum8.reduce_add();
    for value in chunks.into_remainder() {
        *value = (*value - shift).exp();
        sum += *value;
    }
    sum
}

/// erf, by the odd/even rational approximation used by Eigen and XLA for single precision
/// (inputs clamped to ±4, where erf is ±1 in f32); within 4e-7 of the exact value (a few
/// units in the last place near ±1).
fn erf8(x: f32x8) -> f32x8 {
    let x = x.max(f32x8::splat(-4.0)).min(f32x8::splat(4.0));
    let x2 = x * x;
    let numerator = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ]
    .iter()
    .fold(f32x8::ZERO, |p, &c| p.mul_add(x2, f32x8::splat(c)));
    let denominator = [
        -1.456_607_2e-5,
        -2.133_740_6e-4,
        -1.682_827e-3,
        -7.373_329e-3,
        -1.426_474e-2,
    ]
    .iter()
    .fold(f32x8::ZERO, |q, &c| q.mul_add(x2, f32x8::splat(c)));
    x * numerator / denominator
}

/// GELU (exact, erf-based) of eight values, and its derivative when asked.
fn gelu8(x: f32x8) -> (f32x8, f32x8) {
    let half = f32x8::splat(0.5);
    let cdf = half * (f32x8::ONE + erf8(x * f32x8::splat(std::f32::consts::FRAC_1_SQRT_2)));
    let pdf = f32x8::splat(0.398_942_3) * (-(half * x * x)).exp();
    (x * cdf, cdf + x * pdf)
}

/// GELU of `input` into `output`, and its derivative into `slope` when given.
pub fn gelu(input: &[f32], output: &mut [f32], mut slope: Option<&mut [f32]>) {
    let mut at = 0;
    while at < input.len() {
        let end = (at + 8).min(input.len());
        let mut lanes = [0.0f32; 8];
        lanes[..end - at].copy_from_slice(&input[at..end]);
        let (value, derivative) = gelu8(f32x8::from(lanes));
        output[at..end].copy_from_slice(&value.to_array()[..end - at]);
        if let Some(slope) = slope.as_deref_mut() {
            slope[at..end].copy_from_slice(&derivative.to_array()[..end - at]);
        }
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64 by its Taylor series (|x| ≤ 3) or continued fraction (beyond), as an
    /// independent reference.
    fn erf_reference(x: f64) -> f64 {
        if x.abs() > 3.0 {
            // erfc(x) = exp(−x²)/(x√π) · 1/(1 + 1/(2x²)/(1 + 2/(2x²)/(1 + …))).
            let t = 1.0 / (2.0 * x * x);
            let mut fraction = 1.0;
            for k in (1..60).rev() {
                fraction = 1.0 + k as f64 * t / fraction;
            }
            let erfc = (-x * x).exp() / (x.abs() * std::f64::consts::PI.sqrt()) / fraction;
            return x.signum() * (1.0 - erfc);
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    }

    #[test]
    fn erf_is_within_4e7_of_the_series() {
        let mut worst = 0.0f64;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let got = erf8(f32x8::splat(x)).to_array()[0];
            worst = worst.max((f64::from(got) - erf_reference(f64::from(x))).abs());
        }
        assert!(worst < 4e-7, "worst error {worst}");
    }

    #[test]
    fn gelu_and_its_slope_match_the_formulas() {
        let input: Vec<f32> = (-700..=700).map(|i| i as f32 / 100.0).collect();
        let mut output = vec![0.0; input.len()];
        let mut slope = vec![0.0; input.len()];
        gelu(&input, &mut output, Some(&mut slope));
        for ((&x, &y), &s) in input.iter().zip(&output).zip(&slope) {
            let x64 = f64::from(x);
            let cdf = 0.5 * (1.0 + erf_reference(x64 / std::f64::consts::SQRT_2));
            let pdf = (-0.5 * x64 * x64).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!((f64::from(y) - x64 * cdf).abs() < 2e-6, "gelu({x}) = {y}");
            assert!(
                (f64::from(s) - (cdf + x64 * pdf)).abs() < 2e-6,
                "gelu'({x}) = {s}"
            );
        }
    }

    #[test]
    fn shifted_exponentials_and_their_sum() {
        let mut values: Vec<f32> = (0..21).map(|i| i as f32 * 0.25 - 3.0).collect();
        let expected: Vec<f64> = values.iter().map(|&v| (f64::from(v) - 2.0).exp()).collect();
        let sum = exp_shifted_in_place(&mut values, 2.0);
        for (got, want) in values.iter().zip(&expected) {
            assert!(
                (f64::from(*got) - want).abs() < 1e-6 * want.max(1.0),
                "{got} vs {want}"
            );
        }
        assert!((f64::from(sum) - expected.iter().sum::<f64>()).abs() < 1e-5);
    }
}
