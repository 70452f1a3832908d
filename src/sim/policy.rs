//! Policies that lay out the page from the user's live session: static (popular, the same for
//! everyone), adaptive greedy (the model's scores on the current session), adaptive with
//! diversity (MMR re-ranking of the top picks), two bandits that learn, from clicks, which
//! rows to put first: ε-greedy and Thompson sampling, and a learned policy (`rl`) whose values
//! come from outside the simulator through [`PageValues`].

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::choice::Choice;
use super::layout::{Page, Row, RowKind};
use super::observe::{Observation, ObservedSession, PageValues};
use super::request::Request;
use super::user::World;
use crate::recommend::{Query, Recommender};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "lowercase")]
pub enum PolicyKind {
    Static,
    Greedy,
    /// MMR: `λ · relevance − (1 − λ) · max genre similarity to the cards already chosen`.
    Mmr {
        lambda: f64,
    },
    /// ε-greedy over the order of the rows.
    Bandit {
        epsilon: f64,
    },
    /// Thompson sampling over the order of the rows: each row kind's click rate has a Beta
    /// posterior (uniform prior); rows are ordered by one draw from each.
    Thompson,
    /// A learned policy (reinforcement learning): the hero and the top picks in the order of
    /// values handed in through [`PageValues`] (see [`Policy::learned`]).
    #[serde(rename = "rl")]
    Learned,
}

impl PolicyKind {
    pub fn name(&self) -> String {
        match self {
            PolicyKind::Static => "static".into(),
            PolicyKind::Greedy => "greedy".into(),
            PolicyKind::Mmr { lambda } => format!("mmr(λ={lambda})"),
            PolicyKind::Bandit { epsilon } => format!("bandit(ε={epsilon})"),
            PolicyKind::Thompson => "thompson".into(),
            PolicyKind::Learned => "rl".into(),
        }
    }

    /// `static`, `greedy`, `mmr`, `mmr:0.5`, `bandit`, `bandit:0.1`, `thompson`.
    pub fn parse(text: &str) -> Result<PolicyKind, String> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        let number = |default: f64| -> Result<f64, String> {
            value.map_or(Ok(default), |v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| (0.0..=1.0).contains(x))
                    .ok_or_else(|| format!("`{text}`: expected a number from 0 to 1 after `:`"))
            })
        };
        match name {
            "static" => Ok(PolicyKind::Static),
            "greedy" => Ok(PolicyKind::Greedy),
            "mmr" => Ok(PolicyKind::Mmr {
                lambda: number(0.7)?,
            }),
            "bandit" => Ok(PolicyKind::Bandit {
                epsilon: number(0.1)?,
            }),
            "thompson" if value.is_none() => Ok(PolicyKind::Thompson),
            "rl" => Err(format!(
                "`{text}`: a learned policy is named by its run, `rl:RUN` (from `reclab rl train`)"
            )),
            _ => Err(format!(
                "unknown policy `{text}`; expected static, greedy, mmr[:λ], bandit[:ε], thompson or rl:RUN"
            )),
        }
    }
}

/// The row kinds a bandit orders (the genre row stands for "the session's favourite genre").
const ARMS: usize = 5;

/// The bandit arm of a row kind; `None` for the request's row, which stays on top: what the
/// person just asked for is not a hypothesis to explore.
fn arm(kind: RowKind) -> Option<usize> {
    match kind {
        RowKind::TopPicks => Some(0),
        RowKind::BecauseYouWatched => Some(1),
        RowKind::Genre(_) => Some(2),
        RowKind::Trending => Some(3),
        RowKind::SomethingDifferent => Some(4),
        RowKind::BecauseYouAsked => None,
    }
}

/// A policy with its per-session state: the bandits' counts and the model's scores for the
/// session so far.
pub struct Policy {
    pub kind: PolicyKind,
    /// Cards per row.
    pub cards: usize,
    shows: [f64; ARMS],
    clicks: [f64; ARMS],
    /// The scores the last page was built from (one allocation per session, not per page).
    scores: Vec<f32>,
    /// The model's scores for "because you watched" the session's latest item.
    like_last: Vec<f32>,
    /// What `scores` and `like_last` were computed for, so a page after a skip (the session
    /// unchanged) re-ranks without calling the model at all.
    scored_for: Option<ScoredFor>,
    /// What the person asked for, if anything (adaptive policies only).
    request: Option<std::sync::Arc<Request>>,
    /// The model's scores blended with the request, when there is one.
    blended: Vec<f32>,
    /// The learned policy's values, and where they come from.
    learned: Option<std::sync::Arc<dyn PageValues>>,
    values: Vec<f32>,
    /// What the storefront logged of this session: all a learned policy sees besides the scores.
    observed: ObservedSession,
}

