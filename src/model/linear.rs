//! Linear layers applied at every position of a sequence batch.

use burn::nn::Linear;
use burn::tensor::{Tensor, backend::Backend};

/// `linear` applied to every position of `x` `[batch, len, in]` as one `[batch · len, in]`
/// matrix. burn runs a linear layer on a 3-d input as a batch of `batch` small products, and
/// its weight gradient as `batch` products summed afterwards; on the CPU backend each small
/// product repacks the weight on one thread. One large product is the same arithmetic, spread
/// over every core by gemm.
pub(crate) fn over_positions<B: Backend>(linear: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [batch, len, width] = x.dims();
    let y = linear.forward(x.reshape([batch * len, width]));
    let [_, out] = y.dims();
    y.reshape([batch, len, out])
}
