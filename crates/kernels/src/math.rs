//! Vectorised f32 math for the element-wise functions a CPU training step runs itself:
//! exponentials of softmax rows, and GELU with its derivative. The standard library's `exp` and
//! burn's CPU `erf` work one element at a time; here sixteen lanes at once.
//!
//! Each kernel is written over sixteen-lane arrays (`*_lanes`, always inlined) and dispatched
//! (see the crate's documentation), so the compiler vectorises the same body for each
//! instruction set.

#[cfg(doc)]
use crate::isa::Isa;

/// Lanes per step of every kernel: one AVX-512 register, two AVX2 registers, four NEON ones.
const LANES: usize = 16;

/// `a · b + c`, fused where the instruction set has it (the generic x86-64 body has no FMA: a
/// fused multiply-add there would be a library call per element).
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Whether the generic body may fuse: aarch64's baseline has fused multiply-add.
pub const GENERIC_FMA: bool = cfg!(target_arch = "aarch64");

/// eˣ (Cephes' single-precision method: x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial
/// in r, and 2ⁿ written into the exponent bits), within 2 ulp for x in [−87.3, 88.3], the
/// range it is clamped to (below, 0 up to 1e-38; above, the largest finite power of two's
/// neighbourhood, never ∞). Branch-free, so sixteen lanes vectorise.
#[inline(always)]
fn exp_lane<const FMA: bool>(x: f32) -> f32 {
    // Comparisons rather than `max`/`min`, which would turn a NaN into a bound: a NaN score
    // must stay NaN so the training loop stops on it.
    let x = if x < -87.3 { -87.3 } else { x };
    let x = if x > 88.3 { 88.3 } else { x };
    // Round x·log2(e) to the nearest integer by adding 1.5·2²³: the sum's low mantissa bits
    // then hold n, with no float-to-int conversion.
    const SHIFTER: f32 = 12_582_912.0;
    let shifted = madd::<FMA>(x, std::f32::consts::LOG2_E, SHIFTER);
    let n = shifted - SHIFTER;
    // r = x − n·ln2, with ln2 in two parts so r keeps its precision.
    let r = madd::<FMA>(n, -0.693_359_4, x);
    let r = madd::<FMA>(n, 2.121_944_4e-4, r);
    let p = [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ]
    .iter()
    .fold(1.987_569_1e-4, |p, &c| madd::<FMA>(p, r, c));
    let y = madd::<FMA>(p, r * r, r) + 1.0;
    // 2ⁿ: n + 127 into the exponent field (n is in [−126, 127] after the clamp).
    let bits = shifted
        .to_bits()
        .wrapping_sub(SHIFTER.to_bits())
        .wrapping_add(127)
        << 23;
    y * f32::from_bits(bits)
}

/// erf, by the odd/even rational approximation used by Eigen and XLA for single precision
/// (inputs clamped to ±4, where erf is ±1 in f32); within 4e-7 of the exact value (a few
/// units in the last place near ±1).
#[inline(always)]
fn erf_lane<const FMA: bool>(x: f32) -> f32 {
    let x = if x < -4.0 { -4.0 } else { x };
    let x = if x > 4.0 { 4.0 } else { x };
    let x2 = x * x;
    let numerator = [
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ]
    .iter()
    .fold(-2.726_142_3e-10, |p, &c| madd::<FMA>(p, x2, c));
    let denominator = [-2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2]
        .iter()
        .fold(-1.456_607_2e-5, |q, &c| madd::<FMA>(q, x2, c));
    x * numerator / denominator
}

