//! The Live preview's state: one simulated user browsing two storefronts side by side (two
//! policies, the same user, the same random numbers), stepped a page at a time. No drawing here.
//!
//! A step re-ranks one page (about 1 ms with SASRec over ML-100K's catalogue after a click, less
//! after a skip; see `reclab bench simulate`), so it runs on the GUI thread: that is the
//! real-time adaptation being shown.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::app::data::Loaded;
use crate::data::{Split, SplitStrategy};
use crate::recommend::{Query, Recommender};
use crate::rl::QPolicy;
use crate::sim::{
    Choice, Observation, ObservedSession, Page, Policy, PolicyKind, Request, RowKind, Session,
    SessionConfig, StepTrace, UserPool, World, simulated_users,
};

/// What a request to the storefront took, part by part, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestTiming {
    /// The generative model writing the item asked for (0 on the direct route).
    pub write_secs: f64,
    /// Embedding the request (or the description) and its words.
    pub embed_secs: f64,
    /// Re-laying the pages.
    pub rerank_secs: f64,
}

pub struct PreviewSide {
    pub policy: PolicyKind,
    session: Session,
    rng: ChaCha8Rng,
    pub last: Option<StepTrace>,
    /// For each row of the last page: whether it moved since the page before.
    pub moved: Vec<bool>,
    /// Scores of every item for the history the last page was built from.
    pub scores: Vec<f32>,
    /// The history items the model attended to most for the last page (item, weight).
    pub attended: Vec<(u32, f32)>,
    /// The history `scores` and `attended` belong to: after a skip they are kept as they are.
    explained_for: Option<Vec<u32>>,
    pub pages: usize,
    pub clicks: usize,
    pub dwell_secs: f64,
    pub ctr_curve: Vec<[f64; 2]>,
    pub dwell_curve: Vec<[f64; 2]>,
    pub latency_ms: Vec<[f64; 2]>,
    /// Milliseconds from a typed request to its re-laid page (embedding included), by page.
    pub request_ms: Vec<[f64; 2]>,
    /// How far this side's belief is from the hidden taste (total variation), by page.
    pub belief_gap: Vec<[f64; 2]>,
    /// Distinct genres among the placed cards (the hero and the first row), by page.
    pub variety: Vec<[f64; 2]>,
    /// As the learned policy's network judges the placed cards, by page: the expected clicks
    /// now, and the expected long-term return (click chance × value after the click).
    pub judged_now: Vec<[f64; 2]>,
    pub judged_later: Vec<[f64; 2]>,
}

impl PreviewSide {
    pub fn is_over(&self) -> bool {
        self.session.is_over()
    }

    /// The simulated user's history, oldest first.
    pub fn history(&self) -> &[u32] {
        &self.session.user.history
    }

    /// The hidden taste of this side's user (it drifts as the user clicks).
    pub fn taste(&self) -> &[f64] {
        &self.session.user.taste
    }

    /// What the person asked this side's storefront for, if anything (the static page does
    /// not listen).
    pub fn request(&self) -> Option<&Request> {
        if self.policy == PolicyKind::Static {
            return None;
        }
        self.session.policy.request()
    }

    /// Lays the current page out again for a new request, without the user acting on it;
    /// returns the seconds the re-ranking took.
    fn relayout(
        &mut self,
        model: &dyn Recommender,
        world: &World,
        request: Option<Arc<Request>>,
    ) -> f64 {
        self.session.policy.set_request(request);
        let history = self.session.user.history.clone();
        let started = std::time::Instant::now();
        let page = self
            .session
            .policy
            .page(model, world, &history, &mut self.rng);
        let secs = started.elapsed().as_secs_f64();
        self.explain(model, &history);
        self.explained_for = Some(history);
        self.moved = vec![false; page.rows.len()];
        self.last = Some(StepTrace {
            page,
            choice: Choice::default(),
            rerank_secs: secs,
        });
        secs
    }

