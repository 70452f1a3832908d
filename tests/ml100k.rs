//! The real MovieLens 100K from the shared datasets folder (its licence forbids copying it
//! into the repository). Ignored by default; `.ci/run` sets `RECLAB_DATASETS` and runs them.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use reclab::data::movielens::ML100K_GENRES;
use reclab::data::{Dataset, DatasetStats, LoadSpec, Split, SplitStrategy, load};

fn ml100k_dir() -> PathBuf {
    let root = std::env::var_os("RECLAB_DATASETS")
        .expect("set RECLAB_DATASETS to the folder that holds ml-100k/");
    PathBuf::from(root).join("ml-100k")
}

fn recbole() -> Dataset {
    load(&LoadSpec::new(ml100k_dir().to_string_lossy()), None).unwrap()
}

#[test]
#[ignore = "needs RECLAB_DATASETS (the shared ML-100K)"]
fn recbole_ml100k_has_the_published_sizes() {
    let d = recbole();
    assert_eq!(d.num_users(), 943);
    assert_eq!(d.num_items(), 1682);
    assert_eq!(d.num_interactions(), 100_000);
    // Numeric ids are numbered in their natural order, so item i is movie i.
    assert_eq!(d.items[1].id, "1");
    assert_eq!(d.items[1].title.as_deref(), Some("Toy Story"));
    assert_eq!(d.items[1].year, Some(1995));
    assert_eq!(
        d.item_category_names(1),
        vec!["Animation", "Children's", "Comedy"]
    );
    assert_eq!(d.category_names.len(), 19);
    let stats = DatasetStats::of(&d);
    assert!((stats.density - 100_000.0 / (943.0 * 1682.0)).abs() < 1e-12);
    // Every ML-100K user has rated at least 20 movies.
    assert_eq!(stats.min_seq_len, 20);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    assert_eq!(split.sizes(&d), (100_000 - 2 * 943, 943, 943));
}

/// Writes `u.data` and `u.item` as GroupLens distributes them (latin-1, title with the year,
/// 19 genre flags) from the RecBole files, and reads them back.
#[test]
#[ignore = "needs RECLAB_DATASETS (the shared ML-100K)"]
fn movielens_files_and_recbole_files_give_the_same_dataset() {
    let dir = ml100k_dir();
    let inter = std::fs::read_to_string(dir.join("ml-100k.inter")).unwrap();
    let item = std::fs::read_to_string(dir.join("ml-100k.item")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut data = String::new();
    for line in inter.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        writeln!(data, "{}\t{}\t{}\t{}", f[0], f[1], f[2], f[3]).unwrap();
    }
    std::fs::write(out.path().join("u.data"), data).unwrap();
    let mut items: Vec<u8> = Vec::new();
    for line in item.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let genres: HashSet<&str> = f[3].split(' ').collect();
        let flags: Vec<&str> = ML100K_GENRES
            .iter()
            .map(|g| if genres.contains(g) { "1" } else { "0" })
            .collect();
        let title = match f[2].parse::<i32>() {
            Ok(year) => format!("{} ({year})", f[1]),
            Err(_) => f[1].to_string(),
        };
        let row = format!(
            "{}|{title}|01-Jan-1995||http://example.org|{}\n",
            f[0],
            flags.join("|")
        );
        // latin-1, as GroupLens ships it
        items.extend(row.chars().map(|c| u8::try_from(u32::from(c)).unwrap()));
    }
    std::fs::write(out.path().join("u.item"), items).unwrap();

    let from_recbole = recbole();
    let from_movielens = load(&LoadSpec::new(out.path().to_string_lossy()), None).unwrap();
    assert_eq!(from_movielens.num_users(), 943);
    assert_eq!(from_movielens.num_items(), 1682);
    assert_eq!(from_movielens.num_interactions(), 100_000);
    assert_eq!(from_movielens.user_ids, from_recbole.user_ids);
    assert_eq!(from_movielens.items.len(), from_recbole.items.len());
    for (a, b) in from_movielens.items.iter().zip(&from_recbole.items) {
        assert_eq!(a, b, "item {} differs between the two formats", a.id);
    }
    assert_eq!(from_movielens.category_names, from_recbole.category_names);
    for u in 0..943 {
        assert_eq!(from_movielens.sequence(u), from_recbole.sequence(u));
        assert_eq!(from_movielens.timestamps(u), from_recbole.timestamps(u));
        assert_eq!(from_movielens.ratings(u), from_recbole.ratings(u));
    }
}

#[test]
#[ignore = "needs RECLAB_DATASETS (the shared ML-100K)"]
fn implicit_threshold_and_five_core_on_ml100k() {
    let mut spec = LoadSpec::new(ml100k_dir().to_string_lossy());
    spec.preprocessing.min_rating = Some(4.0);
    spec.preprocessing.min_user_interactions = 5;
    spec.preprocessing.min_item_interactions = 5;
    let d = load(&spec, None).unwrap();
    // Ratings of 4 and 5 in ML-100K: 34 174 + 21 201 = 55 375, before the 5-core.
    let raw = std::fs::read_to_string(ml100k_dir().join("ml-100k.inter")).unwrap();
    let positives = raw
        .lines()
        .skip(1)
        .filter(|l| l.split('\t').nth(2).unwrap().parse::<f64>().unwrap() >= 4.0)
        .count();
    assert_eq!(positives, 55_375);
    assert!(d.num_interactions() <= positives && d.num_interactions() > 50_000);
    let counts = d.item_counts();
    assert!(counts[1..].iter().all(|&c| c >= 5));
    assert!((0..d.num_users()).all(|u| d.sequence(u).len() >= 5));
}
