//! `reclab runs …`: list and compare saved runs.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use reclab::eval::Stage;
use reclab::runs::significance::{LoadedRun, paired_report};
use reclab::runs::{RunFile, compare, list};

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List the runs under a folder, oldest first.
    List {
        #[arg(default_value = "experiments")]
        root: PathBuf,
    },
    /// Show runs side by side (rows where they differ are marked `*`), each seed group as
    /// mean ± sd with a 95% interval, and paired tests of every run or group against the first:
    /// mean difference with a bootstrap interval, paired t-test, Wilcoxon signed-rank test
    /// (Holm-corrected) and effect size, on the users both were scored on.
    Compare {
        /// Run folders, run.json files, or run ids under --root. Runs of one seed group
        /// (`train --seeds`) are taken together.
        #[arg(required = true, num_args = 1..)]
        runs: Vec<String>,
        #[arg(long, default_value = "experiments")]
        root: PathBuf,
        /// Metrics to test, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "ndcg@10,hit@10")]
        metrics: Vec<String>,
        /// Which targets: test (default) or valid.
        #[arg(long, default_value = "test")]
        stage: String,
        /// Print the paired report as JSON instead of tables.
        #[arg(long)]
        json: bool,
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
        RunsCommand::Compare {
            runs,
            root,
            metrics,
            stage,
            json,
        } => {
            let stage = match stage.as_str() {
                "test" => Stage::Test,
                "valid" => Stage::Valid,
                other => anyhow::bail!("unknown stage `{other}`; expected test or valid"),
            };
            let loaded = runs
                .iter()
                .map(|r| {
                    let path = Path::new(r);
                    let path = if path.exists() {
                        path.to_path_buf()
                    } else {
                        root.join(r)
                    };
                    LoadedRun::load(path)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let report = paired_report(&loaded, &metrics, stage).map_err(anyhow::Error::msg)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(());
            }
            let files: Vec<RunFile> = loaded.into_iter().map(|l| l.run).collect();
            print!("{}", compare(&files).to_table());
            print!("{}", report.to_text());
            Ok(())
        }
    }
}

fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}
