//! The training loop.
//!
//! It is written on burn's autodiff and optimiser directly rather than on burn-train's `Learner`:
//! validation here is reclab's full-ranking evaluator over all users (the same yardstick as the
//! baselines), not a per-batch metric averaged by burn-train's validation loop; batches vary in
//! length and carry their own target positions; and a NaN loss must stop the run naming the epoch
//! and batch. The loop keeps what the Learner would give: a stop handle, early stopping with
//! patience, a checkpoint each epoch with the best weights kept, and resume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer, decay::WeightDecayConfig};
use burn::prelude::*;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::batch::{Batch, masked_item_batch, next_item_batch};
use super::config::TrainConfig;
use super::error::TrainError;
use super::events::{Stage as TrainStage, TrainEvent};
use super::inference::TransformerRecommender;
use super::initial::initial_model;
use super::record::{load_weights_into, read_record};
use crate::data::{Dataset, Split};
use crate::eval::{EvalConfig, EvalReport, Stage, evaluate};
use crate::model::loss::{LossConfig, fused_softmax_cross_entropy, sampled_bce};
use crate::model::{Direction, SeqRec, Vocabulary};
use crate::runs::{DatasetInfo, ModelInfo, RunFile, RunStatus};

/// File names inside a run folder.
pub const BEST_WEIGHTS: &str = "best";
const CHECKPOINT_MODEL: &str = "checkpoint-model";
const CHECKPOINT_OPTIMIZER: &str = "checkpoint-optimizer";
const CHECKPOINT_STATE: &str = "checkpoint.json";

/// Where a run stands after an epoch; saved with each checkpoint so a run can resume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Progress {
    /// Pretraining epochs done.
    pretrain_done: usize,
    /// Training epochs done.
    train_done: usize,
    best_metric: Option<f64>,
    best_epoch: usize,
    epochs_without_improvement: usize,
}

/// What a finished (or stopped) run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    pub run: RunFile,
    pub run_dir: PathBuf,
    pub test: Option<EvalReport>,
    pub cancelled: bool,
}

