//! The language-model engine against sentence-transformers: vectors of the real
//! all-MiniLM-L6-v2 must match the reference fixture written by
//! tests/reference/sentence_vectors.py (cosine ≥ 0.9999 per text); bad folders give errors that
//! name the file and field; item vectors are cached and the cache follows model and texts.

use std::path::{Path, PathBuf};
use std::process::Command;

use reclab::data::{LoadSpec, load};
use reclab::lm::{self, Embedder, LmError, ModelFolder, PoolingMode, Template, cosine};
use reclab::train::DeviceChoice;

/// The shared model folder: `$RECLAB_MODELS/all-MiniLM-L6-v2`, else beside the datasets.
fn minilm() -> PathBuf {
    let root = std::env::var_os("RECLAB_MODELS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("RECLAB_DATASETS").map(|d| PathBuf::from(d).join("../models")))
        .expect("set RECLAB_MODELS to the folder that holds all-MiniLM-L6-v2/");
    root.join("all-MiniLM-L6-v2")
}

fn ml100k() -> String {
    let root = std::env::var_os("RECLAB_DATASETS")
        .expect("set RECLAB_DATASETS to the folder that holds ml-100k/");
    PathBuf::from(root)
        .join("ml-100k")
        .to_string_lossy()
        .into_owned()
}

/// Runs `reclab ARGS --lm MINILM --data ML-100K --json` with its own cache folder and returns
/// the JSON it prints.
fn reclab_on_ml100k(args: &[&str], cache: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(args)
        .arg("--lm")
        .arg(minilm())
        .args(["--data", &ml100k(), "--json"])
        .env("RECLAB_CACHE_DIR", cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Reference {
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn reference() -> Vec<Reference> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm/all-MiniLM-L6-v2.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(fixture["max_seq_length"], 256);
    fixture["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Reference {
            text: t["text"].as_str().unwrap().to_string(),
            tokens: t["tokens"].as_u64().unwrap() as usize,
            vector: t["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

#[test]
#[ignore = "needs RECLAB_MODELS (the shared all-MiniLM-L6-v2)"]
fn minilm_vectors_match_sentence_transformers() {
    let folder = ModelFolder::open(minilm()).unwrap();
    assert_eq!(
        folder.max_seq_length, 256,
        "sentence_bert_config.json, not tokenizer.json's 128"
    );
    assert_eq!(folder.pooling.mode, PoolingMode::Mean);
    assert!(folder.pooling.normalize);
    let embedder = Embedder::open(minilm(), DeviceChoice::Cpu).unwrap();
    let reference = reference();
    let texts: Vec<String> = reference.iter().map(|r| r.text.clone()).collect();
    // The fixture covers texts past 128 and past 256 tokens, emoji, accents, other scripts and
    // empty ones.
    assert!(reference.iter().any(|r| r.tokens > 128 && r.tokens < 256));
    assert!(reference.iter().any(|r| r.tokens == 256));
    assert!(texts.iter().any(String::is_empty));
    let tokens = embedder.tokenize(&texts).unwrap();
    for (r, ids) in reference.iter().zip(&tokens) {
        assert_eq!(ids.len(), r.tokens, "token count of {:?}", r.text);
    }
    // Batches of 3 mix lengths and padding; the result must not depend on them.
    let mut seen = Vec::new();
    let vectors = embedder
        .encode(&texts, 3, &mut |done, total| {
            seen.push((done, total));
            true
        })
        .unwrap();
    // Progress rises to the number of texts, at least once per group of batches.
    assert_eq!(seen.last(), Some(&(texts.len(), texts.len())));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    assert!(!seen.is_empty() && seen.len() <= texts.len().div_ceil(3));
    for (i, r) in reference.iter().enumerate() {
        let got = vectors.row(i);
        assert_eq!(got.len(), 384);
        let similarity = cosine(got, &r.vector);
        assert!(similarity >= 0.9999, "{:?}: cosine {similarity}", r.text);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "normalised as modules.json says: {norm}"
        );
    }
}

/// A copy of the MiniLM folder's small files (weights linked) that a test may spoil.
fn spoilable_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = minilm();
    for file in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "sentence_bert_config.json",
    ] {
        std::fs::copy(source.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
    std::fs::copy(
        source.join("1_Pooling/config.json"),
        dir.path().join("1_Pooling/config.json"),
    )
    .unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        source.join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    dir
}

fn edit_config(dir: &Path, key: &str, value: serde_json::Value) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config[key] = value;
    std::fs::write(path, config.to_string()).unwrap();
}

fn open_error(dir: &Path) -> String {
    match Embedder::open(dir, DeviceChoice::Cpu) {
        Ok(_) => panic!("{} opened", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
#[ignore = "needs RECLAB_MODELS (the shared all-MiniLM-L6-v2)"]
fn bad_model_folders_are_refused_naming_file_and_field() {
    // Another architecture.
    let dir = spoilable_copy();
    edit_config(dir.path(), "model_type", "gpt2".into());
    let message = open_error(dir.path());
    assert!(
        message.contains("config.json") && message.contains("model_type"),
        "{message}"
    );
    assert!(
        message.contains("\"gpt2\"") && message.contains("BERT"),
        "{message}"
    );

    // Weights of another shape than the configuration says.
    let dir = spoilable_copy();
    edit_config(dir.path(), "intermediate_size", 1000.into());
    let message = open_error(dir.path());
    assert!(message.contains("model.safetensors"), "{message}");
    assert!(message.contains("intermediate.dense"), "{message}");

    // A config far larger than its weights file (seen while writing the model-folder fuzz
    // target: vocab_size in the billions would reserve the embedding table before any tensor
    // was compared).
    for (key, value) in [("vocab_size", 4_000_000_000u64), ("num_hidden_layers", 60)] {
        let dir = spoilable_copy();
        edit_config(dir.path(), key, value.into());
        let message = open_error(dir.path());
        assert!(
            message.contains("model.safetensors")
                && message.contains("config.json describes a BERT of")
                && message.contains(&format!("{key} {value}")),
            "{message}"
        );
    }

    // A tokenizer with more tokens than the model's embedding table.
    let dir = spoilable_copy();
    edit_config(dir.path(), "vocab_size", 1000.into());
    let message = open_error(dir.path());
    assert!(
        message.contains("tokenizer.json") && message.contains("vocab_size is 1000"),
        "{message}"
    );

    // A tokenizer that does not load.
    let dir = spoilable_copy();
    std::fs::write(
        dir.path().join("tokenizer.json"),
        "{\"not\": \"a tokenizer\"}",
    )
    .unwrap();
    let message = open_error(dir.path());
    assert!(
        message.contains("tokenizer.json") && message.contains("does not load"),
        "{message}"
    );

    // Missing files.
    let dir = spoilable_copy();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let message = open_error(dir.path());
    assert!(
        message.contains("model.safetensors") && message.contains("no such file"),
        "{message}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        ModelFolder::open(empty.path()),
        Err(LmError::MissingFile { .. })
    ));
    assert!(open_error(empty.path()).contains("config.json"));

    // A pooling configuration that switches on nothing.
    let dir = spoilable_copy();
    std::fs::write(dir.path().join("1_Pooling/config.json"), "{}").unwrap();
    let message = open_error(dir.path());
    assert!(
        message.contains("1_Pooling/config.json") && message.contains("pooling_mode"),
        "{message}"
    );
}

#[test]
#[ignore = "needs RECLAB_MODELS and RECLAB_DATASETS (MiniLM, ML-100K)"]
fn item_vectors_are_cached_and_the_cache_follows_model_and_texts() {
    let dataset = load(&LoadSpec::new(ml100k()), None).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let embedder = Embedder::open(minilm(), DeviceChoice::Cpu).unwrap();
    let template = Template::default_for(&dataset);
    assert_eq!(template.source(), "{title} ({year}). {genres}.");
    let embed = |e: &Embedder, t: &Template| {
        lm::embed_items(e, &dataset, t, Some(cache.path()), 32, &mut |_, _| true).unwrap()
    };
    let first = embed(&embedder, &template);
    assert!(!first.from_cache);
    assert_eq!(
        first.texts[1],
        "Toy Story (1995). Animation, Children's, Comedy."
    );
    assert!(
        first.vectors.row(0).iter().all(|&x| x == 0.0),
        "padding's row is zero"
    );
    let again = embed(&embedder, &template);
    assert!(again.from_cache);
    assert_eq!(again.vectors, first.vectors);
    assert_eq!(again.cache_path, first.cache_path);

    // Another template: other texts, other vectors.
    let titles = Template::parse("{title}").unwrap();
    let by_title = embed(&embedder, &titles);
    assert!(!by_title.from_cache);
    assert_ne!(by_title.cache_path, first.cache_path);
    assert_eq!(by_title.texts[1], "Toy Story");

    // Another model (here: the same weights with CLS pooling) must not reuse the vectors.
    let dir = spoilable_copy();
    std::fs::write(
        dir.path().join("1_Pooling/config.json"),
        r#"{"pooling_mode_cls_token": true}"#,
    )
    .unwrap();
    let cls = Embedder::open(dir.path(), DeviceChoice::Cpu).unwrap();
    let other = embed(&cls, &template);
    assert!(!other.from_cache);
    assert_ne!(other.cache_path, first.cache_path);
    assert!(cosine(other.vectors.row(1), first.vectors.row(1)) < 0.9999);
}

#[test]
#[ignore = "needs RECLAB_MODELS (the shared all-MiniLM-L6-v2)"]
fn embed_cli_prints_the_models_vectors() {
    let reference = reference();
    let out = Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(["embed", "--lm"])
        .arg(minilm())
        .args([
            "--device",
            "cpu",
            "--json",
            "--text",
            &reference[0].text,
            "--text",
            &reference[6].text,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let vectors = json["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    for (got, r) in vectors.iter().zip([&reference[0], &reference[6]]) {
        let got: Vec<f32> = got
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert!(cosine(&got, &r.vector) >= 0.9999);
    }
}

#[test]
#[ignore = "needs RECLAB_MODELS and RECLAB_DATASETS (MiniLM, ML-100K)"]
fn search_finds_items_by_meaning_and_lm_beats_chance_on_ml100k() {
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| reclab_on_ml100k(args, cache.path());
    let found = run(&["search", "animated toys come to life", "--k", "5"]);
    let titles: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Toy Story"), "{titles:?}");

    // The embedding above was cached: `embed` now reads it.
    let embedded = run(&["embed"]);
    assert_eq!(embedded["items"], 1682);
    assert_eq!(embedded["from_cache"], true);

    // History vectors: far better than chance (HR@10 of a random list is 10/1682 ≈ 0.006).
    let report = run(&["eval", "--model", "lm", "--no-save"]);
    let hit = report["metrics"]["hit@10"].as_f64().unwrap();
    assert!(hit > 0.02, "{report}");

    // `eval --model lm` keeps its item vectors where the dataset cache options say.
    let vector_files = |dir: &Path| -> usize {
        std::fs::read_dir(dir.join("lm/vectors")).map_or(0, |entries| entries.count())
    };
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().to_str().unwrap();
    let again = run(&["eval", "--model", "lm", "--no-save", "--cache-dir", dir]);
    assert_eq!(vector_files(elsewhere.path()), 1);
    assert_eq!(again["metrics"], report["metrics"]);
    let nowhere = tempfile::tempdir().unwrap();
    let uncached = Command::new(env!("CARGO_BIN_EXE_reclab"))
        .args(["eval", "--model", "lm", "--no-save", "--no-cache", "--json"])
        .arg("--lm")
        .arg(minilm())
        .args(["--data", &ml100k()])
        .env("RECLAB_CACHE_DIR", nowhere.path())
        .output()
        .unwrap();
    assert!(uncached.status.success());
    assert_eq!(vector_files(nowhere.path()), 0);
}

/// A text-aware SASRec trains through the public entry point (item texts embedded by MiniLM,
/// the run recording the mode and the vectors' size) and reopens from its run folder without
/// the language model: the frozen vectors are part of the saved weights.
#[test]
#[ignore = "needs RECLAB_MODELS (the shared all-MiniLM-L6-v2)"]
fn text_aware_sasrec_trains_and_reopens_from_its_run() {
    use reclab::model::ItemText;
    use reclab::train::{TrainConfig, model_from_run, train_on_chosen_device};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let cache = tempfile::tempdir().unwrap();
    // SAFETY: nextest runs each test in a process of its own, and no other thread of this
    // test reads the environment while it is set; it only redirects the vector cache.
    unsafe { std::env::set_var("RECLAB_CACHE_DIR", cache.path()) };
    let mut config = TrainConfig {
        epochs: 2,
        batch_size: 64,
        cutoffs: vec![10],
        device: DeviceChoice::Cpu,
        lm: Some(minilm()),
        ..TrainConfig::default()
    };
    config.data.synthetic.users = 200;
    config.data.synthetic.items = 120;
    config.data.synthetic.max_seq_len = 60;
    config.transformer.max_len = 20;
    config.transformer.hidden = 32;
    config.transformer.inner = 64;
    config.transformer.item_text = ItemText::Frozen;
    let dataset = load(&config.data, None).unwrap();
    let root = tempfile::tempdir().unwrap();
    let outcome = train_on_chosen_device(
        &dataset,
        &config,
        root.path(),
        None,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
    )
    .unwrap();
    let recorded = &outcome.run.model.config;
    assert_eq!(recorded["transformer"]["item_text"], "frozen");
    assert_eq!(recorded["transformer"]["text_dim"], 384);
    assert_eq!(recorded["item_template"], "{title} ({year}). {genres}.");
    assert!(outcome.test.is_some());

    // Reopened without the language model: the scores are the trained model's.
    let model = model_from_run(&outcome.run_dir, &dataset).unwrap();
    let history = dataset.sequence(0);
    let mut scores = vec![0.0; dataset.num_items() + 1];
    model.score(
        reclab::recommend::Query {
            user: None,
            history,
        },
        &mut scores,
    );
    assert!(
        scores[1..].iter().all(|s| s.is_finite()),
        "padding aside, every item scores"
    );
    assert!(scores.iter().skip(1).any(|&s| s != scores[1]));

    // Without --lm the mode is refused with what to give.
    let mut no_lm = config.clone();
    no_lm.lm = None;
    let message = no_lm.problem().unwrap();
    assert!(
        message.contains("frozen") && message.contains("--lm"),
        "{message}"
    );
}

/// On ML-100K's latest-appearing tenth of the films, a model that reads titles must beat
/// popularity (which cannot rank an item it never saw) and chance.
#[test]
#[ignore = "needs RECLAB_MODELS and RECLAB_DATASETS (MiniLM, ML-100K)"]
fn lm_beats_popularity_and_chance_on_cold_items() {
    let cache = tempfile::tempdir().unwrap();
    let eval = |model: &str| {
        let args = ["eval", "--model", model, "--split", "cold-items:0.1"];
        reclab_on_ml100k(
            &[&args[..], &["--no-save", "--k", "10,50"]].concat(),
            cache.path(),
        )
    };
    let lm = eval("lm");
    let pop = eval("pop");
    let cold = |r: &serde_json::Value, m: &str| r["by_target"]["cold"][m].as_f64().unwrap();
    assert!(cold(&lm, "users") > 0.0);
    assert_eq!(cold(&lm, "users"), cold(&pop, "users"));
    // Chance: a cold target among about 1,600 unseen films, 50 listed.
    let chance = 50.0 / 1600.0;
    assert!(cold(&lm, "hit@50") > 2.0 * chance, "{lm}");
    assert!(cold(&lm, "hit@50") > cold(&pop, "hit@50"), "{lm}\n{pop}");
}
