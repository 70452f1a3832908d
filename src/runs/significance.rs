//! "Is B really better than A?" for saved runs: runs are gathered into arms (the runs of one
//! seed group, or a single run), arms must have been scored on the same dataset, split and
//! protocol, each arm's metric is summarised over its seeds, and every other arm is tested
//! against the first, user by user, on the per-user results — with Holm's correction across all
//! the comparisons shown.

use std::path::PathBuf;

use serde::Serialize;

use super::RunFile;
use super::per_user::PerUserRanks;
use crate::eval::Stage;
use crate::stats::{PairedTest, holm, mean_sd_ci95, paired};

/// A run and its folder, as loaded for comparison.
pub struct LoadedRun {
    pub dir: PathBuf,
    pub run: RunFile,
    pub per_user: Option<PerUserRanks>,
}

impl LoadedRun {
    pub fn load(dir: PathBuf) -> Result<LoadedRun, super::RunError> {
        let run = RunFile::load(&dir)?;
        let folder = if dir.is_dir() {
            dir.clone()
        } else {
            dir.parent().map(PathBuf::from).unwrap_or_default()
        };
        let per_user = PerUserRanks::load(&folder)?;
        Ok(LoadedRun {
            dir: folder,
            run,
            per_user,
        })
    }
}

/// The runs of one seed group (or one run alone).
#[derive(Debug, Clone, Serialize)]
pub struct Arm {
    /// The group's id, or the run's id.
    pub name: String,
    pub model: String,
    pub runs: Vec<String>,
    pub seeds: Vec<u64>,
    /// Per metric: mean, standard deviation and 95% interval half-width over seeds.
    pub summary: Vec<(String, f64, f64, f64)>,
}

