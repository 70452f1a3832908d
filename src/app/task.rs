//! The one shape of background work in the app. A task is started from a command, runs its
//! worker function on a thread of its own (at a lower priority than the window), reports
//! [`Update`]s — counted progress, partial results, and last its outcome or error — over a
//! channel that wakes the window, and can be asked to stop. The [`Workbench`](super::Workbench)
//! drains every task's updates in one place per frame and routes each to the state of its
//! concern.
//!
//! At most one task of each [`TaskKind`] runs: starting one while another of its kind runs
//! replaces it, and the replaced task's updates are dropped unread (its worker finishes on its
//! own; the paired tests rely on this when the compared runs change under them).

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every kind of background work the app does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Load,
    Train,
    OpenModel,
    Evaluate,
    Embed,
    PairedTests,
    Ab,
    Dialog,
    Profile,
    Explain,
    Describe,
    /// Training a learned page policy (reinforcement learning).
    Rl,
}

impl TaskKind {
    /// How the task is named in its thread and in errors.
    fn name(self) -> &'static str {
        match self {
            TaskKind::Load => "load",
            TaskKind::Train => "train",
            TaskKind::OpenModel => "model",
            TaskKind::Evaluate => "evaluate",
            TaskKind::Embed => "embed",
            TaskKind::PairedTests => "paired",
            TaskKind::Ab => "ab",
            TaskKind::Dialog => "dialog",
            TaskKind::Profile => "profile",
            TaskKind::Explain => "explain",
            TaskKind::Describe => "describe",
            TaskKind::Rl => "rl",
        }
    }
}

/// What a task reports, oldest first. Partial results and the outcome are of the types its
/// worker chose; the concern that started the task reads them back as those types
/// ([`Update::partial`], [`Update::outcome`]), so this module knows none of them.
pub enum Update {
    /// Units done of all (users evaluated, items embedded).
    Progress { done: usize, total: usize },
    /// A result worth showing before the end (a training's events).
    Partial(Box<dyn Any + Send>),
    /// The last update: the worker's outcome, or why it failed.
    Done(Result<Box<dyn Any + Send>, String>),
}

impl Update {
    /// A partial result of type `T`, if this is one.
    pub fn partial<T: 'static>(&self) -> Option<&T> {
        match self {
            Update::Partial(value) => value.downcast_ref(),
            _ => None,
        }
    }

    /// The outcome, if this is the last update, as the worker's type `T`.
    pub fn outcome<T: 'static>(self) -> Option<Result<T, String>> {
        match self {
            Update::Done(Ok(value)) => Some(
                value
                    .downcast::<T>()
                    .map(|value| *value)
                    // A worker and the code reading its outcome sit side by side in one
                    // concern's module; a mismatch is a bug, reported rather than panicking.
                    .map_err(|_| "a task ended with a result of an unexpected type".to_string()),
            ),
            Update::Done(Err(message)) => Some(Err(message)),
            _ => None,
        }
    }
}

/// A worker's side of its task: updates that wake the window, and the stop request.
#[derive(Clone)]
pub struct Reporter {
    sender: Sender<Update>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    stop: Arc<AtomicBool>,
}

impl Reporter {
    pub fn progress(&self, done: usize, total: usize) {
        self.send(Update::Progress { done, total });
    }

    pub fn partial<T: Any + Send>(&self, partial: T) {
        self.send(Update::Partial(Box::new(partial)));
    }

    /// Whether the app asked the task to stop; a worker checks it between units of work.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The flag itself, for engines that take one (training).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// A progress callback for the evaluator and the embedder, which call it from their worker
    /// threads: reports `(done, total)` and answers whether to go on.
    pub fn progress_callback(&self) -> impl Fn(usize, usize) -> bool + Sync + use<> {
        let reporter = Mutex::new(self.clone());
        move |done, total| match reporter.lock() {
            Ok(reporter) => {
                reporter.progress(done, total);
                !reporter.stop_requested()
            }
            Err(_) => true,
        }
    }

