//! Dropout masks from a counter-based hash. Element i is kept when a hash of (seed, i) falls
//! below keep · 2³², so the mask is a function of the seed and each element's index alone: the
//! same whatever the chunking, the number of threads or the instruction set, and the loop is
//! sixteen independent integer lanes that vectorise (a stream generator such as ChaCha is a
//! sequential state, and cost about 4 ns per element of a SASRec step's masks).
//!
//! The hash is two rounds of Chris Wellons' `lowbias32` integer mixer (bias 0.17 on its
//! avalanche test), keyed by the seed's two halves: far more than a keep/drop decision needs.

/// A dropout mask: which elements are kept (probability `keep`), and the factor 1/keep the
/// kept ones are scaled by.
#[derive(Clone, Copy, Debug)]
pub struct Mask {
    seed: u64,
    /// An element is kept when its hash is at most this: keep · 2³² − 1.
    last_kept: u32,
    scale: f32,
}

impl Mask {
    /// The mask of `seed` keeping each element with probability `keep` (in (0, 1]).
    pub fn new(seed: u64, keep: f64) -> Mask {
        Mask {
            seed,
            last_kept: ((keep.clamp(0.0, 1.0) * 4_294_967_296.0).round() as u64).saturating_sub(1)
                as u32,
            scale: (1.0 / keep) as f32,
        }
    }
}

#[inline(always)]
fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Lanes per step: one AVX-512 register of 32-bit integers, two AVX2 ones, four NEON ones.
const LANES: usize = 16;

/// The multipliers (1/keep or 0) of the elements from index `start` on into `out`, sixteen
/// lanes at a time: the hashes of a whole step first, then the comparisons, so both loops
/// vectorise.
#[inline(always)]
fn multipliers(mask: &Mask, start: usize, out: &mut [f32]) {
    let (low, high) = (mask.seed as u32, (mask.seed >> 32) as u32);
    let (last_kept, scale) = (mask.last_kept, mask.scale);
    for (step, out) in out.chunks_mut(LANES).enumerate() {
        // Indices wrap at 2³²: a tensor that large would repeat its mask every 4G elements.
        let first = (start + step * LANES) as u32;
        let mut hashes = [0u32; LANES];
        for (lane, hash) in hashes.iter_mut().enumerate() {
            let index = first.wrapping_add(lane as u32);
            *hash = lowbias32(lowbias32(index ^ low).wrapping_add(high));
        }
        for (value, &hash) in out.iter_mut().zip(&hashes) {
            *value = if hash <= last_kept { scale } else { 0.0 };
        }
    }
}

/// The multipliers of elements `start..start + out.len()` into `out`.
#[inline(always)]
fn fill_body<const FMA: bool>(mask: &Mask, start: usize, out: &mut [f32]) {
    multipliers(mask, start, out);
}

/// `output = input ⊙ m` and `multipliers = m` for elements `start..start + input.len()`.
#[inline(always)]
fn apply_body<const FMA: bool>(
    mask: &Mask,
    start: usize,
    input: &[f32],
    output: &mut [f32],
    multipliers_out: &mut [f32],
) {
    multipliers(mask, start, multipliers_out);
    for ((y, &x), &m) in output.iter_mut().zip(input).zip(multipliers_out.iter()) {
        *y = x * m;
    }
}

dispatched! {
    /// Writes the multipliers of the elements from index `start` on into `out`.
    pub fn fill / fill_on / fill_avx2 / fill_avx512
        (mask: &Mask, start: usize, out: &mut [f32]) -> ()
        = fill_body
}

dispatched! {
    /// Drops out `input` (elements from index `start` on) into `output`, and writes the
    /// multipliers, the derivative, into `multipliers`.
    pub fn apply / apply_on / apply_avx2 / apply_avx512
        (mask: &Mask, start: usize, input: &[f32], output: &mut [f32],
         multipliers_out: &mut [f32]) -> ()
        = apply_body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Isa;

    fn filled(isa: Isa, mask: &Mask, start: usize, n: usize) -> Vec<f32> {
        let mut out = vec![f32::NAN; n];
        fill_on(isa, mask, start, &mut out);
        out
    }

    #[test]
    fn the_mask_keeps_its_share_scaled_and_follows_the_seed() {
        let n = 1_000_003;
        let mask = Mask::new(7, 0.8);
        let values = filled(Isa::detected(), &mask, 0, n);
        let kept = values.iter().filter(|&&v| v != 0.0).count() as f64;
        // Binomial(n, 0.8): standard deviation 400; five of them either side.
        assert!((kept - 0.8 * n as f64).abs() < 2000.0, "kept {kept}");
        assert!(values.iter().all(|&v| v == 0.0 || v == 1.25));
        // Neighbours are independent: kept-then-kept pairs at 0.8², not more.
        let pairs = values
            .windows(2)
            .filter(|w| w[0] != 0.0 && w[1] != 0.0)
            .count() as f64;
        assert!((pairs - 0.64 * n as f64).abs() < 3000.0, "pairs {pairs}");
        assert_ne!(values, filled(Isa::detected(), &Mask::new(8, 0.8), 0, n));
        // Seeds that differ in their upper half only give other masks too.
        assert_ne!(
            values,
            filled(Isa::detected(), &Mask::new(7 | 1 << 40, 0.8), 0, n)
        );
        // Keeping everything keeps everything.
        let all = filled(Isa::detected(), &Mask::new(3, 1.0), 0, 1000);
        assert!(all.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn every_instruction_set_and_every_chunking_gives_the_same_mask() {
        let mask = Mask::new(0x1234_5678_9abc, 0.9);
        let whole = filled(Isa::Baseline, &mask, 0, 10_007);
        for isa in Isa::every_on_this_machine() {
            assert_eq!(filled(isa, &mask, 0, 10_007), whole, "{isa:?}");
            // In pieces of odd sizes, each told where it starts.
            let mut pieces = Vec::new();
            for (start, len) in [(0, 37), (37, 5000), (5037, 4970)] {
                pieces.extend(filled(isa, &mask, start, len));
            }
            assert_eq!(pieces, whole, "{isa:?} in pieces");
            // Applying the mask multiplies by it and reports it.
            let input: Vec<f32> = (0..10_007).map(|i| i as f32 - 5000.0).collect();
            let mut output = vec![f32::NAN; input.len()];
            let mut multipliers = vec![f32::NAN; input.len()];
            apply_on(isa, &mask, 0, &input, &mut output, &mut multipliers);
            assert_eq!(multipliers, whole, "{isa:?} multipliers");
            for ((&x, &y), &m) in input.iter().zip(&output).zip(&whole) {
                assert_eq!(y, x * m, "{isa:?}");
            }
        }
    }
}
