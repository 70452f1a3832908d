//! Subcommands of the `reclab` binary: thin wrappers over the library.

mod bench;
mod bench_requests;
mod check_device;
mod data;
mod embed;
mod eval;
mod generate;
mod profiles;
mod rl;
mod runs;
mod simulate;
mod slurm;
mod sweep;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};
use reclab::app::{self, LaunchOptions, PanelKind};

/// reclab: a research workbench for Transformer-based sequential recommenders.
#[derive(Debug, Parser)]
#[command(name = "reclab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    window: WindowArgs,
}

/// Options of the app window (`reclab` without a subcommand).
#[derive(Debug, clap::Args)]
struct WindowArgs {
    /// Folder where runs are written and listed (default: the last one used, or `experiments`).
    #[arg(long)]
    runs: Option<std::path::PathBuf>,
    /// Open on this panel: data, train, evaluate, compare, user, live.
    #[arg(long)]
    panel: Option<String>,
    /// Start training with the Train panel's settings once the dataset is loaded.
    #[arg(long)]
    start_training: bool,
    /// Save a PNG screenshot of the window here, then quit (starts from default settings).
    #[arg(long)]
    screenshot: Option<std::path::PathBuf>,
    /// Tick every run of the runs folder in Compare.
    #[arg(long)]
    compare_all: bool,
    /// Open this run's model once the dataset is loaded.
    #[arg(long)]
    open_model: Option<std::path::PathBuf>,
    /// Evaluate the opened model (with `--open-model`).
    #[arg(long)]
    evaluate: bool,
    /// Start the Live preview and show this many pages.
    #[arg(long)]
    preview_steps: Option<usize>,
    /// Open this learned policy's run (`reclab rl train`) and show it against greedy in the
    /// Live preview.
    #[arg(long)]
    learned_policy: Option<std::path::PathBuf>,
    /// Load this dataset (a folder, a file of its set, or `synthetic`) instead of the last one.
    #[arg(long)]
    data: Option<String>,
    /// Embed the catalogue with this language model folder once the dataset is loaded.
    #[arg(long)]
    lm: Option<std::path::PathBuf>,
    /// With `--lm`: search for this text in the Data panel.
    #[arg(long)]
    search: Option<String>,
    /// With `--lm`: describe the Live preview's simulated person with these words.
    #[arg(long)]
    persona: Option<String>,
    /// With `--lm`: tell the Live preview's storefront this, after `--preview-steps` pages.
    #[arg(long)]
    ask: Option<String>,
    /// Use this generative model (a .gguf file or a folder) and, once the dataset is loaded,
    /// write the User panel's user's profile with it.
    #[arg(long)]
    llm: Option<std::path::PathBuf>,
    /// Seconds to wait before the screenshot.
    #[arg(long, default_value_t = 3.0)]
    screenshot_after: f64,
}

impl WindowArgs {
    fn launch_options(self) -> Result<LaunchOptions> {
        let panel = match self.panel.as_deref() {
            None => None,
            Some(name) => Some(
                PanelKind::ALL
                    .into_iter()
                    .find(|p| {
                        let title = p.title().to_ascii_lowercase();
                        title == name.to_ascii_lowercase() || title.split(' ').next() == Some(name)
                    })
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "unknown panel `{name}`; expected data, train, evaluate, compare, user or live"
                        )
                    })?,
            ),
        };
        Ok(LaunchOptions {
            runs_root: self.runs,
            panel,
            start_training: self.start_training,
            fresh_state: self.screenshot.is_some(),
            screenshot: self.screenshot,
            screenshot_after_secs: self.screenshot_after,
            bench_frames: None,
            compare_all: self.compare_all,
            open_model: self.open_model,
            evaluate: self.evaluate,
            preview_steps: self.preview_steps,
            learned_policy: self.learned_policy,
            dataset: self.data,
            lm_dir: self.lm,
            search: self.search,
            persona: self.persona,
            ask: self.ask,
            llm: self.llm,
        })
    }
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process: boxing would buy nothing
enum Command {
    /// Inspect and split datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Fit a baseline, evaluate it on the test split and save a run.
    Eval(eval::EvalArgs),
    /// Train a Transformer recommender (SASRec / BERT4Rec) and save a run.
    Train(train::TrainArgs),
    /// Simulated users through page policies (A/B): CTR, dwell, coverage; saves a run.
    Simulate(simulate::SimulateArgs),
    /// Reinforcement learning: a page policy that learns long-term value in the simulator.
    #[command(subcommand)]
    Rl(rl::RlCommand),
    /// List and compare saved runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// A grid or random search over config keys, selected on validation; resumable.
    Sweep(sweep::SweepArgs),
    /// Embed a catalogue's item texts, or given texts, with a pretrained language model.
    Embed(embed::EmbedArgs),
    /// The catalogue's items nearest in meaning to a free text.
    Search(embed::SearchArgs),
    /// Write text with a generative model (a GGUF file or a Hugging Face folder).
    Generate(generate::GenerateArgs),
    /// User profiles written by a generative model from their histories (cached).
    Profiles(profiles::ProfilesArgs),
    /// Measure speed (load + preprocess, …).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Compare a GPU backend (cuda, wgpu) with the CPU: training steps, encoder, decoder.
    CheckDevice(check_device::CheckDeviceArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    if cli.command.is_some() {
        end_quietly_when_stdout_closes();
    }
    match cli.command {
        Some(Command::Data(command)) => data::run(command),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Runs(command)) => runs::run(command),
        Some(Command::Sweep(args)) => sweep::run(args),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Simulate(args)) => simulate::run(args),
        Some(Command::Rl(command)) => rl::run(command),
        Some(Command::Bench(command)) => bench::run(command),
        Some(Command::CheckDevice(args)) => check_device::run(args),
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Profiles(args)) => profiles::run(args),
        Some(Command::Embed(args)) => embed::run_embed(args),
        Some(Command::Search(args)) => embed::run_search(args),
        None => app::run_native(cli.window.launch_options()?),
    }
}

/// `reclab … | head` should stop as any command-line tool does when its reader goes away. Rust
/// ignores SIGPIPE, so the next `println!` would panic with "Broken pipe" instead; the default
/// action ends the process silently. Saved runs are written atomically (temporary file, then
/// rename), so none is left half-written. The window keeps SIGPIPE ignored: its own output is
/// a log line, never worth ending the app for.
#[cfg(target_os = "linux")]
fn end_quietly_when_stdout_closes() {
    // SAFETY: setting a signal's disposition to the default touches no Rust state; it runs
    // before any thread of ours starts writing.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(target_os = "linux"))]
fn end_quietly_when_stdout_closes() {}
