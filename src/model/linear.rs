//! Linear layers applied at every position of a sequence batch, and on the CPU as one autodiff
//! operation whose products write straight into buffers of their own.
//!
//! burn's CPU backend allocates a product's output zero-filled and then copies it once more to
//! align it before gemm writes it, adds the bias in a pass of its own, and does the same for
//! each product of the backward pass: about as much time as the products themselves for a
//! SASRec layer of width 64. Here the forward pass is one product added onto the bias rows, and
//! the backward pass the three products dx = dy·Wᵀ, dW = xᵀ·dy and db = 1ᵀ·dy, by
//! `reclab_kernels::matmul` on every core (the last two together, over blocks of rows in
//! parallel). Other backends keep burn's module.

use std::any::TypeId;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use rayon::prelude::*;
use reclab_kernels::buffer::zeros;
use reclab_kernels::matmul::{Matrix, Operand, Threads, multiply, sum_over_rows};

use super::host_math::{FlexPrimitive, Host, host_slice, host_tensor, record, same_backend};

/// `linear` applied to every position of `x` `[batch, len, in]` as one `[batch · len, in]`
/// matrix. burn runs a linear layer on a 3-d input as a batch of `batch` small products, and
/// its weight gradient as `batch` products summed afterwards; on the CPU backend each small
/// product repacks the weight on one thread. One large product is the same arithmetic, spread
/// over every core by gemm.
pub(crate) fn over_positions<B: Backend>(linear: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [batch, len, width] = x.dims();
    let y = rows(linear, x.reshape([batch * len, width]));
    let [_, out] = y.dims();
    y.reshape([batch, len, out])
}

/// `linear` applied to each row of `x` `[n, in]`: on the CPU by [`on_host`] (under autodiff or
/// not), elsewhere, or without a bias, by burn's module.
fn rows<B: Backend>(linear: &Linear<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let Some(bias) = &linear.bias else {
        return linear.forward(x);
    };
    let (weight, bias) = (linear.weight.val(), bias.val());
    if TypeId::of::<B>() == TypeId::of::<Host>() {
        same_backend(tracked_on_host(
            same_backend(x),
            same_backend(weight),
            same_backend(bias),
        ))
    } else if TypeId::of::<B>() == TypeId::of::<Flex>() {
        let primitive = |tensor: Tensor<Flex, 2>| tensor.into_primitive().tensor();
        let bias: Tensor<Flex, 1> = same_backend(bias);
        let output = on_host(
            &primitive(same_backend(x)),
            &primitive(same_backend(weight)),
            &bias.into_primitive().tensor(),
        );
        same_backend(Tensor::<Flex, 2>::from_primitive(TensorPrimitive::Float(
            output,
        )))
    } else {
        linear.forward(x)
    }
}

/// `x · weight + bias` for `x` `[n, in]`, `weight` `[in, out]` (burn's layout) and `bias`
/// `[out]`: the bias rows, then the product added onto them.
fn on_host(x: &FlexPrimitive, weight: &FlexPrimitive, bias: &FlexPrimitive) -> FlexPrimitive {
    let [rows, inputs] = dims(x);
    let [_, outputs] = dims(weight);
    let bias = host_slice(bias);
    let mut y = zeros(rows * outputs);
    // Rows per parallel task of the bias fill: tasks of about 16K values.
    let rows_per_task = (1 << 14) / outputs.max(1) + 1;
    y.par_chunks_mut(rows_per_task * outputs).for_each(|chunk| {
        chunk
            .chunks_exact_mut(outputs)
            .for_each(|row| row.copy_from_slice(&bias))
    });
    multiply(
        Matrix::rows(&mut y, outputs),
        Operand::rows(&host_slice(x), inputs),
        Operand::rows(&host_slice(weight), outputs),
        (rows, outputs, inputs),
        true,
        Threads::All,
    );
    host_tensor(y, [rows, outputs])
}

