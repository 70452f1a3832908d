//! Texts the generative model writes for the recommender — user profiles and item descriptions
//! — generated in
//! batches bounded by memory, with progress and cancellation, and cached on disk keyed by what
//! decides them: the model's content, the sampling and the whole prompt. Decoding is greedy, so
//! a cached text is the text the model would write again.

pub mod cache;
pub mod descriptions;
pub mod explanations;
pub mod hypothetical;
pub mod profiles;

use std::path::Path;
use std::time::Instant;

pub use cache::TextCache;

use super::decoder::{Finish, Llm, Message, ModelFiles, Output, Sampling};
use super::{LmError, Progress, Result};

/// Rows of one generation batch at most: beyond this the CPU gains little.
const MAX_BATCH: usize = 16;
/// Bytes of key/value cache and attention scores a batch may take.
const BATCH_MEMORY: usize = 1 << 30;
/// Hugging Face's repetition penalty: greedy decoding of a small model otherwise loops on one
/// sentence ("They seem to enjoy … They seem to enjoy …"). Deterministic, so cached texts stay
/// the texts the model writes again.
const REPETITION_PENALTY: f32 = 1.05;

/// What a call to [`Writer::write`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    /// One text per prompt, in order.
    pub texts: Vec<String>,
    /// How many were written now, and how many came from the cache.
    pub generated: usize,
    pub from_cache: usize,
    /// Seconds spent generating, and the tokens written in them.
    pub secs: f64,
    pub tokens: usize,
}

/// A generative model set up to write cached texts.
pub struct Writer<'a> {
    llm: &'a Llm,
    sampling: Sampling,
    fingerprint: String,
}

/// A content hash of a model: its GGUF file, or a folder's JSON and safetensors files.
pub fn model_fingerprint(files: &ModelFiles) -> Result<String> {
    let path = &files.path;
    let mut paths = Vec::new();
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| LmError::Io {
            path: path.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let file = entry.path();
            let keep = file
                .extension()
                .is_some_and(|e| e == "json" || e == "safetensors");
            if keep && file.is_file() {
                paths.push(file);
            }
        }
        paths.sort();
    } else {
        paths.push(path.clone());
    }
    crate::data::cache::fingerprint_files(&paths).map_err(|e| LmError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })
}

impl<'a> Writer<'a> {
    /// Greedy decoding of at most `max_new_tokens` per text.
    pub fn new(llm: &'a Llm, max_new_tokens: usize) -> Result<Writer<'a>> {
        let fingerprint = model_fingerprint(&llm.files)?;
        Ok(Writer::with_fingerprint(llm, max_new_tokens, fingerprint))
    }

    /// As [`Writer::new`], with the model's fingerprint known (hashing a model file on every
    /// call would cost more than a cached text).
    pub fn with_fingerprint(
        llm: &'a Llm,
        max_new_tokens: usize,
        fingerprint: String,
    ) -> Writer<'a> {
        Writer {
            llm,
            sampling: Sampling {
                max_new_tokens,
                temperature: 0.0,
                repetition_penalty: REPETITION_PENALTY,
                ..Sampling::default()
            },
            fingerprint,
        }
    }

