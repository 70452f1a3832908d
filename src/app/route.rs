//! Routing: each command from a panel, and each update from a task, to the state of its
//! concern. The only place that starts or stops tasks, and where one concern's result reaches
//! another (a loaded dataset drops the model trained on another; a finished training joins
//! the comparison).

use std::path::PathBuf;

use eframe::egui;

use super::dialog::{self, DialogKind};
use super::task::{TaskKind, Update};
use super::{Command, Workbench, data, evaluation, generative, language, live};
use crate::eval::EvalConfig;
use crate::runs::RunFile;

impl Workbench {
    /// Carries out one command: the only place that starts tasks or changes what panels show.
    pub fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::ShowPanel(panel) => self.state.panel = panel,
            Command::ToggleTheme => {
                self.state.dark_mode = !self.state.dark_mode;
                self.apply_theme(ctx);
            }
            Command::LoadDataset(spec) => {
                self.data.on_start(&spec);
                self.tasks
                    .start(TaskKind::Load, move |out| data::load(*spec, out));
            }
            Command::PickDataset { folder } => self.open_dialog(if folder {
                DialogKind::DatasetFolder
            } else {
                DialogKind::DatasetFile
            }),
            Command::StartTraining => {
                let template = language::item_template(&self.state, self.data.loaded.as_ref());
                let loaded = self.data.loaded.clone();
                if let Some(status) =
                    self.training
                        .start(&mut self.tasks, loaded, &mut self.state, template)
                {
                    self.status = status;
                }
            }
            Command::StopTraining => {
                if self.is_training() {
                    self.tasks.request_stop(TaskKind::Train);
                    self.status = "stopping after the current batch …".into();
                }
            }
            Command::RefreshRuns => self.compare.refresh(&self.state.runs_root),
            Command::PickRunFolder => self.open_dialog(DialogKind::RunFolder),
            Command::CompareRun { dir, include } => {
                self.compare.pick(dir, include, &mut self.state.compared)
            }
            Command::ExportComparisonCsv => self.open_dialog(DialogKind::SaveCsv),
            Command::ExportCurvesPng => self.open_dialog(DialogKind::SavePng),
            Command::OpenModel(dir) => match self.data.loaded.clone() {
                Some(loaded) => {
                    self.evaluation.model_error = None;
                    self.tasks.start(TaskKind::OpenModel, move |out| {
                        evaluation::open_model(&loaded, dir, out)
                    });
                }
                None => self.evaluation.model_error = Some("load a dataset first".into()),
            },
            Command::Evaluate => self.start_evaluation(),
            Command::CancelEvaluation => self.tasks.request_stop(TaskKind::Evaluate),
            Command::ClearEvaluations => {
                self.evaluation.reports.clear();
                self.evaluation.by_target.clear();
            }
            Command::PreviewReset => self.reset_preview(),
            Command::PreviewPlay(play) => self.live.play(play),
            Command::PreviewStep => self.live.step(),
            Command::RunAb => self.start_ab(),
            Command::TrainLearnedPolicy => self.start_learning(),
            Command::StopLearnedPolicy => self.tasks.request_stop(TaskKind::Rl),
            Command::OpenLearnedPolicy(dir) => self.live.open_learned(&dir),
            Command::Embed => {
                if self.is_embedding() {
                    return;
                }
                let prepared = self
                    .language
                    .prepare(&self.state, self.data.loaded.as_ref());
                if let Some((loaded, dir, template)) = prepared {
                    let llm = self.state.llm_path.trim();
                    let llm = (!llm.is_empty()).then(|| PathBuf::from(llm));
                    self.tasks.start(TaskKind::Embed, move |out| {
                        language::embed(&loaded, &dir, &template, llm, out)
                    });
                }
            }
            Command::CancelEmbedding => self.tasks.request_stop(TaskKind::Embed),
            Command::PickModelFolder => self.open_dialog(DialogKind::ModelFolder),
            Command::PreviewAsk => {
                if self.live.preview.is_none() {
                    self.reset_preview();
                }
                let language = self.language.for_data(self.data.loaded.as_ref());
                let comment = self.state.request.trim().to_string();
                if self.state.request_llm && !comment.is_empty() {
                    match language {
                        Ok(language) => self.start_description(language, comment),
                        Err(message) => self.live.error = Some(message),
                    }
                } else {
                    self.live.ask(language, &self.state);
                }
            }
            Command::CancelDescription => self.tasks.request_stop(TaskKind::Describe),
            Command::PreviewPersona => {
                if self.live.preview.is_none() {
                    self.reset_preview();
                }
                let language = self.language.for_data(self.data.loaded.as_ref());
                self.live.describe_persona(language, &self.state.persona);
            }
            Command::SelectItem(item) => self.language.selected_item = Some(item),
            Command::OpenSweep(dir) => self.compare.open_sweep(dir),
            Command::PickSweepFolder => self.open_dialog(DialogKind::SweepFolder),
            Command::WriteProfile => self.start_profile(),
            Command::CancelProfile => self.tasks.request_stop(TaskKind::Profile),
            Command::Explain { item, evidence } => self.start_explanation(item, evidence),
            Command::CancelExplanation => self.tasks.request_stop(TaskKind::Explain),
        }
    }

    /// Takes one update of a task to the state of its concern.
    pub(super) fn on_update(&mut self, ctx: &egui::Context, kind: TaskKind, update: Update) {
        match kind {
            TaskKind::Load => {
                if let Some(loaded) = self.data.on_update(update) {
                    self.status = format!("loaded {}", loaded.stats.name);
                    self.state.dataset = loaded.spec.clone();
                    let last_user = loaded.dataset.num_users().saturating_sub(1);
                    self.state.user = self.state.user.min(last_user);
                    // A model belongs to the dataset it was trained on; a profile to its user.
                    self.evaluation.model = None;
                    self.generative.profile = None;
                    self.generative.explanation = None;
                }
            }
            TaskKind::Train => {
                let ended = matches!(update, Update::Done(_));
                let finished_run = self.training.on_update(update);
                if ended {
                    self.status = self.training.summary();
                    self.apply(ctx, Command::RefreshRuns);
                    if let Some(dir) = finished_run {
                        self.apply(ctx, Command::CompareRun { dir, include: true });
                    }
                }
            }
            TaskKind::OpenModel => {
                if let Some(status) = self.evaluation.on_model_update(update) {
                    self.status = status;
                }
            }
            TaskKind::Evaluate => self.evaluation.on_evaluation_update(update),
            TaskKind::Embed => {
                if let Some(status) = self.language.on_update(update) {
                    self.status = status;
                }
            }
            TaskKind::PairedTests => self.compare.on_paired_update(update),
            TaskKind::Ab => {
                if let Some(dir) = self.live.on_ab_update(update) {
                    self.status = format!("A/B saved to {}", dir.display());
                    self.commands.push(Command::RefreshRuns);
                    self.commands
                        .push(Command::CompareRun { dir, include: true });
                }
            }
            TaskKind::Rl => {
                if let Some(dir) = self.live.on_learning_update(update) {
                    self.status = format!("learned policy saved to {}", dir.display());
                    self.commands.push(Command::RefreshRuns);
                }
            }
            TaskKind::Profile => self.generative.on_profile_update(update),
            TaskKind::Explain => self.generative.on_explanation_update(update),
            TaskKind::Describe => {
                if let Some(described) = self.generative.on_description_update(update) {
                    self.live.ask_described(described);
                }
            }
            TaskKind::Dialog => {
                if let Some(Ok(dialog::Picked {
                    kind,
                    path: Some(path),
                })) = update.outcome::<dialog::Picked>()
                {
                    self.on_picked(ctx, kind, path);
                }
            }
        }
    }

    fn on_picked(&mut self, ctx: &egui::Context, kind: DialogKind, path: PathBuf) {
        match kind {
            DialogKind::DatasetFile | DialogKind::DatasetFolder => {
                let spec = crate::data::LoadSpec {
                    path: path.display().to_string(),
                    ..self.state.dataset.clone()
                };
                self.apply(ctx, Command::LoadDataset(Box::new(spec)));
            }
            DialogKind::RunFolder => self.apply(
                ctx,
                Command::CompareRun {
                    dir: path,
                    include: true,
                },
            ),
            DialogKind::SaveCsv => {
                let runs: Vec<RunFile> = self
                    .compare
                    .compared
                    .iter()
                    .filter_map(|c| c.run.as_ref().ok().cloned())
                    .collect();
                let csv = super::compare::panel::comparison_csv(&runs);
                self.status = match std::fs::write(&path, csv) {
                    Ok(()) => format!("comparison written to {}", path.display()),
                    Err(e) => format!("could not write {}: {e}", path.display()),
                };
            }
            DialogKind::SavePng => self.capture.save_region_as_png(ctx, path),
            DialogKind::ModelFolder => self.state.lm_dir = path.display().to_string(),
            DialogKind::SweepFolder => self.apply(ctx, Command::OpenSweep(path)),
        }
    }

    fn open_dialog(&mut self, kind: DialogKind) {
        if self.tasks.is_running(TaskKind::Dialog) {
            return;
        }
        let start = std::env::current_dir().unwrap_or_default();
        let start = match kind {
            DialogKind::RunFolder => start.join(&self.state.runs_root),
            _ => start,
        };
        self.tasks
            .start(TaskKind::Dialog, move |out| dialog::pick(kind, start, out));
    }

    fn start_evaluation(&mut self) {
        let (Some(loaded), Some(model)) = (self.data.loaded.clone(), self.evaluation.model.clone())
        else {
            self.evaluation.error = Some("open a model (a run) first".into());
            return;
        };
        if self.tasks.is_running(TaskKind::Evaluate) {
            return;
        }
        let split = self.state.train.transformer.split;
        let config = EvalConfig {
            protocol: self.state.eval.protocol,
            cutoffs: vec![self.state.eval.cutoff.max(1)],
            // Cold and warm targets are scored apart from the kept rankings.
            keep_rankings: matches!(split, crate::data::SplitStrategy::ColdItems { .. }),
            users: None,
        };
        self.evaluation.error = None;
        self.evaluation.progress = None;
        self.tasks.start(TaskKind::Evaluate, move |out| {
            evaluation::evaluate_model(&loaded, &model, split, &config, out)
        });
    }

    fn start_profile(&mut self) {
        if self.tasks.is_running(TaskKind::Profile) {
            return;
        }
        let Some(loaded) = self.data.loaded.clone() else {
            self.generative.error = Some("load a dataset first".into());
            return;
        };
        let path = std::path::PathBuf::from(self.state.llm_path.trim());
        let user = self
            .state
            .user
            .min(loaded.dataset.num_users().saturating_sub(1));
        let kept = self.generative.llm.clone();
        let prompt = self.state.profile_prompt.clone();
        self.generative.on_start(user);
        self.tasks.start(TaskKind::Profile, move |out| {
            generative::write_profile(&loaded, user, path, kept, &prompt, out)
        });
    }

    fn start_explanation(&mut self, item: u32, evidence: Vec<u32>) {
        if self.tasks.is_running(TaskKind::Explain) {
            return;
        }
        let Some(loaded) = self.data.loaded.clone() else {
            return;
        };
        let path = std::path::PathBuf::from(self.state.llm_path.trim());
        // The user as the User panel shows it (the setting may outrun a smaller dataset).
        let user = self
            .state
            .user
            .min(loaded.dataset.num_users().saturating_sub(1));
        let kept = self.generative.llm.clone();
        self.generative
            .on_explain_start(user, item, evidence.clone());
        self.tasks.start(TaskKind::Explain, move |out| {
            generative::explain(&loaded, item, &evidence, path, kept, out)
        });
    }

    /// The generative route of "Tell the storefront": the model describes an item that answers
    /// `comment`, and the description becomes the request once written.
    fn start_description(&mut self, language: std::sync::Arc<super::Language>, comment: String) {
        if self.tasks.is_running(TaskKind::Describe) {
            return;
        }
        let path = std::path::PathBuf::from(self.state.llm_path.trim());
        if path.as_os_str().is_empty() {
            self.live.error = Some(
                "choose a generative model (a .gguf file or a folder) in the Data panel first"
                    .into(),
            );
            return;
        }
        let kept = self.generative.llm.clone();
        let weight = self.state.request_weight;
        self.generative.on_describe_start(&comment);
        self.tasks.start(TaskKind::Describe, move |out| {
            generative::describe_request(&language, &comment, weight, path, kept, out)
        });
    }

    fn reset_preview(&mut self) {
        self.live.reset(
            self.data.loaded.as_ref(),
            self.evaluation.model.as_ref(),
            &self.state,
        );
    }

    fn start_learning(&mut self) {
        if self.tasks.is_running(TaskKind::Rl) {
            return;
        }
        let Some(loaded) = self.data.loaded.clone() else {
            self.live.error = Some("load a dataset first".into());
            return;
        };
        match live::preview_model(&loaded, self.evaluation.model.as_ref()) {
            Ok(model) => {
                let config = crate::rl::RlConfig {
                    episodes: self.state.rl_episodes.max(1),
                    eval_every: (self.state.rl_episodes / 8).max(1),
                    recommender: self
                        .evaluation
                        .model
                        .as_ref()
                        .map_or_else(|| "pop".to_string(), |m| m.run_dir.display().to_string()),
                    ..crate::rl::RlConfig::default()
                };
                let root = self.state.runs_root.clone();
                self.live.learning = Some(live::learned::LearningCurve::default());
                self.live.error = None;
                self.tasks.start(TaskKind::Rl, move |out| {
                    live::learned::train(&loaded, model.as_ref(), &config, &root, out)
                });
            }
            Err(message) => self.live.error = Some(message),
        }
    }

    fn start_ab(&mut self) {
        if self.tasks.is_running(TaskKind::Ab) {
            return;
        }
        let Some(loaded) = self.data.loaded.clone() else {
            return;
        };
        match live::preview_model(&loaded, self.evaluation.model.as_ref()) {
            Ok(model) => {
                let policies = self.state.preview_policies.to_vec();
                let uses_learned = policies.contains(&crate::sim::PolicyKind::Learned);
                let learned = self
                    .live
                    .learned
                    .as_ref()
                    .map(|l| l.policy.as_page_values());
                if uses_learned && learned.is_none() {
                    self.live.error = Some(
                        "the rl policy needs a learned policy: train or open one first".into(),
                    );
                    return;
                }
                let config = crate::sim::AbConfig {
                    policies,
                    users: self.state.ab_users.max(1),
                    session: crate::sim::SessionConfig::default(),
                    seed: 42,
                    // A learned policy is measured on users it did not train on.
                    pool: if uses_learned {
                        crate::sim::UserPool::HeldOut
                    } else {
                        crate::sim::UserPool::All
                    },
                };
                let root = self.state.runs_root.clone();
                self.tasks.start(TaskKind::Ab, move |out| {
                    live::run_ab(
                        &loaded,
                        model.as_ref(),
                        &config,
                        learned.as_ref(),
                        &root,
                        out,
                    )
                });
            }
            Err(message) => self.live.error = Some(message),
        }
    }
}
