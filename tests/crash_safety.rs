//! A training killed (SIGKILL) at random moments — during a batch, a validation pass or a
//! file write — always leaves a run folder that opens, resumes, and ends with exactly the
//! metrics of the same run left alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reclab::runs::{RunFile, RunStatus};

const ARGS: [&str; 17] = [
    "train",
    "--data",
    "synthetic",
    "--epochs",
    "4",
    "--hidden",
    "16",
    "--layers",
    "1",
    "--max-len",
    "20",
    "--batch-size",
    "64",
    "--device",
    "cpu",
    "--seed",
    "7",
];

fn train(out: &Path, resume: Option<&Path>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reclab"));
    command
        .args(ARGS)
        .arg("--json")
        .arg("--out")
        .arg(out)
        .env("RECLAB_CACHE_DIR", out.join("cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(dir) = resume {
        command.arg("--resume").arg(dir);
    }
    command
}

fn run_dirs(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("run.json").is_file())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "slow: kills and resumes 20 trainings (about a minute)"]
fn training_killed_at_random_moments_resumes_to_the_same_metrics() {
    let reference_root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    assert!(
        train(reference_root.path(), None)
            .status()
            .unwrap()
            .success()
    );
    let whole = started.elapsed();
    let reference = RunFile::load(&run_dirs(reference_root.path())[0]).unwrap();
    assert_eq!(reference.status, RunStatus::Completed);

    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut resumed_from = Vec::new();
    for kill in 0..20 {
        let root = tempfile::tempdir().unwrap();
        let delay = whole.mul_f64(rng.random_range(0.02..1.0));
        let mut child = train(root.path(), None).spawn().unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let dirs = run_dirs(root.path());
        let dir = match dirs.as_slice() {
            // Killed before the run folder was written: nothing to resume, start again.
            [] => {
                assert!(train(root.path(), None).status().unwrap().success());
                resumed_from.push("nothing".to_string());
                run_dirs(root.path()).remove(0)
            }
            [dir] => {
                // The folder opens, whatever the moment of the kill.
                let run = RunFile::load(dir).unwrap_or_else(|e| panic!("kill {kill}: {e}"));
                let state = std::fs::read_to_string(dir.join("checkpoint.json")).ok();
                let epochs = state
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                    .and_then(|v| v["train_done"].as_u64())
                    .unwrap_or(0);
                resumed_from.push(format!("{:?} after {epochs} epochs", run.status));
                if run.status != RunStatus::Completed {
                    let resumed = train(root.path(), Some(dir)).status().unwrap();
                    assert!(resumed.success(), "kill {kill}: the resume failed");
                }
                dir.clone()
            }
            more => panic!("kill {kill}: {} run folders", more.len()),
        };
        let run = RunFile::load(&dir).unwrap();
        assert_eq!(run.status, RunStatus::Completed, "kill {kill}");
        assert_eq!(
            run.test_metrics, reference.test_metrics,
            "kill {kill} after {delay:?} ({}): the resumed run's test metrics differ",
            resumed_from[kill]
        );
        assert_eq!(run.valid_metrics, reference.valid_metrics, "kill {kill}");
        // The curves hold each epoch once.
        let losses = &run.curves["train_loss"];
        let steps: Vec<u64> = losses.iter().map(|p| p.step).collect();
        assert_eq!(steps, [1, 2, 3, 4], "kill {kill}");
    }
    eprintln!("whole run {whole:?}; killed and resumed from: {resumed_from:?}");
}

