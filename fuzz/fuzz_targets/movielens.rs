//! MovieLens as distributed: 100K (`u.data`, `u.item`), 1M (`ratings.dat`, `movies.dat`) and
//! latest (`ratings.csv`, `movies.csv`); the first byte picks which.
#![no_main]

libfuzzer_sys::fuzz_target!(init: reclab_fuzz::init(), |data: &[u8]| reclab_fuzz::movielens(data));
