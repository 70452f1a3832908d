//! Ranking metrics of one user's list, and beyond-accuracy metrics of everyone's lists.
//!
//! Definitions follow RecBole. For a user with target set `T` and recommended list `L` cut at
//! `K` (positions `p` from 1):
//! - `hit@K = 1` if any target is in `L@K`;
//! - `recall@K = |L@K ∩ T| / |T|` (so under leave-one-out, with one target, `recall = hit`);
//! - `precision@K = |L@K ∩ T| / K` (K, not the list's length, even when the catalogue is smaller);
//! - `ndcg@K = Σ_{p: L_p ∈ T} 1/log2(p + 1)` divided by its ideal `Σ_{p ≤ min(|T|, K)} 1/log2(p + 1)`;
//! - `mrr@K = 1/p` of the first target in `L@K`, else 0;
//! - `map@K = Σ_{p: L_p ∈ T} precision@p / min(|T|, K)`.

use serde::{Deserialize, Serialize};

use crate::data::stats::gini;

/// The names of the ranking metrics, in table order.
pub const RANKING_METRICS: [&str; 6] = ["hit", "recall", "precision", "ndcg", "mrr", "map"];

/// One user's ranking metrics at one cut-off, in the order of [`RANKING_METRICS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    pub hit: f64,
    pub recall: f64,
    pub precision: f64,
    pub ndcg: f64,
    pub mrr: f64,
    pub map: f64,
}

impl RankingMetrics {
    /// Metrics of `list` (best first) against `targets` (distinct items), cut at `k`.
    pub fn of(list: &[u32], targets: &[u32], k: usize) -> RankingMetrics {
        if targets.is_empty() || k == 0 {
            return RankingMetrics::default();
        }
        let mut m = RankingMetrics::default();
        let mut hits = 0usize;
        let mut precision_sum = 0.0;
        for (index, item) in list.iter().take(k).enumerate() {
            if targets.contains(item) {
                let position = index + 1;
                hits += 1;
                if hits == 1 {
                    m.mrr = 1.0 / position as f64;
                }
                m.ndcg += discount(position);
                precision_sum += hits as f64 / position as f64;
            }
        }
        let ideal: f64 = (1..=targets.len().min(k)).map(discount).sum();
        m.hit = if hits > 0 { 1.0 } else { 0.0 };
        m.recall = hits as f64 / targets.len() as f64;
        m.precision = hits as f64 / k as f64;
        m.ndcg /= ideal;
        m.map = precision_sum / targets.len().min(k) as f64;
        m
    }

    /// The same metrics from where the targets sat in the list: `ranks` holds each target's
    /// 1-based position, 0 for a target not in the list (what the per-user results file keeps).
    pub fn of_ranks(ranks: &[u32], k: usize) -> RankingMetrics {
        if ranks.is_empty() || k == 0 {
            return RankingMetrics::default();
        }
        let mut positions: Vec<usize> = ranks
            .iter()
            .map(|&r| r as usize)
            .filter(|&r| r >= 1 && r <= k)
            .collect();
        positions.sort_unstable();
        let mut m = RankingMetrics::default();
        let mut precision_sum = 0.0;
        for (hits, &position) in positions.iter().enumerate() {
            if hits == 0 {
                m.mrr = 1.0 / position as f64;
            }
            m.ndcg += discount(position);
            precision_sum += (hits + 1) as f64 / position as f64;
        }
        let hits = positions.len();
        let ideal: f64 = (1..=ranks.len().min(k)).map(discount).sum();
        m.hit = if hits > 0 { 1.0 } else { 0.0 };
        m.recall = hits as f64 / ranks.len() as f64;
        m.precision = hits as f64 / k as f64;
        m.ndcg /= ideal;
        m.map = precision_sum / ranks.len().min(k) as f64;
        m
    }

    /// The metric named `name` (one of [`RANKING_METRICS`]).
    pub fn get(&self, name: &str) -> Option<f64> {
        RANKING_METRICS
            .iter()
            .position(|m| *m == name)
            .map(|i| self.values()[i])
    }

    pub fn values(&self) -> [f64; 6] {
        [
            self.hit,
            self.recall,
            self.precision,
            self.ndcg,
            self.mrr,
            self.map,
        ]
    }

    pub fn add(&mut self, other: &RankingMetrics) {
        self.hit += other.hit;
        self.recall += other.recall;
        self.precision += other.precision;
        self.ndcg += other.ndcg;
        self.mrr += other.mrr;
        self.map += other.map;
    }
}

