//! The training engine: config, device choice, batches, the loop, its events, and the trained
//! model behind the `Recommender` trait. Used identically by the CLI and the app.

pub mod batch;
pub mod bench;
pub mod config;
pub mod device;
mod engine;
pub mod events;
mod inference;

pub use batch::Augmentation;
pub use config::{EarlyStopping, ModelKind, TrainConfig};
pub use device::{DeviceChoice, Resolved};
pub use engine::{BEST_WEIGHTS, TrainError, TrainOutcome, train};
pub use events::{Stage, TrainEvent};
pub use inference::TransformerRecommender;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::data::Dataset;

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
    match resolved {
        Resolved::Cpu => {
            use burn::backend::{Autodiff, Flex};
            train::<Autodiff<Flex>>(
                Default::default(),
                resolved.label(),
                dataset,
                config,
                runs_root,
                resume,
                stop,
                on_event,
            )
        }
        #[cfg(feature = "cuda")]
        Resolved::Cuda => {
            use burn::backend::{Autodiff, Cuda};
            train::<Autodiff<Cuda>>(
                Default::default(),
                resolved.label(),
                dataset,
                config,
                runs_root,
                resume,
                stop,
                on_event,
            )
        }
        #[cfg(feature = "wgpu")]
        Resolved::Wgpu => {
            use burn::backend::{Autodiff, Wgpu};
            train::<Autodiff<Wgpu>>(
                Default::default(),
                resolved.label(),
                dataset,
                config,
                runs_root,
                resume,
                stop,
                on_event,
            )
        }
        #[allow(unreachable_patterns)] // reachable only in builds without some backends
        other => Err(TrainError::Config(format!(
            "{} is not compiled into this build",
            other.label()
        ))),
    }
}

/// [`bench::time_steps`] on the device `config.device` resolves to.
pub fn time_steps_on_chosen_device(
    dataset: &Dataset,
    config: &TrainConfig,
    steps: usize,
) -> Result<bench::StepTimings, TrainError> {
    let resolved = config.device.resolve().map_err(TrainError::Config)?;
    match resolved {
        Resolved::Cpu => {
            use burn::backend::{Autodiff, Flex};
            Ok(bench::time_steps::<Autodiff<Flex>>(
                Default::default(),
                resolved.label(),
                dataset,
                config,
                steps,
            ))
        }
        #[cfg(feature = "cuda")]
        Resolved::Cuda => {
            use burn::backend::{Autodiff, Cuda};
            Ok(bench::time_steps::<Autodiff<Cuda>>(
                Default::default(),
                resolved.label(),
                dataset,
                config,
                steps,
            ))
        }
        #[cfg(feature = "wgpu")]
        Resolved::Wgpu => {
            use burn::backend::{Autodiff, Wgpu};
            Ok(bench::time_steps::<Autodiff<Wgpu>>(
                Default::default(),
                resolved.label(),
                dataset,
                config,
                steps,
            ))
        }
        #[allow(unreachable_patterns)] // reachable only in builds without some backends
        other => Err(TrainError::Config(format!(
            "{} is not compiled into this build",
            other.label()
        ))),
    }
}