    fn step(
        &mut self,
        model: &dyn Recommender,
        world: &World,
        config: &SessionConfig,
        learned: Option<&QPolicy>,
    ) {
        if self.session.is_over() {
            return;
        }
        let history = self.session.user.history.clone();
        // What the learned policy would observe before this page, to judge whatever it shows.
        let before = learned.map(|_| {
            let mut scores = vec![0.0; model.num_items() + 1];
            model.score(
                Query {
                    user: None,
                    history: &history,
                },
                &mut scores,
            );
            (scores, self.session.policy.observed().clone())
        });
        let previous: Vec<RowKind> = self
            .last
            .iter()
            .flat_map(|s| s.page.rows.iter().map(|r| r.kind))
            .collect();
        let step = self.session.step(model, world, config, &mut self.rng);
        if self.explained_for.as_ref() != Some(&history) {
            self.explain(model, &history);
            self.explained_for = Some(history.clone());
        }
        self.moved = step
            .page
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                !previous.is_empty() && previous.iter().position(|k| *k == row.kind) != Some(i)
            })
            .collect();
        self.pages += 1;
        let x = self.pages as f64;
        let placed = placed_cards(&step.page);
        let mut genres: Vec<u32> = placed
            .iter()
            .flat_map(|&i| world.genres[i as usize].iter().copied())
            .collect();
        genres.sort_unstable();
        genres.dedup();
        self.variety.push([x, genres.len() as f64]);
        if let (Some(learned), Some((scores, observed))) = (learned, &before) {
            let judged = learned.assess(&observation(world, &history, scores, observed), &placed);
            let now: f64 = judged.iter().map(|&(p, _)| f64::from(p)).sum();
            let later: f64 = judged.iter().map(|&(p, q)| f64::from(p * q)).sum();
            self.judged_now.push([x, now]);
            self.judged_later.push([x, later]);
        }
        self.clicks += usize::from(step.choice.clicked.is_some());
        self.dwell_secs += step.choice.dwell_secs;
        self.ctr_curve.push([x, self.clicks as f64 / x]);
        self.dwell_curve.push([x, self.dwell_secs]);
        self.latency_ms.push([x, step.rerank_secs * 1000.0]);
        self.last = Some(step);
    }

    /// The scores and attention the tooltips and the belief chart show for `history`.
    fn explain(&mut self, model: &dyn Recommender, history: &[u32]) {
        self.scores.resize(model.num_items() + 1, 0.0);
        if self.policy == PolicyKind::Static {
            let query = Query {
                user: None,
                history,
            };
            model.score(query, &mut self.scores);
        } else {
            // An adaptive page was built from exactly these scores: no second scoring call.
            self.scores
                .copy_from_slice(self.session.policy.last_scores());
        }
        self.attended = crate::recommend::most_attended(model, history, 3)
            .into_iter()
            .map(|(position, weight)| (history[position], weight))
            .collect();
    }
}

pub struct Preview {
    pub model: Arc<dyn Recommender>,
    pub world: Arc<World>,
    pub user: usize,
    pub sides: [PreviewSide; 2],
    pub config: SessionConfig,
    /// The learned policy, when one is open (it lays out an `rl` side and judges both).
    pub learned: Option<Arc<QPolicy>>,
    /// The description the simulated person was given, if any.
    pub persona: Option<String>,
    /// The last request's times, and every request's of this session, oldest first.
    pub last_request: Option<RequestTiming>,
    pub requests: Vec<RequestTiming>,
}

impl Preview {
    pub fn new(
        loaded: &Loaded,
        model: Arc<dyn Recommender>,
        user: usize,
        policies: [PolicyKind; 2],
        learned: Option<Arc<QPolicy>>,
        seed: u64,
    ) -> Result<Preview, String> {
        if policies.contains(&PolicyKind::Learned) && learned.is_none() {
            return Err("the rl policy needs a learned policy: train or open one first".into());
        }
        let split =
            Split::new(&loaded.dataset, SplitStrategy::LeaveOneOut).map_err(|e| e.to_string())?;
        let world = Arc::new(World::of(&loaded.dataset));
        let config = SessionConfig {
            max_steps: usize::MAX,
            ..SessionConfig::default()
        };
        let users = loaded.dataset.num_users();
        if users == 0 {
            return Err("the dataset has no users".into());
        }
        let user = user.min(users - 1);
        // `simulated_users` takes the first n: build user `user` alone.
        let sim = simulated_users(
            &loaded.dataset,
            &split,
            &world,
            user + 1,
            config.patience,
            UserPool::All,
        )
        .pop()
        .ok_or("no simulated user")?;
        let policy_of = |kind: PolicyKind| match (kind, &learned) {
            (PolicyKind::Learned, Some(values)) => {
                Policy::learned(config.cards, values.as_page_values())
            }
            _ => Policy::new(kind, config.cards),
        };
        let side = |policy: PolicyKind| PreviewSide {
            policy,
            session: Session::new(sim.clone(), policy_of(policy), &config),
            // The same stream on both sides: differences come from the policies alone.
            rng: ChaCha8Rng::seed_from_u64(seed),
            last: None,
            moved: Vec::new(),
            scores: Vec::new(),
            attended: Vec::new(),
            explained_for: None,
            pages: 0,
            clicks: 0,
            dwell_secs: 0.0,
            ctr_curve: Vec::new(),
            dwell_curve: Vec::new(),
            latency_ms: Vec::new(),
            request_ms: Vec::new(),
            belief_gap: Vec::new(),
            variety: Vec::new(),
            judged_now: Vec::new(),
            judged_later: Vec::new(),
        };
        Ok(Preview {
            model,
            world,
            user,
            sides: [side(policies[0]), side(policies[1])],
            config,
            learned,
            persona: None,
            last_request: None,
            requests: Vec::new(),
        })
    }

