//! Hyper-parameter sweeps: a grid (or a random sample of it) over any key of a train config or
//! a baseline's eval config, each trial a normal run inside the sweep's folder, the best trial
//! chosen on the validation metric only — never on test — and a sweep that resumes where it
//! stopped (finished trials are not run again).
//!
//! A sweep file is a config (as in experiments/*.toml) with a `[sweep]` table last (in TOML,
//! every key after a table's header belongs to that table):
//!
//! ```toml
//! epochs = 20               # the base config
//! [data]
//! path = "synthetic"
//!
//! [sweep]
//! kind = "train"            # or "eval": the base is then a baseline (model = "itemknn", …)
//! out = "experiments/sweeps/sasrec"
//! metric = "ndcg@10"        # validation metric to select on (higher is better)
//! learning_rate = [0.001, 0.003]
//! hidden = [32, 64]         # a key anywhere in the config (transformer.hidden), or dotted
//! trials = 3                # optional: random search, this many points of the grid
//! seed = 1                  # of the random search
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod slurm;
pub mod trial;

use crate::data::{LoadSpec, SplitStrategy};
use crate::eval::EvalConfig;
use crate::recommend::BaselineConfig;
use crate::runs::run_baseline;
use crate::runs::{RunFile, RunStatus};
use crate::train::{TrainConfig, TrainEvent, train_on_chosen_device};

/// The sweep's own state, beside its runs: the planned trials and how each ended.
pub const STATE_FILE: &str = "sweep.json";
/// The best trial's whole config, written back as TOML.
pub const BEST_FILE: &str = "best.toml";
/// Held while the state is read and rewritten.
const STATE_LOCK: &str = "sweep.lock";

const RESERVED: [&str; 5] = ["kind", "out", "metric", "trials", "seed"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepKind {
    Train,
    Eval,
}

/// What a baseline trial is: the baseline (tagged by `model`) and what it is evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalTrial {
    #[serde(flatten)]
    pub baseline: BaselineConfig,
    #[serde(default)]
    pub data: LoadSpec,
    #[serde(default)]
    pub split: SplitStrategy,
    #[serde(default = "default_cutoffs")]
    pub cutoffs: Vec<usize>,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_cutoffs() -> Vec<usize> {
    vec![5, 10, 20]
}

fn default_seed() -> u64 {
    42
}

/// A parsed sweep file.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub kind: SweepKind,
    pub out: PathBuf,
    pub metric: String,
    pub trials: Option<usize>,
    pub seed: u64,
    /// Swept keys (resolved to their dotted path in the config) and their values.
    pub params: Vec<(String, Vec<Value>)>,
    /// The base config with every default filled in, as JSON.
    pub base: Value,
}

/// One planned trial: its number and its values of the swept keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub index: usize,
    pub params: BTreeMap<String, Value>,
    /// The trial's run folder (under the sweep's folder) once it has one.
    #[serde(default)]
    pub run: Option<String>,
    /// Its validation metric once finished.
    #[serde(default)]
    pub valid: Option<f64>,
    #[serde(default)]
    pub finished: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepState {
    pub metric: String,
    pub trials: Vec<Trial>,
}

