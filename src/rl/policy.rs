//! The learned policy as the simulator sees it: a [`PageValues`] that reads the observation's
//! features, asks the Q-network for each candidate's click chance and long-term value, and
//! orders the hero and top picks by SlateQ's top-K rule — exploring per slot while it trains,
//! and recording what it decided so the trainer can learn from it.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::features::{FEATURES, FeatureContext};
use super::learner::{Infer, arrange, placement_value};
use super::network::QNet;
use super::replay::Features;
use crate::sim::{Observation, PageValues};

/// Values of the placed cards lie above every other candidate's, and those above every other
/// item's, so the layout takes the cards in the policy's order and fills later rows sensibly.
const PLACED: f32 = 3000.0;
const CANDIDATE: f32 = 1000.0;
const OTHER: f32 = -1000.0;

/// What the policy decided on one page, for the trainer.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// The placed cards, best slot first.
    pub placed: Vec<u32>,
    /// Features of the page's candidates (what the next transition's target reads).
    pub candidate_features: Vec<Features>,
    /// Features of every item (row-major, [`FEATURES`] per item), so the clicked card's are
    /// known wherever on the page it was.
    all_features: Vec<f32>,
}

impl Decision {
    pub fn features_of(&self, item: u32) -> Option<Features> {
        let start = item as usize * FEATURES;
        self.all_features
            .get(start..start + FEATURES)
            .map(<[f32]>::to_vec)
    }
}

pub struct QPolicy {
    net: RwLock<QNet<Infer>>,
    /// Candidates considered per page.
    candidates: usize,
    /// Cards placed per page.
    slots: usize,
    /// While training: the exploration rate and its own generator (the simulated user's stream
    /// stays the same whatever the policy explores).
    exploration: Mutex<Option<(f64, ChaCha8Rng)>>,
    /// While training: the last page's decision.
    decision: Mutex<Option<Decision>>,
    recording: bool,
}

impl QPolicy {
    /// A policy that acts greedily on `net`.
    pub fn new(net: QNet<Infer>, candidates: usize, slots: usize) -> QPolicy {
        QPolicy {
            net: RwLock::new(net),
            candidates: candidates.max(1),
            slots: slots.max(1),
            exploration: Mutex::new(None),
            decision: Mutex::new(None),
            recording: false,
        }
    }

    /// A policy for training: it explores (rate set by [`QPolicy::set_epsilon`]) and records.
    pub fn training(net: QNet<Infer>, candidates: usize, slots: usize, seed: u64) -> QPolicy {
        QPolicy {
            exploration: Mutex::new(Some((0.0, ChaCha8Rng::seed_from_u64(seed)))),
            recording: true,
            ..QPolicy::new(net, candidates, slots)
        }
    }

    pub fn set_net(&self, net: QNet<Infer>) {
        // A poisoned lock only means another thread panicked mid-write of a whole value.
        *self.net.write().unwrap_or_else(PoisonError::into_inner) = net;
    }

    pub fn set_epsilon(&self, epsilon: f64) {
        if let Some((rate, _)) = self
            .exploration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            *rate = epsilon;
        }
    }

    /// The decision of the last page (recording policies only).
    pub fn take_decision(&self) -> Option<Decision> {
        self.decision
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The network's click chance and long-term value of `items` shown after this observation
    /// (any page's cards, for the Live preview's chart).
    pub fn assess(&self, observation: &Observation<'_>, items: &[u32]) -> Vec<(f32, f32)> {
        let context = FeatureContext::new(observation, self.candidates);
        let features: Vec<Features> = items.iter().map(|&i| context.features(i)).collect();
        self.assess_features(&features)
    }

    /// The network's click chance and long-term value of given feature rows.
    pub fn assess_features(&self, rows: &[Features]) -> Vec<(f32, f32)> {
        self.net
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .evaluate(rows, &Default::default())
    }

    pub fn as_page_values(self: &Arc<Self>) -> Arc<dyn PageValues> {
        Arc::clone(self) as Arc<dyn PageValues>
    }
}

impl PageValues for QPolicy {
    fn values(&self, observation: &Observation<'_>, out: &mut Vec<f32>) {
        let context = FeatureContext::new(observation, self.candidates);
        let features: Vec<Features> = context
            .candidates
            .iter()
            .map(|&i| context.features(i))
            .collect();
        let values = self.assess_features(&features);
        let placed: Vec<usize> = {
            let mut exploration = self
                .exploration
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match exploration.as_mut() {
                Some((epsilon, rng)) => arrange(&values, self.slots, *epsilon, rng),
                // Acting greedily draws nothing.
                None => arrange(&values, self.slots, 0.0, &mut ChaCha8Rng::seed_from_u64(0)),
            }
        };
        let scores = observation.scores;
        let (mean, spread) = mean_and_spread(scores);
        out.clear();
        out.extend(
            scores
                .iter()
                .map(|&s| OTHER + ((s - mean) / spread).clamp(-50.0, 50.0)),
        );
        for (k, &(p, q)) in values.iter().enumerate() {
            let item = context.candidates[k] as usize;
            out[item] = CANDIDATE + placement_value((p, q)).clamp(-500.0, 500.0);
        }
        for (slot, &k) in placed.iter().enumerate() {
            out[context.candidates[k] as usize] = PLACED - slot as f32;
        }
        if self.recording {
            let all_features: Vec<f32> = (0..scores.len() as u32)
                .flat_map(|i| context.features(i))
                .collect();
            *self.decision.lock().unwrap_or_else(PoisonError::into_inner) = Some(Decision {
                placed: placed.iter().map(|&k| context.candidates[k]).collect(),
                candidate_features: features,
                all_features,
            });
        }
    }
}

fn mean_and_spread(scores: &[f32]) -> (f32, f32) {
    let n = scores.len().max(1) as f32;
    let mean = scores.iter().sum::<f32>() / n;
    let variance = scores.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / n;
    (mean, variance.sqrt().max(1e-6))
}
