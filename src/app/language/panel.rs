//! The Data panel's language part: the item-text template with a live preview, the model folder
//! and the Embed task, semantic search as you type, and the item map (the item vectors' first two
//! principal components, coloured by genre, sized by popularity; hover for a title, click to
//! open an item, a user's history drawn as a path).

use eframe::egui::{self, Color32, RichText, Ui};
use egui_plot::{Line, Plot, PlotPoint, PlotPoints, Points};

use super::{Language, LanguageState, item_template};
use crate::app::Command;
use crate::app::context::PanelContext;
use crate::app::data::Loaded;
use crate::app::plots;
use crate::app::task::TaskKind;
use crate::app::widgets;
use crate::lm::Template;

/// Genres coloured on the map; the rest are grey.
const MAP_GENRES: usize = 10;

pub fn item_text_ui(ui: &mut Ui, cx: &mut PanelContext, own: &LanguageState, loaded: &Loaded) {
    let Some(mut source) = item_template(cx.settings, cx.data) else {
        return;
    };
    ui.horizontal(|ui| {
        let response = widgets::text(ui, "Item text template", &mut source).on_hover_text(format!(
            "Fields in braces: {}",
            loaded.dataset.item_field_names().join(", ")
        ));
        if response.changed() {
            cx.settings
                .item_templates
                .insert(loaded.spec.path.clone(), source.clone());
        }
        if ui.button("Default").clicked() {
            cx.settings.item_templates.remove(&loaded.spec.path);
        }
    });
    match Template::parse(&source).and_then(|t| t.check(&loaded.dataset).map(|()| t)) {
        Ok(template) => {
            for item in preview_items(loaded) {
                ui.label(
                    RichText::new(format!("  {}", template.render(&loaded.dataset, item)))
                        .italics(),
                );
            }
        }
        Err(message) => widgets::error(ui, &format!("Template: {message}")),
    }
    ui.horizontal(|ui| {
        widgets::text(ui, "Language model folder", &mut cx.settings.lm_dir).on_hover_text(
            "A Hugging Face folder (config.json, tokenizer.json, model.safetensors), e.g. \
             all-MiniLM-L6-v2; or drop the folder on the window",
        );
        if ui.button("Choose folder…").clicked() {
            cx.send(Command::PickModelFolder);
        }
    });
    ui.horizontal(|ui| {
        widgets::text(ui, "Generative model", &mut cx.settings.llm_path).on_hover_text(
            "A .gguf file or a Hugging Face folder of a Llama / Qwen-family model, e.g. \
             SmolLM2-135M-Instruct; or drop the .gguf on the window. It writes user profiles \
             (User panel).",
        );
    });
    ui.horizontal(|ui| {
        if cx.is_running(TaskKind::Embed) {
            if ui.button("Cancel").clicked() {
                cx.send(Command::CancelEmbedding);
            }
            widgets::busy(ui);
            ui.label(embed_progress_text(cx, own));
        } else if ui.button("Embed").clicked() {
            cx.send(Command::Embed);
        }
        if let Some(language) = cx.language
            && language.belongs_to(&loaded.dataset)
        {
            cache_state_ui(ui, language);
            if language.template != source
                || language.model_dir.display().to_string() != cx.settings.lm_dir.trim()
            {
                ui.label(
                    RichText::new("(template or model changed: Embed again)")
                        .color(ui.visuals().warn_fg_color),
                );
            }
        }
    });
    if let Some(language) = cx.language
        && let Some(warning) = &language.cache_warning
    {
        ui.label(RichText::new(warning).color(ui.visuals().warn_fg_color));
    }
    if let Some(message) = &own.error {
        widgets::error(ui, &format!("Language model: {message}"));
    }
}

/// The three most popular items: the ones a reader recognises. Drawn every frame, so the three
/// are selected, not the catalogue sorted.
fn preview_items(loaded: &Loaded) -> Vec<u32> {
    let mut items: Vec<u32> = (1..loaded.item_counts.len() as u32).collect();
    let popularity = |i: &u32| (std::cmp::Reverse(loaded.item_counts[*i as usize]), *i);
    let n = items.len().min(3);
    if n > 0 && n < items.len() {
        items.select_nth_unstable_by_key(n - 1, popularity);
    }
    items.truncate(n);
    items.sort_by_key(popularity);
    items
}

