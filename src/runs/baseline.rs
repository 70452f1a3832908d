//! Fit a baseline, evaluate it on validation and test, and describe it as a run: what
//! `reclab eval` and the app's Train panel both do for the baselines.

use std::time::Instant;

use super::{DatasetInfo, ModelInfo, RunFile, RunStatus};
use crate::data::{Dataset, Split, SplitStrategy};
use crate::eval::{EvalConfig, EvalError, EvalReport, Stage, evaluate};
use crate::recommend::{BaselineConfig, OpenRun, Recommender};

/// A fitted and evaluated baseline; its run is complete but not yet saved.
pub struct BaselineRun {
    pub run: RunFile,
    pub model: Box<dyn Recommender>,
    pub test: EvalReport,
}

/// Fits `baseline` on the training part of `strategy`'s split of `dataset` (recorded in the run as
/// loaded from `data_path`) and evaluates it. `progress(done, total)` follows each evaluation
/// pass; returning `false` cancels.
pub fn run_baseline(
    baseline: &BaselineConfig,
    dataset: &Dataset,
    data_path: &str,
    strategy: SplitStrategy,
    config: &EvalConfig,
    seed: u64,
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Result<BaselineRun, BaselineRunError> {
    let no_runs = |path: &std::path::Path| {
        Err(format!(
            "{}: this caller cannot open a saved run as a re-ranker's base",
            path.display()
        ))
    };
    run_baseline_with(
        baseline, dataset, data_path, strategy, config, seed, progress, &no_runs,
    )
}

/// As [`run_baseline`], opening a re-ranker's base run with `open_run`.
#[allow(clippy::too_many_arguments)]
pub fn run_baseline_with(
    baseline: &BaselineConfig,
    dataset: &Dataset,
    data_path: &str,
    strategy: SplitStrategy,
    config: &EvalConfig,
    seed: u64,
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
    open_run: &OpenRun<'_>,
) -> Result<BaselineRun, BaselineRunError> {
    let split =
        Split::new(dataset, strategy).map_err(|e| BaselineRunError::Split(e.to_string()))?;
    let mut run = RunFile::new(
        ModelInfo {
            name: baseline.name().to_string(),
            // A plain enum of numbers and names always serialises.
            config: serde_json::to_value(baseline).unwrap_or_default(),
        },
        DatasetInfo::of(data_path, dataset, strategy),
        config.label(),
        config.cutoffs.clone(),
        seed,
        "cpu",
    );
    let started = Instant::now();
    let model = baseline.fit_with(dataset, &split, open_run)?;
    run.timings_secs
        .insert("fit".into(), started.elapsed().as_secs_f64());
    // Every user's list is kept: the run saves each user's ranks (paired tests need them),
    // and a cold-items split reports cold and warm targets apart from them.
    let kept = EvalConfig {
        keep_rankings: true,
        ..config.clone()
    };
    let valid = match evaluate(
        model.as_ref(),
        dataset,
        &split,
        Stage::Valid,
        &kept,
        progress,
    ) {
        Ok(valid) => {
            run.valid_metrics = valid.metrics.clone();
            run.timings_secs.insert("valid".into(), valid.seconds);
            Some(valid)
        }
        // A split without validation targets (a temporal split with no validation share).
        Err(EvalError::NoUsers { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let test_config = kept;
    let test = evaluate(
        model.as_ref(),
        dataset,
        &split,
        Stage::Test,
        &test_config,
        progress,
    )?;
    run.test_metrics = test.metrics.clone();
    run.test_metrics_by_target = crate::eval::by_target_group(&test, &split, &config.cutoffs);
    run.timings_secs.insert("test".into(), test.seconds);
    run.per_user = Some(super::per_user::PerUserRanks::from_reports(
        valid.as_ref(),
        &test,
        config.cutoffs.iter().copied().max().unwrap_or(10),
    ));
    run.status = RunStatus::Completed;
    Ok(BaselineRun { run, model, test })
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineRunError {
    #[error("{0}")]
    Split(String),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Fit(#[from] crate::recommend::FitError),
}
