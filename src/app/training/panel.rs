//! The Train panel: every model's settings (bound to the config structs the CLI reads), the
//! device, Start / Stop, and the live view: loss per batch with EMA smoothing, validation curves
//! per epoch, throughput and ETA.

use eframe::egui::{self, Ui};

use super::TrainingState;
use super::live::{LiveStatus, LiveTraining};
use crate::app::Command;
use crate::app::context::PanelContext;
use crate::app::plots;
use crate::app::state::{ModelChoice, TrainForm};
use crate::app::task::TaskKind;
use crate::app::widgets;
use crate::data::SplitStrategy;
use crate::device::DeviceChoice;
use crate::model::ItemText;
use crate::model::loss::LossConfig;
use crate::recommend::UserVector;
use crate::train::ModelKind;

pub fn train_ui(ui: &mut Ui, cx: &mut PanelContext, own: &TrainingState) {
    widgets::bare_panel(ui, egui::Panel::left("train-settings"))
        .resizable(true)
        .default_size(330.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                let training = cx.is_running(TaskKind::Train);
                ui.add_enabled_ui(!training, |ui| settings_ui(ui, &mut cx.settings.train));
            });
        });
    widgets::central_panel(ui).show(ui, |ui| {
        controls_ui(ui, cx);
        ui.separator();
        let smoothing = &mut cx.settings.smoothing;
        match &own.live {
            Some(live) => live_ui(ui, live, smoothing),
            None => {
                ui.label("Start a training to see its loss and validation curves here.");
            }
        }
    });
}

fn controls_ui(ui: &mut Ui, cx: &mut PanelContext) {
    ui.horizontal(|ui| {
        let training = cx.is_running(TaskKind::Train);
        let can_start = !training && cx.data.is_some();
        if ui
            .add_enabled(can_start, egui::Button::new("Start training"))
            .on_hover_text("Ctrl+Enter")
            .clicked()
        {
            cx.send(Command::StartTraining);
        }
        if ui
            .add_enabled(training, egui::Button::new("Stop"))
            .on_hover_text("Stops after the current batch; the best weights and the run are kept")
            .clicked()
        {
            cx.send(Command::StopTraining);
        }
        match cx.data {
            Some(loaded) => ui.label(format!("on {}", loaded.stats.name)),
            None => ui.label("load a dataset first"),
        };
    });
}

