//! Everything a training run needs to be repeated, as TOML (`reclab train --config FILE`).

use serde::{Deserialize, Serialize};

use super::batch::Augmentation;
use crate::data::{LoadSpec, SplitStrategy};
use crate::device::DeviceChoice;
use crate::model::{Direction, TransformerConfig, loss::LossConfig};

/// The model family, which fixes the fine-tuning objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Causal next-item prediction.
    Sasrec,
    /// Bidirectional masked-item prediction.
    Bert4rec,
}

impl ModelKind {
    pub fn name(&self) -> &'static str {
        match self {
            ModelKind::Sasrec => "SASRec",
            ModelKind::Bert4rec => "BERT4Rec",
        }
    }

    pub fn direction(&self) -> Direction {
        match self {
            ModelKind::Sasrec => Direction::Causal,
            ModelKind::Bert4rec => Direction::Bidirectional,
        }
    }
}

/// Stop when the validation metric has not improved for `patience` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EarlyStopping {
    /// A validation metric name such as `ndcg@10` or `hit@10` (higher is better).
    pub metric: String,
    pub patience: usize,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            metric: "ndcg@10".into(),
            patience: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub model: ModelKind,
    pub data: LoadSpec,
    pub split: SplitStrategy,
    pub transformer: TransformerConfig,
    pub loss: LossConfig,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// BERT4Rec and pretraining: share of items masked.
    pub mask_ratio: f64,
    /// Epochs of masked-item pretraining of the bidirectional encoder before fine-tuning
    /// (0: none). SASRec is then fine-tuned causally from the pretrained weights.
    pub pretrain_epochs: usize,
    pub augmentation: Augmentation,
    pub early_stopping: EarlyStopping,
    /// Cut-offs of the validation and test metrics.
    pub cutoffs: Vec<usize>,
    pub device: DeviceChoice,
    pub seed: u64,
    /// The Hugging Face model folder whose sentence vectors feed `transformer.item_text`.
    pub lm: Option<std::path::PathBuf>,
    /// The item-text template for those vectors (default: per dataset).
    pub item_template: Option<String>,
    /// The generative model that writes the descriptions a template's `{llm_description}`
    /// asks for (cached per model and item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<std::path::PathBuf>,
    /// The seed group this run belongs to (`reclab train --seeds`): runs that differ only in
    /// their seed, compared as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: ModelKind::Sasrec,
            data: LoadSpec::default(),
            split: SplitStrategy::LeaveOneOut,
            transformer: TransformerConfig::default(),
            loss: LossConfig::Softmax,
            epochs: 200,
            batch_size: 128,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            mask_ratio: 0.2,
            pretrain_epochs: 0,
            augmentation: Augmentation::default(),
            early_stopping: EarlyStopping::default(),
            cutoffs: vec![5, 10, 20],
            device: DeviceChoice::Auto,
            seed: 42,
            lm: None,
            item_template: None,
            llm: None,
            group: None,
        }
    }
}

impl TrainConfig {
    /// Reads a TOML config; unknown keys are errors (a typo must not silently train the default).
    pub fn from_toml(text: &str) -> Result<TrainConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// A message for the first setting that cannot work, if any.
    pub fn problem(&self) -> Option<String> {
        if let Some(problem) = self.transformer.problem() {
            return Some(problem);
        }
        if self.transformer.item_text != crate::model::ItemText::None && self.lm.is_none() {
            return Some(format!(
                "item_text = \"{}\" needs a language model for the item texts (lm = PATH, --lm PATH)",
                self.transformer.item_text.name()
            ));
        }
        if self.batch_size == 0 {
            return Some("batch_size must be at least 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Some(format!(
                "learning_rate must be a positive number (got {})",
                self.learning_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.mask_ratio) || self.mask_ratio == 0.0 {
            return Some(format!(
                "mask_ratio must be in (0, 1] (got {})",
                self.mask_ratio
            ));
        }
        if self.cutoffs.is_empty() || self.cutoffs.contains(&0) {
            return Some("cutoffs must be at least 1".into());
        }
        None
    }
}