/// Trains `config.model` on `dataset` with backend `B`, writing the run under `runs_root` (or
/// continuing the run in `resume`), and reporting through `on_event`. `stop` ends the run after
/// the current batch; the best weights and the run file are kept.
#[allow(clippy::too_many_arguments)]
pub fn train<B: AutodiffBackend>(
    device: B::Device,
    device_label: &str,
    dataset: &Dataset,
    config: &TrainConfig,
    text: Option<&crate::lm::Vectors>,
    runs_root: &Path,
    resume: Option<&Path>,
    stop: Arc<AtomicBool>,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<TrainOutcome, TrainError> {
    let result = train_inner::<B>(
        device,
        device_label,
        dataset,
        config,
        text,
        runs_root,
        resume,
        stop,
        on_event,
    );
    if let Err(e) = &result {
        on_event(TrainEvent::Failed {
            message: e.to_string(),
        });
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn train_inner<B: AutodiffBackend>(
    device: B::Device,
    device_label: &str,
    dataset: &Dataset,
    config: &TrainConfig,
    text: Option<&crate::lm::Vectors>,
    runs_root: &Path,
    resume: Option<&Path>,
    stop: Arc<AtomicBool>,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<TrainOutcome, TrainError> {
    if let Some(problem) = config.problem() {
        return Err(TrainError::Config(problem));
    }
    let (split, sequences) = training_data(dataset, config)?;
    let vocabulary = Vocabulary {
        num_items: dataset.num_items(),
    };
    let mut model =
        initial_model::<B>(&config.transformer, config.seed, vocabulary, text, &device)?;
    let mut optimizer = adam(config).init::<B, SeqRec<B>>();
    let recorder = BinFileRecorder::<FullPrecisionSettings>::new();

    // The run file: new, or the one being resumed.
    let (mut run, run_dir, mut progress) = match resume {
        Some(dir) => {
            let run = RunFile::load(dir)?;
            let state_path = dir.join(CHECKPOINT_STATE);
            let state = match std::fs::read(&state_path) {
                Ok(state) => Some(state),
                // Stopped before its first checkpoint: the run starts over in its folder, from
                // the same seeded initial weights.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(TrainError::Checkpoint {
                        path: state_path,
                        message: e.to_string(),
                    });
                }
            };
            let progress = match state {
                None => Progress::default(),
                Some(state) => {
                    let progress: Progress =
                        serde_json::from_slice(&state).map_err(|e| TrainError::Checkpoint {
                            path: state_path.clone(),
                            message: format!("{e} (expected reclab's checkpoint state)"),
                        })?;
                    let (model_file, optimizer_file) = checkpoint_files(dir, &progress);
                    model = load_weights_into(model, &model_file, &device)?;
                    let record = read_record(&optimizer_file, &device)?;
                    optimizer = optimizer.load_record(record);
                    progress
                }
            };
            let mut run = run;
            trim_curves(&mut run, &progress);
            (run, dir.to_path_buf(), progress)
        }
        None => {
            let mut run = RunFile::new(
                ModelInfo {
                    name: config.model.name().to_string(),
                    config: serde_json::to_value(config).unwrap_or_default(),
                },
                DatasetInfo::of(&config.data.path, dataset, config.split),
                crate::eval::Protocol::Full.label(),
                config.cutoffs.clone(),
                config.seed,
                device_label,
            );
            run.group = config.group.clone();
            let dir = run.save(runs_root)?;
            (run, dir, Progress::default())
        }
    };
    run.status = RunStatus::Running;
    let batches_per_epoch = sequences.len().div_ceil(config.batch_size);
    on_event(TrainEvent::Started {
        run_dir: run_dir.clone(),
        device: device_label.to_string(),
        epochs: config.epochs,
        pretrain_epochs: config.pretrain_epochs,
        batches_per_epoch,
    });
    let eval_config = EvalConfig {
        cutoffs: config.cutoffs.clone(),
        ..EvalConfig::default()
    };
    let started = Instant::now();
    let mut cancelled = false;
    let mut stopped_early = false;

    let stages = [
        (
            TrainStage::Pretrain,
            config.pretrain_epochs,
            Direction::Bidirectional,
        ),
        (TrainStage::Train, config.epochs, config.model.direction()),
    ];
    'stages: for (stage, epochs, direction) in stages {
        let done = match stage {
            TrainStage::Pretrain => progress.pretrain_done,
            TrainStage::Train => progress.train_done,
        };
        for epoch in done + 1..=epochs {
            let epoch_started = Instant::now();
            // One generator per (seed, stage, epoch), for batches here and dropout in the
            // backend: a resumed run draws exactly what the uninterrupted run would have.
            let stream = ((stage == TrainStage::Train) as u64) << 32 | epoch as u64;
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(stream);
            B::seed(
                &device,
                config.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut order: Vec<usize> = (0..sequences.len()).collect();
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0;
            for (index, chunk) in order.chunks(config.batch_size).enumerate() {
                if stop.load(Ordering::Relaxed) {
                    cancelled = true;
                    break 'stages;
                }
                let batch_sequences: Vec<&[u32]> = chunk.iter().map(|&i| sequences[i]).collect();
                let batch = batch_for(direction, &batch_sequences, config, vocabulary, &mut rng);
                if batch.positions.is_empty() {
                    continue;
                }
                let loss = batch_loss(&model, &batch, direction, config.loss, vocabulary, &device);
                let value = f64::from(loss.clone().into_scalar().elem::<f32>());
                if !value.is_finite() {
                    return Err(TrainError::NonFiniteLoss {
                        stage: stage.name(),
                        epoch,
                        batch: index + 1,
                        value,
                    });
                }
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optimizer.step(config.learning_rate, model, grads);
                loss_sum += value;
                on_event(TrainEvent::Batch {
                    stage,
                    epoch,
                    batch: index + 1,
                    batches: batches_per_epoch,
                    loss: value,
                });
            }
            let train_loss = loss_sum / batches_per_epoch as f64;

            let recommender = TransformerRecommender::new(
                config.model.name(),
                model.valid(),
                device.clone(),
                direction,
                vocabulary,
            );
            let valid = evaluate(
                &recommender,
                dataset,
                &split,
                Stage::Valid,
                &eval_config,
                &|_, _| true,
            );
            let valid = match valid {
                Ok(report) => report.metrics,
                // A split without validation targets (temporal with valid = 0) trains blind.
                Err(crate::eval::EvalError::NoUsers { .. }) => BTreeMap::new(),
                Err(e) => return Err(e.into()),
            };
            let seconds = epoch_started.elapsed().as_secs_f64();
            let prefix = match stage {
                TrainStage::Pretrain => "pretrain_",
                TrainStage::Train => "",
            };
            let step = epoch as u64;
            run.push_point(&format!("{prefix}train_loss"), step, train_loss);
            run.push_point(&format!("{prefix}epoch_secs"), step, seconds);
            for (name, value) in &valid {
                if name.starts_with("hit@") || name.starts_with("ndcg@") || name.starts_with("mrr@")
                {
                    run.push_point(&format!("{prefix}valid_{name}"), step, *value);
                }
            }

            let mut best = false;
            match stage {
                TrainStage::Pretrain => progress.pretrain_done = epoch,
                TrainStage::Train => {
                    progress.train_done = epoch;
                    let metric = valid.get(&config.early_stopping.metric).copied();
                    // Without validation targets every epoch is "best": the last weights win.
                    best = match (metric, progress.best_metric) {
                        (Some(m), Some(b)) => m > b,
                        _ => true,
                    };
                    if best {
                        progress.best_metric = metric;
                        progress.best_epoch = epoch;
                        progress.epochs_without_improvement = 0;
                        save_best(&model, &recorder, &run_dir)?;
                    } else {
                        progress.epochs_without_improvement += 1;
                    }
                }
            }
            on_event(TrainEvent::Epoch {
                stage,
                epoch,
                train_loss,
                valid: valid.clone(),
                seconds,
                best,
            });
            run.timings_secs.insert(
                "train".into(),
                run.timings_secs.get("train").copied().unwrap_or(0.0) + seconds,
            );
            // The run file first, then the checkpoint: the run file never knows less than the
            // checkpoint, and a resumed run trims what it knows beyond it.
            run.save(run_dir.parent().unwrap_or(runs_root))?;
            save_checkpoint(&model, &optimizer, &progress, &recorder, &run_dir)?;
            on_event(TrainEvent::CheckpointSaved {
                path: run_dir.join(CHECKPOINT_STATE),
            });
            if stage == TrainStage::Train
                && progress.epochs_without_improvement >= config.early_stopping.patience
            {
                stopped_early = true;
                break 'stages;
            }
        }
    }

    // Test the best weights (the last ones if no epoch finished with validation).
    let best_path = run_dir.join(BEST_WEIGHTS);
    let best_model = if progress.best_epoch > 0 {
        load_weights_into(model.clone(), &best_path, &device)?
    } else {
        model.clone()
    };
    let test = if progress.train_done > 0 {
        let recommender = TransformerRecommender::new(
            config.model.name(),
            best_model.valid(),
            device.clone(),
            config.model.direction(),
            vocabulary,
        );
        let test_started = Instant::now();
        // Every user's list is kept: the run saves each user's ranks (paired tests need them).
        let final_config = EvalConfig {
            keep_rankings: true,
            ..eval_config.clone()
        };
        let valid_report = evaluate(
            &recommender,
            dataset,
            &split,
            Stage::Valid,
            &final_config,
            &|_, _| true,
        )
        .ok();
        let test_config = final_config;
        let report = evaluate(
            &recommender,
            dataset,
            &split,
            Stage::Test,
            &test_config,
            &|_, _| true,
        )?;
        run.test_metrics_by_target = crate::eval::by_target_group(&report, &split, &config.cutoffs);
        run.timings_secs
            .insert("test".into(), test_started.elapsed().as_secs_f64());
        run.per_user = Some(crate::runs::per_user::PerUserRanks::from_reports(
            valid_report.as_ref(),
            &report,
            config.cutoffs.iter().copied().max().unwrap_or(10),
        ));
        if let Some(valid) = valid_report {
            run.valid_metrics = valid.metrics;
        }
        run.test_metrics = report.metrics.clone();
        Some(report)
    } else {
        None
    };
    run.timings_secs.insert(
        "wall".into(),
        started.elapsed().as_secs_f64() + run.timings_secs.get("wall").copied().unwrap_or(0.0),
    );
    run.status = if cancelled {
        RunStatus::Cancelled
    } else {
        RunStatus::Completed
    };
    let (model_file, optimizer_file) = checkpoint_files(&run_dir, &progress);
    let name = |path: &Path| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    run.artefacts = vec![
        format!("{BEST_WEIGHTS}.bin"),
        name(&model_file),
        name(&optimizer_file),
        CHECKPOINT_STATE.into(),
    ];
    run.curves.entry("best_epoch".into()).or_default().clear();
    run.push_point("best_epoch", 0, progress.best_epoch as f64);
    run.save(run_dir.parent().unwrap_or(runs_root))?;
    on_event(TrainEvent::Finished {
        run_dir: run_dir.clone(),
        best_epoch: progress.best_epoch,
        stopped_early,
        cancelled,
        test: test.as_ref().map(|t| t.metrics.clone()).unwrap_or_default(),
    });
    Ok(TrainOutcome {
        run,
        run_dir,
        test,
        cancelled,
    })
}

/// The split and the training sequences that can teach something (at least two items).
pub(crate) fn training_data<'a>(
    dataset: &'a Dataset,
    config: &TrainConfig,
) -> Result<(Split, Vec<&'a [u32]>), TrainError> {
    let split = Split::new(dataset, config.split).map_err(|e| TrainError::Config(e.to_string()))?;
    let sequences: Vec<&[u32]> = (0..dataset.num_users())
        .map(|u| split.train(dataset, u))
        .filter(|s| s.len() >= 2)
        .collect();
    if sequences.is_empty() {
        return Err(TrainError::NothingToTrain);
    }
    Ok((split, sequences))
}

