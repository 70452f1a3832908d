//! The `reclab` binary end to end.

use std::path::Path;
use std::process::Command;

fn reclab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(args)
        .env(
            "RECLAB_CACHE_DIR",
            std::env::temp_dir().join("reclab-cli-test-cache"),
        )
        .output()
        .unwrap()
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn data_stats_json_reports_hand_computed_figures() {
    let out = reclab(&["data", "stats", &fixture("ml-100k"), "--json", "--no-cache"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["users"], 3);
    assert_eq!(stats["items"], 4);
    assert_eq!(stats["interactions"], 7);
    assert!((stats["density"].as_f64().unwrap() - 7.0 / 12.0).abs() < 1e-12);
    assert!((stats["avg_seq_len"].as_f64().unwrap() - 7.0 / 3.0).abs() < 1e-12);
    // Item counts 10:2, 20:2, 30:2, 40:1 → sorted [1,2,2,2], Gini = (−3·1 −1·2 +1·2 +3·2)/(4·7).
    assert!((stats["item_gini"].as_f64().unwrap() - 3.0 / 28.0).abs() < 1e-12);
}

#[test]
fn data_stats_flags_filter() {
    let out = reclab(&[
        "data",
        "stats",
        &fixture("ml-100k"),
        "--json",
        "--min-rating",
        "4",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["interactions"], 4);
}

#[test]
fn a_bad_file_fails_with_the_message_and_no_panic() {
    let out = reclab(&["data", "stats", &fixture("errors/bad_time.csv")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 4, field `timestamp`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn data_split_writes_recbole_benchmark_files_that_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_string_lossy().into_owned();
    let out = reclab(&["data", "split", &fixture("ml-100k"), "--out", &out_dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let test = std::fs::read_to_string(dir.path().join("ml-100k.test.inter")).unwrap();
    // Each user's latest interaction, with original ids: user 1 → 10@300, 2 → 40@200, 3 → 30@50.
    assert_eq!(
        test,
        "user_id:token\titem_id:token\ttimestamp:float\n1\t10\t300\n2\t40\t200\n3\t30\t50\n"
    );
    let valid = std::fs::read_to_string(dir.path().join("ml-100k.valid.inter")).unwrap();
    assert_eq!(
        valid.lines().count(),
        2,
        "only user 1 has 3 interactions: {valid}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("split.json")).unwrap())
            .unwrap();
    assert_eq!(summary["train"], 3);
    assert_eq!(summary["test"], 3);
}

#[test]
fn without_a_display_the_app_says_so_instead_of_panicking() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reclab"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("could not open the reclab window"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn an_unknown_panel_is_refused_with_the_choices() {
    let out = reclab(&["--panel", "nowhere"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("unknown panel `nowhere`"), "{text}");
    assert!(
        text.contains("data, train, evaluate, compare, user or live"),
        "{text}"
    );
}

#[test]
fn help_documents_the_window_options() {
    let out = reclab(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for option in ["--runs", "--panel", "--screenshot", "--start-training"] {
        assert!(text.contains(option), "{option} missing from\n{text}");
    }
}

#[test]
fn eval_writes_a_run_that_runs_list_and_compare_show() {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_string_lossy().into_owned();
    let small = ["--synthetic-users", "200", "--synthetic-items", "300"];
    let mut ids = Vec::new();
    for model in ["pop", "itemknn"] {
        let mut args = vec![
            "eval", "--model", model, "--json", "--k", "5,10", "--out", &root_arg,
        ];
        args.extend(small);
        let out = reclab(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["protocol"], "full ranking");
        assert_eq!(report["users"], 200);
        for key in ["ndcg@10", "hit@10", "item_coverage@10", "mrr@5", "gini@10"] {
            let v = report["metrics"][key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} missing"));
            assert!((0.0..=1.0).contains(&v), "{key} = {v}");
        }
        let run = std::path::PathBuf::from(report["run"].as_str().unwrap());
        assert!(run.join("run.json").is_file());
        ids.push(run.file_name().unwrap().to_string_lossy().into_owned());
    }
    let listed = reclab(&["runs", "list", &root_arg]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains(&ids[0]) && text.contains(&ids[1]), "{text}");
    let compared = reclab(&["runs", "compare", "--root", &root_arg, &ids[0], &ids[1]]);
    let text = String::from_utf8_lossy(&compared.stdout);
    assert!(text.lines().any(|l| l.starts_with("* model ")), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("  dataset.fingerprint")),
        "{text}"
    );
}

#[test]
fn eval_rejects_an_unknown_protocol_clearly() {
    let out = reclab(&["eval", "--model", "pop", "--protocol", "sampled"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected full, uni100 or pop100"), "{err}");
}

#[test]
fn train_writes_a_run_and_prints_a_json_summary() {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_string_lossy().into_owned();
    let out = reclab(&[
        "train",
        "--data",
        "synthetic",
        "--synthetic-users",
        "100",
        "--synthetic-items",
        "80",
        "--epochs",
        "2",
        "--max-len",
        "20",
        "--device",
        "cpu",
        "--json",
        "--out",
        &root_arg,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One line per epoch, then the summary.
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[1]["epoch"], 2);
    let summary = &lines[2];
    assert_eq!(summary["model"], "SASRec");
    assert_eq!(summary["status"], "completed");
    assert!(summary["test"]["ndcg@10"].as_f64().unwrap() > 0.0);
    let run_dir = std::path::PathBuf::from(summary["run"].as_str().unwrap());
    assert!(run_dir.join("run.json").is_file());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("device cpu"), "{stderr}");
}

#[test]
fn train_rejects_a_device_not_built_in_and_a_bad_config() {
    if !cfg!(feature = "cuda") {
        let out = reclab(&["train", "--device", "cuda", "--epochs", "1"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--features cuda"));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("typo.toml");
    std::fs::write(&config, "model = \"sasrec\"\nepochz = 3\n").unwrap();
    let out = reclab(&["train", "--config", &config.to_string_lossy()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("typo.toml") && err.contains("epochz"), "{err}");
}

#[test]
fn the_example_training_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    for name in [
        "sasrec-ml100k.toml",
        "bert4rec-ml100k.toml",
        "sasrec-synthetic.toml",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let config =
            reclab::train::TrainConfig::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(config.problem(), None, "{name}");
    }
}

/// Ctrl-C during `reclab train` stops after the batch, tests the best weights and saves the run
/// as cancelled, instead of killing the process and losing the epoch's results.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_training_and_keeps_a_cancelled_run() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let root = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(["train", "--data", "synthetic", "--synthetic-users", "200"])
        .args([
            "--synthetic-items",
            "100",
            "--epochs",
            "10000",
            "--max-len",
            "20",
        ])
        .args(["--device", "cpu", "--json", "--out"])
        .arg(root.path())
        .env(
            "RECLAB_CACHE_DIR",
            std::env::temp_dir().join("reclab-cli-test-cache"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // The first epoch's line: training is under way.
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let epoch: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(epoch["epoch"], 1);
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(stderr.contains("stopping after this batch"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    assert_eq!(summary["status"], "cancelled", "{rest}");
    assert!(summary["test"]["ndcg@10"].as_f64().unwrap() > 0.0, "{rest}");
    let run_dir = std::path::PathBuf::from(summary["run"].as_str().unwrap());
    let saved = reclab::runs::RunFile::load(&run_dir).unwrap();
    assert_eq!(saved.status, reclab::runs::RunStatus::Cancelled);
    // Stopped long before the 10 000 epochs it was asked for.
    assert!(rest.lines().count() < 100, "{rest}");
}

#[test]
fn check_device_compares_a_gpu_backend_only_and_says_when_it_is_not_built_in() {
    let out = reclab(&["check-device", "--device", "cpu"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must name a GPU backend"), "{stderr}");
    if !cfg!(feature = "cuda") {
        let out = reclab(&["check-device", "--device", "cuda"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("built without CUDA"), "{stderr}");
    }
}

/// `reclab … | head`: when the reader has gone, the command ends as a Unix tool does (by
/// SIGPIPE), with no panic and no "Broken pipe" message.
#[cfg(target_os = "linux")]
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(["data", "stats", "synthetic", "--no-cache"])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{stderr}");
}
