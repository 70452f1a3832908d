//! Launch options for scripted runs of the real window — a screenshot then quit (the CI smoke
//! test and the README's pictures), a frame-time benchmark while a training runs
//! (`reclab bench gui`) — and saving part of the window as PNG (the Compare panel's export).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;

use super::command::Command;
use super::state::{AppState, PanelKind};
use crate::quantile::quantile;

/// How the window is started.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Folder that receives and lists runs (the saved state's otherwise).
    pub runs_root: Option<PathBuf>,
    /// Open on this panel.
    pub panel: Option<PanelKind>,
    /// Start training with the saved form as soon as the dataset is loaded.
    pub start_training: bool,
    /// Save a screenshot here once `screenshot_after_secs` have passed, then close.
    pub screenshot: Option<PathBuf>,
    pub screenshot_after_secs: f64,
    /// Measure this many frames while a training runs, print their statistics, then close.
    pub bench_frames: Option<usize>,
    /// Start from default settings and do not save them (screenshots, benchmarks).
    pub fresh_state: bool,
    /// Tick every run of the runs folder for comparison.
    pub compare_all: bool,
    /// Open this run's model once the dataset is loaded …
    pub open_model: Option<PathBuf>,
    /// … and evaluate it.
    pub evaluate: bool,
    /// Start the Live preview and show this many pages.
    pub preview_steps: Option<usize>,
    /// Open this learned policy's run and show it against greedy in the Live preview.
    pub learned_policy: Option<PathBuf>,
    /// Load this dataset instead of the last one.
    pub dataset: Option<String>,
    /// Embed the catalogue with this language model once the dataset is loaded …
    pub lm_dir: Option<PathBuf>,
    /// … then search for this text in the Data panel,
    pub search: Option<String>,
    /// describe the Live preview's person with these words,
    pub persona: Option<String>,
    /// and tell its storefront this (after the preview's pages).
    pub ask: Option<String>,
    /// Write the User panel's user's profile with this generative model once the dataset is
    /// loaded.
    pub llm: Option<PathBuf>,
}

impl LaunchOptions {
    /// What the options set in the restored state: runs folder, panel, dataset, model folder
    /// and the words typed into the search, persona and request boxes.
    pub fn apply_to(&self, state: &mut AppState) {
        if let Some(root) = &self.runs_root {
            state.runs_root = root.clone();
        }
        if let Some(panel) = self.panel {
            state.panel = panel;
        }
        if let Some(path) = &self.dataset {
            state.dataset = crate::data::LoadSpec::new(path.clone());
            state.dataset_draft = state.dataset.clone();
        }
        if let Some(dir) = &self.lm_dir {
            state.lm_dir = dir.display().to_string();
        }
        if self.learned_policy.is_some() {
            state.preview_policies = [
                crate::sim::PolicyKind::Learned,
                crate::sim::PolicyKind::Greedy,
            ];
        }
        if let Some(path) = &self.llm {
            state.llm_path = path.display().to_string();
        }
        let words = [
            (&self.search, &mut state.search),
            (&self.persona, &mut state.persona),
            (&self.ask, &mut state.request),
        ];
        for (given, field) in words {
            if let Some(text) = given {
                field.clone_from(text);
            }
        }
    }
}

/// Frame-time statistics, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FrameStats {
    pub frames: usize,
    /// Time spent building the UI (our code and egui's layout), per frame.
    pub ui_p50_ms: f64,
    pub ui_p95_ms: f64,
    /// Time between the starts of consecutive frames (UI, tessellation, rendering, present).
    pub frame_p50_ms: f64,
    pub frame_p95_ms: f64,
}

impl FrameStats {
    pub fn of(ui_secs: &[f64], frame_secs: &[f64]) -> FrameStats {
        let ms = |v: f64| v * 1000.0;
        FrameStats {
            frames: frame_secs.len(),
            ui_p50_ms: ms(quantile(ui_secs, 0.5)),
            ui_p95_ms: ms(quantile(ui_secs, 0.95)),
            frame_p50_ms: ms(quantile(frame_secs, 0.5)),
            frame_p95_ms: ms(quantile(frame_secs, 0.95)),
        }
    }
}

pub struct Capture {
    pub options: LaunchOptions,
    started: Instant,
    screenshot_requested: bool,
    training_started: bool,
    evaluated: bool,
    spoken: bool,
    last_frame_start: Option<Instant>,
    ui_secs: Vec<f64>,
    frame_secs: Vec<f64>,
    /// Where the Compare panel's curves were drawn this frame (for the PNG export).
    pub plot_rect: Option<egui::Rect>,
    /// Messages from screenshot callbacks, which run outside the frame.
    messages: Arc<Mutex<Option<String>>>,
    pub bench_result: Arc<Mutex<Option<FrameStats>>>,
}

impl Capture {
    pub fn new(options: LaunchOptions) -> Self {
        Capture {
            options,
            started: Instant::now(),
            screenshot_requested: false,
            training_started: false,
            evaluated: false,
            spoken: false,
            last_frame_start: None,
            ui_secs: Vec::new(),
            frame_secs: Vec::new(),
            plot_rect: None,
            messages: Arc::new(Mutex::new(None)),
            bench_result: Arc::new(Mutex::new(None)),
        }
    }

