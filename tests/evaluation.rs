//! The evaluation loop: exclusion, ties, stages, protocols and errors.

mod common;

use reclab::data::{Split, SplitStrategy};
use reclab::eval::{EvalConfig, EvalError, Protocol, Sampling, Stage, evaluate};
use reclab::recommend::{Pop, Query, Recommender};

fn no_progress(_: usize, _: usize) -> bool {
    true
}

/// Scores every item with a fixed vector (ties included), whoever asks.
struct Fixed {
    scores: Vec<f32>,
}

impl Recommender for Fixed {
    fn name(&self) -> &str {
        "Fixed"
    }
    fn num_items(&self) -> usize {
        self.scores.len() - 1
    }
    fn score(&self, _query: Query<'_>, scores: &mut [f32]) {
        scores.copy_from_slice(&self.scores);
    }
}

fn config(cutoffs: &[usize]) -> EvalConfig {
    EvalConfig {
        cutoffs: cutoffs.to_vec(),
        keep_rankings: true,
        ..EvalConfig::default()
    }
}

#[test]
fn full_ranking_excludes_history_and_breaks_ties_by_index() {
    // Leave-one-out: u1 history [1, 2] + valid 3 + test 4; u2 history [5, 1] + valid 2 + test 6.
    let d = common::dataset(&[&[1, 2, 3, 4], &[5, 1, 2, 6]], None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    // All items tie: the list is the unseen items in index order.
    let model = Fixed {
        scores: vec![0.0; 7],
    };
    let report = evaluate(
        &model,
        &d,
        &split,
        Stage::Test,
        &config(&[2, 10]),
        &no_progress,
    )
    .unwrap();
    assert_eq!(report.users, 2);
    // u1 (test history 1, 2, 3): list 4, 5, 6 → target 4 first.
    assert_eq!(report.rankings[0].list, vec![4, 5, 6]);
    // u2 (test history 5, 1, 2): list 3, 4, 6 → target 6 third.
    assert_eq!(report.rankings[1].list, vec![3, 4, 6]);
    let m = &report.metrics;
    assert_eq!(m["hit@2"], 0.5);
    assert_eq!(m["hit@10"], 1.0);
    assert!((m["ndcg@10"] - (1.0 + 0.5) / 2.0).abs() < 1e-12); // 1/log2(4) = 0.5
    assert!((m["mrr@10"] - (1.0 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
    // K beyond the catalogue: precision divides by K.
    assert!((m["precision@10"] - 0.1).abs() < 1e-12);
    // Coverage@2: {4, 5} ∪ {3, 4} = 3 of 6 items.
    assert!((m["item_coverage@2"] - 0.5).abs() < 1e-12);
}

#[test]
fn validation_uses_the_training_history() {
    let d = common::dataset(&[&[1, 2, 3, 4], &[5, 1, 2, 6]], None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    let model = Fixed {
        scores: vec![0.0; 7],
    };
    let report = evaluate(
        &model,
        &d,
        &split,
        Stage::Valid,
        &config(&[3]),
        &no_progress,
    )
    .unwrap();
    // u1: history [1, 2], target 3 → list 3, 4, 5. u2: history [5, 1], target 2 → list 2, 3, 4.
    assert_eq!(report.rankings[0].list, vec![3, 4, 5]);
    assert_eq!(report.rankings[1].list, vec![2, 3, 4]);
    assert_eq!(report.metrics["hit@3"], 1.0);
}

#[test]
fn a_target_met_before_stays_rankable() {
    // u1 met 2 early and again as its test target.
    let d = common::dataset(&[&[2, 1, 3, 2]], None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    let model = Fixed {
        scores: vec![0.0, 0.1, 0.9, 0.2],
    };
    let report = evaluate(&model, &d, &split, Stage::Test, &config(&[1]), &no_progress).unwrap();
    assert_eq!(report.rankings[0].list, vec![2]);
    assert_eq!(report.metrics["hit@1"], 1.0);
}

#[test]
fn a_nan_score_is_an_error_naming_model_and_user() {
    let d = common::dataset(&[&[1, 2, 3, 4], &[5, 1, 2, 6]], None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    let model = Fixed {
        scores: vec![0.0, 0.0, 0.0, 0.0, 0.0, f32::NAN, 0.0],
    };
    // Item 5 is in u2's history (excluded) but a candidate for u1.
    let err = evaluate(&model, &d, &split, Stage::Test, &config(&[5]), &no_progress).unwrap_err();
    assert!(matches!(err, EvalError::Score(_)));
    assert_eq!(
        err.to_string(),
        "model Fixed gave a NaN score to item 5 for user index 0"
    );
}

#[test]
fn sampled_protocol_is_labelled_and_equals_full_ranking_on_a_tiny_catalogue() {
    // With 6 items, 100 negatives means every unseen item: sampled and full agree exactly.
    let d = common::dataset(&[&[1, 2, 3, 4], &[5, 1, 2, 6], &[6, 5, 4, 3]], None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    let model = Pop::fit(&d, &split);
    let full = evaluate(
        &model,
        &d,
        &split,
        Stage::Test,
        &config(&[1, 3]),
        &no_progress,
    )
    .unwrap();
    for protocol in ["uni100", "pop100"] {
        let sampled = EvalConfig {
            protocol: protocol.parse().unwrap(),
            ..config(&[1, 3])
        };
        let report = evaluate(&model, &d, &split, Stage::Test, &sampled, &no_progress).unwrap();
        assert_eq!(report.protocol, format!("sampled {protocol}"));
        assert_eq!(report.metrics, full.metrics);
    }
    assert_eq!(full.protocol, "full ranking");
}

#[test]
fn sampled_protocol_ranks_the_target_among_the_negatives_only() {
    // 30 items; one user. The model scores item i with i, so the target (item 1, the lowest)
    // is last among its candidates: with 5 negatives its rank is 6.
    let sequence: Vec<u32> = (2..=30).chain([1]).collect();
    let d = common::dataset(&[&sequence[..20], &sequence[18..]], None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    let model = Fixed {
        scores: (0..=30).map(|i| i as f32).collect(),
    };
    let cfg = EvalConfig {
        protocol: Protocol::Sampled {
            negatives: 5,
            sampling: Sampling::Uniform,
            seed: 9,
        },
        ..config(&[10])
    };
    let report = evaluate(&model, &d, &split, Stage::Test, &cfg, &no_progress).unwrap();
    let user = report
        .rankings
        .iter()
        .find(|r| r.targets == vec![1])
        .unwrap();
    assert_eq!(user.list.len(), 6);
    assert_eq!(user.list.last(), Some(&1));
    assert!(user.list.windows(2).all(|w| w[0] > w[1]));
}

#[test]
fn cancelling_stops_the_evaluation() {
    let d = common::dataset(&[&[1, 2, 3, 4], &[5, 1, 2, 6]], None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    let model = Fixed {
        scores: vec![0.0; 7],
    };
    let err = evaluate(&model, &d, &split, Stage::Test, &config(&[5]), &|_, _| {
        false
    })
    .unwrap_err();
    assert!(matches!(err, EvalError::Cancelled));
}

#[test]
fn bad_cutoffs_and_mismatched_models_are_errors() {
    let d = common::dataset(&[&[1, 2, 3, 4]], None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    let model = Fixed {
        scores: vec![0.0; 5],
    };
    assert!(matches!(
        evaluate(&model, &d, &split, Stage::Test, &config(&[0]), &no_progress),
        Err(EvalError::BadCutoffs(_))
    ));
    let wrong = Fixed {
        scores: vec![0.0; 9],
    };
    let err = evaluate(&wrong, &d, &split, Stage::Test, &config(&[5]), &no_progress).unwrap_err();
    assert_eq!(
        err.to_string(),
        "model Fixed scores 8 items but the dataset has 4"
    );
}