fn settings_ui(ui: &mut Ui, form: &mut TrainForm) {
    ui.heading("Model");
    widgets::choice(ui, "Model", &mut form.choice, &ModelChoice::ALL, |c| {
        c.label().to_string()
    });
    let config = &mut form.transformer;
    match form.choice {
        ModelChoice::Transformer => {
            widgets::choice(
                ui,
                "Architecture",
                &mut config.model,
                &[ModelKind::Sasrec, ModelKind::Bert4rec],
                |m| m.name().to_string(),
            );
            let t = &mut config.transformer;
            widgets::number(ui, "Hidden size", &mut t.hidden, 8..=1024, 1.0);
            widgets::number(ui, "Attention heads", &mut t.heads, 1..=16, 0.1);
            widgets::number(ui, "Layers", &mut t.layers, 1..=12, 0.1);
            widgets::number(ui, "Feed-forward width", &mut t.inner, 8..=4096, 1.0);
            widgets::number(ui, "Dropout", &mut t.dropout, 0.0..=0.9, 0.01);
            widgets::number(ui, "Max sequence length", &mut t.max_len, 2..=1000, 1.0);
            ui.checkbox(&mut t.norm_first, "Pre-norm (LayerNorm before sublayers)");
            widgets::choice(
                ui,
                "Item text",
                &mut t.item_text,
                &[
                    ItemText::None,
                    ItemText::Init,
                    ItemText::Fused,
                    ItemText::Frozen,
                ],
                |m| m.name().to_string(),
            )
            .on_hover_text(
                "init: id embeddings start from projected text vectors; fused: a learned \
                 projection of the text vector is added to each id embedding; frozen: only the \
                 projected text vectors (items unseen in training still have one). Uses the \
                 Data panel's language model and item-text template.",
            );
            ui.heading("Objective");
            let mut loss_kind = match config.loss {
                LossConfig::Softmax => 0,
                LossConfig::SampledBce { .. } => 1,
                LossConfig::Gbce { .. } => 2,
            };
            widgets::choice(ui, "Loss", &mut loss_kind, &[0, 1, 2], |k| {
                ["full softmax CE", "sampled BCE", "gBCE"][k].to_string()
            });
            config.loss = match (loss_kind, config.loss) {
                (0, _) => LossConfig::Softmax,
                (1, LossConfig::SampledBce { negatives }) => LossConfig::SampledBce { negatives },
                (1, _) => LossConfig::SampledBce { negatives: 1 },
                (
                    _,
                    LossConfig::Gbce {
                        negatives,
                        calibration,
                    },
                ) => LossConfig::Gbce {
                    negatives,
                    calibration,
                },
                _ => LossConfig::Gbce {
                    negatives: 256,
                    calibration: 0.75,
                },
            };
            match &mut config.loss {
                LossConfig::Softmax => {}
                LossConfig::SampledBce { negatives } => {
                    widgets::number(ui, "Negatives per position", negatives, 1..=10_000, 1.0);
                }
                LossConfig::Gbce {
                    negatives,
                    calibration,
                } => {
                    widgets::number(ui, "Negatives per position", negatives, 1..=10_000, 1.0);
                    widgets::number(ui, "Calibration t", calibration, 0.0..=1.0, 0.01);
                }
            }
            widgets::number(
                ui,
                "Mask ratio (BERT4Rec, pretraining)",
                &mut config.mask_ratio,
                0.01..=0.9,
                0.01,
            );
            widgets::number(
                ui,
                "Pretraining epochs (masked items)",
                &mut config.pretrain_epochs,
                0..=1000,
                0.2,
            );
            ui.heading("Optimisation");
            widgets::number(ui, "Epochs", &mut config.epochs, 1..=10_000, 0.2);
            widgets::number(ui, "Batch size", &mut config.batch_size, 1..=8192, 1.0);
            widgets::number(
                ui,
                "Learning rate",
                &mut config.learning_rate,
                1e-6..=1.0,
                1e-4,
            );
            widgets::number(
                ui,
                "Weight decay",
                &mut config.weight_decay,
                0.0..=1.0,
                1e-4,
            );
            widgets::number(
                ui,
                "Early-stopping patience",
                &mut config.early_stopping.patience,
                1..=1000,
                0.2,
            );
            widgets::text(
                ui,
                "Early-stopping metric",
                &mut config.early_stopping.metric,
            );
            widgets::number(
                ui,
                "Augmented share",
                &mut config.augmentation.probability,
                0.0..=1.0,
                0.01,
            );
            let mut devices = vec![DeviceChoice::Auto, DeviceChoice::Cpu];
            if cfg!(feature = "cuda") {
                devices.push(DeviceChoice::Cuda);
            }
            if cfg!(feature = "wgpu") {
                devices.push(DeviceChoice::Wgpu);
            }
            widgets::choice(ui, "Device", &mut config.device, &devices, device_label);
        }
        ModelChoice::ItemKnn => {
            widgets::number(
                ui,
                "Neighbours per item",
                &mut form.itemknn.neighbours,
                1..=10_000,
                1.0,
            );
            widgets::number(ui, "Shrinkage", &mut form.itemknn.shrink, 0.0..=1000.0, 0.5);
        }
        ModelChoice::Bpr => {
            let bpr = &mut form.bpr;
            widgets::number(ui, "Factors", &mut bpr.factors, 1..=1024, 1.0);
            widgets::number(ui, "Epochs", &mut bpr.epochs, 1..=10_000, 0.2);
            widgets::number(
                ui,
                "Learning rate",
                &mut bpr.learning_rate,
                1e-5..=1.0,
                1e-3,
            );
            widgets::number(
                ui,
                "Regularisation",
                &mut bpr.regularization,
                0.0..=1.0,
                1e-4,
            );
        }
        ModelChoice::Pop | ModelChoice::Content => {
            ui.label("No settings.");
        }
        ModelChoice::Lm => {
            widgets::choice(
                ui,
                "User vector",
                &mut form.lm.user_vector,
                &[
                    UserVector::History,
                    UserVector::Profile,
                    UserVector::LlmProfile,
                ],
                |u| match u {
                    UserVector::History => "history (recency-weighted mean)".to_string(),
                    UserVector::Profile => "profile text".to_string(),
                    UserVector::LlmProfile => "profile written by a generative model".to_string(),
                },
            );
            ui.label(
                "Uses the Data panel's language model and item-text template, and its \
                 generative model for written profiles and {llm_description}.",
            );
        }
    }
    let config = &mut form.transformer;
    ui.heading("Data and evaluation");
    let mut kind = match config.split {
        SplitStrategy::LeaveOneOut => 0,
        SplitStrategy::Temporal { .. } => 1,
        SplitStrategy::ColdItems { .. } => 2,
    };
    widgets::choice(ui, "Split", &mut kind, &[0, 1, 2], |k| {
        ["leave-one-out", "temporal", "cold items"][k].to_string()
    });
    config.split = match (kind, config.split) {
        (1, split @ SplitStrategy::Temporal { .. })
        | (2, split @ SplitStrategy::ColdItems { .. }) => split,
        (1, _) => SplitStrategy::Temporal {
            train: 0.8,
            valid: 0.1,
        },
        (2, _) => SplitStrategy::ColdItems { share: 0.1 },
        _ => SplitStrategy::LeaveOneOut,
    };
    match &mut config.split {
        SplitStrategy::Temporal { train, valid } => {
            widgets::number(ui, "Training share", train, 0.05..=0.95, 0.01);
            widgets::number(ui, "Validation share", valid, 0.0..=0.5, 0.01);
        }
        SplitStrategy::ColdItems { share } => {
            widgets::number(ui, "Cold share of items", share, 0.01..=0.9, 0.01)
                .on_hover_text("The latest-appearing items, kept out of training entirely");
        }
        SplitStrategy::LeaveOneOut => {}
    }
    widgets::number(ui, "Seed", &mut config.seed, 0..=u64::MAX, 1.0);
    if let Some(problem) = config.problem() {
        widgets::error(ui, &problem);
    }
}

