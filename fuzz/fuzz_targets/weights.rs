//! A weights file (`best.bin` or a checkpoint's model file) read into a SASRec of the seed's
//! shape: 6 items + padding, hidden 8, 2 heads, 1 layer, feed-forward 16, length 4.
#![no_main]

libfuzzer_sys::fuzz_target!(init: reclab_fuzz::init(), |data: &[u8]| reclab_fuzz::weights(data));
