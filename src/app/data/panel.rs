//! The Data panel: choose a dataset (dialog, drop, typed path, the synthetic world), its format
//! and preprocessing; see its statistics, plots and items.

use eframe::egui::{self, Ui};
use egui_plot::{Bar, BarChart, Line, Plot, PlotPoints};

use super::{DataState, Loaded};
use crate::app::Command;
use crate::app::context::PanelContext;
use crate::app::language::{LanguageState, panel as language};
use crate::app::task::TaskKind;
use crate::app::widgets;
use crate::data::{Format, LoadSpec};

/// `language`: the language concern's state, whose part of this panel is drawn here too.
pub fn data_ui(ui: &mut Ui, cx: &mut PanelContext, own: &DataState, language: &mut LanguageState) {
    source_ui(ui, cx, own);
    ui.separator();
    if let Some(message) = &own.error {
        widgets::error(ui, &format!("Could not load the dataset: {message}"));
        ui.separator();
    }
    match cx.data {
        Some(loaded) => {
            egui::ScrollArea::vertical().show(ui, |ui| {
                language_ui(ui, cx, language, loaded);
                stats_ui(ui, loaded);
            });
        }
        None if cx.is_running(TaskKind::Load) => {
            ui.label("Loading …");
        }
        None => {
            ui.label("No dataset loaded. Open one, drop a file or folder on the window, or load the synthetic world.");
        }
    };
}

/// Item text, the language model, and — once the catalogue is embedded — search and the map.
fn language_ui(ui: &mut Ui, cx: &mut PanelContext, own: &mut LanguageState, loaded: &Loaded) {
    egui::CollapsingHeader::new("Item text and language model")
        .default_open(true)
        .show(ui, |ui| {
            language::item_text_ui(ui, cx, own, loaded);
            let Some(lm) = cx.language_for_data() else {
                return;
            };
            ui.separator();
            ui.columns(2, |columns| {
                language::search_ui(&mut columns[0], cx, own, loaded);
                language::selected_item_ui(&mut columns[0], own, loaded, lm);
                language::map_ui(&mut columns[1], cx, own, loaded, lm);
            });
        });
    ui.separator();
}

fn source_ui(ui: &mut Ui, cx: &mut PanelContext, own: &DataState) {
    let draft = &mut cx.settings.dataset_draft;
    ui.horizontal(|ui| {
        widgets::text(ui, "Dataset path", &mut draft.path)
            .on_hover_text("A folder, any file of a dataset's set, or `synthetic`");
    });
    let mut send = Vec::new();
    ui.horizontal(|ui| {
        if ui.button("Open file…").on_hover_text("Ctrl+O").clicked() {
            send.push(Command::PickDataset { folder: false });
        }
        if ui.button("Open folder…").clicked() {
            send.push(Command::PickDataset { folder: true });
        }
        if ui.button("Synthetic world").clicked() {
            draft.path = crate::data::SYNTHETIC.to_string();
            draft.format = None;
            send.push(Command::LoadDataset(Box::new(draft.clone())));
        }
        let mut formats: Vec<Option<Format>> = vec![None];
        formats.extend(Format::ALL.into_iter().map(Some));
        widgets::choice(ui, "Format", &mut draft.format, &formats, |f| match f {
            None => "detect".to_string(),
            Some(f) => f.to_string(),
        });
    });
    egui::CollapsingHeader::new("Preprocessing")
        .default_open(false)
        .show(ui, |ui| preprocessing_ui(ui, draft));
    ui.horizontal(|ui| {
        let loading = cx.running_secs(TaskKind::Load);
        if ui
            .add_enabled(loading.is_none(), egui::Button::new("Load"))
            .clicked()
        {
            send.push(Command::LoadDataset(Box::new(
                cx.settings.dataset_draft.clone(),
            )));
        }
        if let Some(secs) = loading {
            widgets::busy(ui);
            ui.label(format!(
                "loading {} … {secs:.1} s",
                own.loading_path.as_deref().unwrap_or_default()
            ));
        }
    });
    for command in send {
        cx.send(command);
    }
}

fn preprocessing_ui(ui: &mut Ui, spec: &mut LoadSpec) {
    let pre = &mut spec.preprocessing;
    ui.horizontal(|ui| {
        let mut threshold = pre.min_rating.is_some();
        ui.checkbox(&mut threshold, "Keep ratings of at least");
        let mut value = pre.min_rating.unwrap_or(4.0);
        widgets::number(ui, "minimum rating", &mut value, 0.0..=10.0, 0.5);
        pre.min_rating = threshold.then_some(value);
    });
    ui.checkbox(
        &mut pre.dedup,
        "Keep only each user's first interaction with an item",
    );
    ui.horizontal(|ui| {
        let mut cap = pre.max_seq_len.is_some();
        ui.checkbox(&mut cap, "Cap sequences");
        let mut value = pre.max_seq_len.unwrap_or(200);
        widgets::number(ui, "latest interactions kept", &mut value, 1..=100_000, 1.0);
        pre.max_seq_len = cap.then_some(value);
    });
    ui.horizontal(|ui| {
        widgets::number(
            ui,
            "k-core: interactions per user",
            &mut pre.min_user_interactions,
            0..=1000,
            0.2,
        );
        widgets::number(
            ui,
            "per item",
            &mut pre.min_item_interactions,
            0..=1000,
            0.2,
        );
    });
}