/// GELU (exact, erf-based) of sixteen values, and its derivative. Slices of exactly `LANES`
/// values (re-sliced here, so the compiler knows their length and drops bounds checks).
#[inline(always)]
fn gelu_lanes<const FMA: bool>(x: &[f32], value: &mut [f32], slope: &mut [f32]) {
    let (x, value, slope) = (&x[..LANES], &mut value[..LANES], &mut slope[..LANES]);
    for l in 0..LANES {
        let v = x[l];
        // Below −4√2 erf is clamped, and 1 + erf(−4) in f32 leaves 3e-8 where Φ is under
        // 8e-9: there 0 is the nearer value (and gelu(−1e30) is 0, not −3e22).
        let tail = v < -4.0 * std::f32::consts::SQRT_2;
        let cdf = 0.5 * (1.0 + erf_lane::<FMA>(v * std::f32::consts::FRAC_1_SQRT_2));
        let pdf = 0.398_942_3 * exp_lane::<FMA>(-0.5 * v * v);
        let (cdf, pdf) = if tail { (0.0, 0.0) } else { (cdf, pdf) };
        value[l] = v * cdf;
        slope[l] = madd::<FMA>(v, pdf, cdf);
    }
}

#[inline(always)]
fn gelu_body<const FMA: bool>(input: &[f32], output: &mut [f32], mut slope: Option<&mut [f32]>) {
    let mut scratch = [0.0f32; LANES];
    let full = input.len() / LANES * LANES;
    match slope.as_deref_mut() {
        Some(slope) => {
            let chunks = input[..full]
                .chunks_exact(LANES)
                .zip(output[..full].chunks_exact_mut(LANES))
                .zip(slope[..full].chunks_exact_mut(LANES));
            for ((x, value), slope) in chunks {
                gelu_lanes::<FMA>(x, value, slope);
            }
        }
        None => {
            let chunks = input[..full]
                .chunks_exact(LANES)
                .zip(output[..full].chunks_exact_mut(LANES));
            for (x, value) in chunks {
                gelu_lanes::<FMA>(x, value, &mut scratch);
            }
        }
    }
    // The last values, padded to a full step.
    let rest = input.len() - full;
    if rest > 0 {
        let mut x = [0.0f32; LANES];
        let mut value = [0.0f32; LANES];
        x[..rest].copy_from_slice(&input[full..]);
        gelu_lanes::<FMA>(&x, &mut value, &mut scratch);
        output[full..].copy_from_slice(&value[..rest]);
        if let Some(slope) = slope {
            slope[full..].copy_from_slice(&scratch[..rest]);
        }
    }
}

