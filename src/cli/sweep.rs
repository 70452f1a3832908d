//! `reclab sweep --config sweep.toml`: a grid or random search, each trial a run in the
//! sweep's folder, the best chosen on validation; resumes where it stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use reclab::sweep::slurm::{self, SlurmRecord, TrialState};
use reclab::sweep::trial::run_one_trial;
use reclab::sweep::{BEST_FILE, Sweep, SweepEvent, open_state, ranked, run_sweep, trial_run};
use reclab::train::TrainEvent;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// The sweep file: a train (or baseline) config with a `[sweep]` table.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the final state as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Run only this trial (what each task of a Slurm job array runs), recording it in the
    /// sweep's folder beside the others.
    #[arg(long)]
    trial: Option<usize>,
    /// Submit the sweep to Slurm as one job array (a task per unfinished trial) instead of
    /// running it here.
    #[arg(long)]
    slurm: bool,
    #[command(flatten)]
    slurm_options: super::slurm::SlurmArgs,
    /// With --slurm: print the batch script without submitting it.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Each trial's state (queued, running, done, failed) from the sweep folder and squeue,
    /// the best trial so far, and the log tail of failed trials.
    Status {
        /// The sweep's folder (its `out`).
        dir: PathBuf,
        #[arg(long)]
        json: bool,
        /// Submit the failed trials again (to Slurm, as the sweep was); a training trial
        /// resumes from its checkpoint.
        #[arg(long)]
        resubmit_failed: bool,
    },
}

pub fn run(args: SweepArgs) -> Result<()> {
    if let Some(SweepCommand::Status {
        dir,
        json,
        resubmit_failed,
    }) = &args.command
    {
        return status(dir, *json, *resubmit_failed);
    }
    let Some(config) = &args.config else {
        anyhow::bail!("give --config FILE (a sweep file), or `reclab sweep status DIR`");
    };
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let sweep = Sweep::parse(&text, config).map_err(anyhow::Error::msg)?;
    if args.slurm {
        return submit(&sweep, config, &args);
    }
    let stop = Arc::new(AtomicBool::new(false));
    super::train::stop_on_ctrl_c(&stop);
    if let Some(index) = args.trial {
        let state = run_one_trial(&sweep, index, stop, &mut |event| print_event(&sweep, event))
            .map_err(anyhow::Error::msg)?;
        let Some(trial) = state.trials.iter().find(|t| t.index == index) else {
            return Ok(());
        };
        eprintln!(
            "trial {index}: valid {} {:.4}, run {}",
            sweep.metric,
            trial.valid.unwrap_or(f64::NAN),
            trial.run.as_deref().unwrap_or("-")
        );
        return Ok(());
    }
    let state = run_sweep(&sweep, stop, &mut |event| print_event(&sweep, event))
        .map_err(anyhow::Error::msg)?;
    print_state(&sweep, &state, args.json)
}

fn print_event(sweep: &Sweep, event: SweepEvent<'_>) {
    match event {
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
    }
}

