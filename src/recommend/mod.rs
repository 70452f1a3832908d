//! The [`Recommender`] trait every model answers, and the baselines behind it.
//!
//! Scores are indexed by item index: `scores[0]` is the padding item and is never recommended.

mod bpr;
mod content;
mod itemknn;
mod lm;
mod pop;
mod rerank;
mod topk;

use serde::{Deserialize, Serialize};

pub use bpr::{Bpr, BprConfig};
pub use content::Content;
pub use itemknn::{ItemKnn, ItemKnnConfig};
pub use lm::{LmConfig, LmRecommender, UserVector, describe_items, recency_weighted_mean};
pub use pop::Pop;
pub use rerank::{
    CandidateScorer, DEFAULT_CANDIDATES, LlmScorer, RerankBase, RerankConfig, Reranker,
};
pub use topk::{ScoreError, top_k_among, top_k_excluding};

use crate::data::{Dataset, Split};

/// One request for scores: a user's history, oldest first, and the user's index in the training
/// data when the user is known (a simulated user has none).
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub user: Option<u32>,
    pub history: &'a [u32],
}

/// A model that scores every item for a history. Higher is better.
pub trait Recommender: Send + Sync {
    /// A short name for tables and error messages (`Pop`, `ItemKNN`, …).
    fn name(&self) -> &str;

    /// Number of real items; score buffers have `num_items() + 1` entries (index 0 is padding).
    fn num_items(&self) -> usize;

    /// Writes a score for every item into `scores` (length `num_items() + 1`), overwriting what
    /// is there. Must not allocate per call: evaluation calls it once per user.
    fn score(&self, query: Query<'_>, scores: &mut [f32]);

    /// Scores several queries at once into `scores` (row-major, `num_items() + 1` per query).
    /// Models that gain from batching (a Transformer on a GPU) override it.
    fn score_batch(&self, queries: &[Query<'_>], scores: &mut [f32]) {
        let width = self.num_items() + 1;
        for (query, row) in queries.iter().zip(scores.chunks_exact_mut(width)) {
            self.score(*query, row);
        }
    }

    /// As [`Self::score_batch`] when the protocol ranks each query's targets among given
    /// `candidates` only (a sampled protocol); only their scores are read. Models that treat
    /// candidates apart (a re-ranker) override it.
    fn score_batch_among(&self, queries: &[Query<'_>], candidates: &[&[u32]], scores: &mut [f32]) {
        let _ = candidates;
        self.score_batch(queries, scores);
    }

    /// Users to score per call at most, for models slow per user (an LLM) whose progress
    /// should show often; `None` leaves it to the evaluator.
    fn batch_limit(&self) -> Option<usize> {
        None
    }

    /// The first failure of a model whose scoring can fail (an LLM ran out of context): the
    /// evaluator stops with it rather than report scores it did not compute.
    fn failure(&self) -> Option<String> {
        None
    }

    /// How much each of the latest history items weighed in the model's last decision (oldest
    /// first; one weight per item of the window the model reads), for "because you watched …"
    /// explanations. Models without attention answer `None`.
    fn attention(&self, _history: &[u32]) -> Option<Vec<f32>> {
        None
    }

    /// Whether the evaluator may call [`Self::score_batch`] from several threads at once.
    /// Models that parallelise inside one call (a burn backend) answer `false`.
    fn scores_in_parallel(&self) -> bool {
        true
    }

    /// The `k` best items for a history, the history itself excluded, best first; ties go to the
    /// lower item index.
    fn top_k(&self, query: Query<'_>, k: usize) -> Result<Vec<u32>, ScoreError> {
        let mut scores = vec![0.0; self.num_items() + 1];
        self.score(query, &mut scores);
        top_k_excluding(&mut scores, query.history, &[], k)
            .map_err(|e| e.for_model(self.name(), query.user))
    }
}

/// The `n` history positions the model attended to most for its next recommendation, with
/// their weights, heaviest first; empty for models without attention.
pub fn most_attended(model: &dyn Recommender, history: &[u32], n: usize) -> Vec<(usize, f32)> {
    let Some(weights) = model.attention(history) else {
        return Vec::new();
    };
    // The weights cover the latest `weights.len()` items of the history.
    let offset = history.len() - weights.len().min(history.len());
    let mut ranked: Vec<(usize, f32)> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| (offset + i, w))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.truncate(n);
    ranked
}

/// The baselines, by name, with their settings; what `reclab eval --model` builds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum BaselineConfig {
    Pop,
    #[serde(rename = "itemknn")]
    ItemKnn(ItemKnnConfig),
    Bpr(BprConfig),
    Content,
    /// Sentence vectors of a pretrained language model (see [`LmRecommender`]).
    Lm(LmConfig),
    /// A base model's top candidates re-ordered by a generative model (see [`Reranker`]).
    Rerank(RerankConfig),
}

/// Opens a saved run's model (the training module knows how); what a re-ranker over a run needs.
pub type OpenRun<'a> = dyn Fn(&std::path::Path) -> Result<Box<dyn Recommender>, String> + 'a;

/// Why a baseline could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("the language model: {0}")]
    Lm(#[from] crate::lm::LmError),
    #[error("the base run: {0}")]
    Run(String),
}

impl BaselineConfig {
    /// The model's display name.
    pub fn name(&self) -> &'static str {
        match self {
            BaselineConfig::Pop => "Pop",
            BaselineConfig::ItemKnn(_) => "ItemKNN",
            BaselineConfig::Bpr(_) => "BPR-MF",
            BaselineConfig::Content => "Content",
            BaselineConfig::Lm(config) => match config.user_vector {
                UserVector::Profile => "LM (profile)",
                UserVector::LlmProfile => "LM (llm-profile)",
                UserVector::History => "LM (history)",
            },
            BaselineConfig::Rerank(_) => "LLM rerank",
        }
    }

