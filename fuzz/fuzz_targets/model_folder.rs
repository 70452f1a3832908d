//! A Hugging Face model folder: `config.json`, `modules.json`, `sentence_bert_config.json`,
//! `1_Pooling/config.json`, `tokenizer.json` and `model.safetensors`. The folder is opened,
//! loaded (tokenizer and weights) and, when that succeeds, one text is encoded.
#![no_main]

libfuzzer_sys::fuzz_target!(init: reclab_fuzz::init(), |data: &[u8]| reclab_fuzz::model_folder(data));
