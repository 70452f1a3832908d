//! How likely the model finds each of several continuations of one prompt: the log-probability
//! of every token of each continuation. The prompt runs once; its keys and values are shared by
//! every continuation (copied per row), and the continuations run together, right-padded, so a
//! continuation's score depends on the prompt and itself only, never on its neighbours in the
//! batch or on its place among them.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use super::model::{Decoder, KvCache};

/// Bytes of logits one batch of continuations may hold (they dominate: one row of the
/// vocabulary per position).
const LOGIT_BYTES: usize = 256 << 20;

/// Continuations run together at most.
const MAX_ROWS: usize = 32;

/// The log-probability of each token of each continuation after `prefix`. `prefix` must not
/// be empty; an empty continuation gets an empty list. Ids are checked by the caller.
pub fn continuation_logprobs<B: Backend>(
    model: &Decoder<B>,
    prefix: &[u32],
    continuations: &[Vec<u32>],
) -> Vec<Vec<f32>> {
    let vocab = model.config.vocab_size;
    let mut prompt_cache = KvCache::<B>::new(model.config.layers, vec![0]);
    let last = model.forward(&[prefix.to_vec()], &mut prompt_cache, false);
    let first: Vec<f32> = log_softmax(last, 1).into_data().iter::<f32>().collect();

    let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
    let rows = (LOGIT_BYTES / (4 * vocab * longest.max(1))).clamp(1, MAX_ROWS);
    let mut out = Vec::with_capacity(continuations.len());
    for chunk in continuations.chunks(rows) {
        // A continuation's first token is scored by the prompt's last position; the rest by
        // running all but each continuation's last token after the prompt.
        let steps = chunk
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .saturating_sub(1);
        let rest = if steps == 0 {
            Vec::new()
        } else {
            let inputs: Vec<Vec<u32>> = chunk
                .iter()
                .map(|c| (0..steps).map(|j| c.get(j).copied().unwrap_or(0)).collect())
                .collect();
            // The token each position should predict; padding positions point at id 0 and
            // are never read.
            let targets: Vec<i64> = chunk
                .iter()
                .flat_map(|c| (0..steps).map(|j| c.get(j + 1).map_or(0, |&id| id as i64)))
                .collect();
            let mut cache = prompt_cache.clone();
            cache.repeat_first_row(chunk.len());
            let logits = model.forward(&inputs, &mut cache, true);
            let device = logits.device();
            let index = Tensor::<B, 2, Int>::from_data(
                TensorData::new(targets, [chunk.len() * steps, 1]),
                &device,
            );
            log_softmax(logits, 1)
                .gather(1, index)
                .into_data()
                .iter::<f32>()
                .collect::<Vec<f32>>()
        };
        for (row, continuation) in chunk.iter().enumerate() {
            let mut logprobs = Vec::with_capacity(continuation.len());
            if let Some(&id) = continuation.first() {
                logprobs.push(first[id as usize]);
            }
            for j in 1..continuation.len() {
                logprobs.push(rest[row * steps + j - 1]);
            }
            out.push(logprobs);
        }
    }
    out
}
