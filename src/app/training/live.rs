//! What the Train panel shows of the current (or last) training: loss per batch, validation
//! curves per epoch, throughput, ETA and how it ended. Built only from the task's updates.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::app::task::Update;
use crate::train::{Stage, TrainEvent};

#[derive(Debug, Clone, PartialEq)]
pub enum LiveStatus {
    Starting,
    Running,
    Finished,
    Stopped,
    Failed(String),
}

pub struct LiveTraining {
    pub model: String,
    pub device: String,
    pub batch_size: usize,
    pub run_dir: Option<PathBuf>,
    /// Batches in the whole run (all epochs of both stages); early stopping may end it sooner.
    pub total_batches: usize,
    pub batches_done: usize,
    /// (batch number, loss) for every batch.
    pub losses: Vec<[f64; 2]>,
    /// (epoch, value) per validation metric, and `train_loss` per epoch.
    pub epoch_curves: BTreeMap<String, Vec<[f64; 2]>>,
    pub epoch: usize,
    pub stage: &'static str,
    pub best_epoch: Option<usize>,
    pub test: BTreeMap<String, f64>,
    /// A baseline's evaluation progress (users done, users).
    pub eval_progress: Option<(usize, usize)>,
    /// The early-stopping metric, e.g. `ndcg@10`.
    pub watched_metric: String,
    pub status: LiveStatus,
    started: Instant,
    first_batch_at: Option<Instant>,
}

impl LiveTraining {
    pub fn transformer(model: &str, batch_size: usize, watched_metric: &str) -> Self {
        LiveTraining {
            watched_metric: watched_metric.to_string(),
            ..Self::new(model, batch_size, "")
        }
    }

    pub fn baseline(model: &str, batch_size: usize) -> Self {
        Self::new(model, batch_size, "cpu")
    }

    fn new(model: &str, batch_size: usize, device: &str) -> Self {
        LiveTraining {
            model: model.to_string(),
            device: device.to_string(),
            batch_size,
            run_dir: None,
            total_batches: 0,
            batches_done: 0,
            losses: Vec::new(),
            epoch_curves: BTreeMap::new(),
            epoch: 0,
            stage: "",
            best_epoch: None,
            test: BTreeMap::new(),
            eval_progress: None,
            watched_metric: "ndcg@10".into(),
            status: LiveStatus::Starting,
            started: Instant::now(),
            first_batch_at: None,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.status, LiveStatus::Starting | LiveStatus::Running)
    }

    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Batches per second since the first batch.
    pub fn batches_per_sec(&self) -> Option<f64> {
        let since = self.first_batch_at?.elapsed().as_secs_f64();
        (self.batches_done > 1 && since > 0.0).then(|| (self.batches_done - 1) as f64 / since)
    }

    /// Seconds left if every epoch runs (early stopping may finish sooner).
    pub fn eta_secs(&self) -> Option<f64> {
        let rate = self.batches_per_sec()?;
        Some(self.total_batches.saturating_sub(self.batches_done) as f64 / rate)
    }

    pub fn on_update(&mut self, update: Update) {
        if let Some(event) = update.partial::<TrainEvent>() {
            return self.on_event(event.clone());
        }
        match update {
            // A baseline's evaluation.
            Update::Progress { done, total } => {
                self.status = LiveStatus::Running;
                self.eval_progress = Some((done, total));
            }
            Update::Partial(_) => {}
            Update::Done(_) => match update.outcome::<PathBuf>() {
                Some(Ok(dir)) => {
                    self.run_dir = Some(dir);
                    if self.is_running() {
                        self.status = LiveStatus::Finished;
                    }
                }
                Some(Err(message)) => self.status = LiveStatus::Failed(message),
                None => {}
            },
        }
    }

    fn on_event(&mut self, event: TrainEvent) {
        match event {
            TrainEvent::Started {
                run_dir,
                device,
                epochs,
                pretrain_epochs,
                batches_per_epoch,
            } => {
                self.run_dir = Some(run_dir);
                self.device = device;
                self.total_batches = (epochs + pretrain_epochs) * batches_per_epoch;
                self.status = LiveStatus::Running;
            }
            TrainEvent::Batch {
                stage, epoch, loss, ..
            } => {
                self.batches_done += 1;
                self.first_batch_at.get_or_insert_with(Instant::now);
                self.losses.push([self.batches_done as f64, loss]);
                self.epoch = epoch;
                self.stage = stage.name();
            }
            TrainEvent::Epoch {
                stage,
                epoch,
                train_loss,
                valid,
                best,
                ..
            } => {
                let prefix = match stage {
                    Stage::Pretrain => "pretrain_",
                    Stage::Train => "",
                };
                let x = epoch as f64;
                self.epoch_curves
                    .entry(format!("{prefix}train_loss"))
                    .or_default()
                    .push([x, train_loss]);
                for (name, value) in valid {
                    self.epoch_curves
                        .entry(format!("{prefix}valid_{name}"))
                        .or_default()
                        .push([x, value]);
                }
                if best && stage == Stage::Train {
                    self.best_epoch = Some(epoch);
                }
            }
            TrainEvent::CheckpointSaved { .. } => {}
            TrainEvent::Finished {
                run_dir,
                best_epoch,
                cancelled,
                test,
                ..
            } => {
                self.run_dir = Some(run_dir);
                self.best_epoch = Some(best_epoch);
                self.test = test;
                self.status = if cancelled {
                    LiveStatus::Stopped
                } else {
                    LiveStatus::Finished
                };
            }
            TrainEvent::Failed { message } => self.status = LiveStatus::Failed(message),
        }
    }

    /// One line for the status bar when the task ends.
    pub fn summary(&self) -> String {
        let ndcg = self
            .test
            .iter()
            .find(|(k, _)| k.starts_with("ndcg@"))
            .map(|(k, v)| format!(", test {k} {v:.4}"))
            .unwrap_or_default();
        match &self.status {
            LiveStatus::Failed(message) => format!("{} failed: {message}", self.model),
            LiveStatus::Stopped => format!(
                "{} stopped; its best weights and run are kept{ndcg}",
                self.model
            ),
            _ => format!("{} finished{ndcg}", self.model),
        }
    }
}
