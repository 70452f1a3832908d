//! `reclab data …`: statistics and splits.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use reclab::data::{
    ColumnMapping, Dataset, DatasetStats, Format, ItemTableSpec, LoadSpec, Preprocessing, Split,
    SplitStrategy, SyntheticConfig, cache,
};

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Print a dataset's statistics (after preprocessing; with no filter flags nothing is
    /// filtered).
    Stats {
        #[command(flatten)]
        dataset: DatasetArgs,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Split a dataset and write the parts as RecBole benchmark files
    /// (`<name>.train.inter`, `.valid.inter`, `.test.inter`) plus `split.json`.
    Split {
        #[command(flatten)]
        dataset: DatasetArgs,
        /// Output folder (created if missing).
        #[arg(long, short)]
        out: PathBuf,
        /// `loo` (leave-one-out by time) or `temporal` (global cut by time).
        #[arg(long, default_value = "loo")]
        strategy: String,
        /// Share of interactions for training (temporal split).
        #[arg(long, default_value_t = 0.8)]
        train: f64,
        /// Share of interactions for validation (temporal split).
        #[arg(long, default_value_t = 0.1)]
        valid: f64,
    },
}

/// A dataset given as a positional path, and how to shape it.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// A dataset folder, any file of its set, or `synthetic`.
    pub path: String,
    #[command(flatten)]
    pub options: DatasetOptions,
}

impl DatasetArgs {
    pub fn load(&self) -> Result<Dataset> {
        self.options.load(&self.path)
    }
}

/// How to read and shape a dataset; shared by every subcommand that loads data.
#[derive(Debug, Clone, Args)]
pub struct DatasetOptions {
    /// Skip detection: ml-100k, ml-1m, ml-latest, recbole, csv, tsv, parquet, synthetic.
    #[arg(long)]
    pub format: Option<Format>,
    /// Field separator of a CSV/TSV log (e.g. ';').
    #[arg(long)]
    pub sep: Option<char>,
    /// Column of user ids (default: found by name, e.g. user_id, userId).
    #[arg(long)]
    pub user_col: Option<String>,
    /// Column of item ids (default: found by name, e.g. item_id, movieId).
    #[arg(long)]
    pub item_col: Option<String>,
    /// Column of timestamps (numbers; default: found by name, e.g. timestamp).
    #[arg(long)]
    pub time_col: Option<String>,
    /// Column of ratings (default: found by name, e.g. rating).
    #[arg(long)]
    pub rating_col: Option<String>,
    /// An item table (CSV/TSV/Parquet) for a generic log.
    #[arg(long)]
    pub items: Option<PathBuf>,
    #[arg(long)]
    pub item_id_col: Option<String>,
    #[arg(long)]
    pub title_col: Option<String>,
    #[arg(long)]
    pub categories_col: Option<String>,
    #[arg(long)]
    pub text_col: Option<String>,
    /// What separates categories in one cell of the item table.
    #[arg(long, default_value = "|")]
    pub categories_sep: String,
    /// Implicit feedback: keep interactions rated at least this.
    #[arg(long)]
    pub min_rating: Option<f32>,
    /// Keep only the first interaction of a user with an item.
    #[arg(long)]
    pub dedup: bool,
    /// Keep each user's latest N interactions.
    #[arg(long)]
    pub max_seq_len: Option<usize>,
    /// k-core on users and items alike (sets both minimums).
    #[arg(long)]
    pub k_core: Option<usize>,
    /// Minimum interactions per user (iterative k-core).
    #[arg(long, default_value_t = 0)]
    pub min_user_inter: usize,
    /// Minimum interactions per item (iterative k-core).
    #[arg(long, default_value_t = 0)]
    pub min_item_inter: usize,
    /// Seed of the synthetic world.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Users in the synthetic world.
    #[arg(long)]
    pub synthetic_users: Option<usize>,
    /// Items in the synthetic world.
    #[arg(long)]
    pub synthetic_items: Option<usize>,
    /// Ignore and do not write the preprocessed-dataset cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Cache folder (default: $RECLAB_CACHE_DIR, else ~/.cache/reclab).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

impl DatasetOptions {
    pub fn spec(&self, path: &str) -> LoadSpec {
        let mut synthetic = SyntheticConfig::default();
        if let Some(seed) = self.seed {
            synthetic.seed = seed;
        }
        if let Some(users) = self.synthetic_users {
            synthetic.users = users;
        }
        if let Some(items) = self.synthetic_items {
            synthetic.items = items;
            // Users never repeat an item: a small catalogue caps the sequence length.
            synthetic.max_seq_len = synthetic.max_seq_len.min(items);
            synthetic.min_seq_len = synthetic.min_seq_len.min(synthetic.max_seq_len);
        }
        LoadSpec {
            path: path.to_string(),
            format: self.format,
            columns: ColumnMapping {
                user: self.user_col.clone(),
                item: self.item_col.clone(),
                timestamp: self.time_col.clone(),
                rating: self.rating_col.clone(),
            },
            item_table: self.items.as_ref().map(|path| ItemTableSpec {
                path: path.clone(),
                id: self.item_id_col.clone(),
                title: self.title_col.clone(),
                categories: self.categories_col.clone(),
                text: self.text_col.clone(),
                categories_separator: self.categories_sep.clone(),
            }),
            separator: self.sep,
            synthetic,
            preprocessing: Preprocessing {
                min_rating: self.min_rating,
                dedup: self.dedup,
                max_seq_len: self.max_seq_len,
                min_user_interactions: self.k_core.unwrap_or(self.min_user_inter),
                min_item_interactions: self.k_core.unwrap_or(self.min_item_inter),
            },
        }
    }

