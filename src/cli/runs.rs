//! `reclab runs …`: list and compare saved runs.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use reclab::runs::{RunFile, compare, list};

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List the runs under a folder, oldest first.
    List {
        #[arg(default_value = "experiments")]
        root: PathBuf,
    },
    /// Show runs side by side; rows where they differ are marked `*`.
    Compare {
        /// Run folders, run.json files, or run ids under --root.
        #[arg(required = true, num_args = 1..)]
        runs: Vec<String>,
        #[arg(long, default_value = "experiments")]
        root: PathBuf,
    },
}

pub fn run(command: RunsCommand) -> Result<()> {
    match command {
        RunsCommand::List { root } => {
            let runs = list(&root)?;
            if runs.is_empty() {
                println!("no runs under {}", root.display());
                return Ok(());
            }
            println!(
                "{:<34} {:<20} {:<10} {:<12} {:<16} {:<10} {:>8} {:>8}",
                "run", "created", "model", "dataset", "protocol", "status", "hit@10", "ndcg@10"
            );
            for listed in runs {
                match listed.run {
                    Ok(run) => {
                        let metric = |name: &str| {
                            run.test_metrics
                                .get(name)
                                .map(|v| format!("{v:.4}"))
                                .unwrap_or_else(|| "-".into())
                        };
                        println!(
                            "{:<34} {:<20} {:<10} {:<12} {:<16} {:<10} {:>8} {:>8}",
                            run.run_id,
                            run.created_at,
                            run.model.name,
                            run.dataset.name,
                            run.protocol,
                            format!("{:?}", run.status).to_lowercase(),
                            metric("hit@10"),
                            metric("ndcg@10")
                        );
                    }
                    Err(e) => println!("{:<34} unreadable: {e}", name_of(&listed.dir)),
                }
            }
            Ok(())
        }
        RunsCommand::Compare { runs, root } => {
            let loaded = runs
                .iter()
                .map(|r| {
                    let path = Path::new(r);
                    let path = if path.exists() {
                        path.to_path_buf()
                    } else {
                        root.join(r)
                    };
                    RunFile::load(&path)
                })
                .collect::<Result<Vec<_>, _>>()?;
            print!("{}", compare(&loaded).to_table());
            Ok(())
        }
    }
}

fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}
