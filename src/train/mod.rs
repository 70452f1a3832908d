//! The training engine: config, device choice, batches, the loop, its events, and the trained
//! model behind the `Recommender` trait. Used identically by the CLI and the app.

pub mod agreement;
pub mod batch;
pub mod bench;
pub mod config;
mod engine;
mod error;
pub mod events;
mod inference;
mod initial;
pub mod profile;
pub mod record;
mod saved;
mod tensor_check;

pub use batch::Augmentation;
pub use config::{EarlyStopping, ModelKind, TrainConfig};
// The device choice is part of the training config; its home is `crate::device`.
pub use crate::device::{DeviceChoice, Resolved};
pub use engine::{BEST_WEIGHTS, TrainOutcome, train};
pub use error::TrainError;
pub use events::{Stage, TrainEvent};
pub use inference::TransformerRecommender;
pub use saved::{Inference, load_weights, model_from_run};

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
    let mut config = config.clone();
    let text = item_text_vectors(dataset, &mut config)?;
    let config = &config;
    let text = text.as_ref();
    with_backend!(resolved, B => train::<B>(Default::default(), label, dataset, config, text, runs_root, resume, stop, on_event))?
}

/// The item text table of a text-aware model: each token's sentence vector
/// `[num_items + 2, dim]` (padding and mask rows zero), with `config.transformer.text_dim` set
/// to match. `None` for an id-only model.
pub fn item_text_vectors(
    dataset: &Dataset,
    config: &mut TrainConfig,
) -> Result<Option<crate::lm::Vectors>, TrainError> {
    if config.transformer.item_text == crate::model::ItemText::None {
        return Ok(None);
    }
    let lm_error = |e: crate::lm::LmError| TrainError::Config(format!("item text: {e}"));
    let Some(folder) = &config.lm else {
        return Err(TrainError::Config(
            "item text needs a language model (lm = PATH, --lm PATH)".into(),
        ));
    };
    let cache_dir = crate::data::cache::default_cache_dir();
    // A template with {llm_description}: the generative model describes every item first
    // (through its text cache), and the encoder embeds the augmented texts.
    let augmented;
    let dataset = match &config.item_template {
        Some(template) if crate::lm::written::descriptions::wants_descriptions(template) => {
            let describe = crate::recommend::LmConfig {
                llm: config.llm.clone(),
                device: config.device,
                ..Default::default()
            };
            augmented = crate::recommend::describe_items(
                &describe,
                dataset,
                cache_dir.as_deref(),
                &mut |_, _| true,
            )
            .map_err(lm_error)?;
            &augmented
        }
        _ => dataset,
    };
    let embedder = crate::lm::Embedder::open(folder, config.device).map_err(lm_error)?;
    let template = crate::lm::Template::for_dataset(dataset, config.item_template.as_deref())
        .map_err(TrainError::Config)?;
    let items = crate::lm::embed_items(
        &embedder,
        dataset,
        &template,
        cache_dir.as_deref(),
        crate::lm::DEFAULT_BATCH,
        &mut |_, _| true,
    )
    .map_err(lm_error)?;
    let dim = items.vectors.dim();
    // Rows: padding (zero), the items, the mask token (zero).
    let mut table = items.vectors.as_slice().to_vec();
    table.extend(std::iter::repeat_n(0.0, dim));
    config.transformer.text_dim = dim;
    if config.item_template.is_none() {
        config.item_template = Some(template.source().to_string());
    }
    Ok(Some(crate::lm::Vectors::new(dim, table)))
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

/// [`agreement::one_step`] on the device `config.device` resolves to, with `text` as the item
/// text table of a text-aware model.
pub fn one_step_on_chosen_device(
    dataset: &Dataset,
    config: &TrainConfig,
    text: Option<&crate::lm::Vectors>,
) -> Result<agreement::StepReadings, TrainError> {
    let resolved = config.device.resolve().map_err(TrainError::Config)?;
    let label = resolved.label();
    with_backend!(resolved, B => agreement::one_step::<B>(Default::default(), label, dataset, config, text))?
}
