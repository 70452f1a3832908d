//! The Slurm options every submitting command shares, and `reclab train|eval … --seeds 1,2,3
//! --slurm`: a seed group as one job array. Task `i` runs the same command line (without the
//! Slurm flags) for the `i`-th seed only, into the same group, so `reclab runs compare` and the
//! app read the runs as one group wherever they ran.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use reclab::sweep::slurm::{SlurmOptions, array_script, sbatch, shell_quote, unshared_warning};

/// How each task is submitted (`sbatch` options).
#[derive(Debug, Clone, Args)]
pub struct SlurmArgs {
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task, HH:MM:SS.
    #[arg(long)]
    time: Option<String>,
    /// CPUs per task.
    #[arg(long)]
    cpus: Option<u32>,
    /// Memory per task, e.g. 8G.
    #[arg(long)]
    mem: Option<String>,
    /// Generic resources per task, e.g. gpu:1.
    #[arg(long)]
    gres: Option<String>,
    /// Tasks running at once at most (the array's %K).
    #[arg(long)]
    max_running: Option<usize>,
    /// A further sbatch argument, e.g. --sbatch-arg=--account=lab (repeatable).
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
}

impl SlurmArgs {
    pub fn options(&self) -> SlurmOptions {
        SlurmOptions {
            partition: self.partition.clone(),
            time: self.time.clone(),
            cpus: self.cpus,
            mem: self.mem.clone(),
            gres: self.gres.clone(),
            max_running: self.max_running,
            extra: self.sbatch_args.clone(),
        }
    }
}

/// `--seeds … --slurm` of `reclab train` and `reclab eval`: a seed group as a job array.
#[derive(Debug, Clone, Args)]
pub struct SeedsOnSlurm {
    /// With --seeds: submit the seeds to Slurm as one job array (a task per seed, the runs
    /// grouped as here) instead of running them on this machine.
    #[arg(long, requires = "seeds")]
    pub slurm: bool,
    #[command(flatten)]
    pub options: SlurmArgs,
    /// With --slurm: print the batch script without submitting it.
    #[arg(long, requires = "slurm")]
    pub dry_run: bool,
    /// A Slurm task of --seeds --slurm: run only the seed at this position of --seeds.
    #[arg(long, hide = true, requires = "seeds")]
    pub seed_task: Option<usize>,
    /// The seed group the runs join (set by --slurm for its tasks).
    #[arg(long, hide = true)]
    pub group: Option<String>,
}

/// Flags of the submission that the tasks must not repeat, with and without a value.
const WITH_VALUE: [&str; 7] = [
    "--partition",
    "--time",
    "--cpus",
    "--mem",
    "--gres",
    "--max-running",
    "--sbatch-arg",
];
const WITHOUT_VALUE: [&str; 2] = ["--slurm", "--dry-run"];

/// `args` without the submission's own flags (`--flag value` and `--flag=value` alike).
pub fn task_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        let name = arg.split('=').next().unwrap_or(arg);
        if WITHOUT_VALUE.contains(&name) {
            continue;
        }
        if WITH_VALUE.contains(&name) {
            skip_value = !arg.contains('=');
            continue;
        }
        out.push(arg.clone());
    }
    out
}

/// Writes the array's script into `out/slurm-<group>/` and submits it (unless `dry_run`).
pub fn submit(
    out: &Path,
    group: &str,
    seeds: usize,
    slurm: &SlurmArgs,
    dry_run: bool,
) -> Result<()> {
    if let Some(warning) = unshared_warning(out) {
        eprintln!("warning: {warning}");
    }
    let exe = std::env::current_exe()?;
    let workdir = std::env::current_dir()?;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut words = vec![shell_quote(&exe.display().to_string())];
    words.extend(task_args(&argv).iter().map(|a| shell_quote(a)));
    words.push(format!("--group {}", shell_quote(group)));
    words.push("--seed-task \"$SLURM_ARRAY_TASK_ID\"".into());
    let dir = std::path::absolute(out.join(format!("slurm-{group}")))?;
    let script = array_script(
        &slurm.options(),
        &workdir,
        &format!("reclab seed group {group}: one task per seed."),
        group,
        &format!("0-{}", seeds.saturating_sub(1)),
        &dir.join("seed-%a-job-%A.log"),
        &words.join(" "),
    );
    if dry_run {
        print!("{script}");
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("submit.sh");
    reclab::atomic_file::write_atomic(&path, script.as_bytes())?;
    let job = sbatch(&path)?;
    println!(
        "submitted job {job}: {seeds} seeds as group {group}; script {}; the runs appear in {} as they finish",
        path.display(),
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tasks_repeat_the_command_without_the_submission_flags() {
        let args: Vec<String> = [
            "train",
            "--config",
            "c.toml",
            "--seeds",
            "1,2,3",
            "--slurm",
            "--time",
            "01:00:00",
            "--gres=gpu:1",
            "--max-running",
            "2",
            "--sbatch-arg=--account=lab",
            "--dry-run",
            "--data",
            "ml-100k",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            task_args(&args),
            [
                "train", "--config", "c.toml", "--seeds", "1,2,3", "--data", "ml-100k"
            ]
        );
    }
}
