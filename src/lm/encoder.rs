//! Texts in, sentence vectors out: tokenisation with `tokenizers`, the BERT encoder on a burn
//! backend, pooling, in batches of texts of similar length.

use burn::prelude::*;
use tokenizers::{Tokenizer, TruncationParams};

use super::bert::Bert;
use super::error::{LmError, Result};
use super::folder::ModelFolder;
use super::vectors::Vectors;

/// Texts per forward pass unless the caller says otherwise.
pub const DEFAULT_BATCH: usize = 32;

/// Called after each batch with (texts done, texts in all); answering `false` cancels.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize) -> bool;

/// A loaded sentence encoder on one burn backend.
pub struct TextEncoder<B: Backend> {
    folder: ModelFolder,
    tokenizer: Tokenizer,
    pad_id: u32,
    model: Bert<B>,
    device: B::Device,
}

impl<B: Backend> TextEncoder<B> {
    /// Loads the tokenizer and the weights of an opened model folder onto `device`.
    pub fn load(folder: ModelFolder, device: B::Device) -> Result<Self> {
        let tokenizer_error = |message: String| LmError::Tokenizer {
            path: folder.tokenizer_path.clone(),
            message,
        };
        let mut tokenizer = crate::guard::catching(|| Tokenizer::from_file(&folder.tokenizer_path))
            .map_err(|panic| format!("the tokenizer library stopped on it ({panic})"))
            .and_then(|read| read.map_err(|e| e.to_string()))
            .map_err(tokenizer_error)?;
        let pad_id = tokenizer.get_padding().map(|p| p.pad_id).unwrap_or(0);
        // Token ids index the embedding table: one beyond it would read past the weights.
        let vocab_size = folder.config.vocab_size;
        let largest_id = tokenizer
            .get_vocab(true)
            .into_values()
            .chain([pad_id])
            .max()
            .unwrap_or(0);
        if largest_id as usize >= vocab_size {
            return Err(tokenizer_error(format!(
                "it has token id {largest_id}, but config.json's vocab_size is {vocab_size}: the tokenizer and the model do not belong together"
            )));
        }
        // tokenizer.json often carries its own limit (128 for all-MiniLM-L6-v2) and fixed-length
        // padding; the model folder's max_seq_length rules, and batches are padded here.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: folder.max_seq_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| tokenizer_error(e.to_string()))?;
        tokenizer.with_padding(None);
        let model = Bert::load(&folder.config, &folder.weights_path, &device)?;
        let encoder = TextEncoder {
            folder,
            tokenizer,
            pad_id,
            model,
            device,
        };
        // One short text through the model: weights of the right shapes but the wrong element
        // type (integers where floats belong) load, then panic in the first product (found by
        // fuzzing). Better refused here, naming the file, than in the middle of a job.
        let probe = encoder.tokenize(&["probe".to_string()])?;
        let probe: Vec<&[u32]> = probe.iter().map(Vec::as_slice).collect();
        crate::guard::catching(|| encoder.encode_tokens(&probe)).map_err(|panic| {
            LmError::Weights {
                path: encoder.folder.weights_path.clone(),
                architecture: "BERT".into(),
                message: format!("the model does not run with these weights ({panic})"),
            }
        })?;
        Ok(encoder)
    }

    pub fn folder(&self) -> &ModelFolder {
        &self.folder
    }

