//! Opening the native window (the wgpu renderer): the app as people run it, the frame
//! benchmark, and what a scripted run ended up showing.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::{egui, egui_wgpu};

use super::capture::{FrameStats, LaunchOptions};
use super::state::PanelKind;
use super::{Workbench, priority};

/// Opens the workbench window and runs it until closed.
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

impl Workbench {
    /// One line on what the window shows: dataset, embedded items, search results, and whether
    /// the adaptive storefront shows a request's row.
    pub fn scripted_summary(&self) -> String {
        let dataset = self
            .data
            .loaded
            .as_ref()
            .map_or("none".to_string(), |d| d.stats.name.clone());
        let embedded = self
            .language
            .catalogue
            .as_ref()
            .map_or(0, |l| l.items.len().saturating_sub(1));
        let preview = self.live.preview.as_ref();
        let asked = preview.is_some_and(|p| {
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
            self.language.search_results.len(),
            if asked { "yes" } else { "no" },
            preview.and_then(|p| p.persona.as_deref()).unwrap_or("none")
        )
    }
}
