//! Running a model over every user with a target and averaging the metrics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::metrics::{BeyondAccuracy, Catalogue, RANKING_METRICS, RankingMetrics};
use super::protocol::{Protocol, Sampling, draw_negatives};
use crate::data::{Dataset, Split};
use crate::recommend::{Query, Recommender, ScoreError, top_k_among};

/// Which target is predicted: validation (history = train) or test (history = train + valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Valid,
    Test,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalConfig {
    pub protocol: Protocol,
    /// Cut-offs K, e.g. `[5, 10, 20]`.
    pub cutoffs: Vec<usize>,
    /// Keep every user's list in the report (for dumps and the app's inspection views).
    #[serde(skip)]
    pub keep_rankings: bool,
    /// Evaluate an evenly spaced sample of this many of the users (by index) instead of all:
    /// for models that cost seconds per user (an LLM on a CPU). Labelled wherever shown.
    #[serde(default)]
    pub users: Option<usize>,
}

impl EvalConfig {
    /// The protocol's label, with the user sample when there is one.
    pub fn label(&self) -> String {
        match self.users {
            Some(n) => format!("{}, {n}-user sample", self.protocol.label()),
            None => self.protocol.label(),
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            protocol: Protocol::Full,
            cutoffs: vec![5, 10, 20],
            keep_rankings: false,
            users: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Score(#[from] ScoreError),
    #[error("no user has a {stage:?} target to evaluate (is the dataset too small for the split?)")]
    NoUsers { stage: Stage },
    #[error("cut-offs must be at least 1 (got {0:?})")]
    BadCutoffs(Vec<usize>),
    #[error("model {model} scores {got} items but the dataset has {expected}")]
    WrongCatalogue {
        model: String,
        got: usize,
        expected: usize,
    },
    #[error("evaluation cancelled")]
    Cancelled,
    #[error("model {model} could not score: {message}")]
    Model { model: String, message: String },
}

/// One user's targets and recommended list (best first, as long as the largest cut-off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRanking {
    pub user: u32,
    pub targets: Vec<u32>,
    pub list: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub model: String,
    pub stage: Stage,
    /// Shown with every result, e.g. `full ranking` or `sampled uni100`.
    pub protocol: String,
    pub users: usize,
    /// `hit@10`, `ndcg@10`, `item_coverage@10`, … averaged over evaluated users.
    pub metrics: BTreeMap<String, f64>,
    pub seconds: f64,
    #[serde(skip)]
    pub rankings: Vec<UserRanking>,
}

impl EvalReport {
    pub fn users_per_second(&self) -> f64 {
        self.users as f64 / self.seconds.max(1e-9)
    }
}

/// Accuracy metrics of a cold-items split's test, apart for users whose target is a cold item
/// and users whose target is warm: `{"cold": {"users": n, "ndcg@10": …}, "warm": {…}}`. Empty for
/// other splits, or when the report kept no rankings ([`EvalConfig::keep_rankings`]).
pub fn by_target_group(
    report: &EvalReport,
    split: &Split,
    cutoffs: &[usize],
) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut groups = BTreeMap::new();
    if split.cold_items() == 0 {
        return groups;
    }
    for (name, cold) in [("cold", true), ("warm", false)] {
        let members: Vec<&UserRanking> = report
            .rankings
            .iter()
            .filter(|r| r.targets.iter().any(|&t| split.is_cold(t)) == cold)
            .collect();
        let mut metrics = BTreeMap::new();
        metrics.insert("users".to_string(), members.len() as f64);
        if !members.is_empty() {
            for &k in cutoffs {
                let mut sum = RankingMetrics::default();
                for r in &members {
                    sum.add(&RankingMetrics::of(&r.list, &r.targets, k));
                }
                for (metric, value) in RANKING_METRICS.iter().zip(sum.values()) {
                    metrics.insert(format!("{metric}@{k}"), value / members.len() as f64);
                }
            }
        }
        groups.insert(name.to_string(), metrics);
    }
    groups
}

/// Score buffers per batch are kept under this many bytes, whatever the catalogue's size.
const BATCH_BYTES: usize = 64 << 20;

/// Evaluates `model` on every user with a target at `stage`.
///
/// Each user's earlier interactions are excluded from the ranking, except the targets
/// themselves (a re-consumed item stays rankable). Ties are broken by item index, ascending.
/// Users are scored in batches bounded by [`BATCH_BYTES`], on rayon threads unless the model
/// parallelises inside a batch itself. `progress(done,
/// total)` is called after each batch; returning `false` cancels.
pub fn evaluate(
    model: &dyn Recommender,
    dataset: &Dataset,
    split: &Split,
    stage: Stage,
    config: &EvalConfig,
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Result<EvalReport, EvalError> {
    let started = Instant::now();
    if config.cutoffs.is_empty() || config.cutoffs.contains(&0) {
        return Err(EvalError::BadCutoffs(config.cutoffs.clone()));
    }
    if model.num_items() != dataset.num_items() {
        return Err(EvalError::WrongCatalogue {
            model: model.name().to_string(),
            got: model.num_items(),
            expected: dataset.num_items(),
        });
    }
    let max_k = config.cutoffs.iter().copied().max().unwrap_or(10);
    let mut users: Vec<u32> = (0..dataset.num_users() as u32)
        .filter(|&u| !targets_of(dataset, split, stage, u).is_empty())
        .collect();
    if let Some(n) = config.users.filter(|&n| n > 0 && n < users.len()) {
        users = (0..n).map(|i| users[i * users.len() / n]).collect();
    }
    if users.is_empty() {
        return Err(EvalError::NoUsers { stage });
    }
    let popularity = training_counts(dataset, split);
    let cumulative = match config.protocol {
        Protocol::Sampled {
            sampling: Sampling::Popularity,
            ..
        } => Some(
            popularity
                .iter()
                .scan(0.0, |sum, &c| {
                    *sum += c as f64;
                    Some(*sum)
                })
                .collect::<Vec<f64>>(),
        ),
        _ => None,
    };

    let width = dataset.num_items() + 1;
    let batch = (BATCH_BYTES / (4 * width))
        .clamp(1, 256)
        .min(model.batch_limit().unwrap_or(usize::MAX).max(1));
    let done = AtomicUsize::new(0);
    let cancelled = AtomicBool::new(false);
    let rank_chunk =
        |scores: &mut Vec<f32>, chunk: &[u32]| -> Result<Vec<UserRanking>, EvalError> {
            if cancelled.load(Ordering::Relaxed) {
                return Err(EvalError::Cancelled);
            }
            let queries: Vec<Query<'_>> = chunk
                .iter()
                .map(|&u| Query {
                    user: Some(u),
                    history: history_of(dataset, split, stage, u),
                })
                .collect();
            // Each user's targets, and in a sampled protocol the items they are ranked among.
            let targets: Vec<Vec<u32>> = chunk
                .iter()
                .map(|&u| {
                    let mut t = targets_of(dataset, split, stage, u).to_vec();
                    t.sort_unstable();
                    t.dedup();
                    t
                })
                .collect();
            let candidates: Option<Vec<Vec<u32>>> = match config.protocol {
                Protocol::Full => None,
                Protocol::Sampled {
                    negatives, seed, ..
                } => Some(
                    queries
                        .iter()
                        .zip(&targets)
                        .zip(chunk)
                        .map(|((query, targets), &user)| {
                            let mut excluded: Vec<u32> =
                                query.history.iter().chain(targets).copied().collect();
                            excluded.sort_unstable();
                            excluded.dedup();
                            let mut drawn = draw_negatives(
                                negatives,
                                width - 1,
                                &excluded,
                                cumulative.as_deref(),
                                seed,
                                user,
                            );
                            drawn.extend_from_slice(targets);
                            drawn
                        })
                        .collect(),
                ),
            };
            scores.clear();
            scores.resize(chunk.len() * width, 0.0);
            match &candidates {
                None => model.score_batch(&queries, scores),
                Some(lists) => {
                    let among: Vec<&[u32]> = lists.iter().map(Vec::as_slice).collect();
                    model.score_batch_among(&queries, &among, scores);
                }
            }
            if let Some(message) = model.failure() {
                return Err(EvalError::Model {
                    model: model.name().to_string(),
                    message,
                });
            }
            let mut out = Vec::with_capacity(chunk.len());
            for (i, (query, row)) in queries
                .iter()
                .zip(scores.chunks_exact_mut(width))
                .enumerate()
            {
                let user = query.user.unwrap_or_default();
                let targets = targets[i].clone();
                let candidates = candidates.as_ref().map(|lists| lists[i].as_slice());
                let list = top_k_among(row, query.history, &targets, candidates, max_k)
                    .map_err(|e| e.for_model(model.name(), Some(user)))?;
                out.push(UserRanking {
                    user,
                    targets,
                    list,
                });
            }
            let finished = done.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
            if !progress(finished, users.len()) {
                cancelled.store(true, Ordering::Relaxed);
            }
            Ok(out)
        };
    let chunks: Vec<Vec<UserRanking>> = if model.scores_in_parallel() {
        users
            .par_chunks(batch)
            .map_init(Vec::<f32>::new, |scores, chunk| rank_chunk(scores, chunk))
            .collect::<Result<_, EvalError>>()?
    } else {
        let mut scores = Vec::new();
        users
            .chunks(batch)
            .map(|chunk| rank_chunk(&mut scores, chunk))
            .collect::<Result<_, EvalError>>()?
    };
    let rankings: Vec<UserRanking> = chunks.into_iter().flatten().collect();
    if cancelled.load(Ordering::Relaxed) {
        return Err(EvalError::Cancelled);
    }

    let mut metrics = BTreeMap::new();
    let catalogue = Catalogue {
        popularity: &popularity,
        categories: dataset
            .items
            .iter()
            .map(|i| i.categories.as_slice())
            .collect(),
    };
    let lists: Vec<&[u32]> = rankings.iter().map(|r| r.list.as_slice()).collect();
    for &k in &config.cutoffs {
        let mut sum = RankingMetrics::default();
        for r in &rankings {
            sum.add(&RankingMetrics::of(&r.list, &r.targets, k));
        }
        for (name, value) in RANKING_METRICS.iter().zip(sum.values()) {
            metrics.insert(format!("{name}@{k}"), value / rankings.len() as f64);
        }
        let beyond = BeyondAccuracy::of(&lists, k, &catalogue);
        metrics.insert(format!("item_coverage@{k}"), beyond.item_coverage);
        metrics.insert(format!("gini@{k}"), beyond.gini);
        metrics.insert(format!("avg_popularity@{k}"), beyond.avg_popularity);
        metrics.insert(format!("tail_share@{k}"), beyond.tail_share);
        metrics.insert(format!("entropy@{k}"), beyond.entropy);
        if let Some(ild) = beyond.ild {
            metrics.insert(format!("ild@{k}"), ild);
        }
    }
    Ok(EvalReport {
        model: model.name().to_string(),
        stage,
        protocol: config.label(),
        users: rankings.len(),
        metrics,
        seconds: started.elapsed().as_secs_f64(),
        rankings: if config.keep_rankings {
            rankings
        } else {
            Vec::new()
        },
    })
}

/// The history a user is scored with at `stage`.
pub fn history_of<'a>(dataset: &'a Dataset, split: &Split, stage: Stage, user: u32) -> &'a [u32] {
    match stage {
        Stage::Valid => split.train(dataset, user as usize),
        Stage::Test => split.before_test(dataset, user as usize),
    }
}

