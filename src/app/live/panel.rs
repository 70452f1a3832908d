//! The Live preview panel: a simulated user's storefront re-ranked after every page, the
//! adaptive policy on the left and the static one (or a second policy) on the right; live CTR,
//! dwell and latency plots, the user's hidden taste against the model's belief, and an A/B run.

use eframe::egui::{self, Color32, RichText, Ui};

use super::LiveState;
use super::preview::{Preview, PreviewSide};
use crate::app::Command;
use crate::app::context::PanelContext;
use crate::app::evaluation::panel::model_picker_ui;
use crate::app::generative::GenerativeState;
use crate::app::generative::panel::{description_ui, explanation_ui};
use crate::app::plots;
use crate::app::task::TaskKind;
use crate::app::widgets;
use crate::sim::PolicyKind;

const POLICIES: [PolicyKind; 6] = [
    PolicyKind::Static,
    PolicyKind::Greedy,
    PolicyKind::Mmr { lambda: 0.7 },
    PolicyKind::Bandit { epsilon: 0.1 },
    PolicyKind::Thompson,
    PolicyKind::Learned,
];

/// `model_error`: why the last model could not be opened (the Evaluate panel's, shown here too).
pub fn live_ui(
    ui: &mut Ui,
    cx: &mut PanelContext,
    own: &LiveState,
    model_error: Option<&str>,
    generative: &GenerativeState,
) {
    // Any run's model (Transformer or baseline); Pop when none is open.
    model_picker_ui(ui, cx, model_error);
    controls_ui(ui, cx, own);
    learned_ui(ui, cx, own);
    language_ui(ui, cx, own);
    if cx.settings.request_llm {
        description_ui(ui, cx, generative);
    }
    if let Some(message) = &generative.error {
        widgets::error(ui, message);
    }
    if let Some(message) = &own.error {
        widgets::error(ui, message);
    }
    let Some(preview) = &own.preview else {
        ui.label("Press Reset to start a simulated user's session with the opened model (or Pop when none is open).");
        return;
    };
    egui::ScrollArea::vertical().show(ui, |ui| {
        why_this_ui(ui, cx, preview, generative);
        ui.columns(2, |columns| {
            for (side, ui) in preview.sides.iter().zip(columns.iter_mut()) {
                storefront_ui(ui, preview, side);
            }
        });
        ui.separator();
        charts_ui(ui, preview);
        if let Some(report) = &own.ab_report {
            ab_table_ui(ui, report);
        }
    });
}

fn controls_ui(ui: &mut Ui, cx: &mut PanelContext, own: &LiveState) {
    ui.horizontal_wrapped(|ui| {
        let users = cx.data.map_or(1, |d| d.dataset.num_users().max(1));
        widgets::number(
            ui,
            "Simulated user like dataset user",
            &mut cx.settings.user,
            0..=users - 1,
            0.5,
        );
        let [left, right] = &mut cx.settings.preview_policies;
        widgets::choice(ui, "Left policy", left, &POLICIES, |p| p.name());
        widgets::choice(ui, "Right policy", right, &POLICIES, |p| p.name());
        if ui.button("Reset").clicked() {
            cx.send(Command::PreviewReset);
        }
        if ui.button("Random user").clicked() {
            // A cheap, well-spread pick; reproducibility comes from the seed of the session.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos() as usize);
            cx.settings.user = nanos % users;
            cx.send(Command::PreviewReset);
        }
        let ready = own.preview.is_some();
        if own.playing {
            if ui.button("Pause").clicked() {
                cx.send(Command::PreviewPlay(false));
            }
        } else if ui.add_enabled(ready, egui::Button::new("Play")).clicked() {
            cx.send(Command::PreviewPlay(true));
        }
        if ui
            .add_enabled(ready && !own.playing, egui::Button::new("Step"))
            .clicked()
        {
            cx.send(Command::PreviewStep);
        }
        ui.add(
            egui::Slider::new(&mut cx.settings.preview_speed, 0.5..=20.0)
                .logarithmic(true)
                .text("pages per second"),
        );
    });
    ui.horizontal(|ui| {
        widgets::number(
            ui,
            "A/B users",
            &mut cx.settings.ab_users,
            10..=100_000,
            10.0,
        );
        let running = cx.is_running(TaskKind::Ab);
        if ui
            .add_enabled(!running && cx.data.is_some(), egui::Button::new("Run A/B"))
            .clicked()
        {
            cx.send(Command::RunAb);
        }
        if running {
            widgets::busy(ui);
            ui.label("simulating …");
        }
        if let Some(preview) = &own.preview {
            ui.label(format!("model: {}", preview.model.name()));
        }
    });
}

