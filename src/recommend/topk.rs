//! Choosing the best `k` items from a score vector, deterministically.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A NaN score: an error, never a silent rank (NaN compares false with everything, so a naive
/// "count the items scored higher" would put a NaN target first).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("model {model} gave a NaN score to item {item} for {}", describe_user(*.user))]
pub struct ScoreError {
    pub model: String,
    pub user: Option<u32>,
    pub item: u32,
}

fn describe_user(user: Option<u32>) -> String {
    match user {
        Some(u) => format!("user index {u}"),
        None => "an unknown user".to_string(),
    }
}

impl ScoreError {
    /// The same error, naming the model and user it came from.
    pub fn for_model(mut self, model: &str, user: Option<u32>) -> ScoreError {
        self.model = model.to_string();
        self.user = user;
        self
    }
}

/// An item and its score, ordered so that the *better* entry is the *greater*: higher score
/// first, and among equal scores the lower item index.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    score: f32,
    item: u32,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.item.cmp(&self.item))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// The `k` best items of `scores`, best first.
///
/// - Item 0 (padding) and every item in `excluded` are skipped, except those in `keep` (a
///   target the user met before stays rankable).
/// - Only items in `candidates` are ranked when it is given (sampled protocols).
/// - Ties are broken by item index, ascending. Items scored `-inf` are never recommended.
/// - Fewer than `k` items come back when fewer are rankable.
///
/// Excluded items are masked in `scores` itself (set to `-inf`), which keeps the scan linear in
/// the catalogue whatever the history's length.
pub fn top_k_among(
    scores: &mut [f32],
    excluded: &[u32],
    keep: &[u32],
    candidates: Option<&[u32]>,
    k: usize,
) -> Result<Vec<u32>, ScoreError> {
    for &item in excluded {
        if !keep.contains(&item) {
            scores[item as usize] = f32::NEG_INFINITY;
        }
    }
    let scores = &*scores;
    let mut heap: BinaryHeap<std::cmp::Reverse<Ranked>> = BinaryHeap::with_capacity(k + 1);
    let mut offer = |item: u32| -> Result<(), ScoreError> {
        let score = scores[item as usize];
        if score.is_nan() {
            return Err(ScoreError {
                model: String::new(),
                user: None,
                item,
            });
        }
        if item == 0 || score == f32::NEG_INFINITY || k == 0 {
            return Ok(());
        }
        let entry = Ranked { score, item };
        if heap.len() < k {
            heap.push(std::cmp::Reverse(entry));
        } else if heap.peek().is_some_and(|worst| entry > worst.0) {
            heap.pop();
            heap.push(std::cmp::Reverse(entry));
        }
        Ok(())
    };
    match candidates {
        Some(list) => list.iter().try_for_each(|&i| offer(i))?,
        None => (1..scores.len() as u32).try_for_each(&mut offer)?,
    }
    let mut best: Vec<Ranked> = heap.into_iter().map(|r| r.0).collect();
    best.sort_by(|a, b| b.cmp(a));
    Ok(best.into_iter().map(|r| r.item).collect())
}

/// [`top_k_among`] over all items.
pub fn top_k_excluding(
    scores: &mut [f32],
    excluded: &[u32],
    keep: &[u32],
    k: usize,
) -> Result<Vec<u32>, ScoreError> {
    top_k_among(scores, excluded, keep, None, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_first_with_ties_to_the_lower_index() {
        //            pad  1    2    3    4    5
        let mut scores = [9.0, 0.5, 0.9, 0.5, 0.9, 0.1];
        assert_eq!(
            top_k_excluding(&mut scores, &[], &[], 4).unwrap(),
            vec![2, 4, 1, 3]
        );
    }

    #[test]
    fn history_is_excluded_but_a_kept_target_is_not() {
        let mut scores = [0.0, 0.5, 0.9, 0.7, 0.8];
        assert_eq!(
            top_k_excluding(&mut scores, &[2, 4], &[], 2).unwrap(),
            vec![3, 1]
        );
        let mut fresh = [0.0, 0.5, 0.9, 0.7, 0.8];
        assert_eq!(
            top_k_excluding(&mut fresh, &[2, 4], &[4], 2).unwrap(),
            vec![4, 3]
        );
    }

    #[test]
    fn k_beyond_the_catalogue_returns_every_rankable_item() {
        let mut scores = [0.0, 0.1, 0.3, f32::NEG_INFINITY];
        assert_eq!(
            top_k_excluding(&mut scores, &[], &[], 10).unwrap(),
            vec![2, 1]
        );
        assert!(
            top_k_excluding(&mut scores, &[1, 2], &[], 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn candidates_restrict_the_ranking() {
        let mut scores = [0.0, 0.9, 0.2, 0.3, 0.8];
        assert_eq!(
            top_k_among(&mut scores, &[], &[], Some(&[2, 3, 4]), 2).unwrap(),
            vec![4, 3]
        );
    }

    #[test]
    fn nan_is_an_error_naming_the_item() {
        let mut scores = [0.0, 0.1, f32::NAN];
        let err = top_k_excluding(&mut scores, &[], &[], 1)
            .unwrap_err()
            .for_model("Pop", Some(7));
        assert_eq!(
            err.to_string(),
            "model Pop gave a NaN score to item 2 for user index 7"
        );
    }
}
