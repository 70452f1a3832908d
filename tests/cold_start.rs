//! The cold-items split: the latest-appearing items never reach training, and test results are
//! reported apart for cold and warm targets.

mod common;

use reclab::data::{Preprocessing, Split, SplitStrategy, SyntheticConfig, load_synthetic};
use reclab::eval::EvalConfig;
use reclab::recommend::BaselineConfig;
use reclab::runs::run_baseline;

#[test]
fn cold_items_are_the_latest_to_appear_and_cut_training_before_them() {
    // Timestamps are positions: first seen 1, 2, 6 at 0; 5 at 1; 3 at 2; 4 at 3.
    let d = common::dataset(&[&[1, 2, 3, 4], &[2, 5, 1, 3], &[6, 1, 2, 5]], None);
    let split = Split::new(&d, SplitStrategy::ColdItems { share: 2.0 / 6.0 }).unwrap();
    assert_eq!(split.cold_items(), 2);
    let cold: Vec<u32> = (1..=6).filter(|&i| split.is_cold(i)).collect();
    assert_eq!(cold, vec![3, 4]);
    // User 0: the first cold item (3) is where leave-one-out would cut anyway.
    assert_eq!(split.train(&d, 0), &[1, 2]);
    assert_eq!(split.valid(&d, 0), &[3]);
    assert_eq!(split.test(&d, 0), &[4]);
    // User 1 meets cold item 3 only as the test target.
    assert_eq!(split.train(&d, 1), &[2, 5]);
    assert_eq!(split.test(&d, 1), &[3]);
    // User 2 meets no cold item.
    assert_eq!(split.train(&d, 2), &[6, 1]);
    assert_eq!(split.test(&d, 2), &[5]);

    for share in [0.0, 1.0, -0.5, f64::NAN] {
        let message = Split::new(&d, SplitStrategy::ColdItems { share })
            .unwrap_err()
            .to_string();
        assert!(message.contains("cold-items share"), "{message}");
    }
}

#[test]
fn no_cold_item_ever_reaches_training_on_the_synthetic_world() {
    let d = load_synthetic(
        &SyntheticConfig {
            users: 300,
            items: 150,
            max_seq_len: 100,
            ..SyntheticConfig::default()
        },
        &Preprocessing::default(),
    )
    .unwrap();
    for share in [0.05, 0.1, 0.3, 0.5] {
        let split = Split::new(&d, SplitStrategy::ColdItems { share }).unwrap();
        let expected = (share * d.num_items() as f64).round() as usize;
        assert_eq!(split.cold_items(), expected);
        for u in 0..d.num_users() {
            assert!(
                split.train(&d, u).iter().all(|&i| !split.is_cold(i)),
                "share {share}: user {u} trains on a cold item"
            );
            // Every interaction is still in exactly one part, in order.
            let [train, valid, test] = split.ranges(&d, u);
            assert_eq!(
                (train.end, valid.end, test.end),
                (valid.start, test.start, d.sequence(u).len())
            );
        }
    }
}

#[test]
fn cold_and_warm_targets_are_reported_apart() {
    let d = load_synthetic(
        &SyntheticConfig {
            users: 400,
            items: 200,
            ..SyntheticConfig::default()
        },
        &Preprocessing::default(),
    )
    .unwrap();
    let strategy = SplitStrategy::ColdItems { share: 0.2 };
    let config = EvalConfig {
        cutoffs: vec![10],
        ..EvalConfig::default()
    };
    let run = run_baseline(
        &BaselineConfig::Pop,
        &d,
        "synthetic",
        strategy,
        &config,
        1,
        &|_, _| true,
    )
    .unwrap();
    let groups = &run.run.test_metrics_by_target;
    let (cold, warm) = (&groups["cold"], &groups["warm"]);
    assert_eq!(cold["users"] + warm["users"], run.test.users as f64);
    assert!(cold["users"] > 0.0 && warm["users"] > 0.0);
    // Cold items have no training interactions: popularity never puts one in a top 10.
    assert_eq!(cold["hit@10"], 0.0);
    assert!(warm["hit@10"] > 0.0);
    // The overall figure is the users' weighted mean of the two.
    let mean =
        (cold["hit@10"] * cold["users"] + warm["hit@10"] * warm["users"]) / run.test.users as f64;
    assert!((mean - run.run.test_metrics["hit@10"]).abs() < 1e-12);
    // Other splits have no groups.
    let loo = run_baseline(
        &BaselineConfig::Pop,
        &d,
        "synthetic",
        SplitStrategy::LeaveOneOut,
        &config,
        1,
        &|_, _| true,
    )
    .unwrap();
    assert!(loo.run.test_metrics_by_target.is_empty());
}
