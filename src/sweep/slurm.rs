//! A sweep on a Slurm cluster: one job array whose task `i` runs trial `i`
//! (`reclab sweep --config F --trial $SLURM_ARRAY_TASK_ID`) into the sweep's folder on the
//! shared file system. The batch script is written into the folder (readable, reusable), every
//! submission is recorded in `slurm.json`, and the status of each trial comes from the folder's
//! own files (the sweep's state, the trials' marks) and from `squeue` where it answers. Slurm is
//! the scheduler; reclab only writes scripts, calls `sbatch` / `squeue`, and reads the folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::trial::{Mark, MarkState, clear_mark, read_mark};
use super::{SweepState, load_state};

/// The submissions of a sweep, in its folder.
pub const SLURM_FILE: &str = "slurm.json";
/// The folder of batch scripts and task logs, in the sweep's folder.
pub const SLURM_DIR: &str = "slurm";

/// What `sbatch` is asked for, per task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// `HH:MM:SS` (or any form Slurm takes).
    pub time: Option<String>,
    pub cpus: Option<u32>,
    /// e.g. `8G`.
    pub mem: Option<String>,
    /// e.g. `gpu:1`.
    pub gres: Option<String>,
    /// Tasks of the array running at once at most (`--array=…%K`).
    pub max_running: Option<usize>,
    /// Further `#SBATCH` arguments, as given (`--account=lab`, `--qos=short`).
    pub extra: Vec<String>,
}

/// One `sbatch` of (some of) the sweep's trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub job_id: String,
    pub trials: Vec<usize>,
    pub script: PathBuf,
    pub submitted: String,
}

/// `slurm.json`: how the sweep is submitted, and each submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmRecord {
    /// The sweep file, absolute (what each task reads, and a resubmission runs again).
    pub config: PathBuf,
    /// The folder the tasks start in (relative data paths resolve from it).
    pub workdir: PathBuf,
    /// The reclab binary the tasks run.
    pub reclab: PathBuf,
    pub options: SlurmOptions,
    pub submissions: Vec<Submission>,
}

