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
