//! `reclab simulate …`: simulated users through two or more page policies (A/B with common
//! random numbers); prints the outcome table and saves it as a run.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use reclab::data::{Split, SplitStrategy};
use reclab::recommend::{BaselineConfig, BprConfig, ItemKnnConfig, Recommender};
use reclab::sim::{AbConfig, AbReport, PolicyKind, SessionConfig, ab_run_file, run_ab};

use super::data::DatasetOptions;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The model that ranks: a run folder (its Transformer or baseline), or pop, itemknn, bpr,
    /// content (fitted here).
    #[arg(long, default_value = "pop")]
    model: String,
    /// Policies, comma-separated: static, greedy, mmr[:λ], bandit[:ε], thompson.
    #[arg(long, value_delimiter = ',', default_value = "static,greedy")]
    policies: Vec<String>,
    /// Simulated users.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// A dataset folder, any file of its set, or `synthetic`.
    #[arg(long, default_value = "synthetic")]
    data: String,
    #[command(flatten)]
    options: DatasetOptions,
    /// Pages at most per session.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Folder that receives the run.
    #[arg(long, default_value = "experiments")]
    out: PathBuf,
    /// Do not write a run.
    #[arg(long)]
    no_save: bool,
    /// Simulate once per seed (comma-separated: the users' random numbers, BPR's fit), the
    /// runs grouped for `reclab runs compare`; the synthetic world keeps `--seed`'s.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let policies: Vec<PolicyKind> = args
        .policies
        .iter()
        .map(|p| PolicyKind::parse(p.trim()))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(!policies.is_empty(), "--policies needs at least one policy");
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    let dataset = args.options.load(&args.data)?;
    let split = Split::new(&dataset, SplitStrategy::LeaveOneOut)?;
    let group = (!args.seeds.is_empty()).then(|| {
        format!(
            "{}-simulate-{}-seeds",
            chrono::Utc::now().format("%Y%m%d-%H%M%S"),
            args.model
        )
    });
    let seeds = if args.seeds.is_empty() {
        vec![args.options.seed.unwrap_or(42)]
    } else {
        args.seeds.clone()
    };
    for seed in seeds {
        if let Some(group) = &group {
            eprintln!("seed {seed} ({group})");
        }
        simulate_once(&args, &dataset, &split, &policies, seed, group.as_deref())?;
    }
    Ok(())
}

fn simulate_once(
    args: &SimulateArgs,
    dataset: &reclab::data::Dataset,
    split: &Split,
    policies: &[PolicyKind],
    seed: u64,
    group: Option<&str>,
) -> Result<()> {
    let model: Box<dyn Recommender> = match args.model.as_str() {
        "pop" => BaselineConfig::Pop.fit(dataset, split)?,
        "itemknn" => BaselineConfig::ItemKnn(ItemKnnConfig::default()).fit(dataset, split)?,
        "bpr" => BaselineConfig::Bpr(BprConfig {
            seed,
            ..BprConfig::default()
        })
        .fit(dataset, split)?,
        "content" => BaselineConfig::Content.fit(dataset, split)?,
        run => reclab::train::model_from_run(std::path::Path::new(run), dataset)?,
    };
    let config = AbConfig {
        policies: policies.to_vec(),
        users: args.users,
        session: SessionConfig {
            max_steps: args.steps,
            ..SessionConfig::default()
        },
        seed,
    };
    eprintln!(
        "simulating {} users × {} policies with {} …",
        args.users,
        config.policies.len(),
        model.name()
    );
    let report = run_ab(model.as_ref(), dataset, split, &config);
    let saved = if args.no_save {
        None
    } else {
        let mut run = ab_run_file(&report, &config, dataset, &args.data);
        run.group = group.map(str::to_string);
        Some(run.save(&args.out)?)
    };
    if args.json {
        println!("{}", serde_json::json!({ "report": report, "run": saved }));
    } else {
        print_table(&report);
        if let Some(dir) = saved {
            println!("run saved to {}", dir.display());
        }
    }
    Ok(())
}

fn print_table(report: &AbReport) {
    println!(
        "{} simulated users, model {}, {:.1} s (± is the 95% interval over users)",
        report.users, report.model, report.seconds
    );
    println!(
        "{:<14} {:>16} {:>16} {:>18} {:>14} {:>9} {:>8} {:>14}",
        "policy",
        "CTR",
        "clicks/session",
        "dwell s/session",
        "pages/session",
        "coverage",
        "genre H",
        "re-rank p99"
    );
    for o in &report.outcomes {
        println!(
            "{:<14} {:>8.4} ± {:.4} {:>9.2} ± {:.2} {:>11.0} ± {:>4.0} {:>7.2} ± {:.2} {:>9.3} {:>8.2} {:>11.2} ms",
            o.policy,
            o.ctr.mean,
            o.ctr.ci95,
            o.clicks_per_session.mean,
            o.clicks_per_session.ci95,
            o.dwell_secs_per_session.mean,
            o.dwell_secs_per_session.ci95,
            o.pages_per_session.mean,
            o.pages_per_session.ci95,
            o.click_coverage,
            o.click_genre_entropy,
            o.rerank_p99_ms
        );
    }
}
