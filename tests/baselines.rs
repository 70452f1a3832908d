//! The baselines against values worked out by hand.

mod common;

use reclab::data::{Split, SplitStrategy};
use reclab::recommend::{
    BaselineConfig, Bpr, BprConfig, Content, ItemKnn, ItemKnnConfig, Pop, Query, Recommender,
};

fn scores(model: &dyn Recommender, user: Option<u32>, history: &[u32]) -> Vec<f32> {
    let mut out = vec![f32::NAN; model.num_items() + 1];
    model.score(Query { user, history }, &mut out);
    out
}

fn close(a: f32, b: f32) {
    assert!((a - b).abs() < 1e-5, "{a} != {b}");
}

/// Leave-one-out keeps the last two items of each sequence (4 and 5) out of training, so the
/// training parts are u1 [1, 2], u2 [1, 2, 3], u3 [2, 3].
fn knn_world() -> (reclab::data::Dataset, Split) {
    let d = common::dataset(&[&[1, 2, 4, 5], &[1, 2, 3, 4, 5], &[2, 3, 4, 5]], None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    (d, split)
}

#[test]
fn pop_counts_training_interactions_only() {
    let (d, split) = knn_world();
    let pop = Pop::fit(&d, &split);
    assert_eq!(
        scores(&pop, Some(0), &[]),
        vec![0.0, 2.0, 3.0, 2.0, 0.0, 0.0]
    );
    // Ties (items 1 and 3) go to the lower index; items 4 and 5 (never trained on) come last.
    assert_eq!(
        pop.top_k(
            Query {
                user: None,
                history: &[2]
            },
            4
        )
        .unwrap(),
        vec![1, 3, 4, 5]
    );
}

#[test]
fn itemknn_cosine_by_hand() {
    // U1 = {u1, u2}, U2 = {u1, u2, u3}, U3 = {u2, u3}:
    // sim(1,2) = 2/(√2·√3) = 0.816497, sim(1,3) = 1/(√2·√2) = 0.5, sim(2,3) = 2/(√3·√2).
    let (d, split) = knn_world();
    let knn = ItemKnn::fit(&d, &split, &ItemKnnConfig::default());
    let s = scores(&knn, None, &[1]);
    close(s[1], 0.0); // an item is not its own neighbour
    close(s[2], 0.816_497);
    close(s[3], 0.5);
    close(s[4], 0.0);
    let s = scores(&knn, None, &[1, 3]);
    close(s[2], 2.0 * 0.816_497);
    close(s[1], 0.5);
    // Shrinkage 1: sim(1,2) = 2/(√6 + 1) = 0.579796.
    let shrunk = ItemKnn::fit(
        &d,
        &split,
        &ItemKnnConfig {
            neighbours: 100,
            shrink: 1.0,
        },
    );
    close(shrunk.similarity(1, 2).unwrap(), 0.579_796);
}

#[test]
fn itemknn_keeps_each_items_top_neighbours() {
    // With one neighbour: N(1) = {2}, N(2) = {1} (1 and 3 tie at 0.8165; the lower index wins),
    // N(3) = {2}. A history [1] then scores only item 2; a history [3] scores nothing, because no
    // item keeps 3 as its neighbour.
    let (d, split) = knn_world();
    let knn = ItemKnn::fit(
        &d,
        &split,
        &ItemKnnConfig {
            neighbours: 1,
            shrink: 0.0,
        },
    );
    let s = scores(&knn, None, &[1]);
    close(s[2], 0.816_497);
    close(s[3], 0.0);
    assert!(scores(&knn, None, &[3]).iter().all(|&x| x == 0.0));
    let s = scores(&knn, None, &[2]);
    close(s[1], 0.816_497);
    close(s[3], 0.816_497);
}

#[test]
fn content_matches_the_history_profile() {
    // Items: 1 {A}, 2 {A, B}, 3 {B}, 4 {} (and 5, 6 to fill sequences).
    let d = common::dataset(
        &[&[1, 2, 3, 4, 5, 6]],
        Some(&["A", "A|B", "B", "", "C", "C"]),
    );
    let content = Content::from_categories(&d);
    let s = scores(&content, None, &[1]);
    close(s[1], 1.0);
    close(s[2], 1.0 / 2f32.sqrt());
    close(s[3], 0.0);
    close(s[4], 0.0);
    let s = scores(&content, None, &[1, 3]);
    close(s[2], 1.0);
    close(s[1], 1.0 / 2f32.sqrt());
    close(s[3], 1.0 / 2f32.sqrt());
    // No history, no profile: every score 0 (and no NaN).
    assert!(scores(&content, None, &[]).iter().all(|&x| x == 0.0));
}

/// Two groups of users with disjoint tastes: users 0..10 meet items 1..=6, users 10..20 items
/// 7..=12, in varied orders.
fn two_tribes() -> (reclab::data::Dataset, Split) {
    let mut sequences: Vec<Vec<u32>> = Vec::new();
    for u in 0..20u32 {
        let base = if u < 10 { 1 } else { 7 };
        sequences.push((0..6).map(|k| base + (k + u) % 6).collect());
    }
    let refs: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
    let d = common::dataset(&refs, None);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    (d, split)
}

#[test]
fn bpr_learns_group_structure_and_folds_in_new_users() {
    let (d, split) = two_tribes();
    let config = BprConfig {
        factors: 8,
        epochs: 200,
        ..BprConfig::default()
    };
    let bpr = Bpr::fit(&d, &split, &config);
    // A known user of the first group prefers its group's unseen items to the other group's.
    let s = scores(&bpr, Some(0), split.train(&d, 0));
    let own_min = (1..=6).map(|i| s[i]).fold(f32::INFINITY, f32::min);
    let other_max = (7..=12).map(|i| s[i]).fold(f32::NEG_INFINITY, f32::max);
    assert!(own_min > other_max, "{s:?}");
    // An unknown user with a history from the second group: fold-in ranks that group first.
    let top = bpr
        .top_k(
            Query {
                user: None,
                history: &[7, 8],
            },
            4,
        )
        .unwrap();
    assert!(top.iter().all(|&i| (9..=12).contains(&i)), "{top:?}");
    // Seeded: the same seed gives the same model, another seed another.
    let again = Bpr::fit(&d, &split, &config);
    assert_eq!(scores(&again, Some(3), &[1]), scores(&bpr, Some(3), &[1]));
    let other = Bpr::fit(&d, &split, &BprConfig { seed: 7, ..config });
    assert_ne!(scores(&other, Some(3), &[1]), scores(&bpr, Some(3), &[1]));
}

#[test]
fn every_baseline_scores_the_whole_catalogue_without_nan() {
    let (d, split) = two_tribes();
    for config in [
        BaselineConfig::Pop,
        BaselineConfig::ItemKnn(ItemKnnConfig::default()),
        BaselineConfig::Bpr(BprConfig {
            epochs: 2,
            ..BprConfig::default()
        }),
        BaselineConfig::Content,
    ] {
        let model = config.fit(&d, &split).unwrap();
        assert_eq!(model.num_items(), 12, "{}", model.name());
        for user in [Some(0), None] {
            let s = scores(model.as_ref(), user, &[1, 2]);
            assert!(
                s.iter().all(|x| x.is_finite()),
                "{} gave {s:?}",
                model.name()
            );
        }
    }
}
