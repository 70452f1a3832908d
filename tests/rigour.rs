//! Research rigour: per-user results beside every run recompute its metrics exactly, runs
//! repeated over seeds form a group, `reclab runs compare` tests runs against each other on
//! the same users and refuses runs that were not scored alike.

use std::path::Path;
use std::process::Command;

use reclab::data::{self, SplitStrategy};
use reclab::eval::{EvalConfig, RankingMetrics, Stage};
use reclab::recommend::{BaselineConfig, BprConfig};
use reclab::runs::per_user::{PER_USER_FILE, PerUserRanks};
use reclab::runs::run_baseline;
use reclab::runs::significance::{LoadedRun, paired_report};
use reclab::runs::{RUN_FILE, RunFile};

fn reclab(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(args)
        .env(
            "RECLAB_CACHE_DIR",
            std::env::temp_dir().join("reclab-rigour-cache"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `baseline` fitted and evaluated on the synthetic world (default cut-offs, seed 42).
fn fitted(
    baseline: &BaselineConfig,
    dataset: &reclab::data::Dataset,
    split: SplitStrategy,
) -> reclab::runs::BaselineRun {
    run_baseline(
        baseline,
        dataset,
        "synthetic",
        split,
        &EvalConfig::default(),
        42,
        &|_, _| true,
    )
    .unwrap()
}

/// Every accuracy metric of a run, recomputed from its per-user file, equals the run's own.
fn assert_recomputes(dir: &Path) {
    let run = RunFile::load(dir).unwrap();
    let per_user = PerUserRanks::load(dir).unwrap().expect("per_user.bin");
    assert!(run.artefacts.iter().any(|a| a == PER_USER_FILE));
    for (stage, metrics) in [
        (Stage::Valid, &run.valid_metrics),
        (Stage::Test, &run.test_metrics),
    ] {
        let mut checked = 0;
        for &k in &run.cutoffs {
            for name in reclab::eval::RANKING_METRICS {
                let key = format!("{name}@{k}");
                let values = per_user.metric(stage, &key).unwrap();
                let mean = values.iter().map(|(_, v)| v).sum::<f64>() / values.len() as f64;
                let want = metrics[&key];
                assert!(
                    (mean - want).abs() < 1e-12,
                    "{stage:?} {key}: per-user mean {mean}, run {want}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 6 * run.cutoffs.len());
    }
}

#[test]
fn per_user_ranks_round_trip_and_recompute_every_metric() {
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let root = tempfile::tempdir().unwrap();
    for baseline in [
        BaselineConfig::Pop,
        BaselineConfig::ItemKnn(Default::default()),
    ] {
        let done = fitted(&baseline, &dataset, SplitStrategy::LeaveOneOut);
        let saved = done.run.per_user.clone().unwrap();
        let dir = done.run.save(root.path()).unwrap();
        // Round trip: what was written is what is read.
        assert_eq!(PerUserRanks::load(&dir).unwrap(), Some(saved.clone()));
        assert_eq!(saved.test.len(), done.test.users);
        assert_recomputes(&dir);
    }
    // A Transformer run too (two epochs of a small SASRec), through the CLI.
    let out = root.path().join("sasrec");
    reclab(&[
        "train",
        "--data",
        "synthetic",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--max-len",
        "20",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_recomputes(&dir);
}

#[test]
fn a_run_without_per_user_results_still_opens_and_a_damaged_file_is_named() {
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let root = tempfile::tempdir().unwrap();
    let done = fitted(&BaselineConfig::Pop, &dataset, SplitStrategy::LeaveOneOut);
    let dir = done.run.save(root.path()).unwrap();
    std::fs::write(dir.join(PER_USER_FILE), b"\x05garbage").unwrap();
    let message = PerUserRanks::load(&dir).unwrap_err().to_string();
    assert!(message.contains(PER_USER_FILE), "{message}");
    // An older run: no file at all. It opens; the comparison says why there is no test.
    std::fs::remove_file(dir.join(PER_USER_FILE)).unwrap();
    let old = LoadedRun::load(dir.clone()).unwrap();
    assert!(old.per_user.is_none());
    let other = LoadedRun::load(dir).unwrap();
    let report = paired_report(&[old, other], &["ndcg@10".into()], Stage::Test).unwrap();
    assert!(report.rows.is_empty());
    assert!(report.to_text().contains("no per-user results"));
}

#[test]
fn seeds_form_a_group_and_runs_compare_tests_it_against_another_model() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().to_str().unwrap();
    // BPR over three seeds (its initialisation is seeded), ItemKNN once.
    reclab(&[
        "eval",
        "--model",
        "bpr",
        "--data",
        "synthetic",
        "--seeds",
        "1,2,3",
        "--out",
        out,
        "--json",
    ]);
    reclab(&[
        "eval",
        "--model",
        "itemknn",
        "--data",
        "synthetic",
        "--out",
        out,
        "--json",
    ]);
    let mut dirs: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let runs: Vec<RunFile> = dirs.iter().map(|d| RunFile::load(d).unwrap()).collect();
    let bpr: Vec<&RunFile> = runs.iter().filter(|r| r.model.name == "BPR-MF").collect();
    assert_eq!(bpr.len(), 3);
    let group = bpr[0].group.clone().expect("a seed group");
    assert!(bpr.iter().all(|r| r.group.as_ref() == Some(&group)));
    let mut seeds: Vec<u64> = bpr.iter().map(|r| r.seed).collect();
    seeds.sort();
    assert_eq!(seeds, [1, 2, 3]);

    // ItemKNN first (A), the BPR group as B: one arm each.
    let knn = dirs
        .iter()
        .find(|d| RunFile::load(d).unwrap().model.name == "ItemKNN")
        .unwrap();
    let mut args: Vec<String> = vec!["runs".into(), "compare".into(), knn.display().to_string()];
    args.extend(
        dirs.iter()
            .filter(|d| *d != knn)
            .map(|d| d.display().to_string()),
    );
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report: serde_json::Value = serde_json::from_str(&reclab(&args)).unwrap();
    let arms = report["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 2);
    assert_eq!(arms[1]["name"], group.as_str());
    // The group's summary is the mean of its three runs' test metrics.
    let ndcg: Vec<f64> = bpr.iter().map(|r| r.test_metrics["ndcg@10"]).collect();
    let mean = ndcg.iter().sum::<f64>() / 3.0;
    assert!((arms[1]["summary"][0][1].as_f64().unwrap() - mean).abs() < 1e-12);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "ndcg@10 and hit@10");
    for row in rows {
        let t = &row["test"];
        // B − A of the per-user means equals the difference of the runs' means.
        let diff = t["mean_difference"].as_f64().unwrap();
        let (a, b) = (t["mean_a"].as_f64().unwrap(), t["mean_b"].as_f64().unwrap());
        assert!((diff - (b - a)).abs() < 1e-12);
        let metric = row["metric"].as_str().unwrap();
        let knn_value = RunFile::load(knn).unwrap().test_metrics[metric];
        assert!(
            (a - knn_value).abs() < 1e-12,
            "{metric}: {a} vs {knn_value}"
        );
        // Holm never lowers a p-value.
        assert!(row["t_p_holm"].as_f64().unwrap() >= t["t_p"].as_f64().unwrap());
        assert!(t["ci_low"].as_f64().unwrap() <= diff && diff <= t["ci_high"].as_f64().unwrap());
    }
    // The text report names the tests.
    let text = reclab(&args[..args.len() - 1]);
    assert!(text.contains("paired tests against"), "{text}");
    assert!(text.contains("Wilcoxon p"), "{text}");
}

#[test]
fn runs_scored_differently_are_refused_saying_what_differs() {
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for split in [
        SplitStrategy::LeaveOneOut,
        SplitStrategy::Temporal {
            train: 0.8,
            valid: 0.1,
        },
    ] {
        let bpr = BaselineConfig::Bpr(BprConfig {
            epochs: 2,
            ..Default::default()
        });
        let done = fitted(&bpr, &dataset, split);
        dirs.push(done.run.save(root.path()).unwrap());
    }
    let runs: Vec<LoadedRun> = dirs
        .into_iter()
        .map(|d| LoadedRun::load(d).unwrap())
        .collect();
    let Err(message) = paired_report(&runs, &["ndcg@10".into()], Stage::Test) else {
        panic!("runs on two splits were compared");
    };
    assert!(message.contains("not comparable"), "{message}");
    assert!(message.contains("split (loo vs temporal"), "{message}");
    assert!(Path::new(RUN_FILE).extension().is_some());
}

#[test]
fn of_ranks_agrees_with_the_list_metrics() {
    // A list and targets, against the ranks the per-user file would hold.
    let list = [7, 3, 9, 1, 4];
    let targets = [1, 3, 8];
    let ranks = [4, 2, 0];
    for k in 1..=5 {
        assert_eq!(
            RankingMetrics::of(&list, &targets, k),
            RankingMetrics::of_ranks(&ranks, k),
            "k = {k}"
        );
    }
}

fn run_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join(RUN_FILE).is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn a_sweep_selects_on_validation_and_resumes_without_rerunning_finished_trials() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("sweep");
    let file = root.path().join("sweep.toml");
    std::fs::write(
        &file,
        format!(
            r#"
epochs = 2
batch_size = 64
cutoffs = [10]
device = "cpu"
[data]
path = "synthetic"
[transformer]
layers = 1
max_len = 20
[sweep]
out = "{}"
metric = "ndcg@10"
learning_rate = [0.001, 0.01]
hidden = [8, 16]
"#,
            out.display()
        ),
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&reclab(&["sweep", "--config", config, "--json"])).unwrap();
    let trials = state["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 4);
    let dirs = run_dirs(&out);
    assert_eq!(dirs.len(), 4);
    // Each trial's run has its values and its validation metric recorded.
    let mut best = (f64::MIN, 0);
    for trial in trials {
        assert_eq!(trial["finished"], true);
        let run = RunFile::load(&out.join(trial["run"].as_str().unwrap())).unwrap();
        let config = &run.model.config;
        assert_eq!(
            config["learning_rate"], trial["params"]["learning_rate"],
            "{trial}"
        );
        assert_eq!(
            config["transformer"]["hidden"],
            trial["params"]["transformer.hidden"]
        );
        let valid = run.valid_metrics["ndcg@10"];
        assert_eq!(trial["valid"].as_f64().unwrap(), valid);
        if valid > best.0 {
            best = (valid, trial["index"].as_u64().unwrap());
        }
    }
    // The best config written back is the best-validating trial's, and it trains as is.
    let best_toml = std::fs::read_to_string(out.join("best.toml")).unwrap();
    assert!(
        best_toml.contains(&format!("trial {},", best.1)),
        "{best_toml}"
    );
    let parsed = reclab::train::TrainConfig::from_toml(&best_toml).unwrap();
    let chosen = &trials[best.1 as usize - 1]["params"];
    assert_eq!(
        serde_json::json!(parsed.learning_rate),
        chosen["learning_rate"]
    );

    // Run again: nothing is re-run.
    let again = Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(["sweep", "--config", config])
        .output()
        .unwrap();
    assert!(again.status.success());
    let log = String::from_utf8_lossy(&again.stderr);
    assert_eq!(log.matches("not run again").count(), 4, "{log}");
    assert_eq!(run_dirs(&out).len(), 4);
    // An interrupted sweep (trial 3 never finished) runs trial 3 alone.
    let path = out.join("sweep.json");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    saved["trials"][2]["finished"] = false.into();
    std::fs::write(&path, saved.to_string()).unwrap();
    let resumed = Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(["sweep", "--config", config])
        .output()
        .unwrap();
    assert!(resumed.status.success());
    let log = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(log.matches("not run again").count(), 3, "{log}");
    assert_eq!(run_dirs(&out).len(), 5);
    let table = String::from_utf8_lossy(&resumed.stdout);
    assert!(table.contains("4 of 4 trials finished"), "{table}");
}

#[test]
fn sweep_files_with_mistakes_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sweep.toml");
    let error = |text: &str| reclab::sweep::Sweep::parse(text, &path).unwrap_err();
    let message = error("epochs = 2\n");
    assert!(message.contains("no [sweep] table"), "{message}");
    let message = error("[sweep]\nout = \"x\"\nsize = [1, 2]\n");
    assert!(
        message.contains("size") && message.contains("no key"),
        "{message}"
    );
    let message = error("[sweep]\nout = \"x\"\nlearning_rate = 0.1\n");
    assert!(message.contains("expected a list"), "{message}");
    let message = error("[sweep]\nout = \"x\"\nepochs = [\"many\"]\n");
    assert!(message.contains("trial 1"), "{message}");
    assert!(message.contains("sweep.toml"), "{message}");
}

#[test]
fn simulate_over_seeds_groups_its_runs() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().to_str().unwrap();
    reclab(&[
        "simulate", "--users", "30", "--steps", "5", "--seeds", "1,2", "--out", out, "--json",
    ]);
    let runs: Vec<RunFile> = run_dirs(root.path())
        .iter()
        .map(|d| RunFile::load(d).unwrap())
        .collect();
    assert_eq!(runs.len(), 2);
    assert!(runs[0].group.is_some() && runs[0].group == runs[1].group);
    let mut seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
    seeds.sort();
    assert_eq!(seeds, [1, 2]);
    // The same world: one dataset fingerprint for both.
    assert_eq!(runs[0].dataset.fingerprint, runs[1].dataset.fingerprint);
}

/// Array tasks finishing at once on several nodes each record their trial in `sweep.json`:
/// with sixteen writers released together, none loses another's result.
#[test]
fn trials_recorded_at_once_never_lose_each_others_results() {
    use std::sync::{Arc, Barrier};
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("sweep.toml");
    let neighbours: Vec<String> = (1..=16).map(|n| (n * 5).to_string()).collect();
    std::fs::write(
        &file,
        format!(
            "model = \"itemknn\"\nshrink = 0.0\nneighbours = 10\n[data]\npath = \"synthetic\"\n\
             [sweep]\nkind = \"eval\"\nout = \"{}\"\nmetric = \"ndcg@10\"\nneighbours = [{}]\n",
            root.path().join("sweep").display(),
            neighbours.join(", ")
        ),
    )
    .unwrap();
    let sweep = Arc::new(
        reclab::sweep::Sweep::parse(&std::fs::read_to_string(&file).unwrap(), &file).unwrap(),
    );
    let state = reclab::sweep::open_state(&sweep).unwrap();
    assert_eq!(state.trials.len(), 16);
    // One real run, recorded sixteen times under different names and scores.
    let run = reclab::sweep::run_trial(
        &sweep,
        &state.trials[0],
        None,
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
        &mut |_| {},
    )
    .unwrap();
    let barrier = Arc::new(Barrier::new(16));
    let writers: Vec<_> = (1..=16)
        .map(|index| {
            let (sweep, barrier, mut run) = (Arc::clone(&sweep), Arc::clone(&barrier), run.clone());
            run.run_id = format!("run-{index}");
            run.valid_metrics
                .insert("ndcg@10".into(), index as f64 / 100.0);
            std::thread::spawn(move || {
                barrier.wait();
                reclab::sweep::record(&sweep, index, &run).unwrap();
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let saved = reclab::sweep::load_state(&sweep.out).unwrap();
    for trial in &saved.trials {
        assert!(trial.finished, "trial {} lost", trial.index);
        assert_eq!(
            trial.run.as_deref(),
            Some(format!("run-{}", trial.index).as_str())
        );
        assert_eq!(trial.valid, Some(trial.index as f64 / 100.0));
    }
    let best = std::fs::read_to_string(sweep.out.join("best.toml")).unwrap();
    assert!(best.contains("trial 16,"), "{best}");
}