/// Damaged weights and checkpoints are errors naming the file; the app shows them in the panel
/// and keeps the runs listed.
#[test]
fn damaged_weights_and_checkpoints_name_their_file() {
    let root = tempfile::tempdir().unwrap();
    assert!(train(root.path(), None).status().unwrap().success());
    let dir = run_dirs(root.path()).remove(0);
    // The dataset exactly as the run loaded it.
    let run = RunFile::load(&dir).unwrap();
    let config: reclab::train::TrainConfig = serde_json::from_value(run.model.config).unwrap();
    let dataset = reclab::data::load(&config.data, None).unwrap();
    let best = dir.join("best.bin");
    let intact = std::fs::read(&best).unwrap();
    for damage in [
        intact[..intact.len() / 2].to_vec(),
        (0..intact.len()).map(|i| (i * 31 % 251) as u8).collect(),
        Vec::new(),
    ] {
        std::fs::write(&best, &damage).unwrap();
        let Err(e) = reclab::train::model_from_run(&dir, &dataset) else {
            panic!("damaged best.bin ({} bytes) opened", damage.len());
        };
        let message = e.to_string();
        assert!(message.contains("best.bin"), "{message}");
    }
    std::fs::write(&best, &intact).unwrap();
    assert!(reclab::train::model_from_run(&dir, &dataset).is_ok());

    // A truncated checkpoint: resuming names it and fails without touching the run file.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("checkpoint.json")).unwrap()).unwrap();
    let name = format!(
        "checkpoint-model-p{}-t{}.bin",
        state["pretrain_done"], state["train_done"]
    );
    let checkpoint = dir.join(&name);
    let bytes = std::fs::read(&checkpoint).unwrap();
    std::fs::write(&checkpoint, &bytes[..bytes.len() / 3]).unwrap();
    let before = std::fs::read(dir.join("run.json")).unwrap();
    let out = train(root.path(), Some(&dir))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&name), "{stderr}");
    assert_eq!(std::fs::read(dir.join("run.json")).unwrap(), before);
}

/// A disk that fills up during a checkpoint: a clear error naming the file, the previous
/// checkpoint and the run file intact, and the run resumes (elsewhere) to the metrics of a run
/// that never ran out of space. Needs root, to mount a small tmpfs; skipped otherwise.
#[test]
#[ignore = "needs root to mount a 400 KiB tmpfs"]
fn a_full_disk_during_a_checkpoint_keeps_the_previous_one() {
    let work = tempfile::tempdir().unwrap();
    let disk = work.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=400k", "tmpfs"])
        .arg(&disk)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    }
    // Unmounts however the test ends.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());

    let reference_root = work.path().join("reference");
    assert!(train(&reference_root, None).status().unwrap().success());
    let reference = RunFile::load(&run_dirs(&reference_root)[0]).unwrap();

    // About 300 KiB after the first epoch (weights, Adam's moments, best weights, run file);
    // the second epoch's checkpoint does not fit beside the first.
    let out = train(&disk, None)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the run fitted on the small disk");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains("the previous checkpoint is kept"),
        "{stderr}"
    );
    let dir = run_dirs(&disk).remove(0);
    assert!(stderr.contains(&dir.display().to_string()), "{stderr}");
    assert!(
        stderr.contains(".bin: No space"),
        "the file is named: {stderr}"
    );
    // The run file opens; the checkpoint state names complete files of an earlier epoch.
    let run = RunFile::load(&dir).unwrap();
    assert_eq!(run.status, RunStatus::Running);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("checkpoint.json")).unwrap()).unwrap();
    let done = state["train_done"].as_u64().unwrap();
    assert!((1..4).contains(&done), "{state}");

    // Moved to a disk with room, it resumes and ends as the run that had room all along.
    let roomy = work.path().join("roomy");
    std::fs::create_dir(&roomy).unwrap();
    let moved = roomy.join(dir.file_name().unwrap());
    std::fs::create_dir(&moved).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), moved.join(entry.file_name())).unwrap();
    }
    assert!(train(&roomy, Some(&moved)).status().unwrap().success());
    let resumed = RunFile::load(&moved).unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(resumed.test_metrics, reference.test_metrics);
    let steps: Vec<u64> = resumed.curves["train_loss"]
        .iter()
        .map(|p| p.step)
        .collect();
    assert_eq!(steps, [1, 2, 3, 4]);
    eprintln!("failed after {done} epoch(s): {}", stderr.trim());
}
