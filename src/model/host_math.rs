//! Whether a backend computes on the host, where the training step runs some element-wise
//! functions itself with the dispatched kernels of `reclab_kernels::math` (re-exported here).

use burn::prelude::*;

pub use reclab_kernels::math::{exp_shifted_in_place, exp_shifted_in_place_on, gelu, gelu_on};

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
