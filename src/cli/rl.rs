//! `reclab rl train …`: a learned page policy (SlateQ-style Q-learning) trained on simulated
//! users over a recommender's candidates, with a progress bar and the held-out comparison
//! against the greedy page as it learns; saved as a run for `reclab simulate --policies rl:RUN`
//! and the Live preview.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use clap::{Args, Subcommand};
use reclab::data::{Split, SplitStrategy};
use reclab::rl::{LearnerConfig, RlConfig, RlEvent, train_rl};
use reclab::sim::SessionConfig;

use super::data::DatasetOptions;

#[derive(Debug, Subcommand)]
pub enum RlCommand {
    /// Train a learned policy in the simulator and save it as a run.
    Train(RlTrainArgs),
}

#[derive(Debug, Args)]
pub struct RlTrainArgs {
    /// A dataset folder, any file of its set, or `synthetic`.
    #[arg(long, default_value = "synthetic")]
    data: String,
    #[command(flatten)]
    options: DatasetOptions,
    /// The recommender whose candidates the policy arranges: a run folder, or pop, itemknn,
    /// bpr, content (fitted here).
    #[arg(long, default_value = "pop")]
    model: String,
    /// Sessions to learn from.
    #[arg(long, default_value_t = RlConfig::default().episodes)]
    episodes: usize,
    /// Discount per page (0: a myopic learner).
    #[arg(long, default_value_t = LearnerConfig::default().gamma)]
    gamma: f64,
    /// Episodes between evaluations on held-out users.
    #[arg(long, default_value_t = RlConfig::default().eval_every)]
    eval_every: usize,
    /// Held-out users per evaluation.
    #[arg(long, default_value_t = RlConfig::default().eval_users)]
    eval_users: usize,
    /// Satiation added per click to the clicked item's genres (0: users never tire of a genre).
    #[arg(long, default_value_t = SessionConfig::default().satiation)]
    satiation: f64,
    /// Folder that receives the run.
    #[arg(long, default_value = "experiments")]
    out: PathBuf,
    /// Do not write a run.
    #[arg(long)]
    no_save: bool,
}

pub fn run(command: RlCommand) -> Result<()> {
    match command {
        RlCommand::Train(args) => train(args),
    }
}

fn train(args: RlTrainArgs) -> Result<()> {
    let dataset = args.options.load(&args.data)?;
    let split = Split::new(&dataset, SplitStrategy::LeaveOneOut)?;
    let seed = args.options.seed.unwrap_or(42);
    let model = super::simulate::recommender(&args.model, &dataset, &split, seed)?;
    let config = RlConfig {
        learner: LearnerConfig {
            gamma: args.gamma,
            ..LearnerConfig::default()
        },
        episodes: args.episodes,
        eval_every: args.eval_every,
        eval_users: args.eval_users,
        seed,
        session: SessionConfig {
            satiation: args.satiation,
            ..SessionConfig::default()
        },
        recommender: args.model.clone(),
        ..RlConfig::default()
    };
    eprintln!(
        "training a learned policy over {}'s candidates: {} episodes (training half of the users), γ = {}",
        model.name(),
        config.episodes,
        config.learner.gamma
    );
    let bar = indicatif::ProgressBar::new(config.episodes as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} episodes, {per_sec}, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut recent: Vec<f64> = Vec::new();
    let stop = AtomicBool::new(false);
    let outcome = train_rl(
        model.as_ref(),
        &dataset,
        &args.data,
        &config,
        (!args.no_save).then_some(args.out.as_path()),
        &stop,
        &mut |event| match event {
            RlEvent::Episode {
                episode,
                session_return,
                epsilon,
                ..
            } => {
                recent.push(session_return);
                let window = &recent[recent.len().saturating_sub(100)..];
                let mean = window.iter().sum::<f64>() / window.len() as f64;
                bar.set_position(episode as u64);
                bar.set_message(format!("return {mean:.2} (last 100), ε {epsilon:.2}"));
            }
            RlEvent::Evaluated {
                episode,
                learned,
                greedy,
            } => bar.println(format!(
                "episode {episode}: held-out return rl {learned:.3}, greedy {greedy:.3}"
            )),
        },
    )?;
    bar.finish_and_clear();
    let train_secs = outcome
        .run
        .timings_secs
        .get("train")
        .copied()
        .unwrap_or(0.0);
    println!(
        "trained {} episodes in {train_secs:.1} s; held-out return: rl {:.3}, greedy {:.3}",
        config.episodes,
        outcome
            .run
            .test_metrics
            .get("rl_return")
            .copied()
            .unwrap_or(f64::NAN),
        outcome
            .run
            .test_metrics
            .get("greedy_return")
            .copied()
            .unwrap_or(f64::NAN),
    );
    if let Some(dir) = outcome.run_dir {
        println!("run saved to {}", dir.display());
    }
    Ok(())
}
