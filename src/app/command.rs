//! Everything the UI asks for, as values. Panels push commands while they draw; the app applies
//! them in one place at the end of the frame, so no panel mutates shared state behind another's
//! back.

use std::path::PathBuf;

use super::state::PanelKind;
use crate::data::LoadSpec;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    ShowPanel(PanelKind),
    ToggleTheme,
    /// Load a dataset (on a worker).
    LoadDataset(Box<LoadSpec>),
    /// Ask the native dialog for a dataset file or folder, then load it.
    PickDataset {
        folder: bool,
    },
    /// Start training (or fitting a baseline) with the Train panel's form.
    StartTraining,
    /// Stop the running training after its current batch; its best weights and run are kept.
    StopTraining,
    /// Re-read the runs folder.
    RefreshRuns,
    /// Ask the native dialog for a run folder and add it to the comparison.
    PickRunFolder,
    /// Add or remove a run folder from the comparison.
    CompareRun {
        dir: PathBuf,
        include: bool,
    },
    /// Write the comparison table as CSV (dialog first).
    ExportComparisonCsv,
    /// Save the comparison's curves as PNG (dialog first).
    ExportCurvesPng,
    /// Open a run's model for the Evaluate and User panels.
    OpenModel(PathBuf),
    /// Evaluate the opened model with the Evaluate panel's form.
    Evaluate,
    /// Cancel the running evaluation.
    CancelEvaluation,
    /// Forget the evaluation results shown.
    ClearEvaluations,
    /// Start the Live preview afresh for the selected user with the two policies.
    PreviewReset,
    PreviewPlay(bool),
    PreviewStep,
    /// Simulate many users through both policies in the background and save the result as a run.
    RunAb,
    /// Train a learned page policy over the preview's model (`AppState::rl_episodes`), saved as
    /// a run and then used by the `rl` policy.
    TrainLearnedPolicy,
    /// Stop the training (what was learned so far is saved).
    StopLearnedPolicy,
    /// Use the learned policy saved in this run folder.
    OpenLearnedPolicy(PathBuf),
    /// Embed the loaded catalogue with the language model in `AppState::lm_dir` (on a worker).
    Embed,
    /// Cancel the running embedding.
    CancelEmbedding,
    /// Ask the native dialog for a language-model folder.
    PickModelFolder,
    /// Tell the Live preview's storefront what the person wants (`AppState::request`); an
    /// empty request clears it.
    PreviewAsk,
    /// Describe the simulated person in words (`AppState::persona`): sets their hidden taste.
    PreviewPersona,
    /// Select an item (on the item map or in search results) to show its details.
    SelectItem(u32),
    /// Open a sweep folder (its `sweep.json`) in the Compare panel.
    OpenSweep(PathBuf),
    /// Ask the native dialog for a sweep folder.
    PickSweepFolder,
    /// Write the User panel's user's profile with the generative model (`AppState::llm_path`,
    /// `AppState::profile_prompt`), streamed; read from the cache when written before.
    WriteProfile,
    /// Stop writing the profile (nothing is cached then).
    CancelProfile,
    /// Write why `item` suits the User panel's user, from the `evidence` items of their
    /// history, with the generative model (streamed, cached).
    Explain {
        item: u32,
        evidence: Vec<u32>,
    },
    /// Stop writing the explanation.
    CancelExplanation,
    /// Stop writing the description of what the storefront was told.
    CancelDescription,
}
