//! Run files: one folder per experiment under a root (by default `experiments/`), holding
//! `run.json` and any artefacts. `run.json` is written atomically (temp file, fsync, rename), so
//! a crash leaves either the previous complete file or the new complete file, never half of one.

mod baseline;
mod compare;
pub mod per_user;
pub mod significance;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use baseline::{BaselineRun, BaselineRunError, run_baseline, run_baseline_with};
pub use compare::{Comparison, ComparisonRow, compare};

use crate::data::{Dataset, Preprocessing, SplitStrategy};

/// The run-file schema this build writes and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;
pub const RUN_FILE: &str = "run.json";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no run file here (expected a run folder holding {RUN_FILE}, or a {RUN_FILE})")]
    NotFound { path: PathBuf },
    #[error(
        "{path} is damaged at line {line}, column {column}: {detail} (expected a complete reclab run file)"
    )]
    Damaged {
        path: PathBuf,
        line: usize,
        column: usize,
        detail: String,
    },
    #[error(
        "{path} was written by a newer reclab (run-file schema {found}; this build reads up to {SCHEMA_VERSION}): update reclab to open it"
    )]
    NewerSchema { path: PathBuf, found: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Completed,
    Cancelled,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// The model's full configuration, as its config struct serialises.
    pub config: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub path: String,
    pub name: String,
    pub format: String,
    pub fingerprint: String,
    pub preprocessing: Preprocessing,
    pub split: SplitStrategy,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
}

impl DatasetInfo {
    pub fn of(path: &str, dataset: &Dataset, split: SplitStrategy) -> DatasetInfo {
        DatasetInfo {
            path: path.to_string(),
            name: dataset.name.clone(),
            format: dataset.format.to_string(),
            fingerprint: dataset.fingerprint.clone(),
            preprocessing: dataset.preprocessing.clone(),
            split,
            users: dataset.num_users(),
            items: dataset.num_items(),
            interactions: dataset.num_interactions(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub reclab_version: String,
    pub git_commit: Option<String>,
    pub os: String,
    pub arch: String,
    pub cpu: String,
    pub threads: usize,
    /// Where the model ran: `cpu`, `cuda:0`, ….
    pub device: String,
}

impl Environment {
    pub fn current(device: &str) -> Environment {
        let commit = env!("RECLAB_GIT_COMMIT");
        Environment {
            reclab_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: (!commit.is_empty()).then(|| commit.to_string()),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpu: cpu_name().unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            threads: rayon::current_num_threads(),
            device: device.to_string(),
        }
    }
}

fn cpu_name() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, name)| name.trim().to_string())
}

/// One point of a curve: a step (epoch, batch, …) and a value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub step: u64,
    pub value: f64,
}

/// Metrics per group of test targets: `{"cold": {"users": n, "ndcg@10": …}, "warm": {…}}`.
pub type MetricsByTarget = BTreeMap<String, BTreeMap<String, f64>>;

/// Everything about one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    pub schema_version: u32,
    pub run_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub status: RunStatus,
    pub model: ModelInfo,
    pub dataset: DatasetInfo,
    /// Evaluation protocol label, e.g. `full ranking` or `sampled uni100`.
    pub protocol: String,
    pub cutoffs: Vec<usize>,
    pub seed: u64,
    pub environment: Environment,
    /// Named series: `train_loss`, `valid_ndcg@10`, ….
    #[serde(default)]
    pub curves: BTreeMap<String, Vec<CurvePoint>>,
    #[serde(default)]
    pub valid_metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub test_metrics: BTreeMap<String, f64>,
    /// Test metrics apart by kind of target (`cold`, `warm` under a cold-items split).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub test_metrics_by_target: MetricsByTarget,
    /// Wall times in seconds: `fit`, `valid`, `test`, ….
    #[serde(default)]
    pub timings_secs: BTreeMap<String, f64>,
    /// Files in the run folder besides run.json (model weights, dumps), relative to it.
    #[serde(default)]
    pub artefacts: Vec<String>,
    /// Runs of one experiment repeated over seeds share a group (`--seeds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Each evaluated user's ranks, written beside run.json as `per_user.bin` (see
    /// [`per_user`]); read with [`per_user::PerUserRanks::load`].
    #[serde(skip)]
    pub per_user: Option<per_user::PerUserRanks>,
}

