//! The training concern: the Train panel's form becomes a training (or a baseline fit) on a
//! task; its events become the live view the panel draws.

pub mod live;
pub mod panel;

use std::path::PathBuf;
use std::sync::Arc;

use super::data::Loaded;
use super::state::AppState;
use super::task::{Reporter, TaskKind, Tasks, Update};
use crate::eval::EvalConfig;
use crate::recommend::BaselineConfig;
use crate::runs::run_baseline;
use crate::train::{TrainConfig, TrainEvent, train_on_chosen_device};
use live::LiveTraining;

#[derive(Default)]
pub struct TrainingState {
    /// The current or last training, as the Train panel draws it.
    pub live: Option<LiveTraining>,
}

impl TrainingState {
    /// Starts a training with the Train panel's form (unless one runs); returns the status
    /// line to show.
    pub fn start(
        &mut self,
        tasks: &mut Tasks,
        loaded: Option<Arc<Loaded>>,
        settings: &mut AppState,
        item_template: Option<String>,
    ) -> Option<String> {
        if tasks.is_running(TaskKind::Train) {
            return None;
        }
        let Some(loaded) = loaded else {
            return Some("load a dataset before training".into());
        };
        // Language models come from the Data panel: its folder and its item-text template.
        let lm_dir = PathBuf::from(settings.lm_dir.trim());
        let form = &mut settings.train;
        form.lm.lm = lm_dir.clone();
        form.lm.template = item_template.clone();
        // The generative model, for `llm-profile` and `{llm_description}`, is the Data panel's.
        let llm = settings.llm_path.trim();
        let llm = (!llm.is_empty()).then(|| PathBuf::from(llm));
        form.lm.llm = llm.clone();
        let mut config = form.transformer.clone();
        config.data = loaded.spec.clone();
        if config.transformer.item_text != crate::model::ItemText::None {
            config.lm = Some(lm_dir);
            config.item_template = item_template;
            config.llm = llm;
        }
        let root = settings.runs_root.clone();
        let live = match form.baseline() {
            Some(baseline) => {
                let live = LiveTraining::baseline(baseline.name(), config.batch_size);
                tasks.start(TaskKind::Train, move |out| {
                    fit_baseline(&loaded, &baseline, &config, &root, out)
                });
                live
            }
            None => {
                if let Some(problem) = config.problem() {
                    return Some(format!("cannot train: {problem}"));
                }
                let live = LiveTraining::transformer(
                    config.model.name(),
                    config.batch_size,
                    &config.early_stopping.metric,
                );
                tasks.start(TaskKind::Train, move |out| {
                    train_transformer(&loaded, &config, &root, out)
                });
                live
            }
        };
        self.live = Some(live);
        Some("training started".into())
    }

    /// Takes an update of the training; returns the run folder it wrote when it ended well.
    pub fn on_update(&mut self, update: Update) -> Option<PathBuf> {
        let finished_run = match &update {
            Update::Done(Ok(outcome)) => outcome.downcast_ref::<PathBuf>().cloned(),
            _ => None,
        };
        if let Some(live) = &mut self.live {
            live.on_update(update);
        }
        finished_run
    }

    /// One line for the status bar when the training has ended.
    pub fn summary(&self) -> String {
        self.live.as_ref().map(|l| l.summary()).unwrap_or_default()
    }
}

/// Trains a Transformer with the engine the CLI uses; its events are forwarded as they come.
fn train_transformer(
    loaded: &Loaded,
    config: &TrainConfig,
    runs_root: &std::path::Path,
    out: &Reporter,
) -> Result<PathBuf, String> {
    let mut forward = |event: TrainEvent| out.partial(event);
    train_on_chosen_device(
        &loaded.dataset,
        config,
        runs_root,
        None,
        out.stop_flag(),
        &mut forward,
    )
    .map(|outcome| outcome.run_dir)
    .map_err(|e| e.to_string())
}

/// Fits and evaluates a baseline and saves its run.
fn fit_baseline(
    loaded: &Loaded,
    baseline: &BaselineConfig,
    config: &TrainConfig,
    runs_root: &std::path::Path,
    out: &Reporter,
) -> Result<PathBuf, String> {
    let eval_config = EvalConfig {
        cutoffs: config.cutoffs.clone(),
        ..EvalConfig::default()
    };
    let progress = out.progress_callback();
    let done = run_baseline(
        baseline,
        &loaded.dataset,
        &loaded.spec.path,
        config.split,
        &eval_config,
        config.seed,
        &progress,
    )
    .map_err(|e| e.to_string())?;
    done.run.save(runs_root).map_err(|e| e.to_string())
}
