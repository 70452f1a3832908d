//! The language model as the app holds it once a catalogue is embedded: the encoder (for the
//! short texts people type), unit item vectors, their 2-D map and the genre names' vectors. A
//! query, a request or a persona is one short text: embedding it takes a few milliseconds, so
//! those run on the GUI thread; the catalogue is embedded by a job (`jobs::embed_catalogue`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::data::Dataset;
use crate::lm::{Embedder, Vectors, vectors::dot};
use crate::sim::Request;

/// Sharpness of a persona's taste: see [`crate::sim::taste_from_similarities`].
pub const PERSONA_TEMPERATURE: f64 = 0.03;

/// A catalogue embedded by one model.
pub struct Language {
    pub model_dir: PathBuf,
    /// The dataset (its fingerprint) the item vectors belong to.
    pub dataset_fingerprint: String,
    /// The item-text template the vectors were made from.
    pub template: String,
    pub embedder: Arc<Embedder>,
    /// Unit vectors; row `i` is item `i`, row 0 (padding) zero.
    pub items: Vectors,
    pub texts: Vec<String>,
    /// Each item's place on the map (index `i − 1` for item `i`).
    pub map: Vec<[f32; 2]>,
    /// Unit vectors of the dataset's genre (category) names, in their order.
    pub genres: Vectors,
    pub from_cache: bool,
    pub cache_path: Option<PathBuf>,
    pub seconds: f64,
    pub cache_warning: Option<String>,
}

impl Language {
    /// One text's unit sentence vector.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, String> {
        let mut vector = self.embedder.encode_one(text).map_err(|e| e.to_string())?;
        normalise(&mut vector);
        Ok(vector)
    }

    /// Cosine of a unit vector with every item (padding 0).
    pub fn similarities(&self, vector: &[f32]) -> Vec<f32> {
        let mut out: Vec<f32> = self.items.rows().map(|item| dot(vector, item)).collect();
        if let Some(padding) = out.first_mut() {
            *padding = 0.0;
        }
        out
    }

    /// The `k` items nearest to `query`, most similar first, with their cosine.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<(u32, f32)>, String> {
        let vector = self.embed(query)?;
        Ok(top(&self.similarities(&vector), k, &[]))
    }

    /// Embeds a request and each of its words (one batch), timing it.
    pub fn request(&self, text: &str, weight: f32) -> Result<(Request, f64), String> {
        let started = Instant::now();
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
            .filter(|w| w.chars().count() > 2)
            .map(str::to_lowercase)
            .collect();
        let mut texts = vec![text.to_string()];
        texts.extend(words.iter().cloned());
        let vectors = self
            .embedder
            .encode(&texts, texts.len(), &mut |_, _| true)
            .map_err(|e| e.to_string())?;
        let mut rows = vectors.rows().map(|row| {
            let mut v = row.to_vec();
            normalise(&mut v);
            self.similarities(&v)
        });
        let similarity = rows.next().unwrap_or_default();
        let words = words.into_iter().zip(rows).collect();
        let request = Request {
            text: text.to_string(),
            similarity,
            weight,
            words,
        };
        Ok((request, started.elapsed().as_secs_f64()))
    }

    /// The cosine of a description with each genre name.
    pub fn genre_similarities(&self, description: &str) -> Result<Vec<f32>, String> {
        let vector = self.embed(description)?;
        Ok(self.genres.rows().map(|g| dot(&vector, g)).collect())
    }

    /// The recency-weighted mean of a history's item vectors, ranked against the catalogue
    /// (the `lm` recommender's history mode), history items left out.
    pub fn top_for_history(&self, history: &[u32], k: usize) -> Vec<(u32, f32)> {
        let mut user = crate::recommend::recency_weighted_mean(
            &self.items,
            history,
            crate::recommend::LmConfig::default().decay,
        );
        normalise(&mut user);
        top(&self.similarities(&user), k, history)
    }

    /// Whether these vectors belong to `dataset`.
    pub fn belongs_to(&self, dataset: &Dataset) -> bool {
        self.dataset_fingerprint == dataset.fingerprint
    }
}

/// The `k` highest of `scores` (item 0 and `exclude` left out), highest first.
pub fn top(scores: &[f32], k: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
    let mut items: Vec<u32> = (1..scores.len() as u32)
        .filter(|i| !exclude.contains(i))
        .collect();
    items.sort_by(|&a, &b| {
        scores[b as usize]
            .total_cmp(&scores[a as usize])
            .then(a.cmp(&b))
    });
    items
        .into_iter()
        .take(k)
        .map(|i| (i, scores[i as usize]))
        .collect()
}

fn normalise(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::top;

    #[test]
    fn top_ranks_by_score_skips_padding_and_excluded_items() {
        let scores = [9.0, 0.1, 0.7, 0.7, 0.3];
        assert_eq!(top(&scores, 3, &[]), vec![(2, 0.7), (3, 0.7), (4, 0.3)]);
        assert_eq!(top(&scores, 2, &[2]), vec![(3, 0.7), (4, 0.3)]);
        assert_eq!(top(&scores, 10, &[]).len(), 4);
    }
}
