//! The language model as the app holds it once a catalogue is embedded: the encoder (for the
//! short texts people type), unit item vectors, their 2-D map and the genre names' vectors. A
//! query, a request or a persona is one short text: embedding it takes a few milliseconds, so
//! those run on the GUI thread; the catalogue is embedded by a task (`language::embed`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::data::Dataset;
use crate::lm::{self, Embedder, Progress, Template, Vectors, principal_map, vectors::dot};
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
    /// Each genre's (category's) unit centroid of its items' vectors, in the dataset's order.
    pub genres: Vectors,
    pub from_cache: bool,
    pub cache_path: Option<PathBuf>,
    pub seconds: f64,
    pub cache_warning: Option<String>,
    /// Threads of its own for the short texts people type: the global pool may be busy with a
    /// training (at low priority), and a query must not wait behind it.
    query_pool: std::sync::OnceLock<Option<rayon::ThreadPool>>,
}

impl Language {
    /// Opens a model folder and embeds `dataset`'s item texts (through the vector cache; the
    /// template is the dataset's default when `None`), then maps them to 2-D and finds each
    /// genre's centroid.
    pub fn build(
        dataset: &Dataset,
        model_dir: &Path,
        template: Option<&str>,
        progress: Progress<'_>,
    ) -> Result<Language, String> {
        let template = Template::for_dataset(dataset, template)?;
        let embedder = Embedder::open(model_dir, crate::device::DeviceChoice::Auto)
            .map_err(|e| e.to_string())?;
        let cache_dir = crate::data::cache::default_cache_dir();
        let embedded = lm::embed_items(
            &embedder,
            dataset,
            &template,
            cache_dir.as_deref(),
            lm::DEFAULT_BATCH,
            progress,
        )
        .map_err(|e| e.to_string())?;
        let items = embedded.vectors.normalized();
        let map = principal_map(&items, 1..items.len());
        let genres = genre_centroids(dataset, &items);
        Ok(Language {
            model_dir: model_dir.to_path_buf(),
            dataset_fingerprint: dataset.fingerprint.clone(),
            template: template.source().to_string(),
            embedder: Arc::new(embedder),
            items,
            texts: embedded.texts,
            map,
            genres,
            from_cache: embedded.from_cache,
            cache_path: embedded.cache_path,
            seconds: embedded.seconds,
            cache_warning: embedded.cache_warning,
            query_pool: std::sync::OnceLock::new(),
        })
    }

    /// Runs `work` on the query threads (made on first use by the calling thread, so they have
    /// its priority), or here when they cannot be made.
    fn on_query_threads<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        let pool = self.query_pool.get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .thread_name(|i| format!("reclab-query-{i}"))
                .build()
                .ok()
        });
        match pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }

    /// One text's unit sentence vector.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, String> {
        let mut vector = self
            .on_query_threads(|| self.embedder.encode_one(text))
            .map_err(|e| e.to_string())?;
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
        self.request_described(text, text, weight)
    }

    /// As [`Self::request`], with the items compared to `description` (what the generative
    /// model wrote of an item that answers `text`) instead of `text`; the words stay `text`'s.
    pub fn request_described(
        &self,
        text: &str,
        description: &str,
        weight: f32,
    ) -> Result<(Request, f64), String> {
        let started = Instant::now();
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
            .filter(|w| w.chars().count() > 2)
            .map(str::to_lowercase)
            .collect();
        let mut texts = vec![description.to_string()];
        texts.extend(words.iter().cloned());
        // Two batches, so that the CPU encoder runs one per core side by side.
        let vectors = self
            .on_query_threads(|| {
                self.embedder
                    .encode(&texts, texts.len().div_ceil(2), &mut |_, _| true)
            })
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

    /// The cosine of a description with each genre's centroid.
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

/// Each genre's (category's) unit centroid of its items' unit vectors: what the genre means in
/// this catalogue's own texts. A genre's bare name ("Horror") is a poor sentence to compare a
/// description with; the centroid of every horror film's text is a good one.
fn genre_centroids(dataset: &Dataset, items: &Vectors) -> Vectors {
    let dim = items.dim();
    let mut sums = vec![0.0f32; dataset.category_names.len() * dim];
    for (i, item) in dataset.items.iter().enumerate().skip(1) {
        for &g in &item.categories {
            let sum = &mut sums[g as usize * dim..(g as usize + 1) * dim];
            for (s, x) in sum.iter_mut().zip(items.row(i)) {
                *s += x;
            }
        }
    }
    Vectors::new(dim, sums).normalized()
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
