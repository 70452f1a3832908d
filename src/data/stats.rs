//! Descriptive statistics of a dataset.

use serde::{Deserialize, Serialize};

use super::dataset::Dataset;

/// A histogram with equal-width bins starting at `start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub start: f64,
    pub bin_width: f64,
    pub counts: Vec<u64>,
}

/// What the data panel and `reclab data stats` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetStats {
    pub name: String,
    pub format: String,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    pub categories: usize,
    /// interactions / (users × items).
    pub density: f64,
    pub avg_seq_len: f64,
    pub min_seq_len: usize,
    pub median_seq_len: f64,
    pub max_seq_len: usize,
    /// Gini index of item interaction counts (0 = all items equally popular, →1 = one item
    /// takes everything).
    pub item_gini: f64,
    /// Share of interactions that go to the most popular 20% of items.
    pub top20_item_share: f64,
    /// Interaction count per item, most popular first (the long tail).
    pub item_popularity: Vec<u32>,
    pub seq_len_histogram: Histogram,
    /// Interactions over time (Unix seconds when the source has timestamps).
    pub interactions_over_time: Histogram,
    pub first_timestamp: f64,
    pub last_timestamp: f64,
}

/// Gini index of non-negative values: `Σ (2i − n − 1) x_(i) / (n Σ x)` over the values sorted
/// ascending, `i` from 1.
pub fn gini(values: &[f64]) -> f64 {
    let n = values.len();
    let total: f64 = values.iter().sum();
    if n == 0 || total <= 0.0 {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, x)| (2.0 * (i + 1) as f64 - n as f64 - 1.0) * x)
        .sum();
    weighted / (n as f64 * total)
}

fn histogram(values: impl Iterator<Item = f64> + Clone, bins: usize) -> Histogram {
    let (lo, hi) = values
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return Histogram {
            start: 0.0,
            bin_width: 1.0,
            counts: Vec::new(),
        };
    }
    let width = ((hi - lo) / bins as f64).max(f64::MIN_POSITIVE);
    let mut counts = vec![0u64; bins];
    for v in values {
        let bin = (((v - lo) / width) as usize).min(bins - 1);
        counts[bin] += 1;
    }
    Histogram {
        start: lo,
        bin_width: width,
        counts,
    }
}

impl DatasetStats {
    pub fn of(dataset: &Dataset) -> DatasetStats {
        let users = dataset.num_users();
        let items = dataset.num_items();
        let interactions = dataset.num_interactions();
        let mut lengths: Vec<usize> = (0..users).map(|u| dataset.sequence(u).len()).collect();
        lengths.sort_unstable();
        let median = match lengths.len() {
            0 => 0.0,
            n if n % 2 == 1 => lengths[n / 2] as f64,
            n => (lengths[n / 2 - 1] + lengths[n / 2]) as f64 / 2.0,
        };
        let mut popularity: Vec<u32> = dataset.item_counts().into_iter().skip(1).collect();
        popularity.sort_unstable_by(|a, b| b.cmp(a));
        let counts: Vec<f64> = popularity.iter().map(|&c| c as f64).collect();
        let top = (items as f64 * 0.2).ceil() as usize;
        let top_share = if interactions == 0 {
            0.0
        } else {
            counts.iter().take(top).sum::<f64>() / interactions as f64
        };
        let times = dataset.all_timestamps();
        let (first, last) = times
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| {
                (lo.min(t), hi.max(t))
            });
        let max_len = lengths.last().copied().unwrap_or(0);
        DatasetStats {
            name: dataset.name.clone(),
            format: dataset.format.to_string(),
            users,
            items,
            interactions,
            categories: dataset.category_names.len(),
            density: if users * items == 0 {
                0.0
            } else {
                interactions as f64 / (users as f64 * items as f64)
            },
            avg_seq_len: if users == 0 {
                0.0
            } else {
                interactions as f64 / users as f64
            },
            min_seq_len: lengths.first().copied().unwrap_or(0),
            median_seq_len: median,
            max_seq_len: max_len,
            item_gini: gini(&counts),
            top20_item_share: top_share,
            item_popularity: popularity,
            seq_len_histogram: histogram(lengths.iter().map(|&l| l as f64), 30.min(max_len.max(1))),
            interactions_over_time: histogram(times.iter().copied(), 50),
            first_timestamp: if first.is_finite() { first } else { 0.0 },
            last_timestamp: if last.is_finite() { last } else { 0.0 },
        }
    }

    /// A plain-text summary for the terminal.
    pub fn summary(&self) -> String {
        format!(
            "dataset      {} ({})\n\
             users        {}\n\
             items        {}\n\
             interactions {}\n\
             categories   {}\n\
             density      {:.4}%\n\
             seq length   avg {:.1}, min {}, median {:.1}, max {}\n\
             item Gini    {:.3} (top 20% of items take {:.1}% of interactions)",
            self.name,
            self.format,
            self.users,
            self.items,
            self.interactions,
            self.categories,
            self.density * 100.0,
            self.avg_seq_len,
            self.min_seq_len,
            self.median_seq_len,
            self.max_seq_len,
            self.item_gini,
            self.top20_item_share * 100.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_matches_hand_computed_values() {
        assert_eq!(gini(&[5.0, 5.0, 5.0, 5.0]), 0.0);
        // [0, 0, 0, 4]: (2·4 − 4 − 1)·4 / (4·4) = 12/16.
        assert!((gini(&[0.0, 4.0, 0.0, 0.0]) - 0.75).abs() < 1e-12);
        // [1, 2, 3]: ((−2)·1 + 0·2 + 2·3) / (3·6) = 4/18.
        assert!((gini(&[3.0, 1.0, 2.0]) - 4.0 / 18.0).abs() < 1e-12);
    }

    #[test]
    fn histogram_puts_the_maximum_in_the_last_bin() {
        let h = histogram([0.0, 1.0, 2.0, 10.0].into_iter(), 5);
        assert_eq!(h.counts, vec![2, 1, 0, 0, 1]);
        assert_eq!(h.start, 0.0);
        assert_eq!(h.bin_width, 2.0);
    }
}