    /// Fits the baseline on the training part of `split`. The `lm` model embeds the catalogue
    /// (its texts, not the interactions), reading and writing the vector cache.
    pub fn fit(&self, dataset: &Dataset, split: &Split) -> Result<Box<dyn Recommender>, FitError> {
        self.fit_with(dataset, split, &|path| {
            Err(format!(
                "{}: a re-ranker over a saved run needs the run opened by its caller",
                path.display()
            ))
        })
    }

    /// As [`Self::fit`], opening a re-ranker's base run with `open_run`.
    pub fn fit_with(
        &self,
        dataset: &Dataset,
        split: &Split,
        open_run: &OpenRun<'_>,
    ) -> Result<Box<dyn Recommender>, FitError> {
        Ok(match self {
            BaselineConfig::Pop => Box::new(Pop::fit(dataset, split)),
            BaselineConfig::ItemKnn(config) => Box::new(ItemKnn::fit(dataset, split, config)),
            BaselineConfig::Bpr(config) => Box::new(Bpr::fit(dataset, split, config)),
            BaselineConfig::Content => Box::new(Content::from_categories(dataset)),
            BaselineConfig::Lm(config) => {
                let cache_dir = match &config.cache_dir {
                    Some(chosen) => chosen.clone(),
                    None => crate::data::cache::default_cache_dir(),
                };
                Box::new(LmRecommender::fit(config, dataset, cache_dir.as_deref())?)
            }
            BaselineConfig::Rerank(config) => {
                let base = match &config.base {
                    RerankBase::Baseline(base) => base.fit_with(dataset, split, open_run)?,
                    RerankBase::Run(path) => open_run(path).map_err(FitError::Run)?,
                };
                let scorer = LlmScorer::open(config, std::sync::Arc::new(dataset.clone()))?;
                Box::new(Reranker::new(base, Box::new(scorer), config.candidates))
            }
        })
    }
}

/// Training sequences of every user, as the baselines see them.
pub(crate) fn training_sequences<'a>(dataset: &'a Dataset, split: &Split) -> Vec<&'a [u32]> {
    (0..dataset.num_users())
        .map(|u| split.train(dataset, u))
        .collect()
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with a zeroed per-thread buffer of `len` floats, so that scoring allocates only the
/// first time a thread needs a buffer that large.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            buffer.clear();
            buffer.resize(len, 0.0);
            f(&mut buffer)
        }
        // Re-entered from inside `f` (a model scoring through another): use a fresh buffer.
        Err(_) => f(&mut vec![0.0; len]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attends (when given weights) to the latest items of any history with fixed weights.
    struct Attends(Option<Vec<f32>>);

    impl Recommender for Attends {
        fn name(&self) -> &str {
            "attends"
        }
        fn num_items(&self) -> usize {
            10
        }
        fn score(&self, _query: Query<'_>, scores: &mut [f32]) {
            scores.fill(0.0);
        }
        fn attention(&self, _history: &[u32]) -> Option<Vec<f32>> {
            self.0.clone()
        }
    }

    #[test]
    fn most_attended_names_history_positions_heaviest_first() {
        // Five items; the weights cover positions 2, 3 and 4.
        let history = [7, 1, 4, 9, 2];
        let model = Attends(Some(vec![0.2, 0.5, 0.3]));
        assert_eq!(most_attended(&model, &history, 2), vec![(3, 0.5), (4, 0.3)]);
        assert_eq!(most_attended(&model, &history, 10).len(), 3);
        // Models without attention explain nothing.
        assert!(most_attended(&Attends(None), &history, 3).is_empty());
    }
}
