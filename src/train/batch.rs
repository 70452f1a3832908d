//! Training batches, built on the CPU from users' training sequences: token ids left-padded to
//! the batch's longest sequence, and the flat positions that carry a target.

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::model::Vocabulary;

/// Noise injected into training sequences (CL4SRec-style): with `probability`, a sequence gets
/// one of crop, mask or reorder, chosen uniformly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Augmentation {
    /// Share of training sequences augmented each epoch (0 disables augmentation).
    pub probability: f64,
    /// Crop keeps a random contiguous part of this share of the sequence.
    pub crop: f64,
    /// Mask replaces this share of the input items with the mask token (targets are kept).
    pub mask: f64,
    /// Reorder shuffles a random contiguous part of this share of the sequence.
    pub reorder: f64,
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation {
            probability: 0.0,
            crop: 0.6,
            mask: 0.3,
            reorder: 0.3,
        }
    }
}

/// One batch, ready to become tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub size: usize,
    pub len: usize,
    /// `size × len` token ids, row-major, left-padded with 0.
    pub tokens: Vec<i64>,
    /// Flat indices (`row * len + column`) of positions with a target.
    pub positions: Vec<i64>,
    /// The target item of each position in `positions`.
    pub targets: Vec<i64>,
    /// `positions.len() × k` sampled negative items, for sampled losses.
    pub negatives: Vec<i64>,
}

