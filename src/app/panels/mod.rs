//! One module per panel, plus the top bar (tabs, theme) and the status bar.

pub mod compare;
pub mod data;
pub mod evaluate;
pub mod language;
pub mod live;
pub mod train;
pub mod user;

use eframe::egui::{self, Ui};

use super::state::PanelKind;
use super::widgets;
use super::{Command, Workbench};

pub fn top_bar_ui(ui: &mut Ui, app: &mut Workbench) {
    ui.horizontal(|ui| {
        ui.heading("reclab");
        ui.separator();
        for (i, panel) in PanelKind::ALL.into_iter().enumerate() {
            let selected = app.state.panel == panel;
            if ui
                .selectable_label(selected, panel.title())
                .on_hover_text(format!("Ctrl+{}", i + 1))
                .clicked()
            {
                app.send(Command::ShowPanel(panel));
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let theme = if app.state.dark_mode {
                "Light theme"
            } else {
                "Dark theme"
            };
            if ui.button(theme).on_hover_text("Ctrl+T").clicked() {
                app.send(Command::ToggleTheme);
            }
        });
    });
}

pub fn status_bar_ui(ui: &mut Ui, app: &mut Workbench) {
    ui.horizontal(|ui| {
        match &app.data {
            Some(loaded) => ui.label(format!(
                "{}: {} users, {} items, {} interactions",
                loaded.stats.name,
                loaded.stats.users,
                loaded.stats.items,
                loaded.stats.interactions
            )),
            None => ui.label("no dataset"),
        };
        if app.is_loading() {
            widgets::busy(ui);
            ui.label("loading …");
        }
        if let Some(live) = &app.live
            && live.is_running()
        {
            ui.separator();
            widgets::busy(ui);
            ui.label(format!("training {} epoch {}", live.model, live.epoch));
        }
        ui.separator();
        ui.label(&app.status);
    });
}
