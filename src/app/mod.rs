//! The workbench app: egui and eframe only. This module is the shell: the [`Workbench`] holds
//! one state per concern (data, training, evaluation, language, user, live preview,
//! comparison), runs the frame loop, and routes — commands from the panels and updates from the
//! background [`task`]s — to those states (`route.rs`).
//!
//! Each concern lives in its own folder with its state, its task workers and its panel. A panel
//! is a function over a [`context::PanelContext`] (what every panel may read, the settings it
//! edits, and a way to send [`Command`]s) and its own concern's state; it never sees the whole
//! app. Layout follows the egui demo app: panels push commands while they draw, and
//! [`Workbench::apply`] carries them out at the end of the frame.

mod bars;
mod capture;
mod command;
pub mod compare;
mod context;
mod data;
mod dialog;
mod evaluation;
mod generative;
pub mod language;
mod live;
mod plots;
mod priority;
mod route;
mod state;
mod task;
mod training;
mod user;
mod widgets;
mod window;

use std::sync::Arc;

use eframe::egui;

pub use capture::{FrameStats, LaunchOptions};
pub use command::Command;
pub use compare::ComparedRun;
pub use compare::panel::curve_series;
pub use language::{Language, top};
pub use state::{AppState, ModelChoice, PanelKind};
pub use training::live::{LiveStatus, LiveTraining};
pub use window::{bench_frames, run_native};

use context::PanelContext;
use task::{TaskKind, Tasks};

/// The key under which eframe stores [`AppState`].
const STATE_KEY: &str = "reclab-state";

/// The shortest interval between frames that task updates ask for (ten frames a second).
const TASK_FRAME_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

pub struct Workbench {
    /// The settings eframe persists.
    pub state: AppState,
    pub data: data::DataState,
    pub training: training::TrainingState,
    pub evaluation: evaluation::EvaluationState,
    pub generative: generative::GenerativeState,
    pub language: language::LanguageState,
    pub user: user::UserState,
    pub live: live::LiveState,
    pub compare: compare::CompareState,
    tasks: Tasks,
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
        options.apply_to(&mut state);
        let repaint_ctx = ctx.clone();
        // A task's updates wake the window at most every TASK_FRAME_INTERVAL: a training sends
        // one per batch, and drawing a frame per update would take the CPU from the training
        // itself under a software renderer.
        let repaint: Arc<dyn Fn() + Send + Sync> =
            Arc::new(move || repaint_ctx.request_repaint_after(TASK_FRAME_INTERVAL));
        let mut app = Workbench {
            state,
            data: Default::default(),
            training: Default::default(),
            evaluation: Default::default(),
            generative: Default::default(),
            language: Default::default(),
            user: Default::default(),
            live: Default::default(),
            compare: Default::default(),
            tasks: Tasks::new(repaint),
            status: String::new(),
            commands: Vec::new(),
            capture: capture::Capture::new(options),
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

    /// Queues a command for the end of the frame.
    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    pub fn is_loading(&self) -> bool {
        self.tasks.is_running(TaskKind::Load)
    }

    pub fn is_training(&self) -> bool {
        self.tasks.is_running(TaskKind::Train)
    }

    pub fn is_embedding(&self) -> bool {
        self.tasks.is_running(TaskKind::Embed)
    }

    pub fn is_testing_pairs(&self) -> bool {
        self.tasks.is_running(TaskKind::PairedTests)
    }

    /// One frame: take the tasks' updates, draw, handle shortcuts and dropped files, apply
    /// commands.
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let started = std::time::Instant::now();
        for (kind, update) in self.tasks.drain() {
            self.on_update(&ctx, kind, update);
        }
        self.compare
            .refresh_paired_tests(&mut self.tasks, self.state.eval.cutoff.max(1));
        let runs: Vec<_> = self.compare.listed.iter().map(|r| r.dir.clone()).collect();
        for command in self.capture.scripted_commands(
            self.data.loaded.is_some(),
            self.evaluation.model.is_some(),
            self.language.catalogue.is_some(),
            &runs,
        ) {
            self.send(command);
        }
        self.shortcuts(&ctx);
        self.dropped_files(&ctx);
        self.panels(ui);
        for command in std::mem::take(&mut self.commands) {
            self.apply(&ctx, command);
        }
        if self.tasks.any_running() {
            // Elapsed-time counters and busy indicators move even between task updates.
            ctx.request_repaint_after(std::time::Duration::from_millis(250));
        }
        if let Some(wait) = self.compare.follow_sweep() {
            ctx.request_repaint_after(wait);
        }
        match self.live.play_due_page(self.state.preview_speed) {
            live::Playing::NextPageIn(wait) => ctx.request_repaint_after(wait),
            live::Playing::UserLeft => self.status = "the simulated user left".into(),
            live::Playing::Paused => {}
        }
        let is_training = self.is_training();
        self.capture
            .after_frame(&ctx, started.elapsed(), is_training);
    }

    /// Draws the bars and the open panel, each on its narrow context.
    fn panels(&mut self, ui: &mut egui::Ui) {
        // Shared handles, cloned so that a panel may hold them while it changes its own state.
        let loaded = self.data.loaded.clone();
        let model = self.evaluation.model.clone();
        let language = self.language.catalogue.clone();
        let mut cx = PanelContext::new(
            &mut self.state,
            loaded.as_ref(),
            model.as_ref(),
            language.as_ref(),
            &self.compare.listed,
            &self.tasks,
            &mut self.commands,
        );
        let cx = &mut cx;
        widgets::bare_panel(ui, egui::Panel::top("tabs")).show(ui, |ui| bars::top_bar_ui(ui, cx));
        widgets::bare_panel(ui, egui::Panel::bottom("status")).show(ui, |ui| {
            bars::status_bar_ui(ui, cx, &self.training, &self.status)
        });
        let model_error = self.evaluation.model_error.as_deref();
        widgets::central_panel(ui).show(ui, |ui| match cx.settings.panel {
            PanelKind::Data => data::panel::data_ui(ui, cx, &self.data, &mut self.language),
            PanelKind::Train => training::panel::train_ui(ui, cx, &self.training),
            PanelKind::Evaluate => evaluation::panel::evaluate_ui(ui, cx, &self.evaluation),
            PanelKind::Compare => {
                compare::panel::compare_ui(ui, cx, &self.compare, &mut self.capture.plot_rect)
            }
            PanelKind::User => {
                user::panel::user_ui(ui, cx, &mut self.user, model_error, &self.generative)
            }
            PanelKind::Live => {
                live::panel::live_ui(ui, cx, &self.live, model_error, &self.generative)
            }
        });
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
    /// model's folder, which becomes the model to embed with, or a `.gguf` file, which becomes
    /// the generative model.
    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        if let Some(file) = dropped.first() {
            let path = file.path();
            if crate::lm::ModelFolder::looks_like(path) {
                self.state.lm_dir = path.display().to_string();
                self.status = format!("language model folder: {}", path.display());
                return;
            }
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
            {
                self.state.llm_path = path.display().to_string();
                self.status = format!("generative model: {}", path.display());
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
        self.tasks.request_stop(TaskKind::Train);
        self.tasks
            .wait(TaskKind::Train, std::time::Duration::from_secs(30));
    }
}