fn print_state(sweep: &Sweep, state: &reclab::sweep::SweepState, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(state)?);
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
    for trial in ranked(state) {
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

/// `--slurm`: the unfinished trials as one job array.
fn submit(sweep: &Sweep, config: &std::path::Path, args: &SweepArgs) -> Result<()> {
    if let Some(warning) = slurm::unshared_warning(&sweep.out) {
        eprintln!("warning: {warning}");
    }
    let state = open_state(sweep).map_err(anyhow::Error::msg)?;
    let existing = SlurmRecord::load(&sweep.out).map_err(anyhow::Error::msg)?;
    if existing.is_some() && !args.dry_run {
        let status = slurm::status(&sweep.out).map_err(anyhow::Error::msg)?;
        let live = status.count(TrialState::Queued) + status.count(TrialState::Running);
        anyhow::ensure!(
            live == 0,
            "{}: already submitted, {live} trials queued or running; follow it with `reclab sweep \
             status {}` (--resubmit-failed submits what failed)",
            sweep.out.display(),
            sweep.out.display()
        );
    }
    let trials: Vec<usize> = state
        .trials
        .iter()
        .filter(|t| !t.finished)
        .map(|t| t.index)
        .collect();
    if trials.is_empty() {
        println!(
            "{}: every trial has finished; nothing to submit",
            sweep.out.display()
        );
        return Ok(());
    }
    let mut record = match existing {
        Some(mut record) => {
            record.options = args.slurm_options.options();
            record
        }
        None => {
            slurm::new_record(config, args.slurm_options.options()).map_err(anyhow::Error::msg)?
        }
    };
    let (script, submission) = slurm::submit(
        &mut record,
        &sweep.out,
        &job_name(sweep),
        &trials,
        args.dry_run,
    )?;
    match submission {
        None => print!("{script}"),
        Some(s) => println!(
            "submitted job {} ({} trials: array {}); script {}; follow it with `reclab sweep status {}`",
            s.job_id,
            trials.len(),
            slurm::array_spec(&trials),
            s.script.display(),
            sweep.out.display()
        ),
    }
    Ok(())
}

fn job_name(sweep: &Sweep) -> String {
    sweep
        .out
        .file_name()
        .map_or_else(|| "sweep".to_string(), |n| n.to_string_lossy().into_owned())
}

/// `reclab sweep status DIR`.
fn status(dir: &std::path::Path, json: bool, resubmit_failed: bool) -> Result<()> {
    let mut status = slurm::status(dir).map_err(anyhow::Error::msg)?;
    if resubmit_failed {
        let failed: Vec<usize> = status
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Failed)
            .map(|t| t.index)
            .collect();
        if failed.is_empty() {
            eprintln!("no failed trial to resubmit");
        } else {
            let Some(mut record) = SlurmRecord::load(dir).map_err(anyhow::Error::msg)? else {
                anyhow::bail!(
                    "{}: this sweep was not submitted to Slurm (no {}); run it again here with \
                     `reclab sweep --config FILE`, which resumes it",
                    dir.display(),
                    slurm::SLURM_FILE
                );
            };
            let name = dir
                .file_name()
                .map_or_else(|| "sweep".to_string(), |n| n.to_string_lossy().into_owned());
            let (_, submission) = slurm::submit(&mut record, dir, &name, &failed, false)?;
            if let Some(s) = submission {
                eprintln!(
                    "resubmitted trials {} as job {}",
                    slurm::array_spec(&failed),
                    s.job_id
                );
            }
            status = slurm::status(dir).map_err(anyhow::Error::msg)?;
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    let counts: Vec<String> = [
        TrialState::Done,
        TrialState::Running,
        TrialState::Queued,
        TrialState::Failed,
        TrialState::Pending,
    ]
    .iter()
    .map(|&s| format!("{} {}", status.count(s), format!("{s:?}").to_lowercase()))
    .collect();
    println!("{}: {}", dir.display(), counts.join(", "));
    if !status.queue_answered {
        println!(
            "(squeue did not answer: running and queued are as the folder last recorded them)"
        );
    }
    println!(
        "{:>5}  {:<8} {:<12} {:<40} {:>9}",
        "trial", "state", "job", "parameters", "valid"
    );
    for t in &status.trials {
        println!(
            "{:>5}  {:<8} {:<12} {:<40} {:>9}",
            t.index,
            format!("{:?}", t.state).to_lowercase(),
            t.job.as_deref().unwrap_or("-"),
            describe(&t.params),
            t.valid.map_or("-".into(), |v| format!("{v:.4}"))
        );
    }
    if let Some(t) = status
        .best
        .and_then(|best| status.trials.iter().find(|t| t.index == best))
    {
        let best = t.index;
        println!(
            "best so far: trial {best} (validation {} {:.4}), {}",
            status.metric,
            t.valid.unwrap_or(f64::NAN),
            dir.join(BEST_FILE).display()
        );
    }
    for t in status
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Failed)
    {
        println!(
            "\ntrial {} failed: {}",
            t.index,
            t.error.as_deref().unwrap_or("-")
        );
        if let Some(tail) = &t.log_tail {
            println!("{tail}");
        }
    }
    Ok(())
}
