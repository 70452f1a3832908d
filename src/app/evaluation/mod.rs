//! The evaluation concern: the model opened from a run (shared with the User and Live panels),
//! its evaluations on the test targets, and the Evaluate panel.

pub mod panel;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::data::Loaded;
use super::task::{Reporter, Update};
use crate::data::{Split, SplitStrategy};
use crate::eval::{EvalConfig, EvalReport, Stage, evaluate};
use crate::recommend::Recommender;
use crate::runs::MetricsByTarget;
use crate::train::model_from_run;

/// A model opened from a run folder, shared by the Evaluate, User and Live panels.
pub struct OpenedModel {
    pub run_dir: PathBuf,
    pub label: String,
    pub model: Arc<dyn Recommender>,
}

/// An evaluation's report, and its metrics for cold and warm targets apart (cold-items splits).
pub struct Evaluated {
    pub report: EvalReport,
    pub by_target: MetricsByTarget,
}

#[derive(Default)]
pub struct EvaluationState {
    pub model: Option<Arc<OpenedModel>>,
    pub model_error: Option<String>,
    /// Users evaluated so far, of all.
    pub progress: Option<(usize, usize)>,
    pub reports: Vec<EvalReport>,
    /// For each report: its metrics apart for cold and warm test targets.
    pub by_target: Vec<MetricsByTarget>,
    pub error: Option<String>,
}

impl EvaluationState {
    /// Takes the end of opening a model; returns the status line to show.
    pub fn on_model_update(&mut self, update: Update) -> Option<String> {
        match update.outcome::<Arc<OpenedModel>>()? {
            Ok(model) => {
                let status = format!("opened {}", model.label);
                self.model = Some(model);
                Some(status)
            }
            Err(message) => {
                self.model_error = Some(message);
                None
            }
        }
    }

    pub fn on_evaluation_update(&mut self, update: Update) {
        if let Update::Progress { done, total } = update {
            self.progress = Some((done, total));
            return;
        }
        match update.outcome::<Evaluated>() {
            Some(Ok(evaluated)) => {
                self.reports.push(evaluated.report);
                self.by_target.push(evaluated.by_target);
            }
            Some(Err(message)) => self.error = Some(message),
            None => {}
        }
    }
}

/// The open-model task's worker: rebuilds a run's model for the loaded dataset.
pub fn open_model(
    loaded: &Loaded,
    run_dir: PathBuf,
    _out: &Reporter,
) -> Result<Arc<OpenedModel>, String> {
    let model = model_from_run(&run_dir, &loaded.dataset).map_err(|e| e.to_string())?;
    Ok(Arc::new(OpenedModel {
        label: format!("{} ({})", model.name(), run_label(&run_dir)),
        run_dir,
        model: Arc::from(model),
    }))
}

/// A run folder's last component, which is its run id.
pub fn run_label(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// The evaluation task's worker: an opened model on the test targets.
pub fn evaluate_model(
    loaded: &Loaded,
    model: &OpenedModel,
    split: SplitStrategy,
    config: &EvalConfig,
    out: &Reporter,
) -> Result<Evaluated, String> {
    let split = Split::new(&loaded.dataset, split).map_err(|e| e.to_string())?;
    let progress = out.progress_callback();
    let mut report = evaluate(
        model.model.as_ref(),
        &loaded.dataset,
        &split,
        Stage::Test,
        config,
        &progress,
    )
    .map_err(|e| e.to_string())?;
    report.model = model.label.clone();
    let by_target = crate::eval::by_target_group(&report, &split, &config.cutoffs);
    report.rankings = Vec::new();
    Ok(Evaluated { report, by_target })
}
