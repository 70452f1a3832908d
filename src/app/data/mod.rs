//! The data concern: the dataset every panel works on, its loading task, and the Data panel.

pub mod panel;

use std::sync::Arc;

use super::task::{Reporter, Update};
use crate::data::{self, Dataset, DatasetStats, LoadSpec};

/// A dataset ready for every panel.
pub struct Loaded {
    pub spec: LoadSpec,
    pub dataset: Dataset,
    pub stats: DatasetStats,
    /// Interactions per item index (the item table's count column).
    pub item_counts: Vec<u32>,
}

#[derive(Default)]
pub struct DataState {
    pub loaded: Option<Arc<Loaded>>,
    /// What the running load reads.
    pub loading_path: Option<String>,
    pub error: Option<String>,
}

impl DataState {
    /// Before a load starts.
    pub fn on_start(&mut self, spec: &LoadSpec) {
        self.error = None;
        self.loading_path = Some(spec.path.clone());
    }

    /// Takes the load's end; returns the dataset when one was loaded.
    pub fn on_update(&mut self, update: Update) -> Option<Arc<Loaded>> {
        let result = update.outcome::<Arc<Loaded>>()?;
        self.loading_path = None;
        match result {
            Ok(loaded) => {
                self.loaded = Some(loaded.clone());
                Some(loaded)
            }
            Err(message) => {
                self.error = Some(message);
                None
            }
        }
    }
}

/// The load task's worker: reads, preprocesses (through the cache) and summarises a dataset.
pub fn load(spec: LoadSpec, _out: &Reporter) -> Result<Arc<Loaded>, String> {
    let dataset = data::load(&spec, data::cache::default_cache_dir().as_deref())
        .map_err(|e| e.to_string())?;
    let stats = DatasetStats::of(&dataset);
    let item_counts = dataset.item_counts();
    Ok(Arc::new(Loaded {
        spec,
        dataset,
        stats,
        item_counts,
    }))
}