    fn send(&self, update: Update) {
        // The app dropped the task (it was replaced or the window closed): nobody is listening.
        let _ = self.sender.send(update);
        (self.repaint)();
    }
}

struct Running {
    kind: TaskKind,
    updates: Receiver<Update>,
    stop: Arc<AtomicBool>,
    started: Instant,
}

/// The running tasks. Panels see it read-only (what runs, for how long); only the workbench
/// starts, stops and drains tasks.
pub struct Tasks {
    running: Vec<Running>,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

impl Tasks {
    /// `repaint` wakes the window; every update calls it.
    pub fn new(repaint: Arc<dyn Fn() + Send + Sync>) -> Self {
        Tasks {
            running: Vec::new(),
            repaint,
        }
    }

    /// Starts `work` on a new thread as the task of its kind (replacing a running one). What
    /// the worker returns is its last update.
    pub fn start<T: Any + Send>(
        &mut self,
        kind: TaskKind,
        work: impl FnOnce(&Reporter) -> Result<T, String> + Send + 'static,
    ) {
        self.running.retain(|task| task.kind != kind);
        let (sender, updates) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let reporter = Reporter {
            sender,
            repaint: self.repaint.clone(),
            stop: stop.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("reclab-{}", kind.name()))
            .spawn(move || {
                // Tasks never hold up the window's frames (see `priority`).
                super::priority::lower_this_thread();
                // A panic would end this thread anyway, dropping what the worker built; caught,
                // it becomes the task's error instead of a silent end (what the worker shares
                // with the app, the loaded dataset and models, is read-only).
                let result = crate::guard::catching(|| work(&reporter))
                    .map_err(|panic| format!("the {} task failed: {panic}", kind.name()))
                    .and_then(|result| result)
                    .map(|outcome| Box::new(outcome) as Box<dyn Any + Send>);
                reporter.send(Update::Done(result));
            });
        if let Err(e) = spawned {
            // No thread, no worker: the task ends at once with the reason.
            let (sender, updates) = channel();
            let _ = sender.send(Update::Done(Err(format!(
                "could not start the {} task: {e}",
                kind.name()
            ))));
            self.running.push(Running {
                kind,
                updates,
                stop,
                started: Instant::now(),
            });
            return;
        }
        self.running.push(Running {
            kind,
            updates,
            stop,
            started: Instant::now(),
        });
    }

    pub fn is_running(&self, kind: TaskKind) -> bool {
        self.running.iter().any(|task| task.kind == kind)
    }

    pub fn any_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// How long the running task of `kind` has taken so far.
    pub fn elapsed(&self, kind: TaskKind) -> Option<Duration> {
        self.running
            .iter()
            .find(|task| task.kind == kind)
            .map(|task| task.started.elapsed())
    }

