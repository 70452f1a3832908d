//! The `reclab` command line. With no subcommand it prints help and the summary of the
//! built-in synthetic world (the app will open there once it exists).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    reclab::memory::keep_freed_buffers_for_reuse();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", message(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause left out when the text before already says it (our
/// errors name the file and quote the OS error, which is also their source).
fn message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}
