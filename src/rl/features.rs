//! What the learned policy knows of a candidate: features computed from an [`Observation`]
//! alone (the recommender's scores, the storefront's log of the session, the history the model
//! reads, the catalogue's genres and popularity) — never the simulated user's hidden state.

use crate::sim::Observation;

/// Features per candidate.
pub const FEATURES: usize = 10;

/// Names of the features, in order (shown with the learned policy's config).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "score z among candidates",
    "score rank among candidates",
    "genre clicked lately (fast decay)",
    "genre clicked lately (slow decay)",
    "genre on the last page",
    "genre in the history",
    "log popularity",
    "page number",
    "skips in a row",
    "session click rate",
];

/// Decay per click of the two memories of clicked genres: the last few clicks, and the session.
const FAST: f32 = 0.5;
const SLOW: f32 = 0.9;
/// History items read for the genre affinity.
const HISTORY: usize = 50;
/// Pages, and skips, of a typical session (for scaling).
const PAGES: f32 = 20.0;
const SKIPS: f32 = 3.0;

/// The candidates of one page and what is needed to describe any item of it.
pub struct FeatureContext<'a> {
    observation: &'a Observation<'a>,
    /// The best-scored items not in the history, best first.
    pub candidates: Vec<u32>,
    rank: Vec<Option<usize>>,
    mean: f32,
    spread: f32,
    click_fast: Vec<f32>,
    click_slow: Vec<f32>,
    last_page: Vec<f32>,
    history: Vec<f32>,
    max_log_popularity: f32,
}

impl<'a> FeatureContext<'a> {
    /// The context of a page with `candidates` candidates at most.
    pub fn new(observation: &'a Observation<'a>, candidates: usize) -> FeatureContext<'a> {
        let catalogue = observation.catalogue;
        let width = observation.scores.len();
        let mut seen = vec![false; width];
        for &item in observation.history {
            if let Some(s) = seen.get_mut(item as usize) {
                *s = true;
            }
        }
        let mut pool: Vec<u32> = (1..width as u32).filter(|&i| !seen[i as usize]).collect();
        let n = candidates.min(pool.len());
        let score = |i: u32| observation.scores[i as usize];
        let best_first = |a: &u32, b: &u32| score(*b).total_cmp(&score(*a)).then(a.cmp(b));
        if n > 0 && n < pool.len() {
            pool.select_nth_unstable_by(n - 1, best_first);
        }
        pool.truncate(n);
        pool.sort_by(best_first);
        let mut rank = vec![None; width];
        for (r, &i) in pool.iter().enumerate() {
            rank[i as usize] = Some(r);
        }
        let values: Vec<f32> = pool.iter().map(|&i| score(i)).collect();
        let mean = values.iter().sum::<f32>() / values.len().max(1) as f32;
        let variance =
            values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len().max(1) as f32;
        let genres = catalogue.num_genres;
        let mut click_fast = vec![0.0; genres];
        let mut click_slow = vec![0.0; genres];
        let clicks = &observation.session.clicks;
        for (age, &item) in clicks.iter().rev().enumerate() {
            add_genres(
                &mut click_fast,
                catalogue.genres,
                item,
                FAST.powi(age as i32),
            );
            add_genres(
                &mut click_slow,
                catalogue.genres,
                item,
                SLOW.powi(age as i32),
            );
        }
        let mut last_page = vec![0.0; genres];
        let shown = observation.session.last_page.len().max(1) as f32;
        for &item in &observation.session.last_page {
            add_genres(&mut last_page, catalogue.genres, item, 1.0 / shown);
        }
        let mut history = vec![0.0; genres];
        let recent = &observation.history[observation.history.len().saturating_sub(HISTORY)..];
        for &item in recent {
            add_genres(
                &mut history,
                catalogue.genres,
                item,
                1.0 / recent.len() as f32,
            );
        }
        let max_popularity = catalogue.popularity.iter().copied().max().unwrap_or(0);
        FeatureContext {
            observation,
            candidates: pool,
            rank,
            mean,
            spread: variance.sqrt().max(1e-6),
            click_fast,
            click_slow,
            last_page,
            history,
            max_log_popularity: (1.0 + max_popularity as f32).ln().max(1e-6),
        }
    }

    /// The features of `item` on this page (any item, candidate or not).
    pub fn features(&self, item: u32) -> Vec<f32> {
        let i = item as usize;
        let observation = self.observation;
        let catalogue = observation.catalogue;
        let genres: &[u32] = catalogue.genres.get(i).map_or(&[], Vec::as_slice);
        // The mean over the item's genres of a per-genre quantity (0 for an item without any).
        let over_genres = |per_genre: &[f32]| {
            if genres.is_empty() {
                0.0
            } else {
                genres
                    .iter()
                    .map(|&g| per_genre.get(g as usize).copied().unwrap_or(0.0))
                    .sum::<f32>()
                    / genres.len() as f32
            }
        };
        let score = observation.scores.get(i).copied().unwrap_or(self.mean);
        let rank = self.rank.get(i).copied().flatten().map_or(1.0, |r| {
            r as f32 / self.candidates.len().saturating_sub(1).max(1) as f32
        });
        let popularity = catalogue.popularity.get(i).copied().unwrap_or(0);
        let session = observation.session;
        vec![
            ((score - self.mean) / self.spread).clamp(-5.0, 5.0),
            rank,
            over_genres(&self.click_fast),
            over_genres(&self.click_slow),
            over_genres(&self.last_page),
            over_genres(&self.history),
            (1.0 + popularity as f32).ln() / self.max_log_popularity,
            session.pages as f32 / PAGES,
            session.skips_in_a_row as f32 / SKIPS,
            session.clicks.len() as f32 / session.pages.max(1) as f32,
        ]
    }
}