fn discount(position: usize) -> f64 {
    1.0 / ((position + 1) as f64).log2()
}

/// Beyond-accuracy metrics of all users' lists at one cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BeyondAccuracy {
    /// Share of the catalogue recommended to at least one user.
    pub item_coverage: f64,
    /// Gini index of how often each catalogue item is recommended (0 even, 1 concentrated).
    pub gini: f64,
    /// Mean training popularity (interaction count) of recommended items; lower is more novel.
    pub avg_popularity: f64,
    /// Mean share of a list taken by long-tail items: all but the 20% most popular in training.
    pub tail_share: f64,
    /// Shannon entropy (nats) of the distribution of recommendations over items.
    pub entropy: f64,
    /// Intra-list diversity: mean `1 − cosine` of the category vectors of pairs in a list;
    /// `None` when items have no categories.
    pub ild: Option<f64>,
}

/// What beyond-accuracy metrics need to know about the catalogue.
pub struct Catalogue<'a> {
    /// Training interaction count per item index (entry 0 is padding).
    pub popularity: &'a [u32],
    /// Category indices per item index.
    pub categories: Vec<&'a [u32]>,
}

impl Catalogue<'_> {
    /// Whether each item is in the long tail: outside the 20% most popular items (ties in count
    /// go to the lower index).
    pub fn tail_flags(&self) -> Vec<bool> {
        let n = self.popularity.len() - 1;
        let mut order: Vec<usize> = (1..=n).collect();
        order.sort_by(|&a, &b| self.popularity[b].cmp(&self.popularity[a]).then(a.cmp(&b)));
        let head = (n as f64 * 0.2).ceil() as usize;
        let mut tail = vec![true; n + 1];
        tail[0] = false;
        for &item in &order[..head.min(n)] {
            tail[item] = false;
        }
        tail
    }
}

impl BeyondAccuracy {
    /// Metrics of `lists` (one per user, best first) cut at `k`.
    pub fn of(lists: &[&[u32]], k: usize, catalogue: &Catalogue<'_>) -> BeyondAccuracy {
        let n = catalogue.popularity.len() - 1;
        let tail = catalogue.tail_flags();
        let mut counts = vec![0u64; n + 1];
        let (mut popularity_sum, mut tail_sum, mut users) = (0.0, 0.0, 0usize);
        let (mut ild_sum, mut ild_users) = (0.0, 0usize);
        for list in lists {
            let list = &list[..list.len().min(k)];
            if list.is_empty() {
                continue;
            }
            users += 1;
            for &item in list {
                counts[item as usize] += 1;
            }
            let len = list.len() as f64;
            popularity_sum += list
                .iter()
                .map(|&i| catalogue.popularity[i as usize] as f64)
                .sum::<f64>()
                / len;
            tail_sum += list.iter().filter(|&&i| tail[i as usize]).count() as f64 / len;
            if let Some(ild) = intra_list_distance(list, &catalogue.categories) {
                ild_sum += ild;
                ild_users += 1;
            }
        }
        let total: u64 = counts.iter().sum();
        let entropy = if total == 0 {
            0.0
        } else {
            -counts[1..]
                .iter()
                .filter(|&&c| c > 0)
                .map(|&c| {
                    let p = c as f64 / total as f64;
                    p * p.ln()
                })
                .sum::<f64>()
        };
        let per_user = |sum: f64| if users == 0 { 0.0 } else { sum / users as f64 };
        let values: Vec<f64> = counts[1..].iter().map(|&c| c as f64).collect();
        BeyondAccuracy {
            item_coverage: if n == 0 {
                0.0
            } else {
                counts[1..].iter().filter(|&&c| c > 0).count() as f64 / n as f64
            },
            gini: gini(&values),
            avg_popularity: per_user(popularity_sum),
            tail_share: per_user(tail_sum),
            entropy,
            ild: (ild_users > 0).then(|| ild_sum / ild_users as f64),
        }
    }
}

