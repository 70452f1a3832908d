//! The Compare panel: pick runs (from the runs folder or any folder, e.g. written by
//! `reclab train` on a server), overlay their curves on linked axes, and read their settings and
//! metrics side by side with differences highlighted; export the table as CSV and the curves as
//! PNG.

use std::collections::BTreeSet;

use crate::sweep::slurm::TrialState;
use eframe::egui::{self, Ui};

use super::CompareState;
use crate::app::Command;
use crate::app::context::PanelContext;
use crate::app::evaluation::run_label;
use crate::app::plots;
use crate::app::task::TaskKind;
use crate::app::widgets;
use crate::runs::significance::format_p;
use crate::runs::{RunFile, compare};

/// `plot_rect`: where the curves were drawn this frame (for the PNG export).
pub fn compare_ui(
    ui: &mut Ui,
    cx: &mut PanelContext,
    own: &CompareState,
    plot_rect: &mut Option<egui::Rect>,
) {
    widgets::bare_panel(ui, egui::Panel::left("compare-runs"))
        .resizable(true)
        .default_size(300.0)
        .show(ui, |ui| run_list_ui(ui, cx, own));
    widgets::central_panel(ui).show(ui, |ui| {
        let runs: Vec<RunFile> = own
            .compared
            .iter()
            .filter_map(|c| c.run.as_ref().ok().cloned())
            .collect();
        for compared in &own.compared {
            if let Err(message) = &compared.run {
                widgets::error(ui, &format!("{}: {message}", compared.dir.display()));
            }
        }
        sweep_ui(ui, cx, own);
        if runs.is_empty() {
            ui.label("Tick runs on the left (or open a run folder) to compare them.");
            *plot_rect = None;
            return;
        }
        ui.horizontal(|ui| {
            if ui.button("Export table as CSV…").clicked() {
                cx.send(Command::ExportComparisonCsv);
            }
            if ui.button("Export curves as PNG…").clicked() {
                cx.send(Command::ExportCurvesPng);
            }
            ui.add(
                egui::Slider::new(&mut cx.settings.smoothing, 0.0..=0.99).text("Smoothing (EMA)"),
            );
        });
        egui::ScrollArea::vertical().show(ui, |ui| {
            curves_ui(ui, cx, &runs, plot_rect);
            ui.separator();
            paired_ui(ui, cx, own);
            table_ui(ui, cx, &runs);
        });
    });
}

