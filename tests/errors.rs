//! Bad input gives an error that names the file, the line and field where known, and what
//! was expected, never a panic.

use std::path::PathBuf;

use reclab::data::{DataError, LoadSpec, Position, load};

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn error_of(path: &str) -> (DataError, String) {
    let err = load(&LoadSpec::new(path), None).expect_err("the load should fail");
    let text = err.to_string();
    (err, text)
}

#[test]
fn a_missing_file_is_named() {
    let (err, text) = error_of(&fixture("errors/does_not_exist.csv"));
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    assert!(text.contains("does_not_exist.csv"), "{text}");
    assert!(text.contains("no such file"), "{text}");
}

#[test]
fn a_wrong_separator_is_recognised() {
    let (err, text) = error_of(&fixture("errors/semicolon.csv"));
    assert!(matches!(err, DataError::MissingColumn { .. }), "{err:?}");
    assert!(text.contains("semicolon.csv"), "{text}");
    assert!(
        text.contains("semicolon"),
        "names the separator seen: {text}"
    );
    assert!(text.contains("--sep"), "says how to fix it: {text}");
}

#[test]
fn the_right_separator_fixes_it() {
    let mut spec = LoadSpec::new(fixture("errors/semicolon.csv"));
    spec.separator = Some(';');
    let d = load(&spec, None).unwrap();
    assert_eq!(d.num_interactions(), 2);
}

#[test]
fn a_missing_column_lists_the_header() {
    let (err, text) = error_of(&fixture("errors/no_item.csv"));
    match &err {
        DataError::MissingColumn { field, found, .. } => {
            assert_eq!(field, "item_id");
            assert!(found.contains("thing"), "{found}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(text.contains("no_item.csv"), "{text}");
    assert!(text.contains("--item-col"), "{text}");
}

#[test]
fn a_non_numeric_timestamp_names_line_and_field() {
    let (err, text) = error_of(&fixture("errors/bad_time.csv"));
    match &err {
        DataError::BadValue {
            position,
            field,
            value,
            ..
        } => {
            // Header is line 1, so the third data row is line 4.
            assert_eq!(*position, Position::Line(4));
            assert_eq!(field, "timestamp");
            assert_eq!(value, "yesterday");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        text.contains("bad_time.csv, line 4, field `timestamp`"),
        "{text}"
    );
    assert!(text.contains("expected a number"), "{text}");
}

#[test]
fn non_utf8_text_names_the_line() {
    let (err, text) = error_of(&fixture("errors/latin1.csv"));
    assert!(
        matches!(
            err,
            DataError::NotUtf8 {
                position: Position::Line(3),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("latin1.csv, line 3"), "{text}");
    assert!(text.contains("UTF-8"), "{text}");
}

#[test]
fn an_empty_file_says_what_was_expected() {
    for name in ["errors/empty.csv", "errors/header_only.csv"] {
        let (err, text) = error_of(&fixture(name));
        assert!(
            matches!(err, DataError::Empty { .. } | DataError::NoRows { .. }),
            "{err:?}"
        );
        assert!(text.contains(name.trim_start_matches("errors/")), "{text}");
        assert!(text.contains("expected"), "{text}");
    }
    // A header alone is not called empty: it says what it found.
    let (err, text) = error_of(&fixture("errors/header_only.csv"));
    assert!(
        matches!(
            err,
            DataError::NoRows {
                header_bytes: 25,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("no data rows"), "{text}");
}

#[test]
fn an_empty_id_names_line_and_field() {
    let (_, text) = error_of(&fixture("errors/empty_item.csv"));
    assert!(
        text.contains("empty_item.csv, line 3, field `item_id`"),
        "{text}"
    );
}

#[test]
fn a_folder_without_a_known_set_explains_what_it_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (err, text) = error_of(&dir.path().to_string_lossy());
    assert!(matches!(err, DataError::UnknownFormat { .. }), "{err:?}");
    assert!(text.contains("u.data"), "{text}");
    assert!(text.contains("--format"), "{text}");
}

#[test]
fn a_recbole_header_without_types_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.inter");
    std::fs::write(&path, "user_id\titem_id\n1\t2\n").unwrap();
    let (_, text) = error_of(&path.to_string_lossy());
    assert!(text.contains("x.inter, line 1, field `user_id`"), "{text}");
    assert!(text.contains("name:type"), "{text}");
}

#[test]
fn a_short_line_in_a_headerless_file_names_the_missing_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("u.data"), "1\t10\t5\t300\n2\t20\t4\n").unwrap();
    let (_, text) = error_of(&dir.path().to_string_lossy());
    assert!(text.contains("u.data"), "{text}");
    assert!(text.contains("line 2"), "{text}");
    assert!(text.contains("timestamp"), "{text}");
}