    /// The cache folder these options name, `None` with `--no-cache`.
    pub fn cache_dir(&self) -> Option<std::path::PathBuf> {
        if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(cache::default_cache_dir)
        }
    }

    pub fn load(&self, path: &str) -> Result<Dataset> {
        let cache_dir = self.cache_dir();
        let dataset = reclab::data::load(&self.spec(path), cache_dir.as_deref())?;
        Ok(dataset)
    }
}

/// A split strategy from its command-line name.
pub fn parse_strategy(name: &str, train: f64, valid: f64) -> Result<SplitStrategy> {
    match name {
        "loo" | "leave-one-out" => Ok(SplitStrategy::LeaveOneOut),
        "temporal" => Ok(SplitStrategy::Temporal { train, valid }),
        "cold-items" => Ok(SplitStrategy::ColdItems { share: 0.1 }),
        cold if cold.starts_with("cold-items:") => {
            let share: f64 = cold["cold-items:".len()..].parse().map_err(|_| {
                anyhow::anyhow!("--split {cold}: the share after `cold-items:` must be a number, e.g. cold-items:0.1")
            })?;
            Ok(SplitStrategy::ColdItems { share })
        }
        other => anyhow::bail!(
            "unknown split strategy `{other}`; expected `loo`, `temporal` or `cold-items[:share]`"
        ),
    }
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Stats { dataset, json } => {
            let stats = DatasetStats::of(&dataset.load()?);
            if json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                println!("{}", stats.summary());
            }
            Ok(())
        }
        DataCommand::Split {
            dataset,
            out,
            strategy,
            train,
            valid,
        } => {
            let strategy = parse_strategy(&strategy, train, valid)?;
            let dataset = dataset.load()?;
            let split = Split::new(&dataset, strategy)?;
            write_split(&dataset, &split, &out)?;
            let (tr, va, te) = split.sizes(&dataset);
            println!(
                "wrote {} (train {tr}, valid {va}, test {te} interactions)",
                out.display()
            );
            Ok(())
        }
    }
}

/// Writes the three parts as RecBole benchmark files, which RecBole itself and reclab
/// (`--format recbole`) read back, and a JSON summary.
pub fn write_split(dataset: &Dataset, split: &Split, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (part_index, part) in ["train", "valid", "test"].into_iter().enumerate() {
        let path = out.join(format!("{}.{part}.inter", dataset.name));
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut w = std::io::BufWriter::new(file);
        writeln!(w, "user_id:token\titem_id:token\ttimestamp:float")?;
        for user in 0..dataset.num_users() {
            let range = split.ranges(dataset, user)[part_index].clone();
            let items = &dataset.sequence(user)[range.clone()];
            let times = &dataset.timestamps(user)[range];
            for (&item, time) in items.iter().zip(times) {
                let id = &dataset.items[item as usize].id;
                writeln!(w, "{}\t{id}\t{time}", dataset.user_ids[user])?;
            }
        }
        w.flush()?;
    }
    let (tr, va, te) = split.sizes(dataset);
    let summary = serde_json::json!({
        "dataset": dataset.name,
        "fingerprint": dataset.fingerprint,
        "preprocessing": dataset.preprocessing,
        "strategy": split.strategy,
        "train": tr, "valid": va, "test": te,
    });
    std::fs::write(
        out.join("split.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(())
}

/// The ML-100K folder given, else `$RECLAB_DATASETS/ml-100k` when that is set (benchmarks).
pub(super) fn ml100k_or_env(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| std::env::var_os("RECLAB_DATASETS").map(|d| PathBuf::from(d).join("ml-100k")))
}
