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

use reclab::train::{DeviceChoice, ModelKind, TrainConfig, model_from_run, train_on_chosen_device};

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
