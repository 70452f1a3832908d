//! `reclab bench …`: timings that hold the project's speed goals (never timed tests).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::data::ml100k_or_env;
use anyhow::{Context, Result};
use clap::Subcommand;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reclab::data::{DatasetStats, LoadSpec};
use reclab::quantile::quantile;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The host kernels alone (GELU with its slope, softmax-row exponentials, the decoder's dot
    /// product) on each instruction set this CPU runs, against the standard library's scalar
    /// functions: nanoseconds per value on one thread.
    Kernels {
        /// Values per call (the training step's GELU sees about 1.6 million).
        #[arg(long, default_value_t = 1 << 20)]
        values: usize,
    },
    /// "Tell the storefront" with and without the generative model: genre precision@10 of the
    /// direct and the LLM-described route over committed requests, and the latency of each.
    Requests(super::bench_requests::RequestsArgs),
    /// Re-rank latency of the adaptive page (p50 / p99) for one simulated user with a SASRec
    /// over the ML-100K catalogue (the synthetic world's if ML-100K is not found), and simulated
    /// users per second in an A/B run.
    Simulate {
        /// The ML-100K folder (default: $RECLAB_DATASETS/ml-100k when set).
        #[arg(long)]
        ml100k: Option<PathBuf>,
        /// A trained run to use; without it, a SASRec of the default size with initial weights
        /// (latency depends on the architecture and catalogue, not on the weights).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Pages shown to the one user.
        #[arg(long, default_value_t = 500)]
        steps: usize,
        /// Users of the A/B run (greedy policy).
        #[arg(long, default_value_t = 200)]
        users: usize,
        /// A language model folder: also time "Tell the storefront" (a typed request embedded,
        /// blended and the page re-laid). Default: $RECLAB_MODELS/all-MiniLM-L6-v2 when set.
        #[arg(long)]
        lm: Option<PathBuf>,
    },
    /// Frame times of the app window (p50 / p95) while a SASRec training runs on the synthetic
    /// world. Needs a display (under CI: `xvfb-run`).
    Gui {
        #[arg(long, default_value_t = 300)]
        frames: usize,
        /// Measure the idle app instead (no training running).
        #[arg(long)]
        no_training: bool,
    },
    /// Load + preprocess time and peak memory for ML-100K and a generated large log. Each case
    /// runs in its own process so its peak memory is its own.
    Data {
        /// The ML-100K folder (default: $RECLAB_DATASETS/ml-100k when set).
        #[arg(long)]
        ml100k: Option<PathBuf>,
        /// Rows of the generated log.
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
        /// Where to write the generated log (default: a temporary folder, removed after).
        #[arg(long)]
        workdir: Option<PathBuf>,
        /// Internal: measure one dataset in this process and print one JSON line.
        #[arg(long, hide = true)]
        single: Option<String>,
    },
    /// Training throughput of SASRec (sequences/s, tokens/s, epoch time, time per phase of a
    /// step) on ML-100K, on each device given.
    Train {
        /// The ML-100K folder (default: $RECLAB_DATASETS/ml-100k when set).
        #[arg(long)]
        ml100k: Option<PathBuf>,
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        #[arg(long, default_value_t = 50)]
        max_len: usize,
        /// Devices to measure, comma-separated (cpu, cuda, wgpu).
        #[arg(long, value_delimiter = ',', default_value = "cpu")]
        devices: Vec<reclab::device::DeviceChoice>,
        /// Dropout probability (0 measures the step without dropout's cost).
        #[arg(long, default_value_t = 0.2)]
        dropout: f64,
        /// Also time each operation of the step alone on the CPU, forward and backward.
        #[arg(long)]
        ops: bool,
    },
    /// Full-ranking evaluation throughput (users per second) with ItemKNN and Pop, on ML-100K
    /// and on a generated log over a large catalogue.
    Eval {
        /// The ML-100K folder (default: $RECLAB_DATASETS/ml-100k when set).
        #[arg(long)]
        ml100k: Option<PathBuf>,
        /// Items in the generated catalogue.
        #[arg(long, default_value_t = 50_000)]
        items: usize,
        /// Users in the generated log (50 interactions each on average).
        #[arg(long, default_value_t = 20_000)]
        users: usize,
    },
}

