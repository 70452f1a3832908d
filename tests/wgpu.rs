//! The GPU code path, run without a GPU: burn's wgpu backend (which compiles the same CubeCL
//! kernels as its CUDA backend) on Mesa's lavapipe, a Vulkan driver that runs on the CPU.
//! `scripts/wgpu-suite.sh` runs this file (`--features wgpu`, `WGPU_BACKEND=vulkan`); `.ci/run`
//! calls it. Every check compares the wgpu branch with the CPU's on the same inputs. Timing
//! under lavapipe means nothing: correctness only.
#![cfg(feature = "wgpu")]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use reclab::data::{Dataset, Preprocessing, Split, SplitStrategy, SyntheticConfig, load_synthetic};
use reclab::eval::{EvalConfig, Stage, evaluate};
use reclab::lm::Embedder;
use reclab::lm::decoder::generate::Sampling;
use reclab::lm::decoder::{Dtype, Llm, Message};

use reclab::lm::Vectors;
use reclab::model::ItemText;
use reclab::recommend::Recommender;
use reclab::train::agreement::{StepReadings, gap, judge_step, stand_in_text_table};
use reclab::train::{
    DeviceChoice, ModelKind, TrainConfig, model_from_run, one_step_on_chosen_device,
    train_on_chosen_device,
};

fn models() -> PathBuf {
    PathBuf::from(
        std::env::var_os("RECLAB_MODELS").expect("set RECLAB_MODELS to the shared models folder"),
    )
}

fn small_world() -> Dataset {
    load_synthetic(
        &SyntheticConfig {
            users: 200,
            items: 150,
            max_seq_len: 60,
            ..SyntheticConfig::default()
        },
        &Preprocessing::default(),
    )
    .unwrap()
}