    /// The model's content fingerprint (the cache file's name).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn llm(&self) -> &Llm {
        self.llm
    }

    /// The cache of this model's texts under `dir` (in memory only when `None`).
    pub fn open_cache(&self, dir: Option<&Path>) -> TextCache {
        TextCache::open(dir, &self.fingerprint)
    }

    /// The prompt text for one user message: the model's chat template, or the message itself
    /// when the model has none.
    pub fn chat(&self, user: &str) -> Result<String> {
        match &self.llm.files.chat {
            Some(_) => self.llm.chat_prompt(&[Message::new("user", user)]),
            None => Ok(user.to_string()),
        }
    }

    /// Tokens of a text, for prompt budgets.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.llm.tokenizer().encode(text)?.len())
    }

    /// Prompt tokens the model can take with room left for the text it writes.
    pub fn context_room(&self) -> usize {
        self.llm
            .config()
            .context_length
            .saturating_sub(self.sampling.max_new_tokens)
    }

    fn sampling_key(&self) -> String {
        format!(
            "greedy, at most {} tokens, repetition penalty {}",
            self.sampling.max_new_tokens, self.sampling.repetition_penalty
        )
    }

    /// Rows per batch for prompts of up to `prompt_tokens`: as many as fit [`BATCH_MEMORY`].
    fn batch_rows(&self, prompt_tokens: usize) -> usize {
        let c = self.llm.config();
        let length = prompt_tokens + self.sampling.max_new_tokens;
        let kv = c.layers * 2 * c.kv_heads * c.head_dim * 4 * length;
        let scores = c.heads * length * length * 4;
        (BATCH_MEMORY / (kv + scores).max(1)).clamp(1, MAX_BATCH)
    }

    /// One text, streamed: from `cache` at once when there (`true`), else written now with
    /// each piece passed to `on_text` as it forms (returning `false` cancels; nothing is
    /// cached then) and cached.
    pub fn write_streaming(
        &self,
        prompt: &str,
        cache: &mut TextCache,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(String, bool)> {
        let key = TextCache::key(prompt, &self.sampling_key());
        if let Some(text) = cache.get(&key) {
            return Ok((text.to_string(), true));
        }
        let ids = self.llm.tokenizer().encode(prompt)?;
        let (outputs, _) = self
            .llm
            .generate(&[ids], &self.sampling, &mut |_, piece| on_text(piece))?;
        let Some(output) = outputs.into_iter().next() else {
            return Err(LmError::Cancelled);
        };
        if output.finish == Finish::Cancelled {
            return Err(LmError::Cancelled);
        }
        let text = finished_text(&output).to_string();
        cache.insert(key, text.clone());
        cache.save().map_err(|source| LmError::Io {
            path: cache.path().map(Path::to_path_buf).unwrap_or_default(),
            source,
        })?;
        Ok((text, false))
    }

    /// The text for each prompt: from `cache` when there, else written now in batches (the
    /// cache is saved after each, so a cancel keeps what was written). `progress(done, total)`
    /// counts texts; returning `false` cancels.
    pub fn write(
        &self,
        prompts: &[String],
        cache: &mut TextCache,
        progress: Progress<'_>,
    ) -> Result<Written> {
        let sampling_key = self.sampling_key();
        let keys: Vec<String> = prompts
            .iter()
            .map(|p| TextCache::key(p, &sampling_key))
            .collect();
        let mut missing: Vec<usize> = (0..prompts.len())
            .filter(|&i| cache.get(&keys[i]).is_none())
            .collect();
        // The same prompt twice is written once.
        let mut seen = std::collections::HashSet::new();
        missing.retain(|&i| seen.insert(keys[i].clone()));
        let total = prompts.len();
        let mut done = total - missing.len();
        let mut written = Written::default();
        if !progress(done, total) {
            return Err(LmError::Cancelled);
        }
        let ids: Vec<Vec<u32>> = missing
            .iter()
            .map(|&i| self.llm.tokenizer().encode(&prompts[i]))
            .collect::<Result<_>>()?;
        let longest = ids.iter().map(Vec::len).max().unwrap_or(0);
        let rows = self.batch_rows(longest);
        let started = Instant::now();
        for (batch, batch_ids) in missing.chunks(rows).zip(ids.chunks(rows)) {
            let (outputs, timing) = self
                .llm
                .generate(batch_ids, &self.sampling, &mut |_, _| true)?;
            written.tokens += timing.decoded_tokens;
            for (&i, output) in batch.iter().zip(outputs) {
                cache.insert(keys[i].clone(), finished_text(&output).to_string());
            }
            written.generated += batch.len();
            done += batch.len();
            cache.save().map_err(|source| LmError::Io {
                path: cache.path().map(Path::to_path_buf).unwrap_or_default(),
                source,
            })?;
            if !progress(done, total) {
                return Err(LmError::Cancelled);
            }
        }
        written.secs = started.elapsed().as_secs_f64();
        written.from_cache = total - written.generated;
        written.texts = keys
            .iter()
            .map(|k| cache.get(k).unwrap_or_default().to_string())
            .collect();
        Ok(written)
    }
}

/// The text kept of an output: trimmed, and without a sentence the token limit broke off.
fn finished_text(output: &Output) -> &str {
    match output.finish {
        Finish::Length => whole_sentences(&output.text),
        _ => output.text.trim(),
    }
}

/// A text cut at its token limit, without the sentence the limit broke off (kept whole when it
/// holds no full sentence).
pub fn whole_sentences(text: &str) -> &str {
    let text = text.trim();
    match text.rfind(['.', '!', '?']) {
        Some(end) if end > 0 => &text[..=end],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_text_keeps_its_whole_sentences() {
        assert_eq!(
            whole_sentences(" Likes westerns. Avoids horror! Also enjoys the late"),
            "Likes westerns. Avoids horror!"
        );
        assert_eq!(
            whole_sentences("No full sentence here"),
            "No full sentence here"
        );
        assert_eq!(whole_sentences("Is it? "), "Is it?");
    }
}
