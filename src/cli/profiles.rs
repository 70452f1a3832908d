//! `reclab profiles …`: user profiles written by a generative model from each user's recent
//! history, printed and cached (a second call reads them from the cache).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use reclab::device::DeviceChoice;
use reclab::lm::decoder::{Dtype, Llm};
use reclab::lm::written::Writer;
use reclab::lm::written::profiles::{
    DEFAULT_HISTORY_TOKENS, DEFAULT_PROFILE_TOKENS, ProfilePrompt, write_profiles,
};

use super::data::DatasetOptions;

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    /// The generative model: a `.gguf` file or a Hugging Face folder.
    #[arg(long)]
    llm: PathBuf,
    /// A dataset folder, any file of its set, or `synthetic`.
    #[arg(long, default_value = "synthetic")]
    data: String,
    #[command(flatten)]
    options: DatasetOptions,
    /// The first N users (by the dataset's order).
    #[arg(long, default_value_t = 5, conflicts_with = "user")]
    users: usize,
    /// One user, by the dataset's user id.
    #[arg(long)]
    user: Option<String>,
    /// The prompt; `{history}` marks where the user's recent items go.
    #[arg(long)]
    prompt: Option<String>,
    /// Tokens of history a prompt may carry.
    #[arg(long, default_value_t = DEFAULT_HISTORY_TOKENS)]
    history_tokens: usize,
    /// auto, cpu, cuda or wgpu.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Print each prompt too, so a reader can see what the model was given.
    #[arg(long)]
    show_prompt: bool,
}

pub fn run(args: ProfilesArgs) -> Result<()> {
    let prompt = ProfilePrompt::new(args.prompt.as_deref(), args.history_tokens)
        .map_err(anyhow::Error::msg)?;
    let dataset = args.options.load(&args.data)?;
    let users: Vec<usize> = match &args.user {
        Some(id) => match dataset.user_ids.iter().position(|u| u == id) {
            Some(user) => vec![user],
            None => bail!("{}: no user with id `{id}`", dataset.name),
        },
        None => (0..args.users.min(dataset.num_users())).collect(),
    };
    let llm = Llm::open(&args.llm, Dtype::Auto, args.device)
        .with_context(|| format!("opening {}", args.llm.display()))?;
    let writer = Writer::new(&llm, DEFAULT_PROFILE_TOKENS)?;
    let mut cache = writer.open_cache(args.options.cache_dir().as_deref());
    let histories: Vec<&[u32]> = users.iter().map(|&u| dataset.sequence(u)).collect();
    let written = write_profiles(
        &writer,
        &prompt,
        &dataset,
        &histories,
        &mut cache,
        &mut |done, total| {
            if !args.json {
                eprint!("\rprofiles {done}/{total}");
                let _ = std::io::stderr().flush();
            }
            true
        },
    )?;
    if !args.json {
        eprintln!();
    }
    let rate = written.generated as f64 / written.secs.max(1e-9);
    if args.json {
        let profiles: Vec<_> = users
            .iter()
            .zip(&written.texts)
            .zip(&histories)
            .map(|((&u, text), history)| {
                serde_json::json!({
                    "user": dataset.user_ids[u],
                    "profile": text,
                    "prompt": args
                        .show_prompt
                        .then(|| prompt.render(&writer, &dataset, history).ok())
                        .flatten(),
                })
            })
            .collect();
        let out = serde_json::json!({
            "model": args.llm.display().to_string(),
            "dataset": dataset.name,
            "profiles": profiles,
            "generated": written.generated,
            "from_cache": written.from_cache,
            "seconds": written.secs,
            "profiles_per_s": rate,
            "tokens": written.tokens,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for ((&u, text), history) in users.iter().zip(&written.texts).zip(&histories) {
        println!("user {}:", dataset.user_ids[u]);
        if args.show_prompt {
            println!("  prompt:\n{}", prompt.render(&writer, &dataset, history)?);
        }
        println!("  {text}\n");
    }
    eprintln!(
        "{} written in {:.1} s ({rate:.2} profiles/s, {} tokens), {} from the cache{}",
        written.generated,
        written.secs,
        written.tokens,
        written.from_cache,
        cache
            .path()
            .map(|p| format!(" ({})", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}