    /// Asks the running task of `kind` to stop at its next check; it still reports how it ended.
    pub fn request_stop(&self, kind: TaskKind) {
        for task in self.running.iter().filter(|task| task.kind == kind) {
            task.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Every update that arrived since the last call, oldest first per task. A task leaves the
    /// list with its `Done`; one whose worker vanished without it ends with an error.
    pub fn drain(&mut self) -> Vec<(TaskKind, Update)> {
        let mut out = Vec::new();
        self.running.retain(|task| {
            loop {
                match task.updates.try_recv() {
                    Ok(update) => {
                        let done = matches!(update, Update::Done(_));
                        out.push((task.kind, update));
                        if done {
                            return false;
                        }
                    }
                    Err(TryRecvError::Empty) => return true,
                    Err(TryRecvError::Disconnected) => {
                        out.push((
                            task.kind,
                            Update::Done(Err(format!(
                                "the {} task ended without a result",
                                task.kind.name()
                            ))),
                        ));
                        return false;
                    }
                }
            }
        });
        out
    }

    /// Waits up to `timeout` for the running task of `kind` to end, keeping its updates for
    /// [`Self::drain`] (used when the window closes, so a stopped training can write its run).
    pub fn wait(&mut self, kind: TaskKind, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let Some(task) = self.running.iter().find(|task| task.kind == kind) else {
            return;
        };
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match task.updates.recv_timeout(left) {
                Ok(Update::Done(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks() -> Tasks {
        Tasks::new(Arc::new(|| {}))
    }

    /// Drains until the task of `kind` is no longer running.
    fn drain_until_done(tasks: &mut Tasks, kind: TaskKind) -> Vec<Update> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut updates = Vec::new();
        while tasks.is_running(kind) {
            assert!(Instant::now() < deadline, "the task did not end");
            updates.extend(tasks.drain().into_iter().map(|(_, u)| u));
            std::thread::sleep(Duration::from_millis(5));
        }
        updates
    }

    #[test]
    fn progress_partials_then_the_outcome_in_order() {
        let mut tasks = tasks();
        tasks.start(TaskKind::Load, |out| {
            out.progress(1, 2);
            out.partial("half".to_string());
            out.progress(2, 2);
            Ok(7u32)
        });
        assert!(tasks.is_running(TaskKind::Load));
        let mut updates = drain_until_done(&mut tasks, TaskKind::Load);
        assert_eq!(updates.len(), 4);
        assert!(matches!(updates[0], Update::Progress { done: 1, total: 2 }));
        assert_eq!(
            updates[1].partial::<String>().map(String::as_str),
            Some("half")
        );
        assert_eq!(updates[1].partial::<u32>(), None, "typed: not a u32");
        assert!(matches!(updates[2], Update::Progress { done: 2, total: 2 }));
        let last = updates.pop().unwrap();
        assert_eq!(last.outcome::<u32>(), Some(Ok(7)));
    }

    #[test]
    fn an_outcome_read_as_another_type_is_an_error_not_a_panic() {
        let mut tasks = tasks();
        tasks.start(TaskKind::Ab, |_| Ok(7u32));
        let mut updates = drain_until_done(&mut tasks, TaskKind::Ab);
        let outcome = updates.pop().unwrap().outcome::<String>();
        assert!(matches!(outcome, Some(Err(m)) if m.contains("unexpected type")));
    }

    #[test]
    fn a_stop_request_reaches_the_worker() {
        let mut tasks = tasks();
        tasks.start(TaskKind::Evaluate, |out| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !out.stop_requested() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            match out.stop_requested() {
                true => Err("stopped".to_string()),
                false => Ok(()),
            }
        });
        tasks.request_stop(TaskKind::Evaluate);
        let mut updates = drain_until_done(&mut tasks, TaskKind::Evaluate);
        assert_eq!(updates.len(), 1);
        let outcome = updates.pop().unwrap().outcome::<()>();
        assert_eq!(outcome, Some(Err("stopped".to_string())));
    }

    #[test]
    fn a_panicking_worker_ends_with_its_message() {
        let mut tasks = tasks();
        tasks.start::<()>(TaskKind::Embed, |_| panic!("broken model file"));
        let mut updates = drain_until_done(&mut tasks, TaskKind::Embed);
        assert_eq!(updates.len(), 1);
        let outcome = updates.pop().unwrap().outcome::<()>();
        assert!(
            matches!(&outcome, Some(Err(m)) if m.contains("broken model file") && m.contains("embed")),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_new_task_replaces_the_running_one_of_its_kind() {
        let mut tasks = tasks();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        tasks.start(TaskKind::PairedTests, move |_| {
            let _ = wait.recv();
            Ok("old")
        });
        tasks.start(TaskKind::PairedTests, |_| Ok("new"));
        let mut updates = drain_until_done(&mut tasks, TaskKind::PairedTests);
        drop(release);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates.pop().unwrap().outcome::<&str>(), Some(Ok("new")));
    }
}
