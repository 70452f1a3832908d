//! RecBole atomic files: `<name>.inter` and `<name>.item`, found by detection as a folder.
#![no_main]

libfuzzer_sys::fuzz_target!(init: reclab_fuzz::init(), |data: &[u8]| reclab_fuzz::recbole(data));
