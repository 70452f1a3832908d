//! The learned page policy (`rl`) in the Live preview: trained here as a task with its learning
//! curve, or opened from a run that `reclab rl train` (or an earlier training here) saved.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::data::Loaded;
use crate::app::task::{Reporter, Update};
use crate::recommend::Recommender;
use crate::rl::{QPolicy, RlConfig, RlEvent, load_policy, train_rl};

/// A learned policy ready for the preview and the A/B run.
#[derive(Clone)]
pub struct LearnedPolicy {
    pub dir: PathBuf,
    pub policy: Arc<QPolicy>,
    pub config: RlConfig,
}

impl LearnedPolicy {
    /// Opens a saved learned policy, with the learning curve its run kept.
    pub fn open(dir: &Path) -> Result<(LearnedPolicy, LearningCurve), String> {
        let (policy, config) = load_policy(dir).map_err(|e| e.to_string())?;
        let run = crate::runs::RunFile::load(dir).map_err(|e| e.to_string())?;
        let points = |name: &str| run.curves.get(name).cloned().unwrap_or_default();
        let returns: Vec<f64> = points("train_return").iter().map(|p| p.value).collect();
        let evaluations = points("eval_return_rl")
            .iter()
            .zip(points("eval_return_greedy"))
            .map(|(l, g)| (l.step as usize, l.value, g.value))
            .collect();
        let curve = LearningCurve {
            episodes: returns.len(),
            returns,
            evaluations,
        };
        Ok((
            LearnedPolicy {
                dir: dir.to_path_buf(),
                policy,
                config,
            },
            curve,
        ))
    }

    pub fn label(&self) -> String {
        let name = self.dir.file_name().map_or_else(
            || self.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        format!(
            "{name} (over {}, γ {})",
            self.config.recommender, self.config.learner.gamma
        )
    }
}

/// The learning curve as it arrives: returns per episode and the held-out comparisons.
#[derive(Debug, Clone, Default)]
pub struct LearningCurve {
    pub returns: Vec<f64>,
    pub episodes: usize,
    /// (episode, learned policy's return, greedy page's return) on held-out users.
    pub evaluations: Vec<(usize, f64, f64)>,
}

impl LearningCurve {
    /// The return per episode smoothed over the last `window` episodes.
    pub fn smoothed(&self, window: usize) -> Vec<[f64; 2]> {
        let mut sum = 0.0;
        self.returns
            .iter()
            .enumerate()
            .map(|(k, r)| {
                sum += r;
                if k >= window {
                    sum -= self.returns[k - window];
                }
                [k as f64 + 1.0, sum / (k + 1).min(window) as f64]
            })
            .collect()
    }

    fn record(&mut self, event: &RlEvent) {
        match *event {
            RlEvent::Episode {
                session_return,
                episodes,
                ..
            } => {
                self.returns.push(session_return);
                self.episodes = episodes;
            }
            RlEvent::Evaluated {
                episode,
                learned,
                greedy,
            } => self.evaluations.push((episode, learned, greedy)),
        }
    }

    /// Takes in a training task's update; the trained policy when it is the last.
    pub fn on_update(&mut self, update: Update) -> Option<Result<LearnedPolicy, String>> {
        if let Some(event) = update.partial::<RlEvent>() {
            self.record(event);
            return None;
        }
        update.outcome::<LearnedPolicy>()
    }
}

/// The training task's worker: trains over `model`'s candidates, saves the run under
/// `runs_root`, and reports every episode (the curve) and its progress.
pub fn train(
    loaded: &Loaded,
    model: &dyn Recommender,
    config: &RlConfig,
    runs_root: &Path,
    out: &Reporter,
) -> Result<LearnedPolicy, String> {
    let stop = out.stop_flag();
    let outcome = train_rl(
        model,
        &loaded.dataset,
        &loaded.spec.path,
        config,
        Some(runs_root),
        &stop,
        &mut |event| {
            if let RlEvent::Episode {
                episode, episodes, ..
            } = event
            {
                out.progress(episode, episodes);
            }
            out.partial(event);
        },
    )
    .map_err(|e| e.to_string())?;
    let dir = outcome
        .run_dir
        .ok_or("the learned policy's run was not saved")?;
    Ok(LearnedPolicy {
        dir,
        policy: Arc::new(QPolicy::new(
            outcome.net,
            config.candidates,
            config.learner.slots,
        )),
        config: config.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::LearningCurve;

    #[test]
    fn the_curve_is_smoothed_over_a_trailing_window() {
        let curve = LearningCurve {
            returns: vec![1.0, 3.0, 5.0, 7.0],
            ..LearningCurve::default()
        };
        // Window 2: 1, (1+3)/2, (3+5)/2, (5+7)/2.
        assert_eq!(
            curve.smoothed(2),
            vec![[1.0, 1.0], [2.0, 2.0], [3.0, 4.0], [4.0, 6.0]]
        );
    }
}
