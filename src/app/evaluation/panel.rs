//! The Evaluate panel: open a run's model, evaluate it with a chosen protocol and K, and see the
//! accuracy and beyond-accuracy metrics of several models side by side, as a table and as bars.

use eframe::egui::{self, Ui};

use super::{EvaluationState, run_label};
use crate::app::Command;
use crate::app::context::PanelContext;
use crate::app::plots;
use crate::app::task::TaskKind;
use crate::app::widgets;
use crate::eval::{Protocol, Sampling};

/// Accuracy and beyond-accuracy metric names, as the evaluator keys them (without `@K`).
const ACCURACY: [&str; 6] = ["hit", "recall", "ndcg", "mrr", "precision", "map"];
const BEYOND: [&str; 6] = [
    "item_coverage",
    "gini",
    "avg_popularity",
    "tail_share",
    "entropy",
    "ild",
];

pub fn evaluate_ui(ui: &mut Ui, cx: &mut PanelContext, own: &EvaluationState) {
    model_picker_ui(ui, cx, own.model_error.as_deref());
    ui.separator();
    ui.horizontal(|ui| {
        let protocols = [
            Protocol::Full,
            Protocol::Sampled {
                negatives: 100,
                sampling: Sampling::Uniform,
                seed: 42,
            },
            Protocol::Sampled {
                negatives: 100,
                sampling: Sampling::Popularity,
                seed: 42,
            },
        ];
        widgets::choice(
            ui,
            "Protocol",
            &mut cx.settings.eval.protocol,
            &protocols,
            |p| p.label(),
        );
        widgets::number(ui, "K", &mut cx.settings.eval.cutoff, 1..=1000, 0.2);
        let ready = cx.model.is_some() && !cx.is_running(TaskKind::Evaluate);
        if ui
            .add_enabled(ready, egui::Button::new("Run evaluation"))
            .clicked()
        {
            cx.send(Command::Evaluate);
        }
        if cx.is_running(TaskKind::Evaluate) {
            if ui.button("Cancel").clicked() {
                cx.send(Command::CancelEvaluation);
            }
            widgets::busy(ui);
            if let Some((done, total)) = own.progress {
                ui.label(format!("{done}/{total} users"));
            }
        }
        if ui
            .add_enabled(!own.reports.is_empty(), egui::Button::new("Clear results"))
            .clicked()
        {
            cx.send(Command::ClearEvaluations);
        }
    });
    if let Some(message) = &own.error {
        widgets::error(ui, message);
    }
    if own.reports.is_empty() {
        ui.label(
            "Results appear here, one row per evaluation; evaluate several models to compare them.",
        );
        return;
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        cold_warm_ui(ui, own);
        results_ui(ui, own);
    });
}

/// Under a cold-items split: each evaluation's accuracy on cold and on warm test targets, side
/// by side. An id-only model scores 0 on cold targets: it has never seen those items.
fn cold_warm_ui(ui: &mut Ui, own: &EvaluationState) {
    let rows: Vec<_> = own
        .reports
        .iter()
        .zip(&own.by_target)
        .filter(|(_, groups)| !groups.is_empty())
        .collect();
    if rows.is_empty() {
        return;
    }
    ui.heading("Cold and warm test targets");
    egui::Grid::new("eval-cold-warm")
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "model",
                "K",
                "cold users",
                "cold HR",
                "cold NDCG",
                "warm users",
            ] {
                ui.strong(h);
            }
            ui.strong("warm HR");
            ui.strong("warm NDCG");
            ui.end_row();
            for (report, groups) in rows {
                let cutoff = cutoff_of(report);
                ui.label(&report.model);
                ui.label(cutoff);
                for group in ["cold", "warm"] {
                    let metrics = groups.get(group);
                    let value = |name: &str| metrics.and_then(|m| m.get(name)).copied();
                    ui.label(value("users").map_or("–".into(), |v| format!("{v:.0}")));
                    for name in ["hit", "ndcg"] {
                        let shown = value(&format!("{name}@{cutoff}"))
                            .map_or("–".into(), |v| format!("{v:.4}"));
                        ui.label(shown);
                    }
                }
                ui.end_row();
            }
        });
    ui.add_space(8.0);
}

