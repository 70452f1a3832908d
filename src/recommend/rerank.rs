//! A re-ranker: a base model proposes its best `candidates` items and a scorer (the generative
//! model, [`LlmScorer`]) puts them in its own order. Items beyond the candidates keep the base
//! model's scores, below every candidate, so a re-ranked list is evaluated like any model's
//! and the table shows what the re-ranking adds to its base.
//!
//! The LLM scores each candidate by how likely its title is to follow a prompt holding the
//! user's history ("LLMs are zero-shot rankers", Hou et al., with likelihood scoring instead of
//! parsing a generated list): nothing to parse, fit for small models, and the candidates never
//! appear in the prompt, so a candidate's place among them cannot decide its rank. Ties go to
//! the base model's order.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{BaselineConfig, Query, Recommender};
use crate::data::Dataset;
use crate::device::DeviceChoice;
use crate::lm::LmError;
use crate::lm::decoder::{Dtype, Llm, Message};
use crate::lm::written::profiles::history_line;

/// Candidates the base model proposes unless told otherwise (Hou et al. rank 20).
pub const DEFAULT_CANDIDATES: usize = 20;
/// Tokens of history the ranking prompt carries: the prompt runs once per user, so this sets
/// most of the cost on a CPU.
pub const RANK_HISTORY_TOKENS: usize = 160;
/// Tokens of a candidate's title scored at most.
const TITLE_TOKENS: usize = 32;

/// The request the history goes into; the model's answer then starts with [`ANSWER_START`]
/// and each candidate's title is scored as its continuation.
const RANK_PROMPT: &str = "Here is what a person chose recently, newest first:\n{history}\n\n\
Name the one item they are most likely to choose next.";
const ANSWER_START: &str = "They are most likely to choose:";

/// Where the base model comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RerankBase {
    /// A baseline fitted now.
    Baseline(Box<BaselineConfig>),
    /// A saved run's model (a trained Transformer), opened by the caller.
    Run(PathBuf),
}

impl RerankBase {
    /// A short name for the table: `Pop`, `ItemKNN`, or the run folder's name.
    pub fn name(&self) -> String {
        match self {
            RerankBase::Baseline(config) => config.name().to_string(),
            RerankBase::Run(path) => path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        }
    }
}

/// `reclab eval --model rerank`'s settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerankConfig {
    pub base: RerankBase,
    /// The generative model (a GGUF file or a Hugging Face folder).
    pub llm: PathBuf,
    /// How many of the base model's best items the LLM re-orders.
    pub candidates: usize,
    pub device: DeviceChoice,
}

/// Scores a history's candidates; higher is better.
pub trait CandidateScorer: Send + Sync {
    fn score_candidates(&self, history: &[u32], candidates: &[u32]) -> Result<Vec<f32>, String>;
}

/// A base model with its top candidates re-ordered by a scorer.
pub struct Reranker {
    name: String,
    base: Box<dyn Recommender>,
    scorer: Box<dyn CandidateScorer>,
    candidates: usize,
    /// The first scoring failure: scoring cannot return an error, so the evaluator asks.
    failure: Mutex<Option<String>>,
}

impl Reranker {
    pub fn new(
        base: Box<dyn Recommender>,
        scorer: Box<dyn CandidateScorer>,
        candidates: usize,
    ) -> Reranker {
        Reranker {
            name: format!("Rerank ({}, top {candidates})", base.name()),
            base,
            scorer,
            candidates,
            failure: Mutex::new(None),
        }
    }

    /// The base model's best candidates for `query` (among `allowed` when the protocol
    /// restricts the items), best first, ties to the lower index; the history is excluded.
    fn base_candidates(
        &self,
        query: Query<'_>,
        scores: &[f32],
        allowed: Option<&[u32]>,
    ) -> Vec<u32> {
        let mut pool: Vec<u32> = match allowed {
            Some(items) => items.to_vec(),
            None => (1..scores.len() as u32).collect(),
        };
        pool.retain(|i| !query.history.contains(i) && scores[*i as usize].is_finite());
        pool.sort_by(|&a, &b| {
            scores[b as usize]
                .total_cmp(&scores[a as usize])
                .then(a.cmp(&b))
        });
        pool.truncate(self.candidates);
        pool
    }

