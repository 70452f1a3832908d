//! The preprocessed-dataset cache: reused for the same source and settings, rebuilt when
//! either changes, and never trusted when damaged.

use std::path::Path;

use reclab::data::{LoadSpec, load};

fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ml-100k");
    for name in ["u.data", "u.item"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

fn cache_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|e| e.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_cached_dataset_is_reused_and_invalidated_by_content_and_settings() {
    let data = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    copy_fixture(data.path());
    let spec = LoadSpec::new(data.path().to_string_lossy());
    let first = load(&spec, Some(cache.path())).unwrap();
    let files = cache_files(cache.path());
    assert_eq!(files.len(), 1);

    // The cache, not the source, answers the second load: make the cache distinguishable.
    let mut marked = first.clone();
    marked.name = "from-cache".into();
    std::fs::write(&files[0], postcard::to_stdvec(&marked).unwrap()).unwrap();
    assert_eq!(load(&spec, Some(cache.path())).unwrap().name, "from-cache");

    // Other preprocessing: another cache entry.
    let mut filtered = spec.clone();
    filtered.preprocessing.min_rating = Some(4.0);
    assert_eq!(
        load(&filtered, Some(cache.path()))
            .unwrap()
            .num_interactions(),
        4
    );
    assert_eq!(cache_files(cache.path()).len(), 2);

    // Changed content: the source is read again.
    let extra = "4\t40\t5\t400\n";
    let mut data_file = std::fs::read_to_string(data.path().join("u.data")).unwrap();
    data_file.push_str(extra);
    std::fs::write(data.path().join("u.data"), data_file).unwrap();
    let reloaded = load(&spec, Some(cache.path())).unwrap();
    assert_eq!(reloaded.num_interactions(), first.num_interactions() + 1);
    assert_ne!(reloaded.fingerprint, first.fingerprint);
}

#[test]
fn a_damaged_cache_file_is_rebuilt() {
    let data = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    copy_fixture(data.path());
    let spec = LoadSpec::new(data.path().to_string_lossy());
    let first = load(&spec, Some(cache.path())).unwrap();
    let files = cache_files(cache.path());
    std::fs::write(&files[0], b"not a dataset").unwrap();
    assert_eq!(load(&spec, Some(cache.path())).unwrap(), first);
}
