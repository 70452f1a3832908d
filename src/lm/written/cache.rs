//! Texts a generative model wrote, on disk: one file per model (keyed by the model's content),
//! each entry keyed by the prompt and the sampling that produced it. Entries are checked one by
//! one as they are read: a damaged entry is dropped (and written again when asked for), a
//! damaged file is an empty cache, never an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Bumped whenever what decides a text changes (prompt building, the decoder's arithmetic).
const WRITTEN_CACHE_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    text: String,
    /// xxh3 of `text`, so a truncated or hand-edited entry is noticed.
    check: String,
}

fn check_of(text: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// The texts one model wrote, and where they are kept (`None`: in memory only).
#[derive(Debug, Default)]
pub struct TextCache {
    path: Option<PathBuf>,
    entries: BTreeMap<String, Entry>,
    /// Entries dropped as damaged when the file was read.
    pub damaged: usize,
}

impl TextCache {
    /// The cache of the model with content fingerprint `model` under `dir`.
    pub fn open(dir: Option<&Path>, model: &str) -> TextCache {
        let Some(dir) = dir else {
            return TextCache::default();
        };
        let path = dir.join("written").join(format!("{model}.json"));
        let mut cache = TextCache {
            path: Some(path.clone()),
            ..TextCache::default()
        };
        let Ok(bytes) = std::fs::read(&path) else {
            return cache;
        };
        let Ok(raw) = serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(&bytes) else {
            // Not even a map: start again (the file is replaced at the next save).
            cache.damaged = 1;
            return cache;
        };
        for (key, value) in raw {
            match serde_json::from_value::<Entry>(value) {
                Ok(entry) if entry.check == check_of(&entry.text) => {
                    cache.entries.insert(key, entry);
                }
                _ => cache.damaged += 1,
            }
        }
        cache
    }

    /// The key of a prompt written with `sampling` (a description of the sampling settings).
    pub fn key(prompt: &str, sampling: &str) -> String {
        crate::data::cache::fingerprint_text(&format!(
            "{WRITTEN_CACHE_VERSION}\n{sampling}\n{prompt}"
        ))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.text.as_str())
    }

    pub fn insert(&mut self, key: String, text: String) {
        let check = check_of(&text);
        self.entries.insert(key, Entry { text, check });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes the cache atomically: a crash or a cancel between saves leaves the last saved
    /// file whole. Several writers share one file (the app's profile and explanation tasks,
    /// parallel runs), so the save holds a lock and first takes in what others saved since
    /// this cache was read; nobody's texts are lost.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _lock = crate::atomic_file::lock_exclusive(&path.with_extension("lock"))?;
        let on_disk = TextCache::open(path.parent().and_then(Path::parent), &model_of(&path));
        for (key, entry) in on_disk.entries {
            self.entries.entry(key).or_insert(entry);
        }
        let bytes = serde_json::to_vec(&self.entries).map_err(std::io::Error::other)?;
        crate::atomic_file::write_atomic(&path, &bytes)
    }
}

/// The model fingerprint a cache file is named by.
fn model_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_a_damaged_entry_is_dropped_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = TextCache::open(Some(dir.path()), "model-a");
        assert!(cache.is_empty());
        let (k1, k2) = (
            TextCache::key("p1", "greedy"),
            TextCache::key("p2", "greedy"),
        );
        cache.insert(k1.clone(), "likes space operas".into());
        cache.insert(k2.clone(), "likes westerns".into());
        cache.save().unwrap();

        let reopened = TextCache::open(Some(dir.path()), "model-a");
        assert_eq!(reopened.get(&k1), Some("likes space operas"));
        assert_eq!(reopened.len(), 2);
        assert_eq!(reopened.damaged, 0);
        // Another model has its own file.
        assert!(TextCache::open(Some(dir.path()), "model-b").is_empty());

        // Edit one entry's text by hand: its check no longer matches, so only it is dropped.
        let path = reopened.path().unwrap().to_path_buf();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("westerns", "westerms")).unwrap();
        let damaged = TextCache::open(Some(dir.path()), "model-a");
        assert_eq!(damaged.get(&k1), Some("likes space operas"));
        assert_eq!(damaged.get(&k2), None);
        assert_eq!(damaged.damaged, 1);

        // A file that is not JSON at all is an empty cache.
        std::fs::write(&path, b"\x00garbage").unwrap();
        let garbage = TextCache::open(Some(dir.path()), "model-a");
        assert!(garbage.is_empty());
        assert_eq!(garbage.damaged, 1);
    }

    #[test]
    fn two_caches_saving_to_one_file_keep_both_texts() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = TextCache::open(Some(dir.path()), "m");
        let mut second = TextCache::open(Some(dir.path()), "m");
        first.insert("a".into(), "profile".into());
        first.save().unwrap();
        // `second` was read before `first` saved: its save must not drop `first`'s text.
        second.insert("b".into(), "explanation".into());
        second.save().unwrap();
        let reopened = TextCache::open(Some(dir.path()), "m");
        assert_eq!(reopened.get("a"), Some("profile"));
        assert_eq!(reopened.get("b"), Some("explanation"));
    }

    #[test]
    fn the_key_follows_prompt_and_sampling() {
        let a = TextCache::key("prompt", "greedy 64");
        assert_eq!(a, TextCache::key("prompt", "greedy 64"));
        assert_ne!(a, TextCache::key("prompt.", "greedy 64"));
        assert_ne!(a, TextCache::key("prompt", "greedy 65"));
    }
}
