//! Every supported format read from small hand-written fixtures. All fixtures describe the same
//! seven interactions, so the expected sequences below are computed by hand once:
//!
//! ```text
//! user item rating time      user 1: 20@100, 30@200, 10@300  -> items [2, 3, 1]
//!  1    10    5    300       user 2: 10@100, 40@200          -> items [1, 4]
//!  2    10    3    100       user 3: 20@50, 30@50 (a tie:    -> items [2, 3]
//!  1    20    4    100               file order decides)
//!  1    30    2    200
//!  2    40    4    200       items 10, 20, 30, 40 -> 1, 2, 3, 4 (0 is padding)
//!  3    20    1     50
//!  3    30    5     50
//! ```

use std::path::PathBuf;

use reclab::data::{ColumnMapping, Dataset, Format, ItemTableSpec, LoadSpec, load};

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn read(spec: LoadSpec) -> Dataset {
    match load(&spec, None) {
        Ok(d) => d,
        Err(e) => panic!("loading {} failed: {e}", spec.path),
    }
}

fn sequences(d: &Dataset) -> Vec<Vec<u32>> {
    (0..d.num_users()).map(|u| d.sequence(u).to_vec()).collect()
}

fn assert_shared_interactions(d: &Dataset, user_prefix: &str, item_prefix: &str) {
    assert_eq!(d.num_users(), 3);
    assert_eq!(d.num_items(), 4);
    assert_eq!(d.num_interactions(), 7);
    let users: Vec<String> = ["1", "2", "3"]
        .iter()
        .map(|u| format!("{user_prefix}{u}"))
        .collect();
    assert_eq!(d.user_ids, users);
    let items: Vec<String> = ["10", "20", "30", "40"]
        .iter()
        .map(|i| format!("{item_prefix}{i}"))
        .collect();
    let ids: Vec<String> = d.items[1..].iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids, items);
    assert_eq!(sequences(d), vec![vec![2, 3, 1], vec![1, 4], vec![2, 3]]);
    assert_eq!(d.timestamps(0), &[100.0, 200.0, 300.0]);
}

fn assert_movie_metadata(d: &Dataset, first_title: &str) {
    assert_eq!(d.items[1].title.as_deref(), Some(first_title));
    assert_eq!(d.items[1].year, Some(1995));
    assert_eq!(d.item_category_names(1), vec!["Action", "Comedy"]);
    assert_eq!(d.items[3].title.as_deref(), Some("Seven (Se7en)"));
    assert_eq!(d.item_category_names(3), vec!["Crime", "Thriller"]);
    assert_eq!(d.items[4].title.as_deref(), Some("\"Quote\" Movie"));
    assert_eq!(d.items[4].year, Some(1996));
}

#[test]
fn movielens_100k_reads_latin1_items_and_genre_flags() {
    for path in ["ml-100k", "ml-100k/u.data", "ml-100k/u.item"] {
        let d = read(LoadSpec::new(fixture(path)));
        assert_eq!(d.format, Format::Ml100k);
        assert_shared_interactions(&d, "", "");
        // `Café` is latin-1 in the file (one byte 0xE9) and must come out as UTF-8.
        assert_movie_metadata(&d, "Café Society");
        assert_eq!(d.ratings(0), Some(&[4.0, 2.0, 5.0][..]));
    }
}

#[test]
fn movielens_1m_reads_double_colon_files() {
    let d = read(LoadSpec::new(fixture("ml-1m/ratings.dat")));
    assert_eq!(d.format, Format::Ml1m);
    assert_shared_interactions(&d, "", "");
    assert_movie_metadata(&d, "Café Society");
}

#[test]
fn movielens_latest_reads_quoted_csv() {
    let d = read(LoadSpec::new(fixture("ml-latest")));
    assert_eq!(d.format, Format::MlLatest);
    assert_shared_interactions(&d, "", "");
    assert_movie_metadata(&d, "Café Society, The");
    // `(no genres listed)` is no genre.
    assert!(d.items[4].categories.is_empty());
}

#[test]
fn recbole_atomic_files_read_typed_headers() {
    for path in ["recbole", "recbole/tiny.inter", "recbole/tiny.item"] {
        let d = read(LoadSpec::new(fixture(path)));
        assert_eq!(d.format, Format::Recbole);
        assert_eq!(d.name, "tiny");
        assert_shared_interactions(&d, "", "");
        assert_movie_metadata(&d, "Café Society");
        assert_eq!(d.item_category_names(4), vec!["unknown"]);
    }
}

