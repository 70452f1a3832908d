//! The preprocessed-dataset cache: a binary copy of the `Dataset`, keyed by a hash of the
//! source files' content and of everything that shaped it (format, column mapping,
//! preprocessing), so reopening a large log skips parsing and preprocessing.

use std::io::Read;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use super::dataset::Dataset;
use super::error::{DataError, Result};

/// Bumped whenever the cached layout or the meaning of preprocessing changes.
const CACHE_VERSION: u32 = 2;

/// The default cache folder: `$RECLAB_CACHE_DIR`, else `$XDG_CACHE_HOME/reclab`, else
/// `~/.cache/reclab`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RECLAB_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("reclab"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("reclab"))
}

/// A content hash of files, in order, as 32 hex digits.
pub fn fingerprint_files(paths: &[PathBuf]) -> Result<String> {
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    for path in paths {
        let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        loop {
            let n = file.read(&mut buffer).map_err(|e| DataError::io(path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        // Separate files so that moving bytes from one file to the next changes the hash.
        hasher.update(&[0xff]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

/// A hash of text, as 32 hex digits.
pub fn fingerprint_text(text: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()))
}

/// Where the cached copy for a source fingerprint and a description of the processing lives.
pub fn cache_path(dir: &Path, name: &str, fingerprint: &str, processing: &str) -> PathBuf {
    let key = fingerprint_text(&format!("{CACHE_VERSION}\n{fingerprint}\n{processing}"));
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}-{}.dataset", &key[..16]))
}

/// Reads a cached dataset; `None` if there is none or it cannot be decoded (an old or damaged
/// cache is rebuilt, never trusted).
pub fn read(path: &Path) -> Option<Dataset> {
    let bytes = std::fs::read(path).ok()?;
    postcard::from_bytes(&bytes).ok()
}

/// Writes a dataset to the cache atomically (a temporary file renamed into place), so a crash
/// never leaves a half-written cache.
pub fn write(path: &Path, dataset: &Dataset) -> std::io::Result<()> {
    let bytes = postcard::to_stdvec(dataset).map_err(std::io::Error::other)?;
    crate::atomic_file::write_atomic(path, &bytes)
}
