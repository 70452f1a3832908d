//! Q-learning with SlateQ's decomposition (Ie et al., 2019): a page's value is the sum over its
//! cards of the chance the user clicks the card times `Q̄`, the discounted return that follows
//! such a click. One network gives both (see [`QNet`]); the click head learns from every card the
//! policy placed (clicked or not), `Q̄` from the clicked card by a temporal-difference target
//! against a lagging copy (the target network), over transitions drawn from a bounded replay.
//!
//! A page without a click is valued 0 (`Q̄(⊥) = 0`), as if it ended the session: pessimistic,
//! which makes the learner favour pages that keep the user clicking. Pages are filled by
//! SlateQ's top-K rule: the candidates with the highest `P(click) · Q̄`, in that order, one slot
//! at a time, each slot explored with probability ε.

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::network::{CLICK, QNet, VALUE};
use super::replay::{Features, Replay, Transition};

/// The backend the learner trains on (the CPU: the network is far too small for a GPU to pay).
pub type Train = burn::backend::Autodiff<burn::backend::Flex>;
/// The backend a trained policy runs on.
pub type Infer = burn::backend::Flex;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LearnerConfig {
    /// Units per hidden layer.
    pub hidden: usize,
    /// Discount per page: 0 is a myopic learner that values a click by its reward alone.
    pub gamma: f64,
    pub learning_rate: f64,
    /// Transitions per update.
    pub batch: usize,
    /// Transitions the replay holds at most.
    pub replay: usize,
    /// Updates between copies of the online network into the target network.
    pub target_sync: usize,
    /// Cards the policy places on a page (the hero and the top picks).
    pub slots: usize,
}

impl Default for LearnerConfig {
    fn default() -> Self {
        LearnerConfig {
            hidden: 64,
            gamma: 0.9,
            learning_rate: 1e-3,
            batch: 32,
            replay: 20_000,
            target_sync: 200,
            slots: 7,
        }
    }
}

pub struct Learner {
    config: LearnerConfig,
    online: QNet<Train>,
    target: QNet<Infer>,
    optimizer: OptimizerAdaptor<Adam, QNet<Train>, Train>,
    replay: Replay,
    rng: ChaCha8Rng,
    updates: usize,
    device: burn::tensor::Device<Train>,
}

impl Learner {
    /// A learner for candidates of `inputs` features; `seed` fixes the initial weights and every
    /// replay draw.
    pub fn new(inputs: usize, config: LearnerConfig, seed: u64) -> Learner {
        let device = Default::default();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let online = QNet::<Train>::new(inputs, config.hidden, &mut rng, &device);
        let target = online.valid();
        Learner {
            replay: Replay::new(config.replay),
            optimizer: AdamConfig::new().init(),
            config,
            online,
            target,
            rng,
            updates: 0,
            device,
        }
    }

    pub fn config(&self) -> &LearnerConfig {
        &self.config
    }

    /// The current policy network, for acting.
    pub fn policy(&self) -> QNet<Infer> {
        self.online.valid()
    }

    /// The lagging copy the targets are computed with.
    pub fn target(&self) -> &QNet<Infer> {
        &self.target
    }

    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    pub fn updates(&self) -> usize {
        self.updates
    }

    pub fn remember(&mut self, transition: Transition) {
        self.replay.push(transition);
    }

