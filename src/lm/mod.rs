//! Pretrained language models: a Hugging Face BERT-family folder run in burn, with `tokenizers`
//! for its tokenizer; item and user text; batched embedding with a vector cache. Knows nothing
//! of egui.

mod bert;
pub mod cache;
pub mod decoder;
mod device;
mod encoder;
pub mod error;
pub mod folder;
pub mod map;
pub mod pooling;
pub mod text;
pub mod vectors;
pub mod written;

use std::path::{Path, PathBuf};

pub use bert::Bert;
pub use device::Embedder;
pub use encoder::{DEFAULT_BATCH, Progress, TextEncoder};
pub use error::{LmError, Result};
pub use folder::{BertConfig, ModelFolder, SUPPORTED_MODEL_TYPES};
pub use map::principal_map;
pub use pooling::{Pooling, PoolingMode};
pub use text::{Template, profile_text};
pub use vectors::{Vectors, cosine};

use crate::data::Dataset;

/// Item vectors of a dataset, with where they came from.
pub struct ItemVectors {
    /// Row `i` is item `i`; row 0 (padding) is zero.
    pub vectors: Vectors,
    pub texts: Vec<String>,
    /// Whether they were read from the cache rather than computed.
    pub from_cache: bool,
    pub cache_path: Option<PathBuf>,
    /// Seconds spent embedding (0 when read from the cache).
    pub seconds: f64,
    /// Why the vectors could not be cached, when they could not (a read-only cache folder).
    pub cache_warning: Option<String>,
}

/// Embeds every item's text (padding's row is zero), reading and writing the vector cache under
/// `cache_dir` when one is given. A cache that cannot be written is skipped, not an error.
pub fn embed_items(
    embedder: &Embedder,
    dataset: &Dataset,
    template: &Template,
    cache_dir: Option<&Path>,
    batch: usize,
    progress: Progress<'_>,
) -> Result<ItemVectors> {
    let texts = template.render_all(dataset);
    let cache_path = match cache_dir {
        Some(dir) => Some(cache::vectors_path(
            &dir.join("lm"),
            &cache::model_fingerprint(embedder.folder())?,
            &texts,
        )),
        None => None,
    };
    if let Some(vectors) = cache_path
        .as_deref()
        .and_then(|p| cache::read(p, texts.len()))
    {
        progress(texts.len() - 1, texts.len() - 1);
        return Ok(ItemVectors {
            vectors,
            texts,
            from_cache: true,
            cache_path,
            seconds: 0.0,
            cache_warning: None,
        });
    }
    let started = std::time::Instant::now();
    let embedded = embedder.encode(&texts[1..], batch, progress)?;
    let dim = embedded.dim();
    let mut data = vec![0.0; dim];
    data.extend_from_slice(embedded.as_slice());
    let vectors = Vectors::new(dim, data);
    let seconds = started.elapsed().as_secs_f64();
    let cache_warning = cache_path.as_deref().and_then(|path| {
        cache::write(path, &vectors).err().map(|e| {
            format!(
                "the item vectors were not cached at {}: {e}",
                path.display()
            )
        })
    });
    Ok(ItemVectors {
        vectors,
        texts,
        from_cache: false,
        cache_path,
        seconds,
        cache_warning,
    })
}
