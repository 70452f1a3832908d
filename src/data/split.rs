//! Train / validation / test splits of every user's sequence.
//!
//! A split cuts each user's time-ordered sequence at two points `a <= b`: train is `[0, a)`,
//! validation `[a, b)`, test `[b, len)`. Both kinds of split are such cuts, so every user's
//! interactions are always partitioned, in order.

use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::error::{DataError, Result};

/// How to split.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SplitStrategy {
    /// The last interaction of each user is the test target, the one before it the validation
    /// target, the rest is training (the usual protocol for sequential recommendation). A user
    /// with 2 interactions has no validation target; a user with 1 has only training.
    #[default]
    LeaveOneOut,
    /// One global cut in time: the earliest `train` share of all interactions trains, the next
    /// `valid` share validates, the rest tests. Cuts are at timestamps, so one moment never
    /// falls on both sides.
    Temporal { train: f64, valid: f64 },
    /// Cold start: the latest-appearing `share` of items (by their first interaction; ties to
    /// the higher item index) are kept out of training entirely. Cuts are leave-one-out's, but
    /// a user's training part also ends before their first cold item, so a cold item is never
    /// trained on; whatever lies between that and the test target validates. Test targets are
    /// then reported apart as `cold` and `warm`.
    ColdItems { share: f64 },
}

impl SplitStrategy {
    /// A short label: `loo`, `temporal:0.8/0.1`, `cold-items:0.1`.
    pub fn label(&self) -> String {
        match self {
            SplitStrategy::LeaveOneOut => "loo".into(),
            SplitStrategy::Temporal { train, valid } => format!("temporal:{train}/{valid}"),
            SplitStrategy::ColdItems { share } => format!("cold-items:{share}"),
        }
    }
}

/// Each user's last interaction tests, the one before validates.
fn leave_one_out(dataset: &Dataset) -> Vec<(u32, u32)> {
    (0..dataset.num_users())
        .map(|u| {
            let n = dataset.sequence(u).len() as u32;
            match n {
                0 | 1 => (n, n),
                2 => (1, 1),
                _ => (n - 2, n - 1),
            }
        })
        .collect()
}

/// Marks the `share` of items whose first interaction is latest (ties: the higher index is
/// later), indexed by item; at least one item.
fn latest_items(dataset: &Dataset, share: f64) -> Vec<bool> {
    let n = dataset.num_items();
    let mut first_seen = vec![f64::INFINITY; n + 1];
    for u in 0..dataset.num_users() {
        for (&item, &t) in dataset.sequence(u).iter().zip(dataset.timestamps(u)) {
            let seen = &mut first_seen[item as usize];
            *seen = seen.min(t);
        }
    }
    let mut order: Vec<u32> = (1..=n as u32).collect();
    order.sort_by(|&a, &b| {
        first_seen[a as usize]
            .total_cmp(&first_seen[b as usize])
            .then(a.cmp(&b))
    });
    let count = ((share * n as f64).round() as usize).clamp(1, n);
    let mut cold = vec![false; n + 1];
    for &item in &order[n - count..] {
        cold[item as usize] = true;
    }
    cold
}

/// Cut points per user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub strategy: SplitStrategy,
    cuts: Vec<(u32, u32)>,
    /// Per item index: kept out of training (cold-items split only; empty otherwise).
    #[serde(default)]
    cold: Vec<bool>,
}

impl Split {
    pub fn new(dataset: &Dataset, strategy: SplitStrategy) -> Result<Split> {
        let mut cold = Vec::new();
        let cuts = match strategy {
            SplitStrategy::LeaveOneOut => leave_one_out(dataset),
            SplitStrategy::ColdItems { share } => {
                if !(share > 0.0 && share < 1.0) {
                    return Err(DataError::Config(format!(
                        "the cold-items share must be between 0 and 1, exclusive (got {share})"
                    )));
                }
                cold = latest_items(dataset, share);
                leave_one_out(dataset)
                    .into_iter()
                    .enumerate()
                    .map(|(u, (a, b))| {
                        let first_cold = dataset
                            .sequence(u)
                            .iter()
                            .position(|&i| cold[i as usize])
                            .map_or(a, |p| p as u32);
                        (a.min(first_cold), b)
                    })
                    .collect()
            }
            SplitStrategy::Temporal { train, valid } => {
                if !(train > 0.0 && valid >= 0.0 && train + valid <= 1.0) {
                    return Err(DataError::Config(format!(
                        "temporal split shares must satisfy 0 < train, 0 <= valid, train + valid <= 1 (got train {train}, valid {valid})"
                    )));
                }
                let mut times = dataset.all_timestamps().to_vec();
                times.sort_by(f64::total_cmp);
                let at = |share: f64| -> f64 {
                    let index = ((share * times.len() as f64).ceil() as usize).min(times.len());
                    times.get(index).copied().unwrap_or(f64::INFINITY)
                };
                let (t_valid, t_test) = (at(train), at(train + valid));
                (0..dataset.num_users())
                    .map(|u| {
                        let ts = dataset.timestamps(u);
                        let a = ts.partition_point(|&t| t < t_valid) as u32;
                        let b = ts.partition_point(|&t| t < t_test) as u32;
                        (a, b)
                    })
                    .collect()
            }
        };
        Ok(Split {
            strategy,
            cuts,
            cold,
        })
    }

    /// Whether an item was kept out of training (cold-items split).
    pub fn is_cold(&self, item: u32) -> bool {
        self.cold.get(item as usize).copied().unwrap_or(false)
    }

    /// How many items were kept out of training.
    pub fn cold_items(&self) -> usize {
        self.cold.iter().filter(|&&c| c).count()
    }

    /// The training part of a user's sequence.
    pub fn train<'a>(&self, dataset: &'a Dataset, user: usize) -> &'a [u32] {
        &dataset.sequence(user)[..self.cuts[user].0 as usize]
    }

    /// The validation part (one item under leave-one-out, possibly none).
    pub fn valid<'a>(&self, dataset: &'a Dataset, user: usize) -> &'a [u32] {
        let (a, b) = self.cuts[user];
        &dataset.sequence(user)[a as usize..b as usize]
    }

    /// The test part (one item under leave-one-out, possibly none).
    pub fn test<'a>(&self, dataset: &'a Dataset, user: usize) -> &'a [u32] {
        &dataset.sequence(user)[self.cuts[user].1 as usize..]
    }

    /// Everything before the test part: the history a model sees when it is tested.
    pub fn before_test<'a>(&self, dataset: &'a Dataset, user: usize) -> &'a [u32] {
        &dataset.sequence(user)[..self.cuts[user].1 as usize]
    }

    /// The positions of the three parts in a user's sequence: train, validation, test.
    pub fn ranges(&self, dataset: &Dataset, user: usize) -> [std::ops::Range<usize>; 3] {
        let (a, b) = (self.cuts[user].0 as usize, self.cuts[user].1 as usize);
        [0..a, a..b, b..dataset.sequence(user).len()]
    }

    /// Interactions in each part: (train, valid, test).
    pub fn sizes(&self, dataset: &Dataset) -> (usize, usize, usize) {
        self.cuts
            .iter()
            .enumerate()
            .fold((0, 0, 0), |(tr, va, te), (u, &(a, b))| {
                let n = dataset.sequence(u).len();
                (tr + a as usize, va + (b - a) as usize, te + n - b as usize)
            })
    }
}
