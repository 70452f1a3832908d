//! The simulator: the choice model against its own stated probabilities, position bias, the
//! adaptive page against the static one with a trained SASRec, and the bandit learning which row
//! is best.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reclab::data::{self, Split, SplitStrategy};
use reclab::recommend::{Query, Recommender};
use reclab::sim::{
    AbConfig, ChoiceModel, Page, Policy, PolicyKind, Row, RowKind, SessionConfig, SimUser, World,
    run_ab, run_session,
};
use reclab::train::{TrainConfig, model_from_run, train};

fn one_row(items: Vec<u32>) -> Page {
    Page {
        hero: None,
        rows: vec![Row {
            kind: RowKind::TopPicks,
            title: "row".into(),
            items,
        }],
    }
}

#[test]
fn click_frequencies_match_the_logit_probabilities() {
    // Everything examined: the choice is the multinomial logit over the cards and no-click.
    let model = ChoiceModel {
        hero_examination: 1.0,
        row_decay: 1.0,
        column_decay: 1.0,
        no_click_utility: 2.0,
        temperature: 1.0,
        dwell_secs: 10.0,
    };
    let appeals = [1.0, 2.0, 3.0];
    let page = one_row(vec![1, 2, 3]);
    // By hand: e^u / Σ e^u over the three cards and the no-click option (u = 2).
    let weights = [1f64.exp(), 2f64.exp(), 3f64.exp(), 2f64.exp()];
    let total: f64 = weights.iter().sum();
    let expected: Vec<f64> = weights.iter().map(|w| w / total).collect();
    assert!(
        model
            .choice_probabilities(&appeals)
            .iter()
            .zip(&expected)
            .all(|(a, b)| (a - b).abs() < 1e-12)
    );
    let draws = 20_000;
    let mut counts = [0f64; 4];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..draws {
        let choice = model.choose(&page, |item| appeals[item as usize - 1], &mut rng);
        match choice.clicked {
            Some(slot) => counts[slot.item as usize - 1] += 1.0,
            None => counts[3] += 1.0,
        }
    }
    let chi2: f64 = counts
        .iter()
        .zip(&expected)
        .map(|(o, p)| (o - p * draws as f64).powi(2) / (p * draws as f64))
        .sum();
    // 3 degrees of freedom: P(χ² > 16.27) = 0.001.
    assert!(
        chi2 < 16.27,
        "χ² = {chi2:.2}, counts {counts:?}, expected {expected:?}"
    );
}

#[test]
fn higher_rows_earlier_columns_and_the_hero_are_clicked_more() {
    let model = ChoiceModel::default();
    let page = Page {
        hero: Some(100),
        rows: (0..3)
            .map(|r| Row {
                kind: RowKind::Trending,
                title: format!("row {r}"),
                items: (0..4).map(|c| 1 + r * 4 + c).collect(),
            })
            .collect(),
    };
    let mut by_row = [0usize; 3];
    let mut by_column = [0usize; 4];
    let mut hero = 0;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..30_000 {
        // Every card equally appealing: only position decides.
        if let Some(slot) = model.choose(&page, |_| 3.0, &mut rng).clicked {
            match slot.row {
                Some(r) => {
                    by_row[r] += 1;
                    by_column[slot.column] += 1;
                }
                None => hero += 1,
            }
        }
    }
    assert!(by_row[0] > by_row[1] && by_row[1] > by_row[2], "{by_row:?}");
    assert!(by_column.windows(2).all(|w| w[0] > w[1]), "{by_column:?}");
    assert!(
        hero > by_row[0] / 4,
        "hero {hero} vs a first-row card {}",
        by_row[0] / 4
    );
}

