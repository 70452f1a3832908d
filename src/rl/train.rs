//! Training the learned policy in the simulator: episodes are sessions of the training half of
//! the simulated users; every `eval_every` episodes the policy (acting greedily) and the greedy
//! page are compared on held-out users with the same random numbers. The run is saved like any
//! other: its config, the learning curves, and the Q-network's weights.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{FEATURE_NAMES, FEATURES};
use super::learner::{Infer, Learner, LearnerConfig};
use super::network::QNet;
use super::policy::QPolicy;
use super::replay::Transition;
use crate::data::{Dataset, Split, SplitStrategy};
use crate::recommend::Recommender;
use crate::runs::{DatasetInfo, ModelInfo, RunFile, RunStatus};
use crate::sim::{
    PageValues, Policy, PolicyKind, Session, SessionConfig, SessionTrace, SimUser, UserPool, World,
    run_session, simulated_users,
};
use crate::train::TrainError;

/// The weights file in an `rl` run's folder.
pub const WEIGHTS: &str = "q_network";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RlConfig {
    pub learner: LearnerConfig,
    /// Sessions to learn from.
    pub episodes: usize,
    /// Exploration per slot: from `epsilon_start` down to `epsilon_end`, linearly over the
    /// first `explore_share` of the episodes.
    pub epsilon_start: f64,
    pub epsilon_end: f64,
    pub explore_share: f64,
    /// Candidates (the recommender's best) the policy chooses among on each page.
    pub candidates: usize,
    /// Reward of a click: 1, plus this much per minute of dwell.
    pub dwell_weight: f64,
    /// Episodes between evaluations on held-out users, and how many users.
    pub eval_every: usize,
    pub eval_users: usize,
    pub seed: u64,
    pub session: SessionConfig,
    /// What ranked the candidates (`pop`, a run folder, …), as given.
    pub recommender: String,
}

impl Default for RlConfig {
    fn default() -> Self {
        RlConfig {
            learner: LearnerConfig::default(),
            episodes: 2000,
            epsilon_start: 1.0,
            epsilon_end: 0.05,
            explore_share: 0.5,
            candidates: 30,
            dwell_weight: 0.1,
            eval_every: 250,
            eval_users: 200,
            seed: 42,
            session: SessionConfig::default(),
            recommender: "pop".into(),
        }
    }
}

impl RlConfig {
    pub fn epsilon(&self, episode: usize) -> f64 {
        let span = (self.explore_share * self.episodes as f64).max(1.0);
        let progress = (episode as f64 / span).min(1.0);
        self.epsilon_start + (self.epsilon_end - self.epsilon_start) * progress
    }

    /// A session's return: its rewards summed (undiscounted, as reported).
    pub fn session_return(&self, trace: &SessionTrace) -> f64 {
        trace
            .steps
            .iter()
            .filter(|s| s.choice.clicked.is_some())
            .map(|s| self.reward(s.choice.dwell_secs))
            .sum()
    }

    fn reward(&self, dwell_secs: f64) -> f64 {
        1.0 + self.dwell_weight * dwell_secs / 60.0
    }