    fn rerank(&self, query: Query<'_>, scores: &mut [f32], allowed: Option<&[u32]>) {
        let candidates = self.base_candidates(query, scores, allowed);
        if candidates.is_empty() {
            return;
        }
        let llm_scores = match self.scorer.score_candidates(query.history, &candidates) {
            Ok(s) if s.len() == candidates.len() => s,
            Ok(s) => {
                return self.fail(format!(
                    "the scorer gave {} scores for {} candidates",
                    s.len(),
                    candidates.len()
                ));
            }
            Err(e) => return self.fail(e),
        };
        // Candidates by the scorer, best first; equal scores keep the base order.
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| llm_scores[b].total_cmp(&llm_scores[a]).then(a.cmp(&b)));
        // Above every other item: the best finite score, plus a step that stays visible in f32.
        let top = scores
            .iter()
            .skip(1)
            .copied()
            .filter(|s| s.is_finite())
            .fold(f32::MIN, f32::max);
        let step = (top.abs() * 1e-5).max(1.0);
        let n = order.len();
        for (rank, &i) in order.iter().enumerate() {
            scores[candidates[i] as usize] = top + step * (n - rank) as f32;
        }
    }

    /// The base model's scores for every query, each row's candidates (among `allowed[i]`
    /// when given) then re-ordered.
    fn rerank_batch(&self, queries: &[Query<'_>], allowed: Option<&[&[u32]]>, scores: &mut [f32]) {
        let width = self.num_items() + 1;
        self.base.score_batch(queries, scores);
        for (i, (query, row)) in queries
            .iter()
            .zip(scores.chunks_exact_mut(width))
            .enumerate()
        {
            self.rerank(*query, row, allowed.map(|a| a[i]));
        }
    }

    fn fail(&self, message: String) {
        // A poisoned lock only means a panic elsewhere; the slot is still a plain Option.
        let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(message);
    }
}

impl Recommender for Reranker {
    fn name(&self) -> &str {
        &self.name
    }

    fn num_items(&self) -> usize {
        self.base.num_items()
    }

    fn score(&self, query: Query<'_>, scores: &mut [f32]) {
        self.base.score(query, scores);
        self.rerank(query, scores, None);
    }