fn device_label(device: DeviceChoice) -> String {
    match device {
        DeviceChoice::Auto => {
            let resolved = device.resolve().map(|r| r.label()).unwrap_or("cpu");
            format!("auto ({resolved})")
        }
        DeviceChoice::Cpu => "CPU".into(),
        DeviceChoice::Cuda if crate::device::nvidia_gpu_present() => "CUDA".into(),
        DeviceChoice::Cuda => "CUDA (no GPU found)".into(),
        DeviceChoice::Wgpu => "wgpu".into(),
    }
}

fn live_ui(ui: &mut Ui, live: &LiveTraining, smoothing: &mut f64) {
    ui.horizontal(|ui| {
        ui.strong(&live.model);
        if !live.device.is_empty() {
            ui.label(format!("on {}", live.device));
        }
        match &live.status {
            LiveStatus::Starting => ui.label("starting …"),
            LiveStatus::Running => ui.label(format!("{} epoch {}", live.stage, live.epoch)),
            LiveStatus::Finished => ui.label("finished"),
            LiveStatus::Stopped => ui.label("stopped (best weights kept)"),
            LiveStatus::Failed(_) => ui.label("failed"),
        };
        if let Some(best) = live.best_epoch {
            ui.label(format!("best epoch {best}"));
        }
    });
    if let LiveStatus::Failed(message) = &live.status {
        widgets::error(ui, message);
    }
    ui.horizontal(|ui| {
        ui.label(format!("elapsed {:.0} s", live.elapsed_secs()));
        if let Some(rate) = live.batches_per_sec() {
            ui.label(format!(
                "{rate:.2} batches/s · {:.0} sequences/s",
                rate * live.batch_size as f64
            ));
        }
        if live.is_running()
            && let Some(eta) = live.eta_secs()
        {
            ui.label(format!("ETA ≤ {eta:.0} s (early stopping may end sooner)"));
        }
        if live.total_batches > 0 {
            ui.label(format!(
                "batch {}/{}",
                live.batches_done, live.total_batches
            ));
        }
        if let Some((done, total)) = live.eval_progress {
            ui.label(format!("evaluating {done}/{total} users"));
        }
    });
    if let Some(dir) = &live.run_dir {
        ui.label(format!("run folder: {}", dir.display()));
    }
    if !live.test.is_empty() {
        let line: Vec<String> = live
            .test
            .iter()
            .filter(|(k, _)| k.ends_with("@10"))
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect();
        ui.label(format!("test: {}", line.join(" · ")));
    }
    ui.add(egui::Slider::new(smoothing, 0.0..=0.99).text("Loss smoothing (EMA)"));
    let half = (ui.available_width() / 2.0 - 8.0).max(200.0);
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            ui.set_width(half);
            ui.label(format!(
                "Training loss per batch ({} points)",
                live.losses.len()
            ));
            let series = vec![
                ("loss".to_string(), live.losses.clone()),
                (
                    format!("EMA {smoothing:.2}"),
                    plots::ema(&live.losses, *smoothing),
                ),
            ];
            plots::lines(ui, "loss-per-batch", 260.0, "batch", &series);
        });
        ui.vertical(|ui| {
            ui.set_width(half);
            // The accuracy metrics at the cut-off early stopping watches (all of them are in the
            // run file and in Compare).
            let cutoff = live
                .watched_metric
                .split_once('@')
                .map(|(_, k)| k)
                .unwrap_or("10");
            ui.label(format!("Validation per epoch (@{cutoff})"));
            let series: Vec<(String, Vec<[f64; 2]>)> = live
                .epoch_curves
                .iter()
                .filter(|(k, _)| {
                    ["hit", "ndcg", "mrr"]
                        .iter()
                        .any(|m| k.ends_with(&format!("valid_{m}@{cutoff}")))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            plots::lines(ui, "valid-per-epoch", 260.0, "epoch", &series);
        });
    });
}