/// Trains `kind` two epochs on wgpu, then checks that it learned and that the weights it saved,
/// reopened on the CPU, rank the test users as the wgpu model ranked them.
fn trains_on_wgpu_and_reopens_on_the_cpu(kind: ModelKind) {
    let dataset = small_world();
    let runs = tempfile::tempdir().unwrap();
    let mut config = TrainConfig {
        model: kind,
        epochs: 2,
        batch_size: 64,
        learning_rate: 3e-3,
        cutoffs: vec![10],
        device: DeviceChoice::Wgpu,
        ..TrainConfig::default()
    };
    config.transformer.max_len = 30;
    let outcome = train_on_chosen_device(
        &dataset,
        &config,
        runs.path(),
        None,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(outcome.run.environment.device, "wgpu");
    let losses: Vec<f64> = outcome.run.curves["train_loss"]
        .iter()
        .map(|p| p.value)
        .collect();
    assert!(
        losses.iter().all(|l| l.is_finite()) && losses.last() < losses.first(),
        "{kind:?} on wgpu: train loss {losses:?}"
    );
    let on_wgpu = outcome.test.expect("a test report").metrics;
    let split = Split::new(&dataset, SplitStrategy::LeaveOneOut).unwrap();
    let reopened = model_from_run(&outcome.run_dir, &dataset).unwrap();
    let eval = EvalConfig {
        cutoffs: vec![10],
        ..EvalConfig::default()
    };
    let on_cpu = evaluate(
        reopened.as_ref(),
        &dataset,
        &split,
        Stage::Test,
        &eval,
        &|_, _| true,
    )
    .unwrap()
    .metrics;
    // Scores agree to float rounding (about 1e-6 relative); that can only swap near-tied items,
    // so a metric may move by one user's worth at most (1/200 = 0.005).
    for metric in ["hit@10", "ndcg@10"] {
        let (gpu, cpu) = (on_wgpu[metric], on_cpu[metric]);
        assert!(
            (gpu - cpu).abs() <= 0.005 + 1e-9,
            "{kind:?}: {metric} on wgpu {gpu}, reopened on the CPU {cpu}"
        );
    }
    // Save on one device, reopen on the other: the same file opened on wgpu and on the CPU
    // scores every item of a few test histories alike.
    let vocabulary = reclab::model::Vocabulary {
        num_items: dataset.num_items(),
    };
    let gpu_device = burn::backend::wgpu::WgpuDevice::default();
    let skeleton = reclab::model::SeqRec::<burn::backend::Wgpu>::new(
        &config.transformer,
        vocabulary,
        &gpu_device,
    );
    let on_gpu_again = reclab::train::TransformerRecommender::new(
        "reopened",
        reclab::train::record::load_weights_into(
            skeleton,
            &outcome.run_dir.join(reclab::train::BEST_WEIGHTS),
            &gpu_device,
        )
        .unwrap(),
        gpu_device,
        kind.direction(),
        vocabulary,
    );
    for user in [0, 7, 123] {
        let history = split.train(&dataset, user);
        let query = reclab::recommend::Query {
            user: Some(user as u32),
            history,
        };
        let mut a = vec![0.0f32; dataset.num_items()];
        let mut b = a.clone();
        on_gpu_again.score(query, &mut a);
        reopened.score(query, &mut b);
        let scores = gap(&a, &b, 1e-2, 1e-4).unwrap();
        assert_eq!(scores.beyond, 0, "{kind:?}, user {user}: {scores:?}");
    }
    // And it learned something in two epochs: above a random ranking by half again (a random
    // ranking of ~150 candidates has NDCG@10 = Σ_{p≤10} 1/(150·log2(p+1)) ≈ 0.030).
    let chance: f64 = (1..=10)
        .map(|p| 1.0 / (150.0 * ((p + 1) as f64).log2()))
        .sum();
    assert!(on_wgpu["ndcg@10"] > 1.5 * chance, "{kind:?}: {on_wgpu:?}");
}

#[test]
fn sasrec_trains_on_wgpu_and_its_weights_rank_alike_on_the_cpu() {
    trains_on_wgpu_and_reopens_on_the_cpu(ModelKind::Sasrec);
}

#[test]
fn bert4rec_trains_on_wgpu_and_its_weights_rank_alike_on_the_cpu() {
    trains_on_wgpu_and_reopens_on_the_cpu(ModelKind::Bert4rec);
}

#[test]
#[ignore = "needs RECLAB_MODELS (the shared all-MiniLM-L6-v2)"]
fn the_sentence_encoder_on_wgpu_gives_the_cpus_vectors() {
    let dir = models().join("all-MiniLM-L6-v2");
    let gpu = Embedder::open(&dir, DeviceChoice::Wgpu).unwrap();
    let cpu = Embedder::open(&dir, DeviceChoice::Cpu).unwrap();
    assert_eq!(gpu.device_label(), "wgpu");
    let texts: Vec<String> = [
        "a space adventure with robots",
        "Toy Story (1995). Animation, Children's, Comedy.",
        "a quiet romance in Paris, slow and tender, with long walks by the river at night",
    ]
    .map(String::from)
    .to_vec();
    let (a, b) = (
        gpu.encode(&texts, 2, &mut |_, _| true).unwrap(),
        cpu.encode(&texts, 2, &mut |_, _| true).unwrap(),
    );
    for row in 0..texts.len() {
        let (x, y) = (a.row(row), b.row(row));
        let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        let norms = x.iter().map(|v| v * v).sum::<f32>().sqrt()
            * y.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(dot / norms >= 0.9999, "text {row}: cosine {}", dot / norms);
    }
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct)"]
fn the_decoder_on_wgpu_gives_the_cpus_greedy_tokens() {
    let gguf = models()
        .join("SmolLM2-135M-Instruct")
        .join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let gpu = Llm::open(&gguf, Dtype::F32, DeviceChoice::Wgpu).unwrap();
    let cpu = Llm::open(&gguf, Dtype::F32, DeviceChoice::Cpu).unwrap();
    let prompts: Vec<Vec<u32>> = [
        "Name three films about space travel.",
        "What is a good comedy for a rainy day?",
    ]
    .iter()
    .map(|q| cpu.chat_ids(&[Message::new("user", q)]).unwrap())
    .collect();
    let sampling = Sampling {
        max_new_tokens: 16,
        ..Sampling::default()
    };
    // Both prompts in one batch: the padded, batched path too.
    let on_gpu = gpu.generate_ids(&prompts, &[], &sampling).unwrap();
    let on_cpu = cpu.generate_ids(&prompts, &[], &sampling).unwrap();
    assert_eq!(on_gpu, on_cpu);
    assert!(on_gpu.iter().all(|ids| ids.len() == 16));
}

/// A small model with dropout 0: on the same seed the CPU and wgpu then start from the same
/// weights (drawn on the CPU) and see the same batches, so only their arithmetic differs.
fn deterministic(kind: ModelKind, item_text: ItemText, device: DeviceChoice) -> TrainConfig {
    let mut config = TrainConfig {
        model: kind,
        epochs: 2,
        batch_size: 32,
        learning_rate: 3e-3,
        cutoffs: vec![10],
        device,
        ..TrainConfig::default()
    };
    config.transformer.max_len = 20;
    config.transformer.dropout = 0.0;
    config.transformer.item_text = item_text;
    if item_text != ItemText::None {
        config.transformer.text_dim = TEXT_DIM;
        // The table is given directly (`text_table`); the config only records where text
        // came from.
        config.lm = Some(PathBuf::from("text_table"));
    }
    config
}

const TEXT_DIM: usize = 12;

/// Item "text vectors" for the synthetic world (what the encoder makes of real text is checked
/// with MiniLM below; here the model's use of the table is what is compared).
fn text_table(dataset: &Dataset) -> Vectors {
    stand_in_text_table(dataset.num_items(), TEXT_DIM)
}

/// One step on the CPU and on wgpu from the same weights and batch: the scores before the
/// step, the loss, and every weight after one Adam step.
fn one_step_agrees(kind: ModelKind, item_text: ItemText) {
    let dataset = small_world();
    let text = (item_text != ItemText::None).then(|| text_table(&dataset));
    let readings = |device| -> StepReadings {
        one_step_on_chosen_device(
            &dataset,
            &deterministic(kind, item_text, device),
            text.as_ref(),
        )
        .unwrap()
    };
    let (cpu, gpu) = (readings(DeviceChoice::Cpu), readings(DeviceChoice::Wgpu));
    assert_eq!((cpu.device.as_str(), gpu.device.as_str()), ("cpu", "wgpu"));
    let verdict = judge_step(&cpu, &gpu, 3e-3);
    eprintln!("{kind:?} with item text {item_text:?}: {}", verdict.detail);
    assert!(
        verdict.passed,
        "{kind:?} with item text {item_text:?}: {}",
        verdict.detail
    );
}

#[test]
fn a_sasrec_step_on_wgpu_matches_the_cpus() {
    one_step_agrees(ModelKind::Sasrec, ItemText::None);
}

#[test]
fn a_bert4rec_step_on_wgpu_matches_the_cpus() {
    one_step_agrees(ModelKind::Bert4rec, ItemText::None);
}

#[test]
fn a_text_aware_sasrec_step_on_wgpu_matches_the_cpus() {
    one_step_agrees(ModelKind::Sasrec, ItemText::Fused);
    one_step_agrees(ModelKind::Sasrec, ItemText::Frozen);
}

/// Two epochs on each device from the same weights and batches, dropout 0: the validation
/// metrics of each epoch agree.
fn two_epochs_agree(kind: ModelKind, item_text: ItemText) {
    use burn::backend::{Autodiff, Flex, Wgpu};
    let dataset = small_world();
    let text = (item_text != ItemText::None).then(|| text_table(&dataset));
    let runs = tempfile::tempdir().unwrap();
    let stop = || Arc::new(AtomicBool::new(false));
    let cpu_config = deterministic(kind, item_text, DeviceChoice::Cpu);
    let gpu_config = deterministic(kind, item_text, DeviceChoice::Wgpu);
    let on_cpu = reclab::train::train::<Autodiff<Flex>>(
        Default::default(),
        "cpu",
        &dataset,
        &cpu_config,
        text.as_ref(),
        runs.path(),
        None,
        stop(),
        &mut |_| {},
    )
    .unwrap();
    let on_gpu = reclab::train::train::<Autodiff<Wgpu>>(
        Default::default(),
        "wgpu",
        &dataset,
        &gpu_config,
        text.as_ref(),
        runs.path(),
        None,
        stop(),
        &mut |_| {},
    )
    .unwrap();
    let what = format!("{kind:?} with item text {item_text:?}");
    for curve in ["train_loss", "valid_hit@10", "valid_ndcg@10"] {
        let values = |run: &reclab::runs::RunFile| -> Vec<f64> {
            run.curves[curve].iter().map(|p| p.value).collect()
        };
        let (cpu, gpu) = (values(&on_cpu.run), values(&on_gpu.run));
        eprintln!("{what}: {curve} cpu {cpu:?} wgpu {gpu:?}");
        assert_eq!(cpu.len(), 2, "{what}: {curve}");
        // Rounding differences grow over ~14 steps but stay far below a score gap between
        // two items, except for near ties: a metric may move by one or two users' worth
        // (1/200 each); the loss agrees to 1e-4.
        let tolerance = if curve == "train_loss" {
            1e-4 * cpu[0]
        } else {
            0.010 + 1e-9
        };
        for (c, g) in cpu.iter().zip(&gpu) {
            assert!(
                (c - g).abs() <= tolerance,
                "{what}: {curve} cpu {cpu:?} wgpu {gpu:?}"
            );
        }
    }
}

#[test]
fn two_epochs_of_sasrec_on_wgpu_validate_as_the_cpus_do() {
    two_epochs_agree(ModelKind::Sasrec, ItemText::None);
}

#[test]
fn two_epochs_of_bert4rec_on_wgpu_validate_as_the_cpus_do() {
    two_epochs_agree(ModelKind::Bert4rec, ItemText::None);
}

#[test]
fn two_epochs_of_text_aware_sasrec_on_wgpu_validate_as_the_cpus_do() {
    two_epochs_agree(ModelKind::Sasrec, ItemText::Fused);
    two_epochs_agree(ModelKind::Sasrec, ItemText::Frozen);
}

/// `reclab train --device wgpu` and `reclab embed --device wgpu`, as a user runs them.
#[test]
#[ignore = "needs RECLAB_MODELS (the shared all-MiniLM-L6-v2)"]
fn the_command_line_trains_and_embeds_on_wgpu() {
    let bin = env!("CARGO_BIN_EXE_reclab");
    let runs = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(bin)
        .args(["train", "--model", "sasrec", "--data", "synthetic"])
        .args(["--synthetic-users", "150", "--synthetic-items", "100"])
        .args([
            "--epochs",
            "1",
            "--max-len",
            "20",
            "--hidden",
            "16",
            "--device",
            "wgpu",
        ])
        .args(["--json", "--out"])
        .arg(runs.path())
        .env("RECLAB_CACHE_DIR", runs.path().join("cache"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "reclab train --device wgpu: {stderr}"
    );
    let run_json = std::fs::read_dir(runs.path())
        .unwrap()
        .flatten()
        .map(|e| e.path().join("run.json"))
        .find(|p| p.is_file())
        .expect("a run folder");
    let run = reclab::runs::RunFile::load(run_json.parent().unwrap()).unwrap();
    assert_eq!(run.environment.device, "wgpu");
    assert!(run.test_metrics["ndcg@10"] > 0.0, "{:?}", run.test_metrics);

    let embed = |device: &str| -> Vec<Vec<f64>> {
        let output = std::process::Command::new(bin)
            .args(["embed", "--lm"])
            .arg(models().join("all-MiniLM-L6-v2"))
            .args(["--text", "a space adventure", "--text", "a quiet romance"])
            .args(["--json", "--device", device])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "reclab embed --device {device}: {stderr}"
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        serde_json::from_value(json["vectors"].clone()).unwrap()
    };
    let (gpu, cpu) = (embed("wgpu"), embed("cpu"));
    assert_eq!(gpu.len(), 2);
    for (x, y) in gpu.iter().zip(&cpu) {
        let dot: f64 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        let norms = x.iter().map(|v| v * v).sum::<f64>().sqrt()
            * y.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(dot / norms >= 0.9999, "cosine {}", dot / norms);
    }
}

/// The app's Train panel lists the devices compiled in, and a SASRec trains on wgpu from it.
#[test]
fn the_apps_train_panel_trains_on_wgpu() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use reclab::app::{AppState, LaunchOptions, Workbench};
    use std::time::{Duration, Instant};

    let runs = tempfile::tempdir().unwrap();
    let mut state = AppState::default();
    let config = &mut state.train.transformer;
    config.transformer.hidden = 16;
    config.transformer.inner = 32;
    config.transformer.layers = 1;
    config.transformer.max_len = 20;
    config.batch_size = 64;
    config.epochs = 1;
    config.cutoffs = vec![10];
    let options = LaunchOptions {
        runs_root: Some(runs.path().to_path_buf()),
        fresh_state: true,
        ..LaunchOptions::default()
    };
    let mut harness = Harness::builder()
        .with_size([1400.0, 1000.0])
        .build_eframe(move |cc| Workbench::with_state(&cc.egui_ctx, state, options));
    let step_until =
        |harness: &mut Harness<'_, Workbench>, what: &str, done: &dyn Fn(&Workbench) -> bool| {
            let started = Instant::now();
            while !done(harness.state()) {
                assert!(
                    started.elapsed() < Duration::from_secs(300),
                    "timed out waiting for {what}"
                );
                harness.step();
                std::thread::sleep(Duration::from_millis(20));
            }
            harness.step();
            harness.step();
        };
    step_until(&mut harness, "the dataset", &|app| {
        app.data.loaded.is_some()
    });
    harness.get_by_label("Train").click();
    harness.step();
    harness.step();
    // The device list: auto (which is the CPU without a CUDA GPU), CPU and wgpu.
    harness
        .get_by(|node| {
            node.role() == eframe::egui::accesskit::Role::ComboBox
                && node.value().as_deref() == Some("auto (cpu)")
        })
        .click();
    harness.step();
    harness.step();
    assert!(harness.query_by_label("CPU").is_some());
    harness.get_by_label("wgpu").click();
    harness.step();
    harness.step();
    assert_eq!(
        harness.state().state.train.transformer.device,
        DeviceChoice::Wgpu
    );
    harness.get_by_label("Start training").click();
    step_until(&mut harness, "the training", &|app| {
        app.training
            .live
            .as_ref()
            .is_some_and(|l| l.run_dir.is_some())
            && !app.is_training()
    });
    let live = harness.state().training.live.as_ref().unwrap();
    assert_eq!(live.status, reclab::app::LiveStatus::Finished);
    let run = reclab::runs::RunFile::load(live.run_dir.as_ref().unwrap()).unwrap();
    assert_eq!(run.environment.device, "wgpu");
    assert!(run.test_metrics["ndcg@10"] > 0.0, "{:?}", run.test_metrics);
}

/// `reclab check-device --device wgpu`: the command a GPU machine runs (scripts/gpu-check.sh),
/// here on lavapipe: every training-step check passes and says so.
#[test]
fn check_device_reports_every_step_check_passing_on_wgpu() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(["check-device", "--device", "wgpu"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        4,
        "{stdout}"
    );
    assert!(
        stdout.contains("all 4 checks on wgpu agree with the CPU"),
        "{stdout}"
    );
}
