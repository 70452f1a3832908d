//! A CSV / TSV interaction log, with the options a person can set: the separator, column
//! names, an item table, and k-core preprocessing. The whole load runs (detection, reading,
//! preprocessing, indexing); errors are rendered as the app shows them.
#![no_main]

libfuzzer_sys::fuzz_target!(init: reclab_fuzz::init(), |data: &[u8]| reclab_fuzz::delimited_log(data));
