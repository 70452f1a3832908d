//! `lm`: recommend by meaning. Every item is its text's sentence vector; a user is the vector
//! of a profile text made from their history by a template, the vector of a profile a
//! generative model wrote from it (`llm-profile`), or the recency-weighted mean of their
//! history's item vectors; an item's score is the cosine between the two.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{Query, Recommender};
use crate::data::Dataset;
use crate::device::DeviceChoice;
use crate::lm::decoder::{Dtype, Llm};
use crate::lm::written::descriptions::{
    DEFAULT_DESCRIPTION_PROMPT, DEFAULT_DESCRIPTION_TOKENS, wants_descriptions, with_descriptions,
    write_descriptions,
};
use crate::lm::written::profiles::{DEFAULT_HISTORY_TOKENS, DEFAULT_PROFILE_TOKENS, ProfilePrompt};
use crate::lm::written::{TextCache, Writer};
use crate::lm::{self, Embedder, LmError, Template, Vectors, profile_text};

/// Where the user's vector comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UserVector {
    /// The embedded profile text (recent titles, favourite categories).
    Profile,
    /// The recency-weighted mean of the history's item vectors.
    #[default]
    History,
    /// The embedded profile a generative model wrote from the history (`LmConfig::llm`).
    #[serde(rename = "llm-profile")]
    LlmProfile,
}

impl UserVector {
    pub fn label(self) -> &'static str {
        match self {
            UserVector::Profile => "profile",
            UserVector::History => "history",
            UserVector::LlmProfile => "llm-profile",
        }
    }
}

impl std::str::FromStr for UserVector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "profile" => Ok(UserVector::Profile),
            "history" => Ok(UserVector::History),
            "llm-profile" => Ok(UserVector::LlmProfile),
            other => Err(format!(
                "unknown user vector `{other}`; expected history, profile or llm-profile"
            )),
        }
    }
}

/// The `lm` recommender's settings, as `reclab eval --model lm` and run files record them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LmConfig {
    /// The Hugging Face model folder.
    pub lm: PathBuf,
    pub user_vector: UserVector,
    /// The item-text template; the dataset's default when absent.
    pub template: Option<String>,
    /// Weight of an item `a` steps before the latest is `decay^a` (history vectors only).
    pub decay: f32,
    pub device: DeviceChoice,
    /// The generative model (a GGUF file or a Hugging Face folder) that writes profiles for
    /// `llm-profile`.
    pub llm: Option<PathBuf>,
    /// The profile prompt (`{history}` marks the history); the default when absent.
    pub profile_prompt: Option<String>,
    /// Where item vectors are cached: the dataset cache's folder by default (`--cache-dir`),
    /// `None` for no cache (`--no-cache`). Not part of the model: never written to a run file.
    #[serde(skip)]
    pub cache_dir: Option<Option<PathBuf>>,
}

impl Default for LmConfig {
    fn default() -> Self {
        LmConfig {
            lm: PathBuf::new(),
            user_vector: UserVector::History,
            template: None,
            decay: 0.9,
            device: DeviceChoice::Auto,
            llm: None,
            profile_prompt: None,
            cache_dir: None,
        }
    }
}

/// `Σ decay^a · item vector` over a history, `a` steps before its latest item (not
/// normalised); items whose weight fell below 1e-6 are skipped.
pub fn recency_weighted_mean(items: &Vectors, history: &[u32], decay: f32) -> Vec<f32> {
    let mut user = vec![0.0f32; items.dim()];
    let mut weight = 1.0f32;
    for &item in history.iter().rev() {
        for (u, x) in user.iter_mut().zip(items.row(item as usize)) {
            *u += weight * x;
        }
        weight *= decay;
        if weight < 1e-6 {
            break;
        }
    }
    user
}

/// Items and users as sentence vectors.
pub struct LmRecommender {
    name: String,
    /// Unit item vectors; row 0 (padding) is zero.
    items: Vectors,
    user_vector: UserVector,
    decay: f32,
    /// For profile texts: the encoder and the dataset the profiles are written from.
    profile: Option<(Arc<Embedder>, Arc<Dataset>)>,
    /// For `llm-profile`: the generative model that writes the profiles.
    writer: Option<ProfileWriter>,
}

