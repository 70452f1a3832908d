//! GELU for the encoder's feed-forward sublayer. burn's CPU backend computes erf one element at
//! a time, forward and again backward (about a quarter of a SASRec step on ML-100K). On the CPU
//! the values and the slope are computed together, sixteen lanes at a time
//! ([`super::host_math::gelu`]), as one autodiff operation whose backward multiplies by the
//! slope ([`super::elementwise`]). Other backends keep burn's GELU. In inference on the CPU the
//! values are computed in place the same way (no slope): in the sentence encoder, whose
//! feed-forward is 1536 wide, burn's scalar erf was a large part of embedding a catalogue.

use burn::prelude::*;
use rayon::prelude::*;

use super::elementwise::map_with_slope;
use super::host_math::{self, on_host};

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let device = x.device();
    if !on_host::<B>(&device) {
        return burn::tensor::activation::gelu(x);
    }
    if !B::ad_enabled(&device) {
        return gelu_in_place_on_host(x);
    }
    let values_and_slopes = |_, input: &[f32], output: &mut [f32], slope: &mut [f32]| {
        host_math::gelu(input, output, Some(slope))
    };
    match map_with_slope(x, values_and_slopes) {
        Ok(y) => y,
        Err(x) => burn::tensor::activation::gelu(x),
    }
}

/// GELU of a host tensor without autodiff, in place in its own buffer (each chunk copied to
/// a scratch buffer first, as the kernel reads one slice and writes another).
fn gelu_in_place_on_host<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let device = x.device();
    let mut data = x.into_data().convert::<f32>();
    match data.as_mut_slice::<f32>() {
        Ok(values) => values.par_chunks_mut(CHUNK).for_each_init(
            || vec![0.0f32; CHUNK],
            |scratch, chunk| {
                let input = &mut scratch[..chunk.len()];
                input.copy_from_slice(chunk);
                host_math::gelu(input, chunk, None);
            },
        ),
        // Invariant: `convert::<f32>` just made the data f32.
        Err(error) => unreachable!("f32 data is not an f32 slice: {error:?}"),
    }
    Tensor::from_data(data, &device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::Distribution;

    #[test]
    fn value_and_gradient_match_burns_gelu() {
        type A = Autodiff<Flex>;
        let device = Default::default();
        let x = Tensor::<A, 2>::random([37, 41], Distribution::Normal(0.0, 3.0), &device);
        let ours = x.clone().require_grad();
        let theirs = x.require_grad();
        let y_ours = gelu(ours.clone());
        let y_theirs = burn::tensor::activation::gelu(theirs.clone());
        let values = |t: &Tensor<A, 2>| t.clone().into_data().to_vec::<f32>().unwrap();
        for (a, b) in values(&y_ours).iter().zip(values(&y_theirs)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // A weighted sum, so each element's gradient is scaled differently.
        let weights = Tensor::<A, 2>::random([37, 41], Distribution::Normal(0.0, 1.0), &device);
        let g_ours = (y_ours * weights.clone()).sum().backward();
        let g_theirs = (y_theirs * weights).sum().backward();
        let grad = |t: &Tensor<A, 2>, g| t.grad(g).unwrap().into_data().to_vec::<f32>().unwrap();
        for (a, b) in grad(&ours, &g_ours).iter().zip(grad(&theirs, &g_theirs)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // Inference (in place on the host): burn's values, over more than one parallel chunk
        // and a partial sixteen-lane step, and the input tensor left as it was.
        let x = Tensor::<Flex, 2>::random([3, CHUNK + 7], Distribution::Normal(0.0, 3.0), &device);
        let before = x.clone().into_data().to_vec::<f32>().unwrap();
        let ours = gelu(x.clone()).into_data().to_vec::<f32>().unwrap();
        let theirs = burn::tensor::activation::gelu(x.clone());
        for (a, b) in ours.iter().zip(theirs.into_data().to_vec::<f32>().unwrap()) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(x.into_data().to_vec::<f32>().unwrap(), before);
        // And by hand.
        let plain = Tensor::<Flex, 1>::from_floats([-1.0, 0.0, 2.0], &device);
        let got = gelu(plain).into_data().to_vec::<f32>().unwrap();
        assert!((got[0] + 0.158_655_3).abs() < 1e-6 && got[1] == 0.0);
        assert!((got[2] - 1.954_499_7).abs() < 1e-6);
    }
}