impl SlurmRecord {
    pub fn load(dir: &Path) -> Result<Option<SlurmRecord>, String> {
        let path = dir.join(SLURM_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn save(&self, dir: &Path) -> Result<(), String> {
        let path = dir.join(SLURM_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        crate::atomic_file::write_atomic(&path, &json)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The latest submission that holds trial `index`.
    pub fn latest_for(&self, index: usize) -> Option<&Submission> {
        self.submissions
            .iter()
            .rev()
            .find(|s| s.trials.contains(&index))
    }
}

/// `0-3`, `1,3,5` or `0-2,7`: Slurm's `--array` list of `trials` (sorted).
pub fn array_spec(trials: &[usize]) -> String {
    let mut sorted = trials.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The batch script of a job array over `trials`: `#SBATCH` lines from `options`, one log per
/// task in the sweep's `slurm/` folder, requeued when a node fails, SIGTERM to the task a minute
/// before its time limit (it then stops cleanly, keeping its checkpoint), and the trial run.
pub fn batch_script(
    record: &SlurmRecord,
    sweep_dir: &Path,
    name: &str,
    trials: &[usize],
) -> String {
    let command = format!(
        "{} sweep --config {} --trial \"$SLURM_ARRAY_TASK_ID\"",
        shell_quote(&record.reclab.display().to_string()),
        shell_quote(&record.config.display().to_string())
    );
    array_script(
        &record.options,
        &record.workdir,
        &format!("reclab sweep {}: one task per trial.", sweep_dir.display()),
        name,
        &array_spec(trials),
        &sweep_dir.join(SLURM_DIR).join("trial-%a-job-%A.log"),
        &command,
    )
}

/// A job array's batch script: `#SBATCH` lines from `options`, logs at `log` (Slurm's `%a`
/// task, `%A` job), requeue on node failure, SIGTERM a minute before the time limit, then
/// `command` started in `workdir` with `exec` (so the task's signals reach reclab itself).
pub fn array_script(
    options: &SlurmOptions,
    workdir: &Path,
    about: &str,
    name: &str,
    array: &str,
    log: &Path,
    command: &str,
) -> String {
    let o = options;
    let mut array = array.to_string();
    if let Some(k) = o.max_running {
        array.push_str(&format!("%{k}"));
    }
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("# {about}"),
        format!("#SBATCH --job-name=reclab-{name}"),
        format!("#SBATCH --array={array}"),
        format!("#SBATCH --output={}", log.display()),
        "#SBATCH --requeue".to_string(),
        "#SBATCH --signal=B:TERM@60".to_string(),
    ];
    let mut add = |flag: &str, value: &Option<String>| {
        if let Some(v) = value {
            lines.push(format!("#SBATCH --{flag}={v}"));
        }
    };
    add("partition", &o.partition);
    add("time", &o.time);
    add("cpus-per-task", &o.cpus.map(|c| c.to_string()));
    add("mem", &o.mem);
    add("gres", &o.gres);
    for extra in &o.extra {
        lines.push(format!("#SBATCH {extra}"));
    }
    lines.push("set -euo pipefail".into());
    lines.push(format!(
        "cd {}",
        shell_quote(&workdir.display().to_string())
    ));
    lines.push(format!("exec {command}"));
    lines.join("\n") + "\n"
}

/// Submits a written batch script; returns the job id.
pub fn sbatch(script: &Path) -> Result<String, SlurmError> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SlurmError::NoSbatch,
            _ => SlurmError::Other(format!("sbatch: {e}")),
        })?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(SlurmError::Refused(message));
    }
    // `--parsable` prints `jobid` or `jobid;cluster`.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let job_id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if job_id.is_empty() {
        return Err(SlurmError::Other(format!(
            "sbatch printed no job id: {stdout:?}"
        )));
    }
    Ok(job_id)
}

/// A word for a shell command line, quoted when it needs to be.
pub fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Why a submission did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error(
        "sbatch is not on the PATH: this machine is not a Slurm login node. Run the sweep on this \
         machine instead (reclab sweep --config F, without --slurm), or log in to the cluster"
    )]
    NoSbatch,
    #[error("sbatch refused the job: {0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

/// Writes the script for `trials` into the sweep's folder and submits it (unless `dry_run`);
/// returns the script's text and the submission.
pub fn submit(
    record: &mut SlurmRecord,
    sweep_dir: &Path,
    name: &str,
    trials: &[usize],
    dry_run: bool,
) -> Result<(String, Option<Submission>), SlurmError> {
    let absolute = std::path::absolute(sweep_dir).unwrap_or_else(|_| sweep_dir.to_path_buf());
    let script = batch_script(record, &absolute, name, trials);
    if dry_run {
        return Ok((script, None));
    }
    let other = |e: String| SlurmError::Other(e);
    let slurm_dir = sweep_dir.join(SLURM_DIR);
    std::fs::create_dir_all(&slurm_dir)
        .map_err(|e| other(format!("{}: {e}", slurm_dir.display())))?;
    let path = slurm_dir.join(format!("submit-{}.sh", record.submissions.len() + 1));
    crate::atomic_file::write_atomic(&path, script.as_bytes())
        .map_err(|e| other(format!("{}: {e}", path.display())))?;
    let job_id = sbatch(&path)?;
    for &t in trials {
        clear_mark(sweep_dir, t).map_err(other)?;
    }
    let submission = Submission {
        job_id,
        trials: trials.to_vec(),
        script: path,
        submitted: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    record.submissions.push(submission.clone());
    record.save(sweep_dir).map_err(other)?;
    Ok((script, Some(submission)))
}

/// A warning when `dir` is on a folder that cluster nodes do not share.
pub fn unshared_warning(dir: &Path) -> Option<String> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    ["/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .any(|local| absolute.starts_with(local))
        .then(|| {
            format!(
                "{} is under a node-local folder: the tasks on other nodes will not see it. Put \
                 the sweep's `out` on a file system the nodes share (home, project or scratch)",
                absolute.display()
            )
        })
}

/// What `squeue` says of the tasks of some jobs: `"<job>_<task>"` → state (`PENDING`,
/// `RUNNING`, …); `None` when squeue is missing or fails (the status then trusts the folder).
pub fn queue_states(job_ids: &[String]) -> Option<HashMap<String, String>> {
    if job_ids.is_empty() {
        return Some(HashMap::new());
    }
    let output = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i|%T", "-j"])
        .arg(job_ids.join(","))
        .output()
        .ok()?;
    if !output.status.success() {
        // squeue refuses job ids it has forgotten (finished long ago): nothing queued then.
        let stderr = String::from_utf8_lossy(&output.stderr);
        return stderr.contains("Invalid job id").then(HashMap::new);
    }
    Some(parse_queue(&String::from_utf8_lossy(&output.stdout)))
}

/// Parses `squeue -h -r -o "%i|%T"` lines.
pub fn parse_queue(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (id, state) = line.trim().split_once('|')?;
            Some((id.trim().to_string(), state.trim().to_string()))
        })
        .collect()
}

