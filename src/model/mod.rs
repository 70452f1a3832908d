//! burn modules: the Transformer sequential recommender (causal SASRec and bidirectional
//! BERT4Rec share one encoder stack). Pure functions of tensors: no I/O, no threads.

pub mod activation;
pub(crate) mod attention;
mod config;
pub mod dropout;
mod elementwise;
mod encoder;
pub mod host_math;
pub(crate) mod layer_norm;
pub(crate) mod linear;
pub mod loss;

pub use config::{Direction, ItemText, TransformerConfig};
pub use encoder::{SeqRec, Vocabulary};
