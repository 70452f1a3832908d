//! The workbench app: egui and eframe only. It sends work to jobs on worker threads, draws what
//! they report, and keeps its state in one serde [`AppState`] persisted by eframe.
//!
//! Layout follows the egui demo app: panels are plain functions over the [`Workbench`]; they push
//! [`Command`]s that [`Workbench::apply`] carries out at the end of the frame.

mod capture;
mod command;
mod jobs;
pub mod language;
mod live;
mod panels;
mod plots;
mod preview;
mod priority;
mod state;
mod widgets;

use std::path::PathBuf;
use std::sync::Arc;

use eframe::{egui, egui_wgpu};

pub use capture::{FrameStats, LaunchOptions};
pub use command::Command;
pub use language::Language;
pub use live::{LiveStatus, LiveTraining};
pub use panels::compare::curve_series;
pub use state::{AppState, ModelChoice, PanelKind};

use crate::eval::{EvalConfig, EvalReport};
use crate::runs::{self, ListedRun, RunFile};
use jobs::{
    DialogKind, DialogMessage, EmbedMessage, EvalMessage, Job, LoadMessage, Loaded, ModelMessage,
    OpenedModel, TrainMessage,
};

/// The key under which eframe stores [`AppState`].
const STATE_KEY: &str = "reclab-state";

/// The shortest interval between frames that job messages ask for (ten frames a second).
const JOB_FRAME_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// A run picked for comparison: its folder and its file, or why it could not be read.
pub struct ComparedRun {
    pub dir: PathBuf,
    pub run: Result<RunFile, String>,
}

pub struct Workbench {
    pub state: AppState,
    repaint: Arc<dyn Fn() + Send + Sync>,
    /// The dataset every panel works on.
    pub data: Option<Arc<Loaded>>,
    loading: Option<Job<LoadMessage>>,
    pub loading_path: Option<String>,
    pub data_error: Option<String>,
    training: Option<Job<TrainMessage>>,
    /// The current or last training, as the Train panel draws it.
    pub live: Option<LiveTraining>,
    pub runs: Vec<ListedRun>,
    pub runs_error: Option<String>,
    pub compared: Vec<ComparedRun>,
    /// Paired tests of the compared runs, and the runs they were computed for.
    pub paired: Option<(
        Vec<PathBuf>,
        Result<crate::runs::significance::PairedReport, String>,
    )>,
    paired_job: Option<(Vec<PathBuf>, Job<jobs::PairedMessage>)>,
    /// A sweep opened in Compare: its folder and state, or why it could not be read.
    pub sweep: Option<(PathBuf, Result<crate::sweep::SweepState, String>)>,
    /// The model the Evaluate and User panels use.
    pub model: Option<Arc<OpenedModel>>,
    model_job: Option<Job<ModelMessage>>,
    pub model_error: Option<String>,
    evaluation: Option<Job<EvalMessage>>,
    pub eval_progress: Option<(usize, usize)>,
    pub eval_reports: Vec<EvalReport>,
    /// For each report: its metrics apart for cold and warm test targets (cold-items splits).
    pub eval_by_target: Vec<crate::runs::MetricsByTarget>,
    pub eval_error: Option<String>,
    /// The loaded catalogue embedded by a language model.
    pub language: Option<Arc<Language>>,
    embedding: Option<Job<EmbedMessage>>,
    pub embed_progress: Option<(usize, usize)>,
    pub lm_error: Option<String>,
    /// The semantic search's results and the query they answer, with its time in ms.
    pub search_results: Vec<(u32, f32)>,
    pub searched: Option<(String, f64)>,
    /// The item opened from the map or the search results.
    pub selected_item: Option<u32>,
    /// The User panel's recommendations, kept until user, model or K change.
    pub user_view: Option<panels::user::UserView>,
    /// The User panel's `lm` top-K, keyed by (user, K, language model).
    pub user_lm_view: Option<panels::user::LmView>,
    /// The Live preview: its sessions, whether it plays, and when the next page is due.
    pub preview: Option<preview::Preview>,
    pub preview_playing: bool,
    pub preview_error: Option<String>,
    next_page_at: Option<std::time::Instant>,
    ab: Option<Job<jobs::AbMessage>>,
    pub ab_report: Option<crate::sim::AbReport>,
    dialog: Option<(DialogKind, Job<DialogMessage>)>,
    /// One line shown in the status bar: what just happened.
    pub status: String,
    commands: Vec<Command>,
    pub capture: capture::Capture,
}