fn stats_ui(ui: &mut Ui, loaded: &Loaded) {
    let stats = &loaded.stats;
    ui.heading(format!("{} ({})", stats.name, stats.format));
    egui::Grid::new("dataset-stats")
        .striped(true)
        .show(ui, |ui| {
            let rows = [
                ("Users", stats.users.to_string()),
                ("Items", stats.items.to_string()),
                ("Interactions", stats.interactions.to_string()),
                ("Density", format!("{:.4}%", stats.density * 100.0)),
                (
                    "Sequence length",
                    format!(
                        "mean {:.1}, median {:.0}, min {}, max {}",
                        stats.avg_seq_len,
                        stats.median_seq_len,
                        stats.min_seq_len,
                        stats.max_seq_len
                    ),
                ),
                ("Item Gini", format!("{:.3}", stats.item_gini)),
                (
                    "Top 20% items' share",
                    format!("{:.1}%", stats.top20_item_share * 100.0),
                ),
                ("Categories", stats.categories.to_string()),
            ];
            for (name, value) in rows {
                ui.label(name);
                ui.label(value);
                ui.end_row();
            }
        });
    ui.add_space(8.0);
    let width = (ui.available_width() / 3.0 - 8.0).max(160.0);
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            ui.label("Item popularity (long tail)");
            let points: Vec<[f64; 2]> = stats
                .item_popularity
                .iter()
                .enumerate()
                .map(|(rank, &count)| [rank as f64 + 1.0, f64::from(count)])
                .collect();
            Plot::new("popularity")
                .width(width)
                .height(200.0)
                .x_axis_label("item rank")
                .y_axis_label("interactions")
                .show(ui, |plot| {
                    plot.line(Line::new("interactions", PlotPoints::from(points)))
                });
        });
        ui.vertical(|ui| {
            ui.label("Sequence lengths");
            let h = &stats.seq_len_histogram;
            let bars = h
                .counts
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    Bar::new(h.start + (i as f64 + 0.5) * h.bin_width, c as f64)
                        .width(h.bin_width * 0.9)
                })
                .collect();
            Plot::new("seq-lengths")
                .width(width)
                .height(200.0)
                .x_axis_label("length")
                .y_axis_label("users")
                .show(ui, |plot| plot.bar_chart(BarChart::new("users", bars)));
        });
        ui.vertical(|ui| {
            ui.label("Interactions over time");
            let h = &stats.interactions_over_time;
            let days = if loaded.dataset.has_timestamps {
                86_400.0
            } else {
                1.0
            };
            let points: Vec<[f64; 2]> = h
                .counts
                .iter()
                .enumerate()
                .map(|(i, &c)| [(h.start + (i as f64 + 0.5) * h.bin_width) / days, c as f64])
                .collect();
            let x_label = if loaded.dataset.has_timestamps {
                "days since 1970"
            } else {
                "position in file"
            };
            Plot::new("over-time")
                .width(width)
                .height(200.0)
                .x_axis_label(x_label)
                .y_axis_label("interactions")
                .show(ui, |plot| {
                    plot.line(Line::new("interactions", PlotPoints::from(points)))
                });
        });
    });
    ui.add_space(8.0);
    item_table_ui(ui, loaded);
}

fn item_table_ui(ui: &mut Ui, loaded: &Loaded) {
    let dataset = &loaded.dataset;
    ui.label(format!("Items ({})", dataset.num_items()));
    let counts = &loaded.item_counts;
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    egui::ScrollArea::vertical()
        .id_salt("items")
        .max_height(260.0)
        .show_rows(ui, row_height, dataset.num_items(), |ui, rows| {
            egui::Grid::new("item-table")
                .striped(true)
                .num_columns(4)
                .show(ui, |ui| {
                    for row in rows {
                        let item = row as u32 + 1;
                        ui.label(dataset.items[item as usize].id.as_str());
                        ui.label(dataset.item_label(item));
                        ui.label(dataset.item_category_names(item).join(", "));
                        ui.label(counts.get(item as usize).copied().unwrap_or(0).to_string());
                        ui.end_row();
                    }
                });
        });
}