/// Where a trial stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Never submitted (and not run here).
    Pending,
    Queued,
    Running,
    Done,
    Failed,
}

/// One trial's status, for `reclab sweep status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialStatus {
    pub index: usize,
    pub params: BTreeMap<String, serde_json::Value>,
    pub state: TrialState,
    pub job: Option<String>,
    pub valid: Option<f64>,
    pub run: Option<String>,
    pub error: Option<String>,
    /// The last lines of its task's log, when it failed.
    pub log_tail: Option<String>,
}

/// The status of every trial of the sweep in `dir`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepStatus {
    pub dir: PathBuf,
    pub metric: String,
    pub trials: Vec<TrialStatus>,
    /// Whether squeue answered (else running / queued are as the folder last recorded them).
    pub queue_answered: bool,
    pub best: Option<usize>,
}

impl SweepStatus {
    pub fn count(&self, state: TrialState) -> usize {
        self.trials.iter().filter(|t| t.state == state).count()
    }
}

/// Reads the sweep folder `dir` (its state, marks and submissions) and asks squeue.
pub fn status(dir: &Path) -> Result<SweepStatus, String> {
    let state = load_state(dir)?;
    let record = SlurmRecord::load(dir)?;
    let marks: HashMap<usize, Mark> = state
        .trials
        .iter()
        .filter_map(|t| read_mark(dir, t.index).map(|m| (t.index, m)))
        .collect();
    let queue = match &record {
        Some(r) => queue_states(
            &r.submissions
                .iter()
                .map(|s| s.job_id.clone())
                .collect::<Vec<_>>(),
        ),
        None => Some(HashMap::new()),
    };
    Ok(derive_status(
        dir,
        &state,
        &marks,
        record.as_ref(),
        queue.as_ref(),
    ))
}

