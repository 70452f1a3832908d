//! Native file dialogs. They block their caller, so each runs as a task; what it picked is
//! routed by its kind when it ends.

use std::path::PathBuf;

use super::task::Reporter;

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
/// What a dialog picked: nothing when it was dismissed.
pub struct Picked {
    pub kind: DialogKind,
    pub path: Option<PathBuf>,
}

pub fn pick(kind: DialogKind, start: PathBuf, _out: &Reporter) -> Result<Picked, String> {
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
    Ok(Picked { kind, path: picked })
}
