//! `reclab embed …` and `reclab search …`: a pretrained language model over item texts.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reclab::data::Dataset;
use reclab::device::DeviceChoice;
use reclab::lm::{self, Embedder, ItemVectors, Template};
use reclab::recommend::top_k_excluding;

use super::data::DatasetOptions;

/// What `embed` and `search` share: the model, the catalogue and how items become text.
#[derive(Debug, Args)]
pub struct LmOptions {
    /// The Hugging Face model folder (config.json, tokenizer.json, model.safetensors).
    #[arg(long)]
    lm: PathBuf,
    /// A dataset folder, any file of its set, or `synthetic`.
    #[arg(long, default_value = "synthetic")]
    data: String,
    /// The item-text template, e.g. "{title} ({year}). {genres}." (default: per dataset).
    #[arg(long)]
    template: Option<String>,
    /// auto, cpu, cuda or wgpu.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Texts per forward pass.
    #[arg(long, default_value_t = lm::DEFAULT_BATCH)]
    batch: usize,
    #[command(flatten)]
    options: DatasetOptions,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    lm: LmOptions,
    /// Embed these texts instead of the catalogue (repeatable).
    #[arg(long)]
    text: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Also write the item texts here, one JSON string per line (for benches/embed.sh).
    #[arg(long)]
    texts_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for, in words.
    query: String,
    #[command(flatten)]
    lm: LmOptions,
    /// How many items to list.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn open_embedder(options: &LmOptions) -> Result<Embedder> {
    anyhow::ensure!(options.batch > 0, "--batch must be at least 1");
    Embedder::open(&options.lm, options.device)
        .with_context(|| format!("opening the language model {}", options.lm.display()))
}

/// The catalogue's item vectors, embedded (with a progress bar) or read from the cache.
fn item_vectors(options: &LmOptions, embedder: &Embedder) -> Result<(Dataset, ItemVectors)> {
    let dataset = options.options.load(&options.data)?;
    let template =
        Template::for_dataset(&dataset, options.template.as_deref()).map_err(anyhow::Error::msg)?;
    let bar = ProgressBar::new(dataset.num_items() as u64);
    bar.set_style(
        ProgressStyle::with_template("embedding {bar:30} {pos}/{len} items, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let cache_dir = options.options.cache_dir();
    let items = lm::embed_items(
        embedder,
        &dataset,
        &template,
        cache_dir.as_deref(),
        options.batch,
        &mut |done, _| {
            bar.set_position(done as u64);
            true
        },
    )?;
    bar.finish_and_clear();
    if let Some(warning) = &items.cache_warning {
        eprintln!("note: {warning}");
    }
    Ok((dataset, items))
}

pub fn run_embed(args: EmbedArgs) -> Result<()> {
    let embedder = open_embedder(&args.lm)?;
    if !args.text.is_empty() {
        let vectors = embedder.encode(&args.text, args.lm.batch, &mut |_, _| true)?;
        let rows: Vec<&[f32]> = vectors.rows().collect();
        if args.json {
            println!("{}", serde_json::json!({ "vectors": rows }));
        } else {
            for (text, row) in args.text.iter().zip(rows) {
                let head: Vec<String> = row.iter().take(4).map(|x| format!("{x:.4}")).collect();
                println!("{text:?}: [{}, …] ({} values)", head.join(", "), row.len());
            }
        }
        return Ok(());
    }
    let (dataset, items) = item_vectors(&args.lm, &embedder)?;
    if let Some(path) = &args.texts_out {
        let lines: Vec<String> = items.texts[1..]
            .iter()
            .map(|t| serde_json::Value::from(t.as_str()).to_string())
            .collect();
        std::fs::write(path, lines.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let n = dataset.num_items();
    let per_sec = if items.seconds > 0.0 {
        n as f64 / items.seconds
    } else {
        0.0
    };
    let samples: Vec<&str> = items
        .texts
        .iter()
        .skip(1)
        .take(3)
        .map(String::as_str)
        .collect();
    let cache = items
        .cache_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if args.json {
        let report = serde_json::json!({
            "model": embedder.folder().name(),
            "device": embedder.device_label(),
            "items": n,
            "dim": items.vectors.dim(),
            "pooling": embedder.folder().pooling.label(),
            "max_seq_length": embedder.folder().max_seq_length,
            "from_cache": items.from_cache,
            "seconds": items.seconds,
            "items_per_sec": per_sec,
            "cache_path": cache,
            "sample_texts": samples,
        });
        println!("{report}");
        return Ok(());
    }
    println!(
        "{} on {}: {n} items of {} as {}-dimensional vectors ({} pooling, up to {} tokens)",
        embedder.folder().name(),
        embedder.device_label(),
        dataset.name,
        items.vectors.dim(),
        embedder.folder().pooling.label(),
        embedder.folder().max_seq_length,
    );
    if items.from_cache {
        println!("read from the cache: {cache}");
    } else {
        println!(
            "embedded in {:.2} s: {per_sec:.1} items/s; cached at {cache}",
            items.seconds
        );
    }
    println!("sample item texts:");
    for text in samples {
        println!("  {text}");
    }
    Ok(())
}

pub fn run_search(args: SearchArgs) -> Result<()> {
    anyhow::ensure!(args.k > 0, "--k must be at least 1");
    let embedder = open_embedder(&args.lm)?;
    let (dataset, items) = item_vectors(&args.lm, &embedder)?;
    let query = embedder.encode_one(&args.query)?;
    let scores: Vec<f32> = items
        .vectors
        .rows()
        .map(|item| lm::cosine(&query, item))
        .collect();
    // The ranking works on a copy (it overwrites the scores it has taken).
    let top = top_k_excluding(&mut scores.clone(), &[], &[], args.k)
        .map_err(|e| anyhow::anyhow!("ranking by similarity: {e}"))?;
    let hits: Vec<serde_json::Value> = top
        .iter()
        .map(|&item| {
            serde_json::json!({
                "item": dataset.items[item as usize].id,
                "title": dataset.item_label(item),
                "similarity": scores[item as usize],
                "text": items.texts[item as usize],
            })
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "query": args.query, "items": hits })
        );
        return Ok(());
    }
    println!(
        "nearest to {:?} ({}):",
        args.query,
        embedder.folder().name()
    );
    for (rank, &item) in top.iter().enumerate() {
        println!(
            "{:>3}. {:.3}  {}",
            rank + 1,
            scores[item as usize],
            items.texts[item as usize]
        );
    }
    Ok(())
}
