//! ItemKNN: item-item cosine similarity over the binary user–item matrix of the training split.
//!
//! `sim(i, j) = |U_i ∩ U_j| / (sqrt|U_i| · sqrt|U_j| + shrink)`, where `U_i` is the set of
//! training users who met item `i`. Each item `j` keeps its `neighbours` most similar items, as
//! RecBole's ItemKNN does, and a history scores `j` with the sum of the similarities of its items
//! among those neighbours (an item met twice counts twice).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::topk::top_k_among;
use super::{Query, Recommender, training_sequences};
use crate::data::{Dataset, Split};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ItemKnnConfig {
    /// Neighbours kept per item.
    pub neighbours: usize,
    /// Shrinkage added to the cosine's denominator (damps similarities from few users).
    pub shrink: f32,
}

impl Default for ItemKnnConfig {
    fn default() -> Self {
        ItemKnnConfig {
            neighbours: 100,
            shrink: 0.0,
        }
    }
}

pub struct ItemKnn {
    num_items: usize,
    /// For each item `i`, the items `j` that keep `i` as a neighbour, with `sim(i, j)`:
    /// `targets[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    targets: Vec<(u32, f32)>,
}

impl ItemKnn {
    pub fn fit(dataset: &Dataset, split: &Split, config: &ItemKnnConfig) -> ItemKnn {
        let n = dataset.num_items() + 1;
        // Distinct training items per user, and distinct users per item.
        let user_items: Vec<Vec<u32>> = training_sequences(dataset, split)
            .into_par_iter()
            .map(|sequence| {
                let mut items = sequence.to_vec();
                items.sort_unstable();
                items.dedup();
                items
            })
            .collect();
        let mut item_users: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (user, items) in user_items.iter().enumerate() {
            for &item in items {
                item_users[item as usize].push(user as u32);
            }
        }
        let norms: Vec<f32> = item_users.iter().map(|u| (u.len() as f32).sqrt()).collect();

        // The neighbours of each item, computed from co-occurrence counts in a dense per-thread
        // buffer (linear in the catalogue, no hashing).
        let neighbours: Vec<Vec<(u32, f32)>> = (0..n)
            .into_par_iter()
            .map_init(
                || (vec![0u32; n], vec![0.0f32; n], Vec::new()),
                |(counts, sims, touched), j| {
                    if j == 0 || item_users[j].is_empty() {
                        return Vec::new();
                    }
                    touched.clear();
                    for &user in &item_users[j] {
                        for &i in &user_items[user as usize] {
                            if i as usize != j {
                                if counts[i as usize] == 0 {
                                    touched.push(i);
                                }
                                counts[i as usize] += 1;
                            }
                        }
                    }
                    sims.fill(f32::NEG_INFINITY);
                    for &i in touched.iter() {
                        let i = i as usize;
                        sims[i] = counts[i] as f32 / (norms[i] * norms[j] + config.shrink);
                        counts[i] = 0;
                    }
                    // The same deterministic order as recommendations: ties to the lower index.
                    let best = top_k_among(sims, &[], &[], Some(touched), config.neighbours)
                        .unwrap_or_default();
                    best.into_iter().map(|i| (i, sims[i as usize])).collect()
                },
            )
            .collect();

        // Invert: for each item i, who keeps it as a neighbour.
        let mut degree = vec![0usize; n + 1];
        for list in &neighbours {
            for &(i, _) in list {
                degree[i as usize + 1] += 1;
            }
        }
        let mut offsets = degree;
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![(0u32, 0.0f32); offsets[n]];
        for (j, list) in neighbours.iter().enumerate() {
            for &(i, sim) in list {
                targets[fill[i as usize]] = (j as u32, sim);
                fill[i as usize] += 1;
            }
        }
        ItemKnn {
            num_items: n - 1,
            offsets,
            targets,
        }
    }

    /// `sim(i, j)` if `i` is among `j`'s kept neighbours.
    pub fn similarity(&self, i: u32, j: u32) -> Option<f32> {
        let i = i as usize;
        self.targets[self.offsets[i]..self.offsets[i + 1]]
            .iter()
            .find(|(target, _)| *target == j)
            .map(|&(_, sim)| sim)
    }
}

impl Recommender for ItemKnn {
    fn name(&self) -> &str {
        "ItemKNN"
    }

    fn num_items(&self) -> usize {
        self.num_items
    }

    fn score(&self, query: Query<'_>, scores: &mut [f32]) {
        scores.fill(0.0);
        for &item in query.history {
            let item = item as usize;
            for &(target, sim) in &self.targets[self.offsets[item]..self.offsets[item + 1]] {
                scores[target as usize] += sim;
            }
        }
    }
}
