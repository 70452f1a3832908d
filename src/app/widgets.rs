//! Small input widgets that always carry an accessible name: a visible label on the left, bound
//! to the widget with `labelled_by`, so screen readers and kittest find every input by its name.

use eframe::egui::{self, DragValue, Response, Ui};

/// A labelled number field.
pub fn number<T: egui::emath::Numeric>(
    ui: &mut Ui,
    label: &str,
    value: &mut T,
    range: std::ops::RangeInclusive<T>,
    speed: f64,
) -> Response {
    ui.horizontal(|ui| {
        let name = ui.label(label);
        ui.add(DragValue::new(value).range(range).speed(speed))
            .labelled_by(name.id)
    })
    .inner
}

/// A labelled choice among `options`, shown by `name`.
pub fn choice<T: PartialEq + Copy>(
    ui: &mut Ui,
    label: &str,
    value: &mut T,
    options: &[T],
    name: impl Fn(T) -> String,
) -> Response {
    let mut changed = false;
    let response = egui::ComboBox::from_label(label)
        .selected_text(name(*value))
        .show_ui(ui, |ui| {
            for &option in options {
                changed |= ui.selectable_value(value, option, name(option)).changed();
            }
        })
        .response;
    if changed {
        ui.ctx().request_repaint();
    }
    response
}

/// A labelled single-line text field.
pub fn text(ui: &mut Ui, label: &str, value: &mut String) -> Response {
    ui.horizontal(|ui| {
        let name = ui.label(label);
        ui.text_edit_singleline(value).labelled_by(name.id)
    })
    .inner
}

/// An error shown in the panel, in the theme's error colour, selectable so it can be copied.
pub fn error(ui: &mut Ui, message: &str) {
    let color = ui.visuals().error_fg_color;
    ui.add(egui::Label::new(egui::RichText::new(message).color(color)).selectable(true));
}