    /// Token ids of each text, special tokens included, truncated to the model's limit.
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let text = if self.folder.lowercase {
                    text.to_lowercase()
                } else {
                    text.clone()
                };
                let what = || format!("text {} ({:?})", i + 1, truncate_for_message(&text));
                // tokenizers panics on some inconsistent tokenizer.json files (a template
                // naming a special token it does not define; found by fuzzing).
                crate::guard::catching(|| self.tokenizer.encode(text.as_str(), true))
                    .map_err(|panic| LmError::Tokenizer {
                        path: self.folder.tokenizer_path.clone(),
                        message: format!("the tokenizer library stopped on {} ({panic})", what()),
                    })?
                    .map_err(|e| LmError::Tokenize {
                        what: what(),
                        message: e.to_string(),
                    })
                    .and_then(|encoding| {
                        let ids = encoding.get_ids();
                        // Special tokens of a post-processor template need not be in the
                        // vocabulary checked at load.
                        match ids.iter().find(|&&id| id as usize >= self.folder.config.vocab_size) {
                            Some(id) => Err(LmError::Tokenizer {
                                path: self.folder.tokenizer_path.clone(),
                                message: format!(
                                    "it gave token id {id} for {}, beyond config.json's vocab_size {}",
                                    what(),
                                    self.folder.config.vocab_size
                                ),
                            }),
                            None => Ok(ids.to_vec()),
                        }
                    })
            })
            .collect()
    }

    /// One vector per text, in the order given. Texts are sorted by token count and batched,
    /// so each batch pads to a similar length.
    pub fn encode(
        &self,
        texts: &[String],
        batch_size: usize,
        progress: Progress<'_>,
    ) -> Result<Vectors> {
        self.encode_with(texts, batch_size, progress, |batches| {
            batches
                .iter()
                .map(|batch| self.encode_tokens(batch))
                .collect()
        })
    }

    /// [`Self::encode`], running `run` on groups of batches (token ids per text) that it may
    /// spread over threads.
    fn encode_with(
        &self,
        texts: &[String],
        batch_size: usize,
        progress: Progress<'_>,
        run: impl Fn(&[Vec<&[u32]>]) -> Vec<Vec<f32>>,
    ) -> Result<Vectors> {
        let tokens = self.tokenize(texts)?;
        let dim = self.folder.config.hidden_size;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].len()));
        let chunks: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
        let group = rayon::current_num_threads().max(1);
        let mut data = vec![0.0f32; texts.len() * dim];
        let mut done = 0;
        for chunk_group in chunks.chunks(group) {
            let batches: Vec<Vec<&[u32]>> = chunk_group
                .iter()
                .map(|chunk| chunk.iter().map(|&i| tokens[i].as_slice()).collect())
                .collect();
            for (chunk, pooled) in chunk_group.iter().zip(run(&batches)) {
                for (row, &text) in chunk.iter().enumerate() {
                    data[text * dim..(text + 1) * dim]
                        .copy_from_slice(&pooled[row * dim..(row + 1) * dim]);
                }
                done += chunk.len();
            }
            if !progress(done, texts.len()) {
                return Err(LmError::Cancelled);
            }
        }
        Ok(Vectors::new(dim, data))
    }

    /// Pooled vectors, row-major, for one batch of tokenised texts.
    fn encode_tokens(&self, batch: &[&[u32]]) -> Vec<f32> {
        let rows = batch.len();
        let len = batch.iter().map(|t| t.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![self.pad_id as i64; rows * len];
        let mut mask = vec![0.0f32; rows * len];
        for (row, text) in batch.iter().enumerate() {
            for (col, &id) in text.iter().enumerate() {
                ids[row * len + col] = id as i64;
                mask[row * len + col] = 1.0;
            }
        }
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [rows, len]), &self.device);
        let mask = Tensor::<B, 2>::from_data(TensorData::new(mask, [rows, len]), &self.device);
        let tokens = self.model.forward(ids, mask.clone());
        let pooled = self.folder.pooling.apply(tokens, mask);
        pooled
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            // Invariant: converted to f32 on the line above, so the element type matches.
            .expect("pooled vectors are f32")
    }
}

impl TextEncoder<burn::backend::Flex> {
    /// [`Self::encode`] on the CPU with one batch per core at a time: a batch of short texts is
    /// too small to keep both cores busy inside its matrix products, two batches side by side do.
    pub fn encode_parallel(
        &self,
        texts: &[String],
        batch_size: usize,
        progress: Progress<'_>,
    ) -> Result<Vectors> {
        use rayon::prelude::*;
        self.encode_with(texts, batch_size, progress, |batches| {
            batches
                .par_iter()
                .map(|batch| self.encode_tokens(batch))
                .collect()
        })
    }
}

fn truncate_for_message(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}
