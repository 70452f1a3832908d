//! `reclab train …`: train a Transformer recommender headless, with progress bars.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use reclab::model::loss::LossConfig;
use reclab::train::{DeviceChoice, ModelKind, TrainConfig, TrainEvent, train_on_chosen_device};

use super::data::DatasetOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    Sasrec,
    Bert4rec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    Softmax,
    Bce,
    Gbce,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A TOML training config (see experiments/*.toml); flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, value_enum)]
    model: Option<ModelArg>,
    /// A dataset folder, any file of its set, or `synthetic`. When given, the dataset flags
    /// below replace the config's `[data]` table.
    #[arg(long)]
    data: Option<String>,
    #[command(flatten)]
    options: DatasetOptions,
    #[arg(long)]
    epochs: Option<usize>,
    /// Epochs of masked-item pretraining before fine-tuning.
    #[arg(long)]
    pretrain_epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    max_len: Option<usize>,
    #[arg(long)]
    hidden: Option<usize>,
    #[arg(long)]
    layers: Option<usize>,
    #[arg(long)]
    heads: Option<usize>,
    #[arg(long)]
    dropout: Option<f64>,
    #[arg(long, value_enum)]
    loss: Option<LossArg>,
    /// Negatives per position for the bce and gbce losses.
    #[arg(long, default_value_t = 256)]
    negatives: usize,
    /// Early stopping: epochs without improvement of the validation metric.
    #[arg(long)]
    patience: Option<usize>,
    /// `loo`, `temporal` (80/10/10 by time) or `cold-items[:share]` (default: the config's).
    #[arg(long)]
    split: Option<String>,
    /// How item text vectors enter the model: none, init, fused or frozen (needs --lm).
    #[arg(long)]
    item_text: Option<reclab::model::ItemText>,
    /// The Hugging Face model folder that embeds the item texts (e.g. all-MiniLM-L6-v2).
    #[arg(long)]
    lm: Option<PathBuf>,
    /// The item-text template, e.g. "{title}. {categories}. {brand}." (default: per dataset);
    /// `{llm_description}` adds the description `--llm` writes of each item (cached).
    #[arg(long)]
    template: Option<String>,
    /// The generative model (a GGUF file or a Hugging Face folder) that writes the item
    /// descriptions of `{llm_description}`.
    #[arg(long)]
    llm: Option<PathBuf>,
    /// auto (CUDA if built in and a GPU is present, else CPU), cpu, cuda or wgpu.
    #[arg(long)]
    device: Option<DeviceChoice>,
    /// Folder that receives the run.
    #[arg(long, default_value = "experiments")]
    out: PathBuf,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Print one JSON line per epoch and a final JSON summary instead of progress bars.
    #[arg(long)]
    json: bool,
    /// Train once per seed (comma-separated, e.g. 1,2,3), the runs grouped for
    /// `reclab runs compare` (mean ± sd over seeds, paired tests on per-user means).
    #[arg(long, value_delimiter = ',', conflicts_with = "resume")]
    seeds: Vec<u64>,
    #[command(flatten)]
    cluster: super::slurm::SeedsOnSlurm,
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                TrainConfig::from_toml(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => TrainConfig::default(),
        };
        if let Some(path) = &self.data {
            config.data = self.options.spec(path);
        }
        if let Some(seed) = self.options.seed {
            config.seed = seed;
        }
        if let Some(model) = self.model {
            config.model = match model {
                ModelArg::Sasrec => ModelKind::Sasrec,
                ModelArg::Bert4rec => ModelKind::Bert4rec,
            };
        }
        let t = &mut config.transformer;
        set(&mut config.epochs, self.epochs);
        set(&mut config.pretrain_epochs, self.pretrain_epochs);
        set(&mut config.batch_size, self.batch_size);
        set(&mut config.learning_rate, self.lr);
        set(&mut t.max_len, self.max_len);
        set(&mut t.hidden, self.hidden);
        set(&mut t.layers, self.layers);
        set(&mut t.heads, self.heads);
        set(&mut t.dropout, self.dropout);
        set(&mut config.early_stopping.patience, self.patience);
        set(&mut config.device, self.device);
        set(&mut t.item_text, self.item_text);
        if let Some(split) = &self.split {
            config.split = super::data::parse_strategy(split, 0.8, 0.1)?;
        }
        if self.lm.is_some() {
            config.lm = self.lm.clone();
        }
        if self.template.is_some() {
            config.item_template = self.template.clone();
        }
        if self.llm.is_some() {
            config.llm = self.llm.clone();
        }
        if let Some(loss) = self.loss {
            config.loss = match loss {
                LossArg::Softmax => LossConfig::Softmax,
                LossArg::Bce => LossConfig::SampledBce {
                    negatives: self.negatives,
                },
                LossArg::Gbce => LossConfig::Gbce {
                    negatives: self.negatives,
                    calibration: 0.75,
                },
            };
        }
        if let Some(problem) = config.problem() {
            anyhow::bail!("invalid training config: {problem}");
        }
        Ok(config)
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    let config = args.config()?;
    let seeds = args.seeds.clone();
    if args.cluster.slurm {
        let group = format!(
            "{}-{}-seeds",
            chrono::Utc::now().format("%Y%m%d-%H%M%S"),
            config.model.name().to_lowercase()
        );
        return super::slurm::submit(
            &args.out,
            &group,
            seeds.len(),
            &args.cluster.options,
            args.cluster.dry_run,
        );
    }
    let cache_dir = if args.options.no_cache {
        None
    } else {
        args.options
            .cache_dir
            .clone()
            .or_else(reclab::data::cache::default_cache_dir)
    };
    let dataset = reclab::data::load(&config.data, cache_dir.as_deref())?;
    eprintln!(
        "{} on {} ({} users, {} items, {} interactions)",
        config.model.name(),
        dataset.name,
        dataset.num_users(),
        dataset.num_items(),
        dataset.num_interactions()
    );
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_ctrl_c(&stop);
    if seeds.is_empty() {
        train_once(&args, &config, &dataset, stop)?;
        return Ok(());
    }
    // One run per seed, grouped: `reclab runs compare` takes the group as one.
    let group = args.cluster.group.clone().unwrap_or_else(|| {
        format!(
            "{}-{}-seeds",
            chrono::Utc::now().format("%Y%m%d-%H%M%S"),
            config.model.name().to_lowercase()
        )
    });
    if let Some(task) = args.cluster.seed_task {
        let Some(&seed) = seeds.get(task) else {
            anyhow::bail!("--seed-task {task}: --seeds has {} seeds", seeds.len());
        };
        let config = TrainConfig {
            seed,
            group: Some(group.clone()),
            ..config.clone()
        };
        eprintln!("seed {seed} ({group})");
        train_once(&args, &config, &dataset, stop)?;
        return Ok(());
    }
    let mut tests = Vec::new();
    for &seed in &seeds {
        let config = TrainConfig {
            seed,
            group: Some(group.clone()),
            ..config.clone()
        };
        eprintln!("seed {seed} ({group})");
        let outcome = train_once(&args, &config, &dataset, stop.clone())?;
        tests.push(outcome.test.map(|t| t.metrics).unwrap_or_default());
        if outcome.cancelled {
            eprintln!("stopped: the seeds after {seed} were not run");
            break;
        }
    }
    if !args.json {
        println!(
            "group {group}: test over {} seeds (mean ± sd, 95% interval)",
            tests.len()
        );
        for k in &config.cutoffs {
            for name in ["hit", "ndcg"] {
                let key = format!("{name}@{k}");
                let values: Vec<f64> = tests.iter().filter_map(|t| t.get(&key).copied()).collect();
                let (mean, sd, half) = reclab::stats::mean_sd_ci95(&values);
                println!(
                    "  {key:<8} {mean:.4} ± {sd:.4}  [{:.4}, {:.4}]",
                    mean - half,
                    mean + half
                );
            }
        }
    }
    Ok(())
}

/// Trains one run with `config`, printing progress and its test results.
fn train_once(
    args: &TrainArgs,
    config: &TrainConfig,
    dataset: &reclab::data::Dataset,
    stop: Arc<AtomicBool>,
) -> Result<reclab::train::TrainOutcome> {
    let mut bar: Option<ProgressBar> = None;
    let json = args.json;
    let mut on_event = |event: TrainEvent| match event {
        TrainEvent::Started {
            run_dir,
            device,
            epochs,
            pretrain_epochs,
            batches_per_epoch,
        } => {
            eprintln!(
                "device {device}; up to {pretrain_epochs} pretraining + {epochs} epochs of {batches_per_epoch} batches; run {}",
                run_dir.display()
            );
        }
        TrainEvent::Batch {
            stage,
            epoch,
            batch,
            batches,
            loss,
        } if !json => {
            let bar = bar.get_or_insert_with(|| new_bar(batches as u64));
            if batch == 1 {
                bar.reset();
                bar.set_prefix(format!("{} {epoch:>3}", stage.name()));
            }
            bar.set_position(batch as u64);
            bar.set_message(format!("loss {loss:.4}"));
        }
        TrainEvent::Epoch {
            stage,
            epoch,
            train_loss,
            valid,
            seconds,
            best,
        } => {
            let metric = |name: &str| valid.get(name).copied().unwrap_or(f64::NAN);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"stage": stage.name(), "epoch": epoch, "train_loss": train_loss, "valid": valid, "seconds": seconds, "best": best})
                );
            } else {
                let line = format!(
                    "{} {epoch:>3}  loss {train_loss:.4}  valid hit@10 {:.4}  ndcg@10 {:.4}  {seconds:.1} s{}",
                    stage.name(),
                    metric("hit@10"),
                    metric("ndcg@10"),
                    if best { "  *best" } else { "" }
                );
                match &bar {
                    Some(bar) if !bar.is_hidden() => bar.println(line),
                    _ => eprintln!("{line}"),
                }
            }
        }
        TrainEvent::Batch { .. } | TrainEvent::CheckpointSaved { .. } => {}
        TrainEvent::Finished { .. } | TrainEvent::Failed { .. } => {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
        }
    };
    let outcome = train_on_chosen_device(
        dataset,
        config,
        &args.out,
        args.resume.as_deref(),
        stop,
        &mut on_event,
    )?;
    let test = outcome
        .test
        .as_ref()
        .map(|t| t.metrics.clone())
        .unwrap_or_default();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "run": outcome.run_dir,
                "model": outcome.run.model.name,
                "test": test,
                "valid": outcome.run.valid_metrics,
                "by_target": outcome.run.test_metrics_by_target,
                "timings_secs": outcome.run.timings_secs,
                "status": outcome.run.status,
            })
        );
    } else {
        println!("test (best validation epoch, full ranking):");
        print!("{:>5}", "K");
        for name in ["HR", "NDCG", "MRR", "Cover"] {
            print!(" {name:>8}");
        }
        println!();
        for k in &config.cutoffs {
            print!("{k:>5}");
            for name in ["hit", "ndcg", "mrr", "item_coverage"] {
                print!(
                    " {:>8.4}",
                    test.get(&format!("{name}@{k}"))
                        .copied()
                        .unwrap_or(f64::NAN)
                );
            }
            println!();
        }
        super::eval::print_target_groups(&outcome.run.test_metrics_by_target, &config.cutoffs);
        println!(
            "{} in {:.0} s; run saved to {}",
            outcome.run.model.name,
            outcome.run.timings_secs.get("wall").copied().unwrap_or(0.0),
            outcome.run_dir.display()
        );
    }
    Ok(outcome)
}

/// The first Ctrl-C ends the run after the current batch, the way the app's Stop button does:
/// the best weights so far are tested and the run is saved as cancelled (and can be resumed).
/// A second one quits at once; the checkpoint of the last finished epoch stays on disk.
pub fn stop_on_ctrl_c(stop: &Arc<AtomicBool>) {
    let stop = Arc::clone(stop);
    let installed = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping after this batch; the run is tested and saved as cancelled (Ctrl-C again to quit now)"
        );
    });
    if let Err(e) = installed {
        // Training works without it; Ctrl-C then ends the process as usual.
        eprintln!("note: Ctrl-C will not stop the run cleanly: {e}");
    }
}

fn new_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    // The template is a constant known to parse.
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
