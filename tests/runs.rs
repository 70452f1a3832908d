//! Run files: round trip, listing, comparison, and never a damaged file.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reclab::data::{Preprocessing, SplitStrategy};
use reclab::runs::{DatasetInfo, ModelInfo, RUN_FILE, RunError, RunFile, RunStatus, compare, list};

fn sample_run(model: &str, factors: u64) -> RunFile {
    let mut run = RunFile::new(
        ModelInfo {
            name: model.to_string(),
            config: serde_json::json!({ "factors": factors, "epochs": 10 }),
        },
        DatasetInfo {
            path: "synthetic".into(),
            name: "synthetic".into(),
            format: "synthetic".into(),
            fingerprint: "abc".into(),
            preprocessing: Preprocessing::default(),
            split: SplitStrategy::LeaveOneOut,
            users: 10,
            items: 20,
            interactions: 100,
        },
        "full ranking".into(),
        vec![10],
        42,
        "cpu",
    );
    run.push_point("train_loss", 1, 0.9);
    run.push_point("train_loss", 2, 0.7);
    run.test_metrics
        .insert("ndcg@10".into(), 0.25 + factors as f64 / 1000.0);
    run.status = RunStatus::Completed;
    run
}

#[test]
fn a_saved_run_loads_back_identical() {
    let root = tempfile::tempdir().unwrap();
    let run = sample_run("BPR-MF", 64);
    let dir = run.save(root.path()).unwrap();
    assert_eq!(dir, root.path().join(&run.run_id));
    assert_eq!(RunFile::load(&dir).unwrap(), run);
    assert_eq!(RunFile::load(&dir.join(RUN_FILE)).unwrap(), run);
    let listed = list(root.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].run.as_ref().unwrap(), &run);
    assert!(run.environment.reclab_version.starts_with("0."));
}

#[test]
fn a_truncated_run_file_is_a_clear_error_and_is_listed_not_dropped() {
    let root = tempfile::tempdir().unwrap();
    let run = sample_run("Pop", 0);
    let dir = run.save(root.path()).unwrap();
    let path = dir.join(RUN_FILE);
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let err = RunFile::load(&dir).unwrap_err();
    assert!(matches!(err, RunError::Damaged { .. }));
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("is damaged at line"), "{message}");
    let listed = list(root.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].run.is_err());
}

#[test]
fn a_wrong_field_type_is_damage_with_its_line() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join(RUN_FILE);
    std::fs::write(&path, "{\n  \"schema_version\": 1,\n  \"run_id\": 7\n}").unwrap();
    let err = RunFile::load(&path).unwrap_err();
    match err {
        RunError::Damaged { line, .. } => assert_eq!(line, 3),
        other => panic!("{other}"),
    }
}

#[test]
fn a_newer_schema_asks_for_a_newer_reclab() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join(RUN_FILE);
    std::fs::write(&path, r#"{"schema_version": 99, "something": "new"}"#).unwrap();
    let err = RunFile::load(&path).unwrap_err();
    assert!(matches!(err, RunError::NewerSchema { found: 99, .. }));
    assert!(err.to_string().contains("update reclab"), "{err}");
}

#[test]
fn a_missing_run_is_not_found() {
    let root = tempfile::tempdir().unwrap();
    let err = RunFile::load(&root.path().join("nope")).unwrap_err();
    assert!(matches!(err, RunError::NotFound { .. }), "{err}");
    assert!(list(&root.path().join("no-such-root")).unwrap().is_empty());
}

#[test]
fn comparison_marks_only_the_rows_that_differ() {
    let a = sample_run("BPR-MF", 32);
    let b = sample_run("BPR-MF", 64);
    let table = compare(&[a.clone(), b.clone()]);
    assert_eq!(table.run_ids, vec![a.run_id.clone(), b.run_id.clone()]);
    let row = |key: &str| table.rows.iter().find(|r| r.key == key).unwrap();
    assert!(row("model.config.factors").differs);
    assert_eq!(
        row("model.config.factors").values,
        vec![Some("32".into()), Some("64".into())]
    );
    assert!(!row("model.config.epochs").differs);
    assert!(!row("dataset.fingerprint").differs);
    assert!(row("test.ndcg@10").differs);
    assert_eq!(row("test.ndcg@10").values[0].as_deref(), Some("0.2820"));
    let text = table.to_table();
    assert!(
        text.lines()
            .any(|l| l.starts_with("* model.config.factors")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("  model.config.epochs")),
        "{text}"
    );
}

/// Run by `a_run_killed_while_writing_never_leaves_a_damaged_file` in a child process: saves the
/// same run folder over and over, with a large curve, until killed.
#[test]
fn writer_child() {
    let Ok(root) = std::env::var("RECLAB_WRITER_CHILD_ROOT") else {
        return; // only does something when started by the test below
    };
    let mut run = sample_run("Writer", 1);
    for step in 0..200_000 {
        run.push_point("train_loss", step, step as f64 * 0.5);
    }
    loop {
        run.seed += 1;
        run.save(Path::new(&root)).unwrap();
    }
}

#[test]
fn a_run_killed_while_writing_never_leaves_a_damaged_file() {
    let root = tempfile::tempdir().unwrap();
    for round in 0..5 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["writer_child", "--exact", "--nocapture"])
            .env("RECLAB_WRITER_CHILD_ROOT", root.path())
            .spawn()
            .unwrap();
        // Wait for the child's first complete save (a loaded machine may take seconds to get
        // there), then let it go on rewriting the file for a varied while so the kill lands at
        // different points of a write.
        let started = std::time::Instant::now();
        while list(root.path()).unwrap().len() <= round as usize {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "round {round}: the writer never saved its run"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50 + 137 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        for listed in list(root.path()).unwrap() {
            let run = listed.run.unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(run.curves["train_loss"].len(), 200_002);
        }
    }
    // Every child wrote its run (a fresh id each) at least once: the test proves something.
    assert_eq!(list(root.path()).unwrap().len(), 5);
}
