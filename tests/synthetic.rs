//! The built-in synthetic world: deterministic, sized as configured, with its hidden truth,
//! and with the structure the generator promises.

use reclab::data::synthetic::{GENRES, generate};
use reclab::data::{Preprocessing, SyntheticConfig, load_synthetic};

fn small() -> SyntheticConfig {
    SyntheticConfig {
        users: 200,
        items: 150,
        max_seq_len: 100,
        ..SyntheticConfig::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_world_and_another_seed_another() {
    let a = load_synthetic(&small(), &Preprocessing::default()).unwrap();
    let b = load_synthetic(&small(), &Preprocessing::default()).unwrap();
    assert_eq!(a, b);
    let c = load_synthetic(
        &SyntheticConfig { seed: 7, ..small() },
        &Preprocessing::default(),
    )
    .unwrap();
    assert_ne!(a.sequence(0), c.sequence(0));
    assert_ne!(a.fingerprint, c.fingerprint);
}

#[test]
fn sizes_bounds_and_truth_follow_the_config() {
    let config = small();
    let d = load_synthetic(&config, &Preprocessing::default()).unwrap();
    assert_eq!(d.num_users(), config.users);
    assert!(d.num_items() <= config.items && d.num_items() > config.items * 9 / 10);
    for u in 0..d.num_users() {
        let seq = d.sequence(u);
        assert!((config.min_seq_len..=config.max_seq_len).contains(&seq.len()));
        // Users never repeat an item.
        let mut sorted = seq.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), seq.len());
        assert!(d.timestamps(u).windows(2).all(|w| w[0] <= w[1]));
    }
    let truth = d.truth.as_ref().unwrap();
    assert_eq!(truth.user_taste.len(), d.num_users());
    assert_eq!(truth.item_latent.len(), d.num_items() + 1);
    for taste in &truth.user_taste {
        assert_eq!(taste.len(), d.category_names.len());
        assert!((taste.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    }
    assert!(
        d.category_names
            .iter()
            .all(|c| GENRES.contains(&c.as_str()))
    );
    assert!(
        d.items[1..]
            .iter()
            .all(|i| i.title.is_some() && !i.categories.is_empty())
    );
}

#[test]
fn the_default_world_is_laptop_sized() {
    let d = load_synthetic(&SyntheticConfig::default(), &Preprocessing::default()).unwrap();
    assert_eq!(d.num_users(), 1000);
    assert!(
        (25_000..80_000).contains(&d.num_interactions()),
        "{}",
        d.num_interactions()
    );
}

/// Users choose items that fit their hidden genre taste: the share of interactions in a user's
/// favourite genre is far above that genre's share of the catalogue.
#[test]
fn choices_follow_the_hidden_taste() {
    let d = load_synthetic(&small(), &Preprocessing::default()).unwrap();
    let truth = d.truth.as_ref().unwrap();
    let (mut hits, mut expected, mut total) = (0.0, 0.0, 0.0);
    let catalogue_share = |g: u32| {
        d.items[1..]
            .iter()
            .filter(|i| i.categories.contains(&g))
            .count() as f64
            / d.num_items() as f64
    };
    for u in 0..d.num_users() {
        let favourite = truth.user_taste[u]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(g, _)| g as u32)
            .unwrap();
        let seq = d.sequence(u);
        hits += seq
            .iter()
            .filter(|&&i| d.items[i as usize].categories.contains(&favourite))
            .count() as f64;
        expected += catalogue_share(favourite) * seq.len() as f64;
        total += seq.len() as f64;
    }
    assert!(
        hits / total > 2.0 * expected / total,
        "{} vs {}",
        hits / total,
        expected / total
    );
}

/// Consecutive items are closer in the latent space than random pairs: the short-term
/// structure a sequential model can learn.
#[test]
fn consecutive_items_are_related() {
    let d = load_synthetic(&small(), &Preprocessing::default()).unwrap();
    let v = &d.truth.as_ref().unwrap().item_latent;
    let dot = |a: u32, b: u32| -> f64 {
        v[a as usize]
            .iter()
            .zip(&v[b as usize])
            .map(|(x, y)| (x * y) as f64)
            .sum()
    };
    let (mut consecutive, mut n) = (0.0, 0.0);
    for u in 0..d.num_users() {
        for w in d.sequence(u).windows(2) {
            consecutive += dot(w[0], w[1]);
            n += 1.0;
        }
    }
    let items = d.num_items() as u32;
    let mut random = 0.0;
    let mut count = 0.0;
    for a in 1..=items {
        for b in (a + 1..=items).step_by(7) {
            random += dot(a, b);
            count += 1.0;
        }
    }
    assert!(
        consecutive / n > random / count + 0.2,
        "{} vs {}",
        consecutive / n,
        random / count
    );
}

#[test]
fn invalid_configs_are_refused_with_a_reason() {
    let err = generate(&SyntheticConfig {
        genres: 99,
        ..small()
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("genres"), "{err}");
    let err = generate(&SyntheticConfig {
        max_seq_len: 1000,
        ..small()
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("max_seq_len"), "{err}");
}