    fn validate(&self) -> Result<(), TrainError> {
        let fail = |m: &str| Err(TrainError::Config(m.into()));
        if self.episodes == 0 {
            return fail("episodes must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.learner.gamma) {
            return fail("gamma must be from 0 to 1");
        }
        if self.learner.batch == 0 || self.learner.replay < self.learner.batch {
            return fail("the replay must hold at least one batch, of at least one transition");
        }
        if self.candidates < self.learner.slots {
            return fail("there must be at least as many candidates as placed cards");
        }
        Ok(())
    }
}

/// Progress of a training.
#[derive(Debug, Clone, PartialEq)]
pub enum RlEvent {
    Episode {
        episode: usize,
        episodes: usize,
        session_return: f64,
        epsilon: f64,
    },
    Evaluated {
        episode: usize,
        learned: f64,
        greedy: f64,
    },
}

pub struct RlOutcome {
    pub net: QNet<Infer>,
    pub run: RunFile,
    pub run_dir: Option<PathBuf>,
}

/// Trains a policy over `model`'s candidates; saves the run under `out` when given. Stops early
/// (saving what it has, status `stopped`) when `stop` is set.
pub fn train_rl(
    model: &dyn Recommender,
    dataset: &Dataset,
    data_path: &str,
    config: &RlConfig,
    out: Option<&Path>,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(RlEvent),
) -> Result<RlOutcome, TrainError> {
    config.validate()?;
    let started = std::time::Instant::now();
    let split = Split::new(dataset, SplitStrategy::LeaveOneOut)
        .map_err(|e| TrainError::Config(e.to_string()))?;
    let world = World::of(dataset);
    let session = &config.session;
    let training = simulated_users(
        dataset,
        &split,
        &world,
        config.episodes,
        session.patience,
        UserPool::Training,
    );
    let held_out = simulated_users(
        dataset,
        &split,
        &world,
        config.eval_users.max(1),
        session.patience,
        UserPool::HeldOut,
    );
    let slots = config.learner.slots;
    let mut learner = Learner::new(FEATURES, config.learner.clone(), config.seed);
    let policy = Arc::new(QPolicy::training(
        learner.policy(),
        config.candidates,
        slots,
        config.seed ^ 0x5EED,
    ));
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut run = RunFile::new(
        ModelInfo {
            name: format!("rl {}", config.recommender),
            config: serde_json::json!({
                "rl": config,
                "features": FEATURE_NAMES,
            }),
        },
        DatasetInfo::of(data_path, dataset, SplitStrategy::LeaveOneOut),
        "simulated users (held-out half)".into(),
        vec![],
        config.seed,
        "cpu",
    );
    let mut stopped = false;
    for (episode, user) in training.into_iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            stopped = true;
            break;
        }
        let epsilon = config.epsilon(episode);
        policy.set_epsilon(epsilon);
        let session_return =
            learn_from_session(user, &policy, &mut learner, model, &world, config, &mut rng);
        run.push_point("train_return", episode as u64 + 1, session_return);
        on_event(RlEvent::Episode {
            episode: episode + 1,
            episodes: config.episodes,
            session_return,
            epsilon,
        });
        let done = episode + 1;
        if done.is_multiple_of(config.eval_every.max(1)) || done == config.episodes {
            let learned = Arc::new(QPolicy::new(learner.policy(), config.candidates, slots));
            let (a, b) = (
                mean_return(
                    model,
                    &world,
                    &held_out,
                    config,
                    Some(learned.as_page_values()),
                ),
                mean_return(model, &world, &held_out, config, None),
            );
            run.push_point("eval_return_rl", done as u64, a);
            run.push_point("eval_return_greedy", done as u64, b);
            on_event(RlEvent::Evaluated {
                episode: done,
                learned: a,
                greedy: b,
            });
        }
    }
    let net = learner.policy();
    for (name, curve) in [
        ("rl_return", "eval_return_rl"),
        ("greedy_return", "eval_return_greedy"),
    ] {
        if let Some(last) = run.curves.get(curve).and_then(|c| c.last()) {
            run.test_metrics.insert(name.into(), last.value);
        }
    }
    run.timings_secs
        .insert("train".into(), started.elapsed().as_secs_f64());
    run.status = if stopped {
        RunStatus::Cancelled
    } else {
        RunStatus::Completed
    };
    let run_dir = match out {
        Some(root) => {
            let dir = run.dir(root);
            std::fs::create_dir_all(&dir).map_err(|e| TrainError::Checkpoint {
                path: dir.clone(),
                message: e.to_string(),
            })?;
            BinFileRecorder::<FullPrecisionSettings>::new()
                .record(net.clone().into_record(), dir.join(WEIGHTS))
                .map_err(|e| TrainError::Checkpoint {
                    path: dir.join(WEIGHTS).with_extension("bin"),
                    message: e.to_string(),
                })?;
            run.artefacts.push(format!("{WEIGHTS}.bin"));
            Some(run.save(root)?)
        }
        None => None,
    };
    Ok(RlOutcome { net, run, run_dir })
}

