//! `reclab bench requests`: does the generative route of "Tell the storefront" help? Each
//! committed request is answered twice — its own sentence vector (direct), and the vector of
//! the item description the LLM writes for it (hypothetical-document retrieval) — and each
//! answer's ten nearest items are scored by genre precision@10: the share that has a genre a
//! good answer has (and none it must not have). Latency of each part is timed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use reclab::app::Language;
use reclab::data::Dataset;
use reclab::lm::decoder::{Dtype, Llm};
use reclab::lm::written::Writer;
use reclab::lm::written::hypothetical::{HYPOTHETICAL_TOKENS, hypothetical_request};
use reclab::quantile::quantile;

#[derive(Debug, Clone, Args)]
pub struct RequestsArgs {
    /// The ML-100K folder (default: $RECLAB_DATASETS/ml-100k when set).
    #[arg(long)]
    ml100k: Option<PathBuf>,
    /// The sentence encoder folder (e.g. all-MiniLM-L6-v2).
    #[arg(long)]
    lm: PathBuf,
    /// The generative model (a GGUF file or a Hugging Face folder).
    #[arg(long)]
    llm: PathBuf,
    /// Requests with their genres, one per line: `request<TAB>Genre,Genre,!Genre`.
    #[arg(long, default_value = "experiments/requests-ml100k.tsv")]
    requests: PathBuf,
    /// Print each request's descriptions and scores.
    #[arg(long)]
    verbose: bool,
}

/// A request and what a good answer is.
struct Wanted {
    text: String,
    any_of: Vec<String>,
    none_of: Vec<String>,
}

fn read_requests(path: &Path) -> Result<Vec<Wanted>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((request, genres)) = line.split_once('\t') else {
            anyhow::bail!(
                "{}:{}: expected `request<TAB>genres`, found no tab",
                path.display(),
                i + 1
            );
        };
        let (mut any_of, mut none_of) = (Vec::new(), Vec::new());
        for genre in genres.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            match genre.strip_prefix('!') {
                Some(g) => none_of.push(g.to_string()),
                None => any_of.push(genre.to_string()),
            }
        }
        out.push(Wanted {
            text: request.trim().to_string(),
            any_of,
            none_of,
        });
    }
    anyhow::ensure!(!out.is_empty(), "{}: no requests", path.display());
    Ok(out)
}

/// Share of `items` with a wanted genre (any, when none is named) and no unwanted one.
fn genre_precision(dataset: &Dataset, wanted: &Wanted, items: &[u32]) -> f64 {
    let good = items
        .iter()
        .filter(|&&item| {
            let genres = dataset.item_category_names(item);
            let has_any = wanted.any_of.is_empty()
                || wanted.any_of.iter().any(|g| genres.contains(&g.as_str()));
            has_any && !wanted.none_of.iter().any(|g| genres.contains(&g.as_str()))
        })
        .count();
    good as f64 / items.len().max(1) as f64
}