impl RunFile {
    /// A new run, status `running`, with a fresh id and the current environment.
    pub fn new(
        model: ModelInfo,
        dataset: DatasetInfo,
        protocol: String,
        cutoffs: Vec<usize>,
        seed: u64,
        device: &str,
    ) -> RunFile {
        let now = chrono::Utc::now();
        let run_id = format!(
            "{}-{}-{:04x}",
            now.format("%Y%m%d-%H%M%S"),
            slug(&model.name),
            rand::random::<u16>()
        );
        RunFile {
            schema_version: SCHEMA_VERSION,
            run_id,
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            status: RunStatus::Running,
            model,
            dataset,
            protocol,
            cutoffs,
            seed,
            environment: Environment::current(device),
            curves: BTreeMap::new(),
            valid_metrics: BTreeMap::new(),
            test_metrics: BTreeMap::new(),
            test_metrics_by_target: BTreeMap::new(),
            timings_secs: BTreeMap::new(),
            artefacts: Vec::new(),
            group: None,
            per_user: None,
        }
    }

    /// Whether the run holds a recommender to open (not a simulation's A/B, whose config names
    /// its `policies`, nor a learned page policy, whose config holds `rl`).
    pub fn holds_a_recommender(&self) -> bool {
        let config = &self.model.config;
        config.get("rl").is_none() && config.get("policies").is_none()
    }

    /// Appends a point to a named curve.
    pub fn push_point(&mut self, curve: &str, step: u64, value: f64) {
        self.curves
            .entry(curve.to_string())
            .or_default()
            .push(CurvePoint { step, value });
    }

    /// This run's folder under `root`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(&self.run_id)
    }

    /// Writes `root/<run_id>/run.json` atomically and returns the folder.
    pub fn save(&self, root: &Path) -> Result<PathBuf, RunError> {
        let dir = self.dir(root);
        std::fs::create_dir_all(&dir).map_err(|source| RunError::Io {
            path: dir.clone(),
            source,
        })?;
        // The per-user results first: a run file that names them finds them complete.
        let mut file = std::borrow::Cow::Borrowed(self);
        if let Some(per_user) = &self.per_user {
            per_user.save(&dir)?;
            let name = per_user::PER_USER_FILE;
            if !self.artefacts.iter().any(|a| a == name) {
                file.to_mut().artefacts.push(name.into());
            }
        }
        // Serialising a struct of strings, numbers and maps with string keys cannot fail.
        let json = serde_json::to_vec_pretty(&*file).unwrap_or_else(|_| unreachable!());
        write_atomic(&dir.join(RUN_FILE), &json)?;
        Ok(dir)
    }

    /// Reads a run from its folder or its run.json.
    pub fn load(path: &Path) -> Result<RunFile, RunError> {
        let file = if path.is_dir() {
            path.join(RUN_FILE)
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => RunError::NotFound {
                path: path.to_path_buf(),
            },
            _ => RunError::Io {
                path: file.clone(),
                source,
            },
        })?;
        let damaged = |e: serde_json::Error| RunError::Damaged {
            path: file.clone(),
            line: e.line(),
            column: e.column(),
            detail: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(damaged)?;
        let found = value.get("schema_version").and_then(|v| v.as_u64());
        if let Some(found) = found.filter(|&v| v > u64::from(SCHEMA_VERSION)) {
            return Err(RunError::NewerSchema { path: file, found });
        }
        serde_json::from_slice(&bytes).map_err(damaged)
    }
}

/// A run found under a root: its folder and the run, or why it could not be read.
#[derive(Debug)]
pub struct ListedRun {
    pub dir: PathBuf,
    pub run: Result<RunFile, RunError>,
}

/// Every run folder directly under `root`, oldest first (damaged runs are listed with their
/// error, never dropped). A missing root lists nothing.
pub fn list(root: &Path) -> Result<Vec<ListedRun>, RunError> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RunError::Io {
                path: root.to_path_buf(),
                source,
            });
        }
    };
    let mut runs: Vec<ListedRun> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|dir| dir.join(RUN_FILE).is_file())
        .map(|dir| ListedRun {
            run: RunFile::load(&dir),
            dir,
        })
        .collect();
    runs.sort_by(|a, b| {
        let key = |r: &ListedRun| {
            r.run
                .as_ref()
                .map(|r| r.created_at.clone())
                .unwrap_or_default()
        };
        key(a).cmp(&key(b)).then_with(|| a.dir.cmp(&b.dir))
    });
    Ok(runs)
}

/// [`crate::atomic_file::write_atomic`], with the error naming the file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    crate::atomic_file::write_atomic(path, bytes).map_err(|source| RunError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}
