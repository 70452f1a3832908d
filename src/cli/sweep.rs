//! `reclab sweep --config sweep.toml`: a grid or random search, each trial a run in the
//! sweep's folder, the best chosen on validation; resumes where it stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::Args;
use reclab::sweep::{BEST_FILE, Sweep, SweepEvent, ranked, run_sweep, trial_run};
use reclab::train::TrainEvent;

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep file: a train (or baseline) config with a `[sweep]` table.
    #[arg(long)]
    config: PathBuf,
    /// Print the final state as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: SweepArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let sweep = Sweep::parse(&text, &args.config).map_err(anyhow::Error::msg)?;
    let stop = Arc::new(AtomicBool::new(false));
    super::train::stop_on_ctrl_c(&stop);
    let state = run_sweep(&sweep, stop, &mut |event| match event {
        SweepEvent::Trial { trial, of, skipped } => eprintln!(
            "trial {}/{of} {}{}",
            trial.index,
            describe(&trial.params),
            if skipped {
                ": finished before, not run again"
            } else {
                ""
            }
        ),
        SweepEvent::Train(TrainEvent::Epoch { epoch, valid, .. }) => eprintln!(
            "  epoch {epoch:>3}  valid {} {:.4}",
            sweep.metric,
            valid.get(&sweep.metric).copied().unwrap_or(f64::NAN)
        ),
        SweepEvent::Train(_) => {}
        SweepEvent::Finished { trial } => eprintln!(
            "  valid {} {:.4}  run {}",
            sweep.metric,
            trial.valid.unwrap_or(f64::NAN),
            trial.run.as_deref().unwrap_or("-")
        ),
    })
    .map_err(anyhow::Error::msg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&state)?);
        return Ok(());
    }
    let finished = state.trials.iter().filter(|t| t.finished).count();
    println!(
        "{}: {finished} of {} trials finished, sorted by validation {} (test shown, never used to choose)",
        sweep.out.display(),
        state.trials.len(),
        state.metric
    );
    println!(
        "{:>5}  {:<48} {:>9} {:>9}  run",
        "trial", "parameters", "valid", "test"
    );
    for trial in ranked(&state) {
        let test = trial_run(&sweep.out, trial)
            .and_then(Result::ok)
            .and_then(|run| run.test_metrics.get(&state.metric).copied());
        println!(
            "{:>5}  {:<48} {:>9.4} {:>9}  {}",
            trial.index,
            describe(&trial.params),
            trial.valid.unwrap_or(f64::NAN),
            test.map_or("-".into(), |t| format!("{t:.4}")),
            trial.run.as_deref().unwrap_or("-")
        );
    }
    if finished > 0 {
        println!("best config: {}", sweep.out.join(BEST_FILE).display());
    }
    Ok(())
}

fn describe(params: &std::collections::BTreeMap<String, serde_json::Value>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={v}", k.rsplit('.').next().unwrap_or(k)))
        .collect::<Vec<_>>()
        .join(" ")
}
