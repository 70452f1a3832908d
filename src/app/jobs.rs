//! Work that must not run on the GUI thread — loading, training, evaluating, opening a model,
//! file dialogs — as jobs on worker threads. A job sends typed messages over a channel, wakes the
//! GUI with `request_repaint`, and can be asked to stop; the app drains its messages once a frame.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::data::{self, Dataset, DatasetStats, LoadSpec, Split};
use crate::eval::{EvalConfig, EvalReport, Stage, evaluate};
use crate::recommend::{BaselineConfig, Recommender};
use crate::runs::run_baseline;
use crate::train::{TrainConfig, TrainEvent, model_from_run, train_on_chosen_device};

/// A running job: its messages, its stop flag, and when it started.
pub struct Job<M> {
    messages: Receiver<M>,
    stop: Arc<AtomicBool>,
    pub started: Instant,
    finished: bool,
}

impl<M> Job<M> {
    /// Messages that arrived since the last call, oldest first.
    pub fn drain(&mut self) -> Vec<M> {
        let mut out = Vec::new();
        loop {
            match self.messages.try_recv() {
                Ok(m) => out.push(m),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.finished = true;
                    break;
                }
            }
        }
        out
    }

    /// Asks the job to stop at its next check; it still reports how it ended.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits up to `timeout` for the worker to end, keeping the messages for [`Self::drain`]
    /// (used when the window closes, so a stopped training can write its run file).
    pub fn wait(&mut self, timeout: std::time::Duration) -> Vec<M> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.messages.recv_timeout(left) {
                Ok(m) => out.push(m),
                Err(_) => break,
            }
        }
        out
    }

    /// Whether the worker has ended and every message has been drained.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// The sending side handed to a worker: every message wakes the GUI.
pub struct Reporter<M> {
    sender: Sender<M>,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

impl<M> Clone for Reporter<M> {
    fn clone(&self) -> Self {
        Reporter {
            sender: self.sender.clone(),
            repaint: self.repaint.clone(),
        }
    }
}

impl<M> Reporter<M> {
    pub fn send(&self, message: M) {
        // The app dropped the job (it was replaced or the window closed): nobody is listening.
        let _ = self.sender.send(message);
        (self.repaint)();
    }
}

/// Starts `work` on a new thread. `repaint` wakes the GUI (`ctx.request_repaint`).
pub fn spawn<M: Send + 'static>(
    name: &str,
    repaint: Arc<dyn Fn() + Send + Sync>,
    work: impl FnOnce(Reporter<M>, Arc<AtomicBool>) + Send + 'static,
) -> Job<M> {
    let (sender, messages) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = Reporter {
        sender,
        repaint: repaint.clone(),
    };
    let flag = stop.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("reclab-{name}"))
        .spawn(move || {
            // Jobs never hold up the window's frames (see `priority`).
            super::priority::lower_this_thread();
            work(reporter, flag);
            repaint();
        });
    let finished = spawned.is_err();
    Job {
        messages,
        stop,
        started: Instant::now(),
        finished,
    }
}

/// The evaluator's progress callback (called from its worker threads): reports `(done, total)`
/// as a message and answers whether to go on.
fn progress_callback<M: Send + 'static>(
    out: &Reporter<M>,
    stop: Arc<AtomicBool>,
    message: fn(usize, usize) -> M,
) -> impl Fn(usize, usize) -> bool + Sync {
    let out = Mutex::new(out.clone());
    move |done, total| {
        if let Ok(out) = out.lock() {
            out.send(message(done, total));
        }
        !stop.load(Ordering::Relaxed)
    }
}

/// A dataset ready for every panel.
pub struct Loaded {
    pub spec: LoadSpec,
    pub dataset: Dataset,
    pub stats: DatasetStats,
    /// Interactions per item index (the item table's count column).
    pub item_counts: Vec<u32>,
}

pub enum LoadMessage {
    Done(Result<Arc<Loaded>, String>),
}