/// The batch of `sequences` for `direction`'s objective: next items (causal) or masked items
/// (bidirectional), with the config's negatives and augmentation.
pub(crate) fn batch_for(
    direction: Direction,
    sequences: &[&[u32]],
    config: &TrainConfig,
    vocabulary: Vocabulary,
    rng: &mut ChaCha8Rng,
) -> Batch {
    let (max_len, negatives) = (config.transformer.max_len, config.loss.negatives());
    match direction {
        Direction::Causal => next_item_batch(
            sequences,
            max_len,
            vocabulary,
            negatives,
            &config.augmentation,
            rng,
        ),
        Direction::Bidirectional => masked_item_batch(
            sequences,
            max_len,
            vocabulary,
            config.mask_ratio,
            negatives,
            &config.augmentation,
            rng,
        ),
    }
}

/// The optimiser of every training run. ε = 1e-8 as in PyTorch and the original SASRec
/// (burn's default is 1e-5).
pub(crate) fn adam(config: &TrainConfig) -> AdamConfig {
    AdamConfig::new().with_epsilon(1e-8).with_weight_decay(
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32)),
    )
}

/// The loss of one batch, computed only at the positions that have a target.
pub(crate) fn batch_loss<B: AutodiffBackend>(
    model: &SeqRec<B>,
    batch: &Batch,
    direction: Direction,
    loss: LossConfig,
    vocabulary: Vocabulary,
    device: &B::Device,
) -> Tensor<B, 1> {
    let tokens = Tensor::<B, 2, Int>::from_data(
        TensorData::new(batch.tokens.clone(), [batch.size, batch.len]),
        device,
    );
    let (hidden, _) = model.encode(tokens, direction == Direction::Causal);
    let [b, l, h] = hidden.dims();
    let n = batch.positions.len();
    let positions =
        Tensor::<B, 1, Int>::from_data(TensorData::new(batch.positions.clone(), [n]), device);
    let hidden = hidden.reshape([b * l, h]).select(0, positions);
    let targets =
        Tensor::<B, 1, Int>::from_data(TensorData::new(batch.targets.clone(), [n]), device);
    match loss {
        LossConfig::Softmax => fused_softmax_cross_entropy(hidden, model.item_table(), targets),
        LossConfig::SampledBce { negatives } | LossConfig::Gbce { negatives, .. } => {
            let positive = model
                .item_embeddings(targets.reshape([n, 1]))
                .reshape([n, h]);
            let negative_ids = Tensor::<B, 2, Int>::from_data(
                TensorData::new(batch.negatives.clone(), [n, negatives]),
                device,
            );
            let negative = model.item_embeddings(negative_ids);
            sampled_bce(hidden, positive, negative, loss.beta(vocabulary.num_items))
        }
    }
}

