//! A saved run back as a model: the Transformer's best weights, or a baseline refitted from the
//! config its run recorded. Used by the app's Evaluate, User and Live preview panels and by
//! `reclab simulate --model RUN`.

use std::path::Path;

use super::config::TrainConfig;
use super::engine::BEST_WEIGHTS;
use super::error::TrainError;
use super::inference::TransformerRecommender;
use crate::data::{Dataset, Split};
use crate::model::{SeqRec, TransformerConfig, Vocabulary};
use crate::recommend::{BaselineConfig, Recommender};
use crate::runs::RunFile;

/// The CPU inference backend: saved models are scored where the app runs.
pub type Inference = burn::backend::Flex;

/// Rebuilds the model of the run saved in `run_dir` for `dataset`, which must be the dataset the
/// run was trained on (same items in the same order).
pub fn model_from_run(
    run_dir: &Path,
    dataset: &Dataset,
) -> Result<Box<dyn Recommender>, TrainError> {
    let run = RunFile::load(run_dir)?;
    if run.dataset.fingerprint != dataset.fingerprint {
        return Err(TrainError::Config(format!(
            "{}: the run was trained on {} ({} items, fingerprint {}), not on the loaded {} ({} items, fingerprint {}); load that dataset first",
            run_dir.display(),
            run.dataset.name,
            run.dataset.items,
            run.dataset.fingerprint,
            dataset.name,
            dataset.num_items(),
            dataset.fingerprint,
        )));
    }
    if !run.holds_a_recommender() {
        return Err(TrainError::Config(format!(
            "{}: `{}` is not a recommender (a simulation's A/B or a learned page policy: use a learned policy as `rl:RUN` in `reclab simulate` or open it in the Live preview)",
            run_dir.display(),
            run.model.name
        )));
    }
    let config_error = |e: serde_json::Error| {
        TrainError::Config(format!(
            "{}: model config of `{}` unreadable: {e}",
            run_dir.join("run.json").display(),
            run.model.name
        ))
    };
    if let Ok(baseline) = serde_json::from_value::<BaselineConfig>(run.model.config.clone()) {
        let split = Split::new(dataset, run.dataset.split)
            .map_err(|e| TrainError::Config(e.to_string()))?;
        return baseline
            .fit_with(dataset, &split, &|base| {
                model_from_run(base, dataset).map_err(|e| e.to_string())
            })
            .map_err(|e| TrainError::Config(e.to_string()));
    }
    let config: TrainConfig =
        serde_json::from_value(run.model.config.clone()).map_err(config_error)?;
    let device = Default::default();
    let vocabulary = Vocabulary {
        num_items: dataset.num_items(),
    };
    let model = load_weights(&run_dir.join(BEST_WEIGHTS), &config.transformer, vocabulary)?;
    Ok(Box::new(TransformerRecommender::new(
        config.model.name(),
        model,
        device,
        config.model.direction(),
        vocabulary,
    )))
}

/// Reads a weights file (`best.bin` or a checkpoint's model file) into a model of the given
/// shape; a file that is damaged, truncated or of another shape is an error naming it.
pub fn load_weights(
    path: &Path,
    transformer: &TransformerConfig,
    vocabulary: Vocabulary,
) -> Result<SeqRec<Inference>, TrainError> {
    let device = Default::default();
    let model = SeqRec::<Inference>::new(transformer, vocabulary, &device);
    super::record::load_weights_into(model, path, &device).map_err(|e| match e {
        TrainError::Checkpoint { path, message } => TrainError::Checkpoint {
            path,
            message: format!(
                "{message} (expected the run's best weights; a run stopped before its first epoch has none)"
            ),
        },
        other => other,
    })
}
