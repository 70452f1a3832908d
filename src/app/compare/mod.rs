//! The comparison concern: the runs found in the runs folder, the runs picked for comparison,
//! their paired tests (a task, restarted whenever the picked runs change), an opened sweep, and
//! the Compare panel.

pub mod panel;

use std::path::{Path, PathBuf};

use super::task::{Reporter, TaskKind, Tasks, Update};
use crate::runs::significance::{LoadedRun, PairedReport, paired_report};
use crate::runs::{self, ListedRun, RunFile};

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
        self.sweep = Some((dir, state));
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
