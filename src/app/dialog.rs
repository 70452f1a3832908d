//! Native file dialogs. They block their caller, so each runs as a task; what it picked is
//! routed by its kind when it ends.

use std::path::PathBuf;

use super::task::{Outcome, Reporter};

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

/// The dialog task's worker.
pub fn pick(kind: DialogKind, start: PathBuf, _out: &Reporter) -> Result<Outcome, String> {
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
    Ok(Outcome::Picked(kind, picked))
}
