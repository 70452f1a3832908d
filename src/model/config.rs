//! The Transformer's shape, as a serde config (TOML in `reclab train --config`).

use serde::{Deserialize, Serialize};

/// Which objective the encoder is trained with, and so how it reads a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// SASRec: each position sees itself and the past; trained on next-item prediction.
    Causal,
    /// BERT4Rec: every position sees the whole sequence; trained on masked-item prediction and
    /// asked for the next item through a mask token appended to the history.
    Bidirectional,
}

/// How items' text vectors (from a pretrained language model) enter the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemText {
    /// Item ids alone.
    #[default]
    None,
    /// The id embeddings start as a random projection of the text vectors, then train freely.
    Init,
    /// Each id embedding plus a learned projection of the frozen text vector.
    Fused,
    /// The learned projection of the frozen text vector alone (an adaptor in the spirit of
    /// UniSRec): an item never seen in training still has an embedding.
    Frozen,
}

impl ItemText {
    pub fn name(&self) -> &'static str {
        match self {
            ItemText::None => "none",
            ItemText::Init => "init",
            ItemText::Fused => "fused",
            ItemText::Frozen => "frozen",
        }
    }

    /// Whether the model keeps the text vectors and a projection of them.
    pub fn keeps_vectors(&self) -> bool {
        matches!(self, ItemText::Fused | ItemText::Frozen)
    }
}

impl std::str::FromStr for ItemText {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(ItemText::None),
            "init" => Ok(ItemText::Init),
            "fused" => Ok(ItemText::Fused),
            "frozen" => Ok(ItemText::Frozen),
            other => Err(format!(
                "unknown item text mode `{other}`; expected none, init, fused or frozen"
            )),
        }
    }
}

/// The encoder's shape. Defaults are RecBole's SASRec / BERT4Rec defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformerConfig {
    pub hidden: usize,
    pub heads: usize,
    pub layers: usize,
    /// Width of the feed-forward sublayer.
    pub inner: usize,
    pub dropout: f64,
    /// Longest history the model reads (older items are dropped).
    pub max_len: usize,
    /// Pre-norm (LayerNorm before each sublayer, plus a final LayerNorm) instead of post-norm.
    pub norm_first: bool,
    /// Standard deviation of the normal initialiser.
    pub init_range: f64,
    /// How item text vectors enter the model.
    pub item_text: ItemText,
    /// Dimension of the item text vectors (set from the language model; 0 without text).
    pub text_dim: usize,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        TransformerConfig {
            hidden: 64,
            heads: 2,
            layers: 2,
            inner: 256,
            dropout: 0.2,
            max_len: 50,
            norm_first: false,
            init_range: 0.02,
            item_text: ItemText::None,
            text_dim: 0,
        }
    }
}

impl TransformerConfig {
    /// A message for the first setting that cannot work, if any.
    pub fn problem(&self) -> Option<String> {
        if self.hidden == 0 || self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            return Some(format!(
                "hidden size {} must be a positive multiple of the number of heads {}",
                self.hidden, self.heads
            ));
        }
        if self.layers == 0 || self.inner == 0 || self.max_len < 2 {
            return Some("layers and inner size must be at least 1 and max_len at least 2".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Some(format!("dropout must be in [0, 1) (got {})", self.dropout));
        }
        None
    }
}