/// `dataset` with the description the generative model (`config.llm`) writes of each item, as
/// the `llm_description` field (see [`lm::written::descriptions`]).
pub fn describe_items(
    config: &LmConfig,
    dataset: &Dataset,
    cache_dir: Option<&Path>,
    progress: lm::Progress<'_>,
) -> Result<Dataset, LmError> {
    let Some(path) = &config.llm else {
        return Err(LmError::Template(
            "the item-text template uses {llm_description}: give the generative model that \
             writes it (--llm PATH: a GGUF file or a Hugging Face folder)"
                .into(),
        ));
    };
    let llm = Llm::open(path, Dtype::Auto, config.device)?;
    let writer = Writer::new(&llm, DEFAULT_DESCRIPTION_TOKENS)?;
    let mut cache = writer.open_cache(cache_dir);
    let written = write_descriptions(
        &writer,
        dataset,
        DEFAULT_DESCRIPTION_PROMPT,
        &mut cache,
        progress,
    )?;
    Ok(with_descriptions(dataset, &written.texts))
}

/// A generative model writing profiles through its cache.
struct ProfileWriter {
    llm: Llm,
    fingerprint: String,
    prompt: ProfilePrompt,
    cache: Mutex<TextCache>,
}

impl ProfileWriter {
    fn open(config: &LmConfig, cache_dir: Option<&Path>) -> Result<ProfileWriter, LmError> {
        let Some(path) = &config.llm else {
            return Err(LmError::Template(
                "the llm-profile user vector needs a generative model (--llm PATH: a GGUF file \
                 or a Hugging Face folder)"
                    .into(),
            ));
        };
        let llm = Llm::open(path, Dtype::Auto, config.device)?;
        let prompt = ProfilePrompt::new(config.profile_prompt.as_deref(), DEFAULT_HISTORY_TOKENS)
            .map_err(LmError::Template)?;
        let writer = Writer::new(&llm, DEFAULT_PROFILE_TOKENS)?;
        let (cache, fingerprint) = (
            writer.open_cache(cache_dir),
            writer.fingerprint().to_string(),
        );
        Ok(ProfileWriter {
            llm,
            fingerprint,
            prompt,
            cache: Mutex::new(cache),
        })
    }

    /// The written profile of each history (cached ones read, the rest written now).
    fn profiles(&self, dataset: &Dataset, histories: &[&[u32]]) -> Result<Vec<String>, LmError> {
        let writer =
            Writer::with_fingerprint(&self.llm, DEFAULT_PROFILE_TOKENS, self.fingerprint.clone());
        // A poisoned lock only means another scoring call panicked mid-write; the cache's
        // entries are each whole (inserted after their text was written), so go on with it.
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let written = lm::written::profiles::write_profiles(
            &writer,
            &self.prompt,
            dataset,
            histories,
            &mut cache,
            &mut |_, _| true,
        )?;
        Ok(written.texts)
    }
}

impl LmRecommender {
    /// Embeds the catalogue (through the vector cache under `cache_dir`) and builds the model.
    /// A template with `{llm_description}` has the generative model (`config.llm`) describe
    /// every item first (through its text cache).
    pub fn fit(
        config: &LmConfig,
        dataset: &Dataset,
        cache_dir: Option<&std::path::Path>,
    ) -> Result<LmRecommender, LmError> {
        let augmented;
        let dataset = match &config.template {
            Some(template) if wants_descriptions(template) => {
                augmented = describe_items(config, dataset, cache_dir, &mut |_, _| true)?;
                &augmented
            }
            _ => dataset,
        };
        let embedder = Arc::new(Embedder::open(&config.lm, config.device)?);
        let template = Template::for_dataset(dataset, config.template.as_deref())
            .map_err(LmError::Template)?;
        let items = lm::embed_items(
            &embedder,
            dataset,
            &template,
            cache_dir,
            lm::DEFAULT_BATCH,
            &mut |_, _| true,
        )?;
        let writer = match config.user_vector {
            UserVector::LlmProfile => Some(ProfileWriter::open(config, cache_dir)?),
            _ => None,
        };
        let mut model = LmRecommender::from_vectors(
            items.vectors,
            config.user_vector,
            config.decay,
            (config.user_vector != UserVector::History)
                .then(|| (embedder, Arc::new(dataset.clone()))),
        );
        model.writer = writer;
        Ok(model)
    }

    /// A model over given item vectors (row 0 padding); `profile` is needed for profile texts.
    pub fn from_vectors(
        items: Vectors,
        user_vector: UserVector,
        decay: f32,
        profile: Option<(Arc<Embedder>, Arc<Dataset>)>,
    ) -> LmRecommender {
        LmRecommender {
            name: format!("LM ({})", user_vector.label()),
            items: items.normalized(),
            user_vector,
            decay,
            profile,
            writer: None,
        }
    }

