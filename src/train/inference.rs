//! A trained model behind the [`Recommender`] trait, so the evaluator, the CLI and the simulator
//! use it exactly like a baseline.

use std::sync::Mutex;

use burn::prelude::*;

use crate::model::{Direction, SeqRec, Vocabulary};
use crate::recommend::{Query, Recommender};

/// An inference-only model (no autodiff, no dropout).
///
/// The model sits behind a mutex, held only to clone it (a cheap, reference-counted copy of the
/// weights), which makes the wrapper `Sync` whatever the backend's tensors are. burn backends
/// parallelise inside each call, so [`Recommender::scores_in_parallel`] tells the evaluator to
/// send batches one at a time.
pub struct TransformerRecommender<B: Backend> {
    name: String,
    model: Mutex<SeqRec<B>>,
    device: B::Device,
    direction: Direction,
    vocabulary: Vocabulary,
}

impl<B: Backend> TransformerRecommender<B> {
    pub fn new(
        name: &str,
        model: SeqRec<B>,
        device: B::Device,
        direction: Direction,
        vocabulary: Vocabulary,
    ) -> Self {
        // burn initialises parameters lazily, on first use, and every clone of a module not yet
        // used would draw its own weights: use the model once so that all clones share them.
        let probe = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64], [1, 1]), &device);
        let _ = model.encode(probe, direction == Direction::Causal);
        TransformerRecommender {
            name: name.to_string(),
            model: Mutex::new(model),
            device,
            direction,
            vocabulary,
        }
    }

    /// The tokens the model reads for a history: its latest items (and, for a bidirectional
    /// model, the mask token whose output predicts the next item).
    fn tokens(&self, history: &[u32], max_len: usize) -> Vec<u32> {
        match self.direction {
            Direction::Causal => history[history.len().saturating_sub(max_len)..].to_vec(),
            Direction::Bidirectional => {
                let keep = max_len - 1;
                let mut tokens = history[history.len().saturating_sub(keep)..].to_vec();
                tokens.push(self.vocabulary.mask());
                tokens
            }
        }
    }

    /// Hidden state of each query's last position, plus the last block's attention weights
    /// from there `[queries, heads, len]`, left-padded to a common length `len`.
    fn run(&self, queries: &[Query<'_>]) -> (SeqRec<B>, Tensor<B, 2>, Tensor<B, 3>, usize) {
        // A poisoned lock only means another thread panicked mid-call; the weights are intact.
        let model = self.model.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let rows: Vec<Vec<u32>> = queries
            .iter()
            .map(|q| self.tokens(q.history, model.max_len()))
            .collect();
        let len = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut flat = vec![0i64; rows.len() * len];
        for (r, row) in rows.iter().enumerate() {
            let offset = r * len + len - row.len();
            for (i, &t) in row.iter().enumerate() {
                flat[offset + i] = i64::from(t);
            }
        }
        let tokens =
            Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [rows.len(), len]), &self.device);
        let causal = self.direction == Direction::Causal;
        let (last, weights) = model.encode_last(tokens, causal);
        (model, last, weights, len)
    }

    /// How much the last layer's attention at the prediction position rests on each item of the
    /// history (the latest `max_len` items, oldest first), averaged over heads.
    pub fn attention_weights(&self, history: &[u32]) -> Vec<f32> {
        let query = Query {
            user: None,
            history,
        };
        let (_, _, weights, len) = self.run(&[query]);
        // The prediction position's row, averaged over heads.
        let attention = weights.mean_dim(1).reshape([len]);
        let weights: Vec<f32> = attention.into_data().to_vec().unwrap_or_default();
        let shown = history.len().min(len);
        let end = match self.direction {
            Direction::Causal => len,
            Direction::Bidirectional => len - 1,
        };
        weights
            .get(end.saturating_sub(shown)..end)
            .map(<[f32]>::to_vec)
            .unwrap_or_default()
    }
}

impl<B: Backend> Recommender for TransformerRecommender<B> {
    fn name(&self) -> &str {
        &self.name
    }

    fn num_items(&self) -> usize {
        self.vocabulary.num_items
    }

    fn scores_in_parallel(&self) -> bool {
        false
    }

    fn attention(&self, history: &[u32]) -> Option<Vec<f32>> {
        Some(self.attention_weights(history))
    }

    fn score(&self, query: Query<'_>, scores: &mut [f32]) {
        self.score_batch(&[query], scores);
    }

    fn score_batch(&self, queries: &[Query<'_>], scores: &mut [f32]) {
        if queries.is_empty() {
            return;
        }
        let (model, last, _, _) = self.run(queries);
        let logits = model.logits(last);
        let width = self.vocabulary.num_items + 1;
        let vocab = self.vocabulary.size();
        match logits.into_data().to_vec::<f32>() {
            Ok(values) => {
                for (row, out) in values
                    .chunks_exact(vocab)
                    .zip(scores.chunks_exact_mut(width))
                {
                    out.copy_from_slice(&row[..width]);
                    // Padding is not an item: never recommend it, whatever its embedding says.
                    out[0] = f32::NEG_INFINITY;
                }
            }
            // Reading back a float tensor as f32 cannot fail for f32 backends; should it ever,
            // NaN makes the evaluator report the model by name rather than rank garbage.
            Err(_) => scores.fill(f32::NAN),
        }
    }
}