#[test]
fn adaptive_greedy_with_sasrec_beats_the_static_page() {
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let mut config = TrainConfig {
        epochs: 8,
        batch_size: 128,
        learning_rate: 3e-3,
        cutoffs: vec![10],
        ..TrainConfig::default()
    };
    config.transformer.hidden = 32;
    config.transformer.inner = 64;
    config.transformer.max_len = 30;
    let root = tempfile::tempdir().unwrap();
    let outcome = train::<burn::backend::Autodiff<burn::backend::Flex>>(
        Default::default(),
        "cpu",
        &dataset,
        &config,
        None,
        root.path(),
        None,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
    )
    .unwrap();
    let model = model_from_run(&outcome.run_dir, &dataset).unwrap();
    let split = Split::new(&dataset, SplitStrategy::LeaveOneOut).unwrap();
    let ab = AbConfig {
        policies: vec![PolicyKind::Static, PolicyKind::Greedy],
        users: 1000,
        session: SessionConfig::default(),
        seed: 3,
        pool: reclab::sim::UserPool::All,
    };
    let report = run_ab(model.as_ref(), &dataset, &split, &ab);
    let (stat, greedy) = (&report.outcomes[0], &report.outcomes[1]);
    let message = format!(
        "static CTR {:.4} ± {:.4}, greedy CTR {:.4} ± {:.4} (95% intervals over 1000 users)",
        stat.ctr.mean, stat.ctr.ci95, greedy.ctr.mean, greedy.ctr.ci95
    );
    assert!(
        greedy.ctr.mean - greedy.ctr.ci95 > stat.ctr.mean + stat.ctr.ci95,
        "{message}"
    );
    eprintln!("{message}");
    // The per-session CTR distribution accounts for every user and agrees with the mean CTR
    // (to within half a bin, the most binning can move a value).
    for o in &report.outcomes {
        let bins = o.ctr_histogram.len() as f64;
        assert_eq!(bins, 10.0);
        assert!((o.ctr_histogram.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let binned_mean: f64 = o
            .ctr_histogram
            .iter()
            .enumerate()
            .map(|(b, share)| share * (b as f64 + 0.5) / bins)
            .sum();
        assert!(
            (binned_mean - o.ctr.mean).abs() <= 0.5 / bins,
            "{}: binned mean {binned_mean:.4} vs CTR {:.4}",
            o.policy,
            o.ctr.mean
        );
    }
}

/// Scores the least popular items highest: every row built from its scores is poor, while
/// "Trending" (by popularity) holds what users want.
struct AntiPopular(Vec<u32>);

impl Recommender for AntiPopular {
    fn name(&self) -> &str {
        "anti-popular"
    }
    fn num_items(&self) -> usize {
        self.0.len() - 1
    }
    fn score(&self, _query: Query<'_>, scores: &mut [f32]) {
        for (s, &c) in scores.iter_mut().zip(&self.0) {
            *s = -(c as f32);
        }
    }
}

#[test]
fn the_bandits_move_the_best_row_up_and_their_ctr_rises() {
    for kind in [PolicyKind::Bandit { epsilon: 0.1 }, PolicyKind::Thompson] {
        bandit_learns_the_best_row(kind);
    }
}

fn bandit_learns_the_best_row(kind: PolicyKind) {
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let mut world = World::of(&dataset);
    // Users want popular items and nothing else.
    world.genre_weight = 0.0;
    world.latent_weight = 0.0;
    world.sequence_weight = 0.0;
    world.quality_weight = 3.0;
    let logs: Vec<f32> = world
        .popularity
        .iter()
        .map(|&c| (1.0 + c as f32).ln())
        .collect();
    let mean = logs.iter().sum::<f32>() / logs.len() as f32;
    world.quality = logs.iter().map(|l| l - mean).collect();
    let model = AntiPopular(world.popularity.clone());
    // Strong position bias: a row far down the page is rarely seen, so its place matters.
    let session = SessionConfig {
        max_steps: 20,
        patience: 100.0,
        satiation: 0.0,
        choice: ChoiceModel {
            row_decay: 0.3,
            column_decay: 0.7,
            ..ChoiceModel::default()
        },
        ..SessionConfig::default()
    };
    let mut early = 0.0;
    let mut late = 0.0;
    let mut trending_first = 0;
    let users = 200;
    for u in 0..users {
        let user = SimUser::from_history(&world, dataset.sequence(u), 100.0);
        let mut rng = ChaCha8Rng::seed_from_u64(u as u64);
        let policy = Policy::new(kind, 6);
        let trace = run_session(user, policy, &model, &world, &session, &mut rng);
        assert_eq!(trace.steps.len(), 20);
        let clicks = |range: std::ops::Range<usize>| {
            trace.steps[range]
                .iter()
                .filter(|s| s.choice.clicked.is_some())
                .count() as f64
        };
        early += clicks(0..4) / 4.0;
        late += clicks(14..20) / 6.0;
        let last = &trace.steps[19].page;
        trending_first += usize::from(last.rows[0].kind == RowKind::Trending);
    }
    // One row in five would be first by chance.
    let name = kind.name();
    assert!(
        trending_first > users / 2,
        "{name}: Trending first on the last page for {trending_first} of {users} users"
    );
    let (early, late) = (early / users as f64, late / users as f64);
    assert!(
        late > early + 0.05,
        "{name}: CTR on pages 1–4 {early:.3}, on pages 15–20 {late:.3}"
    );
    eprintln!(
        "{name}: Trending first for {trending_first} of {users}; CTR pages 1–4 {early:.3}, 15–20 {late:.3}"
    );
}

/// Counts the model calls a policy makes.
struct Counting<'a> {
    inner: &'a dyn Recommender,
    calls: std::sync::atomic::AtomicUsize,
}

impl Recommender for Counting<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn num_items(&self) -> usize {
        self.inner.num_items()
    }
    fn score(&self, query: Query<'_>, scores: &mut [f32]) {
        self.score_batch(&[query], scores);
    }
    fn score_batch(&self, queries: &[Query<'_>], scores: &mut [f32]) {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.score_batch(queries, scores);
    }
}

#[test]
fn a_skip_reuses_the_session_scores_and_only_a_click_rescores() {
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let split = Split::new(&dataset, SplitStrategy::LeaveOneOut).unwrap();
    let world = World::of(&dataset);
    let itemknn = reclab::recommend::BaselineConfig::ItemKnn(Default::default())
        .fit(&dataset, &split)
        .unwrap();
    let model = Counting {
        inner: itemknn.as_ref(),
        calls: Default::default(),
    };
    let session = SessionConfig {
        max_steps: 40,
        patience: 100.0,
        ..SessionConfig::default()
    };
    let user = SimUser::from_history(&world, dataset.sequence(5), 100.0);
    let start = user.history.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let policy = Policy::new(PolicyKind::Greedy, 6);
    let trace = run_session(user, policy, &model, &world, &session, &mut rng);

    // The session changes only on a click: the first page and each page after a click score it
    // twice (the session, and "because you watched" its latest item); a page after a skip not
    // at all.
    let clicks_before_last_page = trace.steps[..trace.steps.len() - 1]
        .iter()
        .filter(|s| s.choice.clicked.is_some())
        .count();
    let skips = trace.steps.len() - trace.clicks();
    assert!(
        clicks_before_last_page >= 3 && skips >= 3,
        "the session should mix clicks ({clicks_before_last_page}) and skips ({skips})"
    );
    assert_eq!(
        model.calls.load(std::sync::atomic::Ordering::Relaxed),
        2 * (1 + clicks_before_last_page)
    );

    // Reusing scores changes nothing: each page equals one built from scratch for its history.
    let mut history = start;
    for (i, step) in trace.steps.iter().enumerate() {
        let fresh =
            Policy::new(PolicyKind::Greedy, 6).page(itemknn.as_ref(), &world, &history, &mut rng);
        assert_eq!(fresh, step.page, "page {i}");
        history.extend(step.choice.clicked.map(|slot| slot.item));
    }
}

#[test]
fn a_request_puts_its_row_on_top_and_pulls_its_items_into_the_page() {
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let split = Split::new(&dataset, SplitStrategy::LeaveOneOut).unwrap();
    let world = World::of(&dataset);
    let pop = reclab::recommend::BaselineConfig::Pop
        .fit(&dataset, &split)
        .unwrap();
    let history = dataset.sequence(3).to_vec();
    let width = dataset.num_items() + 1;
    // A request that likes the least popular items best: similarity falls with popularity.
    let max = *world.popularity.iter().max().unwrap() as f32;
    let similarity: Vec<f32> = (0..width)
        .map(|i| 1.0 - world.popularity[i] as f32 / max)
        .collect();
    let request = Arc::new(reclab::sim::Request {
        text: "something nobody watches".into(),
        similarity: similarity.clone(),
        weight: 1.0,
        words: Vec::new(),
    });
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let plain = Policy::new(PolicyKind::Greedy, 6).page(pop.as_ref(), &world, &history, &mut rng);
    let mut asked = Policy::new(PolicyKind::Greedy, 6);
    asked.set_request(Some(request.clone()));
    let page = asked.page(pop.as_ref(), &world, &history, &mut rng);

    assert!(
        plain
            .rows
            .iter()
            .all(|r| r.kind != RowKind::BecauseYouAsked)
    );
    let row = &page.rows[0];
    assert_eq!(row.kind, RowKind::BecauseYouAsked);
    assert_eq!(
        row.title,
        "Because you asked for “something nobody watches”"
    );
    // With weight 1 the hero is the most similar unseen item, the request's row the next six.
    let mut ranked: Vec<usize> = (1..width)
        .filter(|i| !history.contains(&(*i as u32)))
        .collect();
    ranked.sort_by(|&a, &b| similarity[b].total_cmp(&similarity[a]).then(a.cmp(&b)));
    assert_eq!(page.hero, Some(ranked[0] as u32));
    let expected: Vec<u32> = ranked[1..7].iter().map(|&i| i as u32).collect();
    assert_eq!(row.items, expected);
    // The blend is what the page was ranked by.
    let mut blended = asked.last_scores().to_vec();
    let mut raw = vec![0.0; width];
    pop.score(
        Query {
            user: None,
            history: &history,
        },
        &mut raw,
    );
    request.blend(&mut raw);
    blended[0] = raw[0];
    assert_eq!(blended, raw);

    // The static page ignores requests; the bandit keeps the request's row on top.
    let mut fixed = Policy::new(PolicyKind::Static, 6);
    fixed.set_request(Some(request.clone()));
    let page = fixed.page(pop.as_ref(), &world, &history, &mut rng);
    assert!(page.rows.iter().all(|r| r.kind != RowKind::BecauseYouAsked));
    let mut bandit = Policy::new(PolicyKind::Thompson, 6);
    bandit.set_request(Some(request));
    for _ in 0..5 {
        let page = bandit.page(pop.as_ref(), &world, &history, &mut rng);
        assert_eq!(page.rows[0].kind, RowKind::BecauseYouAsked);
    }
}
