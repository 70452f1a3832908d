//! One trial run on its own — what each task of a Slurm job array does — and the marks it
//! leaves in the sweep's folder (`trials/<index>.json`): running (with its job, host and run
//! folder), failed (with why), or done. The folder is the interface: `reclab sweep status`
//! and the app read these marks, on the cluster or on a laptop that mounts its file system.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::{Sweep, SweepEvent, SweepState, open_state, record, run_trial};
use crate::runs::RunStatus;
use crate::train::TrainEvent;

/// The folder of the marks, inside the sweep's folder.
pub const MARKS_DIR: &str = "trials";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkState {
    Running,
    Failed,
    Done,
}

/// What a trial's last attempt left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub state: MarkState,
    /// The Slurm task (`<array job>_<task>`), when it ran under Slurm.
    pub job: Option<String>,
    pub host: Option<String>,
    /// The training run's folder, once it has one (a lost trial resumes from it).
    pub run_dir: Option<PathBuf>,
    pub started: String,
    pub ended: Option<String>,
    pub error: Option<String>,
}

pub fn mark_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(MARKS_DIR).join(format!("{index}.json"))
}

/// A trial's mark, if it has one (a damaged mark reads as none: the status falls back to the
/// queue and the sweep's state).
pub fn read_mark(dir: &Path, index: usize) -> Option<Mark> {
    let bytes = std::fs::read(mark_path(dir, index)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_mark(dir: &Path, index: usize, mark: &Mark) -> Result<(), String> {
    let path = mark_path(dir, index);
    let json = serde_json::to_vec_pretty(mark).map_err(|e| e.to_string())?;
    crate::atomic_file::write_atomic(&path, &json).map_err(|e| format!("{}: {e}", path.display()))
}

/// Forgets a trial's mark (before it is submitted again).
pub fn clear_mark(dir: &Path, index: usize) -> Result<(), String> {
    match std::fs::remove_file(mark_path(dir, index)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", mark_path(dir, index).display())),
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The Slurm task this process runs as, from the variables Slurm sets.
fn slurm_task() -> Option<String> {
    let job = std::env::var("SLURM_ARRAY_JOB_ID")
        .or_else(|_| std::env::var("SLURM_JOB_ID"))
        .ok()?;
    Some(match std::env::var("SLURM_ARRAY_TASK_ID") {
        Ok(task) => format!("{job}_{task}"),
        Err(_) => job,
    })
}

/// Runs trial number `index` (as shown: from 1) of `sweep` alone and records it: marks it running, resumes the training
/// run an earlier attempt left (a node lost, a requeue), runs it, records it in the sweep's
/// state, and marks it done — or failed, with why, when it errs or is stopped (`stop`: Slurm's
/// SIGTERM on `scancel`, a requeue or the time limit).
pub fn run_one_trial(
    sweep: &Sweep,
    index: usize,
    stop: Arc<AtomicBool>,
    on_event: &mut dyn FnMut(SweepEvent<'_>),
) -> Result<SweepState, String> {
    let state = open_state(sweep)?;
    let Some(trial) = state.trials.iter().find(|t| t.index == index).cloned() else {
        return Err(format!(
            "--trial {index}: the sweep's trials are 1 to {}",
            state.trials.len()
        ));
    };
    if trial.finished {
        return Ok(state);
    }
    let earlier = read_mark(&sweep.out, index);
    let resume = earlier
        .and_then(|m| m.run_dir)
        .filter(|dir| dir.join("run.json").is_file());
    let mut mark = Mark {
        state: MarkState::Running,
        job: slurm_task(),
        host: hostname(),
        run_dir: resume.clone(),
        started: now(),
        ended: None,
        error: None,
    };
    write_mark(&sweep.out, index, &mark)?;
    let mut mark_error = None;
    let outcome = run_trial(sweep, &trial, resume.as_deref(), stop, &mut |event| {
        if let SweepEvent::Train(TrainEvent::Started { run_dir, .. }) = &event {
            // Absolute: the status is read from anywhere the folder is mounted.
            mark.run_dir = Some(std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.clone()));
            if let Err(e) = write_mark(&sweep.out, index, &mark) {
                mark_error = Some(e);
            }
        }
        on_event(event);
    });
    if let Some(e) = mark_error {
        eprintln!("warning: {e}");
    }
    mark.ended = Some(now());
    let result = outcome.and_then(|run| {
        let state = record(sweep, index, &run)?;
        match run.status {
            RunStatus::Completed => Ok(state),
            other => Err(format!(
                "the run ended {other:?}: stopped by a signal (scancel, a requeue or the time \
                 limit); its checkpoint is kept and a resubmission resumes it"
            )),
        }
    });
    match &result {
        Ok(_) => mark.state = MarkState::Done,
        Err(message) => {
            mark.state = MarkState::Failed;
            mark.error = Some(message.clone());
        }
    }
    write_mark(&sweep.out, index, &mark)?;
    result
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
}