/// Drops curve points of epochs after the checkpoint (a run killed between saving its run file
/// and its checkpoint re-runs that epoch and records it again).
fn trim_curves(run: &mut RunFile, progress: &Progress) {
    for (name, points) in run.curves.iter_mut() {
        let done = if name.starts_with("pretrain_") {
            progress.pretrain_done
        } else {
            progress.train_done
        };
        if name != "best_epoch" {
            points.retain(|p| p.step <= done as u64);
        }
    }
}

/// The stems (burn adds `.bin`) of the checkpoint of `progress`: named by the epochs done, so
/// that the state file — written last, atomically — always names files that are complete. A
/// kill at any moment leaves the previous state naming the previous, complete files.
fn checkpoint_stems(progress: &Progress) -> (String, String) {
    let tag = format!("p{}-t{}", progress.pretrain_done, progress.train_done);
    (
        format!("{CHECKPOINT_MODEL}-{tag}"),
        format!("{CHECKPOINT_OPTIMIZER}-{tag}"),
    )
}

/// The files of the checkpoint `progress` names (or of a run saved before they were named by
/// epoch).
fn checkpoint_files(dir: &Path, progress: &Progress) -> (PathBuf, PathBuf) {
    let (model, optimizer) = checkpoint_stems(progress);
    let named = (
        dir.join(format!("{model}.bin")),
        dir.join(format!("{optimizer}.bin")),
    );
    if named.0.is_file() || !dir.join(format!("{CHECKPOINT_MODEL}.bin")).is_file() {
        named
    } else {
        (
            dir.join(format!("{CHECKPOINT_MODEL}.bin")),
            dir.join(format!("{CHECKPOINT_OPTIMIZER}.bin")),
        )
    }
}

