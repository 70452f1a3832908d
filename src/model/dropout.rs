//! Dropout with a cheap mask on the CPU.
//!
//! burn's `Dropout` draws a Bernoulli tensor through the backend's RNG, which on the CPU backend
//! samples element by element on one thread (about 12 ns per element: 80 ms of a 470 ms
//! SASRec step at batch 128). Here, on the CPU, the mask is a hash of a seed and each element's
//! index (`reclab_kernels::dropout`), the seed drawn from the backend's RNG — so the engine's
//! per-epoch seeding still makes runs reproducible — and the multipliers are already scaled by
//! `1 / keep`: one multiplication forward and one backward, each a parallel pass on the
//! training backend ([`super::elementwise`]), the mask computed in the same pass as the
//! forward product. On a GPU the backend's own random kernel is kept (a host mask would cross
//! the bus every step).

use burn::prelude::*;
use burn::tensor::Distribution;
use rayon::prelude::*;
use reclab_kernels::buffer::zeros;
use reclab_kernels::dropout::{self as kernel, Mask};

use super::elementwise::{CHUNK, map_with_slope};
use super::host_math::on_host;

/// Zeroes each element with probability `prob` and scales the others by `1 / (1 - prob)`
/// while training (autodiff enabled); the identity otherwise.
pub fn dropout<B: Backend, const D: usize>(input: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
    let device = input.device();
    if prob == 0.0 || !B::ad_enabled(&device) {
        return input;
    }
    let keep = 1.0 - prob;
    if !on_host::<B>(&device) {
        let mask = input.random_like(Distribution::Bernoulli(keep));
        return input * mask * (1.0 / keep);
    }
    let shape = input.shape();
    let mask = Mask::new(seed_from_backend::<B>(&device), keep);
    let apply = |start: usize, input: &[f32], output: &mut [f32], multipliers: &mut [f32]| {
        kernel::apply(&mask, start, input, output, multipliers)
    };
    match map_with_slope(input, apply) {
        Ok(output) => output,
        Err(input) => {
            let multipliers = host_mask(shape.num_elements(), mask);
            input * Tensor::<B, D>::from_data(TensorData::new(multipliers, shape), &device)
        }
    }
}

/// The multipliers [`dropout`] would apply on the host to `n` values, drawn as it draws them
/// (the same seed, so the same mask), for a fused kernel that applies them itself; `None` where
/// dropout would be the identity.
pub(crate) fn host_mask_for<B: Backend>(
    n: usize,
    prob: f64,
    device: &B::Device,
) -> Option<Vec<f32>> {
    if prob == 0.0 || !B::ad_enabled(device) {
        return None;
    }
    Some(host_mask(
        n,
        Mask::new(seed_from_backend::<B>(device), 1.0 - prob),
    ))
}

/// 48 random bits from the backend's RNG, which the engine seeds per run, stage and epoch.
fn seed_from_backend<B: Backend>(device: &B::Device) -> u64 {
    let draws = Tensor::<B, 1>::random([2], Distribution::Uniform(0.0, 1.0), device).into_data();
    let values = draws.to_vec::<f32>().unwrap_or_default();
    values.iter().fold(0u64, |seed, &v| {
        (seed << 24) | ((f64::from(v) * f64::from(1u32 << 24)) as u64 & 0xff_ffff)
    })
}

/// The `n` multipliers of `mask`: `1 / keep` with probability `keep`, else 0.
fn host_mask(n: usize, mask: Mask) -> Vec<f32> {
    let mut multipliers = zeros(n);
    multipliers
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(chunk, values)| kernel::fill(&mask, chunk * CHUNK, values));
    multipliers
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    #[test]
    fn host_mask_keeps_the_expected_share_scaled_and_is_seeded() {
        let n = 1_000_003;
        let mask = host_mask(n, Mask::new(7, 0.8));
        let kept = mask.iter().filter(|&&v| v != 0.0).count() as f64;
        // Binomial(n, 0.8): standard deviation 400; five of them either side.
        assert!((kept - 0.8 * n as f64).abs() < 2000.0, "kept {kept}");
        assert!(mask.iter().all(|&v| v == 0.0 || v == 1.25));
        assert_eq!(mask, host_mask(n, Mask::new(7, 0.8)));
        assert_ne!(mask, host_mask(n, Mask::new(8, 0.8)));
    }

    #[test]
    fn dropout_follows_the_backend_seed_and_is_the_identity_without_autodiff() {
        type B = Autodiff<Flex>;
        let device = Default::default();
        let ones = || Tensor::<B, 2>::ones([64, 64], &device);
        B::seed(&device, 3);
        let first = dropout(ones(), 0.5).into_data();
        B::seed(&device, 3);
        assert_eq!(first, dropout(ones(), 0.5).into_data());
        let values = first.to_vec::<f32>().unwrap();
        assert!(values.iter().all(|&v| v == 0.0 || v == 2.0));
        let plain = Tensor::<Flex, 2>::ones([4, 4], &device);
        assert_eq!(
            dropout(plain.clone(), 0.5).into_data(),
            plain.into_data(),
            "inference keeps every value"
        );
    }

    #[test]
    fn gradient_flows_through_the_kept_elements_only() {
        type B = Autodiff<Flex>;
        let device = Default::default();
        let x = Tensor::<B, 1>::ones([1000], &device).require_grad();
        let y = dropout(x.clone(), 0.3);
        let output = y.clone().into_data().to_vec::<f32>().unwrap();
        let grads = y.sum().backward();
        let gradient = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
        assert_eq!(output, gradient, "d(sum)/dx is the mask itself");
    }
}
