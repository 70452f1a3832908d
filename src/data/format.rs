//! Which reader a dataset path needs: detected from file names and headers, or forced.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};
use super::movielens::looks_like_ml_latest_ratings;
use super::recbole::inter_files;
use super::tabular::{TableKind, guess_separator};

/// The dataset formats reclab reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// MovieLens 100K as distributed: `u.data`, `u.item`.
    Ml100k,
    /// MovieLens 1M: `ratings.dat`, `movies.dat`.
    Ml1m,
    /// MovieLens latest / 20M / 25M: `ratings.csv`, `movies.csv`.
    MlLatest,
    /// RecBole atomic files: `<name>.inter`, `<name>.item`.
    Recbole,
    Csv,
    Tsv,
    Parquet,
    /// The built-in synthetic world.
    Synthetic,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Ml100k,
        Format::Ml1m,
        Format::MlLatest,
        Format::Recbole,
        Format::Csv,
        Format::Tsv,
        Format::Parquet,
        Format::Synthetic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Ml100k => "ml-100k",
            Format::Ml1m => "ml-1m",
            Format::MlLatest => "ml-latest",
            Format::Recbole => "recbole",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Parquet => "parquet",
            Format::Synthetic => "synthetic",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                DataError::Config(format!(
                    "unknown format `{s}`; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// A dataset path resolved to one reader and the files it will read.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    Ml100k { dir: PathBuf },
    Ml1m { dir: PathBuf },
    MlLatest { dir: PathBuf },
    Recbole { dir: PathBuf, name: String },
    Table { path: PathBuf, kind: TableKind },
    Synthetic,
}

impl Located {
    pub fn format(&self) -> Format {
        match self {
            Located::Ml100k { .. } => Format::Ml100k,
            Located::Ml1m { .. } => Format::Ml1m,
            Located::MlLatest { .. } => Format::MlLatest,
            Located::Recbole { .. } => Format::Recbole,
            Located::Table {
                kind: TableKind::Parquet,
                ..
            } => Format::Parquet,
            Located::Table {
                kind: TableKind::Delimited(b'\t'),
                ..
            } => Format::Tsv,
            Located::Table { .. } => Format::Csv,
            Located::Synthetic => Format::Synthetic,
        }
    }

    /// The files whose content defines the dataset (for its fingerprint and the cache key).
    pub fn source_files(&self) -> Vec<PathBuf> {
        let existing = |dir: &Path, names: &[&str]| -> Vec<PathBuf> {
            names
                .iter()
                .map(|n| dir.join(n))
                .filter(|p| p.exists())
                .collect()
        };
        match self {
            Located::Ml100k { dir } => existing(dir, &["u.data", "u.item"]),
            Located::Ml1m { dir } => existing(dir, &["ratings.dat", "movies.dat"]),
            Located::MlLatest { dir } => existing(dir, &["ratings.csv", "movies.csv"]),
            Located::Recbole { dir, name } => {
                existing(dir, &[&format!("{name}.inter"), &format!("{name}.item")])
            }
            Located::Table { path, .. } => vec![path.clone()],
            Located::Synthetic => Vec::new(),
        }
    }
}

/// The word that selects the built-in synthetic world instead of a path.
pub const SYNTHETIC: &str = "synthetic";

/// Resolves a dataset path (a folder, or any file of a set) to a reader. `forced` skips
/// detection but still finds the set's files.
pub fn locate(path: &str, forced: Option<Format>) -> Result<Located> {
    if path == SYNTHETIC || forced == Some(Format::Synthetic) {
        return Ok(Located::Synthetic);
    }
    let path = PathBuf::from(path);
    if !path.exists() {
        return Err(DataError::NotFound { path });
    }
    let (dir, file_name) = if path.is_dir() {
        (path.clone(), None)
    } else {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string);
        (dir, name)
    };
    let unknown = |reason: String| DataError::UnknownFormat {
        path: path.clone(),
        reason,
    };
    if let Some(format) = forced {
        return match format {
            Format::Ml100k => Ok(Located::Ml100k { dir }),
            Format::Ml1m => Ok(Located::Ml1m { dir }),
            Format::MlLatest => Ok(Located::MlLatest { dir }),
            Format::Recbole => recbole_in(&path, &dir, file_name.as_deref())
                .ok_or_else(|| unknown("no `<name>.inter` file here".into())),
            Format::Csv | Format::Tsv | Format::Parquet => {
                if file_name.is_none() {
                    return Err(unknown(format!(
                        "format {format} needs a file, not a folder"
                    )));
                }
                let kind = match format {
                    Format::Parquet => TableKind::Parquet,
                    Format::Tsv => TableKind::Delimited(b'\t'),
                    _ => TableKind::Delimited(b','),
                };
                Ok(Located::Table { path, kind })
            }
            Format::Synthetic => Ok(Located::Synthetic),
        };
    }
    match file_name.as_deref() {
        Some("u.data" | "u.item" | "u.user" | "u.genre") => return Ok(Located::Ml100k { dir }),
        Some("ratings.dat" | "movies.dat" | "users.dat") => return Ok(Located::Ml1m { dir }),
        Some("ratings.csv" | "movies.csv" | "tags.csv" | "links.csv")
            if looks_like_ml_latest_ratings(&dir.join("ratings.csv")) =>
        {
            return Ok(Located::MlLatest { dir });
        }
        Some(_) => {
            if let Some(found) = recbole_in(&path, &dir, file_name.as_deref()) {
                return Ok(found);
            }
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let kind = match ext.as_str() {
                "parquet" | "pq" => TableKind::Parquet,
                _ => TableKind::Delimited(guess_separator(&path)),
            };
            return Ok(Located::Table { path, kind });
        }
        None => {}
    }
    // A folder: look for the marker file of each set.
    if dir.join("u.data").exists() {
        Ok(Located::Ml100k { dir })
    } else if dir.join("ratings.dat").exists() {
        Ok(Located::Ml1m { dir })
    } else if looks_like_ml_latest_ratings(&dir.join("ratings.csv")) {
        Ok(Located::MlLatest { dir })
    } else if let Some(found) = recbole_in(&path, &dir, None) {
        Ok(found)
    } else {
        Err(unknown(
            "the folder has none of u.data (MovieLens 100K), ratings.dat (1M), ratings.csv (latest) or <name>.inter (RecBole); for another log, give the file itself".into(),
        ))
    }
}

/// A RecBole set in `dir`: named by the given atomic file, or the folder's only `.inter`.
fn recbole_in(path: &Path, dir: &Path, file_name: Option<&str>) -> Option<Located> {
    if let Some(name) = file_name {
        for ext in [".inter", ".item", ".user"] {
            if let Some(stem) = name.strip_suffix(ext) {
                return Some(Located::Recbole {
                    dir: dir.to_path_buf(),
                    name: stem.to_string(),
                });
            }
        }
        return None;
    }
    let inters = inter_files(path);
    match inters.as_slice() {
        [only] => Some(Located::Recbole {
            dir: dir.to_path_buf(),
            name: only.file_stem()?.to_str()?.to_string(),
        }),
        _ => None,
    }
}