    fn score_batch_among(&self, queries: &[Query<'_>], candidates: &[&[u32]], scores: &mut [f32]) {
        self.rerank_batch(queries, Some(candidates), scores);
    }

    fn score_batch(&self, queries: &[Query<'_>], scores: &mut [f32]) {
        self.rerank_batch(queries, None, scores);
    }

    fn scores_in_parallel(&self) -> bool {
        // The LLM parallelises inside a call.
        false
    }

    fn batch_limit(&self) -> Option<usize> {
        // A user takes the LLM about a second on a CPU: report progress often.
        Some(4)
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The generative model as a [`CandidateScorer`]: the mean log-probability per token of a
/// candidate's title as the answer to a prompt with the history (the mean, so long titles are
/// not penalised for their length).
pub struct LlmScorer {
    llm: Llm,
    dataset: Arc<Dataset>,
}

impl LlmScorer {
    pub fn open(config: &RerankConfig, dataset: Arc<Dataset>) -> Result<LlmScorer, LmError> {
        let llm = Llm::open(&config.llm, Dtype::Auto, config.device)?;
        Ok(LlmScorer { llm, dataset })
    }

    pub fn new(llm: Llm, dataset: Arc<Dataset>) -> LlmScorer {
        LlmScorer { llm, dataset }
    }

    /// The prompt for a history, as the model reads it: the chat (when the model has a
    /// template) with the answer begun.
    pub fn prompt(&self, history: &[u32]) -> Result<String, LmError> {
        let tokenizer = self.llm.tokenizer();
        let mut lines = Vec::new();
        let mut used = 0;
        for &item in history.iter().rev() {
            let line = history_line(&self.dataset, item);
            let cost = tokenizer.encode(&line)?.len() + 1;
            if used + cost > RANK_HISTORY_TOKENS {
                break;
            }
            used += cost;
            lines.push(line);
        }
        let history = if lines.is_empty() {
            "(nothing yet)".to_string()
        } else {
            lines.join("\n")
        };
        let request = RANK_PROMPT.replacen("{history}", &history, 1);
        let chat = match &self.llm.files.chat {
            Some(_) => self.llm.chat_prompt(&[Message::new("user", &request)])?,
            None => format!("{request}\n"),
        };
        Ok(format!("{chat}{ANSWER_START}"))
    }

    /// The tokens scored for a candidate: its title after a space (as the tokenizer splits a
    /// word that follows the answer's colon), at most [`TITLE_TOKENS`].
    fn title_ids(&self, item: u32) -> Result<Vec<u32>, LmError> {
        let mut ids = self
            .llm
            .tokenizer()
            .encode(&format!(" {}", self.dataset.item_label(item)))?;
        ids.truncate(TITLE_TOKENS);
        Ok(ids)
    }

    /// Each candidate's mean log-probability per title token.
    pub fn mean_logprobs(&self, history: &[u32], candidates: &[u32]) -> Result<Vec<f32>, LmError> {
        let prefix = self.llm.prompt_ids(&self.prompt(history)?)?;
        let titles = candidates
            .iter()
            .map(|&c| self.title_ids(c))
            .collect::<Result<Vec<_>, _>>()?;
        let logprobs = self.llm.continuation_logprobs(&prefix, &titles)?;
        Ok(logprobs
            .iter()
            .map(|l| {
                if l.is_empty() {
                    f32::NEG_INFINITY
                } else {
                    l.iter().sum::<f32>() / l.len() as f32
                }
            })
            .collect())
    }
}

impl CandidateScorer for LlmScorer {
    fn score_candidates(&self, history: &[u32], candidates: &[u32]) -> Result<Vec<f32>, String> {
        self.mean_logprobs(history, candidates).map_err(|e| {
            format!(
                "the generative model {}: {e}",
                self.llm.files.path.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores item `i` as `scores[i]`, whatever the history.
    struct Fixed(Vec<f32>);

    impl Recommender for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn num_items(&self) -> usize {
            self.0.len() - 1
        }
        fn score(&self, _query: Query<'_>, scores: &mut [f32]) {
            scores.copy_from_slice(&self.0);
        }
    }

    /// Prefers items by a fixed table and records the candidates it was shown.
    struct Prefers {
        table: Vec<f32>,
        shown: Arc<Mutex<Vec<Vec<u32>>>>,
    }

    impl CandidateScorer for Prefers {
        fn score_candidates(
            &self,
            _history: &[u32],
            candidates: &[u32],
        ) -> Result<Vec<f32>, String> {
            self.shown.lock().unwrap().push(candidates.to_vec());
            Ok(candidates.iter().map(|&c| self.table[c as usize]).collect())
        }
    }

    struct Fails;

    impl CandidateScorer for Fails {
        fn score_candidates(&self, _: &[u32], _: &[u32]) -> Result<Vec<f32>, String> {
            Err("out of memory".into())
        }
    }

    fn reranker(base: Vec<f32>, table: Vec<f32>, n: usize) -> Reranker {
        Reranker::new(
            Box::new(Fixed(base)),
            Box::new(Prefers {
                table,
                shown: Arc::default(),
            }),
            n,
        )
    }

    #[test]
    fn candidates_take_the_scorers_order_and_the_rest_keep_the_base_order() {
        // Base order: 1 (9), 2 (8), 3 (7), 4 (6), 5 (5), 6 (4); item 2 is in the history.
        let base = vec![0.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0];
        // The scorer prefers 4, then 3, then 1; candidates are the base's top 3 unseen: 1, 3, 4.
        let table = vec![0.0, 0.1, 0.0, 0.5, 0.9, 1.0, 1.0];
        let model = reranker(base, table, 3);
        let history = [2];
        let list = model
            .top_k(
                Query {
                    user: None,
                    history: &history,
                },
                6,
            )
            .unwrap();
        assert_eq!(list, vec![4, 3, 1, 5, 6]);
    }

    #[test]
    fn equal_scores_keep_the_base_order_not_the_scorers_input_order() {
        // The scorer ties 2 and 3; 3 is better in the base, so it stays ahead.
        let base = vec![0.0, 1.0, 2.0, 3.0];
        let model = reranker(base, vec![0.0, 0.0, 0.5, 0.5], 3);
        let list = model
            .top_k(
                Query {
                    user: None,
                    history: &[],
                },
                3,
            )
            .unwrap();
        assert_eq!(list, vec![3, 2, 1]);
    }

    #[test]
    fn a_restricted_protocol_reranks_its_own_candidates() {
        // Among items 5 and 6 (a sampled protocol's), the base prefers 5, the scorer 6; the
        // unrestricted top candidates (1, 2) are not shown to the scorer.
        let base = vec![0.0, 9.0, 8.0, 1.0, 1.0, 5.0, 4.0];
        let table = vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.2];
        let shown = Arc::default();
        let scorer = Prefers {
            table,
            shown: Arc::clone(&shown),
        };
        let model = Reranker::new(Box::new(Fixed(base)), Box::new(scorer), 20);
        let mut scores = vec![0.0; 7];
        let allowed: &[u32] = &[5, 6];
        model.score_batch_among(
            &[Query {
                user: None,
                history: &[],
            }],
            &[allowed],
            &mut scores,
        );
        assert!(scores[6] > scores[5], "{scores:?}");
        assert!(
            scores[5] > scores[1],
            "candidates rank above the rest: {scores:?}"
        );
        assert_eq!(*shown.lock().unwrap(), vec![vec![5, 6]]);
    }

    #[test]
    fn a_scorer_failure_keeps_the_base_order_and_is_reported() {
        let model = Reranker::new(Box::new(Fixed(vec![0.0, 1.0, 2.0])), Box::new(Fails), 2);
        let list = model
            .top_k(
                Query {
                    user: None,
                    history: &[],
                },
                2,
            )
            .unwrap();
        assert_eq!(list, vec![2, 1]);
        assert_eq!(model.failure().as_deref(), Some("out of memory"));
    }
}
