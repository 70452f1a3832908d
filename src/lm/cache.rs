//! Item vectors on disk, keyed by what made them: the model's content, its pooling and length
//! limit, and the texts. Reopening a dataset with the same model and template costs a file read.

use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use super::error::{LmError, Result};
use super::folder::ModelFolder;
use super::vectors::Vectors;

/// Bumped whenever the encoder's arithmetic or the file layout changes.
const VECTOR_CACHE_VERSION: u32 = 1;

/// A content hash of the model folder (config, tokenizer, weights, sentence-transformers files)
/// and of how it pools, as 32 hex digits.
pub fn model_fingerprint(folder: &ModelFolder) -> Result<String> {
    let files = folder.content_files();
    let content = crate::data::cache::fingerprint_files(&files).map_err(|e| LmError::Parse {
        path: folder.dir.clone(),
        message: e.to_string(),
    })?;
    Ok(crate::data::cache::fingerprint_text(&format!(
        "{content}\n{}\n{}\n{}",
        folder.pooling.label(),
        folder.max_seq_length,
        folder.lowercase
    )))
}

/// The cache file for `texts` embedded by the model of fingerprint `model`.
pub fn vectors_path(dir: &Path, model: &str, texts: &[String]) -> PathBuf {
    let mut hasher = Xxh3::new();
    hasher.update(format!("{VECTOR_CACHE_VERSION}\n{model}\n{}\n", texts.len()).as_bytes());
    for text in texts {
        // Length-prefixed, so no two lists of texts hash alike by moving a boundary.
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    dir.join("vectors")
        .join(format!("{:032x}.vec", hasher.digest128()))
}

/// Reads cached vectors; `None` when there are none or the file is damaged (then they are
/// computed again, never trusted).
pub fn read(path: &Path, expected_rows: usize) -> Option<Vectors> {
    let bytes = std::fs::read(path).ok()?;
    let (dim, data): (u64, Vec<f32>) = postcard::from_bytes(&bytes).ok()?;
    let vectors = Vectors::checked(usize::try_from(dim).ok()?, data)?;
    (vectors.len() == expected_rows).then_some(vectors)
}

/// Writes vectors atomically (a crash never leaves half a file under the final name).
pub fn write(path: &Path, vectors: &Vectors) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let bytes = postcard::to_stdvec(&(vectors.dim() as u64, vectors.as_slice()))
        .map_err(std::io::Error::other)?;
    crate::atomic_file::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_vectors_round_trip_and_damaged_files_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.vec");
        let vectors = Vectors::new(2, vec![1.0, 2.0, 3.0, 4.0]);
        write(&path, &vectors).unwrap();
        assert_eq!(read(&path, 2), Some(vectors));
        assert_eq!(read(&path, 3), None, "another number of items");
        // A dimension of 0, rows that do not divide, random bytes: recomputed, never a panic.
        for (dim, data) in [(0u64, vec![1.0f32]), (3, vec![1.0, 2.0])] {
            std::fs::write(&path, postcard::to_stdvec(&(dim, data)).unwrap()).unwrap();
            assert_eq!(read(&path, 1), None);
        }
        std::fs::write(&path, b"\xff\x00garbage").unwrap();
        assert_eq!(read(&path, 1), None);
        // The key follows the texts.
        let texts = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = vectors_path(dir.path(), "m", &texts(&["ab", "c"]));
        assert_ne!(a, vectors_path(dir.path(), "m", &texts(&["a", "bc"])));
        assert_ne!(a, vectors_path(dir.path(), "other", &texts(&["ab", "c"])));
        assert_eq!(a, vectors_path(dir.path(), "m", &texts(&["ab", "c"])));
    }
}