/// [`on_host`] recorded as one autodiff operation with parents x, the weight and the bias.
fn tracked_on_host(
    x: Tensor<Host, 2>,
    weight: Tensor<Host, 2>,
    bias: Tensor<Host, 1>,
) -> Tensor<Host, 2> {
    let x = x.into_primitive().tensor();
    let weight = weight.into_primitive().tensor();
    let bias = bias.into_primitive().tensor();
    let output = on_host(&x.primitive, &weight.primitive, &bias.primitive);
    // The backward pass keeps x and the weight themselves (shared, not copied).
    let state = || Saved {
        x: x.primitive.clone(),
        weight: weight.primitive.clone(),
    };
    let output = record(LinearRows, [&x, &weight, &bias], state, output);
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

#[derive(Debug)]
struct LinearRows;

/// What the backward pass keeps: the input `[n, in]` and the weight `[in, out]`.
#[derive(Debug, Clone)]
struct Saved {
    x: FlexPrimitive,
    weight: FlexPrimitive,
}

impl Backward<Flex, 3> for LinearRows {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_output = grads.consume::<Flex>(&ops.node);
        let [rows, inputs] = dims(&ops.state.x);
        let [_, outputs] = dims(&ops.state.weight);
        let dy = host_slice(&d_output);
        let [x_node, weight_node, bias_node] = &ops.parents;
        if let Some(node) = x_node {
            // dx = dy · Wᵀ.
            let mut dx = zeros(rows * inputs);
            multiply(
                Matrix::rows(&mut dx, inputs),
                Operand::rows(&dy, outputs),
                Operand::columns(&host_slice(&ops.state.weight), outputs),
                (rows, inputs, outputs),
                false,
                Threads::All,
            );
            grads.register::<Flex>(node.id, host_tensor(dx, [rows, inputs]));
        }
        if weight_node.is_some() || bias_node.is_some() {
            // dW = xᵀ · dy and db = 1ᵀ · dy, summed over the rows together.
            let (dw, db) = sum_over_rows(&host_slice(&ops.state.x), &dy, (inputs, outputs, rows));
            if let Some(node) = weight_node {
                grads.register::<Flex>(node.id, host_tensor(dw, [inputs, outputs]));
            }
            if let Some(node) = bias_node {
                grads.register::<Flex>(node.id, host_tensor(db, [outputs]));
            }
        }
    }
}

/// The shape of a 2-d CPU tensor.
fn dims(tensor: &FlexPrimitive) -> [usize; 2] {
    let shape = tensor.layout().shape();
    [shape[0], shape[1]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Distribution;

    use crate::model::host_math::testing::{assert_close, values};

    /// The host operation (called directly) against burn's module under autodiff: values, and
    /// the gradients of the input, the weight and the bias of Σ w ⊙ y — over fewer rows than
    /// one block of the weight gradient's sum, and over three blocks, the last partial.
    #[test]
    fn host_linear_matches_burns_values_and_gradients() {
        for rows in [130, 1100] {
            matches_burn_over(rows);
        }
    }

    fn matches_burn_over(rows: usize) {
        let device = Default::default();
        Host::seed(&device, 3);
        let linear = LinearConfig::new(24, 37).init::<Host>(&device);
        let x = Tensor::<Host, 2>::random([rows, 24], Distribution::Normal(0.5, 2.0), &device);
        let w = Tensor::<Host, 2>::random([rows, 37], Distribution::Normal(0.0, 1.0), &device);
        let run = |fused: bool| {
            let x = x.clone().require_grad();
            let y = if fused {
                let bias = linear.bias.as_ref().unwrap().val();
                tracked_on_host(x.clone(), linear.weight.val(), bias)
            } else {
                linear.forward(x.clone())
            };
            let grads = (y.clone() * w.clone()).sum().backward();
            let bias = linear.bias.as_ref().unwrap().val();
            (
                values(y),
                values(x.grad(&grads).unwrap()),
                values(linear.weight.val().grad(&grads).unwrap()),
                values(bias.grad(&grads).unwrap()),
            )
        };
        let (ours, theirs) = (run(true), run(false));
        assert_close("y", &ours.0, &theirs.0);
        assert_close("dx", &ours.1, &theirs.1);
        assert_close("dW", &ours.2, &theirs.2);
        assert_close("db", &ours.3, &theirs.3);
    }

    #[test]
    fn over_positions_is_the_same_on_the_host_without_autodiff_and_through_burn() {
        let device = Default::default();
        let linear = LinearConfig::new(5, 3).init::<Flex>(&device);
        let x = Tensor::<Flex, 3>::random([2, 7, 5], Distribution::Normal(0.0, 1.0), &device);
        let ours = values(over_positions(&linear, x.clone()));
        let theirs = values(linear.forward(x));
        assert_close("y", &ours, &theirs);
    }
}
