//! A run folder written elsewhere: `run.json` and `per_user.bin`, read the way the Compare
//! panel and `reclab runs` read them (listing, then each file, then a metric per user).
#![no_main]

libfuzzer_sys::fuzz_target!(init: reclab_fuzz::init(), |data: &[u8]| reclab_fuzz::run_file(data));