impl Sweep {
    /// Parses a sweep file; `path` names it in errors and anchors a relative `out`.
    pub fn parse(text: &str, path: &Path) -> Result<Sweep, String> {
        let at = |message: String| format!("{}: {message}", path.display());
        let mut table: toml::Table = toml::from_str(text).map_err(|e| at(e.to_string()))?;
        let sweep = match table.remove("sweep") {
            Some(toml::Value::Table(sweep)) => sweep,
            _ => {
                return Err(at(
                    "no [sweep] table (the keys to sweep and their values)".into()
                ));
            }
        };
        let kind = match sweep
            .get("kind")
            .and_then(|v| v.as_str())
            .unwrap_or("train")
        {
            "train" => SweepKind::Train,
            "eval" => SweepKind::Eval,
            other => {
                return Err(at(format!(
                    "[sweep] kind = \"{other}\": expected train or eval"
                )));
            }
        };
        let out = sweep
            .get("out")
            .and_then(|v| v.as_str())
            .map(PathBuf::from)
            .ok_or_else(|| at("[sweep] out: expected the sweep's folder".into()))?;
        let metric = sweep
            .get("metric")
            .and_then(|v| v.as_str())
            .unwrap_or("ndcg@10")
            .to_string();
        let trials = match sweep.get("trials") {
            None => None,
            Some(v) => Some(
                v.as_integer()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| at("[sweep] trials: expected a positive number".into()))?
                    as usize,
            ),
        };
        let seed = sweep.get("seed").and_then(|v| v.as_integer()).unwrap_or(0) as u64;
        let base = base_json(kind, table).map_err(at)?;
        let mut params = Vec::new();
        for (key, values) in &sweep {
            if RESERVED.contains(&key.as_str()) {
                continue;
            }
            let values = match values {
                toml::Value::Array(values) if !values.is_empty() => values,
                _ => {
                    return Err(at(format!(
                        "[sweep] {key}: expected a list of values to try (a base config key? \
                         put those before [sweep]: in TOML the keys after it belong to it)"
                    )));
                }
            };
            let path = resolve(&base, key).map_err(at)?;
            let values = values
                .iter()
                .map(|v| serde_json::to_value(v).map_err(|e| at(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            params.push((path, values));
        }
        if params.is_empty() {
            return Err(at("[sweep] names no key to sweep".into()));
        }
        let sweep = Sweep {
            kind,
            out,
            metric,
            trials,
            seed,
            params,
            base,
        };
        // Every value must make a valid config: fail now, not at trial 17.
        for trial in sweep.plan() {
            sweep.config_of(&trial).map_err(at)?;
        }
        Ok(sweep)
    }

    /// The trials: every point of the grid in order, or `trials` distinct points drawn from it.
    pub fn plan(&self) -> Vec<Trial> {
        let mut points: Vec<BTreeMap<String, Value>> = vec![BTreeMap::new()];
        for (key, values) in &self.params {
            points = points
                .into_iter()
                .flat_map(|point| {
                    values.iter().map(move |v| {
                        let mut next = point.clone();
                        next.insert(key.clone(), v.clone());
                        next
                    })
                })
                .collect();
        }
        if let Some(n) = self.trials
            && n < points.len()
        {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            points.shuffle(&mut rng);
            points.truncate(n);
        }
        points
            .into_iter()
            .enumerate()
            .map(|(index, params)| Trial {
                index: index + 1,
                params,
                run: None,
                valid: None,
                finished: false,
            })
            .collect()
    }

    /// The base config with a trial's values set, as JSON (checked by deserialising it).
    pub fn config_of(&self, trial: &Trial) -> Result<Value, String> {
        let mut config = self.base.clone();
        for (path, value) in &trial.params {
            set(&mut config, path, value.clone());
        }
        match self.kind {
            SweepKind::Train => {
                let parsed: TrainConfig = serde_json::from_value(config.clone())
                    .map_err(|e| format!("trial {}: {e}", trial.index))?;
                if let Some(problem) = parsed.problem() {
                    return Err(format!("trial {}: {problem}", trial.index));
                }
            }
            SweepKind::Eval => {
                serde_json::from_value::<EvalTrial>(config.clone())
                    .map_err(|e| format!("trial {}: {e}", trial.index))?;
            }
        }
        Ok(config)
    }
}

/// The base config as JSON with all defaults filled, so every key can be swept.
fn base_json(kind: SweepKind, table: toml::Table) -> Result<Value, String> {
    match kind {
        SweepKind::Train => {
            let config: TrainConfig = toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| e.to_string())?;
            serde_json::to_value(config).map_err(|e| e.to_string())
        }
        SweepKind::Eval => {
            let config: EvalTrial = toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| e.to_string())?;
            serde_json::to_value(config).map_err(|e| e.to_string())
        }
    }
}

/// A swept key's dotted path: as given when dotted, else the one key of that name anywhere in
/// the config.
fn resolve(base: &Value, key: &str) -> Result<String, String> {
    if key.contains('.') {
        let exists = key
            .split('.')
            .try_fold(base, |node, part| node.get(part))
            .is_some();
        return if exists {
            Ok(key.to_string())
        } else {
            Err(format!("[sweep] {key}: the config has no such key"))
        };
    }
    let mut found = Vec::new();
    leaves(base, String::new(), &mut |path| {
        if path.rsplit('.').next() == Some(key) {
            found.push(path.to_string());
        }
    });
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!("[sweep] {key}: the config has no key of that name")),
        _ => Err(format!(
            "[sweep] {key}: several keys have that name ({}); write the one you mean",
            found.join(", ")
        )),
    }
}