fn embed_progress_text(cx: &PanelContext, own: &LanguageState) -> String {
    let secs = cx.running_secs(TaskKind::Embed).unwrap_or(0.0);
    match own.progress {
        Some((done, total)) if done > 0 => {
            let rate = done as f64 / secs.max(1e-3);
            let eta = (total - done) as f64 / rate.max(1e-9);
            format!("{done}/{total} items · {rate:.0} items/s · ETA {eta:.0} s")
        }
        _ => format!("loading the model … {secs:.1} s"),
    }
}

/// Where the vectors came from; the cache file is named in full on hover.
fn cache_state_ui(ui: &mut Ui, language: &Language) {
    let shape = format!(
        "{} items × {} dims",
        language.items.len().saturating_sub(1),
        language.items.dim()
    );
    let file = language
        .cache_path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|name| name.to_string_lossy().into_owned());
    let text = match (language.from_cache, file) {
        (true, Some(file)) => format!("{shape}, read from the cache ({file})"),
        (false, Some(file)) => format!(
            "{shape}, embedded in {:.1} s, cached ({file})",
            language.seconds
        ),
        (_, None) => format!("{shape}, embedded in {:.1} s, not cached", language.seconds),
    };
    let response = ui.label(text);
    if let Some(path) = &language.cache_path {
        response.on_hover_text(path.display().to_string());
    }
}

pub fn search_ui(ui: &mut Ui, cx: &mut PanelContext, own: &mut LanguageState, loaded: &Loaded) {
    ui.horizontal(|ui| {
        let mut query = std::mem::take(&mut cx.settings.search);
        widgets::text(ui, "Semantic search", &mut query)
            .on_hover_text("Free text; the nearest items by meaning, as you type");
        own.search(&query);
        cx.settings.search = query;
        if let Some((_, ms)) = &own.searched
            && !cx.settings.search.trim().is_empty()
        {
            ui.label(format!("{ms:.1} ms"));
        }
    });
    if own.search_results.is_empty() {
        return;
    }
    let mut open = None;
    egui::Grid::new("search-results")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("item");
            ui.strong("genres");
            ui.strong("similarity");
            ui.end_row();
            for &(item, similarity) in &own.search_results {
                if ui.link(loaded.dataset.item_label(item)).clicked() {
                    open = Some(item);
                }
                ui.label(loaded.dataset.item_category_names(item).join(", "));
                ui.label(format!("{similarity:.3}"));
                ui.end_row();
            }
        });
    if let Some(item) = open {
        cx.send(Command::SelectItem(item));
    }
}

/// The genres coloured on the map: the most frequent ones.
fn map_genres(loaded: &Loaded) -> Vec<u32> {
    let dataset = &loaded.dataset;
    let mut counts = vec![0usize; dataset.category_names.len()];
    for item in dataset.items.iter().skip(1) {
        if let Some(&g) = item.categories.first() {
            counts[g as usize] += 1;
        }
    }
    let mut genres: Vec<u32> = (0..counts.len() as u32).collect();
    genres.sort_by_key(|&g| std::cmp::Reverse(counts[g as usize]));
    genres.truncate(MAP_GENRES);
    genres
}

