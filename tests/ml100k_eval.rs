//! Evaluation on the real ML-100K (all interactions, leave-one-out, full ranking), checked
//! against an independent implementation (tests/reference/ranking_metrics.py, numpy).

use std::path::PathBuf;
use std::process::Command;

fn ml100k_dir() -> String {
    let root = std::env::var_os("RECLAB_DATASETS")
        .expect("set RECLAB_DATASETS to the folder that holds ml-100k/");
    PathBuf::from(root)
        .join("ml-100k")
        .to_string_lossy()
        .into_owned()
}

fn eval_json(model: &str, extra: &[&str]) -> serde_json::Value {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args([
            "eval",
            "--model",
            model,
            "--data",
            &ml100k_dir(),
            "--json",
            "--no-save",
        ])
        .args(extra)
        .env("RECLAB_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs RECLAB_DATASETS (the shared ML-100K) and python3 with numpy"]
fn ranking_metrics_agree_with_the_numpy_reference() {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/ranking_metrics.py");
    for model in ["pop", "itemknn"] {
        let dump = tempfile::tempdir().unwrap();
        let report = eval_json(
            model,
            &["--k", "1,5,10,20", "--dump", &dump.path().to_string_lossy()],
        );
        assert_eq!(report["users"], 943);
        // scripts/test.sh sets RECLAB_PYTHON and a PYTHONPATH holding numpy.
        let python = std::env::var("RECLAB_PYTHON").unwrap_or_else(|_| "python3".into());
        let check = Command::new(python)
            .arg(&script)
            .arg(dump.path())
            .args(["--tol", "1e-6"])
            .output()
            .expect("python3 is needed for the reference check (scripts/test.sh installs numpy)");
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(
            check.status.success(),
            "{model}: reference disagrees\n{stdout}{}",
            String::from_utf8_lossy(&check.stderr)
        );
        assert!(stdout.contains("users 943"), "{stdout}");
    }
}

#[test]
#[ignore = "needs RECLAB_DATASETS (the shared ML-100K)"]
fn collaborative_baselines_beat_popularity_on_ml100k() {
    let metric = |report: &serde_json::Value, name: &str| report["metrics"][name].as_f64().unwrap();
    let pop = eval_json("pop", &[]);
    let knn = eval_json("itemknn", &[]);
    let bpr = eval_json("bpr", &[]);
    assert_eq!(pop["protocol"], "full ranking");
    for other in [&knn, &bpr] {
        assert!(
            metric(other, "ndcg@10") > metric(&pop, "ndcg@10"),
            "{other}"
        );
        // Personalised lists cover far more of the catalogue than the one popular list.
        assert!(metric(other, "item_coverage@10") > 3.0 * metric(&pop, "item_coverage@10"));
    }
    // Under leave-one-out HR and Recall coincide (one target per user).
    assert_eq!(metric(&knn, "hit@10"), metric(&knn, "recall@10"));
    // Pop gives every user the same ten items, minus those already seen: coverage is tiny.
    assert!(metric(&pop, "item_coverage@10") < 0.1);
}
