//! Subcommands of the `reclab` binary: thin wrappers over the library.

mod bench;
mod data;
mod eval;
mod runs;
mod train;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

/// reclab: a research workbench for Transformer-based sequential recommenders.
#[derive(Debug, Parser)]
#[command(name = "reclab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
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
    /// List and compare saved runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Measure speed (load + preprocess, …).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Data(command)) => data::run(command),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Runs(command)) => runs::run(command),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Bench(command)) => bench::run(command),
        None => {
            // Until the app exists, the default is help and the embedded default dataset.
            Cli::command().print_help()?;
            println!("\nThe built-in synthetic world (`reclab data stats synthetic`):\n");
            let dataset = reclab::data::load(&reclab::data::LoadSpec::default(), None)?;
            println!("{}", reclab::data::DatasetStats::of(&dataset).summary());
            Ok(())
        }
    }
}