pub fn run(command: BenchCommand) -> Result<()> {
    // Every figure says which machine and which host kernels made it (a child process of
    // `bench data` reports to its parent alone).
    if !matches!(
        command,
        BenchCommand::Data {
            single: Some(_),
            ..
        }
    ) {
        println!("{}", machine_line());
    }
    match command {
        BenchCommand::Kernels { values } => bench_kernels(values),
        BenchCommand::Requests(args) => super::bench_requests::run(args),
        BenchCommand::Gui {
            frames,
            no_training,
        } => bench_gui(frames, !no_training),
        BenchCommand::Simulate {
            ml100k,
            model,
            steps,
            users,
            lm,
        } => bench_simulate(ml100k, model, steps, users, lm),
        BenchCommand::Data {
            ml100k,
            rows,
            workdir,
            single,
        } => match single {
            Some(path) => measure_in_process(&path),
            None => bench_data(ml100k, rows, workdir),
        },
        BenchCommand::Eval {
            ml100k,
            items,
            users,
        } => bench_eval(ml100k, items, users),
        BenchCommand::Train {
            ml100k,
            steps,
            batch_size,
            max_len,
            devices,
            dropout,
            ops,
        } => bench_train(ml100k, steps, batch_size, max_len, dropout, &devices, ops),
    }
}