fn leaves(node: &Value, prefix: String, visit: &mut dyn FnMut(&str)) {
    if let Value::Object(map) = node {
        for (k, v) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            visit(&path);
            leaves(v, path, visit);
        }
    }
}

fn set(config: &mut Value, path: &str, value: Value) {
    let mut node = config;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        node = &mut node[*part];
    }
    node[parts[parts.len() - 1]] = value;
}

/// What a sweep reports as it goes.
pub enum SweepEvent<'a> {
    /// A trial is starting (`skipped`: it had finished before and is not run again).
    Trial {
        trial: &'a Trial,
        of: usize,
        skipped: bool,
    },
    /// A training event of the running trial.
    Train(TrainEvent),
    Finished {
        trial: &'a Trial,
    },
}

/// Runs (or resumes) a sweep: each unfinished trial as a run under the sweep's folder, the
/// state saved after each. Returns the state; the best trial is the one with the highest
/// validation metric. `stop` ends it after the current trial's current batch.
pub fn run_sweep(
    sweep: &Sweep,
    stop: Arc<AtomicBool>,
    on_event: &mut dyn FnMut(SweepEvent<'_>),
) -> Result<SweepState, String> {
    let mut state = open_state(sweep)?;
    let total = state.trials.len();
    for i in 0..total {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let finished = state.trials[i].finished;
        on_event(SweepEvent::Trial {
            trial: &state.trials[i],
            of: total,
            skipped: finished,
        });
        if finished {
            continue;
        }
        let run = run_trial(sweep, &state.trials[i], None, stop.clone(), on_event)?;
        state = record(sweep, state.trials[i].index, &run)?;
        on_event(SweepEvent::Finished {
            trial: &state.trials[i],
        });
    }
    Ok(state)
}

/// The sweep's state from its folder, created (with every trial planned) when the folder has
/// none; an error when the folder holds another sweep's trials.
pub fn open_state(sweep: &Sweep) -> Result<SweepState, String> {
    std::fs::create_dir_all(&sweep.out).map_err(|e| format!("{}: {e}", sweep.out.display()))?;
    let _lock = lock_state(sweep)?;
    let state = read_or_plan(sweep)?;
    save_state(&sweep.out.join(STATE_FILE), &state)?;
    Ok(state)
}

fn lock_state(sweep: &Sweep) -> Result<std::fs::File, String> {
    let path = sweep.out.join(STATE_LOCK);
    crate::atomic_file::lock_exclusive(&path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_or_plan(sweep: &Sweep) -> Result<SweepState, String> {
    let state_path = sweep.out.join(STATE_FILE);
    let planned = sweep.plan();
    match std::fs::read(&state_path) {
        Ok(bytes) => {
            let saved: SweepState = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: {e}", state_path.display()))?;
            let same_plan = saved.trials.len() == planned.len()
                && saved
                    .trials
                    .iter()
                    .zip(&planned)
                    .all(|(a, b)| a.params == b.params);
            if !same_plan {
                return Err(format!(
                    "{} holds another sweep's trials; use a new `out` folder for a changed sweep",
                    state_path.display()
                ));
            }
            Ok(saved)
        }
        Err(_) => Ok(SweepState {
            metric: sweep.metric.clone(),
            trials: planned,
        }),
    }
}

/// Runs one trial into the sweep's folder (resuming the training run in `resume` when given)
/// and returns its run; the sweep's state is not touched.
pub fn run_trial(
    sweep: &Sweep,
    trial: &Trial,
    resume: Option<&Path>,
    stop: Arc<AtomicBool>,
    on_event: &mut dyn FnMut(SweepEvent<'_>),
) -> Result<RunFile, String> {
    let config = sweep.config_of(trial)?;
    Ok(match sweep.kind {
        SweepKind::Train => {
            let config: TrainConfig = serde_json::from_value(config).map_err(|e| e.to_string())?;
            let dataset = crate::data::load(
                &config.data,
                crate::data::cache::default_cache_dir().as_deref(),
            )
            .map_err(|e| e.to_string())?;
            let outcome =
                train_on_chosen_device(&dataset, &config, &sweep.out, resume, stop, &mut |event| {
                    on_event(SweepEvent::Train(event))
                })
                .map_err(|e| e.to_string())?;
            outcome.run
        }
        SweepKind::Eval => {
            let trial: EvalTrial = serde_json::from_value(config).map_err(|e| e.to_string())?;
            let dataset = crate::data::load(
                &trial.data,
                crate::data::cache::default_cache_dir().as_deref(),
            )
            .map_err(|e| e.to_string())?;
            let eval = EvalConfig {
                cutoffs: trial.cutoffs.clone(),
                ..EvalConfig::default()
            };
            let done = run_baseline(
                &trial.baseline,
                &dataset,
                &trial.data.path,
                trial.split,
                &eval,
                trial.seed,
                &move |_, _| !stop.load(Ordering::Relaxed),
            )
            .map_err(|e| e.to_string())?;
            done.run.save(&sweep.out).map_err(|e| e.to_string())?;
            done.run
        }
    })
}

/// Records the run of trial number `index` (as shown: from 1) in the sweep's state and rewrites the best trial's config. The
/// state is re-read under the folder's lock first, so trials finishing at once (array tasks on
/// several nodes) never lose each other's results.
pub fn record(sweep: &Sweep, index: usize, run: &RunFile) -> Result<SweepState, String> {
    let _lock = lock_state(sweep)?;
    let mut state = read_or_plan(sweep)?;
    let Some(trial) = state.trials.iter_mut().find(|t| t.index == index) else {
        return Err(format!(
            "{}: no trial {index} (the sweep's trials are 1 to {})",
            sweep.out.display(),
            state.trials.len()
        ));
    };
    trial.run = Some(run.run_id.clone());
    trial.valid = run.valid_metrics.get(&sweep.metric).copied();
    trial.finished = run.status == RunStatus::Completed;
    save_state(&sweep.out.join(STATE_FILE), &state)?;
    if let Some(best) = best(&state) {
        let mut config = sweep.config_of(best)?;
        drop_nulls(&mut config);
        let toml = toml::to_string_pretty(&config).map_err(|e| e.to_string())?;
        let header = format!(
            "# The best trial of this sweep (trial {}, validation {} = {:.4}); train or eval it with\n# this file as --config.\n",
            best.index,
            state.metric,
            best.valid.unwrap_or(f64::NAN)
        );
        crate::atomic_file::write_atomic(&sweep.out.join(BEST_FILE), (header + &toml).as_bytes())
            .map_err(|e| format!("{}: {e}", sweep.out.join(BEST_FILE).display()))?;
    }
    Ok(state)
}

/// Removes absent values (`null`): TOML has none, and a missing key means the same.
fn drop_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(drop_nulls);
    }
}

fn save_state(path: &Path, state: &SweepState) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
    crate::atomic_file::write_atomic(path, &json).map_err(|e| format!("{}: {e}", path.display()))
}

/// The finished trial with the highest validation metric (never the test metric).
pub fn best(state: &SweepState) -> Option<&Trial> {
    state
        .trials
        .iter()
        .filter(|t| t.finished)
        .filter_map(|t| t.valid.map(|v| (t, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(t, _)| t)
}

/// The finished trials by validation metric, best first.
pub fn ranked(state: &SweepState) -> Vec<&Trial> {
    let mut trials: Vec<&Trial> = state.trials.iter().filter(|t| t.valid.is_some()).collect();
    trials.sort_by(|a, b| {
        b.valid
            .unwrap_or(f64::NAN)
            .total_cmp(&a.valid.unwrap_or(f64::NAN))
    });
    trials
}

/// A sweep folder's state (for `runs` and the Compare panel).
pub fn load_state(dir: &Path) -> Result<SweepState, String> {
    let path = dir.join(STATE_FILE);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The run of a finished trial.
pub fn trial_run(dir: &Path, trial: &Trial) -> Option<Result<RunFile, String>> {
    trial
        .run
        .as_ref()
        .map(|id| RunFile::load(&dir.join(id)).map_err(|e| e.to_string()))
}