/// The learned policy (`rl`): train one over the preview's model, or open a saved one; its
/// learning curve against the greedy page on held-out users.
fn learned_ui(ui: &mut Ui, cx: &mut PanelContext, own: &LiveState) {
    let running = cx.is_running(TaskKind::Rl);
    ui.horizontal_wrapped(|ui| {
        ui.label("Learned policy (rl):");
        match &own.learned {
            Some(learned) => ui.label(RichText::new(learned.label()).strong()),
            None => ui.label(RichText::new("none").weak()),
        };
        widgets::number(ui, "episodes", &mut cx.settings.rl_episodes, 50..=100_000, 10.0);
        if running {
            if ui.button("Stop").clicked() {
                cx.send(Command::StopLearnedPolicy);
            }
            widgets::busy(ui);
        } else if ui
            .add_enabled(cx.data.is_some(), egui::Button::new("Train policy"))
            .on_hover_text("Q-learning over the model's candidates on the training half of the simulated users (the model opened above, or Pop)")
            .clicked()
        {
            cx.send(Command::TrainLearnedPolicy);
        }
        let saved: Vec<&crate::runs::ListedRun> = cx
            .runs
            .iter()
            .filter(|r| {
                r.run
                    .as_ref()
                    .is_ok_and(|run| run.model.config.get("rl").is_some())
            })
            .collect();
        let mut picked = None;
        egui::ComboBox::from_label("saved policies")
            .selected_text("open …")
            .show_ui(ui, |ui| {
                if saved.is_empty() {
                    ui.label("no learned policy in the runs folder");
                }
                for run in &saved {
                    let name = run
                        .dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if ui.selectable_label(false, name).clicked() {
                        picked = Some(run.dir.clone());
                    }
                }
            });
        if let Some(dir) = picked {
            cx.send(Command::OpenLearnedPolicy(dir));
        }
    });
    let Some(curve) = &own.learning else {
        return;
    };
    if curve.returns.is_empty() {
        return;
    }
    ui.label(format!(
        "Return per session while learning ({} of {} episodes; smoothed over 50) and on held-out users: the learned policy against the greedy page",
        curve.returns.len(),
        curve.episodes
    ));
    let learned: Vec<[f64; 2]> = curve
        .evaluations
        .iter()
        .map(|&(e, l, _)| [e as f64, l])
        .collect();
    let greedy: Vec<[f64; 2]> = curve
        .evaluations
        .iter()
        .map(|&(e, _, g)| [e as f64, g])
        .collect();
    plots::lines(
        ui,
        "rl-learning",
        140.0,
        "episode",
        &[
            ("training (exploring)".to_string(), curve.smoothed(50)),
            ("rl, held-out".to_string(), learned),
            ("greedy, held-out".to_string(), greedy),
        ],
    );
}

