//! How a training fails: the one error type of the engine and the files it reads.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid training config: {0}")]
    Config(String),
    #[error(
        "loss became {value} at {stage} epoch {epoch}, batch {batch}: lower the learning rate or check the data"
    )]
    NonFiniteLoss {
        stage: &'static str,
        epoch: usize,
        batch: usize,
        value: f64,
    },
    #[error("no user has at least two training interactions: nothing to train on")]
    NothingToTrain,
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error(transparent)]
    Run(#[from] crate::runs::RunError),
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
}
