//! One training step, read back to the host, so that a GPU backend can be compared with the
//! CPU's from the same seed: the same initial weights (drawn on the CPU, `initial`), the same
//! batch (drawn by reclab's own generator), so only the device's arithmetic differs — and with
//! dropout at 0, the device's random masks do not enter at all. Used by the wgpu suite and by
//! `reclab check-device` on a CUDA machine.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::batch::{masked_item_batch, next_item_batch};
use super::config::TrainConfig;
use super::engine::{adam, batch_loss, training_data};
use super::error::TrainError;
use super::initial::initial_model;
use crate::data::Dataset;
use crate::model::{Direction, Vocabulary};

/// What one step computed on one device.
#[derive(Debug, Clone)]
pub struct StepReadings {
    pub device: String,
    /// Every item's score at each target position of the batch, before the step
    /// (`positions × vocabulary`, row-major).
    pub scores: Vec<f32>,
    pub loss: f64,
    /// Every weight after one optimiser step, in the module's order.
    pub weights_after: Vec<f32>,
}

/// One step of `config.model` on the first `config.batch_size` training sequences.
pub fn one_step<B: AutodiffBackend>(
    device: B::Device,
    device_label: &str,
    dataset: &Dataset,
    config: &TrainConfig,
    text: Option<&crate::lm::Vectors>,
) -> Result<StepReadings, TrainError> {
    let (_, sequences) = training_data(dataset, config)?;
    let vocabulary = Vocabulary {
        num_items: dataset.num_items(),
    };
    let model = initial_model::<B>(&config.transformer, config.seed, vocabulary, text, &device)?;
    B::seed(&device, config.seed);
    let direction = config.model.direction();
    let chunk: Vec<&[u32]> = sequences.iter().take(config.batch_size).copied().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (max_len, negatives) = (config.transformer.max_len, config.loss.negatives());
    let batch = match direction {
        Direction::Causal => next_item_batch(
            &chunk,
            max_len,
            vocabulary,
            negatives,
            &config.augmentation,
            &mut rng,
        ),
        Direction::Bidirectional => masked_item_batch(
            &chunk,
            max_len,
            vocabulary,
            config.mask_ratio,
            negatives,
            &config.augmentation,
            &mut rng,
        ),
    };
    if batch.positions.is_empty() {
        return Err(TrainError::NothingToTrain);
    }

    // The scores as inference computes them, at the positions that train.
    let scoring = model.valid();
    let inner = |values: Vec<i64>, shape: Vec<usize>| {
        Tensor::<B::InnerBackend, 1, Int>::from_data(TensorData::new(values, shape), &device)
    };
    let tokens =
        inner(batch.tokens.clone(), vec![batch.size * batch.len]).reshape([batch.size, batch.len]);
    let (hidden, _) = scoring.encode(tokens, direction == Direction::Causal);
    let [b, l, h] = hidden.dims();
    let at = inner(batch.positions.clone(), vec![batch.positions.len()]);
    let scores = scoring.logits(hidden.reshape([b * l, h]).select(0, at));

    let loss = batch_loss(&model, &batch, direction, config.loss, vocabulary, &device);
    let loss_value = f64::from(loss.clone().into_scalar().elem::<f32>());
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = adam(config)
        .init::<B, _>()
        .step(config.learning_rate, model, grads);
    let mut weights = Flatten(Vec::new());
    model.valid().visit(&mut weights);
    Ok(StepReadings {
        device: device_label.to_string(),
        scores: host_values(scores.into_data()),
        loss: loss_value,
        weights_after: weights.0,
    })
}

/// Every float weight of a module, flattened in visiting order.
struct Flatten(Vec<f32>);

impl<B: Backend> ModuleVisitor<B> for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.extend(host_values(param.val().into_data()));
    }
}

fn host_values(data: TensorData) -> Vec<f32> {
    data.convert::<f32>().to_vec::<f32>().unwrap_or_default()
}

/// How far two readings of the same values are apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    /// The largest |a − b|.
    pub largest: f64,
    /// The largest |a − b| / max(|a|, |b|, floor): relative, but absolute near zero.
    pub largest_relative: f64,
    /// How many values differ by more than `tolerance` (absolute).
    pub beyond: usize,
}

/// The gap between two equally long lists; `None` when their lengths differ.
pub fn gap(a: &[f32], b: &[f32], floor: f64, tolerance: f64) -> Option<Gap> {
    if a.len() != b.len() {
        return None;
    }
    let mut out = Gap {
        largest: 0.0,
        largest_relative: 0.0,
        beyond: 0,
    };
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        let d = (x - y).abs();
        out.largest = out.largest.max(d);
        out.largest_relative = out
            .largest_relative
            .max(d / x.abs().max(y.abs()).max(floor));
        out.beyond += usize::from(d > tolerance || d.is_nan());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_by_hand() {
        let g = gap(&[1.0, -2.0, 0.0], &[1.5, -2.0, 1e-4], 1e-3, 0.1).unwrap();
        assert_eq!(g.largest, 0.5);
        // 0.5 / 1.5, and 1e-4 / 1e-3 (the floor) = 0.1: the larger is 1/3.
        assert!((g.largest_relative - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(g.beyond, 1);
        assert_eq!(gap(&[1.0], &[1.0, 2.0], 1e-3, 0.1), None);
        assert_eq!(gap(&[f32::NAN], &[0.0], 1e-3, 0.1).unwrap().beyond, 1);
    }
}