/// Adds `weight` to each genre of `item`, shared among them.
fn add_genres(per_genre: &mut [f32], genres: &[Vec<u32>], item: u32, weight: f32) {
    let Some(of_item) = genres.get(item as usize) else {
        return;
    };
    for &g in of_item {
        if let Some(slot) = per_genre.get_mut(g as usize) {
            *slot += weight / of_item.len() as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Catalogue, ObservedSession};

    #[test]
    fn features_by_hand_on_a_four_item_catalogue() {
        // Items 1..=4; genres: 1 → {0}, 2 → {1}, 3 → {0, 1}, 4 → {}.
        let genres = vec![vec![], vec![0], vec![1], vec![0, 1], vec![]];
        let popularity = vec![0, 3, 1, 0, 7];
        let catalogue = Catalogue {
            genres: &genres,
            popularity: &popularity,
            num_genres: 2,
        };
        let session = ObservedSession {
            pages: 4,
            skips_in_a_row: 1,
            clicks: vec![1, 2],
            last_page: vec![3, 4],
        };
        let scores = [0.0, 9.0, 1.0, 2.0, 3.0];
        let history = [1, 2];
        let observation = Observation {
            catalogue,
            history: &history,
            scores: &scores,
            session: &session,
        };
        let context = FeatureContext::new(&observation, 5);
        // The history's items are not candidates; the rest best first.
        assert_eq!(context.candidates, vec![4, 3]);
        let f = context.features(3);
        // Candidate scores 3 and 2: mean 2.5, spread 0.5, so item 3 has z = −1, rank 1 of 0..1.
        assert!((f[0] + 1.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f[1], 1.0);
        // Clicks: 2 (age 0, genre 1), then 1 (age 1, genre 0). Fast: genre 0 → 0.5,
        // genre 1 → 1; item 3 averages its two genres: 0.75. Slow: (0.9 + 1) / 2.
        assert!((f[2] - 0.75).abs() < 1e-6, "{f:?}");
        assert!((f[3] - 0.95).abs() < 1e-6, "{f:?}");
        // Last page: item 3 gives each genre 1/2 · 1/2, item 4 nothing: 0.25 on average.
        assert!((f[4] - 0.25).abs() < 1e-6, "{f:?}");
        // History 1, 2: each genre 1/2.
        assert!((f[5] - 0.5).abs() < 1e-6, "{f:?}");
        assert_eq!(f[6], 0.0);
        assert!((f[7] - 4.0 / 20.0).abs() < 1e-6);
        assert!((f[8] - 1.0 / 3.0).abs() < 1e-6);
        assert!((f[9] - 0.5).abs() < 1e-6);
        // An item without genres has no genre features; the most popular has 1.
        let g = context.features(4);
        assert_eq!(&g[2..6], &[0.0; 4]);
        assert!((g[6] - 1.0).abs() < 1e-6);
        assert_eq!(g[1], 0.0);
    }
}