/// One arm against the first.
#[derive(Debug, Clone, Serialize)]
pub struct PairedRow {
    pub metric: String,
    pub a: String,
    pub b: String,
    pub test: PairedTest,
    pub t_p_holm: f64,
    pub wilcoxon_p_holm: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairedReport {
    pub stage: Stage,
    pub arms: Vec<Arm>,
    /// Empty when some run has no per-user results (`missing` says which).
    pub rows: Vec<PairedRow>,
    pub missing: Vec<String>,
}

/// Gathers `runs` into arms (by seed group, in order of first appearance) and compares every
/// arm with the first on `metrics` at `stage`. Runs that are not comparable are refused, saying
/// what differs.
pub fn paired_report(
    runs: &[LoadedRun],
    metrics: &[String],
    stage: Stage,
) -> Result<PairedReport, String> {
    let first = runs.first().ok_or("no runs to compare")?;
    for other in &runs[1..] {
        let (a, b) = (&first.run, &other.run);
        let differs = [
            (
                "dataset",
                a.dataset.fingerprint != b.dataset.fingerprint,
                format!(
                    "{} {} vs {} {}",
                    a.dataset.name,
                    short(&a.dataset.fingerprint),
                    b.dataset.name,
                    short(&b.dataset.fingerprint)
                ),
            ),
            (
                "split",
                a.dataset.split != b.dataset.split,
                format!("{} vs {}", a.dataset.split.label(), b.dataset.split.label()),
            ),
            (
                "protocol",
                a.protocol != b.protocol,
                format!("{} vs {}", a.protocol, b.protocol),
            ),
        ];
        if let Some((what, _, detail)) = differs.iter().find(|(_, d, _)| *d) {
            return Err(format!(
                "runs {} and {} are not comparable: another {what} ({detail}); paired tests \
                 need the same users scored on the same targets",
                a.run_id, b.run_id
            ));
        }
    }
    let mut groups: Vec<(String, Vec<&LoadedRun>)> = Vec::new();
    for run in runs {
        let key = run
            .run
            .group
            .clone()
            .unwrap_or_else(|| run.run.run_id.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(run),
            None => groups.push((key, vec![run])),
        }
    }
    let metric_of = |run: &RunFile, metric: &str| -> Option<f64> {
        match stage {
            Stage::Valid => run.valid_metrics.get(metric).copied(),
            Stage::Test => run.test_metrics.get(metric).copied(),
        }
    };
    let arms: Vec<Arm> = groups
        .iter()
        .map(|(name, members)| Arm {
            name: name.clone(),
            model: members[0].run.model.name.clone(),
            runs: members.iter().map(|m| m.run.run_id.clone()).collect(),
            seeds: members.iter().map(|m| m.run.seed).collect(),
            summary: metrics
                .iter()
                .map(|metric| {
                    let values: Vec<f64> = members
                        .iter()
                        .filter_map(|m| metric_of(&m.run, metric))
                        .collect();
                    let (mean, sd, half) = mean_sd_ci95(&values);
                    (metric.clone(), mean, sd, half)
                })
                .collect(),
        })
        .collect();
    let missing: Vec<String> = runs
        .iter()
        .filter(|r| r.per_user.is_none())
        .map(|r| r.run.run_id.clone())
        .collect();
    let mut rows = Vec::new();
    if missing.is_empty() && groups.len() > 1 {
        for metric in metrics {
            let per_arm: Vec<Vec<(u32, f64)>> = groups
                .iter()
                .map(|(_, members)| arm_per_user(members, stage, metric))
                .collect::<Result<_, _>>()?;
            let base = &per_arm[0];
            for (arm, values) in arms.iter().zip(&per_arm).skip(1) {
                let (a, b) = aligned(base, values);
                rows.push(PairedRow {
                    metric: metric.clone(),
                    a: arms[0].name.clone(),
                    b: arm.name.clone(),
                    test: paired(&a, &b, 1),
                    t_p_holm: f64::NAN,
                    wilcoxon_p_holm: f64::NAN,
                });
            }
        }
        let t: Vec<f64> = rows.iter().map(|r| r.test.t_p).collect();
        let w: Vec<f64> = rows.iter().map(|r| r.test.wilcoxon_p).collect();
        for ((row, t), w) in rows.iter_mut().zip(holm(&t)).zip(holm(&w)) {
            row.t_p_holm = t;
            row.wilcoxon_p_holm = w;
        }
    }
    Ok(PairedReport {
        stage,
        arms,
        rows,
        missing,
    })
}

/// Each user's metric averaged over an arm's seeds (users in order).
fn arm_per_user(
    members: &[&LoadedRun],
    stage: Stage,
    metric: &str,
) -> Result<Vec<(u32, f64)>, String> {
    let mut sum: Vec<(u32, f64)> = Vec::new();
    for member in members {
        let Some(per_user) = &member.per_user else {
            continue;
        };
        let values = per_user.metric(stage, metric)?;
        if sum.is_empty() {
            sum = values;
        } else {
            let (_, with) = aligned(&sum, &values);
            sum = sum
                .iter()
                .zip(with)
                .map(|(&(u, s), v)| (u, s + v))
                .collect();
        }
    }
    let n = members.len() as f64;
    Ok(sum.into_iter().map(|(u, s)| (u, s / n)).collect())
}

/// The values of the users both lists have, in `a`'s order.
fn aligned(a: &[(u32, f64)], b: &[(u32, f64)]) -> (Vec<f64>, Vec<f64>) {
    let index: std::collections::HashMap<u32, f64> = b.iter().copied().collect();
    a.iter()
        .filter_map(|&(user, x)| index.get(&user).map(|&y| (x, y)))
        .unzip()
}

impl PairedReport {
    /// The report as text, for `reclab runs compare`.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let stage = match self.stage {
            Stage::Valid => "validation",
            Stage::Test => "test",
        };
        let _ = writeln!(
            out,
            "\n{stage} metrics over seeds (mean ± sd, 95% interval):"
        );
        for arm in &self.arms {
            let _ = write!(
                out,
                "  {} ({}, {} run{})",
                arm.name,
                arm.model,
                arm.runs.len(),
                if arm.runs.len() == 1 { "" } else { "s" }
            );
            for (metric, mean, sd, half) in &arm.summary {
                if arm.runs.len() > 1 {
                    let _ = write!(
                        out,
                        "  {metric} {mean:.4} ± {sd:.4} [{:.4}, {:.4}]",
                        mean - half,
                        mean + half
                    );
                } else {
                    let _ = write!(out, "  {metric} {mean:.4}");
                }
            }
            out.push('\n');
        }
        if !self.missing.is_empty() {
            let _ = writeln!(
                out,
                "no paired tests: {} ha{} no per-user results (saved by an older reclab)",
                self.missing.join(", "),
                if self.missing.len() == 1 { "s" } else { "ve" }
            );
            return out;
        }
        if self.rows.is_empty() {
            return out;
        }
        let users = self.rows.first().map_or(0, |r| r.test.users);
        let _ = writeln!(
            out,
            "\npaired tests against {} on {users} users (B − A; p Holm-corrected over {} comparisons):",
            self.arms[0].name,
            self.rows.len()
        );
        let _ = writeln!(
            out,
            "  {:<10} {:<36} {:>8} {:>8} {:>9} {:>21} {:>10} {:>10} {:>7}",
            "metric",
            "B (run or seed group)",
            "mean A",
            "mean B",
            "B − A",
            "95% CI (bootstrap)",
            "t-test p",
            "Wilcoxon p",
            "d_z"
        );
        for row in &self.rows {
            let t = &row.test;
            let _ = writeln!(
                out,
                "  {:<10} {:<36} {:>8.4} {:>8.4} {:>+9.4} {:>21} {:>10} {:>10} {:>+7.3}",
                row.metric,
                row.b,
                t.mean_a,
                t.mean_b,
                t.mean_difference,
                format!("[{:+.4}, {:+.4}]", t.ci_low, t.ci_high),
                format_p(row.t_p_holm),
                format_p(row.wilcoxon_p_holm),
                t.effect_size
            );
        }
        out
    }
}

/// The first characters of a fingerprint, enough to tell two apart.
fn short(fingerprint: &str) -> String {
    format!("[{}]", fingerprint.chars().take(8).collect::<String>())
}

/// A p-value as the reports print it: 4 decimals, or scientific below 1e-4.
pub fn format_p(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}