    /// The recency-weighted mean of the history's item vectors (not normalised: cosine
    /// ranking does not need it).
    pub fn history_vector(&self, history: &[u32]) -> Vec<f32> {
        recency_weighted_mean(&self.items, history, self.decay)
    }

    /// Cosine of `user` with every item into `scores` (items are unit vectors).
    fn score_vector(&self, user: &[f32], scores: &mut [f32]) {
        let norm = lm::vectors::dot(user, user).sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        for (score, item) in scores.iter_mut().zip(self.items.rows()) {
            *score = lm::vectors::dot(user, item) * scale;
        }
    }

    fn profile_vectors(&self, histories: &[&[u32]]) -> Vec<Vec<f32>> {
        let Some((embedder, dataset)) = &self.profile else {
            return histories.iter().map(|_| Vec::new()).collect();
        };
        let texts: Vec<String> = match &self.writer {
            Some(writer) => match writer.profiles(dataset, histories) {
                Ok(texts) => texts,
                // Scoring cannot return an error: a failed generation gives these users no
                // preference (all scores 0), said on stderr, and the evaluation shows it.
                Err(e) => {
                    eprintln!(
                        "llm-profile: no profiles for {} users: {e}",
                        histories.len()
                    );
                    return histories.iter().map(|_| Vec::new()).collect();
                }
            },
            None => histories.iter().map(|h| profile_text(dataset, h)).collect(),
        };
        match embedder.encode(&texts, lm::DEFAULT_BATCH, &mut |_, _| true) {
            Ok(vectors) => vectors.rows().map(<[f32]>::to_vec).collect(),
            // Tokenizing a profile cannot fail for texts built from the dataset's own titles;
            // should it, the user gets no preference (all scores 0) rather than a panic.
            Err(_) => histories.iter().map(|_| Vec::new()).collect(),
        }
    }
}

impl Recommender for LmRecommender {
    fn name(&self) -> &str {
        &self.name
    }

    fn num_items(&self) -> usize {
        self.items.len() - 1
    }

    fn score(&self, query: Query<'_>, scores: &mut [f32]) {
        self.score_batch(&[query], scores);
    }

    fn score_batch(&self, queries: &[Query<'_>], scores: &mut [f32]) {
        let width = self.num_items() + 1;
        let users: Vec<Vec<f32>> = match self.user_vector {
            UserVector::History => queries
                .iter()
                .map(|q| self.history_vector(q.history))
                .collect(),
            UserVector::Profile | UserVector::LlmProfile => {
                let histories: Vec<&[u32]> = queries.iter().map(|q| q.history).collect();
                self.profile_vectors(&histories)
            }
        };
        for (user, row) in users.iter().zip(scores.chunks_exact_mut(width)) {
            if user.is_empty() {
                row.fill(0.0);
            } else {
                self.score_vector(user, row);
            }
        }
    }

    fn scores_in_parallel(&self) -> bool {
        // Profile texts run through a burn backend, which parallelises inside a call.
        self.user_vector == UserVector::History
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_vectors_weigh_recent_items_more_and_score_by_cosine() {
        // Padding, then three items on the axes of a plane.
        let items = Vectors::new(2, vec![0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 1.0, 1.0]);
        let model = LmRecommender::from_vectors(items, UserVector::History, 0.5, None);
        // History [1, 2]: 0.5 * e1 + 1.0 * e2 (item 2 is normalised to e2).
        assert_eq!(model.history_vector(&[1, 2]), vec![0.5, 1.0]);
        let mut scores = vec![0.0; 4];
        model.score(
            Query {
                user: None,
                history: &[1, 2],
            },
            &mut scores,
        );
        let norm = (0.25f32 + 1.0).sqrt();
        assert_eq!(scores[0], 0.0);
        assert!((scores[1] - 0.5 / norm).abs() < 1e-6);
        assert!((scores[2] - 1.0 / norm).abs() < 1e-6);
        assert!((scores[3] - 1.5 / norm / 2f32.sqrt()).abs() < 1e-6);
        // An empty history has no preference.
        model.score(
            Query {
                user: None,
                history: &[],
            },
            &mut scores,
        );
        assert!(scores.iter().all(|&s| s == 0.0));
    }
}