fn save_checkpoint<B: AutodiffBackend, O: Optimizer<SeqRec<B>, B>>(
    model: &SeqRec<B>,
    optimizer: &O,
    progress: &Progress,
    recorder: &BinFileRecorder<FullPrecisionSettings>,
    dir: &Path,
) -> Result<(), TrainError> {
    let failed = |stem: PathBuf| {
        move |e: burn::record::RecorderError| TrainError::Checkpoint {
            path: stem.with_extension("bin"),
            message: write_failure(&e),
        }
    };
    let (model_stem, optimizer_stem) = checkpoint_stems(progress);
    model
        .clone()
        .save_file(dir.join(&model_stem), recorder)
        .map_err(failed(dir.join(&model_stem)))?;
    recorder
        .record(optimizer.to_record(), dir.join(&optimizer_stem))
        .map_err(failed(dir.join(&optimizer_stem)))?;
    // The commit point: the state names this checkpoint's files.
    let state = serde_json::to_vec_pretty(progress).unwrap_or_default();
    crate::atomic_file::write_atomic(&dir.join(CHECKPOINT_STATE), &state).map_err(|e| {
        TrainError::Checkpoint {
            path: dir.join(CHECKPOINT_STATE),
            message: e.to_string(),
        }
    })?;
    // Older checkpoints are no longer named by anything.
    let keep = [format!("{model_stem}.bin"), format!("{optimizer_stem}.bin")];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_checkpoint =
                name.starts_with(CHECKPOINT_MODEL) || name.starts_with(CHECKPOINT_OPTIMIZER);
            if is_checkpoint && name.ends_with(".bin") && !keep.contains(&name) {
                // Only disk space is at stake if this fails.
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// What went wrong writing a checkpoint, in words: burn's recorder wraps the OS error in its
/// debug form.
fn write_failure(e: &burn::record::RecorderError) -> String {
    let text = e.to_string();
    if text.contains("StorageFull") || text.contains("No space left on device") {
        "No space left on device: the disk is full; the previous checkpoint is kept — free \
         space (or move the run folder) and continue with --resume"
            .to_string()
    } else {
        text
    }
}

/// Saves the best weights under a temporary name and renames them over `best.bin`: a kill
/// mid-write never leaves a truncated `best.bin`.
fn save_best<B: AutodiffBackend>(
    model: &SeqRec<B>,
    recorder: &BinFileRecorder<FullPrecisionSettings>,
    dir: &Path,
) -> Result<(), TrainError> {
    let next = format!("{BEST_WEIGHTS}-next");
    let failed = |message: String| TrainError::Checkpoint {
        path: dir.join(format!("{BEST_WEIGHTS}.bin")),
        message,
    };
    model
        .clone()
        .save_file(dir.join(&next), recorder)
        .map_err(|e| failed(write_failure(&e)))?;
    std::fs::rename(
        dir.join(format!("{next}.bin")),
        dir.join(format!("{BEST_WEIGHTS}.bin")),
    )
    .map_err(|e| failed(e.to_string()))
}