pub fn map_ui(
    ui: &mut Ui,
    cx: &mut PanelContext,
    own: &LanguageState,
    loaded: &Loaded,
    language: &Language,
) {
    let dataset = &loaded.dataset;
    let user = cx.settings.user.min(dataset.num_users().saturating_sub(1));
    ui.horizontal(|ui| {
        ui.label(RichText::new("Item map").strong());
        ui.label("(first two principal components of the item vectors)");
        ui.checkbox(
            &mut cx.settings.map_history,
            format!("Show user {user}'s history as a path"),
        );
    });
    let genres = map_genres(loaded);
    let max_count = f64::from(loaded.item_counts.iter().copied().max().unwrap_or(1).max(1)).ln_1p();
    // One series per (genre, size class): egui_plot sizes a whole series at once.
    let mut legend: Vec<(String, Color32)> = genres
        .iter()
        .enumerate()
        .map(|(i, &g)| {
            (
                dataset.category_names[g as usize].clone(),
                plots::series_color(i),
            )
        })
        .collect();
    // Darker than the palette's grey, which a genre may have.
    legend.push(("other".to_string(), Color32::from_gray(70)));
    // One series per (genre, size class): egui_plot sizes a whole series at once.
    let mut series: Vec<(String, Color32, f32, Vec<[f64; 2]>)> = Vec::new();
    for (name, color) in legend {
        for size in 0..3 {
            series.push((name.clone(), color, 1.5 + 1.5 * size as f32, Vec::new()));
        }
    }
    for item in 1..language.items.len() {
        let first = dataset.items[item].categories.first().copied();
        let slot = first
            .and_then(|g| genres.iter().position(|&m| m == g))
            .unwrap_or(genres.len());
        let popularity = f64::from(loaded.item_counts.get(item).copied().unwrap_or(0)).ln_1p();
        let size = ((popularity / max_count) * 3.0).floor().clamp(0.0, 2.0) as usize;
        let [x, y] = language.map[item - 1];
        series[slot * 3 + size].3.push([f64::from(x), f64::from(y)]);
    }
    let history: Vec<[f64; 2]> = if cx.settings.map_history && dataset.num_users() > 0 {
        dataset
            .sequence(user)
            .iter()
            .map(|&i| {
                let [x, y] = language.map[i as usize - 1];
                [f64::from(x), f64::from(y)]
            })
            .collect()
    } else {
        Vec::new()
    };
    let selected = own.selected_item;
    let response = Plot::new("item-map")
        .height(360.0)
        .data_aspect(1.0)
        .legend(egui_plot::Legend::default())
        .show_x(false)
        .show_y(false)
        .show(ui, |plot| {
            for (name, color, radius, points) in series {
                if !points.is_empty() {
                    plot.points(
                        Points::new(name, PlotPoints::from(points))
                            .color(color)
                            .radius(radius),
                    );
                }
            }
            if !history.is_empty() {
                plot.line(
                    Line::new("history", PlotPoints::from(history))
                        .color(Color32::WHITE)
                        .width(1.0),
                );
            }
            if let Some(item) = selected
                && let Some(&[x, y]) = language.map.get(item as usize - 1)
            {
                plot.points(
                    Points::new("selected", vec![[f64::from(x), f64::from(y)]])
                        .color(Color32::YELLOW)
                        .radius(7.0)
                        .filled(false),
                );
            }
        });
    let hovered = response
        .response
        .hover_pos()
        .and_then(|pointer| nearest_on_screen(language, &response.transform, pointer));
    if let Some(item) = hovered {
        let clicked = response.response.clicked();
        response.response.on_hover_text(format!(
            "{}\n{}\n{} interactions",
            dataset.item_label(item),
            dataset.item_category_names(item).join(", "),
            loaded.item_counts.get(item as usize).copied().unwrap_or(0)
        ));
        if clicked {
            cx.send(Command::SelectItem(item));
        }
    }
}

/// The item drawn nearest to `pointer`, within 8 points.
fn nearest_on_screen(
    language: &Language,
    transform: &egui_plot::PlotTransform,
    pointer: egui::Pos2,
) -> Option<u32> {
    language
        .map
        .iter()
        .enumerate()
        .map(|(i, &[x, y])| {
            let at = transform.position_from_point(&PlotPoint::new(x, y));
            (i as u32 + 1, at.distance(pointer))
        })
        .filter(|&(_, d)| d <= 8.0)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(item, _)| item)
}

/// The item opened from the map or the search: its text, genres, popularity and neighbours.
pub fn selected_item_ui(ui: &mut Ui, own: &LanguageState, loaded: &Loaded, language: &Language) {
    let Some(item) = own
        .selected_item
        .filter(|&i| (i as usize) < language.items.len())
    else {
        return;
    };
    let dataset = &loaded.dataset;
    ui.label(RichText::new(dataset.item_label(item)).heading());
    ui.label(format!(
        "id {} · {} · {} interactions",
        dataset.items[item as usize].id,
        dataset.item_category_names(item).join(", "),
        loaded.item_counts.get(item as usize).copied().unwrap_or(0)
    ));
    ui.label(format!("Text: {}", language.texts[item as usize]));
    let neighbours = super::catalogue::top(
        &language.similarities(language.items.row(item as usize)),
        5,
        &[item],
    );
    ui.label("Nearest by meaning:");
    for (other, similarity) in neighbours {
        ui.label(format!("  {} ({similarity:.3})", dataset.item_label(other)));
    }
}
