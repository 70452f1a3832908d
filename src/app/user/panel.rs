//! The User panel: one user of the dataset — their history with titles, and the opened model's
//! top-K for them with scores and, for attention models, the history items it rested on most.
//! Scoring one user takes milliseconds, so it runs here, once per change of user, model or K.

use std::sync::Arc;

use eframe::egui::{self, RichText, Ui};

use super::UserState;
use crate::app::Command;
use crate::app::context::PanelContext;
use crate::app::data::Loaded;
use crate::app::evaluation::OpenedModel;
use crate::app::evaluation::panel::model_picker_ui;
use crate::app::generative::GenerativeState;
use crate::app::generative::panel::profile_ui;
use crate::app::task::TaskKind;
use crate::app::widgets;
use crate::lm::written::explanations;
use crate::recommend::{Query, top_k_excluding};

/// The `lm` top-K shown, keyed by (user, K, the language model's address).
pub type LmView = ((usize, usize, usize), Vec<(u32, f32)>);

/// The recommendations shown, kept until the user, model or K changes.
pub struct UserView {
    key: (usize, String, usize, String),
    pub list: Vec<(u32, f32)>,
    /// (history position, weight) of the most attended history items, highest first.
    pub attended: Vec<(usize, f32)>,
    pub error: Option<String>,
}

/// `model_error`: why the last model could not be opened (the Evaluate panel's, shown here
/// too); `generative`: the profile the generative model wrote.
pub fn user_ui(
    ui: &mut Ui,
    cx: &mut PanelContext,
    own: &mut UserState,
    model_error: Option<&str>,
    generative: &GenerativeState,
) {
    model_picker_ui(ui, cx, model_error);
    ui.separator();
    let Some(loaded) = cx.data else {
        ui.label("Load a dataset first.");
        return;
    };
    let users = loaded.dataset.num_users();
    if users == 0 {
        ui.label("The dataset has no users.");
        return;
    }
    ui.horizontal(|ui| {
        widgets::number(ui, "User", &mut cx.settings.user, 0..=users - 1, 0.5);
        ui.label(format!(
            "id {}",
            loaded.dataset.user_ids[cx.settings.user.min(users - 1)]
        ));
        widgets::number(
            ui,
            "Recommendations",
            &mut cx.settings.user_top_k,
            1..=100,
            0.2,
        );
    });
    let user = cx.settings.user.min(users - 1);
    let history = loaded.dataset.sequence(user);
    let language = cx.language_for_data();
    if language.is_some() {
        ui.label(RichText::new("Profile text (what the language model is told)").strong());
        ui.label(RichText::new(crate::lm::profile_text(&loaded.dataset, history)).italics());
    }
    profile_ui(ui, cx, generative, user);
    ui.separator();
    let k = cx.settings.user_top_k;
    let lm_list = language.as_ref().map(|language| {
        let key = (user, k, Arc::as_ptr(language).addr());
        if own.lm_view.as_ref().is_none_or(|(k, _)| *k != key) {
            own.lm_view = Some((key, language.top_for_history(history, k)));
        }
        own.lm_view
            .as_ref()
            .map(|(_, list)| list.clone())
            .unwrap_or_default()
    });
    let columns = if lm_list.is_some() { 3 } else { 2 };
    ui.columns(columns, |columns| {
        let ui = &mut columns[0];
        ui.heading(format!("History ({} items, oldest first)", history.len()));
        egui::ScrollArea::vertical()
            .id_salt("history")
            .show(ui, |ui| {
                for (position, &item) in history.iter().enumerate() {
                    ui.label(format!(
                        "{:>3}. {} — {}",
                        position + 1,
                        loaded.dataset.item_label(item),
                        loaded.dataset.item_category_names(item).join(", ")
                    ));
                }
            });
        if let Some(list) = &lm_list {
            lm_column_ui(&mut columns[2], loaded, list, own.view.as_ref());
        }
        let ui = &mut columns[1];
        let Some(model) = cx.model else {
            ui.label("Open a model above to see what it recommends for this user.");
            return;
        };
        let view = refresh(&mut own.view, loaded, model, user, cx.settings.user_top_k);
        ui.heading(format!("{}: top {}", model.label, view.list.len()));
        if let Some(message) = &view.error {
            widgets::error(ui, message);
        }
        // Beside the lm's list, the genres go to the tooltip: three columns have no room.
        let genres_inline = lm_list.is_none();
        let can_explain = !cx.settings.llm_path.trim().is_empty();
        let explaining = cx.is_running(TaskKind::Explain);
        let mut explain = None;
        egui::Grid::new("recommendations")
            .striped(true)
            .show(ui, |ui| {
                ui.strong("#");
                ui.strong("item");
                if genres_inline {
                    ui.strong("genres");
                }
                ui.strong("score");
                if can_explain {
                    ui.strong("");
                }
                ui.end_row();
                for (rank, &(item, score)) in view.list.iter().enumerate() {
                    let genres = loaded.dataset.item_category_names(item).join(", ");
                    ui.label((rank + 1).to_string());
                    let title = ui.label(loaded.dataset.item_label(item));
                    if genres_inline {
                        ui.label(genres);
                    } else {
                        title.on_hover_text(genres);
                    }
                    ui.label(format!("{score:.3}"));
                    if can_explain
                        && ui
                            .add_enabled(!explaining, egui::Button::new("Why this?"))
                            .on_hover_text(
                                "The generative model explains it from the evidence shown",
                            )
                            .clicked()
                    {
                        let evidence = explanations::evidence(history, &view.attended);
                        explain = Some(Command::Explain { item, evidence });
                    }
                    ui.end_row();
                }
            });
        if let Some(command) = explain.take() {
            cx.send(command);
        }
        crate::app::generative::panel::explanation_ui(ui, cx, generative, &loaded.dataset, user);
        if !view.attended.is_empty() {
            ui.add_space(6.0);
            ui.label("Why: the model attended most to");
            for &(position, weight) in &view.attended {
                ui.label(format!(
                    "  {} (#{}, weight {weight:.2})",
                    loaded.dataset.item_label(history[position]),
                    position + 1
                ));
            }
        }
    });
}