impl Workbench {
    /// Builds the app for an eframe window, restoring the last session's state.
    pub fn new(cc: &eframe::CreationContext<'_>, options: LaunchOptions) -> Self {
        let state = cc
            .storage
            .filter(|_| !options.fresh_state)
            .and_then(|storage| eframe::get_value::<AppState>(storage, STATE_KEY))
            .unwrap_or_default();
        Self::with_state(&cc.egui_ctx, state, options)
    }

    /// Builds the app from a given state (tests start from a known one). The last dataset, or
    /// the synthetic world, starts loading at once.
    pub fn with_state(ctx: &egui::Context, mut state: AppState, options: LaunchOptions) -> Self {
        if let Some(root) = &options.runs_root {
            state.runs_root = root.clone();
        }
        if let Some(panel) = options.panel {
            state.panel = panel;
        }
        if let Some(path) = &options.dataset {
            state.dataset = crate::data::LoadSpec::new(path.clone());
            state.dataset_draft = state.dataset.clone();
        }
        if let Some(dir) = &options.lm_dir {
            state.lm_dir = dir.display().to_string();
        }
        let words = [
            (&options.search, &mut state.search),
            (&options.persona, &mut state.persona),
            (&options.ask, &mut state.request),
        ];
        for (given, field) in words {
            if let Some(text) = given {
                field.clone_from(text);
            }
        }
        let repaint_ctx = ctx.clone();
        // A job's messages wake the window at most every JOB_FRAME_INTERVAL: a training sends
        // one per batch, and drawing a frame per message would take the CPU from the training
        // itself under a software renderer.
        let repaint: Arc<dyn Fn() + Send + Sync> =
            Arc::new(move || repaint_ctx.request_repaint_after(JOB_FRAME_INTERVAL));
        let mut app = Workbench {
            repaint,
            data: None,
            loading: None,
            loading_path: None,
            data_error: None,
            training: None,
            live: None,
            runs: Vec::new(),
            runs_error: None,
            compared: Vec::new(),
            paired: None,
            paired_job: None,
            sweep: None,
            model: None,
            model_job: None,
            model_error: None,
            evaluation: None,
            eval_progress: None,
            eval_reports: Vec::new(),
            eval_by_target: Vec::new(),
            eval_error: None,
            language: None,
            embedding: None,
            embed_progress: None,
            lm_error: None,
            search_results: Vec::new(),
            searched: None,
            selected_item: None,
            user_view: None,
            user_lm_view: None,
            preview: None,
            preview_playing: false,
            preview_error: None,
            next_page_at: None,
            ab: None,
            ab_report: None,
            dialog: None,
            status: String::new(),
            commands: Vec::new(),
            capture: capture::Capture::new(options),
            state,
        };
        app.apply_theme(ctx);
        let spec = app.state.dataset.clone();
        app.apply(ctx, Command::LoadDataset(Box::new(spec)));
        app.apply(ctx, Command::RefreshRuns);
        let compared = std::mem::take(&mut app.state.compared);
        for dir in compared {
            app.apply(ctx, Command::CompareRun { dir, include: true });
        }
        app
    }

    /// One line on what the window shows: dataset, embedded items, search results, and whether
    /// the adaptive storefront shows a request's row.
    pub fn scripted_summary(&self) -> String {
        let dataset = self
            .data
            .as_ref()
            .map_or("none".to_string(), |d| d.stats.name.clone());
        let embedded = self
            .language
            .as_ref()
            .map_or(0, |l| l.items.len().saturating_sub(1));
        let asked = self.preview.as_ref().is_some_and(|p| {
            p.sides.iter().any(|side| {
                side.last.as_ref().is_some_and(|step| {
                    step.page
                        .rows
                        .first()
                        .is_some_and(|r| r.kind == crate::sim::RowKind::BecauseYouAsked)
                })
            })
        });
        format!(
            "dataset: {dataset}; items embedded: {embedded}; search results: {}; request row: {}; persona: {}",
            self.search_results.len(),
            if asked { "yes" } else { "no" },
            self.preview
                .as_ref()
                .and_then(|p| p.persona.as_deref())
                .unwrap_or("none")
        )
    }