/// The model and session a policy's cached scores belong to.
#[derive(PartialEq)]
struct ScoredFor {
    /// The model's address: a policy handed another model rescores rather than reuse.
    model: usize,
    history: Vec<u32>,
}

impl Policy {
    pub fn new(kind: PolicyKind, cards: usize) -> Policy {
        Policy {
            kind,
            cards: cards.max(1),
            // An optimistic start: every row looks fair until seen.
            shows: [1.0; ARMS],
            clicks: [0.5; ARMS],
            scores: Vec::new(),
            like_last: Vec::new(),
            scored_for: None,
            request: None,
            blended: Vec::new(),
            learned: None,
            values: Vec::new(),
            observed: ObservedSession::default(),
        }
    }

    /// A learned policy whose page follows `values`.
    pub fn learned(cards: usize, values: std::sync::Arc<dyn PageValues>) -> Policy {
        Policy {
            learned: Some(values),
            ..Policy::new(PolicyKind::Learned, cards)
        }
    }

    /// What this policy has logged of the session.
    pub fn observed(&self) -> &ObservedSession {
        &self.observed
    }

    /// The scores the last page was built from (the model's for the session — blended with the
    /// request when there is one — or popularity for the static page).
    pub fn last_scores(&self) -> &[f32] {
        if self.request.is_some() && self.kind != PolicyKind::Static {
            &self.blended
        } else {
            &self.scores
        }
    }

    /// Sets (or clears) what the person asked for; the static page ignores it.
    pub fn set_request(&mut self, request: Option<std::sync::Arc<Request>>) {
        self.request = request;
    }

    pub fn request(&self) -> Option<&Request> {
        self.request.as_deref()
    }

    /// The bandits' estimated click rate of each row kind.
    pub fn row_estimates(&self) -> [f64; ARMS] {
        std::array::from_fn(|a| self.clicks[a] / self.shows[a])
    }

    /// Scores the session and "because you watched" its latest item, unless the cache already
    /// holds them for this model and history. A session changes only on a click, so a click
    /// costs one scoring of the session (and one of a single item) and a skip none.
    ///
    /// This is as incremental as the encoder allows: its position embeddings count from the end
    /// of the history, so appending an item changes every position's input and no per-layer
    /// key/value state from the previous call stays valid.
    fn score_session(&mut self, model: &dyn Recommender, history: &[u32]) {
        let key = ScoredFor {
            model: std::ptr::from_ref(model).cast::<()>().addr(),
            history: history.to_vec(),
        };
        if self.scored_for.as_ref() == Some(&key) {
            return;
        }
        let width = model.num_items() + 1;
        self.scores.resize(width, 0.0);
        model.score(
            Query {
                user: None,
                history,
            },
            &mut self.scores,
        );
        // Two calls, not one batch of two: batching would pad the one-item history to the
        // session's length and double the encoder's work.
        if let Some(&last) = history.last() {
            self.like_last.resize(width, 0.0);
            model.score(
                Query {
                    user: None,
                    history: &[last],
                },
                &mut self.like_last,
            );
        }
        self.scored_for = Some(key);
    }