/// "Tell the storefront" and the persona: words that drive the page and the simulated person.
fn language_ui(ui: &mut Ui, cx: &mut PanelContext, own: &LiveState) {
    let ready = cx.language_for_data().is_some();
    ui.add_enabled_ui(ready, |ui| {
        ui.horizontal(|ui| {
            let response = widgets::text(ui, "Tell the storefront", &mut cx.settings.request)
                .on_hover_text(
                    "What the simulated person says they want, e.g. “something light and \
                     funny”; Enter re-ranks the adaptive page. Empty clears it.",
                );
            let entered = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let slider = ui.add(
                egui::Slider::new(&mut cx.settings.request_weight, 0.0..=1.0)
                    .text("weight of the words"),
            );
            let has_llm = !cx.settings.llm_path.trim().is_empty();
            ui.add_enabled(
                has_llm,
                egui::Checkbox::new(&mut cx.settings.request_llm, "describe it first"),
            )
            .on_hover_text(
                "The generative model first writes the description of an item that would \
                 satisfy the words, and that description is embedded instead of the words \
                 (hypothetical-document retrieval)",
            )
            .on_disabled_hover_text("Choose a generative model in the Data panel first");
            cx.settings.request_llm &= has_llm;
            let describing = cx.is_running(TaskKind::Describe);
            let asked = ui
                .add_enabled(!describing, egui::Button::new("Ask"))
                .clicked();
            if asked || (!describing && (entered || slider.drag_stopped())) {
                cx.send(Command::PreviewAsk);
            }
        });
        ui.horizontal(|ui| {
            let response = widgets::text(ui, "Persona", &mut cx.settings.persona).on_hover_text(
                "Describe the simulated person (“a teenager who loves horror and sci-fi”): \
                 the words set their hidden taste over the genres",
            );
            let entered = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Set persona").clicked() || entered {
                cx.send(Command::PreviewPersona);
            }
            if let Some(preview) = &own.preview {
                if let Some(t) = preview.last_request {
                    let writing = if t.write_secs > 0.0 {
                        format!("writing {:.0} ms + ", t.write_secs * 1000.0)
                    } else {
                        String::new()
                    };
                    ui.label(format!(
                        "last request: {writing}embedding {:.1} ms + re-rank {:.2} ms",
                        t.embed_secs * 1000.0,
                        t.rerank_secs * 1000.0
                    ));
                }
                if let Some(persona) = &preview.persona {
                    ui.label(format!("persona: {persona}"));
                }
            }
        });
    })
    .response
    .on_disabled_hover_text("Embed the catalogue with a language model in the Data panel first");
}

/// *Why this?* for the adaptive page's first card: the generative model explains it from the
/// history items the model attended to most (else the newest), shown with what it wrote.
fn why_this_ui(
    ui: &mut Ui,
    cx: &mut PanelContext,
    preview: &Preview,
    generative: &GenerativeState,
) {
    let side = &preview.sides[0];
    let Some(step) = &side.last else {
        return;
    };
    let first = step
        .page
        .hero
        .or_else(|| step.page.rows.iter().find_map(|r| r.items.first().copied()));
    let Some(item) = first else {
        return;
    };
    ui.horizontal(|ui| {
        let has_llm = !cx.settings.llm_path.trim().is_empty();
        let explaining = cx.is_running(TaskKind::Explain);
        let clicked = ui
            .add_enabled(has_llm && !explaining, egui::Button::new("Why this?"))
            .on_hover_text("Have the generative model explain the adaptive page's first card")
            .on_disabled_hover_text("Choose a generative model in the Data panel first")
            .clicked();
        ui.label(format!(
            "first card: {}",
            preview.world.titles[item as usize]
        ));
        if clicked {
            let evidence: Vec<u32> = if side.attended.is_empty() {
                side.history().iter().rev().take(3).copied().collect()
            } else {
                side.attended.iter().take(3).map(|&(i, _)| i).collect()
            };
            cx.send(Command::Explain { item, evidence });
        }
    });
    if let Some(data) = cx.data {
        let user = cx
            .settings
            .user
            .min(data.dataset.num_users().saturating_sub(1));
        explanation_ui(ui, cx, generative, &data.dataset, user);
    }
}

/// A stable colour per genre.
fn genre_color(genre: u32) -> Color32 {
    plots::series_color(genre as usize).gamma_multiply(0.55)
}