    /// Queues a command for the end of the frame.
    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    pub fn is_training(&self) -> bool {
        self.training.is_some()
    }

    pub fn is_opening_model(&self) -> bool {
        self.model_job.is_some()
    }

    pub fn is_running_ab(&self) -> bool {
        self.ab.is_some()
    }

    pub fn is_evaluating(&self) -> bool {
        self.evaluation.is_some()
    }

    pub fn is_embedding(&self) -> bool {
        self.embedding.is_some()
    }

    /// Seconds the running embedding has taken so far.
    pub fn embedding_secs(&self) -> Option<f64> {
        self.embedding
            .as_ref()
            .map(|job| job.started.elapsed().as_secs_f64())
    }

    /// The loaded dataset's item-text template: the one edited for it, else its default.
    pub fn item_template(&self) -> Option<String> {
        let loaded = self.data.as_ref()?;
        Some(
            self.state
                .item_templates
                .get(&loaded.spec.path)
                .cloned()
                .unwrap_or_else(|| {
                    crate::lm::Template::default_for(&loaded.dataset)
                        .source()
                        .to_string()
                }),
        )
    }

    /// Runs the semantic search for `query` unless its results are already shown: one short
    /// text through the encoder, a few milliseconds, so on this thread as the person types.
    pub fn search(&mut self, query: &str) {
        let Some(language) = self.language.clone() else {
            return;
        };
        if self.searched.as_ref().is_some_and(|(q, _)| q == query) {
            return;
        }
        let started = std::time::Instant::now();
        self.search_results = if query.trim().is_empty() {
            Vec::new()
        } else {
            match language.search(query, 10) {
                Ok(results) => results,
                Err(message) => {
                    self.lm_error = Some(message);
                    Vec::new()
                }
            }
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.searched = Some((query.to_string(), ms));
    }
    /// Seconds the running load has taken so far.
    pub fn loading_secs(&self) -> Option<f64> {
        self.loading
            .as_ref()
            .map(|job| job.started.elapsed().as_secs_f64())
    }

    /// One frame: drain the jobs, draw, handle shortcuts and dropped files, apply commands.
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let started = std::time::Instant::now();
        self.drain_jobs(&ctx);
        let runs: Vec<PathBuf> = self.runs.iter().map(|r| r.dir.clone()).collect();
        let language_ready = self.language.is_some();
        for command in self.capture.scripted_commands(
            self.data.is_some(),
            self.model.is_some(),
            language_ready,
            &runs,
        ) {
            self.send(command);
        }
        self.shortcuts(&ctx);
        self.dropped_files(&ctx);
        widgets::bare_panel(ui, egui::Panel::top("tabs"))
            .show(ui, |ui| panels::top_bar_ui(ui, self));
        widgets::bare_panel(ui, egui::Panel::bottom("status"))
            .show(ui, |ui| panels::status_bar_ui(ui, self));
        widgets::central_panel(ui).show(ui, |ui| match self.state.panel {
            PanelKind::Data => panels::data::data_ui(ui, self),
            PanelKind::Train => panels::train::train_ui(ui, self),
            PanelKind::Evaluate => panels::evaluate::evaluate_ui(ui, self),
            PanelKind::Compare => panels::compare::compare_ui(ui, self),
            PanelKind::User => panels::user::user_ui(ui, self),
            PanelKind::Live => panels::live::live_ui(ui, self),
        });
        for command in std::mem::take(&mut self.commands) {
            self.apply(&ctx, command);
        }
        if self.loading.is_some()
            || self.training.is_some()
            || self.evaluation.is_some()
            || self.model_job.is_some()
            || self.ab.is_some()
            || self.embedding.is_some()
        {
            // Elapsed-time counters and busy indicators move even between job messages.
            ctx.request_repaint_after(std::time::Duration::from_millis(250));
        }
        self.play_preview(&ctx);
        let is_training = self.training.is_some();
        self.capture
            .after_frame(&ctx, started.elapsed(), is_training);
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let shortcut = |key| KeyboardShortcut::new(Modifiers::COMMAND, key);
        let panels = [
            Key::Num1,
            Key::Num2,
            Key::Num3,
            Key::Num4,
            Key::Num5,
            Key::Num6,
        ];
        for (key, panel) in panels.into_iter().zip(PanelKind::ALL) {
            if ctx.input_mut(|i| i.consume_shortcut(&shortcut(key))) {
                self.send(Command::ShowPanel(panel));
            }
        }
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::O))) {
            self.send(Command::PickDataset { folder: false });
        }
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::Enter))) {
            self.send(if self.is_training() {
                Command::StopTraining
            } else {
                Command::StartTraining
            });
        }
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut(Key::T))) {
            self.send(Command::ToggleTheme);
        }
    }

    /// A file or folder dropped on the window is loaded as a dataset, unless it is a language
    /// model's folder, which becomes the model to embed with.
    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        if let Some(file) = dropped.first() {
            let path = file.path();
            if crate::lm::ModelFolder::looks_like(path) {
                self.state.lm_dir = path.display().to_string();
                self.status = format!("language model folder: {}", path.display());
                return;
            }
            let spec = crate::data::LoadSpec {
                path: path.display().to_string(),
                ..self.state.dataset.clone()
            };
            self.send(Command::LoadDataset(Box::new(spec)));
        }
    }

    fn apply_theme(&self, ctx: &egui::Context) {
        ctx.set_theme(if self.state.dark_mode {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
    }

    /// Carries out one command: the only place that starts jobs or changes what panels show.
    pub fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::ShowPanel(panel) => self.state.panel = panel,
            Command::ToggleTheme => {
                self.state.dark_mode = !self.state.dark_mode;
                self.apply_theme(ctx);
            }
            Command::LoadDataset(spec) => {
                self.data_error = None;
                self.loading_path = Some(spec.path.clone());
                self.loading = Some(jobs::load_dataset(*spec, self.repaint.clone()));
            }
            Command::PickDataset { folder } => {
                let kind = if folder {
                    DialogKind::DatasetFolder
                } else {
                    DialogKind::DatasetFile
                };
                self.open_dialog(kind);
            }
            Command::StartTraining => self.start_training(),
            Command::StopTraining => {
                if let Some(job) = &self.training {
                    job.request_stop();
                    self.status = "stopping after the current batch …".into();
                }
            }
            Command::RefreshRuns => match runs::list(&self.state.runs_root) {
                Ok(listed) => {
                    self.runs = listed;
                    self.runs_error = None;
                }
                // A runs folder that does not exist yet is simply empty.
                Err(_) if !self.state.runs_root.exists() => {
                    self.runs.clear();
                    self.runs_error = None;
                }
                Err(e) => self.runs_error = Some(e.to_string()),
            },
            Command::PickRunFolder => self.open_dialog(DialogKind::RunFolder),
            Command::CompareRun { dir, include } => {
                self.compared.retain(|c| c.dir != dir);
                self.state.compared.retain(|d| *d != dir);
                if include {
                    let run = RunFile::load(&dir).map_err(|e| e.to_string());
                    self.state.compared.push(dir.clone());
                    self.compared.push(ComparedRun { dir, run });
                }
            }
            Command::ExportComparisonCsv => self.open_dialog(DialogKind::SaveCsv),
            Command::ExportCurvesPng => self.open_dialog(DialogKind::SavePng),
            Command::OpenModel(dir) => match &self.data {
                Some(loaded) => {
                    self.model_error = None;
                    self.model_job =
                        Some(jobs::open_model(loaded.clone(), dir, self.repaint.clone()));
                }
                None => self.model_error = Some("load a dataset first".into()),
            },
            Command::Evaluate => self.start_evaluation(),
            Command::CancelEvaluation => {
                if let Some(job) = &self.evaluation {
                    job.request_stop();
                }
            }
            Command::ClearEvaluations => {
                self.eval_reports.clear();
                self.eval_by_target.clear();
            }
            Command::PreviewReset => self.reset_preview(),
            Command::PreviewPlay(play) => {
                self.preview_playing = play && self.preview.is_some();
                self.next_page_at = None;
            }
            Command::PreviewStep => {
                if let Some(preview) = &mut self.preview {
                    preview.step();
                }
            }
            Command::RunAb => self.start_ab(),
            Command::Embed => self.start_embedding(),
            Command::CancelEmbedding => {
                if let Some(job) = &self.embedding {
                    job.request_stop();
                }
            }
            Command::PickModelFolder => self.open_dialog(DialogKind::ModelFolder),
            Command::PreviewAsk => self.ask_storefront(),
            Command::PreviewPersona => self.describe_persona(),
            Command::SelectItem(item) => self.selected_item = Some(item),
            Command::OpenSweep(dir) => {
                let state = crate::sweep::load_state(&dir);
                self.sweep = Some((dir, state));
            }
            Command::PickSweepFolder => self.open_dialog(DialogKind::SweepFolder),
        }
    }

    /// Starts the paired tests when the compared runs changed; takes their result when done.
    fn refresh_paired_tests(&mut self) {
        let dirs: Vec<PathBuf> = self
            .compared
            .iter()
            .filter(|c| c.run.is_ok())
            .map(|c| c.dir.clone())
            .collect();
        if let Some((for_dirs, job)) = &mut self.paired_job {
            for jobs::PairedMessage::Done(result) in job.drain() {
                self.paired = Some((for_dirs.clone(), result));
            }
            if job.is_finished() {
                self.paired_job = None;
            }
        }
        let current = self.paired.as_ref().map(|(d, _)| d);
        let running = self.paired_job.as_ref().map(|(d, _)| d);
        if dirs.len() < 2 {
            self.paired = None;
        } else if current != Some(&dirs) && running != Some(&dirs) {
            let metrics = vec![
                format!("ndcg@{}", self.state.eval.cutoff.max(1)),
                format!("hit@{}", self.state.eval.cutoff.max(1)),
            ];
            let job = jobs::paired_tests(dirs.clone(), metrics, self.repaint.clone());
            self.paired_job = Some((dirs, job));
        }
    }

    pub fn is_testing_pairs(&self) -> bool {
        self.paired_job.is_some()
    }

    fn start_embedding(&mut self) {
        if self.embedding.is_some() {
            return;
        }
        let (Some(loaded), Some(template)) = (self.data.clone(), self.item_template()) else {
            self.lm_error = Some("load a dataset first".into());
            return;
        };
        let dir = self.state.lm_dir.trim();
        if dir.is_empty() {
            self.lm_error = Some(
                "choose a language model folder (config.json, tokenizer.json, model.safetensors)"
                    .into(),
            );
            return;
        }
        self.lm_error = None;
        self.embed_progress = None;
        self.embedding = Some(jobs::embed_catalogue(
            loaded,
            PathBuf::from(dir),
            template,
            self.repaint.clone(),
        ));
    }

    /// The language model for the loaded dataset, or why there is none.
    fn language_for_data(&self) -> Result<Arc<Language>, String> {
        match (&self.language, &self.data) {
            (Some(language), Some(loaded)) if language.belongs_to(&loaded.dataset) => {
                Ok(language.clone())
            }
            _ => Err("embed the catalogue with a language model first (Data panel)".into()),
        }
    }

    fn ask_storefront(&mut self) {
        if self.preview.is_none() {
            self.reset_preview();
        }
        let text = self.state.request.trim().to_string();
        let weight = self.state.request_weight;
        let language = self.language_for_data();
        let Some(preview) = &mut self.preview else {
            return;
        };
        if text.is_empty() {
            preview.ask(None, 0.0);
            return;
        }
        match language.and_then(|l| l.request(&text, weight)) {
            Ok((request, embed_secs)) => {
                self.preview_error = None;
                preview.ask(Some(request), embed_secs);
            }
            Err(message) => self.preview_error = Some(message),
        }
    }

    fn describe_persona(&mut self) {
        if self.preview.is_none() {
            self.reset_preview();
        }
        let description = self.state.persona.trim().to_string();
        if description.is_empty() {
            return;
        }
        let taste = self.language_for_data().and_then(|language| {
            language
                .genre_similarities(&description)
                .map(|s| crate::sim::taste_from_similarities(&s, language::PERSONA_TEMPERATURE))
        });
        match (taste, &mut self.preview) {
            (Ok(taste), Some(preview)) => {
                self.preview_error = None;
                preview.set_persona(&description, taste);
            }
            (Err(message), _) => self.preview_error = Some(message),
            (Ok(_), None) => {}
        }
    }

    /// The model the preview and A/B use: the opened one, or Pop fitted on the loaded data.
    fn preview_model(
        &self,
        loaded: &Loaded,
    ) -> Result<Arc<dyn crate::recommend::Recommender>, String> {
        if let Some(opened) = &self.model {
            return Ok(opened.model.clone());
        }
        let split =
            crate::data::Split::new(&loaded.dataset, crate::data::SplitStrategy::LeaveOneOut)
                .map_err(|e| e.to_string())?;
        crate::recommend::BaselineConfig::Pop
            .fit(&loaded.dataset, &split)
            .map(Arc::from)
            .map_err(|e| e.to_string())
    }

    fn reset_preview(&mut self) {
        self.preview_playing = false;
        self.preview_error = None;
        let Some(loaded) = self.data.clone() else {
            self.preview_error = Some("load a dataset first".into());
            return;
        };
        let built = self.preview_model(&loaded).and_then(|model| {
            preview::Preview::new(
                &loaded,
                model,
                self.state.user,
                self.state.preview_policies,
                7,
            )
        });
        match built {
            Ok(preview) => self.preview = Some(preview),
            Err(message) => self.preview_error = Some(message),
        }
    }

    /// While playing, shows the next page when it is due and asks to be woken for the one after.
    fn play_preview(&mut self, ctx: &egui::Context) {
        if !self.preview_playing {
            return;
        }
        let Some(preview) = &mut self.preview else {
            self.preview_playing = false;
            return;
        };
        let interval =
            std::time::Duration::from_secs_f64(1.0 / self.state.preview_speed.clamp(0.1, 60.0));
        let now = std::time::Instant::now();
        if self.next_page_at.is_none_or(|due| now >= due) {
            preview.step();
            self.next_page_at = Some(now + interval);
            if preview.is_over() {
                self.preview_playing = false;
                self.status = "the simulated user left".into();
                return;
            }
        }
        ctx.request_repaint_after(
            self.next_page_at
                .map_or(interval, |due| due.saturating_duration_since(now)),
        );
    }

    fn start_ab(&mut self) {
        if self.ab.is_some() {
            return;
        }
        let Some(loaded) = self.data.clone() else {
            return;
        };
        match self.preview_model(&loaded) {
            Ok(model) => {
                let config = crate::sim::AbConfig {
                    policies: self.state.preview_policies.to_vec(),
                    users: self.state.ab_users.max(1),
                    session: crate::sim::SessionConfig::default(),
                    seed: 42,
                };
                self.ab = Some(jobs::run_ab(
                    loaded,
                    model,
                    config,
                    self.state.runs_root.clone(),
                    self.repaint.clone(),
                ));
            }
            Err(message) => self.preview_error = Some(message),
        }
    }

    fn open_dialog(&mut self, kind: DialogKind) {
        if self.dialog.is_some() {
            return;
        }
        let start = std::env::current_dir().unwrap_or_default();
        let start = match kind {
            DialogKind::RunFolder => start.join(&self.state.runs_root),
            _ => start,
        };
        self.dialog = Some((kind, jobs::file_dialog(kind, start, self.repaint.clone())));
    }

    fn start_training(&mut self) {
        if self.training.is_some() {
            return;
        }
        let Some(loaded) = self.data.clone() else {
            self.status = "load a dataset before training".into();
            return;
        };
        // Language models come from the Data panel: its folder and its item-text template.
        let lm_dir = PathBuf::from(self.state.lm_dir.trim());
        let template = self.item_template();
        let form = &mut self.state.train;
        form.lm.lm = lm_dir.clone();
        form.lm.template = template.clone();
        let form = &self.state.train;
        let mut config = form.transformer.clone();
        config.data = loaded.spec.clone();
        if config.transformer.item_text != crate::model::ItemText::None {
            config.lm = Some(lm_dir);
            config.item_template = template;
        }
        let root = self.state.runs_root.clone();
        let repaint = self.repaint.clone();
        let (job, live) = match form.baseline() {
            Some(baseline) => (
                jobs::train_baseline(loaded, baseline.clone(), config.clone(), root, repaint),
                LiveTraining::baseline(baseline.name(), config.batch_size),
            ),
            None => {
                if let Some(problem) = config.problem() {
                    self.status = format!("cannot train: {problem}");
                    return;
                }
                (
                    jobs::train_transformer(loaded, config.clone(), root, repaint),
                    LiveTraining::transformer(
                        config.model.name(),
                        config.batch_size,
                        &config.early_stopping.metric,
                    ),
                )
            }
        };
        self.training = Some(job);
        self.live = Some(live);
        self.status = "training started".into();
    }

    fn start_evaluation(&mut self) {
        let (Some(loaded), Some(model)) = (self.data.clone(), self.model.clone()) else {
            self.eval_error = Some("open a model (a run) first".into());
            return;
        };
        if self.evaluation.is_some() {
            return;
        }
        let split = self.state.train.transformer.split;
        let config = EvalConfig {
            protocol: self.state.eval.protocol,
            cutoffs: vec![self.state.eval.cutoff.max(1)],
            // Cold and warm targets are scored apart from the kept rankings.
            keep_rankings: matches!(split, crate::data::SplitStrategy::ColdItems { .. }),
        };
        self.eval_error = None;
        self.eval_progress = None;
        self.evaluation = Some(jobs::evaluate_model(
            loaded,
            model,
            split,
            config,
            self.repaint.clone(),
        ));
    }

    /// Takes every job's messages and updates what the panels show.
    fn drain_jobs(&mut self, ctx: &egui::Context) {
        if let Some(job) = &mut self.loading {
            for LoadMessage::Done(result) in job.drain() {
                match result {
                    Ok(loaded) => {
                        self.status = format!("loaded {}", loaded.stats.name);
                        self.state.dataset = loaded.spec.clone();
                        self.state.user = self
                            .state
                            .user
                            .min(loaded.dataset.num_users().saturating_sub(1));
                        self.data = Some(loaded);
                        // A model belongs to the dataset it was trained on.
                        self.model = None;
                    }
                    Err(message) => self.data_error = Some(message),
                }
            }
            if job.is_finished() {
                self.loading = None;
                self.loading_path = None;
            }
        }
        if let Some(job) = &mut self.training {
            let mut finished_run = None;
            for message in job.drain() {
                if let Some(live) = &mut self.live {
                    if let TrainMessage::Done(Ok(dir)) = &message {
                        finished_run = Some(dir.clone());
                    }
                    live.on_message(message);
                }
            }
            if job.is_finished() {
                self.training = None;
                self.status = match &self.live {
                    Some(live) => live.summary(),
                    None => String::new(),
                };
                self.apply(ctx, Command::RefreshRuns);
                if let Some(dir) = finished_run {
                    self.apply(ctx, Command::CompareRun { dir, include: true });
                }
            }
        }
        if let Some(job) = &mut self.model_job {
            for ModelMessage::Done(result) in job.drain() {
                match result {
                    Ok(model) => {
                        self.status = format!("opened {}", model.label);
                        self.model = Some(model);
                    }
                    Err(message) => self.model_error = Some(message),
                }
            }
            if job.is_finished() {
                self.model_job = None;
            }
        }
        if let Some(job) = &mut self.evaluation {
            for message in job.drain() {
                match message {
                    EvalMessage::Progress { done, total } => {
                        self.eval_progress = Some((done, total))
                    }
                    EvalMessage::Done(Ok((report, by_target))) => {
                        self.eval_reports.push(report);
                        self.eval_by_target.push(by_target);
                    }
                    EvalMessage::Done(Err(message)) => self.eval_error = Some(message),
                }
            }
            if job.is_finished() {
                self.evaluation = None;
            }
        }
        self.refresh_paired_tests();
        if let Some(job) = &mut self.embedding {
            for message in job.drain() {
                match message {
                    EmbedMessage::Progress { done, total } => {
                        self.embed_progress = Some((done, total))
                    }
                    EmbedMessage::Done(Ok(language)) => {
                        self.status = format!(
                            "embedded {} items with {}",
                            language.items.len().saturating_sub(1),
                            language.model_dir.display()
                        );
                        self.language = Some(language);
                        self.searched = None;
                    }
                    EmbedMessage::Done(Err(message)) => self.lm_error = Some(message),
                }
            }
            if job.is_finished() {
                self.embedding = None;
            }
        }
        if let Some(job) = &mut self.ab {
            for jobs::AbMessage::Done(result) in job.drain() {
                match result {
                    Ok((report, dir)) => {
                        self.status = format!("A/B saved to {}", dir.display());
                        self.ab_report = Some(report);
                        self.commands.push(Command::RefreshRuns);
                        self.commands
                            .push(Command::CompareRun { dir, include: true });
                    }
                    Err(message) => self.preview_error = Some(message),
                }
            }
            if job.is_finished() {
                self.ab = None;
            }
        }
        if let Some((kind, job)) = &mut self.dialog {
            let kind = *kind;
            let picked: Vec<DialogMessage> = job.drain();
            let finished = job.is_finished();
            for DialogMessage::Picked(path) in picked {
                if let Some(path) = path {
                    self.on_picked(ctx, kind, path);
                }
            }
            if finished {
                self.dialog = None;
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
                    .compared
                    .iter()
                    .filter_map(|c| c.run.as_ref().ok().cloned())
                    .collect();
                let csv = panels::compare::comparison_csv(&runs);
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
}

impl eframe::App for Workbench {
    /// The panel colour: the central panels paint no background of their own.
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        visuals.panel_fill.to_normalized_gamma_f32()
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
        if let Some(message) = self.capture.take_status() {
            self.status = message;
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if !self.capture.options.fresh_state {
            eframe::set_value(storage, STATE_KEY, &self.state);
        }
    }

    fn on_exit(&mut self) {
        if self.capture.options.screenshot.is_some() {
            // What a scripted run ended up showing, for the smoke test to check.
            println!("{}", self.scripted_summary());
        }
        // A stopped training keeps its best checkpoint and writes its run file: give it the
        // time to do so before the process ends.
        if let Some(job) = &mut self.training {
            job.request_stop();
            job.wait(std::time::Duration::from_secs(30));
        }
    }
}

/// Opens the workbench window (the wgpu renderer) and runs it until closed; with
/// `bench_frames`, returns the frame statistics measured.
pub fn run_native(options: LaunchOptions) -> anyhow::Result<()> {
    run_window(options).map(|_| ())
}

/// Opens the window on the Train panel, measures `frames` frames — while a training runs when
/// `with_training` — and returns their statistics (`reclab bench gui`).
pub fn bench_frames(
    frames: usize,
    with_training: bool,
    runs_root: PathBuf,
) -> anyhow::Result<FrameStats> {
    let options = LaunchOptions {
        runs_root: Some(runs_root),
        panel: Some(PanelKind::Train),
        bench_frames: Some(frames),
        start_training: with_training,
        fresh_state: true,
        ..LaunchOptions::default()
    };
    run_window(options)?
        .ok_or_else(|| anyhow::anyhow!("the window closed before {frames} frames were measured"))
}

fn run_window(options: LaunchOptions) -> anyhow::Result<Option<FrameStats>> {
    priority::background_rayon_pool();
    let result = Arc::new(std::sync::Mutex::new(None));
    let slot = result.clone();
    let mut wgpu_options = egui_wgpu::WgpuConfiguration::default();
    if options.bench_frames.is_some() {
        // Measure drawing, not waiting for the display's refresh.
        wgpu_options.surface.present_mode = egui_wgpu::wgpu::PresentMode::AutoNoVsync;
    }
    // A benchmark or a screenshot starts from a blank slate: eframe restores the window's last
    // size from its storage whatever the app does, so give it a throwaway one.
    let throwaway = if options.fresh_state {
        Some(tempfile::tempdir()?)
    } else {
        None
    };
    let native = eframe::NativeOptions {
        wgpu_options,
        persistence_path: throwaway.as_ref().map(|dir| dir.path().join("app.ron")),
        viewport: egui::ViewportBuilder::default()
            .with_title("reclab")
            .with_inner_size([1280.0, 820.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "reclab",
        native,
        Box::new(move |cc| {
            let app = Workbench::new(cc, options);
            *slot.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(app.capture.bench_result.clone());
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "could not open the reclab window (is there a display? under CI use xvfb-run): {e}"
        )
    })?;
    let stats = result
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|bench| *bench.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(stats)
}
