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

/// A central panel that paints no background of its own: the window is cleared to the panel
/// colour (`Workbench::clear_color`), so it looks the same, and under a software renderer each
/// full-window fill saved is a large share of the frame time (`reclab bench gui`).
pub fn central_panel(ui: &Ui) -> egui::CentralPanel {
    egui::CentralPanel::default()
        .frame(egui::Frame::central_panel(ui.style()).fill(egui::Color32::TRANSPARENT))
}

/// A side, top or bottom panel without a background of its own, like [`central_panel`].
pub fn bare_panel(ui: &Ui, panel: egui::Panel) -> egui::Panel {
    panel.frame(egui::Frame::side_top_panel(ui.style()).fill(egui::Color32::TRANSPARENT))
}

/// A busy indicator. Unlike egui's spinner it does not ask for a new frame every frame: it
/// turns when the app repaints anyway (jobs wake the window several times a second), so a
/// running job does not keep a software renderer drawing flat out.
pub fn busy(ui: &mut Ui) -> Response {
    let size = ui.spacing().interact_size.y;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    if ui.is_rect_visible(rect) {
        let radius = rect.height() / 2.0 - 2.0;
        let start = ui.input(|i| i.time) * std::f64::consts::TAU;
        let points: Vec<egui::Pos2> = (0..=24)
            .map(|i| {
                let angle = (start + f64::from(i) / 24.0 * std::f64::consts::PI * 1.5) as f32;
                rect.center() + radius * egui::vec2(angle.cos(), angle.sin())
            })
            .collect();
        let stroke = ui.visuals().widgets.noninteractive.fg_stroke;
        ui.painter().add(egui::Shape::line(points, stroke));
    }
    response
}