    /// One gradient step on a batch from the replay (none until it holds a batch); returns the
    /// loss. The target network is refreshed every `target_sync` updates.
    pub fn update(&mut self) -> Option<f32> {
        if self.replay.len() < self.config.batch {
            return None;
        }
        let batch: Vec<Transition> = self
            .replay
            .sample(self.config.batch, &mut self.rng)
            .into_iter()
            .cloned()
            .collect();
        let device = Default::default();
        let mut rows: Vec<&Features> = Vec::new();
        let mut labels: Vec<f32> = Vec::new();
        for t in &batch {
            rows.extend(t.shown.iter());
            labels.extend(t.shown_clicked.iter().map(|&c| f32::from(u8::from(c))));
        }
        let shown = rows.len();
        let mut targets: Vec<f32> = Vec::new();
        for t in &batch {
            if let Some((features, reward)) = &t.clicked {
                let next = self.target.evaluate(&t.next, &device);
                let future = page_value(&next, self.config.slots);
                targets.push(reward + self.config.gamma as f32 * future);
                rows.push(features);
            }
        }
        let width = rows.first().map_or(0, |r| r.len());
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        let input =
            Tensor::<Train, 2>::from_data(TensorData::new(flat, [rows.len(), width]), &self.device);
        let out = self.online.forward(input);
        let logits = out
            .clone()
            .slice([0..shown, CLICK..CLICK + 1])
            .reshape([shown]);
        let y = Tensor::<Train, 1>::from_data(TensorData::new(labels, [shown]), &self.device);
        // Binary cross-entropy on logits, in the stable form relu(l) − l·y + ln(1 + e^−|l|).
        let click_loss = (burn::tensor::activation::relu(logits.clone()) - logits.clone() * y
            + logits.abs().neg().exp().add_scalar(1.0).log())
        .mean();
        let mut loss = click_loss;
        if !targets.is_empty() {
            let n = targets.len();
            let q = out.slice([shown..shown + n, VALUE..VALUE + 1]).reshape([n]);
            let target = Tensor::<Train, 1>::from_data(TensorData::new(targets, [n]), &self.device);
            loss = loss + (q - target).powi_scalar(2).mean();
        }
        let value = loss.clone().into_scalar();
        let grads = GradientsParams::from_grads(loss.backward(), &self.online);
        self.online = self
            .optimizer
            .step(self.config.learning_rate, self.online.clone(), grads);
        self.updates += 1;
        if self.updates.is_multiple_of(self.config.target_sync.max(1)) {
            self.target = self.online.valid();
        }
        Some(value)
    }
}

/// The value by which a card is placed: `P(click) · Q̄`.
pub fn placement_value((click, value): (f32, f32)) -> f32 {
    click * value
}

/// The candidates for `slots` slots, best slot first: each slot takes the best remaining
/// candidate by [`placement_value`], or with probability `epsilon` a random remaining one.
pub fn arrange(
    values: &[(f32, f32)],
    slots: usize,
    epsilon: f64,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let mut left: Vec<usize> = (0..values.len()).collect();
    // Best first; ties by index, so an order never depends on anything but the values.
    left.sort_by(|&a, &b| {
        placement_value(values[b])
            .total_cmp(&placement_value(values[a]))
            .then(a.cmp(&b))
    });
    let mut chosen = Vec::with_capacity(slots.min(left.len()));
    while chosen.len() < slots && !left.is_empty() {
        let k = if epsilon > 0.0 && rng.random::<f64>() < epsilon {
            rng.random_range(0..left.len())
        } else {
            0
        };
        chosen.push(left.remove(k));
    }
    chosen
}

