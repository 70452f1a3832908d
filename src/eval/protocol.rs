//! Which items a target is ranked against.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How negatives are drawn in a sampled protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    Uniform,
    /// In proportion to training popularity.
    Popularity,
}

/// The evaluation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Protocol {
    /// Every item the user has not met is a candidate (RecBole's `mode: full`). The default.
    #[default]
    Full,
    /// The targets are ranked against `negatives` items the user has not met, drawn per user
    /// from a generator seeded with `seed` and the user's index. For comparison with papers
    /// only: sampled metrics overstate quality and can reorder models.
    Sampled {
        negatives: usize,
        sampling: Sampling,
        seed: u64,
    },
}

impl Protocol {
    /// A label to show wherever results are shown: `full ranking`, `sampled uni100`, ….
    pub fn label(&self) -> String {
        match self {
            Protocol::Full => "full ranking".to_string(),
            Protocol::Sampled { .. } => format!("sampled {self}"),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Full => write!(f, "full"),
            Protocol::Sampled {
                negatives,
                sampling: Sampling::Uniform,
                ..
            } => write!(f, "uni{negatives}"),
            Protocol::Sampled {
                negatives,
                sampling: Sampling::Popularity,
                ..
            } => write!(f, "pop{negatives}"),
        }
    }
}

impl FromStr for Protocol {
    type Err = String;

    /// `full`, `uniN` or `popN` (N negatives, e.g. `uni100`); sampled protocols get seed 42.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let sampled = |digits: &str, sampling| {
            digits
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .map(|negatives| Protocol::Sampled {
                    negatives,
                    sampling,
                    seed: 42,
                })
        };
        let parsed = match s {
            "full" => Some(Protocol::Full),
            _ if s.starts_with("uni") => sampled(&s[3..], Sampling::Uniform),
            _ if s.starts_with("pop") => sampled(&s[3..], Sampling::Popularity),
            _ => None,
        };
        parsed.ok_or_else(|| {
            format!("unknown protocol `{s}`; expected full, uni100 or pop100 (any count)")
        })
    }
}

/// Draws negatives for one user: distinct items, never padding, never in `excluded` (history and
/// targets, sorted), in proportion to `weights` (cumulative, per item index) or uniformly.
/// Returns every allowed item when fewer than `count` exist.
pub fn draw_negatives(
    count: usize,
    num_items: usize,
    excluded_sorted: &[u32],
    cumulative: Option<&[f64]>,
    seed: u64,
    user: u32,
) -> Vec<u32> {
    let allowed = num_items - excluded_sorted.iter().filter(|&&i| i != 0).count();
    if allowed <= count {
        return (1..=num_items as u32)
            .filter(|i| excluded_sorted.binary_search(i).is_err())
            .collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(user));
    let mut chosen: Vec<u32> = Vec::with_capacity(count);
    let mut attempts = 0usize;
    while chosen.len() < count {
        attempts += 1;
        let item = match cumulative {
            Some(cum) if attempts < 100 * count => {
                let total = cum[cum.len() - 1];
                let x = rng.random::<f64>() * total;
                cum.partition_point(|&c| c <= x).min(num_items) as u32
            }
            // Uniform, or popularity sampling that keeps hitting excluded items (a user who
            // met most popular items): finish uniformly so the draw always ends.
            _ => rng.random_range(1..=num_items as u32),
        };
        if item != 0 && excluded_sorted.binary_search(&item).is_err() && !chosen.contains(&item) {
            chosen.push(item);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in ["full", "uni100", "pop100", "uni5"] {
            assert_eq!(name.parse::<Protocol>().unwrap().to_string(), name);
        }
        assert!("pop0".parse::<Protocol>().is_err());
        assert!("sampled".parse::<Protocol>().is_err());
        assert_eq!(
            "uni100".parse::<Protocol>().unwrap().label(),
            "sampled uni100"
        );
    }

    #[test]
    fn negatives_avoid_excluded_items_and_are_seeded() {
        let excluded = [2, 3, 7];
        let a = draw_negatives(5, 10, &excluded, None, 1, 4);
        assert_eq!(a.len(), 5);
        assert!(
            a.iter()
                .all(|i| (1..=10).contains(i) && !excluded.contains(i))
        );
        let mut distinct = a.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 5);
        assert_eq!(a, draw_negatives(5, 10, &excluded, None, 1, 4));
        assert_eq!(
            draw_negatives(50, 10, &excluded, None, 1, 4),
            vec![1, 4, 5, 6, 8, 9, 10]
        );
    }

    #[test]
    fn popularity_sampling_follows_the_weights() {
        // Item 1 holds 90% of the weight.
        let mut cumulative = vec![0.0; 11];
        for i in 1..=10 {
            cumulative[i] = cumulative[i - 1] + if i == 1 { 81.0 } else { 1.0 };
        }
        let first = (0..200)
            .filter(|&u| draw_negatives(1, 10, &[], Some(&cumulative), 3, u)[0] == 1)
            .count();
        assert!(first > 150, "{first}");
    }
}
