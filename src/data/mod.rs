//! The data layer: reading interaction logs (MovieLens, RecBole atomic files, any CSV / TSV /
//! Parquet log, or the built-in synthetic world) into one normalised [`Dataset`], with
//! preprocessing, splits, statistics and a cache. It knows nothing of burn or egui.

pub mod cache;
pub mod dataset;
pub mod error;
pub mod format;
pub mod movielens;
mod parquet_check;
pub mod preprocess;
pub mod raw;
pub mod recbole;
pub mod split;
pub mod stats;
pub mod synthetic;
pub mod table;
pub mod tabular;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use dataset::{Dataset, Item, PADDING_ITEM};
pub use error::{DataError, Position, Result};
pub use format::{Format, Located, SYNTHETIC, locate};
pub use preprocess::Preprocessing;
pub use raw::{ItemMeta, RawLog};
pub use split::{Split, SplitStrategy};
pub use stats::DatasetStats;
pub use synthetic::{SyntheticConfig, SyntheticTruth};
pub use tabular::{ColumnMapping, ItemTableSpec};

/// Everything that says which dataset to load and how to shape it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadSpec {
    /// A folder, any file of a dataset's set, or `synthetic`.
    pub path: String,
    /// Skips format detection.
    pub format: Option<Format>,
    /// Column names for CSV / TSV / Parquet logs.
    pub columns: ColumnMapping,
    /// An item table for CSV / TSV / Parquet logs.
    pub item_table: Option<ItemTableSpec>,
    /// Field separator of a CSV / TSV log, when it is not the one its extension implies.
    pub separator: Option<char>,
    pub synthetic: SyntheticConfig,
    pub preprocessing: Preprocessing,
}

impl Default for LoadSpec {
    fn default() -> Self {
        LoadSpec {
            path: SYNTHETIC.to_string(),
            format: None,
            columns: ColumnMapping::default(),
            item_table: None,
            separator: None,
            synthetic: SyntheticConfig::default(),
            preprocessing: Preprocessing::default(),
        }
    }
}

impl LoadSpec {
    pub fn new(path: impl Into<String>) -> Self {
        LoadSpec {
            path: path.into(),
            ..LoadSpec::default()
        }
    }
}

/// Finds the dataset's files and reader, applying a forced separator to a delimited log.
pub fn locate_spec(spec: &LoadSpec) -> Result<Located> {
    let located = locate(&spec.path, spec.format)?;
    Ok(match (located, spec.separator) {
        (
            Located::Table {
                path,
                kind: tabular::TableKind::Delimited(_),
            },
            Some(sep),
        ) => {
            if !sep.is_ascii() {
                return Err(DataError::Config(format!(
                    "the separator must be one ASCII character, got {sep:?}"
                )));
            }
            Located::Table {
                path,
                kind: tabular::TableKind::Delimited(sep as u8),
            }
        }
        (located, _) => located,
    })
}

/// Reads the raw log of a located dataset.
pub fn read_raw(located: &Located, spec: &LoadSpec) -> Result<RawLog> {
    match located {
        Located::Ml100k { dir } => movielens::read_ml100k(dir),
        Located::Ml1m { dir } => movielens::read_ml1m(dir),
        Located::MlLatest { dir } => movielens::read_ml_latest(dir),
        Located::Recbole { dir, name } => recbole::read_recbole(dir, name),
        Located::Table { path, kind } => {
            tabular::read_tabular(path, *kind, &spec.columns, spec.item_table.as_ref())
        }
        Located::Synthetic => Ok(synthetic::generate(&spec.synthetic)?.log),
    }
}

/// A short name for a dataset: its set name or folder, or the file's stem.
fn dataset_name(located: &Located) -> String {
    let stem = |p: &Path| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("dataset")
            .to_string()
    };
    match located {
        Located::Ml100k { dir } | Located::Ml1m { dir } | Located::MlLatest { dir } => {
            let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            stem(&abs)
        }
        Located::Recbole { name, .. } => name.clone(),
        Located::Table { path, .. } => stem(path),
        Located::Synthetic => SYNTHETIC.to_string(),
    }
}

/// Loads, preprocesses and indexes a dataset. With `cache_dir`, a cached copy made from the
/// same source content and settings is reused, and a new one is written (a cache that cannot
/// be written is skipped: caching must never fail a load).
pub fn load(spec: &LoadSpec, cache_dir: Option<&Path>) -> Result<Dataset> {
    let located = locate_spec(spec)?;
    spec.preprocessing.validate()?;
    if let Located::Synthetic = located {
        return load_synthetic(&spec.synthetic, &spec.preprocessing);
    }
    let name = dataset_name(&located);
    let fingerprint = cache::fingerprint_files(&located.source_files())?;
    let processing = serde_json::to_string(&(
        located.format(),
        &spec.columns,
        &spec.item_table,
        &spec.preprocessing,
        format!("{located:?}"),
    ))
    .unwrap_or_default();
    let cached_at = cache_dir.map(|dir| cache::cache_path(dir, &name, &fingerprint, &processing));
    if let Some(dataset) = cached_at.as_deref().and_then(cache::read) {
        return Ok(dataset);
    }
    let log = read_raw(&located, spec)?;
    let rows = preprocess::select_rows(&log, &spec.preprocessing)?;
    let (dataset, _) = Dataset::from_rows(
        name,
        located.format(),
        fingerprint,
        spec.preprocessing.clone(),
        &log,
        &rows,
    );
    if let Some(path) = cached_at {
        // Best effort: a read-only or full disk only costs the next load its speed.
        let _ = cache::write(&path, &dataset);
    }
    Ok(dataset)
}

/// Generates the synthetic world and builds its dataset, with the hidden truth attached.
pub fn load_synthetic(config: &SyntheticConfig, preprocessing: &Preprocessing) -> Result<Dataset> {
    let world = synthetic::generate(config)?;
    let rows = preprocess::select_rows(&world.log, preprocessing)?;
    let fingerprint = cache::fingerprint_text(&serde_json::to_string(config).unwrap_or_default());
    let (mut dataset, keys) = Dataset::from_rows(
        SYNTHETIC.to_string(),
        Format::Synthetic,
        fingerprint,
        preprocessing.clone(),
        &world.log,
        &rows,
    );
    dataset.truth = Some(world.truth_for(config, &keys, &dataset.category_names));
    Ok(dataset)
}

/// The source files of a dataset path, for messages and fingerprints.
pub fn source_files(spec: &LoadSpec) -> Result<Vec<PathBuf>> {
    Ok(locate_spec(spec)?.source_files())
}