/// One training episode: a session of `user` under the exploring policy, each page remembered
/// and followed by one update. Returns the session's return.
fn learn_from_session(
    user: SimUser,
    policy: &Arc<QPolicy>,
    learner: &mut Learner,
    model: &dyn Recommender,
    world: &World,
    config: &RlConfig,
    rng: &mut ChaCha8Rng,
) -> f64 {
    let cards = config.session.cards;
    let mut session = Session::new(
        user,
        Policy::learned(cards, policy.as_page_values()),
        &config.session,
    );
    let mut pending: Option<Transition> = None;
    let mut total = 0.0;
    let mut pages = 0;
    while pages < config.session.max_steps && !session.is_over() {
        policy.set_net(learner.policy());
        let step = session.step(model, world, &config.session, rng);
        pages += 1;
        let Some(decision) = policy.take_decision() else {
            break;
        };
        if let Some(mut previous) = pending.take() {
            previous.next = decision.candidate_features.clone();
            learner.remember(previous);
            learner.update();
        }
        let clicked = step.choice.clicked.map(|slot| slot.item);
        let reward = clicked.map(|_| config.reward(step.choice.dwell_secs));
        total += reward.unwrap_or(0.0);
        pending = Some(Transition {
            shown: decision
                .placed
                .iter()
                .filter_map(|&i| decision.features_of(i))
                .collect(),
            shown_clicked: decision
                .placed
                .iter()
                .map(|&i| Some(i) == clicked)
                .collect(),
            clicked: clicked
                .and_then(|i| decision.features_of(i))
                .zip(reward.map(|r| r as f32)),
            next: Vec::new(),
        });
    }
    if let Some(last) = pending {
        // The session ended: nothing follows the last page.
        learner.remember(last);
        learner.update();
    }
    total
}

/// The mean return of `users` under the learned values (or the greedy page without them), user
/// `k` drawing the same random numbers under either.
pub fn mean_return(
    model: &dyn Recommender,
    world: &World,
    users: &[SimUser],
    config: &RlConfig,
    learned: Option<Arc<dyn PageValues>>,
) -> f64 {
    let returns: Vec<f64> = users
        .par_iter()
        .enumerate()
        .map(|(k, user)| {
            let mut rng = ChaCha8Rng::seed_from_u64(
                (config.seed ^ 0xE7A1).wrapping_add((k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            );
            let policy = match &learned {
                Some(values) => Policy::learned(config.session.cards, Arc::clone(values)),
                None => Policy::new(PolicyKind::Greedy, config.session.cards),
            };
            let trace = run_session(
                user.clone(),
                policy,
                model,
                world,
                &config.session,
                &mut rng,
            );
            config.session_return(&trace)
        })
        .collect();
    returns.iter().sum::<f64>() / returns.len().max(1) as f64
}

/// A trained policy from its run folder, with its config.
pub fn load_policy(run_dir: &Path) -> Result<(Arc<QPolicy>, RlConfig), TrainError> {
    let run = RunFile::load(run_dir)?;
    let bad = |message: String| TrainError::Checkpoint {
        path: run_dir.join(crate::runs::RUN_FILE),
        message,
    };
    let config: RlConfig = run
        .model
        .config
        .get("rl")
        .cloned()
        .ok_or_else(|| {
            bad(
                "not a learned policy's run (no `rl` config; train one with `reclab rl train`)"
                    .into(),
            )
        })
        .and_then(|v| {
            serde_json::from_value(v).map_err(|e| bad(format!("its `rl` config: {e}")))
        })?;
    let device = Default::default();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let blank = QNet::<Infer>::new(FEATURES, config.learner.hidden, &mut rng, &device);
    let net = crate::train::record::load_weights_into(blank, &run_dir.join(WEIGHTS), &device)?;
    Ok((
        Arc::new(QPolicy::new(net, config.candidates, config.learner.slots)),
        config,
    ))
}