fn run_list_ui(ui: &mut Ui, cx: &mut PanelContext, own: &CompareState) {
    ui.horizontal(|ui| {
        let mut root = cx.settings.runs_root.display().to_string();
        if widgets::text(ui, "Runs folder", &mut root).changed() {
            cx.settings.runs_root = root.into();
        }
    });
    ui.horizontal(|ui| {
        if ui.button("Refresh").clicked() {
            cx.send(Command::RefreshRuns);
        }
        if ui.button("Open run folder…").clicked() {
            cx.send(Command::PickRunFolder);
        }
        if ui.button("Open sweep…").clicked() {
            cx.send(Command::PickSweepFolder);
        }
    });
    if let Some(message) = &own.listed_error {
        widgets::error(ui, message);
    }
    let mut toggles = Vec::new();
    egui::ScrollArea::vertical().show(ui, |ui| {
        let mut listed_dirs = BTreeSet::new();
        for listed in cx.runs.iter().rev() {
            listed_dirs.insert(listed.dir.clone());
            let mut included = own.compared.iter().any(|c| c.dir == listed.dir);
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
        for compared in &own.compared {
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
        cx.send(Command::CompareRun { dir, include });
    }
}

fn curves_ui(
    ui: &mut Ui,
    cx: &mut PanelContext,
    runs: &[RunFile],
    plot_rect: &mut Option<egui::Rect>,
) {
    let names: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.curves.keys().cloned())
        .filter(|k| k != "best_epoch")
        .collect();
    if names.is_empty() {
        ui.label("These runs have no curves (baselines are fitted, not trained per epoch).");
        *plot_rect = None;
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Curves:");
        for name in &names {
            let mut shown = cx.settings.compare_curves.contains(name);
            if ui.checkbox(&mut shown, name).changed() {
                cx.settings.compare_curves.retain(|c| c != name);
                if shown {
                    cx.settings.compare_curves.push(name.clone());
                }
            }
        }
    });
    let link = egui::Id::unique("compare-curves-x");
    let shown: Vec<&String> = cx
        .settings
        .compare_curves
        .iter()
        .filter(|c| names.contains(*c))
        .collect();
    let top = ui.cursor().min;
    for curve in shown {
        ui.label(curve.as_str());
        let series = curve_series(runs, curve, cx.settings.smoothing);
        egui_plot::Plot::new(format!("compare-{curve}"))
            .height(200.0)
            .legend(egui_plot::Legend::default())
            .link_axis(link, [true, false])
            .link_cursor(link, [true, false])
            .x_axis_label("epoch")
            .show(ui, |plot| {
                for (i, (name, points, band)) in series.into_iter().enumerate() {
                    let color = plots::series_color(i);
                    if let Some(band) = band {
                        plot.polygon(
                            egui_plot::Polygon::new(
                                format!("{name} ± sd"),
                                egui_plot::PlotPoints::from(band),
                            )
                            .fill_color(color.gamma_multiply(0.25))
                            .stroke(egui::Stroke::NONE),
                        );
                    }
                    plot.line(
                        egui_plot::Line::new(name, egui_plot::PlotPoints::from(points))
                            .color(color),
                    );
                }
            });
    }
    let bottom = ui.cursor().min;
    *plot_rect = Some(egui::Rect::from_min_max(
        top,
        egui::pos2(ui.max_rect().right(), bottom.y),
    ));
}

/// One line per run, except that the runs of a seed group become their mean, with a band of
/// ± one standard deviation over seeds where at least two runs reached a step.
type Series = (String, Vec<[f64; 2]>, Option<Vec<[f64; 2]>>);

pub fn curve_series(runs: &[RunFile], curve: &str, smoothing: f64) -> Vec<Series> {
    let points_of = |run: &RunFile| -> Option<Vec<[f64; 2]>> {
        let points: Vec<[f64; 2]> = run
            .curves
            .get(curve)?
            .iter()
            .map(|p| [p.step as f64, p.value])
            .collect();
        Some(if curve.contains("loss") {
            plots::ema(&points, smoothing)
        } else {
            points
        })
    };
    let mut out = Vec::new();
    let mut done_groups: Vec<&str> = Vec::new();
    for run in runs {
        let Some(group) = run.group.as_deref() else {
            if let Some(points) = points_of(run) {
                out.push((format!("{} {}", run.model.name, run.run_id), points, None));
            }
            continue;
        };
        if done_groups.contains(&group) {
            continue;
        }
        done_groups.push(group);
        let members: Vec<Vec<[f64; 2]>> = runs
            .iter()
            .filter(|r| r.group.as_deref() == Some(group))
            .filter_map(points_of)
            .collect();
        let mut by_step: std::collections::BTreeMap<i64, Vec<f64>> = Default::default();
        for points in &members {
            for &[x, y] in points {
                by_step.entry(x as i64).or_default().push(y);
            }
        }
        let mut mean = Vec::new();
        let (mut upper, mut lower) = (Vec::new(), Vec::new());
        for (step, values) in by_step {
            let (m, sd, _) = crate::stats::mean_sd_ci95(&values);
            mean.push([step as f64, m]);
            if values.len() > 1 {
                upper.push([step as f64, m + sd]);
                lower.push([step as f64, m - sd]);
            }
        }
        let band = (!upper.is_empty()).then(|| {
            lower.reverse();
            upper.extend(lower);
            upper
        });
        out.push((
            format!("{} {group} ({} seeds)", run.model.name, members.len()),
            mean,
            band,
        ));
    }
    out
}

/// Paired tests of the compared runs (seed groups as one) against the first.
fn paired_ui(ui: &mut Ui, cx: &PanelContext, own: &CompareState) {
    let ticked = own.compared.iter().filter(|c| c.run.is_ok()).count();
    if ticked < 2 {
        return;
    }
    ui.heading("Is B better than A?");
    if cx.is_running(TaskKind::PairedTests) {
        ui.horizontal(|ui| {
            widgets::busy(ui);
            ui.label("testing on every user …");
        });
    }
    let Some((_, result)) = &own.paired else {
        return;
    };
    let report = match result {
        Ok(report) => report,
        Err(message) => {
            widgets::error(ui, message);
            return;
        }
    };
    for arm in report.arms.iter().filter(|a| a.runs.len() > 1) {
        let summary: Vec<String> = arm
            .summary
            .iter()
            .map(|(metric, mean, sd, half)| {
                format!(
                    "{metric} {mean:.4} ± {sd:.4} [{:.4}, {:.4}]",
                    mean - half,
                    mean + half
                )
            })
            .collect();
        ui.label(format!(
            "{} ({}, {} seeds): {}",
            arm.name,
            arm.model,
            arm.runs.len(),
            summary.join(" · ")
        ));
    }
    if !report.missing.is_empty() {
        ui.label(format!(
            "No paired tests: {} saved no per-user results (an older reclab).",
            report.missing.join(", ")
        ));
        return;
    }
    let Some(first) = report.rows.first() else {
        return;
    };
    ui.label(format!(
        "Paired tests against {} on {} test users (B − A; p Holm-corrected over {} comparisons)",
        first.a,
        first.test.users,
        report.rows.len()
    ));
    egui::Grid::new("paired-tests")
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "metric",
                "B (run or seed group)",
                "mean A",
                "mean B",
                "B − A",
                "95% CI (bootstrap)",
                "t-test p",
                "Wilcoxon p",
                "effect d_z",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for row in &report.rows {
                let t = &row.test;
                ui.label(&row.metric);
                ui.label(&row.b);
                ui.label(format!("{:.4}", t.mean_a));
                ui.label(format!("{:.4}", t.mean_b));
                ui.label(format!("{:+.4}", t.mean_difference));
                ui.label(format!("[{:+.4}, {:+.4}]", t.ci_low, t.ci_high));
                ui.label(format_p(row.t_p_holm));
                ui.label(format_p(row.wilcoxon_p_holm));
                ui.label(format!("{:+.3}", t.effect_size));
                ui.end_row();
            }
        });
    ui.add_space(8.0);
}