    /// One page on each side.
    pub fn step(&mut self) {
        for side in &mut self.sides {
            side.step(
                self.model.as_ref(),
                &self.world,
                &self.config,
                self.learned.as_deref(),
            );
            let gap = total_variation(side.taste(), &belief(&self.world, &side.scores));
            side.belief_gap.push([side.pages as f64, gap]);
        }
    }

    pub fn is_over(&self) -> bool {
        self.sides.iter().all(PreviewSide::is_over)
    }

    /// Applies (or clears) a request on both sides and re-lays their pages at once; `timing`
    /// says what writing (the generative route) and embedding the request took.
    pub fn ask(&mut self, request: Option<Request>, timing: RequestTiming) {
        let request = request.map(Arc::new);
        let mut rerank = 0.0f64;
        for side in &mut self.sides {
            let secs = side.relayout(self.model.as_ref(), &self.world, request.clone());
            rerank = rerank.max(secs);
            if request.is_some() {
                let x = side.pages.max(1) as f64;
                let before = timing.write_secs + timing.embed_secs;
                side.request_ms.push([x, (before + secs) * 1000.0]);
            }
        }
        if request.is_some() {
            let timing = RequestTiming {
                rerank_secs: rerank,
                ..timing
            };
            self.last_request = Some(timing);
            self.requests.push(timing);
        } else {
            self.last_request = None;
        }
    }

    /// Gives the simulated person a hidden taste from words (both sides: the same person).
    pub fn set_persona(&mut self, description: &str, taste: Vec<f64>) {
        for side in &mut self.sides {
            if side.session.user.taste.len() == taste.len() {
                side.session.user.taste.clone_from(&taste);
            }
        }
        self.persona = Some(description.to_string());
    }

    /// What the model believes the user likes: the genre shares of its current top 50 for the
    /// left side's session.
    pub fn model_belief(&self) -> Vec<f64> {
        belief(&self.world, &self.sides[0].scores)
    }
}

/// The cards a policy places (the hero and the first row): what the learned policy decides.
fn placed_cards(page: &Page) -> Vec<u32> {
    page.hero
        .into_iter()
        .chain(
            page.rows
                .first()
                .into_iter()
                .flat_map(|r| r.items.iter().copied()),
        )
        .collect()
}

fn observation<'a>(
    world: &'a World,
    history: &'a [u32],
    scores: &'a [f32],
    session: &'a ObservedSession,
) -> Observation<'a> {
    Observation {
        catalogue: world.catalogue(),
        history,
        scores,
        session,
    }
}

/// The genre shares of the 50 best-scored items: what scores say the user likes.
fn belief(world: &World, scores: &[f32]) -> Vec<f64> {
    let mut belief = vec![0.0; world.num_genres];
    if scores.is_empty() {
        return belief;
    }
    let mut items: Vec<usize> = (1..scores.len()).collect();
    let n = items.len().min(50);
    if n == 0 {
        return belief;
    }
    items.select_nth_unstable_by(n - 1, |&a, &b| scores[b].total_cmp(&scores[a]));
    for &i in &items[..n] {
        let genres = &world.genres[i];
        for &g in genres {
            belief[g as usize] += 1.0 / genres.len() as f64;
        }
    }
    let total: f64 = belief.iter().sum();
    if total > 0.0 {
        belief.iter_mut().for_each(|b| *b /= total);
    }
    belief
}

/// Half the L1 distance between two distributions: 0 when equal, 1 when disjoint.
fn total_variation(a: &[f64], b: &[f64]) -> f64 {
    0.5 * a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::total_variation;

    #[test]
    fn total_variation_is_half_the_l1_distance() {
        assert_eq!(total_variation(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        assert_eq!(total_variation(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
        assert!((total_variation(&[0.7, 0.2, 0.1], &[0.4, 0.4, 0.2]) - 0.3).abs() < 1e-12);
    }
}
