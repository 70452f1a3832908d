//! Evaluation: ranking metrics (HR, Recall, Precision, NDCG, MRR, MAP @K), beyond-accuracy
//! metrics (coverage, Gini, popularity, tail share, entropy, intra-list diversity), full ranking
//! by default and sampled protocols for comparison with papers.

mod evaluate;
pub mod metrics;
pub mod protocol;

pub use evaluate::{
    EvalConfig, EvalError, EvalReport, Stage, UserRanking, by_target_group, evaluate, history_of,
    targets_of, training_counts, write_score_dump,
};
pub use metrics::{BeyondAccuracy, Catalogue, RANKING_METRICS, RankingMetrics};
pub use protocol::{Protocol, Sampling};
