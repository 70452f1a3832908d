//! The Q-function: a small MLP in burn that reads one candidate's features and gives two
//! numbers, SlateQ's decomposition of a page's value: the logit of the user clicking the
//! candidate, and `Q̄`, the discounted return that follows a click on it.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use rand::Rng;

/// Output column of the click logit.
pub const CLICK: usize = 0;
/// Output column of the long-term value of a click.
pub const VALUE: usize = 1;

#[derive(Module, Debug)]
pub struct QNet<B: Backend> {
    first: Linear<B>,
    second: Linear<B>,
    out: Linear<B>,
}

impl<B: Backend> QNet<B> {
    /// A network for `inputs` features with `hidden` units per layer, its weights drawn from
    /// `rng` (not the backend's generator, so a seed repeats a run whatever else draws from it).
    pub fn new(inputs: usize, hidden: usize, rng: &mut impl Rng, device: &B::Device) -> QNet<B> {
        QNet {
            first: linear(inputs, hidden, rng, device),
            second: linear(hidden, hidden, rng, device),
            out: linear(hidden, 2, rng, device),
        }
    }

    /// `[n, inputs]` features → `[n, 2]`: click logit and `Q̄` per row.
    pub fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        let x = burn::tensor::activation::relu(self.first.forward(features));
        let x = burn::tensor::activation::relu(self.second.forward(x));
        self.out.forward(x)
    }

    /// The click probability and `Q̄` of each row, on the host.
    pub fn evaluate(&self, rows: &[Vec<f32>], device: &B::Device) -> Vec<(f32, f32)> {
        let Some(width) = rows.first().map(Vec::len) else {
            return Vec::new();
        };
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let input = Tensor::<B, 2>::from_data(TensorData::new(flat, [rows.len(), width]), device);
        let out = self.forward(input).into_data();
        // The forward pass of f32 parameters yields f32 data.
        let values: Vec<f32> = out.to_vec().unwrap_or_default();
        values
            .chunks_exact(2)
            .map(|pair| (sigmoid(pair[CLICK]), pair[VALUE]))
            .collect()
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A linear layer with Kaiming-uniform weights (burn's default bound, `1/√inputs`) and zero
/// bias.
fn linear<B: Backend>(
    inputs: usize,
    outputs: usize,
    rng: &mut impl Rng,
    device: &B::Device,
) -> Linear<B> {
    let bound = 1.0 / (inputs as f32).sqrt();
    let weights: Vec<f32> = (0..inputs * outputs)
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weights, [inputs, outputs]),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::zeros([outputs], device))),
    }
}