pub fn load_dataset(spec: LoadSpec, repaint: Arc<dyn Fn() + Send + Sync>) -> Job<LoadMessage> {
    spawn("load", repaint, move |out, _stop| {
        let result = data::load(&spec, data::cache::default_cache_dir().as_deref())
            .map(|dataset| {
                let stats = DatasetStats::of(&dataset);
                let item_counts = dataset.item_counts();
                Arc::new(Loaded {
                    spec,
                    dataset,
                    stats,
                    item_counts,
                })
            })
            .map_err(|e| e.to_string());
        out.send(LoadMessage::Done(result));
    })
}

pub enum TrainMessage {
    Event(TrainEvent),
    /// A baseline's evaluation progress.
    Progress {
        done: usize,
        total: usize,
    },
    /// The run folder written, or why there is none.
    Done(Result<PathBuf, String>),
}

/// Trains a Transformer with the engine the CLI uses; its events are forwarded as they come.
pub fn train_transformer(
    loaded: Arc<Loaded>,
    config: TrainConfig,
    runs_root: PathBuf,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> Job<TrainMessage> {
    spawn("train", repaint, move |out, stop| {
        let events = out.clone();
        let mut forward = move |event: TrainEvent| events.send(TrainMessage::Event(event));
        let result = train_on_chosen_device(
            &loaded.dataset,
            &config,
            &runs_root,
            None,
            stop,
            &mut forward,
        )
        .map(|outcome| outcome.run_dir)
        .map_err(|e| e.to_string());
        out.send(TrainMessage::Done(result));
    })
}

/// Fits and evaluates a baseline and saves its run.
pub fn train_baseline(
    loaded: Arc<Loaded>,
    baseline: BaselineConfig,
    config: TrainConfig,
    runs_root: PathBuf,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> Job<TrainMessage> {
    spawn("baseline", repaint, move |out, stop| {
        let eval_config = EvalConfig {
            cutoffs: config.cutoffs.clone(),
            ..EvalConfig::default()
        };
        let progress = progress_callback(&out, stop, |done, total| TrainMessage::Progress {
            done,
            total,
        });
        let result = run_baseline(
            &baseline,
            &loaded.dataset,
            &loaded.spec.path,
            config.split,
            &eval_config,
            config.seed,
            &progress,
        )
        .map_err(|e| e.to_string())
        .and_then(|done| done.run.save(&runs_root).map_err(|e| e.to_string()));
        out.send(TrainMessage::Done(result));
    })
}

/// A model opened from a run folder, shared by the Evaluate and User panels.
pub struct OpenedModel {
    pub run_dir: PathBuf,
    pub label: String,
    pub model: Arc<dyn Recommender>,
}

pub enum ModelMessage {
    Done(Result<Arc<OpenedModel>, String>),
}

pub fn open_model(
    loaded: Arc<Loaded>,
    run_dir: PathBuf,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> Job<ModelMessage> {
    spawn("model", repaint, move |out, _stop| {
        let result = model_from_run(&run_dir, &loaded.dataset)
            .map(|model| {
                Arc::new(OpenedModel {
                    label: format!("{} ({})", model.name(), run_label(&run_dir)),
                    run_dir,
                    model: Arc::from(model),
                })
            })
            .map_err(|e| e.to_string());
        out.send(ModelMessage::Done(result));
    })
}

/// A run folder's last component, which is its run id.
pub fn run_label(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

pub enum EvalMessage {
    Progress {
        done: usize,
        total: usize,
    },
    /// The report, and its metrics for cold and warm targets apart (cold-items splits).
    Done(Result<(EvalReport, crate::runs::MetricsByTarget), String>),
}

/// Evaluates an opened model on the test targets.
pub fn evaluate_model(
    loaded: Arc<Loaded>,
    model: Arc<OpenedModel>,
    split: data::SplitStrategy,
    config: EvalConfig,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> Job<EvalMessage> {
    spawn("evaluate", repaint, move |out, stop| {
        let result = Split::new(&loaded.dataset, split)
            .map_err(|e| e.to_string())
            .and_then(|split| {
                let progress = progress_callback(&out, stop, |done, total| EvalMessage::Progress {
                    done,
                    total,
                });
                evaluate(
                    model.model.as_ref(),
                    &loaded.dataset,
                    &split,
                    Stage::Test,
                    &config,
                    &progress,
                )
                .map(|mut report| {
                    report.model = model.label.clone();
                    let by_target = crate::eval::by_target_group(&report, &split, &config.cutoffs);
                    report.rankings = Vec::new();
                    (report, by_target)
                })
                .map_err(|e| e.to_string())
            });
        out.send(EvalMessage::Done(result));
    })
}

pub enum DialogMessage {
    Picked(Option<PathBuf>),
}

/// What a native file dialog should pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    DatasetFile,
    DatasetFolder,
    RunFolder,
    SaveCsv,
    SavePng,
    ModelFolder,
    SweepFolder,
}

/// Native dialogs block their caller, so they run on a worker too.
pub fn file_dialog(
    kind: DialogKind,
    start: PathBuf,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> Job<DialogMessage> {
    spawn("dialog", repaint, move |out, _stop| {
        let dialog = rfd::FileDialog::new().set_directory(&start);
        let picked = match kind {
            DialogKind::DatasetFile => dialog
                .add_filter(
                    "interaction logs",
                    &["inter", "csv", "tsv", "parquet", "data", "dat"],
                )
                .pick_file(),
            DialogKind::DatasetFolder
            | DialogKind::RunFolder
            | DialogKind::ModelFolder
            | DialogKind::SweepFolder => dialog.pick_folder(),
            DialogKind::SaveCsv => dialog.set_file_name("comparison.csv").save_file(),
            DialogKind::SavePng => dialog.set_file_name("curves.png").save_file(),
        };
        out.send(DialogMessage::Picked(picked));
    })
}

pub enum AbMessage {
    Done(Result<(crate::sim::AbReport, PathBuf), String>),
}

/// Simulates many users through the given policies and saves the outcome as a run.
pub fn run_ab(
    loaded: Arc<Loaded>,
    model: Arc<dyn Recommender>,
    config: crate::sim::AbConfig,
    runs_root: PathBuf,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> Job<AbMessage> {
    spawn("ab", repaint, move |out, _stop| {
        let result = Split::new(&loaded.dataset, data::SplitStrategy::LeaveOneOut)
            .map_err(|e| e.to_string())
            .and_then(|split| {
                let report = crate::sim::run_ab(model.as_ref(), &loaded.dataset, &split, &config);
                let run =
                    crate::sim::ab_run_file(&report, &config, &loaded.dataset, &loaded.spec.path);
                let dir = run.save(&runs_root).map_err(|e| e.to_string())?;
                Ok((report, dir))
            });
        out.send(AbMessage::Done(result));
    })
}

pub enum EmbedMessage {
    /// Items embedded so far, of all.
    Progress {
        done: usize,
        total: usize,
    },
    Done(Result<Arc<super::language::Language>, String>),
}

/// Opens a model folder and embeds the catalogue's item texts (through the vector cache), then
/// maps them to 2-D and finds each genre's centroid for personas.
pub fn embed_catalogue(
    loaded: Arc<Loaded>,
    model_dir: PathBuf,
    template: String,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> Job<EmbedMessage> {
    spawn("embed", repaint, move |out, stop| {
        let result = embed(&loaded, &model_dir, &template, &out, &stop);
        out.send(EmbedMessage::Done(result));
    })
}

fn embed(
    loaded: &Loaded,
    model_dir: &Path,
    template: &str,
    out: &Reporter<EmbedMessage>,
    stop: &AtomicBool,
) -> Result<Arc<super::language::Language>, String> {
    let mut progress = |done, total| {
        out.send(EmbedMessage::Progress { done, total });
        !stop.load(Ordering::Relaxed)
    };
    super::language::Language::build(&loaded.dataset, model_dir, Some(template), &mut progress)
        .map(Arc::new)
}

pub enum PairedMessage {
    Done(Result<crate::runs::significance::PairedReport, String>),
}

/// Paired tests of the compared runs (a bootstrap over every user is too slow for a frame).
pub fn paired_tests(
    dirs: Vec<PathBuf>,
    metrics: Vec<String>,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> Job<PairedMessage> {
    use crate::runs::significance::{LoadedRun, paired_report};
    spawn("paired", repaint, move |out, _stop| {
        let result = dirs
            .into_iter()
            .map(|dir| LoadedRun::load(dir).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|runs| paired_report(&runs, &metrics, crate::eval::Stage::Test));
        out.send(PairedMessage::Done(result));
    })
}
