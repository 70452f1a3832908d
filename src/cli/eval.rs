//! `reclab eval …`: fit a baseline, evaluate it, print the metrics and save a run.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use reclab::data::{Dataset, Split};
use reclab::eval::{EvalConfig, EvalReport, Protocol, Stage, write_score_dump};
use reclab::recommend::{BaselineConfig, BprConfig, ItemKnnConfig, RerankBase, RerankConfig};
use reclab::runs::{BaselineRun, run_baseline_with};

use super::data::{DatasetOptions, parse_strategy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelName {
    Pop,
    Itemknn,
    Bpr,
    Content,
    /// Sentence vectors of a pretrained language model (`--lm`).
    Lm,
    /// A base model's top `--candidates` re-ordered by the generative model `--llm`.
    Rerank,
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// The model to fit on the training split.
    #[arg(long, value_enum)]
    model: ModelName,
    /// A dataset folder, any file of its set, or `synthetic`.
    #[arg(long, default_value = "synthetic")]
    data: String,
    #[command(flatten)]
    options: DatasetOptions,
    /// `loo` (leave-one-out by time) or `temporal` (global cut by time).
    #[arg(long, default_value = "loo")]
    split: String,
    /// Share of interactions for training (temporal split).
    #[arg(long, default_value_t = 0.8)]
    train: f64,
    /// Share of interactions for validation (temporal split).
    #[arg(long, default_value_t = 0.1)]
    valid: f64,
    /// `full` (all unseen items, the default), or sampled: `uni100`, `pop100` (any count).
    #[arg(long, default_value = "full")]
    protocol: Protocol,
    /// Evaluate an evenly spaced sample of this many users (for slow models: an LLM on a
    /// CPU); the protocol's label says so.
    #[arg(long)]
    users: Option<usize>,
    /// Cut-offs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "5,10,20")]
    k: Vec<usize>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Folder that receives the run.
    #[arg(long, default_value = "experiments")]
    out: PathBuf,
    /// Do not write a run.
    #[arg(long)]
    no_save: bool,
    /// Fit and evaluate once per seed (comma-separated, e.g. 1,2,3: BPR's initialisation,
    /// sampled protocols' negatives), the runs grouped for `reclab runs compare`.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    #[command(flatten)]
    cluster: super::slurm::SeedsOnSlurm,
    /// The model's seed for one of `--seeds` (the synthetic world keeps `--seed`'s).
    #[arg(skip)]
    model_seed: Option<u64>,
    /// Also write raw test scores and lists here (`scores.f32`, `users.tsv`, `metrics.json`) for
    /// an independent check (tests/reference/ranking_metrics.py).
    #[arg(long)]
    dump: Option<PathBuf>,
    /// ItemKNN: neighbours kept per item.
    #[arg(long, default_value_t = 100)]
    neighbours: usize,
    /// ItemKNN: shrinkage of the cosine.
    #[arg(long, default_value_t = 0.0)]
    shrink: f32,
    /// BPR-MF: latent factors.
    #[arg(long, default_value_t = 64)]
    factors: usize,
    /// BPR-MF: epochs.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// BPR-MF: learning rate.
    #[arg(long, default_value_t = 0.05)]
    lr: f32,
    /// BPR-MF: L2 regularisation.
    #[arg(long, default_value_t = 0.0025)]
    reg: f32,
    /// lm: the Hugging Face model folder (e.g. all-MiniLM-L6-v2).
    #[arg(long)]
    lm: Option<PathBuf>,
    /// lm: the user's vector, `history` (recency-weighted mean of item vectors), `profile`
    /// (the embedded profile text) or `llm-profile` (the embedded profile `--llm` writes).
    #[arg(long, default_value = "history")]
    user_vector: reclab::recommend::UserVector,
    /// lm: the item-text template, e.g. "{title} ({year}). {genres}." (default: per dataset);
    /// `{llm_description}` adds the description `--llm` writes of each item (cached).
    #[arg(long)]
    template: Option<String>,
    /// lm: the generative model (a GGUF file or a Hugging Face folder) that writes the
    /// profiles of `--user-vector llm-profile` and the descriptions of `{llm_description}`.
    #[arg(long)]
    llm: Option<PathBuf>,
    /// lm with `--user-vector llm-profile`: the profile prompt; `{history}` marks where the
    /// user's recent items go (default: a short taste description).
    #[arg(long)]
    profile_prompt: Option<String>,
    /// rerank: the base model, `pop`, `itemknn`, `bpr`, `content`, `lm` (with their options
    /// here) or a saved run's folder (a trained Transformer).
    #[arg(long)]
    base: Option<String>,
    /// rerank: how many of the base model's best items the LLM re-orders.
    #[arg(long, default_value_t = reclab::recommend::DEFAULT_CANDIDATES)]
    candidates: usize,
    /// lm: device for the encoder: auto, cpu, cuda, wgpu.
    #[arg(long, default_value = "auto")]
    device: reclab::device::DeviceChoice,
}

impl EvalArgs {
    fn seed(&self) -> u64 {
        self.model_seed.or(self.options.seed).unwrap_or(42)
    }

    fn baseline(&self) -> Result<BaselineConfig> {
        self.baseline_of(self.model)
    }

    fn rerank(&self) -> Result<BaselineConfig> {
        let Some(base) = &self.base else {
            anyhow::bail!(
                "--model rerank needs --base: pop, itemknn, bpr, content, lm or a saved run's folder"
            );
        };
        let Some(llm) = &self.llm else {
            anyhow::bail!("--model rerank needs --llm PATH, a GGUF file or a Hugging Face folder");
        };
        anyhow::ensure!(self.candidates > 0, "--candidates must be at least 1");
        let base = match ModelName::from_str(base, true) {
            Ok(ModelName::Rerank) => anyhow::bail!("--base rerank: a re-ranker needs another base"),
            Ok(name) => RerankBase::Baseline(Box::new(self.baseline_of(name)?)),
            Err(_) => {
                let path = PathBuf::from(base);
                anyhow::ensure!(
                    path.join("run.json").is_file(),
                    "--base {base}: neither a model name (pop, itemknn, bpr, content, lm) nor a run folder with run.json"
                );
                RerankBase::Run(path)
            }
        };
        Ok(BaselineConfig::Rerank(RerankConfig {
            base,
            llm: llm.clone(),
            candidates: self.candidates,
            device: self.device,
        }))
    }

    fn baseline_of(&self, model: ModelName) -> Result<BaselineConfig> {
        Ok(match model {
            ModelName::Rerank => return self.rerank(),
            ModelName::Pop => BaselineConfig::Pop,
            ModelName::Itemknn => {
                anyhow::ensure!(
                    self.shrink >= 0.0,
                    "--shrink must be 0 or more (got {})",
                    self.shrink
                );
                anyhow::ensure!(self.neighbours > 0, "--neighbours must be at least 1");
                BaselineConfig::ItemKnn(ItemKnnConfig {
                    neighbours: self.neighbours,
                    shrink: self.shrink,
                })
            }
            ModelName::Bpr => {
                anyhow::ensure!(self.factors > 0, "--factors must be at least 1");
                anyhow::ensure!(
                    self.lr > 0.0 && self.lr.is_finite(),
                    "--lr must be a positive number"
                );
                BaselineConfig::Bpr(BprConfig {
                    factors: self.factors,
                    epochs: self.epochs,
                    learning_rate: self.lr,
                    regularization: self.reg,
                    seed: self.seed(),
                    ..BprConfig::default()
                })
            }
            ModelName::Content => BaselineConfig::Content,
            ModelName::Lm => {
                let Some(lm) = &self.lm else {
                    anyhow::bail!(
                        "--model lm needs --lm PATH, a Hugging Face model folder \
                         (config.json, tokenizer.json, model.safetensors)"
                    );
                };
                BaselineConfig::Lm(reclab::recommend::LmConfig {
                    lm: lm.clone(),
                    user_vector: self.user_vector,
                    template: self.template.clone(),
                    device: self.device,
                    llm: self.llm.clone(),
                    profile_prompt: self.profile_prompt.clone(),
                    ..Default::default()
                })
            }
        })
    }

    fn eval_config(&self) -> EvalConfig {
        let protocol = match self.protocol {
            Protocol::Sampled {
                negatives,
                sampling,
                ..
            } => Protocol::Sampled {
                negatives,
                sampling,
                seed: self.seed(),
            },
            Protocol::Full => Protocol::Full,
        };
        EvalConfig {
            protocol,
            cutoffs: self.k.clone(),
            keep_rankings: false,
            users: self.users,
        }
    }
}

pub fn run(args: EvalArgs) -> Result<()> {
    if args.seeds.is_empty() {
        return run_once(&args, None);
    }
    let group = args.cluster.group.clone().unwrap_or_else(|| {
        format!(
            "{}-{:?}-seeds",
            chrono::Utc::now().format("%Y%m%d-%H%M%S"),
            args.model
        )
        .to_lowercase()
    });
    if args.cluster.slurm {
        return super::slurm::submit(
            &args.out,
            &group,
            args.seeds.len(),
            &args.cluster.options,
            args.cluster.dry_run,
        );
    }
    if let Some(task) = args.cluster.seed_task {
        let Some(&seed) = args.seeds.get(task) else {
            anyhow::bail!("--seed-task {task}: --seeds has {} seeds", args.seeds.len());
        };
        let mut once = args.clone();
        once.model_seed = Some(seed);
        eprintln!("seed {seed} ({group})");
        return run_once(&once, Some(&group));
    }
    for &seed in &args.seeds {
        let mut once = args.clone();
        once.model_seed = Some(seed);
        eprintln!("seed {seed} ({group})");
        run_once(&once, Some(&group))?;
    }
    Ok(())
}

/// One fit and evaluation; `group` names the seed group the run belongs to.
fn run_once(args: &EvalArgs, group: Option<&str>) -> Result<()> {
    let mut baseline = args.baseline()?;
    let lm_inside = match &mut baseline {
        BaselineConfig::Rerank(RerankConfig {
            base: RerankBase::Baseline(base),
            ..
        }) => match base.as_mut() {
            BaselineConfig::Lm(lm) => Some(lm),
            _ => None,
        },
        BaselineConfig::Lm(lm) => Some(lm),
        _ => None,
    };
    if let Some(lm) = lm_inside {
        // Item vectors follow the dataset cache's options (`--cache-dir`, `--no-cache`).
        lm.cache_dir = Some(args.options.cache_dir());
    }
    let config = args.eval_config();
    let dataset = args.options.load(&args.data)?;
    if let BaselineConfig::Lm(lm) = &baseline
        && lm
            .template
            .as_deref()
            .is_some_and(reclab::lm::written::descriptions::wants_descriptions)
    {
        // Written here with progress; the fit then reads them from the cache.
        let started = std::time::Instant::now();
        reclab::recommend::describe_items(
            lm,
            &dataset,
            args.options.cache_dir().as_deref(),
            &mut |done, total| {
                eprint!("\ritem descriptions {done}/{total}");
                let _ = std::io::stderr().flush();
                true
            },
        )?;
        eprintln!(" ({:.1} s)", started.elapsed().as_secs_f64());
    }
    let strategy = parse_strategy(&args.split, args.train, args.valid)?;
    let split = Split::new(&dataset, strategy)?;

    eprintln!("fitting {} on {} …", baseline.name(), dataset.name);
    // When the current pass (validation, then test) was first seen and how far it was then:
    // the rate tells the users of slow models (an LLM) how long to wait.
    let pass = std::sync::Mutex::new((std::time::Instant::now(), 0usize, 0usize));
    let progress = |done: usize, total: usize| {
        let mut pass = pass.lock().unwrap_or_else(|e| e.into_inner());
        if done < pass.2 {
            // A new pass: count from here.
            *pass = (std::time::Instant::now(), done, done);
        }
        pass.2 = done;
        let secs = pass.0.elapsed().as_secs_f64();
        let rate = if secs >= 1.0 {
            format!(" ({:.1} users/s)", (done - pass.1) as f64 / secs)
        } else {
            String::new()
        };
        eprint!("\r{} {done}/{total} users{rate}   ", baseline.name());
        let _ = std::io::stderr().flush();
        true
    };
    let open_run = |path: &std::path::Path| {
        reclab::train::model_from_run(path, &dataset).map_err(|e| e.to_string())
    };
    let BaselineRun { run, model, test } = run_baseline_with(
        &baseline,
        &dataset,
        &args.data,
        strategy,
        &config,
        args.seed(),
        &progress,
        &open_run,
    )?;
    eprintln!();

    if let Some(dir) = &args.dump {
        anyhow::ensure!(
            config.protocol == Protocol::Full,
            "--dump needs the full-ranking protocol"
        );
        write_score_dump(model.as_ref(), &dataset, &split, Stage::Test, dir)
            .with_context(|| format!("writing the score dump to {}", dir.display()))?;
        let metrics = serde_json::json!({ "cutoffs": config.cutoffs, "metrics": test.metrics });
        std::fs::write(
            dir.join("metrics.json"),
            serde_json::to_vec_pretty(&metrics)?,
        )
        .with_context(|| format!("writing {}", dir.join("metrics.json").display()))?;
    }
    let mut run = run;
    run.group = group.map(str::to_string);
    let saved = if args.no_save {
        None
    } else {
        Some(run.save(&args.out)?)
    };

    if args.json {
        let out = serde_json::json!({
            "model": run.model.name,
            "dataset": dataset.name,
            "protocol": test.protocol,
            "users": test.users,
            "metrics": test.metrics,
            "valid_metrics": run.valid_metrics,
            "by_target": run.test_metrics_by_target,
            "timings_secs": run.timings_secs,
            "run": saved,
        });
        println!("{out}");
    } else {
        print_report(&dataset, &test, &config.cutoffs);
        print_target_groups(&run.test_metrics_by_target, &config.cutoffs);
        if split.cold_items() > 0
            && !matches!(baseline, BaselineConfig::Lm(_) | BaselineConfig::Content)
        {
            println!(
                "note: {} knows items by their interactions only; the {} cold items have none in \
                 training, so its cold results are what it scores without knowing them",
                baseline.name(),
                split.cold_items()
            );
        }
        if let Some(dir) = saved {
            println!("run saved to {}", dir.display());
        }
    }
    Ok(())
}

fn print_report(dataset: &Dataset, report: &EvalReport, cutoffs: &[usize]) {
    println!(
        "{} on {} ({} users, {} items), test targets, {}: {} users in {:.2} s",
        report.model,
        dataset.name,
        dataset.num_users(),
        dataset.num_items(),
        report.protocol,
        report.users,
        report.seconds
    );
    let columns = [
        ("HR", "hit"),
        ("Recall", "recall"),
        ("NDCG", "ndcg"),
        ("MRR", "mrr"),
        ("Prec", "precision"),
        ("MAP", "map"),
        ("Cover", "item_coverage"),
        ("Gini", "gini"),
        ("AvgPop", "avg_popularity"),
        ("Tail", "tail_share"),
        ("Entropy", "entropy"),
        ("ILD", "ild"),
    ];
    print!("{:>5}", "K");
    for (label, _) in columns {
        print!(" {label:>8}");
    }
    println!();
    for k in cutoffs {
        print!("{k:>5}");
        for (_, name) in columns {
            match report.metrics.get(&format!("{name}@{k}")) {
                Some(v) if name == "avg_popularity" => print!(" {v:>8.1}"),
                Some(v) => print!(" {v:>8.4}"),
                None => print!(" {:>8}", "-"),
            }
        }
        println!();
    }
    println!("(with one target per user, as in leave-one-out, HR and Recall are the same number)");
}

/// HR and NDCG for cold and warm test targets apart (cold-items split).
pub fn print_target_groups(
    groups: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
    cutoffs: &[usize],
) {
    for (group, metrics) in groups {
        let users = metrics.get("users").copied().unwrap_or(0.0);
        let values: Vec<String> = cutoffs
            .iter()
            .flat_map(|k| {
                ["hit", "ndcg"].map(|m| match metrics.get(&format!("{m}@{k}")) {
                    Some(v) => format!("{m}@{k} {v:.4}"),
                    None => format!("{m}@{k} -"),
                })
            })
            .collect();
        println!("{group:>5} targets ({users} users): {}", values.join("  "));
    }
}
