//! The Compare panel: pick runs (from the runs folder or any folder, e.g. written by
//! `reclab train` on a server), overlay their curves on linked axes, and read their settings and
//! metrics side by side with differences highlighted; export the table as CSV and the curves as
//! PNG.

use std::collections::BTreeSet;

use eframe::egui::{self, Ui};

use crate::app::jobs::run_label;
use crate::app::plots;
use crate::app::widgets;
use crate::app::{Command, Workbench};
use crate::runs::{RunFile, compare};

pub fn compare_ui(ui: &mut Ui, app: &mut Workbench) {
    widgets::bare_panel(ui, egui::Panel::left("compare-runs"))
        .resizable(true)
        .default_size(300.0)
        .show(ui, |ui| run_list_ui(ui, app));
    widgets::central_panel(ui).show(ui, |ui| {
        let runs: Vec<RunFile> = app
            .compared
            .iter()
            .filter_map(|c| c.run.as_ref().ok().cloned())
            .collect();
        for compared in &app.compared {
            if let Err(message) = &compared.run {
                widgets::error(ui, &format!("{}: {message}", compared.dir.display()));
            }
        }
        if runs.is_empty() {
            ui.label("Tick runs on the left (or open a run folder) to compare them.");
            app.capture.plot_rect = None;
            return;
        }
        ui.horizontal(|ui| {
            if ui.button("Export table as CSV…").clicked() {
                app.send(Command::ExportComparisonCsv);
            }
            if ui.button("Export curves as PNG…").clicked() {
                app.send(Command::ExportCurvesPng);
            }
            ui.add(egui::Slider::new(&mut app.state.smoothing, 0.0..=0.99).text("Smoothing (EMA)"));
        });
        egui::ScrollArea::vertical().show(ui, |ui| {
            curves_ui(ui, app, &runs);
            ui.separator();
            table_ui(ui, app, &runs);
        });
    });
}

fn run_list_ui(ui: &mut Ui, app: &mut Workbench) {
    ui.horizontal(|ui| {
        let mut root = app.state.runs_root.display().to_string();
        if widgets::text(ui, "Runs folder", &mut root).changed() {
            app.state.runs_root = root.into();
        }
    });
    ui.horizontal(|ui| {
        if ui.button("Refresh").clicked() {
            app.send(Command::RefreshRuns);
        }
        if ui.button("Open run folder…").clicked() {
            app.send(Command::PickRunFolder);
        }
    });
    if let Some(message) = &app.runs_error {
        widgets::error(ui, message);
    }
    let mut toggles = Vec::new();
    egui::ScrollArea::vertical().show(ui, |ui| {
        let mut listed_dirs = BTreeSet::new();
        for listed in app.runs.iter().rev() {
            listed_dirs.insert(listed.dir.clone());
            let mut included = app.compared.iter().any(|c| c.dir == listed.dir);
            let text = match &listed.run {
                Ok(run) => format!(
                    "{} · {} · {}",
                    run.model.name,
                    run.dataset.name,
                    run_label(&listed.dir)
                ),
                Err(e) => format!("{} (unreadable: {e})", run_label(&listed.dir)),
            };
            if ui.checkbox(&mut included, text).changed() {
                toggles.push((listed.dir.clone(), included));
            }
        }
        // Runs opened from elsewhere.
        for compared in &app.compared {
            if !listed_dirs.contains(&compared.dir) {
                let mut included = true;
                if ui
                    .checkbox(&mut included, compared.dir.display().to_string())
                    .changed()
                {
                    toggles.push((compared.dir.clone(), false));
                }
            }
        }
    });
    for (dir, include) in toggles {
        app.send(Command::CompareRun { dir, include });
    }
}

fn curves_ui(ui: &mut Ui, app: &mut Workbench, runs: &[RunFile]) {
    let names: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.curves.keys().cloned())
        .filter(|k| k != "best_epoch")
        .collect();
    if names.is_empty() {
        ui.label("These runs have no curves (baselines are fitted, not trained per epoch).");
        app.capture.plot_rect = None;
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Curves:");
        for name in &names {
            let mut shown = app.state.compare_curves.contains(name);
            if ui.checkbox(&mut shown, name).changed() {
                app.state.compare_curves.retain(|c| c != name);
                if shown {
                    app.state.compare_curves.push(name.clone());
                }
            }
        }
    });
    let link = egui::Id::unique("compare-curves-x");
    let shown: Vec<&String> = app
        .state
        .compare_curves
        .iter()
        .filter(|c| names.contains(*c))
        .collect();
    let top = ui.cursor().min;
    for curve in shown {
        ui.label(curve.as_str());
        let series: Vec<(String, Vec<[f64; 2]>)> = runs
            .iter()
            .filter_map(|run| {
                let points: Vec<[f64; 2]> = run
                    .curves
                    .get(curve)?
                    .iter()
                    .map(|p| [p.step as f64, p.value])
                    .collect();
                let points = if curve.contains("loss") {
                    plots::ema(&points, app.state.smoothing)
                } else {
                    points
                };
                Some((format!("{} {}", run.model.name, run.run_id), points))
            })
            .collect();
        egui_plot::Plot::new(format!("compare-{curve}"))
            .height(200.0)
            .legend(egui_plot::Legend::default())
            .link_axis(link, [true, false])
            .link_cursor(link, [true, false])
            .x_axis_label("epoch")
            .show(ui, |plot| {
                for (i, (name, points)) in series.into_iter().enumerate() {
                    plot.line(
                        egui_plot::Line::new(name, egui_plot::PlotPoints::from(points))
                            .color(plots::series_color(i)),
                    );
                }
            });
    }
    let bottom = ui.cursor().min;
    app.capture.plot_rect = Some(egui::Rect::from_min_max(
        top,
        egui::pos2(ui.max_rect().right(), bottom.y),
    ));
}

fn table_ui(ui: &mut Ui, app: &mut Workbench, runs: &[RunFile]) {
    let comparison = compare(runs);
    ui.horizontal(|ui| {
        ui.heading("Settings and metrics");
        ui.checkbox(&mut app.state.only_differences, "Only differences");
    });
    let highlight = ui.visuals().warn_fg_color;
    egui::ScrollArea::horizontal()
        .id_salt("compare-table")
        .show(ui, |ui| {
            egui::Grid::new("comparison").striped(true).show(ui, |ui| {
                ui.strong("key");
                for id in &comparison.run_ids {
                    ui.strong(id);
                }
                ui.end_row();
                for row in &comparison.rows {
                    if app.state.only_differences && !row.differs {
                        continue;
                    }
                    let text = |s: &str| {
                        let rich = egui::RichText::new(s);
                        if row.differs {
                            rich.color(highlight)
                        } else {
                            rich
                        }
                    };
                    ui.label(text(&row.key));
                    for value in &row.values {
                        ui.label(text(value.as_deref().unwrap_or("–")));
                    }
                    ui.end_row();
                }
            });
        });
}

/// The comparison as CSV: a `key` column, one column per run, and a `differs` column.
pub fn comparison_csv(runs: &[RunFile]) -> String {
    let comparison = compare(runs);
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("key");
    for id in &comparison.run_ids {
        out.push(',');
        out.push_str(&field(id));
    }
    out.push_str(",differs\n");
    for row in &comparison.rows {
        out.push_str(&field(&row.key));
        for value in &row.values {
            out.push(',');
            out.push_str(&field(value.as_deref().unwrap_or("")));
        }
        out.push_str(if row.differs { ",yes\n" } else { ",no\n" });
    }
    out
}