    /// Lays out the page for a user whose session so far is `history`.
    pub fn page(
        &mut self,
        model: &dyn Recommender,
        world: &World,
        history: &[u32],
        rng: &mut impl Rng,
    ) -> Page {
        let width = model.num_items() + 1;
        let mut used = vec![false; width];
        used[0] = true;
        let personal = self.kind != PolicyKind::Static;
        if personal {
            self.score_session(model, history);
            for &item in history {
                used[item as usize] = true;
            }
        } else {
            self.scores.clear();
            self.scores
                .extend(world.popularity.iter().take(width).map(|&p| p as f32));
            self.scores.resize(width, 0.0);
        }
        let scores = std::mem::take(&mut self.scores);
        let like_last = std::mem::take(&mut self.like_last);
        let mut blended = std::mem::take(&mut self.blended);
        let request = self.request.clone().filter(|_| personal);
        if let Some(request) = &request {
            blended.clear();
            blended.extend_from_slice(&scores);
            request.blend(&mut blended);
        }
        let mut ranked: &[f32] = if request.is_some() { &blended } else { &scores };
        // A learned policy orders the page by its own values of the (blended) scores; without
        // values handed in it lays out the greedy page.
        let mut values = std::mem::take(&mut self.values);
        if let Some(learned) = self.learned.as_ref().filter(|_| personal) {
            learned.values(
                &Observation {
                    catalogue: world.catalogue(),
                    history,
                    scores: ranked,
                    session: &self.observed,
                },
                &mut values,
            );
            if values.len() == width {
                ranked = &values;
            }
        }
        let take = |used: &mut Vec<bool>,
                    n: usize,
                    score: &dyn Fn(usize) -> f32,
                    keep: &dyn Fn(usize) -> bool| {
            let mut candidates: Vec<usize> = (1..width).filter(|&i| !used[i] && keep(i)).collect();
            let n = n.min(candidates.len());
            if n == 0 {
                return Vec::new();
            }
            candidates.select_nth_unstable_by(n - 1, |&a, &b| {
                score(b).total_cmp(&score(a)).then(a.cmp(&b))
            });
            candidates.truncate(n);
            candidates.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
            for &i in &candidates {
                used[i] = true;
            }
            candidates
                .into_iter()
                .map(|i| i as u32)
                .collect::<Vec<u32>>()
        };
        let relevance = |i: usize| ranked[i];
        let all = |_: usize| true;
        let hero = take(&mut used, 1, &relevance, &all).first().copied();
        // The request's own row comes before the top picks take the best of the blend.
        let asked = request.as_ref().map(|request| {
            let similarity = |i: usize| request.similarity.get(i).copied().unwrap_or(f32::MIN);
            Row {
                kind: RowKind::BecauseYouAsked,
                title: format!("Because you asked for “{}”", request.text),
                items: take(&mut used, self.cards, &similarity, &all),
            }
        });
        let top: Vec<u32> = match self.kind {
            PolicyKind::Mmr { lambda } => {
                let pool = take(&mut used, self.cards * 3, &relevance, &all);
                let picked = mmr(&pool, ranked, world, lambda, self.cards);
                for &i in &pool {
                    used[i as usize] = picked.contains(&i);
                }
                picked
            }
            _ => take(&mut used, self.cards, &relevance, &all),
        };
        let mut rows = vec![Row {
            kind: RowKind::TopPicks,
            title: if personal {
                "Top picks for you".into()
            } else {
                "Popular now".into()
            },
            items: top.clone(),
        }];
        if personal && let Some(&last) = history.last() {
            let items = take(&mut used, self.cards, &|i| like_last[i], &all);
            rows.push(Row {
                kind: RowKind::BecauseYouWatched,
                title: format!("Because you watched {}", world.titles[last as usize]),
                items,
            });
        }
        if let Some(genre) = favourite_genre(world, history, &top) {
            let items = take(&mut used, self.cards, &relevance, &|i| {
                world.genres[i].contains(&genre)
            });
            let name = world
                .genre_names
                .get(genre as usize)
                .cloned()
                .unwrap_or_default();
            rows.push(Row {
                kind: RowKind::Genre(genre),
                title: format!("More {name}"),
                items,
            });
        }
        let popularity = |i: usize| world.popularity[i] as f32;
        let items = take(&mut used, self.cards, &popularity, &all);
        rows.push(Row {
            kind: RowKind::Trending,
            title: "Trending".into(),
            items,
        });
        let top_genres: Vec<u32> = top
            .iter()
            .flat_map(|&i| world.genres[i as usize].iter().copied())
            .collect();
        let items = take(&mut used, self.cards, &relevance, &|i| {
            world.genres[i].iter().all(|g| !top_genres.contains(g))
        });
        rows.push(Row {
            kind: RowKind::SomethingDifferent,
            title: "Something different".into(),
            items,
        });
        rows.retain(|r| !r.items.is_empty());
        self.scores = scores;
        self.like_last = like_last;
        self.blended = blended;
        self.values = values;
        match self.kind {
            PolicyKind::Bandit { epsilon } => {
                let estimates = self.row_estimates();
                if rng.random::<f64>() < epsilon {
                    // Explore: a random order.
                    for i in (1..rows.len()).rev() {
                        rows.swap(i, rng.random_range(0..=i));
                    }
                } else {
                    order_rows(&mut rows, &estimates);
                }
            }
            PolicyKind::Thompson => {
                let draws = self.posterior_draws(rng);
                order_rows(&mut rows, &draws);
            }
            _ => {}
        }
        if let Some(row) = asked.filter(|r| !r.items.is_empty()) {
            rows.insert(0, row);
        }
        Page { hero, rows }
    }