/// The items a user is expected to meet next at `stage`.
pub fn targets_of<'a>(dataset: &'a Dataset, split: &Split, stage: Stage, user: u32) -> &'a [u32] {
    match stage {
        Stage::Valid => split.valid(dataset, user as usize),
        Stage::Test => split.test(dataset, user as usize),
    }
}

/// Interaction count per item index in the training split.
pub fn training_counts(dataset: &Dataset, split: &Split) -> Vec<u32> {
    let mut counts = vec![0u32; dataset.num_items() + 1];
    for u in 0..dataset.num_users() {
        for &i in split.train(dataset, u) {
            counts[i as usize] += 1;
        }
    }
    counts
}

/// Writes what an independent checker needs to recompute full-ranking metrics: `scores.f32`
/// (raw little-endian f32 scores, one row of `num_items + 1` per evaluated user, in user order)
/// and `users.tsv` (`user<TAB>targets<TAB>history`, items space-separated).
pub fn write_score_dump(
    model: &dyn Recommender,
    dataset: &Dataset,
    split: &Split,
    stage: Stage,
    dir: &Path,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut scores_file = std::io::BufWriter::new(std::fs::File::create(dir.join("scores.f32"))?);
    let mut users_file = std::io::BufWriter::new(std::fs::File::create(dir.join("users.tsv"))?);
    let mut scores = vec![0.0f32; dataset.num_items() + 1];
    let join = |items: &[u32]| {
        items
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    for u in 0..dataset.num_users() as u32 {
        let targets = targets_of(dataset, split, stage, u);
        if targets.is_empty() {
            continue;
        }
        let history = history_of(dataset, split, stage, u);
        model.score(
            Query {
                user: Some(u),
                history,
            },
            &mut scores,
        );
        for s in &scores {
            scores_file.write_all(&s.to_le_bytes())?;
        }
        writeln!(users_file, "{u}\t{}\t{}", join(targets), join(history))?;
    }
    scores_file.flush()?;
    users_file.flush()
}
