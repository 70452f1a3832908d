//! Experience replay: a bounded ring of transitions, sampled uniformly, so consecutive (and
//! strongly correlated) pages of one session do not make up a whole update.

use rand::Rng;

/// One feature vector: a candidate item in the state the page was laid out in.
pub type Features = Vec<f32>;

/// One page and what came of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The cards the policy placed (the slots it decides), best slot first.
    pub shown: Vec<Features>,
    /// Whether each of `shown` was clicked.
    pub shown_clicked: Vec<bool>,
    /// The clicked card (wherever it was on the page) and the reward the click gave.
    pub clicked: Option<(Features, f32)>,
    /// The candidates of the next page; empty when the session ended after this page.
    pub next: Vec<Features>,
}

/// A replay memory that never holds more than its capacity: the oldest transition goes first.
#[derive(Debug, Clone)]
pub struct Replay {
    items: Vec<Transition>,
    capacity: usize,
    /// Where the next transition is written once the memory is full.
    cursor: usize,
}

impl Replay {
    pub fn new(capacity: usize) -> Replay {
        Replay {
            items: Vec::new(),
            capacity: capacity.max(1),
            cursor: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn push(&mut self, transition: Transition) {
        if self.items.len() < self.capacity {
            self.items.push(transition);
        } else {
            self.items[self.cursor] = transition;
            self.cursor = (self.cursor + 1) % self.capacity;
        }
    }

    /// `n` transitions drawn uniformly with replacement (none from an empty memory).
    pub fn sample<'a>(&'a self, n: usize, rng: &mut impl Rng) -> Vec<&'a Transition> {
        if self.items.is_empty() {
            return Vec::new();
        }
        (0..n)
            .map(|_| &self.items[rng.random_range(0..self.items.len())])
            .collect()
    }

    /// Every transition held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Transition> {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn marked(k: usize) -> Transition {
        Transition {
            shown: vec![vec![k as f32]],
            shown_clicked: vec![false],
            clicked: None,
            next: Vec::new(),
        }
    }

    #[test]
    fn the_memory_is_bounded_and_forgets_the_oldest_first() {
        let mut replay = Replay::new(3);
        for k in 0..5 {
            replay.push(marked(k));
        }
        assert_eq!(replay.len(), 3);
        let mut kept: Vec<f32> = replay.iter().map(|t| t.shown[0][0]).collect();
        kept.sort_by(f32::total_cmp);
        assert_eq!(kept, vec![2.0, 3.0, 4.0]);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let drawn = replay.sample(50, &mut rng);
        assert_eq!(drawn.len(), 50);
        assert!(drawn.iter().all(|t| t.shown[0][0] >= 2.0));
        assert!(Replay::new(4).sample(8, &mut rng).is_empty());
    }
}
