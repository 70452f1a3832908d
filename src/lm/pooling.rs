//! From token vectors to one sentence vector, as sentence-transformers' Pooling and Normalize
//! modules do it.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolingMode {
    /// The first token's (`[CLS]`) vector.
    Cls,
    /// The mean over the tokens the attention mask keeps.
    Mean,
    /// The element-wise maximum over the kept tokens.
    Max,
    /// The sum over the kept tokens divided by the square root of their count.
    MeanSqrtLen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pooling {
    pub mode: PoolingMode,
    /// L2-normalise the pooled vector.
    pub normalize: bool,
}

impl Pooling {
    /// A label such as `mean+l2`.
    pub fn label(&self) -> String {
        let mode = match self.mode {
            PoolingMode::Cls => "cls",
            PoolingMode::Mean => "mean",
            PoolingMode::Max => "max",
            PoolingMode::MeanSqrtLen => "mean_sqrt_len",
        };
        if self.normalize {
            format!("{mode}+l2")
        } else {
            mode.to_string()
        }
    }

    /// Pools `tokens` `[batch, len, hidden]` under `mask` `[batch, len]` (1.0 kept, 0.0 padding)
    /// into `[batch, hidden]`.
    pub fn apply<B: Backend>(&self, tokens: Tensor<B, 3>, mask: Tensor<B, 2>) -> Tensor<B, 2> {
        let [batch, len, hidden] = tokens.dims();
        let mask3 = mask.clone().reshape([batch, len, 1]);
        let pooled = match self.mode {
            PoolingMode::Cls => tokens
                .slice([0..batch, 0..1, 0..hidden])
                .reshape([batch, hidden]),
            PoolingMode::Mean | PoolingMode::MeanSqrtLen => {
                let sum = (tokens * mask3).sum_dim(1).reshape([batch, hidden]);
                // As sentence-transformers: the count is clamped so an all-padding row gives 0.
                let count = mask.sum_dim(1).clamp_min(1e-9);
                let count = if self.mode == PoolingMode::Mean {
                    count
                } else {
                    count.sqrt()
                };
                sum / count
            }
            PoolingMode::Max => {
                // Padding positions are pushed far below any real value before the maximum.
                let pushed = tokens + (mask3 - 1.0) * 1e9;
                pushed.max_dim(1).reshape([batch, hidden])
            }
        };
        if self.normalize {
            // torch.nn.functional.normalize: x / max(‖x‖, 1e-12).
            let norm = pooled
                .clone()
                .powi_scalar(2)
                .sum_dim(1)
                .sqrt()
                .clamp_min(1e-12);
            pooled / norm
        } else {
            pooled
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn pool(mode: PoolingMode, normalize: bool) -> Vec<f32> {
        let device = Default::default();
        // One text of three tokens, the last one padding.
        let tokens =
            Tensor::<Flex, 3>::from_floats([[[1.0, 2.0], [3.0, -4.0], [100.0, 100.0]]], &device);
        let mask = Tensor::<Flex, 2>::from_floats([[1.0, 1.0, 0.0]], &device);
        Pooling { mode, normalize }
            .apply(tokens, mask)
            .into_data()
            .to_vec()
            .unwrap()
    }

    #[test]
    fn pooling_ignores_padding_and_matches_hand_computed_values() {
        assert_eq!(pool(PoolingMode::Cls, false), vec![1.0, 2.0]);
        assert_eq!(pool(PoolingMode::Mean, false), vec![2.0, -1.0]);
        assert_eq!(pool(PoolingMode::Max, false), vec![3.0, 2.0]);
        let sqrt2 = 2f32.sqrt();
        let got = pool(PoolingMode::MeanSqrtLen, false);
        assert!((got[0] - 4.0 / sqrt2).abs() < 1e-6 && (got[1] + 2.0 / sqrt2).abs() < 1e-6);
        // (2, -1) / √5
        let unit = pool(PoolingMode::Mean, true);
        let root5 = 5f32.sqrt();
        assert!((unit[0] - 2.0 / root5).abs() < 1e-6 && (unit[1] + 1.0 / root5).abs() < 1e-6);
    }
}
