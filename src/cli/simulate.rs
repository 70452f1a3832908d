//! `reclab simulate …`: simulated users through two or more page policies (A/B with common
//! random numbers); prints the outcome table and saves it as a run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use reclab::data::{Split, SplitStrategy};
use reclab::recommend::{BaselineConfig, BprConfig, ItemKnnConfig, Recommender};
use reclab::sim::{
    AbConfig, AbReport, PageValues, PolicyKind, SessionConfig, UserPool, ab_run_file, run_ab_with,
};

use super::data::DatasetOptions;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The model that ranks: a run folder (its Transformer or baseline), or pop, itemknn, bpr,
    /// content (fitted here).
    #[arg(long, default_value = "pop")]
    model: String,
    /// Policies, comma-separated: static, greedy, mmr[:λ], bandit[:ε], thompson, rl:RUN (a
    /// policy from `reclab rl train`; with it, every policy meets the held-out users only).
    #[arg(long, value_delimiter = ',', default_value = "static,greedy")]
    policies: Vec<String>,
    /// Satiation added per click to the clicked item's genres (0: users never tire of a genre).
    #[arg(long, default_value_t = SessionConfig::default().satiation)]
    satiation: f64,
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
    let mut learned: Option<(Arc<dyn PageValues>, String)> = None;
    let mut policies: Vec<PolicyKind> = Vec::new();
    for text in args.policies.iter().map(|p| p.trim()) {
        if let Some(run) = text.strip_prefix("rl:") {
            anyhow::ensure!(
                learned.is_none(),
                "--policies: one learned policy (rl:RUN) per simulation"
            );
            let (policy, config) = reclab::rl::load_policy(Path::new(run))
                .with_context(|| format!("--policies {text}"))?;
            learned = Some((policy.as_page_values(), config.recommender));
            policies.push(PolicyKind::Learned);
        } else {
            policies.push(PolicyKind::parse(text).map_err(anyhow::Error::msg)?);
        }
    }
    anyhow::ensure!(!policies.is_empty(), "--policies needs at least one policy");
    if let Some((_, trained_with)) = &learned
        && trained_with != &args.model
    {
        eprintln!(
            "note: the learned policy was trained on the candidates of `{trained_with}`; here `{}` ranks them",
            args.model
        );
    }
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
        simulate_once(
            &args,
            &dataset,
            &split,
            &policies,
            learned.as_ref().map(|(values, _)| values),
            seed,
            group.as_deref(),
        )?;
    }
    Ok(())
}

fn simulate_once(
    args: &SimulateArgs,
    dataset: &reclab::data::Dataset,
    split: &Split,
    policies: &[PolicyKind],
    learned: Option<&Arc<dyn PageValues>>,
    seed: u64,
    group: Option<&str>,
) -> Result<()> {
    let model = recommender(&args.model, dataset, split, seed)?;
    let config = AbConfig {
        policies: policies.to_vec(),
        users: args.users,
        session: SessionConfig {
            max_steps: args.steps,
            satiation: args.satiation,
            ..SessionConfig::default()
        },
        seed,
        // A learned policy is measured on users it did not train on; so is everything beside it.
        pool: if learned.is_some() {
            UserPool::HeldOut
        } else {
            UserPool::All
        },
    };
    eprintln!(
        "simulating {} users × {} policies with {} …",
        args.users,
        config.policies.len(),
        model.name()
    );
    if learned.is_some() {
        eprintln!("the users are the held-out half (even-indexed) of the dataset's, cycled");
    }
    let report = run_ab_with(model.as_ref(), dataset, split, &config, learned);
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

/// The recommender named on the command line: pop, itemknn, bpr, content (fitted here), or a
/// run folder.
pub(super) fn recommender(
    name: &str,
    dataset: &reclab::data::Dataset,
    split: &Split,
    seed: u64,
) -> Result<Box<dyn Recommender>> {
    Ok(match name {
        "pop" => BaselineConfig::Pop.fit(dataset, split)?,
        "itemknn" => BaselineConfig::ItemKnn(ItemKnnConfig::default()).fit(dataset, split)?,
        "bpr" => BaselineConfig::Bpr(BprConfig {
            seed,
            ..BprConfig::default()
        })
        .fit(dataset, split)?,
        "content" => BaselineConfig::Content.fit(dataset, split)?,
        run => reclab::train::model_from_run(Path::new(run), dataset)?,
    })
}

fn print_table(report: &AbReport) {
    print_outcomes(report);
    if let Some(base) = reclab::sim::paired_base(report) {
        for o in report.outcomes.iter().filter(|o| o.policy != base.policy) {
            if let Some(d) = o.clicks_over(base) {
                println!(
                    "paired: {} − {} = {:+.3} ± {:.3} clicks/session (same users, same random numbers)",
                    o.policy, base.policy, d.mean, d.ci95
                );
            }
        }
    }
}

fn print_outcomes(report: &AbReport) {
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