fn card_ui(
    ui: &mut Ui,
    preview: &Preview,
    side: &PreviewSide,
    item: u32,
    size: egui::Vec2,
    clicked: bool,
) {
    let world = &preview.world;
    let genres = &world.genres[item as usize];
    let fill = genres
        .first()
        .map_or(Color32::DARK_GRAY, |&g| genre_color(g));
    let stroke = if clicked {
        egui::Stroke::new(3.0, Color32::YELLOW)
    } else {
        egui::Stroke::new(1.0, Color32::from_gray(90))
    };
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    // A clipped painter: long titles are cut at the card's edge instead of spilling over.
    let painter = ui.painter_at(rect);
    painter.rect(rect, 6.0, fill, stroke, egui::StrokeKind::Inside);
    let inner = rect.shrink(5.0);
    let title_size = if size.y > 60.0 { 16.0 } else { 12.5 };
    painter.text(
        inner.left_top(),
        egui::Align2::LEFT_TOP,
        &world.titles[item as usize],
        egui::FontId::proportional(title_size),
        Color32::WHITE,
    );
    let names: Vec<&str> = genres
        .iter()
        .filter_map(|&g| world.genre_names.get(g as usize).map(String::as_str))
        .collect();
    painter.text(
        inner.left_top() + egui::vec2(0.0, title_size + 4.0),
        egui::Align2::LEFT_TOP,
        names.join(" · "),
        egui::FontId::proportional(10.5),
        Color32::from_gray(225),
    );
    if clicked {
        let id = egui::Id::unique((
            "click-flash",
            std::ptr::from_ref(side).addr(),
            side.pages,
            item,
        ));
        let strength = flash(ui, id);
        if strength > 0.0 {
            painter.rect_filled(rect, 6.0, Color32::YELLOW.gamma_multiply(0.7 * strength));
        }
        painter.text(
            inner.left_bottom(),
            egui::Align2::LEFT_BOTTOM,
            "clicked",
            egui::FontId::proportional(11.0),
            Color32::YELLOW,
        );
    }
    let score = side.scores.get(item as usize).copied().unwrap_or(f32::NAN);
    let because: Vec<String> = side
        .attended
        .iter()
        .map(|(i, w)| format!("{} ({w:.2})", world.titles[*i as usize]))
        .collect();
    let mut why = if because.is_empty() {
        String::new()
    } else {
        format!("\nbecause you watched: {}", because.join(", "))
    };
    if let Some(request) = side.request() {
        let similarity = request
            .similarity
            .get(item as usize)
            .copied()
            .unwrap_or(0.0);
        why.push_str(&format!(
            "\nyou asked for “{}”: similarity {similarity:.2}",
            request.text
        ));
        if let Some((word, s)) = request.best_word(item) {
            why.push_str(&format!(" (closest word “{word}”, {s:.2})"));
        }
    }
    response.on_hover_text(format!(
        "{}\nscore {score:.3}{why}",
        world.titles[item as usize]
    ));
}

/// How long a clicked card flashes.
const FLASH_SECS: f64 = 0.8;

/// How strongly the card `id` still flashes: 1 the first time it is drawn, fading to 0 over
/// [`FLASH_SECS`]; asks for frames while it fades.
fn flash(ui: &Ui, id: egui::Id) -> f32 {
    let now = ui.input(|i| i.time);
    let start = ui
        .ctx()
        .data_mut(|d| *d.get_temp_mut_or_insert_with(id, || now));
    let left = 1.0 - (now - start) / FLASH_SECS;
    if left > 0.0 {
        ui.ctx().request_repaint();
    }
    left.clamp(0.0, 1.0) as f32
}

