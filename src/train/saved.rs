//! A saved run back as a model: the Transformer's best weights, or a baseline refitted from the
//! config its run recorded. Used by the app's Evaluate, User and Live preview panels and by
//! `reclab simulate --model RUN`.

use std::path::Path;

use burn::prelude::*;
use burn::record::{BinFileRecorder, FullPrecisionSettings};

use super::config::TrainConfig;
use super::engine::{BEST_WEIGHTS, TrainError};
use super::inference::TransformerRecommender;
use crate::data::{Dataset, Split};
use crate::model::{SeqRec, Vocabulary};
use crate::recommend::{BaselineConfig, Recommender};
use crate::runs::RunFile;

/// The CPU inference backend: saved models are scored where the app runs.
type Inference = burn::backend::Flex;

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
            .fit(dataset, &split)
            .map_err(|e| TrainError::Config(e.to_string()));
    }
    let config: TrainConfig =
        serde_json::from_value(run.model.config.clone()).map_err(config_error)?;
    let weights = run_dir.join(BEST_WEIGHTS);
    let device = Default::default();
    let vocabulary = Vocabulary {
        num_items: dataset.num_items(),
    };
    let model = SeqRec::<Inference>::new(&config.transformer, vocabulary, &device)
        .load_file(
            weights.clone(),
            &BinFileRecorder::<FullPrecisionSettings>::new(),
            &device,
        )
        .map_err(|e| TrainError::Checkpoint {
            path: weights.with_extension("bin"),
            message: format!(
                "{e} (expected the run's best weights; a run stopped before its first epoch has none)"
            ),
        })?;
    Ok(Box::new(TransformerRecommender::new(
        config.model.name(),
        model,
        device,
        config.model.direction(),
        vocabulary,
    )))
}
