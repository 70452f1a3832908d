//! What a training run reports while it runs: consumed by the CLI's progress bars now and by the
//! app's live charts later.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The two stages of a run: optional masked-item pretraining, then training proper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Pretrain,
    Train,
}

impl Stage {
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Pretrain => "pretrain",
            Stage::Train => "train",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    Started {
        run_dir: PathBuf,
        device: String,
        epochs: usize,
        pretrain_epochs: usize,
        batches_per_epoch: usize,
    },
    Batch {
        stage: Stage,
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
    },
    Epoch {
        stage: Stage,
        epoch: usize,
        train_loss: f64,
        valid: BTreeMap<String, f64>,
        seconds: f64,
        /// Whether this epoch is the best so far on the early-stopping metric.
        best: bool,
    },
    CheckpointSaved {
        path: PathBuf,
    },
    Finished {
        run_dir: PathBuf,
        best_epoch: usize,
        stopped_early: bool,
        cancelled: bool,
        test: BTreeMap<String, f64>,
    },
    Failed {
        message: String,
    },
}
