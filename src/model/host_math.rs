//! Whether a backend computes on the host, where the training step runs some element-wise
//! functions itself with the dispatched kernels of `reclab_kernels::math` (re-exported here).

use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::{Autodiff, Flex};
use std::any::TypeId;
use std::borrow::Cow;

use burn::prelude::*;
use burn::tensor::backend::BackendTypes;

pub use reclab_kernels::math::{exp_shifted_in_place_on, gelu, gelu_on};

/// Whether tensors of this backend live in host memory (burn's CPU backend, with or without
/// autodiff).
pub(crate) fn on_host<B: Backend>(device: &B::Device) -> bool {
    let name = B::name(device);
    name == "flex" || name.ends_with("<flex>")
}

/// A host tensor's values as f32, in row-major order: for burn's CPU backend as
/// [`into_host_values`] takes them, for another through `into_data`.
pub(crate) fn host_values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    if TypeId::of::<B>() == TypeId::of::<Flex>() {
        let tensor: Tensor<Flex, D> = same_backend(tensor);
        return into_host_values(tensor.into_primitive().tensor());
    }
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec()
        .unwrap_or_default()
}

/// A float tensor of burn's CPU backend.
pub(crate) type FlexPrimitive = <Flex as BackendTypes>::FloatTensorPrimitive;

/// The values of a CPU tensor, row-major as f32: borrowed where they already lie so, as they
/// do but for transposed views, copied once otherwise. Going through `into_data` instead
/// copies a tensor that something else also holds (the autodiff graph, say) twice, the second
/// time only to align the copy.
pub(crate) fn host_slice(tensor: &FlexPrimitive) -> Cow<'_, [f32]> {
    match tensor.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(
            tensor
                .to_contiguous()
                .into_data()
                .convert::<f32>()
                .into_vec()
                .unwrap_or_default(),
        ),
    }
}

/// A CPU tensor of `shape` holding `values` (row-major; taken as they are, not copied).
pub(crate) fn host_tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexPrimitive {
    Tensor::<Flex, D>::from_data(TensorData::new(values, shape), &Default::default())
        .into_primitive()
        .tensor()
}

/// A CPU tensor's values as an owned f32 vector: the tensor's own allocation where it holds
/// it alone (a gradient handed to a backward pass, say), one copy otherwise.
pub(crate) fn into_host_values(tensor: FlexPrimitive) -> Vec<f32> {
    if tensor.is_unique() && tensor.as_slice::<f32>().is_some() {
        // Taken as it is where it was allocated as f32, copied once where burn over-aligned it.
        tensor.into_data().into_vec().unwrap_or_default()
    } else {
        host_slice(&tensor).into_owned()
    }
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

/// Helpers the host operations' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use burn::prelude::*;

    /// A tensor's values as f32.
    pub(crate) fn values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
        tensor.into_data().convert::<f32>().to_vec::<f32>().unwrap()
    }

    /// `ours` within 1e-4 (relative above 1) of `reference`, element by element.
    pub(crate) fn assert_close(what: &str, ours: &[f32], reference: &[f32]) {
        assert_eq!(ours.len(), reference.len(), "{what}");
        for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
            assert!(
                (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                "{what}[{i}]: {a} vs {b}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primitive(tensor: Tensor<Flex, 2>) -> FlexPrimitive {
        tensor.into_primitive().tensor()
    }

    #[test]
    fn host_slice_borrows_contiguous_values_and_copies_a_transposed_view_in_its_order() {
        let device = Default::default();
        let tensor = Tensor::<Flex, 2>::from_floats([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], &device);
        let contiguous = primitive(tensor.clone());
        assert!(matches!(host_slice(&contiguous), Cow::Borrowed(_)));
        assert_eq!(&*host_slice(&contiguous), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let transposed = primitive(tensor.transpose());
        assert!(matches!(host_slice(&transposed), Cow::Owned(_)));
        assert_eq!(&*host_slice(&transposed), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn into_host_values_leaves_a_shared_tensor_to_its_other_holder() {
        let device = Default::default();
        let tensor = Tensor::<Flex, 2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
        let mut values = into_host_values(primitive(tensor.clone()));
        values[0] = 9.0;
        assert_eq!(values, [9.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            tensor.clone().into_data().to_vec::<f32>().unwrap(),
            [1.0, 2.0, 3.0, 4.0]
        );
        // Through host_values, alone and as another backend would be read.
        assert_eq!(host_values(tensor), [1.0, 2.0, 3.0, 4.0]);
    }
}
