//! The comparison concern: the runs found in the runs folder, the runs picked for comparison,
//! their paired tests (a task, restarted whenever the picked runs change), an opened sweep, and
//! the Compare panel.

pub mod panel;

use std::path::{Path, PathBuf};

use super::task::{Reporter, TaskKind, Tasks, Update};
use crate::runs::significance::{LoadedRun, PairedReport, paired_report};
use crate::runs::{self, ListedRun, RunFile};

/// How often an opened, unfinished sweep's folder is read again.
pub const SWEEP_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// Trial states from the folder alone (reading is cheap; asking squeue from the GUI thread
/// could wait on a busy controller, so the app does not).
fn folder_status(
    dir: &Path,
    state: &Result<crate::sweep::SweepState, String>,
) -> Option<crate::sweep::slurm::SweepStatus> {
    let state = state.as_ref().ok()?;
    let marks = state
        .trials
        .iter()
        .filter_map(|t| crate::sweep::trial::read_mark(dir, t.index).map(|m| (t.index, m)))
        .collect();
    let record = crate::sweep::slurm::SlurmRecord::load(dir).ok().flatten();
    Some(crate::sweep::slurm::derive_status(
        dir,
        state,
        &marks,
        record.as_ref(),
        None,
    ))
}

/// A run picked for comparison: its folder and its file, or why it could not be read.
pub struct ComparedRun {
    pub dir: PathBuf,
    pub run: Result<RunFile, String>,
}

/// Paired tests and the runs they were computed for.
pub struct PairedOutcome {
    pub dirs: Vec<PathBuf>,
    pub report: Result<PairedReport, String>,
}

#[derive(Default)]
pub struct CompareState {
    /// The runs found in the runs folder.
    pub listed: Vec<ListedRun>,
    pub listed_error: Option<String>,
    pub compared: Vec<ComparedRun>,
    /// Paired tests of the compared runs, and the runs they were computed for.
    pub paired: Option<(Vec<PathBuf>, Result<PairedReport, String>)>,
    /// The runs the running paired tests are for.
    paired_running: Option<Vec<PathBuf>>,
    /// A sweep opened here: its folder and state, or why it could not be read.
    pub sweep: Option<(PathBuf, Result<crate::sweep::SweepState, String>)>,
    /// Each trial's state (queued, running, done, failed) from the sweep folder's own files,
    /// and when they were read: a running sweep is read again every [`SWEEP_REFRESH`].
    pub sweep_status: Option<crate::sweep::slurm::SweepStatus>,
    sweep_read_at: Option<std::time::Instant>,
}

impl CompareState {
    /// Re-reads the runs folder.
    pub fn refresh(&mut self, root: &Path) {
        match runs::list(root) {
            Ok(listed) => {
                self.listed = listed;
                self.listed_error = None;
            }
            // A runs folder that does not exist yet is simply empty.
            Err(_) if !root.exists() => {
                self.listed.clear();
                self.listed_error = None;
            }
            Err(e) => self.listed_error = Some(e.to_string()),
        }
    }

    /// Adds a run folder to the comparison (reading its file) or removes it; `picked` is the
    /// persisted list of picked folders, kept in step.
    pub fn pick(&mut self, dir: PathBuf, include: bool, picked: &mut Vec<PathBuf>) {
        self.compared.retain(|c| c.dir != dir);
        picked.retain(|d| *d != dir);
        if include {
            let run = RunFile::load(&dir).map_err(|e| e.to_string());
            picked.push(dir.clone());
            self.compared.push(ComparedRun { dir, run });
        }
    }

    pub fn open_sweep(&mut self, dir: PathBuf) {
        let state = crate::sweep::load_state(&dir);
        self.sweep_status = folder_status(&dir, &state);
        self.sweep_read_at = Some(std::time::Instant::now());
        self.sweep = Some((dir, state));
    }

    /// Reads an unfinished sweep's folder again when it is due (a sweep running elsewhere, on
    /// a cluster whose file system this machine mounts, shows its trials as they finish);
    /// returns when to look next, or `None` when nothing is left to follow.
    pub fn follow_sweep(&mut self) -> Option<std::time::Duration> {
        let (dir, state) = self.sweep.as_ref()?;
        let unfinished = match state {
            Ok(state) => state.trials.iter().any(|t| !t.finished),
            Err(_) => true,
        };
        if !unfinished {
            return None;
        }
        let due = self
            .sweep_read_at
            .is_none_or(|at| at.elapsed() >= SWEEP_REFRESH);
        if due {
            self.open_sweep(dir.clone());
        }
        Some(SWEEP_REFRESH)
    }

    pub fn on_paired_update(&mut self, update: Update) {
        if let Some(result) = update.outcome::<PairedOutcome>() {
            self.paired_running = None;
            match result {
                Ok(PairedOutcome { dirs, report }) => self.paired = Some((dirs, report)),
                Err(message) => {
                    let dirs = self.readable_dirs();
                    self.paired = Some((dirs, Err(message)));
                }
            }
        }
    }

    /// Starts the paired tests when the compared runs changed (replacing tests of runs no
    /// longer compared); at the cut-off `k` of the Evaluate panel.
    pub fn refresh_paired_tests(&mut self, tasks: &mut Tasks, k: usize) {
        let dirs = self.readable_dirs();
        let current = self.paired.as_ref().map(|(d, _)| d);
        if dirs.len() < 2 {
            self.paired = None;
        } else if current != Some(&dirs) && self.paired_running.as_ref() != Some(&dirs) {
            let metrics = vec![format!("ndcg@{k}"), format!("hit@{k}")];
            let for_dirs = dirs.clone();
            tasks.start(TaskKind::PairedTests, move |out| {
                paired_tests(for_dirs, &metrics, out)
            });
            self.paired_running = Some(dirs);
        }
    }

    fn readable_dirs(&self) -> Vec<PathBuf> {
        self.compared
            .iter()
            .filter(|c| c.run.is_ok())
            .map(|c| c.dir.clone())
            .collect()
    }
}

/// The paired-tests task's worker (a bootstrap over every user is too slow for a frame).
fn paired_tests(
    dirs: Vec<PathBuf>,
    metrics: &[String],
    _out: &Reporter,
) -> Result<PairedOutcome, String> {
    let report = dirs
        .iter()
        .map(|dir| LoadedRun::load(dir.clone()).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|runs| paired_report(&runs, metrics, crate::eval::Stage::Test));
    Ok(PairedOutcome { dirs, report })
}