    /// One draw of each row kind's click rate from its Beta posterior. The counts start at one
    /// show and half a click (the ε-greedy bandit's optimistic start), so `clicks + 0.5` and
    /// `shows − clicks + 0.5` make a uniform prior.
    fn posterior_draws(&self, rng: &mut impl Rng) -> [f64; ARMS] {
        std::array::from_fn(|a| {
            let (clicks, misses) = (self.clicks[a] + 0.5, self.shows[a] - self.clicks[a] + 0.5);
            // Both parameters are at least 0.5 (a row is clicked at most once per show), so the
            // distribution exists; should that ever fail, the posterior mean stands in.
            rand_distr::Beta::new(clicks, misses)
                .map(|beta| rng.sample(beta))
                .unwrap_or(clicks / (clicks + misses))
        })
    }

    /// Learns from what the user did on `page` (the bandit counts shows and clicks per row).
    pub fn feedback(&mut self, page: &Page, choice: &Choice) {
        self.observed.record(page, choice);
        for row in &page.rows {
            if let Some(a) = arm(row.kind) {
                self.shows[a] += 1.0;
            }
        }
        if let Some(slot) = choice.clicked
            && let Some(r) = slot.row
            && let Some(a) = arm(page.rows[r].kind)
        {
            self.clicks[a] += 1.0;
        }
    }
}

/// Puts the rows whose kind has the higher value first (a stable sort: ties keep their order).
fn order_rows(rows: &mut [Row], values: &[f64; ARMS]) {
    let value = |kind| arm(kind).map_or(f64::INFINITY, |a| values[a]);
    rows.sort_by(|a, b| value(b.kind).total_cmp(&value(a.kind)));
}

/// The genre most present in the latest ten items of the session, or else in the top picks.
fn favourite_genre(world: &World, history: &[u32], top: &[u32]) -> Option<u32> {
    let recent = &history[history.len().saturating_sub(10)..];
    let source = if recent.is_empty() { top } else { recent };
    let mut counts = vec![0usize; world.num_genres];
    for &i in source {
        for &g in &world.genres[i as usize] {
            counts[g as usize] += 1;
        }
    }
    let (genre, &count) = counts
        .iter()
        .enumerate()
        .max_by_key(|&(g, c)| (*c, std::cmp::Reverse(g)))?;
    (count > 0).then_some(genre as u32)
}

/// Maximal marginal relevance over `pool` (best first), with genre Jaccard similarity.
fn mmr(pool: &[u32], scores: &[f32], world: &World, lambda: f64, n: usize) -> Vec<u32> {
    let (lo, hi) = pool
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &i| {
            (lo.min(scores[i as usize]), hi.max(scores[i as usize]))
        });
    let span = f64::from((hi - lo).max(1e-9));
    let jaccard = |a: u32, b: u32| {
        let (ga, gb) = (&world.genres[a as usize], &world.genres[b as usize]);
        let common = ga.iter().filter(|g| gb.contains(g)).count() as f64;
        let union = (ga.len() + gb.len()) as f64 - common;
        if union == 0.0 { 0.0 } else { common / union }
    };
    let mut picked: Vec<u32> = Vec::with_capacity(n);
    let mut left: Vec<u32> = pool.to_vec();
    while picked.len() < n && !left.is_empty() {
        let value = |i: u32| {
            let relevance = f64::from(scores[i as usize] - lo) / span;
            let similarity = picked.iter().map(|&p| jaccard(i, p)).fold(0.0, f64::max);
            lambda * relevance - (1.0 - lambda) * similarity
        };
        let (best, _) = left
            .iter()
            .enumerate()
            .max_by(|a, b| value(*a.1).total_cmp(&value(*b.1)).then(b.1.cmp(a.1)))
            .map(|(k, &i)| (k, i))
            .unwrap_or((0, left[0]));
        picked.push(left.remove(best));
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::PolicyKind;

    #[test]
    fn policy_names_parse_with_their_parameters_and_mistakes_are_explained() {
        assert_eq!(PolicyKind::parse("greedy"), Ok(PolicyKind::Greedy));
        assert_eq!(
            PolicyKind::parse("mmr:0.5"),
            Ok(PolicyKind::Mmr { lambda: 0.5 })
        );
        assert_eq!(
            PolicyKind::parse("bandit"),
            Ok(PolicyKind::Bandit { epsilon: 0.1 })
        );
        assert_eq!(PolicyKind::parse("thompson"), Ok(PolicyKind::Thompson));
        let error = PolicyKind::parse("mmr:2").unwrap_err();
        assert!(error.contains("from 0 to 1"), "{error}");
        let error = PolicyKind::parse("thompson:0.3").unwrap_err();
        assert!(error.contains("thompson"), "{error}");
        let error = PolicyKind::parse("ucb").unwrap_err();
        assert!(error.contains("unknown policy `ucb`"), "{error}");
    }
}
