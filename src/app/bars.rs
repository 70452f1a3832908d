//! The top bar (panel tabs, theme) and the status bar (dataset, running work, the last message).

use eframe::egui::{self, Ui};

use super::Command;
use super::context::PanelContext;
use super::state::PanelKind;
use super::task::TaskKind;
use super::training::TrainingState;
use super::widgets;

pub fn top_bar_ui(ui: &mut Ui, cx: &mut PanelContext) {
    ui.horizontal(|ui| {
        ui.heading("reclab");
        ui.separator();
        for (i, panel) in PanelKind::ALL.into_iter().enumerate() {
            let selected = cx.settings.panel == panel;
            if ui
                .selectable_label(selected, panel.title())
                .on_hover_text(format!("Ctrl+{}", i + 1))
                .clicked()
            {
                cx.send(Command::ShowPanel(panel));
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let theme = if cx.settings.dark_mode {
                "Light theme"
            } else {
                "Dark theme"
            };
            if ui.button(theme).on_hover_text("Ctrl+T").clicked() {
                cx.send(Command::ToggleTheme);
            }
        });
    });
}

/// `status`: one line on what just happened.
pub fn status_bar_ui(ui: &mut Ui, cx: &PanelContext, training: &TrainingState, status: &str) {
    ui.horizontal(|ui| {
        match cx.data {
            Some(loaded) => ui.label(format!(
                "{}: {} users, {} items, {} interactions",
                loaded.stats.name,
                loaded.stats.users,
                loaded.stats.items,
                loaded.stats.interactions
            )),
            None => ui.label("no dataset"),
        };
        if cx.is_running(TaskKind::Load) {
            widgets::busy(ui);
            ui.label("loading …");
        }
        if let Some(live) = &training.live
            && live.is_running()
        {
            ui.separator();
            widgets::busy(ui);
            ui.label(format!("training {} epoch {}", live.model, live.epoch));
        }
        ui.separator();
        ui.label(status);
    });
}
