//! A/B runs: the same simulated users (and the same random numbers per user) through two or more
//! policies; outcomes with 95% confidence intervals and per-step CTR curves.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::observe::PageValues;
use super::policy::{Policy, PolicyKind};
use super::session::{SessionConfig, SessionTrace, run_session};
use super::user::{SimUser, World};
use crate::data::{Dataset, Split};
use crate::quantile::quantile;
use crate::recommend::Recommender;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbConfig {
    pub policies: Vec<PolicyKind>,
    pub users: usize,
    pub session: SessionConfig,
    pub seed: u64,
    /// Which of the dataset's users are simulated.
    #[serde(default)]
    pub pool: UserPool,
}

/// Which of the dataset's users a run simulates: a learned policy trains on one half and is
/// compared on the other, so it is never measured on the users it learned from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserPool {
    #[default]
    All,
    /// The even-indexed users, held out from a learned policy's training.
    HeldOut,
    /// The odd-indexed users, the ones a learned policy trains on.
    Training,
}

impl UserPool {
    /// The dataset user of the `k`-th simulated user (the pool cycled) among `n` users.
    pub fn user(self, k: usize, n: usize) -> usize {
        let n = n.max(1);
        match self {
            UserPool::All => k % n,
            UserPool::HeldOut => 2 * (k % n.div_ceil(2)),
            // With a single user there is no odd half: that user serves both.
            UserPool::Training if n < 2 => 0,
            UserPool::Training => 2 * (k % (n / 2)) + 1,
        }
    }
}

/// A mean with its 95% confidence half-width (normal approximation over users).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub mean: f64,
    pub ci95: f64,
}

