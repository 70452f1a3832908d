//! LayerNorm as one autodiff operation of the CPU training backend.
//!
//! burn's autodiff backend computes a LayerNorm as its nine tensor operations (mean, centring,
//! square, mean, epsilon, square root, division, scale, shift) and walks each back: eighteen
//! passes over the activation, each on one thread below burn's CPU backend's parallel
//! threshold. Here the forward and the backward are each one parallel pass of the row kernels
//! in `reclab_kernels::layer_norm`. Other backends, and inference (where burn's CPU backend
//! already fuses the forward), keep burn's module.

use std::any::TypeId;
use std::sync::Arc;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use reclab_kernels::layer_norm::{self as kernel, Affine};

use super::host_math::{Host, HostPrimitive, host_slice, host_tensor, record, same_backend};
use crate::device::isa::Isa;

/// The ε of every LayerNorm in the encoder (BERT's and SASRec's reference code use 1e-12).
/// burn's module keeps its ε private, so [`layer_norm`] reads it from here: make every norm
/// it is called with through [`config`].
const EPSILON: f64 = 1e-12;

/// A LayerNorm of `width` columns with the encoder's ε.
pub(crate) fn config(width: usize) -> LayerNormConfig {
    LayerNormConfig::new(width).with_epsilon(EPSILON)
}

/// `norm` (made by [`config`]) applied to `x`: fused when training on the CPU.
pub(crate) fn layer_norm<B: Backend, const D: usize>(
    norm: &LayerNorm<B>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    let Some(beta) = &norm.beta else {
        return norm.forward(x);
    };
    if TypeId::of::<B>() != TypeId::of::<Host>() || !B::ad_enabled(&x.device()) {
        return norm.forward(x);
    }
    same_backend(fused_on_host::<D>(
        same_backend(x),
        same_backend(norm.gamma.val()),
        same_backend(beta.val()),
    ))
}

/// What the backward pass keeps: x̂, each row's 1/√(σ² + ε), γ, and the input's shape.
#[derive(Debug, Clone)]
struct Saved<const D: usize> {
    normalized: Arc<Vec<f32>>,
    inverse_std: Arc<Vec<f32>>,
    gamma: Arc<Vec<f32>>,
    shape: [usize; D],
}

#[derive(Debug)]
struct FusedLayerNorm<const D: usize>;

impl<const D: usize> Backward<Flex, 3> for FusedLayerNorm<D> {
    type State = Saved<D>;

    fn backward(self, ops: Ops<Saved<D>, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_output = grads.consume::<Flex>(&ops.node);
        let d_output = host_slice(&d_output);
        let saved = &ops.state;
        let gradients = kernel::backward(
            Isa::detected(),
            &saved.normalized,
            &saved.inverse_std,
            &saved.gamma,
            &d_output,
        );
        let [x, gamma, beta] = &ops.parents;
        if let Some(node) = x {
            grads.register::<Flex>(node.id, host_tensor(gradients.input, saved.shape));
        }
        for (parent, gradient) in [(gamma, gradients.gamma), (beta, gradients.beta)] {
            if let Some(node) = parent {
                let width = gradient.len();
                grads.register::<Flex>(node.id, host_tensor(gradient, [width]));
            }
        }
    }
}

fn fused_on_host<const D: usize>(
    x: Tensor<Host, D>,
    gamma: Tensor<Host, 1>,
    beta: Tensor<Host, 1>,
) -> Tensor<Host, D> {
    let shape = x.dims();
    let primitive = |tensor: TensorPrimitive<Host>| tensor.tensor();
    let x = primitive(x.into_primitive());
    let gamma = primitive(gamma.into_primitive());
    let beta = primitive(beta.into_primitive());
    let values = |tensor: &HostPrimitive| host_slice(&tensor.primitive).into_owned();
    let gamma_values = values(&gamma);
    let normalized = kernel::forward(
        Isa::detected(),
        &host_slice(&x.primitive),
        &Affine {
            gamma: &gamma_values,
            beta: &host_slice(&beta.primitive),
            epsilon: EPSILON as f32,
        },
    );
    let output = host_tensor(normalized.output, shape);
    let state = || Saved {
        normalized: Arc::new(normalized.normalized),
        inverse_std: Arc::new(normalized.inverse_std),
        gamma: Arc::new(gamma_values),
        shape,
    };
    let output = record(FusedLayerNorm::<D>, [&x, &gamma, &beta], state, output);
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{AutodiffModule, Param};
    use burn::tensor::Distribution;

    use crate::model::host_math::testing::{assert_close, values};

    /// The fused operation (called directly, so the test cannot pass through burn's module)
    /// against burn's module, its nine tensor operations under autodiff: the values, and the
    /// gradients of the input, the scale and the shift.
    #[test]
    fn fused_matches_burns_layer_norm_values_and_gradients() {
        let device = Default::default();
        let mut norm = config(24).init::<Host>(&device);
        // Scale and shift away from 1 and 0, so their use and gradients are exercised.
        let around = |centre: f64| {
            Param::from_tensor(Tensor::random(
                [24],
                Distribution::Normal(centre, 0.5),
                &device,
            ))
        };
        norm.gamma = around(1.0);
        norm.beta = Some(around(0.0));
        let x = Tensor::<Host, 3>::random([5, 70, 24], Distribution::Normal(1.0, 2.0), &device);
        let weights =
            Tensor::<Host, 3>::random([5, 70, 24], Distribution::Normal(0.0, 1.0), &device);
        let run = |fused: bool| {
            let x = x.clone().detach().require_grad();
            let y = if fused {
                let beta = norm.beta.as_ref().unwrap().val();
                fused_on_host(x.clone(), norm.gamma.val(), beta)
            } else {
                norm.forward(x.clone())
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            let gamma = norm.gamma.val().grad(&grads).unwrap();
            let beta = norm.beta.as_ref().unwrap().val().grad(&grads).unwrap();
            [
                values(y),
                x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap(),
                gamma.into_data().to_vec::<f32>().unwrap(),
                beta.into_data().to_vec::<f32>().unwrap(),
            ]
        };
        let (ours, burns) = (run(true), run(false));
        for (what, (ours, burns)) in ["output", "d input", "d gamma", "d beta"]
            .iter()
            .zip(ours.iter().zip(&burns))
        {
            assert_close(what, ours, burns);
        }
    }

    /// Without autodiff, and on a tensor that needs no gradient, the same values.
    #[test]
    fn inference_and_untracked_inputs_give_the_same_values() {
        let device = Default::default();
        let norm = config(16).init::<Host>(&device);
        let x = Tensor::<Host, 2>::random([9, 16], Distribution::Normal(-3.0, 0.5), &device);
        let fused = values(layer_norm(&norm, x.clone()));
        assert_close("autodiff", &fused, &values(norm.forward(x.clone())));
        let plain = norm.clone().valid();
        let inner = layer_norm(&plain, x.clone().inner());
        assert_close(
            "inference",
            &fused,
            &inner.into_data().to_vec::<f32>().unwrap(),
        );
    }
}
