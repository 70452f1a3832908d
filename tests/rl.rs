//! The learned page policy in the simulator: it never sees the simulated user's hidden state,
//! and a short training saves a run that reopens to the same policy.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reclab::data::{Dataset, Preprocessing, Split, SplitStrategy, SyntheticConfig, load_synthetic};
use reclab::recommend::{BaselineConfig, Recommender};
use reclab::rl::features::FEATURES;
use reclab::rl::learner::Infer;
use reclab::rl::network::QNet;
use reclab::rl::{QPolicy, RlConfig, load_policy, train_rl};
use reclab::sim::{
    AbConfig, Policy, PolicyKind, SessionConfig, UserPool, World, run_ab_with, simulated_users,
};

fn small() -> Dataset {
    load_synthetic(
        &SyntheticConfig {
            users: 120,
            items: 150,
            max_seq_len: 60,
            ..SyntheticConfig::default()
        },
        &Preprocessing::default(),
    )
    .unwrap()
}

fn pop(dataset: &Dataset) -> (Box<dyn Recommender>, Split) {
    let split = Split::new(dataset, SplitStrategy::LeaveOneOut).unwrap();
    (BaselineConfig::Pop.fit(dataset, &split).unwrap(), split)
}

#[test]
fn the_learned_policy_never_sees_the_users_hidden_state() {
    let dataset = small();
    let (model, split) = pop(&dataset);
    let world = World::of(&dataset);
    let user = simulated_users(&dataset, &split, &world, 1, 3.0, UserPool::All).remove(0);
    // The same history with another hidden state: reversed taste, tired of every genre,
    // other latent vector and patience; and a world whose hidden item truth is scrambled.
    let mut other = user.clone();
    other.taste.reverse();
    other.satiation.iter_mut().for_each(|s| *s = 2.5);
    other.latent.iter_mut().for_each(|x| *x = -*x);
    other.patience = 1.0;
    let mut scrambled = world.clone();
    scrambled.latent.reverse();
    scrambled.quality.iter_mut().for_each(|q| *q = -*q);
    assert_ne!(user.taste, other.taste);
    let page_and_decision = |world: &World, history: &[u32]| {
        let net = QNet::<Infer>::new(
            FEATURES,
            16,
            &mut ChaCha8Rng::seed_from_u64(5),
            &Default::default(),
        );
        let values = Arc::new(QPolicy::training(net, 30, 7, 9));
        let mut policy = Policy::learned(6, values.as_page_values());
        let page = policy.page(
            model.as_ref(),
            world,
            history,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        let decision = values
            .take_decision()
            .expect("a training policy records its decision");
        (page, decision.placed, decision.candidate_features)
    };
    let seen = page_and_decision(&world, &user.history);
    assert_eq!(seen, page_and_decision(&scrambled, &other.history));
    assert_eq!(seen.1.len(), 7);
    // And it does see what it may: another history changes what it is given.
    let shorter = &user.history[..user.history.len() / 2];
    assert_ne!(seen.2, page_and_decision(&world, shorter).2);
}

#[test]
fn a_short_training_saves_a_run_that_reopens_to_the_same_policy() {
    let dataset = small();
    let (model, split) = pop(&dataset);
    let dir = tempfile::tempdir().unwrap();
    let config = RlConfig {
        episodes: 30,
        eval_every: 15,
        eval_users: 20,
        recommender: "pop".into(),
        ..RlConfig::default()
    };
    let mut events = 0;
    let outcome = train_rl(
        model.as_ref(),
        &dataset,
        "synthetic",
        &config,
        Some(dir.path()),
        &AtomicBool::new(false),
        &mut |_| events += 1,
    )
    .unwrap();
    assert_eq!(events, 30 + 2, "one event per episode and per evaluation");
    let run = &outcome.run;
    assert_eq!(run.curves["train_return"].len(), 30);
    assert_eq!(run.curves["eval_return_rl"].len(), 2);
    assert_eq!(run.curves["eval_return_greedy"].len(), 2);
    let run_dir = outcome.run_dir.clone().unwrap();
    let (reopened, saved_config) = load_policy(&run_dir).unwrap();
    assert_eq!(saved_config, config);
    let probe = vec![vec![0.5; FEATURES], vec![-1.0; FEATURES]];
    let device = Default::default();
    assert_eq!(
        outcome.net.evaluate(&probe, &device),
        QPolicy::new(outcome.net.clone(), 30, 7).assess_features(&probe)
    );
    assert_eq!(
        reopened.assess_features(&probe),
        outcome.net.evaluate(&probe, &device)
    );
    // The reopened policy takes part in an A/B like any other, on the held-out users.
    let ab = AbConfig {
        policies: vec![PolicyKind::Greedy, PolicyKind::Learned],
        users: 40,
        session: SessionConfig::default(),
        seed: 4,
        pool: UserPool::HeldOut,
    };
    let report = run_ab_with(
        model.as_ref(),
        &dataset,
        &split,
        &ab,
        Some(&reopened.as_page_values()),
    );
    assert_eq!(report.outcomes[1].policy, "rl");
    assert!(report.outcomes[1].pages_per_session.mean >= 1.0);
    // A learned policy is not a recommender: opening it as one says what it is.
    let Err(error) = reclab::train::model_from_run(&run_dir, &dataset) else {
        panic!("a learned policy's run opened as a recommender");
    };
    assert!(error.to_string().contains("not a recommender"), "{error}");
    // A run that is not a learned policy's is refused, saying so.
    let Err(error) = load_policy(dir.path().join("missing").as_path()) else {
        panic!("a folder without a run opened as a policy");
    };
    assert!(error.to_string().contains("no run file"), "{error}");
}

#[test]
fn the_user_pools_split_the_dataset_in_halves() {
    assert_eq!(
        (0..4)
            .map(|k| UserPool::HeldOut.user(k, 5))
            .collect::<Vec<_>>(),
        vec![0, 2, 4, 0]
    );
    assert_eq!(
        (0..3)
            .map(|k| UserPool::Training.user(k, 5))
            .collect::<Vec<_>>(),
        vec![1, 3, 1]
    );
    assert_eq!(UserPool::All.user(7, 5), 2);
    assert_eq!(UserPool::Training.user(3, 1), 0);
}