impl Estimate {
    pub fn of(values: &[f64]) -> Estimate {
        let n = values.len() as f64;
        if n == 0.0 {
            return Estimate {
                mean: f64::NAN,
                ci95: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / n;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        Estimate {
            mean,
            ci95: 1.96 * (variance / n).sqrt(),
        }
    }
}

/// Bins of [`PolicyOutcome::ctr_histogram`].
pub const CTR_BINS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyOutcome {
    pub policy: String,
    /// Clicks / pages, per user, averaged.
    pub ctr: Estimate,
    pub clicks_per_session: Estimate,
    pub dwell_secs_per_session: Estimate,
    pub pages_per_session: Estimate,
    /// Distinct clicked items / catalogue.
    pub click_coverage: f64,
    /// Entropy (bits) of the genres of all clicks.
    pub click_genre_entropy: f64,
    /// CTR of the n-th page over the sessions that reached it.
    pub ctr_by_step: Vec<f64>,
    /// The distribution of per-session CTR: the share of sessions in each of [`CTR_BINS`]
    /// equal bins of 0..=1 (a CTR of 1 counts in the last bin).
    #[serde(default)]
    pub ctr_histogram: Vec<f64>,
    /// Re-rank latency percentiles, milliseconds.
    pub rerank_p50_ms: f64,
    pub rerank_p99_ms: f64,
    /// Clicks of each simulated user's session, in user order (for paired comparisons).
    #[serde(skip)]
    pub clicks_by_user: Vec<f64>,
}

impl PolicyOutcome {
    /// The paired difference in clicks per session, `self − other`, over the same users with the
    /// same random numbers (its interval is far tighter than the two unpaired ones suggest).
    /// `None` when the two did not see the same users.
    pub fn clicks_over(&self, other: &PolicyOutcome) -> Option<Estimate> {
        if self.clicks_by_user.len() != other.clicks_by_user.len() || self.clicks_by_user.is_empty()
        {
            return None;
        }
        let differences: Vec<f64> = self
            .clicks_by_user
            .iter()
            .zip(&other.clicks_by_user)
            .map(|(a, b)| a - b)
            .collect();
        Some(Estimate::of(&differences))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbReport {
    pub model: String,
    pub users: usize,
    pub outcomes: Vec<PolicyOutcome>,
    pub seconds: f64,
}

/// The simulated users: the first `users` of the pool (cycled), each from its true taste on
/// a synthetic world or from its training history otherwise, starting from that history.
pub fn simulated_users(
    dataset: &Dataset,
    split: &Split,
    world: &World,
    users: usize,
    patience: f64,
    pool: UserPool,
) -> Vec<SimUser> {
    let n = dataset.num_users().max(1);
    (0..users)
        .map(|k| {
            let u = pool.user(k, n);
            let history = split.before_test(dataset, u);
            SimUser::from_truth(dataset, u, history, patience)
                .unwrap_or_else(|| SimUser::from_history(world, history, patience))
        })
        .collect()
}

pub fn run_ab(
    model: &dyn Recommender,
    dataset: &Dataset,
    split: &Split,
    config: &AbConfig,
) -> AbReport {
    run_ab_with(model, dataset, split, config, None)
}

/// [`run_ab`] with the values of the learned policy (`rl`) among the policies; without them
/// `rl` lays out the greedy page.
pub fn run_ab_with(
    model: &dyn Recommender,
    dataset: &Dataset,
    split: &Split,
    config: &AbConfig,
    learned: Option<&Arc<dyn PageValues>>,
) -> AbReport {
    let started = std::time::Instant::now();
    let world = World::of(dataset);
    let users = simulated_users(
        dataset,
        split,
        &world,
        config.users,
        config.session.patience,
        config.pool,
    );
    let outcomes = config
        .policies
        .iter()
        .map(|&kind| {
            let traces: Vec<SessionTrace> = users
                .par_iter()
                .enumerate()
                .map(|(k, user)| {
                    // Common random numbers: user k draws the same stream under every policy.
                    let mut rng = ChaCha8Rng::seed_from_u64(
                        config.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    let policy = match (kind, learned) {
                        (PolicyKind::Learned, Some(values)) => {
                            Policy::learned(config.session.cards, Arc::clone(values))
                        }
                        _ => Policy::new(kind, config.session.cards),
                    };
                    run_session(
                        user.clone(),
                        policy,
                        model,
                        &world,
                        &config.session,
                        &mut rng,
                    )
                })
                .collect();
            outcome(kind.name(), &traces, &world)
        })
        .collect();
    AbReport {
        model: model.name().to_string(),
        users: users.len(),
        outcomes,
        seconds: started.elapsed().as_secs_f64(),
    }
}

pub fn outcome(policy: String, traces: &[SessionTrace], world: &World) -> PolicyOutcome {
    let per =
        |f: &dyn Fn(&SessionTrace) -> f64| Estimate::of(&traces.iter().map(f).collect::<Vec<_>>());
    let mut clicked = vec![false; world.genres.len()];
    let mut genre_clicks = vec![0.0f64; world.num_genres];
    let longest = traces.iter().map(|t| t.steps.len()).max().unwrap_or(0);
    let mut step_clicks = vec![(0.0f64, 0.0f64); longest];
    let mut latencies = Vec::new();
    for trace in traces {
        for item in trace.clicked_items() {
            clicked[item as usize] = true;
            let genres = &world.genres[item as usize];
            for &g in genres {
                genre_clicks[g as usize] += 1.0 / genres.len() as f64;
            }
        }
        for (n, step) in trace.steps.iter().enumerate() {
            step_clicks[n].0 += f64::from(u8::from(step.choice.clicked.is_some()));
            step_clicks[n].1 += 1.0;
            latencies.push(step.rerank_secs * 1000.0);
        }
    }
    let total: f64 = genre_clicks.iter().sum();
    let entropy = genre_clicks
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| -(c / total) * (c / total).log2())
        .sum();
    PolicyOutcome {
        policy,
        ctr: per(&|t| t.ctr()),
        clicks_per_session: per(&|t| t.clicks() as f64),
        dwell_secs_per_session: per(&|t| t.dwell_secs()),
        pages_per_session: per(&|t| t.steps.len() as f64),
        click_coverage: clicked.iter().filter(|&&c| c).count() as f64
            / world.num_items().max(1) as f64,
        click_genre_entropy: entropy,
        ctr_by_step: step_clicks.iter().map(|(c, n)| c / n.max(1.0)).collect(),
        ctr_histogram: histogram(traces.iter().map(SessionTrace::ctr), CTR_BINS),
        rerank_p50_ms: quantile(&latencies, 0.5),
        rerank_p99_ms: quantile(&latencies, 0.99),
        clicks_by_user: traces.iter().map(|t| t.clicks() as f64).collect(),
    }
}

/// The policy the others are compared with, paired: greedy when it took part, else the first.
pub fn paired_base(report: &AbReport) -> Option<&PolicyOutcome> {
    report
        .outcomes
        .iter()
        .find(|o| o.policy == "greedy")
        .or(report.outcomes.first())
}

/// The share of `values` (each in 0..=1) in each of `bins` equal bins; 1 counts in the last.
fn histogram(values: impl Iterator<Item = f64>, bins: usize) -> Vec<f64> {
    let mut counts = vec![0.0; bins];
    let mut n = 0.0;
    for v in values {
        let bin = ((v * bins as f64) as usize).min(bins - 1);
        counts[bin] += 1.0;
        n += 1.0;
    }
    counts.iter().map(|c| c / f64::max(n, 1.0)).collect()
}

/// The A/B report as a run file (outcomes as metrics, CTR per page as curves), for Compare.
pub fn ab_run_file(
    report: &AbReport,
    config: &AbConfig,
    dataset: &Dataset,
    data_path: &str,
) -> crate::runs::RunFile {
    use crate::runs::{DatasetInfo, ModelInfo, RunFile, RunStatus};
    let mut run = RunFile::new(
        ModelInfo {
            name: format!("simulate {}", report.model),
            // Plain numbers and names: always serialisable.
            config: serde_json::to_value(config).unwrap_or_default(),
        },
        DatasetInfo::of(data_path, dataset, crate::data::SplitStrategy::LeaveOneOut),
        "simulated users".into(),
        vec![],
        config.seed,
        "cpu",
    );
    for o in &report.outcomes {
        let p = &o.policy;
        run.test_metrics.insert(format!("{p}.ctr"), o.ctr.mean);
        run.test_metrics.insert(format!("{p}.ctr_ci95"), o.ctr.ci95);
        run.test_metrics
            .insert(format!("{p}.clicks_per_session"), o.clicks_per_session.mean);
        run.test_metrics.insert(
            format!("{p}.dwell_secs_per_session"),
            o.dwell_secs_per_session.mean,
        );
        run.test_metrics
            .insert(format!("{p}.pages_per_session"), o.pages_per_session.mean);
        run.test_metrics
            .insert(format!("{p}.click_coverage"), o.click_coverage);
        run.test_metrics
            .insert(format!("{p}.click_genre_entropy"), o.click_genre_entropy);
        if let Some(base) = paired_base(report)
            && base.policy != o.policy
            && let Some(difference) = o.clicks_over(base)
        {
            let name = format!("{p}.clicks_over_{}", base.policy);
            run.test_metrics.insert(name.clone(), difference.mean);
            run.test_metrics
                .insert(format!("{name}_ci95"), difference.ci95);
        }
        for (step, ctr) in o.ctr_by_step.iter().enumerate() {
            run.push_point(&format!("{p}.ctr_by_step"), step as u64 + 1, *ctr);
        }
    }
    run.timings_secs.insert("simulate".into(), report.seconds);
    run.status = RunStatus::Completed;
    run
}

#[cfg(test)]
mod tests {
    use super::histogram;

    #[test]
    fn the_paired_difference_is_over_users_by_hand() {
        let outcome = |clicks: Vec<f64>| super::PolicyOutcome {
            clicks_by_user: clicks,
            ..super::outcome("p".into(), &[], &test_world())
        };
        let a = outcome(vec![3.0, 5.0, 4.0]);
        let b = outcome(vec![1.0, 4.0, 4.0]);
        // Differences 2, 1, 0: mean 1, sample variance 1, interval 1.96 · √(1/3).
        let d = a.clicks_over(&b).unwrap();
        assert!((d.mean - 1.0).abs() < 1e-12);
        assert!((d.ci95 - 1.96 * (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(a.clicks_over(&outcome(vec![1.0])).is_none());
    }

    fn test_world() -> super::World {
        let dataset = crate::data::load_synthetic(
            &crate::data::SyntheticConfig {
                users: 20,
                items: 30,
                min_seq_len: 5,
                max_seq_len: 10,
                ..Default::default()
            },
            &crate::data::Preprocessing::default(),
        )
        .unwrap();
        super::World::of(&dataset)
    }

    #[test]
    fn histogram_shares_by_hand() {
        // Five sessions: two in the first tenth, one each in the second, sixth and last
        // (a CTR of exactly 1 belongs to the last bin, 0.1 to the second).
        let shares = histogram([0.0, 0.05, 0.1, 0.55, 1.0].into_iter(), 10);
        let expected = [0.4, 0.2, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.2];
        assert_eq!(shares.len(), 10);
        for (got, want) in shares.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{shares:?}");
        }
        assert_eq!(histogram(std::iter::empty(), 4), vec![0.0; 4]);
    }
}