fn refresh<'a>(
    slot: &'a mut Option<UserView>,
    loaded: &Arc<Loaded>,
    model: &OpenedModel,
    user: usize,
    k: usize,
) -> &'a UserView {
    let key = (
        user,
        model.label.clone(),
        k,
        loaded.dataset.fingerprint.clone(),
    );
    if slot.as_ref().is_some_and(|v| v.key != key) {
        *slot = None;
    }
    slot.get_or_insert_with(|| recommend(loaded, model, user, k, key))
}

fn recommend(
    loaded: &Loaded,
    opened: &OpenedModel,
    user: usize,
    k: usize,
    key: (usize, String, usize, String),
) -> UserView {
    let history = loaded.dataset.sequence(user);
    let model = opened.model.as_ref();
    let mut scores = vec![0.0f32; model.num_items() + 1];
    model.score(
        Query {
            user: Some(user as u32),
            history,
        },
        &mut scores,
    );
    let (list, error) = match top_k_excluding(&mut scores.clone(), history, &[], k) {
        Ok(items) => (
            items.into_iter().map(|i| (i, scores[i as usize])).collect(),
            None,
        ),
        Err(e) => (
            Vec::new(),
            Some(e.for_model(model.name(), Some(user as u32)).to_string()),
        ),
    };
    let attended = crate::recommend::most_attended(model, history, 3);
    UserView {
        key,
        list,
        attended,
        error,
    }
}

/// The `lm` recommender's top-K (history vector) and how much it shares with the model's.
fn lm_column_ui(ui: &mut Ui, loaded: &Loaded, list: &[(u32, f32)], model: Option<&UserView>) {
    ui.heading(format!("LM (history vector): top {}", list.len()));
    if let Some(view) = model.filter(|v| !v.list.is_empty()) {
        let shared = list
            .iter()
            .filter(|(item, _)| view.list.iter().any(|(other, _)| other == item))
            .count();
        ui.label(format!(
            "Overlap with the model's top {}: {shared} item{}",
            view.list.len(),
            if shared == 1 { "" } else { "s" }
        ));
    }
    egui::Grid::new("lm-recommendations")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("#");
            ui.strong("item");
            ui.strong("cosine");
            ui.end_row();
            for (rank, &(item, score)) in list.iter().enumerate() {
                ui.label((rank + 1).to_string());
                ui.label(loaded.dataset.item_label(item));
                ui.label(format!("{score:.3}"));
                ui.end_row();
            }
        });
}