/// The status from what was read: the sweep's state says which trials finished, a mark what
/// the last attempt did, the submissions and the queue what Slurm still holds. A trial the
/// queue no longer holds that neither finished nor failed was killed (scancel, a lost node,
/// the time limit) before it could say so: it is reported failed.
pub fn derive_status(
    dir: &Path,
    state: &SweepState,
    marks: &HashMap<usize, Mark>,
    record: Option<&SlurmRecord>,
    queue: Option<&HashMap<String, String>>,
) -> SweepStatus {
    let trials = state
        .trials
        .iter()
        .map(|trial| {
            let i = trial.index;
            let mark = marks.get(&i).cloned();
            let submission = record.and_then(|r| r.latest_for(i));
            let task = submission.map(|s| format!("{}_{i}", s.job_id));
            let queued = |task: &Option<String>| -> Option<Option<&String>> {
                let queue = queue?;
                Some(task.as_ref().and_then(|t| queue.get(t)))
            };
            let mut error = mark.as_ref().and_then(|m| m.error.clone());
            let state = if trial.finished {
                TrialState::Done
            } else {
                match (mark.as_ref().map(|m| m.state), queued(&task)) {
                    (Some(MarkState::Failed), _) => TrialState::Failed,
                    (Some(MarkState::Done), _) => TrialState::Done,
                    (Some(MarkState::Running), None) => TrialState::Running,
                    (Some(MarkState::Running), Some(Some(_))) => TrialState::Running,
                    (Some(MarkState::Running), Some(None)) if submission.is_some() => {
                        error = Some(
                            "the task ended without recording a result: killed (scancel, a lost \
                             node or the time limit)"
                                .into(),
                        );
                        TrialState::Failed
                    }
                    // Run here, not under Slurm, and still running (or stopped hard).
                    (Some(MarkState::Running), Some(None)) => TrialState::Running,
                    (None, Some(Some(s))) if s == "RUNNING" || s == "COMPLETING" => {
                        TrialState::Running
                    }
                    (None, Some(Some(_))) => TrialState::Queued,
                    (None, None) if submission.is_some() => TrialState::Queued,
                    (None, Some(None)) if submission.is_some() => {
                        error = Some("the task left the queue without starting (cancelled)".into());
                        TrialState::Failed
                    }
                    (None, _) => TrialState::Pending,
                }
            };
            let log_tail = (state == TrialState::Failed)
                .then(|| submission.and_then(|s| log_tail(dir, &s.job_id, i)))
                .flatten();
            TrialStatus {
                index: i,
                params: trial.params.clone(),
                state,
                job: mark.as_ref().and_then(|m| m.job.clone()).or(task),
                valid: trial.valid,
                run: trial.run.clone(),
                error,
                log_tail,
            }
        })
        .collect();
    SweepStatus {
        dir: dir.to_path_buf(),
        metric: state.metric.clone(),
        trials,
        queue_answered: queue.is_some(),
        best: super::best(state).map(|t| t.index),
    }
}

/// The last lines of a task's log.
fn log_tail(dir: &Path, job_id: &str, index: usize) -> Option<String> {
    let path = dir
        .join(SLURM_DIR)
        .join(format!("trial-{index}-job-{job_id}.log"));
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    Some(lines[lines.len().saturating_sub(8)..].join("\n"))
}