fn storefront_ui(ui: &mut Ui, preview: &Preview, side: &PreviewSide) {
    ui.heading(format!(
        "{} · page {} · CTR {:.2}{}",
        side.policy.name(),
        side.pages,
        side.clicks as f64 / side.pages.max(1) as f64,
        if side.is_over() { " · user left" } else { "" }
    ));
    let Some(step) = &side.last else {
        ui.label("Press Step or Play.");
        return;
    };
    let clicked = step.choice.clicked;
    let spacing = ui.spacing().item_spacing.x;
    let cards = step
        .page
        .rows
        .iter()
        .map(|r| r.items.len())
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    let width = ((ui.available_width() - spacing * (cards - 1.0)) / cards).max(40.0);
    if let Some(hero) = step.page.hero {
        let is_clicked = clicked.is_some_and(|c| c.row.is_none());
        card_ui(
            ui,
            preview,
            side,
            hero,
            egui::vec2(width * 2.0 + spacing, 70.0),
            is_clicked,
        );
    }
    for (r, row) in step.page.rows.iter().enumerate() {
        let marker = if side.moved.get(r).copied().unwrap_or(false) {
            "  (moved)"
        } else {
            ""
        };
        ui.label(RichText::new(format!("{}{marker}", row.title)).strong());
        ui.horizontal(|ui| {
            for (c, &item) in row.items.iter().enumerate() {
                let is_clicked = clicked.is_some_and(|s| s.row == Some(r) && s.column == c);
                card_ui(ui, preview, side, item, egui::vec2(width, 48.0), is_clicked);
            }
        });
    }
}

/// Per page, what each side placed: how many genres, and — as the learned policy's network
/// judges the same cards — the clicks expected now against the return expected in all.
fn choices_ui(ui: &mut Ui, preview: &Preview) {
    let mut series: Vec<(String, Vec<[f64; 2]>)> = Vec::new();
    for side in &preview.sides {
        series.push((
            format!("{} genres", side.policy.name()),
            side.variety.clone(),
        ));
    }
    ui.label("Distinct genres among the hero and the first row, by page");
    plots::lines(ui, "live-variety", 120.0, "page", &series);
    if preview.learned.is_some() {
        let mut judged: Vec<(String, Vec<[f64; 2]>)> = Vec::new();
        for side in &preview.sides {
            judged.push((
                format!("{} clicks now", side.policy.name()),
                side.judged_now.clone(),
            ));
            judged.push((
                format!("{} return in all", side.policy.name()),
                side.judged_later.clone(),
            ));
        }
        ui.label("As the learned network judges each side's placed cards: expected clicks on this page, and expected return (clicks now and later); a long-term policy gives up some of the first for the second");
        plots::lines(ui, "live-judged", 140.0, "page", &judged);
    }
}

fn charts_ui(ui: &mut Ui, preview: &Preview) {
    choices_ui(ui, preview);
    let third = (ui.available_width() / 3.0 - 8.0).max(160.0);
    ui.horizontal(|ui| {
        for (title, curve) in [
            ("Cumulative CTR", 0),
            ("Cumulative dwell (s)", 1),
            ("Re-rank latency (ms)", 2),
        ] {
            ui.vertical(|ui| {
                ui.set_width(third);
                ui.label(title);
                let mut series: Vec<(String, Vec<[f64; 2]>)> = preview
                    .sides
                    .iter()
                    .map(|s| {
                        let points = match curve {
                            0 => s.ctr_curve.clone(),
                            1 => s.dwell_curve.clone(),
                            _ => s.latency_ms.clone(),
                        };
                        (s.policy.name(), points)
                    })
                    .collect();
                if curve == 2 {
                    // The request path: words embedded, then the page re-ranked.
                    series.extend(
                        preview
                            .sides
                            .iter()
                            .filter(|s| !s.request_ms.is_empty())
                            .map(|s| {
                                (format!("{} request", s.policy.name()), s.request_ms.clone())
                            }),
                    );
                }
                plots::lines(ui, &format!("live-{curve}"), 160.0, "page", &series);
            });
        }
    });
    if !preview.requests.is_empty() {
        ui.label("Each request's latency by part (ms): writing the item (generative route), embedding, re-ranking");
        let parts: Vec<[f64; 3]> = preview
            .requests
            .iter()
            .map(|t| {
                [
                    t.write_secs * 1000.0,
                    t.embed_secs * 1000.0,
                    t.rerank_secs * 1000.0,
                ]
            })
            .collect();
        plots::stacked_bars(
            ui,
            "live-request-parts",
            "request",
            &["writing", "embedding", "re-ranking"],
            &parts,
        );
    }
    ui.label("How far each side's belief is from the hidden taste (total variation; 0 = learnt)");
    let gaps: Vec<(String, Vec<[f64; 2]>)> = preview
        .sides
        .iter()
        .map(|s| (s.policy.name(), s.belief_gap.clone()))
        .collect();
    plots::lines(ui, "live-belief-gap", 140.0, "page", &gaps);
    ui.label("The user's hidden taste vs what the model believes (genre shares of its top 50)");
    let taste = preview.sides[0].taste();
    let belief = preview.model_belief();
    plots::metric_bars(
        ui,
        "taste-belief",
        &preview.world.genre_names,
        &[
            ("hidden taste".to_string(), taste.to_vec()),
            ("model belief".to_string(), belief),
        ],
    );
}

