//! Property tests of preprocessing and splits on random logs.

use proptest::prelude::*;
use reclab::data::dataset::Dataset;
use reclab::data::preprocess::select_rows;
use reclab::data::{Format, Preprocessing, RawLog, Split, SplitStrategy};

/// A random log: up to 12 users, 15 items, 120 rows, coarse timestamps (so ties happen).
fn raw_log() -> impl Strategy<Value = RawLog> {
    (1usize..12, 1usize..15)
        .prop_flat_map(|(users, items)| {
            (
                Just(users),
                Just(items),
                prop::collection::vec((0..users as u32, 0..items as u32, 0u32..20), 1..120),
            )
        })
        .prop_map(|(users, items, rows)| RawLog {
            user_keys: (0..users).map(|u| format!("u{u}")).collect(),
            item_keys: (0..items).map(|i| format!("{}", 100 + i)).collect(),
            users: rows.iter().map(|r| r.0).collect(),
            items: rows.iter().map(|r| r.1).collect(),
            timestamps: Some(rows.iter().map(|r| r.2 as f64).collect()),
            ratings: None,
            item_meta: Vec::new(),
        })
}

fn build(log: &RawLog, config: Preprocessing) -> Option<Dataset> {
    let rows = select_rows(log, &config).ok()?;
    Some(Dataset::from_rows("t".into(), Format::Csv, String::new(), config, log, &rows).0)
}

proptest! {
    #[test]
    fn ids_are_dense_and_sequences_time_ordered(log in raw_log()) {
        let d = build(&log, Preprocessing::default()).unwrap();
        prop_assert_eq!(d.num_interactions(), log.len());
        let mut seen = vec![false; d.num_items() + 1];
        for u in 0..d.num_users() {
            prop_assert!(!d.sequence(u).is_empty());
            for &i in d.sequence(u) {
                prop_assert!(i >= 1 && i as usize <= d.num_items());
                seen[i as usize] = true;
            }
            prop_assert!(d.timestamps(u).windows(2).all(|w| w[0] <= w[1]));
        }
        // Every item index 1..=n is used: the numbering has no holes.
        prop_assert!(seen[1..].iter().all(|&s| s));
    }

    #[test]
    fn leave_one_out_partitions_and_tests_the_latest(log in raw_log()) {
        let d = build(&log, Preprocessing::default()).unwrap();
        let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
        for u in 0..d.num_users() {
            let seq = d.sequence(u);
            let joined: Vec<u32> = [split.train(&d, u), split.valid(&d, u), split.test(&d, u)].concat();
            prop_assert_eq!(&joined[..], seq);
            let n = seq.len();
            prop_assert_eq!(split.test(&d, u).len(), usize::from(n >= 2));
            prop_assert_eq!(split.valid(&d, u).len(), usize::from(n >= 3));
            if n >= 2 {
                // The test item is the latest interaction: no training or validation
                // interaction comes after it.
                let ts = d.timestamps(u);
                prop_assert!(ts[..n - 1].iter().all(|&t| t <= ts[n - 1]));
                prop_assert_eq!(split.test(&d, u)[0], seq[n - 1]);
            }
        }
    }

    #[test]
    fn temporal_split_partitions_and_respects_time(log in raw_log(), train in 0.1f64..0.9) {
        let d = build(&log, Preprocessing::default()).unwrap();
        let valid = (1.0 - train) / 2.0;
        let split = Split::new(&d, SplitStrategy::Temporal { train, valid }).unwrap();
        let mut last_train = f64::NEG_INFINITY;
        let mut first_test = f64::INFINITY;
        for u in 0..d.num_users() {
            let joined: Vec<u32> = [split.train(&d, u), split.valid(&d, u), split.test(&d, u)].concat();
            prop_assert_eq!(&joined[..], d.sequence(u));
            let [tr, _, te] = split.ranges(&d, u);
            let ts = d.timestamps(u);
            if let Some(&t) = ts[tr].last() { last_train = last_train.max(t); }
            if let Some(&t) = ts[te].first() { first_test = first_test.min(t); }
        }
        // One global cut: every training moment precedes every test moment.
        prop_assert!(last_train < first_test || first_test == f64::INFINITY || last_train == f64::NEG_INFINITY);
    }

    #[test]
    fn k_core_output_satisfies_the_core_condition(log in raw_log(), ku in 1usize..5, ki in 1usize..5) {
        let config = Preprocessing { min_user_interactions: ku, min_item_interactions: ki, ..Default::default() };
        if let Some(d) = build(&log, config) {
            let counts = d.item_counts();
            for u in 0..d.num_users() {
                prop_assert!(d.sequence(u).len() >= ku);
            }
            prop_assert_eq!(counts.len(), d.num_items() + 1);
            for &count in &counts[1..] {
                prop_assert!(count as usize >= ki);
            }
        }
    }

    #[test]
    fn k_core_keeps_the_largest_core(log in raw_log(), k in 2usize..4) {
        // Every row whose user and item both have >= k rows in the kept set is kept, and the
        // kept set is exactly the fixed point from the full log (checked by brute force).
        let config = Preprocessing { min_user_interactions: k, min_item_interactions: k, ..Default::default() };
        let mut alive: Vec<bool> = vec![true; log.len()];
        loop {
            let mut uc = vec![0; log.user_keys.len()];
            let mut ic = vec![0; log.item_keys.len()];
            for r in 0..log.len() { if alive[r] { uc[log.users[r] as usize] += 1; ic[log.items[r] as usize] += 1; } }
            let mut changed = false;
            for r in 0..log.len() {
                if alive[r] && (uc[log.users[r] as usize] < k || ic[log.items[r] as usize] < k) { alive[r] = false; changed = true; }
            }
            if !changed { break; }
        }
        let expected = alive.iter().filter(|&&a| a).count();
        match build(&log, config) {
            Some(d) => prop_assert_eq!(d.num_interactions(), expected),
            None => prop_assert_eq!(expected, 0),
        }
    }

    #[test]
    fn dedup_keeps_one_of_each_pair(log in raw_log()) {
        let config = Preprocessing { dedup: true, ..Default::default() };
        let d = build(&log, config).unwrap();
        let mut pairs: Vec<(u32, u32)> = log.users.iter().copied().zip(log.items.iter().copied()).collect();
        pairs.sort_unstable();
        pairs.dedup();
        prop_assert_eq!(d.num_interactions(), pairs.len());
        for u in 0..d.num_users() {
            let mut items = d.sequence(u).to_vec();
            items.sort_unstable();
            let before = items.len();
            items.dedup();
            prop_assert_eq!(items.len(), before);
        }
    }
}
