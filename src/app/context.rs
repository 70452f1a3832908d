//! What a panel works with: the things every panel may read (the loaded dataset, the opened
//! model, the embedded catalogue, the listed runs, which tasks run), the persisted settings
//! whose fields its widgets edit, and one way to act — commands, carried out by the workbench
//! at the end of the frame. A panel's own results and errors come to it as a separate argument,
//! so no panel can start another's task or clear another's error.

use std::sync::Arc;

use super::command::Command;
use super::data::Loaded;
use super::evaluation::OpenedModel;
use super::language::Language;
use super::state::AppState;
use super::task::{TaskKind, Tasks};
use crate::runs::ListedRun;

pub struct PanelContext<'a> {
    /// The settings eframe persists: the panels' forms, the user shown, the runs folder.
    pub settings: &'a mut AppState,
    /// The dataset every panel works on.
    pub data: Option<&'a Arc<Loaded>>,
    /// The model the Evaluate, User and Live panels use.
    pub model: Option<&'a Arc<OpenedModel>>,
    /// The last catalogue embedded by a language model (check that it belongs to `data`).
    pub language: Option<&'a Arc<Language>>,
    /// The runs found in the runs folder.
    pub runs: &'a [ListedRun],
    tasks: &'a Tasks,
    commands: &'a mut Vec<Command>,
}

impl<'a> PanelContext<'a> {
    pub fn new(
        settings: &'a mut AppState,
        data: Option<&'a Arc<Loaded>>,
        model: Option<&'a Arc<OpenedModel>>,
        language: Option<&'a Arc<Language>>,
        runs: &'a [ListedRun],
        tasks: &'a Tasks,
        commands: &'a mut Vec<Command>,
    ) -> Self {
        PanelContext {
            settings,
            data,
            model,
            language,
            runs,
            tasks,
            commands,
        }
    }

    /// Asks the workbench to do something at the end of the frame.
    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    pub fn is_running(&self, kind: TaskKind) -> bool {
        self.tasks.is_running(kind)
    }

    /// Seconds the running task of `kind` has taken so far.
    pub fn running_secs(&self, kind: TaskKind) -> Option<f64> {
        self.tasks.elapsed(kind).map(|d| d.as_secs_f64())
    }

    /// The embedded catalogue when it belongs to the loaded dataset.
    pub fn language_for_data(&self) -> Option<&'a Arc<Language>> {
        let loaded = self.data?;
        self.language.filter(|l| l.belongs_to(&loaded.dataset))
    }
}
