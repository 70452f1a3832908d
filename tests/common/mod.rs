//! Building small datasets by hand for tests.

#![allow(dead_code)] // each test file uses its own part of this module

use std::fmt::Write;

use reclab::data::{Dataset, ItemTableSpec, LoadSpec, load};

/// A dataset whose user `u` (0-based) met `sequences[u]` in order, item ids being the numbers
/// given (so item `i` gets index `i` when ids 1..=n all occur). `categories[i - 1]` lists item
/// `i`'s categories separated by `|` (empty for none).
pub fn dataset(sequences: &[&[u32]], categories: Option<&[&str]>) -> Dataset {
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::from("user_id,item_id,timestamp\n");
    for (u, sequence) in sequences.iter().enumerate() {
        for (t, item) in sequence.iter().enumerate() {
            writeln!(log, "{},{item},{t}", u + 1).unwrap();
        }
    }
    std::fs::write(dir.path().join("log.csv"), log).unwrap();
    let mut spec = LoadSpec::new(dir.path().join("log.csv").to_string_lossy());
    if let Some(categories) = categories {
        let mut table = String::from("item_id,title,categories\n");
        for (i, cats) in categories.iter().enumerate() {
            writeln!(table, "{},Item {},{cats}", i + 1, i + 1).unwrap();
        }
        std::fs::write(dir.path().join("items.csv"), table).unwrap();
        spec.item_table = Some(ItemTableSpec {
            path: dir.path().join("items.csv"),
            ..ItemTableSpec::default()
        });
    }
    load(&spec, None).unwrap()
}