fn ab_table_ui(ui: &mut Ui, report: &crate::sim::AbReport) {
    ui.heading(format!(
        "A/B: {} simulated users, {} ({:.1} s)",
        report.users, report.model, report.seconds
    ));
    egui::Grid::new("ab-table").striped(true).show(ui, |ui| {
        for h in [
            "policy",
            "CTR (±95%)",
            "clicks/session",
            "dwell s/session",
            "pages/session",
            "click coverage",
            "genre entropy",
        ] {
            ui.strong(h);
        }
        ui.end_row();
        for o in &report.outcomes {
            ui.label(&o.policy);
            ui.label(format!("{:.4} ± {:.4}", o.ctr.mean, o.ctr.ci95));
            ui.label(format!(
                "{:.2} ± {:.2}",
                o.clicks_per_session.mean, o.clicks_per_session.ci95
            ));
            ui.label(format!(
                "{:.0} ± {:.0}",
                o.dwell_secs_per_session.mean, o.dwell_secs_per_session.ci95
            ));
            ui.label(format!(
                "{:.1} ± {:.1}",
                o.pages_per_session.mean, o.pages_per_session.ci95
            ));
            ui.label(format!("{:.3}", o.click_coverage));
            ui.label(format!("{:.2}", o.click_genre_entropy));
            ui.end_row();
        }
    });
    let series: Vec<(String, Vec<[f64; 2]>)> = report
        .outcomes
        .iter()
        .map(|o| {
            (
                o.policy.clone(),
                o.ctr_by_step
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| [i as f64 + 1.0, c])
                    .collect(),
            )
        })
        .collect();
    ui.label("CTR of the n-th page (sessions that reached it)");
    plots::lines(ui, "ab-ctr-by-step", 160.0, "page", &series);
    let bins = report.outcomes.first().map_or(0, |o| o.ctr_histogram.len());
    if bins > 0 {
        let labels: Vec<String> = (0..bins)
            .map(|b| {
                format!(
                    "{:.1}-{:.1}",
                    b as f64 / bins as f64,
                    (b + 1) as f64 / bins as f64
                )
            })
            .collect();
        let shares: Vec<(String, Vec<f64>)> = report
            .outcomes
            .iter()
            .map(|o| (o.policy.clone(), o.ctr_histogram.clone()))
            .collect();
        ui.label("Distribution of per-session CTR (share of simulated users)");
        plots::metric_bars(ui, "ab-ctr-histogram", &labels, &shares);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The strength `flash` gives a card first drawn at time 0, when drawn at `times`.
    fn strengths(times: &[f64]) -> Vec<f32> {
        let ctx = egui::Context::default();
        let id = egui::Id::unique("card");
        times
            .iter()
            .map(|&t| {
                let mut strength = f32::NAN;
                let input = egui::RawInput {
                    time: Some(t),
                    ..Default::default()
                };
                let mut output = ctx.run_ui(input, |ui| strength = flash(ui, id));
                // No renderer here to take the font textures.
                output.textures_delta.clear();
                strength
            })
            .collect()
    }

    #[test]
    fn a_clicked_card_flashes_and_fades_out() {
        let s = strengths(&[0.0, 0.2, 0.4, 0.8, 2.0]);
        // Linear fade over 0.8 s: 1, 0.75, 0.5, then gone.
        let expected = [1.0, 0.75, 0.5, 0.0, 0.0];
        for (got, want) in s.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{s:?}");
        }
    }
}