/// Loads a dataset (no cache) and prints the time, the size and this process's peak memory.
fn measure_in_process(path: &str) -> Result<()> {
    let start = Instant::now();
    let dataset = reclab::data::load(&LoadSpec::new(path), None)?;
    let seconds = start.elapsed().as_secs_f64();
    let stats = DatasetStats::of(&dataset);
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "interactions": stats.interactions,
            "users": stats.users,
            "items": stats.items,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn run_case(label: &str, path: &Path) -> Result<()> {
    let exe = std::env::current_exe()?;
    let output = std::process::Command::new(exe)
        .args(["bench", "data", "--single"])
        .arg(path)
        .output()
        .context("cannot start the measuring process")?;
    if !output.status.success() {
        anyhow::bail!(
            "{label}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    println!(
        "{label:<28} {:>10} interactions  load+preprocess {:>7.2} s  peak memory {:>7.0} MiB",
        result["interactions"],
        result["seconds"].as_f64().unwrap_or(f64::NAN),
        result["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
    );
    Ok(())
}

fn bench_data(ml100k: Option<PathBuf>, rows: usize, workdir: Option<PathBuf>) -> Result<()> {
    let ml100k = ml100k_or_env(ml100k);
    match ml100k {
        Some(dir) => run_case("ml-100k (RecBole files)", &dir)?,
        None => println!("ml-100k: skipped (pass --ml100k DIR or set RECLAB_DATASETS)"),
    }
    let temp;
    let dir = match workdir {
        Some(dir) => dir,
        None => {
            temp = std::env::temp_dir().join(format!("reclab-bench-{}", std::process::id()));
            temp
        }
    };
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("interactions.csv");
    let start = Instant::now();
    // 10 000 users and 5 000 items per million rows.
    write_log(&log, rows, rows / 100, rows / 200)?;
    println!(
        "generated {} rows in {:.1} s ({:.0} MiB)",
        rows,
        start.elapsed().as_secs_f64(),
        std::fs::metadata(&log)?.len() as f64 / (1 << 20) as f64
    );
    let result = run_case(&format!("generated CSV, {rows} rows"), &log);
    let _ = std::fs::remove_file(&log);
    result
}

/// Writes a CSV log `user_id,item_id,rating,timestamp` with Zipf-like item popularity over
/// about `items` items, users drawn uniformly.
fn write_log(path: &Path, rows: usize, users: usize, items: usize) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let users = users.max(1) as u64;
    let items = items.max(10) as f64;
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    writeln!(w, "user_id,item_id,rating,timestamp")?;
    for _ in 0..rows {
        let user = rng.random_range(0..users);
        // Inverse-CDF draw from a 1/x law over [1, items]: a long tail.
        let item = items.powf(rng.random::<f64>()) as u64;
        let rating = rng.random_range(1..=5);
        let time = 1_500_000_000 + rng.random_range(0..100_000_000u64);
        writeln!(w, "{user},{item},{rating},{time}")?;
    }
    w.flush()?;
    Ok(())
}

fn bench_eval(ml100k: Option<PathBuf>, items: usize, users: usize) -> Result<()> {
    println!(
        "full ranking, leave-one-out test targets, {} rayon threads",
        rayon::current_num_threads()
    );
    let ml100k = ml100k_or_env(ml100k);
    match ml100k {
        Some(dir) => {
            let dataset = reclab::data::load(&LoadSpec::new(dir.to_string_lossy()), None)?;
            eval_case("ml-100k", &dataset)?;
        }
        None => println!("ml-100k: skipped (pass --ml100k DIR or set RECLAB_DATASETS)"),
    }
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("interactions.csv");
    write_log(&log, users * 50, users, items)?;
    let dataset = reclab::data::load(&LoadSpec::new(log.to_string_lossy()), None)?;
    eval_case(
        &format!("generated, {} items", dataset.num_items()),
        &dataset,
    )
}

fn eval_case(label: &str, dataset: &reclab::data::Dataset) -> Result<()> {
    use reclab::data::{Split, SplitStrategy};
    use reclab::eval::{EvalConfig, Stage, evaluate};
    use reclab::recommend::{BaselineConfig, ItemKnnConfig};

    let split = Split::new(dataset, SplitStrategy::LeaveOneOut)?;
    for baseline in [
        BaselineConfig::ItemKnn(ItemKnnConfig::default()),
        BaselineConfig::Pop,
    ] {
        let start = Instant::now();
        let model = baseline.fit(dataset, &split)?;
        let fit_secs = start.elapsed().as_secs_f64();
        let report = evaluate(
            model.as_ref(),
            dataset,
            &split,
            Stage::Test,
            &EvalConfig::default(),
            &|_, _| true,
        )?;
        println!(
            "{label:<24} {:>6} users {:>6} items  {:<8} fit {:>6.2} s  evaluate {:>6.2} s  {:>9.0} users/s  (ndcg@10 {:.4})",
            dataset.num_users(),
            dataset.num_items(),
            report.model,
            fit_secs,
            report.seconds,
            report.users_per_second(),
            report.metrics.get("ndcg@10").copied().unwrap_or(f64::NAN),
        );
    }
    Ok(())
}

fn bench_kernels(values: usize) -> Result<()> {
    use reclab::device::isa::Isa;
    use reclab::lm::decoder::quant::dot_on;
    use reclab::model::host_math::{exp_shifted_in_place_on, gelu_on};

    let input: Vec<f32> = (0..values)
        .map(|i| ((i * 7919 % 10_007) as f32 / 10_007.0 - 0.5) * 12.0)
        .collect();
    let mut output = vec![0.0f32; values];
    let mut slope = vec![0.0f32; values];
    // The best of five calls, in nanoseconds per value.
    let time = |f: &mut dyn FnMut()| {
        (0..5)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
            * 1e9
            / values as f64
    };
    println!("{values} values, one thread, ns per value (best of 5):");
    println!(
        "{:<26} {:>14} {:>14} {:>10}",
        "instruction set", "GELU + slope", "exp (softmax)", "dot"
    );
    for isa in Isa::every_on_this_machine() {
        let gelu = time(&mut || gelu_on(isa, &input, &mut output, Some(&mut slope)));
        let exp = time(&mut || {
            output.copy_from_slice(&input);
            std::hint::black_box(exp_shifted_in_place_on(isa, &mut output, 6.0));
        });
        let dot = time(&mut || {
            std::hint::black_box(dot_on(isa, &input, &slope));
        });
        println!("{:<26} {gelu:>14.3} {exp:>14.3} {dot:>10.3}", isa.label());
    }
    let scalar_exp = time(&mut || {
        for (o, &x) in output.iter_mut().zip(&input) {
            *o = (x - 6.0).exp();
        }
        std::hint::black_box(&output);
    });
    println!(
        "{:<26} {:>14} {scalar_exp:>14.3} {:>10}",
        "std's scalar f32::exp", "", ""
    );
    Ok(())
}

/// The CPU and the instruction set the host kernels run with here (the decoder's quantized
/// products and the training step's GELU and softmax rows share one dispatch).
fn machine_line() -> String {
    use reclab::device::isa::{Isa, cpu_model};
    let capped = if Isa::detected() < Isa::of_machine() {
        format!(
            " (capped by RECLAB_ISA; the CPU has {})",
            Isa::of_machine().label()
        )
    } else {
        String::new()
    };
    // Without the `gemm-avx512` feature gemm has no AVX-512 kernels to pick, whatever the CPU.
    let products = if cfg!(feature = "gemm-avx512") {
        "gemm's own run-time dispatch"
    } else {
        "gemm's own run-time dispatch, built without its AVX-512 kernels"
    };
    format!(
        "machine: {}, {} cores; host kernels: {}{capped}; matrix products: {products}",
        cpu_model(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        Isa::detected().label()
    )
}

fn bench_train(
    ml100k: Option<PathBuf>,
    steps: usize,
    batch_size: usize,
    max_len: usize,
    dropout: f64,
    devices: &[reclab::device::DeviceChoice],
    ops: bool,
) -> Result<()> {
    let dir = ml100k_or_env(ml100k).context("pass --ml100k DIR or set RECLAB_DATASETS")?;
    let dataset = reclab::data::load(&LoadSpec::new(dir.to_string_lossy()), None)?;
    println!(
        "SASRec step on ml-100k: batch {batch_size}, length {max_len}, {} items, full softmax, 2 layers of width 64",
        dataset.num_items() + 1
    );
    for &device in devices {
        let mut config = reclab::train::TrainConfig {
            batch_size,
            device,
            ..Default::default()
        };
        config.transformer.max_len = max_len;
        config.transformer.dropout = dropout;
        let t = reclab::train::time_steps_on_chosen_device(&dataset, &config, steps)?;
        println!(
            "{:<7} step {:>6.1} ms (batch {:>5.1}, forward {:>6.1}, backward {:>6.1}, optimiser {:>5.1})  {:>7.0} seq/s  {:>8.0} tokens/s  epoch {:>6.2} s  validation {:>5.2} s",
            t.device,
            1e3 * (t.batch_build_secs + t.forward_secs + t.backward_secs + t.optimizer_secs),
            1e3 * t.batch_build_secs,
            1e3 * t.forward_secs,
            1e3 * t.backward_secs,
            1e3 * t.optimizer_secs,
            t.sequences_per_sec,
            t.tokens_per_sec,
            t.epoch_secs,
            t.validation_secs,
        );
        if let Some(busy) = t.cores_busy.filter(|_| t.device == "cpu") {
            println!(
                "{:<7} cores busy during the steps: {busy:.2} of {} (CPU time over wall time)",
                "",
                std::thread::available_parallelism().map_or(1, usize::from)
            );
        }
        if ops && t.device == "cpu" {
            let targets = (t.tokens_per_sec * t.batch_size as f64 / t.sequences_per_sec) as usize;
            print_operations(&config, dataset.num_items(), targets);
        }
    }
    Ok(())
}

fn bench_gui(frames: usize, with_training: bool) -> Result<()> {
    let runs = tempfile::tempdir().context("creating a temporary runs folder")?;
    let stats = reclab::app::bench_frames(frames, with_training, runs.path().to_path_buf())?;
    let during = if with_training {
        "while training SASRec on the synthetic world"
    } else {
        "idle (no training)"
    };
    println!(
        "GUI {during}, {} frames: UI {:.2} ms p50 / {:.2} ms p95; whole frame {:.2} ms p50 / {:.2} ms p95",
        stats.frames, stats.ui_p50_ms, stats.ui_p95_ms, stats.frame_p50_ms, stats.frame_p95_ms
    );
    Ok(())
}

fn bench_simulate(
    ml100k: Option<PathBuf>,
    model: Option<PathBuf>,
    steps: usize,
    users: usize,
    lm: Option<PathBuf>,
) -> Result<()> {
    use rand::SeedableRng;
    use reclab::sim::{
        AbConfig, Policy, PolicyKind, Session, SessionConfig, World, run_ab, simulated_users,
    };

    let (label, dataset) = match ml100k_or_env(ml100k) {
        Some(dir) => (
            "ml-100k",
            reclab::data::load(&LoadSpec::new(dir.display().to_string()), None)?,
        ),
        None => ("synthetic", reclab::data::load(&LoadSpec::default(), None)?),
    };
    let split = reclab::data::Split::new(&dataset, reclab::data::SplitStrategy::LeaveOneOut)?;
    let recommender: Box<dyn reclab::recommend::Recommender> = match &model {
        Some(dir) => reclab::train::model_from_run(dir, &dataset)?,
        None => {
            type B = burn::backend::Flex;
            let vocabulary = reclab::model::Vocabulary {
                num_items: dataset.num_items(),
            };
            let device = Default::default();
            let config = reclab::model::TransformerConfig::default();
            let seqrec = reclab::model::SeqRec::<B>::new(&config, vocabulary, &device);
            Box::new(reclab::train::TransformerRecommender::new(
                "SASRec",
                seqrec,
                device,
                reclab::model::Direction::Causal,
                vocabulary,
            ))
        }
    };
    let world = World::of(&dataset);
    // One user whose session never ends: every page is a re-rank on a growing history.
    let config = SessionConfig {
        max_steps: steps,
        patience: f64::INFINITY,
        ..SessionConfig::default()
    };
    let user = simulated_users(
        &dataset,
        &split,
        &world,
        1,
        config.patience,
        reclab::sim::UserPool::All,
    )
    .remove(0);
    let mut session = Session::new(user, Policy::new(PolicyKind::Greedy, config.cards), &config);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    // A page is re-scored when the session changed, i.e. on the first page and after a click;
    // after a skip the policy re-lays out the page from its cached scores.
    let mut rescored = Vec::new();
    let mut cached = Vec::new();
    let mut changed = true;
    for _ in 0..steps.max(1) {
        let step = session.step(recommender.as_ref(), &world, &config, &mut rng);
        let ms = step.rerank_secs * 1000.0;
        if changed { &mut rescored } else { &mut cached }.push(ms);
        changed = step.choice.clicked.is_some();
    }
    let all: Vec<f64> = rescored.iter().chain(&cached).copied().collect();
    println!(
        "{label}: {} items, model {}: re-rank of one user's greedy page over {} pages: {}",
        dataset.num_items(),
        recommender.name(),
        all.len(),
        percentiles(&all)
    );
    println!(
        "  after a click (the session and the clicked item scored + layout), {} pages: {}",
        rescored.len(),
        percentiles(&rescored)
    );
    println!(
        "  after a skip (cached scores, layout only), {} pages: {}",
        cached.len(),
        percentiles(&cached)
    );
    let lm = lm.or_else(|| {
        std::env::var_os("RECLAB_MODELS")
            .map(|root| PathBuf::from(root).join("all-MiniLM-L6-v2"))
            .filter(|dir| dir.is_dir())
    });
    if let Some(dir) = lm {
        bench_request(
            &dataset,
            recommender.as_ref(),
            &world,
            &session.user.history,
            &dir,
        )?;
    }
    let ab = AbConfig {
        policies: vec![PolicyKind::Greedy],
        users,
        session: SessionConfig::default(),
        seed: 1,
        pool: reclab::sim::UserPool::All,
    };
    let report = run_ab(recommender.as_ref(), &dataset, &split, &ab);
    let pages_each = report.outcomes[0].pages_per_session.mean;
    println!(
        "A/B (greedy, {users} users, {pages_each:.1} pages each): {:.1} users/s, {:.0} pages/s",
        users as f64 / report.seconds,
        pages_each * users as f64 / report.seconds
    );
    Ok(())
}

/// Requests typed into "Tell the storefront", as a person would: short, everyday phrasings.
const REQUESTS: [&str; 10] = [
    "something light and funny",
    "no horror tonight",
    "a classic western",
    "films about space",
    "a romantic comedy for a date night",
    "something scary",
    "an animated film for the kids",
    "a gritty crime drama",
    "a true story",
    "music and dancing",
];

/// The "Tell the storefront" path as the app runs it: the request and its words embedded in one
/// batch, their similarity to every item, the blend with the model's (cached) session scores
/// and the page laid out again.
fn bench_request(
    dataset: &reclab::data::Dataset,
    model: &dyn reclab::recommend::Recommender,
    world: &reclab::sim::World,
    history: &[u32],
    lm: &Path,
) -> Result<()> {
    use reclab::sim::{Policy, PolicyKind, SessionConfig};
    let language = reclab::app::Language::build(dataset, lm, None, &mut |_, _| true)
        .map_err(|e| anyhow::anyhow!("{}: {e}", lm.display()))?;
    let mut policy = Policy::new(PolicyKind::Greedy, SessionConfig::default().cards);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    // The session's scores are computed once, as in the app, where a request leaves the
    // history unchanged.
    policy.page(model, world, history, &mut rng);
    let (mut embed, mut rerank, mut total) = (Vec::new(), Vec::new(), Vec::new());
    let rounds = 30;
    for i in 0..rounds * REQUESTS.len() {
        let text = REQUESTS[i % REQUESTS.len()];
        let started = Instant::now();
        let (request, _) = language.request(text, 0.5).map_err(anyhow::Error::msg)?;
        let embedded = Instant::now();
        policy.set_request(Some(std::sync::Arc::new(request)));
        let page = policy.page(model, world, history, &mut rng);
        let done = Instant::now();
        anyhow::ensure!(
            page.rows.first().map(|r| r.kind) == Some(reclab::sim::RowKind::BecauseYouAsked),
            "the request's row is missing from the page"
        );
        // The first round warms the encoder's buffers up; it is not counted.
        if i >= REQUESTS.len() {
            embed.push((embedded - started).as_secs_f64() * 1000.0);
            rerank.push((done - embedded).as_secs_f64() * 1000.0);
            total.push((done - started).as_secs_f64() * 1000.0);
        }
    }
    println!(
        "  a typed request ({} requests of 2–7 words, {}): {}",
        total.len(),
        lm.display(),
        percentiles(&total)
    );
    println!(
        "    embedding the request and its words: {}",
        percentiles(&embed)
    );
    println!("    blend + layout: {}", percentiles(&rerank));
    Ok(())
}

/// "p50 X ms, p99 Y ms" of latencies in milliseconds.
fn percentiles(ms: &[f64]) -> String {
    if ms.is_empty() {
        return "none".into();
    }
    format!(
        "p50 {:.2} ms, p99 {:.2} ms",
        quantile(ms, 0.5),
        quantile(ms, 0.99)
    )
}

/// `bench train --ops`: each operation of the step timed alone with the step's shapes.
fn print_operations(config: &reclab::train::TrainConfig, num_items: usize, targets: usize) {
    type Cpu = burn::backend::Autodiff<burn::backend::Flex>;
    let timings = reclab::train::profile::time_operations::<Cpu>(
        &Default::default(),
        &config.transformer,
        reclab::model::Vocabulary { num_items },
        config.batch_size,
        targets,
        5,
    );
    println!("\noperations alone ({targets} target positions), mean of 5, ms:");
    println!(
        "{:<70} {:>5} {:>9} {:>9} {:>9} {:>6}",
        "operation", "×step", "forward", "backward", "per step", "cores"
    );
    for op in timings {
        println!(
            "{:<70} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>6}",
            op.name,
            op.per_step,
            op.forward_ms,
            op.backward_ms,
            op.per_step as f64 * (op.forward_ms + op.backward_ms),
            op.cores_busy
                .map_or_else(|| "-".to_string(), |busy| format!("{busy:.2}"))
        );
    }
}
