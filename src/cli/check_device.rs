//! `reclab check-device --device cuda|wgpu`: the GPU code path against the CPU's on this
//! machine, in one command, for a machine that has a GPU but no Rust toolchain to run the wgpu
//! suite's tests (`scripts/gpu-check.sh` runs it there). The same checks and tolerances as
//! `tests/wgpu.rs`: one training step from the same weights for every model the GPU trains, and
//! when their folders are given, the sentence encoder's vectors and the decoder's greedy tokens.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use reclab::data::{Preprocessing, SyntheticConfig, load_synthetic};
use reclab::device::DeviceChoice;
use reclab::lm::decoder::generate::Sampling;
use reclab::lm::decoder::{Dtype, Llm, Message};
use reclab::lm::{Embedder, cosine};
use reclab::model::ItemText;
use reclab::train::agreement::{judge_step, stand_in_text_table};
use reclab::train::{ModelKind, TrainConfig, one_step_on_chosen_device};

#[derive(Debug, Args)]
pub struct CheckDeviceArgs {
    /// The device to compare with the CPU: cuda or wgpu.
    #[arg(long)]
    device: DeviceChoice,
    /// A sentence-encoder folder (e.g. all-MiniLM-L6-v2): its vectors are compared too.
    #[arg(long)]
    lm: Option<PathBuf>,
    /// A generative model (GGUF file or folder): its greedy tokens are compared too.
    #[arg(long)]
    llm: Option<PathBuf>,
}

/// One line of the report.
struct Outcome {
    what: String,
    passed: bool,
    detail: String,
}

pub fn run(args: CheckDeviceArgs) -> Result<()> {
    if matches!(args.device, DeviceChoice::Cpu | DeviceChoice::Auto) {
        bail!("--device must name a GPU backend (cuda or wgpu) to compare with the CPU");
    }
    // Fails early, saying why, when the device is not compiled in or cannot run here.
    let label = args.device.resolve().map_err(anyhow::Error::msg)?.label();
    let mut outcomes = training_steps(args.device)?;
    if let Some(folder) = &args.lm {
        outcomes.push(encoder(folder, args.device)?);
    }
    if let Some(path) = &args.llm {
        outcomes.push(decoder(path, args.device)?);
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    for outcome in &outcomes {
        let mark = if outcome.passed { "ok  " } else { "FAIL" };
        println!("{mark} {}: {}", outcome.what, outcome.detail);
    }
    if failed > 0 {
        bail!(
            "{failed} of {} checks on {label} disagree with the CPU",
            outcomes.len()
        );
    }
    println!(
        "all {} checks on {label} agree with the CPU",
        outcomes.len()
    );
    Ok(())
}

/// One step of each model on a small synthetic world, dropout 0, on the CPU and the device.
fn training_steps(device: DeviceChoice) -> Result<Vec<Outcome>> {
    let dataset = load_synthetic(
        &SyntheticConfig {
            users: 200,
            items: 150,
            max_seq_len: 60,
            ..SyntheticConfig::default()
        },
        &Preprocessing::default(),
    )?;
    let text = stand_in_text_table(dataset.num_items(), 12);
    let cases = [
        (ModelKind::Sasrec, ItemText::None),
        (ModelKind::Bert4rec, ItemText::None),
        (ModelKind::Sasrec, ItemText::Fused),
        (ModelKind::Sasrec, ItemText::Frozen),
    ];
    let mut outcomes = Vec::new();
    for (kind, item_text) in cases {
        let mut config = TrainConfig {
            model: kind,
            batch_size: 32,
            learning_rate: 3e-3,
            ..TrainConfig::default()
        };
        config.transformer.max_len = 20;
        config.transformer.dropout = 0.0;
        config.transformer.item_text = item_text;
        let table = (item_text != ItemText::None).then_some(&text);
        if table.is_some() {
            config.transformer.text_dim = text.dim();
            config.lm = Some(PathBuf::from("stand-in text table"));
        }
        let on = |device| {
            let config = TrainConfig {
                device,
                ..config.clone()
            };
            one_step_on_chosen_device(&dataset, &config, table)
        };
        let (cpu, gpu) = (on(DeviceChoice::Cpu)?, on(device)?);
        let verdict = judge_step(&cpu, &gpu, config.learning_rate);
        outcomes.push(Outcome {
            what: format!("{} step, item text {}", kind.name(), item_text.name()),
            passed: verdict.passed,
            detail: verdict.detail,
        });
    }
    Ok(outcomes)
}

/// Sentence vectors on both devices: cosine ≥ 0.9999.
fn encoder(folder: &std::path::Path, device: DeviceChoice) -> Result<Outcome> {
    let texts: Vec<String> = [
        "a space adventure with robots",
        "Toy Story (1995). Animation, Children's, Comedy.",
        "a quiet romance in Paris, slow and tender, with long walks by the river at night",
    ]
    .map(String::from)
    .to_vec();
    let encode = |device| -> Result<reclab::lm::Vectors> {
        Ok(Embedder::open(folder, device)?.encode(&texts, 2, &mut |_, _| true)?)
    };
    let (cpu, gpu) = (encode(DeviceChoice::Cpu)?, encode(device)?);
    let worst = (0..texts.len())
        .map(|row| f64::from(cosine(cpu.row(row), gpu.row(row))))
        .fold(f64::INFINITY, f64::min);
    Ok(Outcome {
        what: format!("sentence encoder {}", folder.display()),
        passed: worst >= 0.9999,
        detail: format!(
            "lowest cosine {worst:.6} over {} texts (≥ 0.9999)",
            texts.len()
        ),
    })
}

/// Sixteen greedy tokens of two prompts in one batch, f32 on both devices: the same tokens.
fn decoder(path: &std::path::Path, device: DeviceChoice) -> Result<Outcome> {
    let cpu = Llm::open(path, Dtype::F32, DeviceChoice::Cpu)?;
    let gpu = Llm::open(path, Dtype::F32, device)?;
    let prompts = [
        "Name three films about space travel.",
        "What is a good comedy for a rainy day?",
    ]
    .iter()
    .map(|q| cpu.chat_ids(&[Message::new("user", q)]))
    .collect::<Result<Vec<_>, _>>()?;
    let sampling = Sampling {
        max_new_tokens: 16,
        ..Sampling::default()
    };
    let on_cpu = cpu.generate_ids(&prompts, &[], &sampling)?;
    let on_gpu = gpu.generate_ids(&prompts, &[], &sampling)?;
    let same = on_cpu
        .iter()
        .zip(&on_gpu)
        .map(|(a, b)| a.iter().zip(b).take_while(|(x, y)| x == y).count())
        .min()
        .unwrap_or(0);
    Ok(Outcome {
        what: format!("decoder {}", path.display()),
        passed: on_cpu == on_gpu,
        detail: format!(
            "greedy tokens identical for the first {same} of 16 in each of {} prompts",
            prompts.len()
        ),
    })
}
