//! A GGUF model file: header, metadata, tokenizer, chat template, weights and two generated
//! tokens, the way `reclab generate` reads and runs it.
#![no_main]

libfuzzer_sys::fuzz_target!(init: reclab_fuzz::init(), |data: &[u8]| reclab_fuzz::gguf(data));
