//! Plot helpers shared by the panels: smoothing, colours, bar charts of metrics.

use eframe::egui::{self, Color32};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};

/// Exponential moving average with weight `alpha` on the past (0 = raw, 0.99 = very smooth),
/// debiased as TensorBoard does so the curve does not start at zero.
pub fn ema(points: &[[f64; 2]], alpha: f64) -> Vec<[f64; 2]> {
    let alpha = alpha.clamp(0.0, 0.999);
    let mut average = 0.0;
    let mut weight = 0.0;
    points
        .iter()
        .map(|&[x, y]| {
            average = alpha * average + (1.0 - alpha) * y;
            weight = alpha * weight + (1.0 - alpha);
            [x, average / weight]
        })
        .collect()
}

/// A distinct colour per series index.
pub fn series_color(index: usize) -> Color32 {
    // Tableau 10: the item map colours ten genres apart.
    const PALETTE: [Color32; 10] = [
        Color32::from_rgb(31, 119, 180),
        Color32::from_rgb(255, 127, 14),
        Color32::from_rgb(44, 160, 44),
        Color32::from_rgb(214, 39, 40),
        Color32::from_rgb(148, 103, 189),
        Color32::from_rgb(140, 86, 75),
        Color32::from_rgb(227, 119, 194),
        Color32::from_rgb(127, 127, 127),
        Color32::from_rgb(188, 189, 34),
        Color32::from_rgb(23, 190, 207),
    ];
    PALETTE[index % PALETTE.len()]
}

/// A line plot of named series.
pub fn lines(
    ui: &mut egui::Ui,
    id: &str,
    height: f32,
    x_label: &str,
    series: &[(String, Vec<[f64; 2]>)],
) -> egui::Response {
    Plot::new(id)
        .height(height)
        .legend(Legend::default())
        .x_axis_label(x_label)
        .show(ui, |plot| {
            for (i, (name, points)) in series.iter().enumerate() {
                plot.line(
                    Line::new(name.clone(), PlotPoints::from(points.clone()))
                        .color(series_color(i)),
                );
            }
        })
        .response
}

/// Grouped bars: one group per label (a metric, a histogram bin), one bar per series (a model,
/// a policy).
pub fn metric_bars(
    ui: &mut egui::Ui,
    id: &str,
    metrics: &[String],
    models: &[(String, Vec<f64>)],
) -> egui::Response {
    let width = 0.8 / models.len().max(1) as f64;
    Plot::new(id)
        .height(220.0)
        .legend(Legend::default())
        .x_axis_formatter({
            let metrics = metrics.to_vec();
            move |mark, _| {
                let index = mark.value.round();
                if (mark.value - index).abs() < 1e-6 && index >= 0.0 {
                    metrics.get(index as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
        })
        .show(ui, |plot| {
            for (m, (model, values)) in models.iter().enumerate() {
                let bars = values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let offset = (m as f64 - (models.len() as f64 - 1.0) / 2.0) * width;
                        Bar::new(i as f64 + offset, v).width(width * 0.95)
                    })
                    .collect();
                plot.bar_chart(BarChart::new(model.clone(), bars).color(series_color(m)));
            }
        })
        .response
}

/// Bars stacked part on part, one bar per entry of `values` (x from 1), one colour per part.
pub fn stacked_bars<const N: usize>(
    ui: &mut egui::Ui,
    id: &str,
    x_label: &str,
    parts: &[&str; N],
    values: &[[f64; N]],
) -> egui::Response {
    Plot::new(id)
        .height(140.0)
        .legend(Legend::default())
        .x_axis_label(x_label)
        .show(ui, |plot| {
            let mut below: Vec<f64> = vec![0.0; values.len()];
            for (p, name) in parts.iter().enumerate() {
                let bars = values
                    .iter()
                    .zip(&below)
                    .enumerate()
                    .map(|(i, (v, &base))| {
                        Bar::new(i as f64 + 1.0, v[p]).base_offset(base).width(0.7)
                    })
                    .collect();
                plot.bar_chart(BarChart::new(name.to_string(), bars).color(series_color(p)));
                for (b, v) in below.iter_mut().zip(values) {
                    *b += v[p];
                }
            }
        })
        .response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_is_debiased_and_follows_by_hand_values() {
        // alpha 0.5: averages 0.5, then 0.5·0.5 + 0.5·3 = 1.75 with weights 0.5, 0.75.
        let out = ema(&[[1.0, 1.0], [2.0, 3.0]], 0.5);
        assert_eq!(out[0], [1.0, 1.0]);
        assert!((out[1][1] - 1.75 / 0.75).abs() < 1e-12);
        // alpha 0 is the raw series.
        assert_eq!(
            ema(&[[1.0, 4.0], [2.0, 9.0]], 0.0),
            vec![[1.0, 4.0], [2.0, 9.0]]
        );
    }
}
