//! Element-wise functions the host computes with their slope, as one autodiff operation of
//! the CPU training backend: y = f(x) forward, dx = dy ⊙ f′(x) backward, each one parallel
//! pass. Written as tensor operations under burn's autodiff, the same function is several
//! passes each way (GELU's value and slope were a multiplication and an addition forward and
//! a multiplication backward, dropout a multiplication each way), each on one thread below
//! burn's CPU backend's parallel threshold, and each copying the activation.

use std::any::TypeId;
use std::sync::Arc;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use rayon::prelude::*;
use reclab_kernels::buffer::zeros;

use super::host_math::{Host, host_slice, host_tensor, into_host_values, record, same_backend};

/// Elements per parallel task.
pub(crate) const CHUNK: usize = 1 << 14;

/// `f` applied to `x` where `B` is the CPU training backend; `x` back otherwise. `f(start,
/// input, output, slope)` fills a chunk's values and slopes from its inputs, `start` being the
/// chunk's first element's index in `x` (row-major); chunks of [`CHUNK`] elements (the last
/// shorter) run in parallel.
pub(crate) fn map_with_slope<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    f: impl Fn(usize, &[f32], &mut [f32], &mut [f32]) + Sync,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    if TypeId::of::<B>() != TypeId::of::<Host>() {
        return Err(x);
    }
    Ok(same_backend(on_host::<D>(same_backend(x), f)))
}

#[derive(Debug)]
struct ScaledBySlope<const D: usize>;

/// What the backward pass keeps: the slope and the shape.
#[derive(Debug, Clone)]
struct Saved<const D: usize> {
    slope: Arc<Vec<f32>>,
    shape: [usize; D],
}

impl<const D: usize> Backward<Flex, 1> for ScaledBySlope<D> {
    type State = Saved<D>;

    fn backward(self, ops: Ops<Saved<D>, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_output = grads.consume::<Flex>(&ops.node);
        let [Some(parent)] = &ops.parents else {
            return;
        };
        let mut gradient = into_host_values(d_output);
        gradient
            .par_chunks_mut(CHUNK)
            .zip(ops.state.slope.par_chunks(CHUNK))
            .for_each(|(gradient, slope)| {
                for (g, &s) in gradient.iter_mut().zip(slope) {
                    *g *= s;
                }
            });
        grads.register::<Flex>(parent.id, host_tensor(gradient, ops.state.shape));
    }
}

fn on_host<const D: usize>(
    x: Tensor<Host, D>,
    f: impl Fn(usize, &[f32], &mut [f32], &mut [f32]) + Sync,
) -> Tensor<Host, D> {
    let shape = x.dims();
    let x = x.into_primitive().tensor();
    let input = host_slice(&x.primitive);
    let mut output = zeros(input.len());
    let mut slope = zeros(input.len());
    output
        .par_chunks_mut(CHUNK)
        .zip(slope.par_chunks_mut(CHUNK))
        .zip(input.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(chunk, ((output, slope), input))| f(chunk * CHUNK, input, output, slope));
    let output = host_tensor(output, shape);
    let state = || Saved {
        slope: Arc::new(slope),
        shape,
    };
    let output = record(ScaledBySlope::<D>, [&x], state, output);
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y = x³ on more than one chunk: the values, and the gradient of Σ w ⊙ y, 3x² ⊙ w.
    #[test]
    fn values_and_gradient_follow_the_slope() {
        let device = Default::default();
        let n = CHUNK + 5;
        let x_values: Vec<f32> = (0..n).map(|i| (i % 11) as f32 * 0.25 - 1.0).collect();
        let w_values: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
        let x = Tensor::<Host, 1>::from_floats(x_values.as_slice(), &device).require_grad();
        let w = Tensor::<Host, 1>::from_floats(w_values.as_slice(), &device);
        let starts = std::sync::Mutex::new(Vec::new());
        let y = map_with_slope(x.clone(), |start, input, output, slope| {
            starts.lock().unwrap().push(start);
            for ((y, s), &x) in output.iter_mut().zip(slope).zip(input) {
                *y = x * x * x;
                *s = 3.0 * x * x;
            }
        })
        .unwrap();
        let mut starts = starts.into_inner().unwrap();
        starts.sort();
        assert_eq!(starts, [0, CHUNK]);
        let values = y.clone().into_data().to_vec::<f32>().unwrap();
        let grads = (y * w).sum().backward();
        let gradient = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
        for i in 0..n {
            let (x, w) = (x_values[i], w_values[i]);
            assert_eq!(values[i], x * x * x, "value {i}");
            assert_eq!(gradient[i], w * 3.0 * x * x, "gradient {i}");
        }
    }

    #[test]
    fn other_backends_get_their_input_back() {
        let x = Tensor::<Flex, 1>::from_floats([1.0, 2.0], &Default::default());
        let back = map_with_slope(x, |_, _, _, _| unreachable!()).unwrap_err();
        assert_eq!(back.into_data().to_vec::<f32>().unwrap(), [1.0, 2.0]);
    }
}