impl Batch {
    fn from_rows(
        rows: Vec<(Vec<u32>, Vec<u32>)>,
        negatives: usize,
        vocabulary: Vocabulary,
        rng: &mut impl Rng,
    ) -> Batch {
        let len = rows
            .iter()
            .map(|(tokens, _)| tokens.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let mut batch = Batch {
            size: rows.len(),
            len,
            tokens: vec![0; rows.len() * len],
            positions: Vec::new(),
            targets: Vec::new(),
            negatives: Vec::new(),
        };
        for (row, (tokens, targets)) in rows.iter().enumerate() {
            let offset = row * len + (len - tokens.len());
            for (i, (&token, &target)) in tokens.iter().zip(targets).enumerate() {
                batch.tokens[offset + i] = i64::from(token);
                if target != Vocabulary::PADDING {
                    batch.positions.push((offset + i) as i64);
                    batch.targets.push(i64::from(target));
                    for _ in 0..negatives {
                        let negative = loop {
                            let candidate = rng.random_range(1..=vocabulary.num_items as u32);
                            if candidate != target || vocabulary.num_items == 1 {
                                break candidate;
                            }
                        };
                        batch.negatives.push(i64::from(negative));
                    }
                }
            }
        }
        batch
    }
}

/// Applies one augmentation to `sequence`; returns the sequence and which input positions to
/// mask.
fn augment(sequence: &[u32], config: &Augmentation, rng: &mut impl Rng) -> (Vec<u32>, Vec<bool>) {
    let mut items = sequence.to_vec();
    let mut masked = vec![false; items.len()];
    if config.probability <= 0.0 || items.len() < 3 || !rng.random_bool(config.probability.min(1.0))
    {
        return (items, masked);
    }
    let n = items.len();
    let part = |share: f64| ((share * n as f64).ceil() as usize).clamp(2, n);
    match rng.random_range(0..3) {
        0 => {
            let keep = part(config.crop);
            let start = rng.random_range(0..=n - keep);
            items = items[start..start + keep].to_vec();
            masked.truncate(keep);
        }
        1 => {
            for flag in masked.iter_mut() {
                *flag = rng.random_bool(config.mask.clamp(0.0, 1.0));
            }
        }
        _ => {
            let span = part(config.reorder);
            let start = rng.random_range(0..=n - span);
            items[start..start + span].shuffle(rng);
        }
    }
    (items, masked)
}

/// Next-item batches (SASRec): every position predicts the item after it. Each sequence is
/// cut to its latest `max_len + 1` items; sequences shorter than 2 give nothing.
pub fn next_item_batch(
    sequences: &[&[u32]],
    max_len: usize,
    vocabulary: Vocabulary,
    negatives: usize,
    augmentation: &Augmentation,
    rng: &mut impl Rng,
) -> Batch {
    let rows = sequences
        .iter()
        .filter_map(|sequence| {
            let (items, masked) = augment(sequence, augmentation, rng);
            if items.len() < 2 {
                return None;
            }
            let start = items.len().saturating_sub(max_len + 1);
            let window = &items[start..];
            let inputs: Vec<u32> = window[..window.len() - 1]
                .iter()
                .zip(&masked[start..])
                .map(|(&item, &mask)| if mask { vocabulary.mask() } else { item })
                .collect();
            Some((inputs, window[1..].to_vec()))
        })
        .collect();
    Batch::from_rows(rows, negatives, vocabulary, rng)
}

/// Masked-item batches (BERT4Rec): each item of the latest `max_len` is replaced by the mask
/// token with probability `mask_ratio` (at least one per sequence) and is the target there.
pub fn masked_item_batch(
    sequences: &[&[u32]],
    max_len: usize,
    vocabulary: Vocabulary,
    mask_ratio: f64,
    negatives: usize,
    augmentation: &Augmentation,
    rng: &mut impl Rng,
) -> Batch {
    let rows = sequences
        .iter()
        .filter_map(|sequence| {
            let (items, _) = augment(sequence, augmentation, rng);
            if items.is_empty() {
                return None;
            }
            let window = &items[items.len().saturating_sub(max_len)..];
            let mut inputs = window.to_vec();
            let mut targets = vec![Vocabulary::PADDING; window.len()];
            for (i, &item) in window.iter().enumerate() {
                if rng.random_bool(mask_ratio.clamp(0.0, 1.0)) {
                    inputs[i] = vocabulary.mask();
                    targets[i] = item;
                }
            }
            if targets.iter().all(|&t| t == Vocabulary::PADDING) {
                let i = rng.random_range(0..window.len());
                inputs[i] = vocabulary.mask();
                targets[i] = window[i];
            }
            Some((inputs, targets))
        })
        .collect();
    Batch::from_rows(rows, negatives, vocabulary, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const VOCAB: Vocabulary = Vocabulary { num_items: 9 };

    #[test]
    fn next_item_targets_are_the_shifted_sequence_left_padded() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let b = next_item_batch(
            &[&[1, 2, 3], &[4, 5, 6, 7, 8], &[9]],
            3,
            VOCAB,
            0,
            &Augmentation::default(),
            &mut rng,
        );
        // Row 0: inputs [1, 2] → targets [2, 3]; row 1 keeps its latest 4 items: [5, 6, 7] → [6, 7, 8];
        // the single-item sequence gives nothing.
        assert_eq!((b.size, b.len), (2, 3));
        assert_eq!(b.tokens, vec![0, 1, 2, 5, 6, 7]);
        assert_eq!(b.positions, vec![1, 2, 3, 4, 5]);
        assert_eq!(b.targets, vec![2, 3, 6, 7, 8]);
        assert!(b.negatives.is_empty());
    }

    #[test]
    fn sampled_negatives_avoid_the_target() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let b = next_item_batch(
            &[&[1, 2, 3, 4]],
            10,
            VOCAB,
            4,
            &Augmentation::default(),
            &mut rng,
        );
        assert_eq!(b.negatives.len(), 3 * 4);
        for (chunk, &target) in b.negatives.chunks(4).zip(&b.targets) {
            assert!(chunk.iter().all(|&n| n != target && (1..=9).contains(&n)));
        }
    }

    #[test]
    fn masked_items_are_the_targets() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let b = masked_item_batch(
            &[&[1, 2, 3, 4, 5, 6]],
            4,
            VOCAB,
            0.5,
            0,
            &Augmentation::default(),
            &mut rng,
        );
        assert_eq!(b.len, 4);
        assert!(!b.positions.is_empty());
        for (&p, &t) in b.positions.iter().zip(&b.targets) {
            assert_eq!(b.tokens[p as usize], i64::from(VOCAB.mask()));
            assert_eq!(t, [3, 4, 5, 6][p as usize]);
        }
        // Unmasked positions keep their items.
        for (i, &token) in b.tokens.iter().enumerate() {
            if !b.positions.contains(&(i as i64)) {
                assert_eq!(token, [3, 4, 5, 6][i]);
            }
        }
    }

    #[test]
    fn augmentation_keeps_items_from_the_sequence() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let always = Augmentation {
            probability: 1.0,
            ..Augmentation::default()
        };
        let sequence: Vec<u32> = (1..=9).collect();
        for _ in 0..50 {
            let (items, masked) = augment(&sequence, &always, &mut rng);
            assert_eq!(items.len(), masked.len());
            assert!(items.len() >= 2 && items.iter().all(|i| sequence.contains(i)));
            let mut sorted = items.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), items.len(), "no item duplicated");
        }
    }
}