pub fn run(args: RequestsArgs) -> Result<()> {
    let dir = super::data::ml100k_or_env(args.ml100k.clone())
        .context("pass --ml100k DIR or set RECLAB_DATASETS")?;
    let dataset = reclab::data::load(
        &reclab::data::LoadSpec::new(dir.display().to_string()),
        None,
    )?;
    let requests = read_requests(&args.requests)?;
    for wanted in &requests {
        for genre in wanted.any_of.iter().chain(&wanted.none_of) {
            anyhow::ensure!(
                dataset.category_names.iter().any(|c| c == genre),
                "{}: request {:?} names genre {genre:?}, which {} does not have",
                args.requests.display(),
                wanted.text,
                dataset.name
            );
        }
    }
    let language = Language::build(&dataset, &args.lm, None, &mut |_, _| true)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.lm.display()))?;
    let llm = Llm::open(&args.llm, Dtype::Auto, reclab::device::DeviceChoice::Auto)?;
    let writer = Writer::new(&llm, HYPOTHETICAL_TOKENS)?;
    // In memory only: every description is written now, so its time is measured.
    let mut cache = writer.open_cache(None);

    let (mut direct_p, mut llm_p, mut both_p) = (Vec::new(), Vec::new(), Vec::new());
    let (mut direct_ms, mut write_ms, mut embed_ms) = (Vec::new(), Vec::new(), Vec::new());
    for (i, wanted) in requests.iter().enumerate() {
        let started = Instant::now();
        let (direct, _) = language
            .request(&wanted.text, 1.0)
            .map_err(anyhow::Error::msg)?;
        let direct_top: Vec<u32> = reclab::app::top(&direct.similarity, 10, &[])
            .into_iter()
            .map(|(item, _)| item)
            .collect();
        // The first request warms the encoder up; its time is not counted.
        if i > 0 {
            direct_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let started = Instant::now();
        let prompt = writer.chat(&hypothetical_request(&wanted.text))?;
        let (description, _) = writer.write_streaming(&prompt, &mut cache, &mut |_| true)?;
        let written = Instant::now();
        let (described, _) = language
            .request_described(&wanted.text, &description, 1.0)
            .map_err(anyhow::Error::msg)?;
        let llm_top: Vec<u32> = reclab::app::top(&described.similarity, 10, &[])
            .into_iter()
            .map(|(item, _)| item)
            .collect();
        let ranked = Instant::now();
        // HyDE's own variant: the comment and the description embedded together.
        let (both, _) = language
            .request_described(
                &wanted.text,
                &format!("{}. {description}", wanted.text),
                1.0,
            )
            .map_err(anyhow::Error::msg)?;
        let both_top: Vec<u32> = reclab::app::top(&both.similarity, 10, &[])
            .into_iter()
            .map(|(item, _)| item)
            .collect();
        both_p.push(genre_precision(&dataset, wanted, &both_top));
        write_ms.push((written - started).as_secs_f64() * 1000.0);
        embed_ms.push((ranked - written).as_secs_f64() * 1000.0);
        let (p_direct, p_llm) = (
            genre_precision(&dataset, wanted, &direct_top),
            genre_precision(&dataset, wanted, &llm_top),
        );
        direct_p.push(p_direct);
        llm_p.push(p_llm);
        if args.verbose {
            println!(
                "{:?}: direct {p_direct:.1}, llm {p_llm:.1}, both {:.1}",
                wanted.text,
                both_p[both_p.len() - 1]
            );
            println!("  wrote: {description}");
        }
    }
    let test = reclab::stats::paired(&direct_p, &llm_p, 7);
    println!(
        "{} requests on {} ({}; {}):",
        requests.len(),
        dataset.name,
        args.lm.display(),
        args.llm.display()
    );
    println!(
        "  genre precision@10: direct {:.3}, LLM-described {:.3}; difference {:+.3} \
         (95% CI {:+.3} … {:+.3}, Wilcoxon p {:.3})",
        test.mean_a, test.mean_b, test.mean_difference, test.ci_low, test.ci_high, test.wilcoxon_p
    );
    let test = reclab::stats::paired(&direct_p, &both_p, 7);
    println!(
        "  comment + description embedded together: {:.3}; difference {:+.3} (95% CI {:+.3} … \
         {:+.3}, Wilcoxon p {:.3})",
        test.mean_b, test.mean_difference, test.ci_low, test.ci_high, test.wilcoxon_p
    );
    let total: Vec<f64> = write_ms.iter().zip(&embed_ms).map(|(w, e)| w + e).collect();
    println!(
        "  latency, direct (embed + rank): {}",
        percentiles(&direct_ms)
    );
    println!("  latency, LLM route: {}", percentiles(&total));
    println!("    writing the description: {}", percentiles(&write_ms));
    println!("    embedding it + rank: {}", percentiles(&embed_ms));
    Ok(())
}

fn percentiles(ms: &[f64]) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms",
        quantile(ms, 0.5),
        quantile(ms, 0.99)
    )
}