/// Mean `1 − cosine` over pairs of a list whose items both have categories.
fn intra_list_distance(list: &[u32], categories: &[&[u32]]) -> Option<f64> {
    let (mut sum, mut pairs) = (0.0, 0usize);
    for (a_index, &a) in list.iter().enumerate() {
        let ca = categories[a as usize];
        if ca.is_empty() {
            continue;
        }
        for &b in &list[a_index + 1..] {
            let cb = categories[b as usize];
            if cb.is_empty() {
                continue;
            }
            let shared = ca.iter().filter(|c| cb.contains(c)).count() as f64;
            sum += 1.0 - shared / ((ca.len() * cb.len()) as f64).sqrt();
            pairs += 1;
        }
    }
    (pairs > 0).then(|| sum / pairs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn one_target_in_second_place() {
        let m = RankingMetrics::of(&[5, 3, 9], &[3], 3);
        close(m.hit, 1.0);
        close(m.recall, 1.0);
        close(m.precision, 1.0 / 3.0);
        close(m.ndcg, 1.0 / 3f64.log2()); // 0.6309
        close(m.mrr, 0.5);
        close(m.map, 0.5);
    }

    #[test]
    fn a_target_outside_the_top_k_scores_zero() {
        let m = RankingMetrics::of(&[1, 2, 3, 4], &[4], 3);
        assert_eq!(m, RankingMetrics::default());
        // …and counts once K reaches it.
        close(RankingMetrics::of(&[1, 2, 3, 4], &[4], 4).mrr, 0.25);
    }

    #[test]
    fn several_targets() {
        // Hits at positions 2 and 5 of 5; one target (9) never recommended.
        let m = RankingMetrics::of(&[1, 2, 3, 4, 5], &[2, 5, 9], 5);
        close(m.hit, 1.0);
        close(m.recall, 2.0 / 3.0);
        close(m.precision, 0.4);
        // DCG = 1/log2(3) + 1/log2(6) = 1.017783; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.130930.
        close(
            m.ndcg,
            (1.0 / 3f64.log2() + 1.0 / 6f64.log2()) / (1.0 + 1.0 / 3f64.log2() + 0.5),
        );
        close(m.ndcg, 0.477_623_703_503_218);
        close(m.mrr, 0.5);
        // (precision@2 + precision@5) / min(3, 5) = (0.5 + 0.4) / 3
        close(m.map, 0.3);
    }

    #[test]
    fn an_empty_list_scores_zero() {
        assert_eq!(RankingMetrics::of(&[], &[1], 10), RankingMetrics::default());
    }

    #[test]
    fn k_larger_than_the_catalogue() {
        // Only two items could be ranked; precision still divides by K.
        let m = RankingMetrics::of(&[2, 1], &[1], 10);
        close(m.hit, 1.0);
        close(m.precision, 0.1);
        close(m.ndcg, 1.0 / 3f64.log2());
        close(m.mrr, 0.5);
        close(m.map, 0.5);
    }

    #[test]
    fn beyond_accuracy_by_hand() {
        // Items 1..=5 with training counts 10, 5, 5, 1, 0: the head (20% of 5 = 1 item) is item 1.
        let popularity = [0, 10, 5, 5, 1, 0];
        let cats: [&[u32]; 6] = [&[], &[0], &[0, 1], &[1], &[], &[2]];
        let catalogue = Catalogue {
            popularity: &popularity,
            categories: cats.to_vec(),
        };
        let lists: [&[u32]; 2] = [&[1, 2], &[1, 3]];
        let b = BeyondAccuracy::of(&lists, 2, &catalogue);
        close(b.item_coverage, 3.0 / 5.0);
        // Counts over the 5 items: [2, 1, 1, 0, 0]; sorted [0, 0, 1, 1, 2], total 4:
        // Σ (2i − 6) x_i = (−4)·0 + (−2)·0 + 0·1 + 2·1 + 4·2 = 10 → 10 / (5 · 4) = 0.5.
        close(b.gini, 0.5);
        close(
            b.avg_popularity,
            ((10.0 + 5.0) / 2.0 + (10.0 + 5.0) / 2.0) / 2.0,
        );
        close(b.tail_share, 0.5);
        // p = [1/2, 1/4, 1/4]
        close(b.entropy, -(0.5 * 0.5f64.ln() + 2.0 * 0.25 * 0.25f64.ln()));
        // Pair (1,2): 1 − 1/√2; pair (1,3): 1 − 0.
        close(b.ild.unwrap(), ((1.0 - 1.0 / 2f64.sqrt()) + 1.0) / 2.0);
        // Cut at 1: only item 1 is recommended, to both users.
        let b1 = BeyondAccuracy::of(&lists, 1, &catalogue);
        close(b1.item_coverage, 0.2);
        close(b1.entropy, 0.0);
        assert_eq!(b1.ild, None);
    }
}
