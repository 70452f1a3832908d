//! The language concern: the catalogue embedded by a sentence encoder (its embedding task),
//! the semantic search over it, the item selected on the map, and their part of the Data panel.

pub mod catalogue;
pub mod panel;

use std::path::PathBuf;
use std::sync::Arc;

pub use catalogue::{Language, PERSONA_TEMPERATURE, top};

use super::data::Loaded;
use super::state::AppState;
use super::task::{Reporter, Update};

#[derive(Default)]
pub struct LanguageState {
    /// The loaded catalogue embedded by a language model.
    pub catalogue: Option<Arc<Language>>,
    /// Items embedded so far, of all.
    pub progress: Option<(usize, usize)>,
    pub error: Option<String>,
    /// The semantic search's results and the query they answer, with its time in ms.
    pub search_results: Vec<(u32, f32)>,
    pub searched: Option<(String, f64)>,
    /// The item opened from the map or the search results.
    pub selected_item: Option<u32>,
}

impl LanguageState {
    /// Before an embedding starts: the folder and template to embed with, or why it cannot.
    pub fn prepare(
        &mut self,
        settings: &AppState,
        loaded: Option<&Arc<Loaded>>,
    ) -> Option<(Arc<Loaded>, PathBuf, String)> {
        let (Some(loaded), Some(template)) = (loaded, item_template(settings, loaded)) else {
            self.error = Some("load a dataset first".into());
            return None;
        };
        let dir = settings.lm_dir.trim();
        if dir.is_empty() {
            self.error = Some(
                "choose a language model folder (config.json, tokenizer.json, model.safetensors)"
                    .into(),
            );
            return None;
        }
        self.error = None;
        self.progress = None;
        Some((loaded.clone(), PathBuf::from(dir), template))
    }

    /// Takes an update of the embedding; returns the status line to show when it ends well.
    pub fn on_update(&mut self, update: Update) -> Option<String> {
        if let Update::Progress { done, total } = update {
            self.progress = Some((done, total));
            return None;
        }
        match update.outcome::<Arc<Language>>()? {
            Ok(language) => {
                let status = format!(
                    "embedded {} items with {}",
                    language.items.len().saturating_sub(1),
                    language.model_dir.display()
                );
                self.catalogue = Some(language);
                self.searched = None;
                Some(status)
            }
            Err(message) => {
                self.error = Some(message);
                None
            }
        }
    }

    /// Runs the semantic search for `query` unless its results are already shown: one short
    /// text through the encoder, a few milliseconds, so on this thread as the person types.
    pub fn search(&mut self, query: &str) {
        let Some(language) = self.catalogue.clone() else {
            return;
        };
        if self.searched.as_ref().is_some_and(|(q, _)| q == query) {
            return;
        }
        let started = std::time::Instant::now();
        self.search_results = if query.trim().is_empty() {
            Vec::new()
        } else {
            match language.search(query, 10) {
                Ok(results) => results,
                Err(message) => {
                    self.error = Some(message);
                    Vec::new()
                }
            }
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.searched = Some((query.to_string(), ms));
    }

    /// The language model for the loaded dataset, or why there is none.
    pub fn for_data(&self, loaded: Option<&Arc<Loaded>>) -> Result<Arc<Language>, String> {
        match (&self.catalogue, loaded) {
            (Some(language), Some(loaded)) if language.belongs_to(&loaded.dataset) => {
                Ok(language.clone())
            }
            _ => Err("embed the catalogue with a language model first (Data panel)".into()),
        }
    }
}

/// The loaded dataset's item-text template: the one edited for it, else its default.
pub fn item_template(settings: &AppState, loaded: Option<&Arc<Loaded>>) -> Option<String> {
    let loaded = loaded?;
    Some(
        settings
            .item_templates
            .get(&loaded.spec.path)
            .cloned()
            .unwrap_or_else(|| {
                crate::lm::Template::default_for(&loaded.dataset)
                    .source()
                    .to_string()
            }),
    )
}

/// The embedding task's worker: opens a model folder and embeds the catalogue's item texts
/// (through the vector cache), then maps them to 2-D and finds each genre's centroid.
/// A template with `{llm_description}` has the generative model `llm` describe every item
/// first (progress counts the items described, then the items embedded; cached per model and
/// item, so a cancel keeps what was written).
pub fn embed(
    loaded: &Loaded,
    model_dir: &std::path::Path,
    template: &str,
    llm: Option<PathBuf>,
    out: &Reporter,
) -> Result<Arc<Language>, String> {
    let mut progress = |done, total| {
        out.progress(done, total);
        !out.stop_requested()
    };
    let augmented;
    let dataset = if crate::lm::written::descriptions::wants_descriptions(template) {
        let describe = crate::recommend::LmConfig {
            llm,
            ..Default::default()
        };
        let cache_dir = crate::data::cache::default_cache_dir();
        augmented = crate::recommend::describe_items(
            &describe,
            &loaded.dataset,
            cache_dir.as_deref(),
            &mut progress,
        )
        .map_err(|e| e.to_string())?;
        &augmented
    } else {
        &loaded.dataset
    };
    Language::build(dataset, model_dir, Some(template), &mut progress).map(Arc::new)
}
