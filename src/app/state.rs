//! What the app remembers across restarts (eframe storage): open panel, theme, last dataset,
//! the training and evaluation forms, the runs folder and the runs picked for comparison.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::LoadSpec;
use crate::eval::Protocol;
use crate::recommend::{BaselineConfig, BprConfig, ItemKnnConfig, LmConfig};
use crate::sim::PolicyKind;
use crate::train::TrainConfig;

/// The panels of the workbench, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum PanelKind {
    #[default]
    Data,
    Train,
    Evaluate,
    Compare,
    User,
    Live,
}

impl PanelKind {
    pub const ALL: [PanelKind; 6] = [
        PanelKind::Data,
        PanelKind::Train,
        PanelKind::Evaluate,
        PanelKind::Compare,
        PanelKind::User,
        PanelKind::Live,
    ];

    pub fn title(self) -> &'static str {
        match self {
            PanelKind::Data => "Data",
            PanelKind::Train => "Train",
            PanelKind::Evaluate => "Evaluate",
            PanelKind::Compare => "Compare",
            PanelKind::User => "User",
            PanelKind::Live => "Live preview",
        }
    }
}

/// Which model the Train panel fits: a Transformer (through [`TrainConfig`]) or a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ModelChoice {
    #[default]
    Transformer,
    Pop,
    ItemKnn,
    Bpr,
    Content,
    /// The language model's cosine between user and item texts.
    Lm,
}

impl ModelChoice {
    pub const ALL: [ModelChoice; 6] = [
        ModelChoice::Transformer,
        ModelChoice::Pop,
        ModelChoice::ItemKnn,
        ModelChoice::Bpr,
        ModelChoice::Content,
        ModelChoice::Lm,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ModelChoice::Transformer => "Transformer (SASRec / BERT4Rec)",
            ModelChoice::Pop => "Pop",
            ModelChoice::ItemKnn => "ItemKNN",
            ModelChoice::Bpr => "BPR-MF",
            ModelChoice::Content => "Content",
            ModelChoice::Lm => "LM (sentence vectors)",
        }
    }
}

/// The Train panel's form: the very structs the CLI reads, so defaults live in one place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainForm {
    pub choice: ModelChoice,
    pub transformer: TrainConfig,
    pub itemknn: ItemKnnConfig,
    pub bpr: BprConfig,
    /// The `lm` recommender's settings; its model folder is the Data panel's.
    pub lm: LmConfig,
}

impl Default for TrainForm {
    fn default() -> Self {
        TrainForm {
            choice: ModelChoice::Transformer,
            transformer: TrainConfig {
                // Interactive runs: a few epochs unless the user asks for more.
                epochs: 20,
                ..TrainConfig::default()
            },
            itemknn: ItemKnnConfig::default(),
            bpr: BprConfig::default(),
            lm: LmConfig::default(),
        }
    }
}

impl TrainForm {
    /// The baseline the form describes, when a baseline is chosen.
    pub fn baseline(&self) -> Option<BaselineConfig> {
        match self.choice {
            ModelChoice::Transformer => None,
            ModelChoice::Pop => Some(BaselineConfig::Pop),
            ModelChoice::ItemKnn => Some(BaselineConfig::ItemKnn(self.itemknn.clone())),
            ModelChoice::Bpr => Some(BaselineConfig::Bpr(self.bpr.clone())),
            ModelChoice::Content => Some(BaselineConfig::Content),
            ModelChoice::Lm => Some(BaselineConfig::Lm(self.lm.clone())),
        }
    }
}

/// The Evaluate panel's form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalForm {
    pub protocol: Protocol,
    pub cutoff: usize,
}

impl Default for EvalForm {
    fn default() -> Self {
        EvalForm {
            protocol: Protocol::Full,
            cutoff: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppState {
    pub panel: PanelKind,
    pub dark_mode: bool,
    /// The dataset loaded last; reloaded at start.
    pub dataset: LoadSpec,
    /// The Data panel's form: what "Load" will load.
    pub dataset_draft: LoadSpec,
    pub train: TrainForm,
    pub eval: EvalForm,
    /// Where runs are written and listed.
    pub runs_root: PathBuf,
    /// Run folders picked for comparison (also the "recent runs").
    pub compared: Vec<PathBuf>,
    /// The curves the Compare panel overlays (run-file curve names).
    pub compare_curves: Vec<String>,
    /// Show only the rows where compared runs differ.
    pub only_differences: bool,
    /// EMA smoothing of loss curves, 0 (raw) to 0.99.
    pub smoothing: f64,
    /// The user shown in the User panel.
    pub user: usize,
    /// How many recommendations the User panel lists.
    pub user_top_k: usize,
    /// The Live preview's two policies (left, right), pages per second, and A/B users.
    pub preview_policies: [PolicyKind; 2],
    pub preview_speed: f64,
    pub ab_users: usize,
    /// Episodes of a learned policy's training started in the Live preview.
    pub rl_episodes: usize,
    /// The language model's folder (typed, picked or dropped; the last one remembered).
    pub lm_dir: String,
    /// Item-text templates edited per dataset (by its path); the dataset's default otherwise.
    pub item_templates: std::collections::BTreeMap<String, String>,
    /// The Data panel's semantic search box.
    pub search: String,
    /// Draw the User panel's user's history as a path on the item map.
    pub map_history: bool,
    /// The Live preview's "Tell the storefront" box and its weight against the model.
    pub request: String,
    pub request_weight: f32,
    /// "Tell the storefront" has the generative model describe the item asked for first, and
    /// embeds that description instead of the words.
    pub request_llm: bool,
    /// The Live preview's persona description.
    pub persona: String,
    /// The generative model: a `.gguf` file or a Hugging Face folder (typed or dropped).
    pub llm_path: String,
    /// The prompt that asks it for a user's profile; `{history}` marks the history.
    pub profile_prompt: String,
}

impl Default for AppState {
    fn default() -> Self {
        AppState {
            panel: PanelKind::Data,
            dark_mode: true,
            dataset: LoadSpec::default(),
            dataset_draft: LoadSpec::default(),
            train: TrainForm::default(),
            eval: EvalForm::default(),
            runs_root: PathBuf::from("experiments"),
            compared: Vec::new(),
            compare_curves: vec!["train_loss".into(), "valid_ndcg@10".into()],
            only_differences: false,
            smoothing: 0.9,
            user: 0,
            user_top_k: 10,
            preview_policies: [PolicyKind::Greedy, PolicyKind::Static],
            preview_speed: 2.0,
            ab_users: 500,
            rl_episodes: 1000,
            lm_dir: String::new(),
            item_templates: Default::default(),
            search: String::new(),
            map_history: false,
            request: String::new(),
            request_weight: 0.5,
            request_llm: false,
            persona: String::new(),
            llm_path: String::new(),
            profile_prompt: crate::lm::written::profiles::DEFAULT_PROFILE_PROMPT.to_string(),
        }
    }
}
