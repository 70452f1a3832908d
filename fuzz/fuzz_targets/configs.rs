//! Text a person writes: a train config (TOML), a sweep config (TOML with a `[sweep]` table),
//! and an item-text template.
#![no_main]

libfuzzer_sys::fuzz_target!(init: reclab_fuzz::init(), |data: &[u8]| reclab_fuzz::configs(data));
