//! Whether a backend computes on the host, where the training step runs some element-wise
//! functions itself with the dispatched kernels of `reclab_kernels::math` (re-exported here).

use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::backend::BackendTypes;

pub use reclab_kernels::math::{exp_shifted_in_place_on, gelu, gelu_on};

/// Whether tensors of this backend live in host memory (burn's CPU backend, with or without
/// autodiff).
pub(crate) fn on_host<B: Backend>(device: &B::Device) -> bool {
    let name = B::name(device);
    name == "flex" || name.ends_with("<flex>")
}

/// A host tensor's values as f32, in row-major order.
pub(crate) fn host_values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap_or_default()
}

/// `value` as the type it is: for a tensor of one backend seen through a generic parameter
/// that the caller has checked (by `TypeId`) to be that backend.
pub(crate) fn same_backend<From: 'static, To: 'static>(value: From) -> To {
    let boxed: Box<dyn std::any::Any> = Box::new(value);
    match boxed.downcast::<To>() {
        Ok(value) => *value,
        // Invariant: called only on types whose backends the caller found identical.
        Err(_) => unreachable!("same_backend between different types"),
    }
}

/// The training backend the fused host operations serve: burn's CPU backend under autodiff.
pub(crate) type Host = Autodiff<Flex>;

/// A float tensor of [`Host`] as autodiff holds it: the CPU tensor and its graph node.
pub(crate) type HostPrimitive = <Host as BackendTypes>::FloatTensorPrimitive;

/// `output`, computed by the host from `parents`, recorded as one autodiff operation `op`
/// whose backward pass receives `state()` (built only where some parent is tracked).
pub(crate) fn record<Op: Backward<Flex, N>, const N: usize>(
    op: Op,
    parents: [&HostPrimitive; N],
    state: impl FnOnce() -> Op::State,
    output: <Flex as BackendTypes>::FloatTensorPrimitive,
) -> HostPrimitive {
    let nodes = parents.map(|parent| parent.node.clone());
    match op
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state(), output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}
