//! The training engine: config, device choice, batches, the loop, its events, and the trained
//! model behind the `Recommender` trait. Used identically by the CLI and the app.

pub mod batch;
pub mod bench;
pub mod config;
pub mod device;
mod engine;
pub mod events;
mod inference;
mod saved;

pub use batch::Augmentation;
pub use config::{EarlyStopping, ModelKind, TrainConfig};
pub use device::{DeviceChoice, Resolved};
pub use engine::{BEST_WEIGHTS, TrainError, TrainOutcome, train};
pub use events::{Stage, TrainEvent};
pub use inference::TransformerRecommender;
pub use saved::model_from_run;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::data::Dataset;

/// Runs `$body` with `$backend` bound to the autodiff backend compiled in for `$resolved`
/// (one place that knows which backend serves which device).
macro_rules! with_backend {
    ($resolved:expr, $backend:ident => $body:expr) => {
        match $resolved {
            Resolved::Cpu => {
                type $backend = burn::backend::Autodiff<burn::backend::Flex>;
                Ok($body)
            }
            #[cfg(feature = "cuda")]
            Resolved::Cuda => {
                type $backend = burn::backend::Autodiff<burn::backend::Cuda>;
                Ok($body)
            }
            #[cfg(feature = "wgpu")]
            Resolved::Wgpu => {
                type $backend = burn::backend::Autodiff<burn::backend::Wgpu>;
                Ok($body)
            }
            #[allow(unreachable_patterns)] // reachable only in builds without some backends
            other => Err(TrainError::Config(format!(
                "{} is not compiled into this build",
                other.label()
            ))),
        }
    };
}

/// Trains on the device `config.device` resolves to, with the backend compiled in for it.
pub fn train_on_chosen_device(
    dataset: &Dataset,
    config: &TrainConfig,
    runs_root: &Path,
    resume: Option<&Path>,
    stop: Arc<AtomicBool>,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<TrainOutcome, TrainError> {
    let resolved = config.device.resolve().map_err(TrainError::Config)?;
    let label = resolved.label();
    with_backend!(resolved, B => train::<B>(Default::default(), label, dataset, config, runs_root, resume, stop, on_event))?
}

/// [`bench::time_steps`] on the device `config.device` resolves to.
pub fn time_steps_on_chosen_device(
    dataset: &Dataset,
    config: &TrainConfig,
    steps: usize,
) -> Result<bench::StepTimings, TrainError> {
    let resolved = config.device.resolve().map_err(TrainError::Config)?;
    let label = resolved.label();
    with_backend!(resolved, B => bench::time_steps::<B>(Default::default(), label, dataset, config, steps))?
}