    /// What the launch options ask the app to do now: each step once, the first ones when the
    /// dataset is loaded, the evaluation when the model is open.
    pub fn scripted_commands(
        &mut self,
        data_ready: bool,
        model_ready: bool,
        language_ready: bool,
        runs: &[PathBuf],
    ) -> Vec<Command> {
        let mut commands = Vec::new();
        if data_ready && !self.training_started {
            self.training_started = true;
            if self.options.start_training {
                commands.push(Command::StartTraining);
            }
            if self.options.lm_dir.is_some() {
                commands.push(Command::Embed);
            }
            if self.options.compare_all {
                commands.extend(runs.iter().map(|dir| Command::CompareRun {
                    dir: dir.clone(),
                    include: true,
                }));
            }
            if let Some(dir) = &self.options.open_model {
                commands.push(Command::OpenModel(dir.clone()));
            }
            if let Some(dir) = &self.options.learned_policy {
                commands.push(Command::OpenLearnedPolicy(dir.clone()));
            }
            if self.options.llm.is_some() {
                commands.push(Command::WriteProfile);
            }
        }
        let model_wanted = self.options.open_model.is_some();
        if (model_ready || !model_wanted) && data_ready && !self.evaluated {
            self.evaluated = true;
            if self.options.evaluate && model_ready {
                commands.push(Command::Evaluate);
            }
            if let Some(steps) = self.options.preview_steps {
                commands.push(Command::PreviewReset);
                commands.extend(std::iter::repeat_n(Command::PreviewStep, steps));
            }
        }
        // Words go to the preview after its pages, so that a reset does not wipe them.
        if language_ready && self.evaluated && !self.spoken {
            self.spoken = true;
            if self.options.persona.is_some() {
                commands.push(Command::PreviewPersona);
            }
            if self.options.ask.is_some() {
                commands.push(Command::PreviewAsk);
            }
        }
        commands
    }

    pub fn take_status(&self) -> Option<String> {
        self.messages.lock().ok().and_then(|mut m| m.take())
    }

    /// Called at the end of every frame with the time the frame's UI took.
    pub fn after_frame(&mut self, ctx: &egui::Context, ui_time: Duration, is_training: bool) {
        let now = Instant::now();
        let frame_start = now - ui_time;
        if let Some(frames) = self.options.bench_frames {
            // With a training asked for, only frames drawn while it runs count.
            if is_training || !self.options.start_training {
                if let Some(last) = self.last_frame_start {
                    self.frame_secs.push((frame_start - last).as_secs_f64());
                    self.ui_secs.push(ui_time.as_secs_f64());
                }
                self.last_frame_start = Some(frame_start);
            }
            if self.frame_secs.len() >= frames {
                let stats = FrameStats::of(&self.ui_secs, &self.frame_secs);
                if let Ok(mut slot) = self.bench_result.lock() {
                    *slot = Some(stats);
                }
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            } else {
                // Draw continuously: the benchmark measures frames, not idle waiting.
                ctx.request_repaint();
            }
        }
        if let Some(path) = self.options.screenshot.clone()
            && !self.screenshot_requested
        {
            if self.started.elapsed().as_secs_f64() >= self.options.screenshot_after_secs {
                self.screenshot_requested = true;
                let messages = self.messages.clone();
                let close = ctx.clone();
                ctx.request_screenshot(move |image| {
                    let result = save_png(&image, &path);
                    if let Err(e) = &result {
                        eprintln!("{e}");
                    }
                    if let Ok(mut m) = messages.lock() {
                        *m =
                            Some(result.err().unwrap_or_else(|| {
                                format!("screenshot saved to {}", path.display())
                            }));
                    }
                    close.send_viewport_cmd(egui::ViewportCommand::Close);
                    close.request_repaint();
                });
            }
            ctx.request_repaint_after(Duration::from_millis(100));
        }
    }

    /// Saves the part of the window where the Compare panel drew its curves.
    pub fn save_region_as_png(&mut self, ctx: &egui::Context, path: PathBuf) {
        let Some(rect) = self.plot_rect else {
            if let Ok(mut m) = self.messages.lock() {
                *m = Some("no curves are shown to export".into());
            }
            return;
        };
        let messages = self.messages.clone();
        let pixels_per_point = ctx.pixels_per_point();
        let wake = ctx.clone();
        ctx.request_screenshot(move |image| {
            let region = image.region(&rect, Some(pixels_per_point));
            let message = match save_png(&region, &path) {
                Ok(()) => format!("curves saved to {}", path.display()),
                Err(e) => e,
            };
            if let Ok(mut m) = messages.lock() {
                *m = Some(message);
            }
            wake.request_repaint();
        });
    }
}

fn save_png(image: &egui::ColorImage, path: &std::path::Path) -> Result<(), String> {
    let [width, height] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let buffer = image::RgbaImage::from_raw(width as u32, height as u32, bytes)
        .ok_or_else(|| format!("screenshot of {width}×{height} has the wrong number of pixels"))?;
    buffer
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| format!("could not write {}: {e}", path.display()))
}
