//! Pop: every user gets the items most met in training.

use super::{Query, Recommender, training_sequences};
use crate::data::{Dataset, Split};

pub struct Pop {
    counts: Vec<f32>,
}

impl Pop {
    /// Counts each item's interactions in the training split.
    pub fn fit(dataset: &Dataset, split: &Split) -> Pop {
        let mut counts = vec![0.0f32; dataset.num_items() + 1];
        for sequence in training_sequences(dataset, split) {
            for &item in sequence {
                counts[item as usize] += 1.0;
            }
        }
        Pop { counts }
    }
}

impl Recommender for Pop {
    fn name(&self) -> &str {
        "Pop"
    }

    fn num_items(&self) -> usize {
        self.counts.len() - 1
    }

    fn score(&self, _query: Query<'_>, scores: &mut [f32]) {
        scores.copy_from_slice(&self.counts);
    }
}
