//! Timing the training step, phase by phase, for `reclab bench train`.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::batch::next_item_batch;
use super::config::TrainConfig;
use super::engine::{adam, batch_loss, training_data};
use super::error::TrainError;
use super::inference::TransformerRecommender;
use crate::data::Dataset;
use crate::eval::{EvalConfig, Stage, evaluate};
use crate::model::{Direction, SeqRec, Vocabulary};

#[derive(Debug, Clone, Serialize)]
pub struct StepTimings {
    pub device: String,
    pub steps: usize,
    pub batch_size: usize,
    pub max_len: usize,
    /// Mean seconds per step of each phase.
    pub batch_build_secs: f64,
    pub forward_secs: f64,
    pub backward_secs: f64,
    pub optimizer_secs: f64,
    pub sequences_per_sec: f64,
    /// Positions with a target (tokens that train) per second.
    pub tokens_per_sec: f64,
    /// One epoch over every user's training sequence, at the measured step time.
    pub epoch_secs: f64,
    /// One full-ranking validation pass over all users.
    pub validation_secs: f64,
    /// The process's CPU time over wall time during the timed steps: how many cores the step
    /// keeps busy (rayon's workers spin briefly before they sleep, which counts as busy). `None`
    /// where the system does not report CPU time.
    pub cores_busy: Option<f64>,
}

/// CPU seconds this process has used, all threads together.
pub(crate) fn process_cpu_secs() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut time = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `time` is a valid, writable timespec for the call's duration.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut time) };
        (status == 0).then_some(time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Times `steps` SASRec training steps (after 2 warm-up steps) on `dataset`.
pub fn time_steps<B: AutodiffBackend>(
    device: B::Device,
    device_label: &str,
    dataset: &Dataset,
    config: &TrainConfig,
    steps: usize,
) -> Result<StepTimings, TrainError> {
    let (split, sequences) = training_data(dataset, config)?;
    let vocabulary = Vocabulary {
        num_items: dataset.num_items(),
    };
    let mut model = super::initial::initial_model::<B>(
        &config.transformer,
        config.seed,
        vocabulary,
        None,
        &device,
    )?;
    let mut optimizer = adam(config).init::<B, SeqRec<B>>();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (mut build, mut forward, mut backward, mut optim, mut tokens) =
        (0.0, 0.0, 0.0, 0.0, 0usize);
    let (mut timed_from, mut cpu_from) = (Instant::now(), None);
    for step in 0..steps + 2 {
        if step == 2 {
            (timed_from, cpu_from) = (Instant::now(), process_cpu_secs());
        }
        let t0 = Instant::now();
        let start = (step * config.batch_size) % sequences.len();
        let chunk: Vec<&[u32]> = (0..config.batch_size)
            .map(|i| sequences[(start + i) % sequences.len()])
            .collect();
        let batch = next_item_batch(
            &chunk,
            config.transformer.max_len,
            vocabulary,
            config.loss.negatives(),
            &config.augmentation,
            &mut rng,
        );
        let t1 = Instant::now();
        let loss = batch_loss(
            &model,
            &batch,
            Direction::Causal,
            config.loss,
            vocabulary,
            &device,
        );
        let _: f32 = loss.clone().into_scalar().elem();
        let t2 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t3 = Instant::now();
        model = optimizer.step(config.learning_rate, model, grads);
        // Reading one weight back waits for the step to finish on asynchronous devices.
        let _ = model
            .clone()
            .valid()
            .logits(Tensor::zeros([1, config.transformer.hidden], &device))
            .into_data();
        let t4 = Instant::now();
        if step >= 2 {
            build += (t1 - t0).as_secs_f64();
            forward += (t2 - t1).as_secs_f64();
            backward += (t3 - t2).as_secs_f64();
            optim += (t4 - t3).as_secs_f64();
            tokens += batch.positions.len();
        }
    }
    let timed_wall = timed_from.elapsed().as_secs_f64();
    let cores_busy = cpu_from
        .zip(process_cpu_secs())
        .map(|(from, to)| (to - from) / timed_wall.max(1e-9));
    let n = steps.max(1) as f64;
    let step_secs = (build + forward + backward + optim) / n;
    let recommender = TransformerRecommender::new(
        "SASRec",
        model.valid(),
        device.clone(),
        Direction::Causal,
        vocabulary,
    );
    let eval_started = Instant::now();
    let eval_config = EvalConfig {
        cutoffs: vec![10],
        ..EvalConfig::default()
    };
    let _ = evaluate(
        &recommender,
        dataset,
        &split,
        Stage::Valid,
        &eval_config,
        &|_, _| true,
    );
    Ok(StepTimings {
        device: device_label.to_string(),
        steps,
        batch_size: config.batch_size,
        max_len: config.transformer.max_len,
        batch_build_secs: build / n,
        forward_secs: forward / n,
        backward_secs: backward / n,
        optimizer_secs: optim / n,
        sequences_per_sec: config.batch_size as f64 / step_secs,
        tokens_per_sec: tokens as f64 / n / step_secs,
        epoch_secs: sequences.len().div_ceil(config.batch_size) as f64 * step_secs,
        validation_secs: eval_started.elapsed().as_secs_f64(),
        cores_busy,
    })
}
