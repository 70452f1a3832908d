//! BPR-MF: matrix factorisation with user and item biases, `r(u, i) = q_u·p_i + b_u + b_i`,
//! trained with Bayesian Personalised Ranking (a met item should outscore an unmet one).
//!
//! Training is mini-batch SGD: each batch of (user, positive, negative) triples is drawn from a
//! seeded generator, the gradients' common factors are computed on rayon threads against the
//! parameters as they were at the start of the batch, and the updates are applied in batch order.
//! The result depends on the seed only, never on the number of threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Query, Recommender, training_sequences, with_scratch};
use crate::data::{Dataset, Split};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BprConfig {
    pub factors: usize,
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 regularisation of factors and biases.
    pub regularization: f32,
    /// Triples per mini-batch.
    pub batch_size: usize,
    pub seed: u64,
}

impl Default for BprConfig {
    fn default() -> Self {
        BprConfig {
            factors: 64,
            epochs: 30,
            learning_rate: 0.05,
            regularization: 0.0025,
            batch_size: 1024,
            seed: 42,
        }
    }
}

pub struct Bpr {
    factors: usize,
    num_items: usize,
    /// Row-major `users × factors`.
    user_factors: Vec<f32>,
    user_bias: Vec<f32>,
    /// Row-major `(num_items + 1) × factors`; row 0 (padding) stays zero.
    item_factors: Vec<f32>,
    item_bias: Vec<f32>,
}

impl Bpr {
    pub fn fit(dataset: &Dataset, split: &Split, config: &BprConfig) -> Bpr {
        let d = config.factors;
        let n = dataset.num_items() + 1;
        let users = dataset.num_users();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let init = |rng: &mut ChaCha8Rng, len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| (rng.random::<f32>() - 0.5) * 0.1)
                .collect()
        };
        let mut model = Bpr {
            factors: d,
            num_items: n - 1,
            user_factors: init(&mut rng, users * d),
            user_bias: vec![0.0; users],
            item_factors: init(&mut rng, n * d),
            item_bias: vec![0.0; n],
        };
        model.item_factors[..d].fill(0.0);

        let sequences = training_sequences(dataset, split);
        // Positive pairs, and each user's met items sorted for the negative check.
        let pairs: Vec<(u32, u32)> = sequences
            .iter()
            .enumerate()
            .flat_map(|(u, s)| s.iter().map(move |&i| (u as u32, i)))
            .collect();
        let seen: Vec<Vec<u32>> = sequences
            .iter()
            .map(|s| {
                let mut v = s.to_vec();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        if pairs.is_empty() {
            return model;
        }
        let (lr, reg) = (config.learning_rate, config.regularization);
        let batch_size = config.batch_size.max(1);
        let mut batch: Vec<(u32, u32, u32)> = Vec::with_capacity(batch_size);
        for _epoch in 0..config.epochs {
            for _ in 0..pairs.len().div_ceil(batch_size) {
                batch.clear();
                for _ in 0..batch_size {
                    let (u, i) = pairs[rng.random_range(0..pairs.len())];
                    // A user who met every item has no negative: skip the draw.
                    if seen[u as usize].len() + 1 >= n {
                        continue;
                    }
                    let j = loop {
                        let j = rng.random_range(1..n as u32);
                        if seen[u as usize].binary_search(&j).is_err() {
                            break j;
                        }
                    };
                    batch.push((u, i, j));
                }
                // d ln σ(x_uij) / d x_uij = σ(−x_uij), computed in parallel.
                let weights: Vec<f32> = batch
                    .par_iter()
                    .map(|&(u, i, j)| {
                        let x = model.raw_score(u as usize, i as usize)
                            - model.raw_score(u as usize, j as usize);
                        1.0 / (1.0 + x.exp())
                    })
                    .collect();
                for (&(u, i, j), &g) in batch.iter().zip(&weights) {
                    model.step(u as usize, i as usize, j as usize, g, lr, reg);
                }
            }
        }
        model
    }

    fn raw_score(&self, user: usize, item: usize) -> f32 {
        let d = self.factors;
        dot(
            &self.user_factors[user * d..(user + 1) * d],
            &self.item_factors[item * d..(item + 1) * d],
        ) + self.item_bias[item]
            + self.user_bias[user]
    }

    /// One ascent step on `ln σ(x_uij) − reg·‖θ‖²` with `g = σ(−x_uij)`. The user bias cancels
    /// in `x_uij`, so it never moves; it is kept for the model's stated form.
    fn step(&mut self, u: usize, i: usize, j: usize, g: f32, lr: f32, reg: f32) {
        let d = self.factors;
        for f in 0..d {
            let qu = self.user_factors[u * d + f];
            let pi = self.item_factors[i * d + f];
            let pj = self.item_factors[j * d + f];
            self.user_factors[u * d + f] += lr * (g * (pi - pj) - reg * qu);
            self.item_factors[i * d + f] += lr * (g * qu - reg * pi);
            self.item_factors[j * d + f] += lr * (-g * qu - reg * pj);
        }
        self.item_bias[i] += lr * (g - reg * self.item_bias[i]);
        self.item_bias[j] += lr * (-g - reg * self.item_bias[j]);
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Recommender for Bpr {
    fn name(&self) -> &str {
        "BPR-MF"
    }

    fn num_items(&self) -> usize {
        self.num_items
    }

    /// A known user is scored with its learned factors; an unknown one (a simulated user) with
    /// the mean factors of its history's items (fold-in), or by item bias alone without history.
    fn score(&self, query: Query<'_>, scores: &mut [f32]) {
        let d = self.factors;
        let user = query
            .user
            .map(|u| u as usize)
            .filter(|&u| u < self.user_bias.len());
        with_scratch(d, |profile| {
            let bias = match user {
                Some(u) => {
                    profile.copy_from_slice(&self.user_factors[u * d..(u + 1) * d]);
                    self.user_bias[u]
                }
                None => {
                    let h = query.history.len().max(1) as f32;
                    for &k in query.history {
                        let row = &self.item_factors[k as usize * d..(k as usize + 1) * d];
                        profile.iter_mut().zip(row).for_each(|(p, x)| *p += x / h);
                    }
                    0.0
                }
            };
            for (item, score) in scores.iter_mut().enumerate() {
                *score = dot(profile, &self.item_factors[item * d..(item + 1) * d])
                    + self.item_bias[item]
                    + bias;
            }
        });
    }
}
