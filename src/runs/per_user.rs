//! Per-user results beside `run.json`: for the validation and the test evaluation, each
//! evaluated user's ranks of their targets — enough to recompute every accuracy metric per user,
//! which paired significance tests need (two runs scored on the same users).
//!
//! The file is `per_user.bin`, [postcard](https://docs.rs/postcard) encoding of
//! [`PerUserRanks`]: `format` (1), `horizon` (the list length the ranks were read from: the
//! largest cut-off), then `valid` and `test`, each a list of `{user, ranks}` in user order, where
//! `ranks` holds, for each of the user's targets (by item index), its 1-based position in the
//! recommended list, or 0 when it was not among the first `horizon`. Runs written before this
//! file existed simply have none.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::RunError;
use crate::eval::{EvalReport, RankingMetrics, Stage};

pub const PER_USER_FILE: &str = "per_user.bin";
const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRanks {
    pub user: u32,
    pub ranks: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerUserRanks {
    pub format: u32,
    pub horizon: u32,
    pub valid: Vec<UserRanks>,
    pub test: Vec<UserRanks>,
}

impl PerUserRanks {
    /// From the reports of a run's final evaluations (made with `keep_rankings`).
    pub fn from_reports(valid: Option<&EvalReport>, test: &EvalReport, horizon: usize) -> Self {
        let ranks = |report: &EvalReport| -> Vec<UserRanks> {
            report
                .rankings
                .iter()
                .map(|r| UserRanks {
                    user: r.user,
                    ranks: r
                        .targets
                        .iter()
                        .map(|t| {
                            r.list
                                .iter()
                                .position(|i| i == t)
                                .map_or(0, |p| p as u32 + 1)
                        })
                        .collect(),
                })
                .collect()
        };
        PerUserRanks {
            format: FORMAT,
            horizon: horizon as u32,
            valid: valid.map(ranks).unwrap_or_default(),
            test: ranks(test),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), RunError> {
        let path = dir.join(PER_USER_FILE);
        let bytes = postcard::to_allocvec(self).map_err(|e| RunError::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        super::write_atomic(&path, &bytes)
    }

    /// The run folder's per-user results; `None` for a run saved without them.
    pub fn load(dir: &Path) -> Result<Option<PerUserRanks>, RunError> {
        let path = dir.join(PER_USER_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RunError::Io { path, source }),
        };
        let damaged = |detail: String| RunError::Io {
            path: path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{detail} (expected reclab per-user results, format {FORMAT})"),
            ),
        };
        let ranks: PerUserRanks =
            postcard::from_bytes(&bytes).map_err(|e| damaged(e.to_string()))?;
        if ranks.format != FORMAT {
            return Err(damaged(format!("format {}", ranks.format)));
        }
        Ok(Some(ranks))
    }

    /// Each user's value of `metric` (`ndcg@10`, `hit@5`, …) at `stage`, in user order. The
    /// cut-off must not exceed the horizon the ranks were read from.
    pub fn metric(&self, stage: Stage, metric: &str) -> Result<Vec<(u32, f64)>, String> {
        let (name, k) = metric
            .split_once('@')
            .and_then(|(n, k)| Some((n, k.parse::<usize>().ok()?)))
            .ok_or_else(|| format!("`{metric}`: expected a metric like ndcg@10"))?;
        if k > self.horizon as usize {
            return Err(format!(
                "`{metric}`: the per-user results hold the first {} places only",
                self.horizon
            ));
        }
        if RankingMetrics::default().get(name).is_none() {
            return Err(format!(
                "`{metric}`: per-user values exist for {} only",
                crate::eval::RANKING_METRICS.join(", ")
            ));
        }
        let users = match stage {
            Stage::Valid => &self.valid,
            Stage::Test => &self.test,
        };
        Ok(users
            .iter()
            .map(|u| {
                let value = RankingMetrics::of_ranks(&u.ranks, k)
                    .get(name)
                    .unwrap_or(0.0);
                (u.user, value)
            })
            .collect())
    }
}
