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

use super::config::TrainConfig;
use super::engine::{adam, batch_for, batch_loss, training_data};
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
    let batch = batch_for(direction, &chunk, config, vocabulary, &mut rng);
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

/// Whether a device's step agrees with the CPU's, and the figures that say so.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub passed: bool,
    /// The measured gaps against their tolerances, in words.
    pub detail: String,
}

/// Judges a device's step against the CPU's (same seed, dropout 0) with the tolerances the
/// wgpu suite and `reclab check-device` share:
/// - scores within 1e-4 (absolute): float order alone moves them by about 1e-6, a wrong mask,
///   softmax or GELU by 1e-2 and more;
/// - the loss within 1e-5, relative;
/// - after one Adam step, every weight within 2·lr + 1e-6 and at most one in a thousand beyond
///   1e-5: Adam's first step moves each weight by about ±lr whatever the gradient's size, so a
///   gradient that is zero up to rounding may take either sign on either device.
pub fn judge_step(cpu: &StepReadings, device: &StepReadings, learning_rate: f64) -> Verdict {
    let mut problems = Vec::new();
    let scores = gap(&cpu.scores, &device.scores, 1e-2, 1e-4);
    let weights = gap(&cpu.weights_after, &device.weights_after, 1e-2, 1e-5);
    let loss_gap = (cpu.loss - device.loss).abs() / cpu.loss.abs().max(1e-12);
    match scores {
        None => problems.push("the score tables differ in size".to_string()),
        Some(g) if g.beyond > 0 => problems.push(format!("{} scores beyond 1e-4", g.beyond)),
        Some(_) => {}
    }
    if cpu.scores.is_empty() {
        problems.push("no scores were read".into());
    }
    if loss_gap.is_nan() || loss_gap >= 1e-5 {
        problems.push(format!("loss {} against {}", device.loss, cpu.loss));
    }
    match weights {
        None => problems.push("the weight lists differ in size".into()),
        Some(g) => {
            if g.largest > 2.0 * learning_rate + 1e-6 {
                problems.push(format!("a weight moved {:.2e} apart", g.largest));
            }
            if g.beyond * 1000 > cpu.weights_after.len() {
                problems.push(format!(
                    "{} of {} weights beyond 1e-5",
                    g.beyond,
                    cpu.weights_after.len()
                ));
            }
        }
    }
    let show = |g: Option<Gap>| {
        g.map(|g| format!("{:.1e}", g.largest))
            .unwrap_or_else(|| "—".into())
    };
    let detail = format!(
        "scores ≤ {} apart, loss {:.1e} relative, weights after Adam ≤ {} apart ({} of {} beyond 1e-5)",
        show(scores),
        loss_gap,
        show(weights),
        weights.map(|g| g.beyond).unwrap_or(0),
        cpu.weights_after.len(),
    );
    Verdict {
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            detail
        } else {
            format!("{}; {detail}", problems.join("; "))
        },
    }
}

/// Fixed, varied "item text vectors" for a catalogue of `num_items` (padding and mask rows
/// zero, as a real table has them): to compare how devices use a text table without a
/// language model.
pub fn stand_in_text_table(num_items: usize, dim: usize) -> crate::lm::Vectors {
    let rows = num_items + 2;
    let mut data = vec![0.0f32; rows * dim];
    for row in 1..rows - 1 {
        for col in 0..dim {
            data[row * dim + col] = ((row * 31 + col * 7) as f32 * 0.37).sin();
        }
    }
    crate::lm::Vectors::new(dim, data)
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

#[cfg(test)]
mod verdicts {
    use super::*;

    fn readings(scores: Vec<f32>, loss: f64, weights: Vec<f32>) -> StepReadings {
        StepReadings {
            device: "x".into(),
            scores,
            loss,
            weights_after: weights,
        }
    }

    #[test]
    fn each_tolerance_is_enforced() {
        let weights: Vec<f32> = (0..2000).map(|i| i as f32 * 1e-3).collect();
        let cpu = readings(vec![1.0, 2.0], 5.0, weights.clone());
        assert!(judge_step(&cpu, &cpu, 1e-3).passed);
        // Rounding-sized gaps pass.
        let mut close = readings(vec![1.000_01, 2.0], 5.000_01, weights.clone());
        close.weights_after[3] += 2e-3; // one sign flip of Adam's first step (lr 1e-3)
        assert!(
            judge_step(&cpu, &close, 1e-3).passed,
            "{:?}",
            judge_step(&cpu, &close, 1e-3)
        );
        // A score off by 1e-3.
        let bad = readings(vec![1.001, 2.0], 5.0, weights.clone());
        assert!(!judge_step(&cpu, &bad, 1e-3).passed);
        // The loss off by 1e-4 relative.
        let bad = readings(vec![1.0, 2.0], 5.0005, weights.clone());
        assert!(!judge_step(&cpu, &bad, 1e-3).passed);
        // A weight further than 2·lr.
        let mut bad = readings(vec![1.0, 2.0], 5.0, weights.clone());
        bad.weights_after[0] += 3e-3;
        assert!(!judge_step(&cpu, &bad, 1e-3).passed);
        // Three in 2000 weights beyond 1e-5 (more than one in a thousand).
        let mut bad = readings(vec![1.0, 2.0], 5.0, weights);
        for i in 0..3 {
            bad.weights_after[i] += 1e-4;
        }
        let verdict = judge_step(&cpu, &bad, 1e-3);
        assert!(
            !verdict.passed && verdict.detail.contains("3 of 2000"),
            "{verdict:?}"
        );
    }

    #[test]
    fn the_stand_in_text_table_has_zero_padding_and_mask_rows() {
        let table = stand_in_text_table(4, 3);
        assert_eq!((table.len(), table.dim()), (6, 3));
        assert!(table.row(0).iter().chain(table.row(5)).all(|&v| v == 0.0));
        assert!(table.row(1).iter().all(|&v| v != 0.0));
        assert_ne!(table.row(1), table.row(2));
    }
}