/// A page's value under the top-K rule: the best `slots` cards, each weighted by its click
/// probability (scaled down so the page's probabilities sum to at most 1).
pub fn page_value(values: &[(f32, f32)], slots: usize) -> f32 {
    let mut best: Vec<(f32, f32)> = values.to_vec();
    best.sort_by(|a, b| placement_value(*b).total_cmp(&placement_value(*a)));
    best.truncate(slots);
    let mass: f32 = best.iter().map(|(p, _)| p).sum();
    let scale = 1.0 / mass.max(1.0);
    best.iter().map(|(p, q)| p * scale * q).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A world whose best long-term page is known by hand. Every page offers two cards, one
    /// slot; the user clicks whatever is shown. A *staple* pays 0.5 and the session goes on
    /// (10 pages at most); the *bait* pays 1 and the user, sated, leaves. With γ = 0.9:
    /// Q(bait) = 1; on the last page Q(staple) = 0.5 < 1, so the bait; before it Q(staple) =
    /// 0.5 + 0.9 · 1 = 1.4 > 1, and so on back: staples for 9 pages, then the bait — a return of
    /// 9 · 0.5 + 1 = 5.5. A myopic policy takes the bait at once: a return of 1.
    struct BaitOrStaple {
        page: usize,
    }

    const PAGES: usize = 10;

    impl BaitOrStaple {
        /// [is bait, is staple, page / PAGES, 1].
        fn candidates(&self) -> Vec<Features> {
            let t = self.page as f32 / PAGES as f32;
            vec![vec![1.0, 0.0, t, 1.0], vec![0.0, 1.0, t, 1.0]]
        }

        /// Shows candidate `k`: its reward, and whether the session ended.
        fn show(&mut self, k: usize) -> (f32, bool) {
            self.page += 1;
            if k == 0 {
                (1.0, true)
            } else {
                (0.5, self.page >= PAGES)
            }
        }
    }

    fn episode(learner: &mut Learner, epsilon: f64, rng: &mut ChaCha8Rng, learn: bool) -> f32 {
        let mut world = BaitOrStaple { page: 0 };
        let mut total = 0.0;
        loop {
            let candidates = world.candidates();
            let values = learner.policy().evaluate(&candidates, &Default::default());
            let k = arrange(&values, 1, epsilon, rng)[0];
            let (reward, done) = world.show(k);
            total += reward;
            if learn {
                let next = if done { Vec::new() } else { world.candidates() };
                learner.remember(Transition {
                    shown: vec![candidates[k].clone()],
                    shown_clicked: vec![true],
                    clicked: Some((candidates[k].clone(), reward)),
                    next,
                });
                learner.update();
            }
            if done {
                return total;
            }
        }
    }

    fn trained(gamma: f64, seed: u64) -> (Learner, Vec<f32>) {
        let config = LearnerConfig {
            hidden: 32,
            gamma,
            learning_rate: 3e-3,
            batch: 16,
            replay: 2_000,
            target_sync: 50,
            slots: 1,
        };
        let mut learner = Learner::new(4, config, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let episodes = 1000;
        let returns = (0..episodes)
            .map(|e| {
                let epsilon = (1.0 - e as f64 / (0.5 * episodes as f64)).max(0.05);
                episode(&mut learner, epsilon, &mut rng, true)
            })
            .collect();
        (learner, returns)
    }

    #[test]
    fn the_learner_finds_the_long_term_optimum_that_a_myopic_learner_misses() {
        let (mut learner, _) = trained(0.9, 7);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let greedy = episode(&mut learner, 0.0, &mut rng, false);
        assert_eq!(greedy, 5.5, "staples for 9 pages, then the bait");
        let (mut myopic, _) = trained(0.0, 7);
        assert_eq!(episode(&mut myopic, 0.0, &mut rng, false), 1.0);
    }

    #[test]
    fn a_seed_repeats_the_run_and_another_seed_differs() {
        let (_, a) = trained(0.9, 11);
        let (_, b) = trained(0.9, 11);
        assert_eq!(a, b);
        let (_, c) = trained(0.9, 12);
        assert_ne!(a, c);
    }

    #[test]
    fn the_target_network_lags_the_online_one_until_its_sync() {
        let config = LearnerConfig {
            batch: 2,
            target_sync: 5,
            slots: 1,
            ..LearnerConfig::default()
        };
        let mut learner = Learner::new(4, config, 3);
        for k in 0..4 {
            learner.remember(Transition {
                shown: vec![vec![1.0, 0.0, k as f32, 1.0]],
                shown_clicked: vec![k % 2 == 0],
                clicked: Some((vec![1.0, 0.0, k as f32, 1.0], 1.0)),
                next: vec![vec![0.0, 1.0, 0.5, 1.0]],
            });
        }
        let probe = vec![vec![0.3, 0.7, 0.2, 1.0]];
        let device = Default::default();
        let at_start = learner.target().evaluate(&probe, &device);
        for _ in 0..4 {
            learner.update();
        }
        // Four updates: the online network moved, the target did not.
        assert_eq!(learner.target().evaluate(&probe, &device), at_start);
        assert_ne!(learner.policy().evaluate(&probe, &device), at_start);
        learner.update();
        // The fifth copies the online network.
        assert_eq!(
            learner.target().evaluate(&probe, &device),
            learner.policy().evaluate(&probe, &device)
        );
        assert_ne!(learner.target().evaluate(&probe, &device), at_start);
    }

    #[test]
    fn pages_are_filled_best_first_and_valued_by_click_chance_times_value() {
        let values = [(0.5, 2.0), (0.9, 2.0), (0.1, 10.0), (1.0, 0.5)];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // By hand: placement values 1.0, 1.8, 1.0, 0.5; ties by index.
        assert_eq!(arrange(&values, 3, 0.0, &mut rng), vec![1, 0, 2]);
        // The best two: click mass 1.4, scaled to 1: (0.9·2 + 0.5·2) / 1.4 = 2.
        assert!((page_value(&values, 2) - 2.0).abs() < 1e-6);
        // One slot: 0.9 · 2, no scaling below a mass of 1.
        assert!((page_value(&values, 1) - 1.8).abs() < 1e-6);
        assert_eq!(page_value(&[], 3), 0.0);
        // Always exploring still fills every slot once.
        let mut explored = arrange(&values, 4, 1.0, &mut rng);
        explored.sort();
        assert_eq!(explored, vec![0, 1, 2, 3]);
    }
}
