//! One simulated session: page, choice, feedback, repeat — until the user's patience runs out
//! or the step budget ends. Every re-rank is timed.

use std::time::Instant;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::choice::{Choice, ChoiceModel};
use super::layout::Page;
use super::policy::Policy;
use super::user::{SimUser, World};
use crate::recommend::Recommender;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    pub choice: ChoiceModel,
    /// Pages at most per session.
    pub max_steps: usize,
    /// Pages without a click the user tolerates (a click restores one, up to this).
    pub patience: f64,
    /// Satiation added to each genre of a clicked item, and the share that fades per page.
    pub satiation: f64,
    pub recovery: f64,
    /// Probability per click that one genre gains appeal.
    pub drift: f64,
    /// Cards per row.
    pub cards: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            choice: ChoiceModel::default(),
            max_steps: 20,
            patience: 3.0,
            satiation: 0.5,
            recovery: 0.2,
            drift: 0.05,
            cards: 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepTrace {
    pub page: Page,
    pub choice: Choice,
    pub rerank_secs: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionTrace {
    pub steps: Vec<StepTrace>,
}

impl SessionTrace {
    pub fn clicks(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.choice.clicked.is_some())
            .count()
    }

    pub fn ctr(&self) -> f64 {
        self.clicks() as f64 / self.steps.len().max(1) as f64
    }

    pub fn dwell_secs(&self) -> f64 {
        self.steps.iter().map(|s| s.choice.dwell_secs).sum()
    }

    pub fn clicked_items(&self) -> impl Iterator<Item = u32> + '_ {
        self.steps
            .iter()
            .filter_map(|s| s.choice.clicked.map(|c| c.item))
    }
}

/// The state of a session between steps, so the app can advance it one page at a time.
pub struct Session {
    pub user: SimUser,
    pub policy: Policy,
    patience_left: f64,
    /// Items clicked in this session (not clicked twice).
    clicked: Vec<u32>,
}

impl Session {
    pub fn new(user: SimUser, policy: Policy, config: &SessionConfig) -> Session {
        Session {
            user,
            policy,
            patience_left: config.patience,
            clicked: Vec::new(),
        }
    }

    pub fn is_over(&self) -> bool {
        self.patience_left <= 0.0
    }

    /// Shows one page and lets the user act on it.
    pub fn step(
        &mut self,
        model: &dyn Recommender,
        world: &World,
        config: &SessionConfig,
        rng: &mut impl Rng,
    ) -> StepTrace {
        let started = Instant::now();
        let page = self.policy.page(model, world, &self.user.history, rng);
        let rerank_secs = started.elapsed().as_secs_f64();
        let user = &self.user;
        let clicked = &self.clicked;
        let choice = config.choice.choose(
            &page,
            |item| {
                // A card already clicked in this session has nothing new to offer.
                if clicked.contains(&item) {
                    f64::NEG_INFINITY
                } else {
                    user.appeal(world, item)
                }
            },
            rng,
        );
        self.policy.feedback(&page, &choice);
        self.user.rest(config.recovery);
        match choice.clicked {
            Some(slot) => {
                self.clicked.push(slot.item);
                self.user
                    .clicked(world, slot.item, config.satiation, config.drift, rng);
                self.patience_left = (self.patience_left + 1.0).min(config.patience);
            }
            None => self.patience_left -= 1.0,
        }
        StepTrace {
            page,
            choice,
            rerank_secs,
        }
    }
}

/// Runs a whole session.
pub fn run_session(
    user: SimUser,
    policy: Policy,
    model: &dyn Recommender,
    world: &World,
    config: &SessionConfig,
    rng: &mut impl Rng,
) -> SessionTrace {
    let mut session = Session::new(user, policy, config);
    let mut trace = SessionTrace::default();
    while trace.steps.len() < config.max_steps && !session.is_over() {
        trace.steps.push(session.step(model, world, config, rng));
    }
    trace
}
