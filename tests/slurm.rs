//! Sweeps on a real Slurm cluster (the one-node cluster of `scripts/slurm-local.sh`; `.ci/run`
//! starts it and sets `SLURM_CONF`): a 4-trial sweep submitted as a job array with at most two
//! tasks at once, watched through `reclab sweep status --json`; a task cancelled mid-run with
//! `scancel` is reported failed, and `--resubmit-failed` completes it (resuming its checkpoint);
//! every trial's metrics equal those of the same sweep run on this machine without Slurm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

fn reclab(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn status(dir: &Path, cwd: &Path) -> Value {
    let out = reclab(
        &["sweep", "status", &dir.display().to_string(), "--json"],
        cwd,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn states(status: &Value) -> Vec<String> {
    status["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_string())
        .collect()
}

/// Polls the status until `done` holds of it; fails after `limit`, showing the last status.
fn wait_for(
    dir: &Path,
    cwd: &Path,
    what: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let s = status(dir, cwd);
        // The array never runs more than two tasks at once.
        let running = states(&s).iter().filter(|t| *t == "running").count();
        assert!(running <= 2, "{running} trials running at once: {s}");
        if done(&s) {
            return s;
        }
        assert!(
            started.elapsed() < limit,
            "waited {limit:?} for {what}: {s:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A sweep of 4 SASRec trials on a small synthetic world: two long (150 epochs, to be caught
/// running) and two short.
fn sweep_file(dir: &Path, out: &str) -> PathBuf {
    let path = dir.join(format!("{out}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"model = "sasrec"
batch_size = 64
cutoffs = [10]
seed = 42
[data]
path = "synthetic"
[data.synthetic]
users = 400
items = 150
max_seq_len = 40
[transformer]
max_len = 20
[early_stopping]
metric = "ndcg@10"
patience = 1000
[sweep]
out = "{out}"
metric = "ndcg@10"
epochs = [150, 2]
hidden = [16, 32]
"#
        ),
    )
    .unwrap();
    path
}

fn test_metric(sweep_dir: &Path, run: &str) -> f64 {
    let run: Value =
        serde_json::from_slice(&std::fs::read(sweep_dir.join(run).join("run.json")).unwrap())
            .unwrap();
    run["test_metrics"]["ndcg@10"].as_f64().unwrap()
}

#[test]
#[ignore = "needs a Slurm cluster (SLURM_CONF; scripts/slurm-local.sh starts one)"]
fn a_sweep_runs_as_a_job_array_survives_a_scancel_and_matches_a_local_run() {
    assert!(
        std::env::var_os("SLURM_CONF").is_some(),
        "set SLURM_CONF (bash scripts/slurm-local.sh start DIR prints it)"
    );
    // Not under /tmp: the sweep folder stands for a shared file system.
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let cwd = work.path();
    let config = sweep_file(cwd, "on-slurm");
    let dir = cwd.join("on-slurm");

    // The script is shown without submitting.
    let dry = reclab(
        &[
            "sweep",
            "--config",
            &config.display().to_string(),
            "--slurm",
            "--max-running",
            "2",
            "--cpus",
            "1",
            "--dry-run",
        ],
        cwd,
    );
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let script = String::from_utf8_lossy(&dry.stdout);
    assert!(script.contains("#SBATCH --array=1-4%2"), "{script}");

    let submitted = reclab(
        &[
            "sweep",
            "--config",
            &config.display().to_string(),
            "--slurm",
            "--max-running",
            "2",
            "--cpus",
            "1",
        ],
        cwd,
    );
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    assert!(dir.join("slurm/submit-1.sh").is_file());
    let first = status(&dir, cwd);
    assert!(
        states(&first)
            .iter()
            .all(|s| s == "queued" || s == "running" || s == "done"),
        "{first}"
    );

    // Catch a long trial running, with its run folder, and cancel its task.
    let long = wait_for(
        &dir,
        cwd,
        "a long trial running",
        Duration::from_secs(120),
        |s| {
            s["trials"].as_array().unwrap().iter().any(|t| {
                t["state"] == "running"
                    && t["params"]["epochs"] == 150
                    && reclab::sweep::trial::read_mark(&dir, t["index"].as_u64().unwrap() as usize)
                        .is_some_and(|m| m.run_dir.is_some())
            })
        },
    );
    let victim = long["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["state"] == "running" && t["params"]["epochs"] == 150)
        .unwrap();
    let index = victim["index"].as_u64().unwrap() as usize;
    let job = victim["job"].as_str().unwrap().to_string();
    // Let it write a checkpoint or two first.
    std::thread::sleep(Duration::from_secs(3));
    let cancelled = Command::new("scancel").arg(&job).status().unwrap();
    assert!(cancelled.success());

    let after = wait_for(
        &dir,
        cwd,
        "every other trial done",
        Duration::from_secs(600),
        |s| {
            let states = states(s);
            states.iter().filter(|t| *t == "done").count() == 3 && states[index - 1] == "failed"
        },
    );
    let failed = &after["trials"][index - 1];
    assert!(failed["error"].as_str().is_some(), "{failed}");
    assert_eq!(after["queue_answered"], true);

    // Resubmitted, the failed trial alone runs again and completes.
    let resubmitted = reclab(
        &[
            "sweep",
            "status",
            &dir.display().to_string(),
            "--resubmit-failed",
        ],
        cwd,
    );
    assert!(
        resubmitted.status.success(),
        "{}",
        String::from_utf8_lossy(&resubmitted.stderr)
    );
    assert!(dir.join("slurm/submit-2.sh").is_file());
    let script = std::fs::read_to_string(dir.join("slurm/submit-2.sh")).unwrap();
    assert!(
        script.contains(&format!("#SBATCH --array={index}%2")),
        "{script}"
    );
    let done = wait_for(
        &dir,
        cwd,
        "the resubmitted trial",
        Duration::from_secs(600),
        |s| states(s).iter().all(|t| t == "done"),
    );

    // The same sweep on this machine: every trial's validation and test metrics equal.
    let local_config = sweep_file(cwd, "here");
    let local = reclab(
        &[
            "sweep",
            "--config",
            &local_config.display().to_string(),
            "--json",
        ],
        cwd,
    );
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let local: Value = serde_json::from_slice(&local.stdout).unwrap();
    for (remote, here) in done["trials"]
        .as_array()
        .unwrap()
        .iter()
        .zip(local["trials"].as_array().unwrap())
    {
        assert_eq!(remote["params"], here["params"]);
        assert_eq!(remote["valid"], here["valid"], "trial {}", remote["index"]);
        assert_eq!(
            test_metric(&dir, remote["run"].as_str().unwrap()),
            test_metric(&cwd.join("here"), here["run"].as_str().unwrap()),
            "trial {}",
            remote["index"]
        );
    }
    assert_eq!(done["best"], local_best(&local));
}

fn local_best(local: &Value) -> Value {
    let trials = local["trials"].as_array().unwrap();
    let best = trials
        .iter()
        .max_by(|a, b| {
            a["valid"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["valid"].as_f64().unwrap())
        })
        .unwrap();
    best["index"].clone()
}