/// An opened sweep: its trials by validation metric, the metric against each swept value, and
/// a button that opens a trial's model.
fn sweep_ui(ui: &mut Ui, cx: &mut PanelContext, own: &CompareState) {
    let Some((dir, state)) = &own.sweep else {
        return;
    };
    let dir = dir.clone();
    let state = match state {
        Ok(state) => state.clone(),
        Err(message) => {
            widgets::error(ui, &format!("Sweep: {message}"));
            return;
        }
    };
    ui.heading(format!("Sweep {}", dir.display()));
    let ranked = crate::sweep::ranked(&state);
    let best = crate::sweep::best(&state).map(|t| t.index);
    let keys: Vec<String> = state
        .trials
        .first()
        .map(|t| t.params.keys().cloned().collect())
        .unwrap_or_default();
    let mut open = None;
    egui::Grid::new("sweep-trials")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("trial");
            for key in &keys {
                ui.strong(key.rsplit('.').next().unwrap_or(key));
            }
            ui.strong(format!("valid {}", state.metric));
            ui.strong("");
            ui.end_row();
            for trial in &ranked {
                let label = if Some(trial.index) == best {
                    format!("{} (best)", trial.index)
                } else {
                    trial.index.to_string()
                };
                ui.label(label);
                for key in &keys {
                    ui.label(trial.params.get(key).map_or("–".into(), |v| v.to_string()));
                }
                ui.label(format!("{:.4}", trial.valid.unwrap_or(f64::NAN)));
                if let Some(run) = &trial.run
                    && ui
                        .button(format!("Open trial {} as model", trial.index))
                        .clicked()
                {
                    open = Some(dir.join(run));
                }
                ui.end_row();
            }
        });
    let unfinished = state.trials.len() - ranked.len();
    if unfinished > 0 {
        ui.label(format!(
            "{unfinished} trial(s) not finished: `reclab sweep` on the same file resumes; \
             a sweep running elsewhere (on Slurm) is read again every {} s.",
            crate::app::compare::SWEEP_REFRESH.as_secs()
        ));
        if let Some(status) = &own.sweep_status {
            for t in status.trials.iter().filter(|t| t.state != TrialState::Done) {
                let mut line = format!(
                    "trial {}: {}",
                    t.index,
                    format!("{:?}", t.state).to_lowercase()
                );
                if let Some(job) = &t.job {
                    line.push_str(&format!(" (job {job})"));
                }
                if let Some(error) = &t.error {
                    line.push_str(&format!(" — {error}"));
                }
                ui.label(line);
            }
        }
    }
    // The validation metric against each swept value (numbers on their axis; other values by
    // their order).
    ui.horizontal_wrapped(|ui| {
        for key in &keys {
            let mut values: Vec<String> = ranked
                .iter()
                .filter_map(|t| t.params.get(key).map(|v| v.to_string()))
                .collect();
            values.sort();
            values.dedup();
            let points: Vec<[f64; 2]> = ranked
                .iter()
                .filter_map(|t| {
                    let value = t.params.get(key)?;
                    let x = value.as_f64().unwrap_or_else(|| {
                        let text = value.to_string();
                        values.iter().position(|v| *v == text).unwrap_or(0) as f64
                    });
                    Some([x, t.valid?])
                })
                .collect();
            ui.vertical(|ui| {
                ui.set_width(260.0);
                ui.label(format!("valid {} vs {key}", state.metric));
                egui_plot::Plot::new(format!("sweep-{key}"))
                    .height(160.0)
                    .x_axis_label(key.rsplit('.').next().unwrap_or(key).to_string())
                    .show(ui, |plot| {
                        plot.points(
                            egui_plot::Points::new(state.metric.clone(), points).radius(4.0),
                        );
                    });
            });
        }
    });
    if let Some(dir) = open {
        cx.send(Command::OpenModel(dir));
    }
    ui.separator();
}

fn table_ui(ui: &mut Ui, cx: &mut PanelContext, runs: &[RunFile]) {
    let comparison = compare(runs);
    ui.horizontal(|ui| {
        ui.heading("Settings and metrics");
        ui.checkbox(&mut cx.settings.only_differences, "Only differences");
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
                    if cx.settings.only_differences && !row.differs {
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
