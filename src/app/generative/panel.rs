//! The generative model's part of the User panel: the profile prompt, *Write profile*, and the
//! profile as it streams in.

use eframe::egui::{self, RichText, Ui};

use super::GenerativeState;
use crate::app::Command;
use crate::app::context::PanelContext;
use crate::app::task::TaskKind;
use crate::app::widgets;

/// The written profile of `user`, and the controls that write it.
pub fn profile_ui(ui: &mut Ui, cx: &mut PanelContext, own: &GenerativeState, user: usize) {
    ui.label(RichText::new("Profile written by the generative model").strong());
    if cx.settings.llm_path.trim().is_empty() {
        ui.label("Choose a generative model (a .gguf file or a folder) in the Data panel, or drop a .gguf on the window.");
        return;
    }
    egui::CollapsingHeader::new("Profile prompt")
        .default_open(false)
        .show(ui, |ui| {
            let name = ui.label("{history} marks the user's recent items, newest first");
            ui.add(
                egui::TextEdit::multiline(&mut cx.settings.profile_prompt)
                    .desired_rows(4)
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(name.id);
        });
    let writing = cx.is_running(TaskKind::Profile);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!writing, egui::Button::new("Write profile"))
            .on_hover_text(
                "Newest items first, as many as fit; cached per model, prompt and history",
            )
            .clicked()
        {
            cx.send(Command::WriteProfile);
        }
        if writing {
            if ui.button("Cancel").clicked() {
                cx.send(Command::CancelProfile);
            }
            widgets::busy(ui);
            if let Some(secs) = cx.running_secs(TaskKind::Profile) {
                ui.label(format!("writing … {secs:.1} s"));
            }
        }
    });
    if let Some(message) = &own.error {
        widgets::error(ui, &format!("Generative model: {message}"));
    }
    let Some(profile) = own.profile.as_ref().filter(|p| p.user == user) else {
        return;
    };
    ui.label(RichText::new(&profile.text).italics());
    if profile.done && own.error.is_none() {
        let source = if profile.from_cache {
            "from the cache".to_string()
        } else {
            format!("written in {:.1} s", profile.secs)
        };
        ui.label(RichText::new(source).weak());
    }
}

/// The last explanation written for this user: the item, the evidence the model was given, and
/// what it wrote (streaming in while it is written).
pub fn explanation_ui(
    ui: &mut Ui,
    cx: &mut PanelContext,
    generative: &GenerativeState,
    dataset: &crate::data::Dataset,
    user: usize,
) {
    let Some(explanation) = generative.explanation.as_ref().filter(|e| e.user == user) else {
        return;
    };
    ui.add_space(6.0);
    ui.label(RichText::new(format!("Why {}?", dataset.item_label(explanation.item))).strong());
    ui.label("Evidence given to the generative model:");
    for &item in &explanation.evidence {
        ui.label(format!(
            "  {}",
            crate::lm::written::profiles::history_line(dataset, item)
        ));
    }
    written_ui(
        ui,
        cx,
        &explanation.written,
        generative,
        Command::CancelExplanation,
    );
}

/// The generative route of "Tell the storefront": the item description streaming in while it
/// is written, then what it took.
pub fn description_ui(ui: &mut Ui, cx: &mut PanelContext, generative: &GenerativeState) {
    let Some(described) = &generative.described else {
        return;
    };
    let written = &described.written;
    ui.label(format!(
        "The generative model describes what “{}” asks for:",
        described.comment
    ));
    written_ui(ui, cx, written, generative, Command::CancelDescription);
}

/// A text the model writes: streaming in with a busy mark and `cancel` while it is written,
/// then where it came from (the cache, or how long writing took).
fn written_ui(
    ui: &mut Ui,
    cx: &mut PanelContext,
    written: &super::WrittenText,
    generative: &GenerativeState,
    cancel: Command,
) {
    ui.label(RichText::new(&written.text).italics());
    if !written.done {
        ui.horizontal(|ui| {
            widgets::busy(ui);
            if ui.button("Cancel").clicked() {
                cx.send(cancel);
            }
        });
    } else if generative.error.is_none() {
        let source = if written.from_cache {
            "from the cache".to_string()
        } else {
            format!("written in {:.1} s", written.secs)
        };
        ui.label(RichText::new(source).weak());
    }
}