#[inline(always)]
pub fn exp_shifted_body<const FMA: bool>(values: &mut [f32], shift: f32) -> f32 {
    let mut sums = [0.0f32; LANES];
    let mut chunks = values.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for l in 0..LANES {
            let e = exp_lane::<FMA>(chunk[l] - shift);
            chunk[l] = e;
            sums[l] += e;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for value in chunks.into_remainder() {
        *value = exp_lane::<FMA>(*value - shift);
        sum += *value;
    }
    sum
}

/// Σ a ⊙ b over sixteen partial sums, so the loop vectorises (a single running sum is a
/// chain the compiler may not reorder). Always inlined into a dispatched body.
#[inline(always)]
pub(crate) fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (a, b) in a_chunks.zip(b_chunks) {
        for ((lane, &x), &y) in lanes.iter_mut().zip(a).zip(b) {
            *lane = madd::<FMA>(x, y, *lane);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

dispatched! {
    /// GELU of `input` into `output`, and its derivative into `slope` when given.
    pub fn gelu / gelu_on / gelu_avx2 / gelu_avx512
        (input: &[f32], output: &mut [f32], slope: Option<&mut [f32]>) -> () = gelu_body
}

dispatched! {
    /// `exp(value − shift)` of every value, in place; returns their sum.
    pub fn exp_shifted_in_place / exp_shifted_in_place_on / exp_shifted_avx2 / exp_shifted_avx512
        (values: &mut [f32], shift: f32) -> f32 = exp_shifted_body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Isa;

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
        for fused in [false, true] {
            let mut worst = 0.0f64;
            for i in -6000..=6000 {
                let x = i as f32 / 1000.0;
                let got = if fused {
                    erf_lane::<true>(x)
                } else {
                    erf_lane::<false>(x)
                };
                worst = worst.max((f64::from(got) - erf_reference(f64::from(x))).abs());
            }
            assert!(worst < 4e-7, "fused {fused}: worst error {worst}");
        }
    }

    #[test]
    fn exp_is_within_2_ulp_over_its_range_on_every_instruction_set() {
        let xs: Vec<f32> = (-8730..=8830).map(|i| i as f32 / 100.0).collect();
        for isa in Isa::every_on_this_machine() {
            let mut values = xs.clone();
            exp_shifted_in_place_on(isa, &mut values, 0.0);
            for (&x, &got) in xs.iter().zip(&values) {
                let want = f64::from(x).exp();
                let ulp = f64::from(f32::EPSILON) * want;
                assert!(
                    (f64::from(got) - want).abs() <= 2.0 * ulp,
                    "{isa:?}: exp({x}) = {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn a_nan_stays_nan_and_extremes_stay_finite() {
        for isa in Isa::every_on_this_machine() {
            let mut values = vec![f32::NAN, -1e30, 1e30, 0.0];
            let sum = exp_shifted_in_place_on(isa, &mut values, 0.0);
            assert!(values[0].is_nan() && sum.is_nan(), "{isa:?}: {values:?}");
            assert!(values[1] >= 0.0 && values[1] < 1e-37, "{isa:?}: {values:?}");
            assert!(
                values[2].is_finite() && values[2] > 1e38,
                "{isa:?}: {values:?}"
            );
            let mut output = [0.0f32; 2];
            gelu_on(isa, &[f32::NAN, -1e30], &mut output, None);
            assert!(
                output[0].is_nan() && output[1] == 0.0,
                "{isa:?}: {output:?}"
            );
        }
    }

    #[test]
    fn every_instruction_set_gives_the_generic_kernels_values() {
        let input: Vec<f32> = (0..1000)
            .map(|i| ((i * 37 % 1000) as f32 - 500.0) / 60.0)
            .collect();
        let mut reference = vec![0.0f32; input.len()];
        gelu_on(Isa::Baseline, &input, &mut reference, None);
        for isa in Isa::every_on_this_machine() {
            let mut output = vec![0.0f32; input.len()];
            gelu_on(isa, &input, &mut output, None);
            for ((a, b), x) in output.iter().zip(&reference).zip(&input) {
                // Fused and unfused multiply-adds round differently: a few ulp of the value,
                // or of x where 1 + erf(x/√2) cancels (x below about −2).
                let scale = a.abs().max(x.abs());
                assert!(
                    (a - b).abs() <= 4.0 * f32::EPSILON * scale,
                    "{isa:?}: gelu({x}) {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn gelu_and_its_slope_match_the_formulas_on_every_instruction_set() {
        let input: Vec<f32> = (-700..=700).map(|i| i as f32 / 100.0).collect();
        for isa in Isa::every_on_this_machine() {
            let mut output = vec![0.0; input.len()];
            let mut slope = vec![0.0; input.len()];
            gelu_on(isa, &input, &mut output, Some(&mut slope));
            for ((&x, &y), &s) in input.iter().zip(&output).zip(&slope) {
                let x64 = f64::from(x);
                let cdf = 0.5 * (1.0 + erf_reference(x64 / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * x64 * x64).exp() / (2.0 * std::f64::consts::PI).sqrt();
                assert!(
                    (f64::from(y) - x64 * cdf).abs() < 2e-6,
                    "{isa:?}: gelu({x}) = {y}"
                );
                assert!(
                    (f64::from(s) - (cdf + x64 * pdf)).abs() < 2e-6,
                    "{isa:?}: gelu'({x}) = {s}"
                );
            }
        }
    }

    #[test]
    fn shifted_exponentials_and_their_sum() {
        let mut values: Vec<f32> = (0..21).map(|i| i as f32 * 0.25 - 3.0).collect();
        let expected: Vec<f64> = values.iter().map(|&v| (f64::from(v) - 2.0).exp()).collect();
        // 21 values: one full sixteen-lane step and a remainder of five.
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