/// Lists the runs of the runs folder, each with a button that opens its model.
/// `error`: why the last model could not be opened.
pub fn model_picker_ui(ui: &mut Ui, cx: &mut PanelContext, error: Option<&str>) {
    ui.horizontal(|ui| {
        match &cx.model {
            Some(model) => ui.label(format!("Model: {}", model.label)),
            None => ui.label("Model: none opened"),
        };
        if cx.is_running(TaskKind::OpenModel) {
            widgets::busy(ui);
        }
    });
    if let Some(message) = error {
        widgets::error(ui, message);
    }
    let fingerprint = cx.data.map(|d| d.dataset.fingerprint.clone());
    let mut open = None;
    egui::CollapsingHeader::new(format!("Runs in {}", cx.settings.runs_root.display()))
        .default_open(cx.model.is_none())
        .show(ui, |ui| {
            if cx.runs.is_empty() {
                ui.label("No runs yet: train a model in the Train panel.");
            }
            egui::ScrollArea::vertical()
                .id_salt("model-runs")
                .max_height(160.0)
                .show(ui, |ui| {
                    for listed in cx.runs.iter().rev() {
                        let Ok(run) = &listed.run else { continue };
                        if !run.holds_a_recommender() {
                            continue;
                        }
                        let same_data =
                            fingerprint.as_deref() == Some(run.dataset.fingerprint.as_str());
                        ui.horizontal(|ui| {
                            let button = egui::Button::new(format!("Open {}", run.model.name));
                            if ui
                                .add_enabled(
                                    same_data && !cx.is_running(TaskKind::OpenModel),
                                    button,
                                )
                                .on_disabled_hover_text("trained on another dataset")
                                .clicked()
                            {
                                open = Some(listed.dir.clone());
                            }
                            ui.label(format!(
                                "{} · {} · {:?}",
                                run_label(&listed.dir),
                                run.dataset.name,
                                run.status
                            ));
                        });
                    }
                });
        });
    if let Some(dir) = open {
        cx.send(Command::OpenModel(dir));
    }
}

/// The cut-off K a report was evaluated at (its `ndcg@K` key).
fn cutoff_of(report: &crate::eval::EvalReport) -> &str {
    report
        .metrics
        .keys()
        .find_map(|key| key.strip_prefix("ndcg@"))
        .unwrap_or("")
}

fn results_ui(ui: &mut Ui, own: &EvaluationState) {
    let k = own
        .reports
        .last()
        .map(|r| {
            r.metrics
                .keys()
                .find_map(|key| key.strip_prefix("ndcg@").map(str::to_string))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    for (title, names) in [
        ("Accuracy", &ACCURACY[..]),
        ("Beyond accuracy", &BEYOND[..]),
    ] {
        ui.heading(title);
        egui::Grid::new(format!("eval-{title}"))
            .striped(true)
            .show(ui, |ui| {
                ui.strong("model");
                ui.strong("protocol");
                ui.strong("K");
                for name in names {
                    ui.strong(*name);
                }
                ui.end_row();
                for report in &own.reports {
                    let cutoff = cutoff_of(report);
                    ui.label(&report.model);
                    ui.label(&report.protocol);
                    ui.label(cutoff);
                    for name in names {
                        match report.metrics.get(&format!("{name}@{cutoff}")) {
                            Some(v) if *name == "avg_popularity" => ui.label(format!("{v:.1}")),
                            Some(v) => ui.label(format!("{v:.4}")),
                            None => ui.label("–"),
                        };
                    }
                    ui.end_row();
                }
            });
        // Bars for the metrics on a 0..1 scale (average popularity is a count).
        let shown: Vec<String> = names
            .iter()
            .filter(|n| **n != "avg_popularity")
            .map(|n| format!("{n}@{k}"))
            .collect();
        let models: Vec<(String, Vec<f64>)> = own
            .reports
            .iter()
            .map(|r| {
                let label = format!("{} ({})", r.model, r.protocol);
                (
                    label,
                    shown
                        .iter()
                        .map(|m| r.metrics.get(m).copied().unwrap_or(0.0))
                        .collect(),
                )
            })
            .collect();
        plots::metric_bars(ui, &format!("bars-{title}"), &shown, &models);
        ui.add_space(8.0);
    }
}