/// Starts a new record for a sweep submitted from here.
pub fn new_record(config: &Path, options: SlurmOptions) -> Result<SlurmRecord, String> {
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    Ok(SlurmRecord {
        config: absolute(config)?,
        workdir: std::env::current_dir().map_err(|e| format!("the current folder: {e}"))?,
        reclab: std::env::current_exe().map_err(|e| format!("the reclab binary: {e}"))?,
        options,
        submissions: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::Trial;

    fn record() -> SlurmRecord {
        SlurmRecord {
            config: "/shared/sweeps/s.toml".into(),
            workdir: "/shared/project".into(),
            reclab: "/shared/bin/reclab".into(),
            options: SlurmOptions {
                partition: Some("gpu".into()),
                time: Some("01:00:00".into()),
                cpus: Some(4),
                mem: Some("8G".into()),
                gres: Some("gpu:1".into()),
                max_running: Some(2),
                extra: vec!["--account=lab".into()],
            },
            submissions: vec![Submission {
                job_id: "41".into(),
                trials: vec![0, 1, 2, 3],
                script: "/x".into(),
                submitted: "t".into(),
            }],
        }
    }

    #[test]
    fn array_specs_join_runs_of_trials() {
        assert_eq!(array_spec(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_spec(&[3, 1, 5]), "1,3,5");
        assert_eq!(array_spec(&[0, 1, 2, 7, 9, 10]), "0-2,7,9-10");
        assert_eq!(array_spec(&[4]), "4");
    }

    #[test]
    fn the_batch_script_asks_for_what_was_given_and_runs_the_trial() {
        let script = batch_script(
            &record(),
            Path::new("/shared/sweeps/out"),
            "s",
            &[0, 1, 2, 3],
        );
        for line in [
            "#!/bin/bash",
            "#SBATCH --array=0-3%2",
            "#SBATCH --output=/shared/sweeps/out/slurm/trial-%a-job-%A.log",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=01:00:00",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --mem=8G",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --account=lab",
            "#SBATCH --requeue",
            "cd /shared/project",
            "exec /shared/bin/reclab sweep --config /shared/sweeps/s.toml --trial \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(
                script.lines().any(|l| l == line),
                "{line:?} missing from:\n{script}"
            );
        }
        assert!(script.starts_with("#!/bin/bash\n"));
    }

    fn state(finished: &[bool]) -> SweepState {
        SweepState {
            metric: "ndcg@10".into(),
            trials: finished
                .iter()
                .enumerate()
                .map(|(index, &f)| Trial {
                    index,
                    params: BTreeMap::new(),
                    run: f.then(|| format!("run-{index}")),
                    valid: f.then_some(0.1 * index as f64),
                    finished: f,
                })
                .collect(),
        }
    }

    fn mark(state: MarkState) -> Option<Mark> {
        Some(Mark {
            state,
            job: None,
            host: None,
            run_dir: None,
            started: "t".into(),
            ended: None,
            error: (state == MarkState::Failed).then(|| "boom".into()),
        })
    }

    #[test]
    fn each_trial_state_comes_from_the_folder_and_the_queue() {
        // 0 done; 1 running (queue says so); 2 pending in the queue; 3 marked running but gone
        // from the queue (scancel'd); 4 failed by its own mark; 5 cancelled before it started.
        let mut rec = record();
        rec.submissions[0].trials = (0..6).collect();
        let state = state(&[true, false, false, false, false, false]);
        let marks: HashMap<usize, Mark> = [
            (0, mark(MarkState::Done)),
            (1, mark(MarkState::Running)),
            (3, mark(MarkState::Running)),
            (4, mark(MarkState::Failed)),
        ]
        .into_iter()
        .filter_map(|(i, m)| m.map(|m| (i, m)))
        .collect();
        let queue = parse_queue("41_1|RUNNING\n41_2|PENDING\n");
        let status = derive_status(Path::new("/none"), &state, &marks, Some(&rec), Some(&queue));
        let states: Vec<TrialState> = status.trials.iter().map(|t| t.state).collect();
        use TrialState::*;
        assert_eq!(states, vec![Done, Running, Queued, Failed, Failed, Failed]);
        assert!(
            status.trials[3]
                .error
                .as_deref()
                .unwrap()
                .contains("killed")
        );
        assert_eq!(status.trials[4].error.as_deref(), Some("boom"));
        assert_eq!(status.best, Some(0));

        // Without an answer from squeue, running and queued are as last recorded.
        let status = derive_status(Path::new("/none"), &state, &marks, Some(&rec), None);
        let states: Vec<TrialState> = status.trials.iter().map(|t| t.state).collect();
        assert_eq!(states, vec![Done, Running, Queued, Running, Failed, Queued]);
        assert!(!status.queue_answered);

        // A sweep never submitted: unfinished trials are pending.
        let status = derive_status(
            Path::new("/none"),
            &state,
            &HashMap::new(),
            None,
            Some(&HashMap::new()),
        );
        assert_eq!(status.trials[1].state, Pending);
    }

    #[test]
    fn node_local_folders_are_warned_about() {
        assert!(unshared_warning(Path::new("/tmp/sweep")).is_some());
        assert!(unshared_warning(Path::new("/home/me/sweeps/a")).is_none());
    }
}