/// Amazon item files quote a title that holds a newline or a tab, and write categories as a
/// quoted list; a stray quote inside an unquoted title stays a character.
#[test]
fn recbole_item_files_with_quoted_titles_and_every_column_kept() {
    let d = read(LoadSpec::new(fixture("recbole-quoted")));
    assert_eq!(d.num_items(), 3);
    let by_id = |id: &str| d.items.iter().position(|i| i.id == id).unwrap() as u32;
    let (b01, b02, b03) = (by_id("B01"), by_id("B02"), by_id("B03"));
    assert_eq!(
        d.items[b01 as usize].title.as_deref(),
        Some("TheraNeem Cream - Original Organix South 2 oz Cream \nVanilla")
    );
    assert_eq!(
        d.items[b02 as usize].title.as_deref(),
        Some("Hair Gel\twith a tab")
    );
    assert_eq!(
        d.items[b03 as usize].title.as_deref(),
        Some("Plain 3\" Brush")
    );
    assert_eq!(d.item_category_names(b01), vec!["Beauty", "Skin Care"]);
    assert_eq!(
        d.item_category_names(b02),
        vec!["Beauty", "Eau de Parfum", "Women's"]
    );
    // Columns without a role of their own are kept for item-text templates.
    let fields = &d.items[b02 as usize].fields;
    assert_eq!(fields.get("brand").map(String::as_str), Some("Prada"));
    assert_eq!(fields.get("price").map(String::as_str), Some("65.86"));
    assert_eq!(fields.get("sales_type").map(String::as_str), Some("Beauty"));
    assert!(
        !d.items[b03 as usize].fields.contains_key("brand"),
        "empty cells are absent"
    );
    let template = reclab::lm::Template::default_for(&d);
    assert_eq!(template.source(), "{title}. {categories}. {brand}.");
    assert_eq!(
        template.render(&d, b02),
        "Hair Gel with a tab. Beauty, Eau de Parfum, Women's. Prada."
    );
    assert_eq!(template.render(&d, b03), "Plain 3\" Brush. Beauty, Tools.");
    let unknown = reclab::lm::Template::parse("{title} by {maker}").unwrap();
    let message = unknown.check(&d).unwrap_err();
    assert!(
        message.contains("`maker`") && message.contains("brand"),
        "{message}"
    );
}

#[test]
fn csv_log_with_a_column_mapping_and_an_item_table() {
    let mut spec = LoadSpec::new(fixture("generic/clicks.csv"));
    spec.columns = ColumnMapping {
        user: Some("visitor".into()),
        item: Some("product".into()),
        timestamp: Some("when".into()),
        rating: Some("stars".into()),
    };
    spec.item_table = Some(ItemTableSpec {
        path: fixture("generic/products.csv").into(),
        id: Some("product".into()),
        categories_separator: "/".into(),
        ..ItemTableSpec::default()
    });
    let d = read(spec);
    assert_eq!(d.format, Format::Csv);
    assert_shared_interactions(&d, "v", "p");
    // Title, tags and text found by their usual names (`name`, `tags`, `blurb` is not usual).
    assert_movie_metadata(&d, "Café Society, The");
    assert_eq!(d.ratings(2), Some(&[1.0, 5.0][..]));
}

#[test]
fn tsv_log_finds_usual_column_names() {
    let d = read(LoadSpec::new(fixture("generic/log.tsv")));
    assert_eq!(d.format, Format::Tsv);
    assert_shared_interactions(&d, "", "");
    assert!(d.ratings(0).is_none());
    assert!(d.items[1].title.is_none());
    assert_eq!(d.item_label(1), "10");
}

#[test]
fn parquet_log_with_typed_columns() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.parquet");
    let mut frame = df!(
        "user_id" => [1i64, 2, 1, 1, 2, 3, 3],
        "item_id" => [10i64, 10, 20, 30, 40, 20, 30],
        "timestamp" => [300i64, 100, 100, 200, 200, 50, 50],
        "rating" => [5.0f64, 3.0, 4.0, 2.0, 4.0, 1.0, 5.0],
    )
    .unwrap();
    let file = std::fs::File::create(&path).unwrap();
    ParquetWriter::new(file).finish(&mut frame).unwrap();
    let d = read(LoadSpec::new(path.to_string_lossy()));
    assert_eq!(d.format, Format::Parquet);
    assert_shared_interactions(&d, "", "");
}

#[test]
fn a_forced_format_overrides_detection() {
    // `clicks.csv` would be a CSV; forcing TSV reads one column and says what is missing.
    let mut spec = LoadSpec::new(fixture("generic/log.tsv"));
    spec.format = Some(Format::Csv);
    let err = load(&spec, None).unwrap_err().to_string();
    assert!(err.contains("log.tsv"), "{err}");
    assert!(err.contains("tab"), "{err}");
}

#[test]
fn preprocessing_applies_threshold_dedup_and_length() {
    let mut spec = LoadSpec::new(fixture("ml-100k"));
    spec.preprocessing.min_rating = Some(4.0);
    let d = read(spec);
    // Kept: (1,10,5) (1,20,4) (2,40,4) (3,30,5); item 10 keeps index 1 among 10,20,30,40.
    assert_eq!(d.num_interactions(), 4);
    assert_eq!(sequences(&d), vec![vec![2, 1], vec![4], vec![3]]);

    let mut spec = LoadSpec::new(fixture("ml-100k"));
    spec.preprocessing.max_seq_len = Some(2);
    let d = read(spec);
    assert_eq!(sequences(&d), vec![vec![3, 1], vec![1, 4], vec![2, 3]]);

    let mut spec = LoadSpec::new(fixture("ml-100k"));
    spec.preprocessing.min_user_interactions = 3;
    let d = read(spec);
    // Only user 1 has 3 interactions; items are renumbered densely among 10, 20, 30.
    assert_eq!(d.user_ids, vec!["1"]);
    assert_eq!(sequences(&d), vec![vec![2, 3, 1]]);
}

#[test]
fn min_rating_without_ratings_is_a_clear_error() {
    let mut spec = LoadSpec::new(fixture("generic/log.tsv"));
    spec.preprocessing.min_rating = Some(4.0);
    let err = load(&spec, None).unwrap_err().to_string();
    assert!(err.contains("no rating column"), "{err}");
}
