//! Replays the fuzz seeds (`fuzz/seeds/<target>/`) and every input the fuzzer found crashing
//! (`fuzz/regressions/<target>/`) through the same functions the libFuzzer targets call, on the
//! stable toolchain: a fixed crash stays fixed without a nightly fuzz build.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_inputs;

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 9] = [
    ("delimited_log", fuzz_inputs::delimited_log),
    ("recbole", fuzz_inputs::recbole),
    ("movielens", fuzz_inputs::movielens),
    ("parquet", fuzz_inputs::parquet),
    ("run_file", fuzz_inputs::run_file),
    ("configs", fuzz_inputs::configs),
    ("model_folder", fuzz_inputs::model_folder),
    ("weights", fuzz_inputs::weights),
    ("gguf", fuzz_inputs::gguf),
];

/// Runs every file under `fuzz/<folder>/<target>/` through its target; returns how many ran.
fn replay(folder: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(folder);
    let mut count = 0;
    for (name, target) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let input = std::fs::read(&path).unwrap();
            target(&input);
            count += 1;
        }
    }
    count
}

#[test]
fn every_seed_input_is_read_without_a_panic() {
    // Each of the nine targets has seeds.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, _) in TARGETS {
        let seeds = std::fs::read_dir(root.join(name)).map_or(0, |e| e.count());
        assert!(seeds > 0, "no seeds for {name}");
    }
    assert!(replay("seeds") >= 30);
}

#[test]
fn every_input_the_fuzzer_crashed_on_is_now_read_without_a_panic() {
    replay("regressions");
}

#[test]
fn the_seeds_reach_the_readers_success_paths() {
    // Seeds that stop at the first error would teach the fuzzer little: the real formats load.
    let seed = |target: &str, name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds")
                .join(target)
                .join(name),
        )
        .unwrap()
    };
    let load_dir = |build: &dyn Fn(&Path)| {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        reclab::data::load(
            &reclab::data::LoadSpec::new(dir.path().to_string_lossy()),
            None,
        )
    };
    let recbole = seed("recbole", "tiny");
    let [inter, item] = fuzz_inputs::files::<2>(&recbole);
    let loaded = load_dir(&|dir| {
        std::fs::write(dir.join("set.inter"), inter.unwrap()).unwrap();
        std::fs::write(dir.join("set.item"), item.unwrap()).unwrap();
    })
    .unwrap();
    assert!(loaded.num_items() > 0);
    for name in [
        "int-ids-snappy.parquet",
        "string-ids-dictionary-zstd.parquet",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.parquet");
        std::fs::write(&path, seed("parquet", name)).unwrap();
        let loaded = reclab::data::load(&reclab::data::LoadSpec::new(path.to_string_lossy()), None);
        assert!(loaded.unwrap().num_interactions() > 0, "{name}");
    }
    let tiny = tempfile::tempdir().unwrap();
    std::fs::write(tiny.path().join("best.bin"), seed("weights", "best.bin")).unwrap();
    let shape = reclab::model::TransformerConfig {
        hidden: 8,
        heads: 2,
        layers: 1,
        inner: 16,
        max_len: 4,
        ..Default::default()
    };
    reclab::train::load_weights(
        &tiny.path().join("best"),
        &shape,
        reclab::model::Vocabulary { num_items: 6 },
    )
    .unwrap();
    let model = seed("model_folder", "tiny-bert-mean");
    let parts = fuzz_inputs::files::<6>(&model);
    let folder = tempfile::tempdir().unwrap();
    for (name, part) in [
        "config.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
        "tokenizer.json",
        "model.safetensors",
    ]
    .iter()
    .zip(parts)
    {
        let path = folder.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, part.unwrap()).unwrap();
    }
    let folder = reclab::lm::ModelFolder::open(folder.path()).unwrap();
    let encoder =
        reclab::lm::TextEncoder::<reclab::train::Inference>::load(folder, Default::default())
            .unwrap();
    let vectors = encoder
        .encode(&["a funny film".to_string()], 1, &mut |_, _| true)
        .unwrap();
    assert_eq!(vectors.dim(), 8);
}

#[test]
fn weights_of_another_shape_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/weights/best.bin");
    std::fs::copy(seed, dir.path().join("best.bin")).unwrap();
    // The seed is 6 items, hidden 8, feed-forward 16: ask for feed-forward 32.
    let shape = reclab::model::TransformerConfig {
        hidden: 8,
        heads: 2,
        layers: 1,
        inner: 32,
        max_len: 4,
        ..Default::default()
    };
    let loaded = reclab::train::load_weights(
        &dir.path().join("best"),
        &shape,
        reclab::model::Vocabulary { num_items: 6 },
    );
    let error = match loaded {
        Ok(_) => panic!("weights of another shape were accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("best.bin") && error.contains("weights where the model has"),
        "{error}"
    );
}

#[test]
fn weights_of_another_element_type_are_refused_naming_the_file() {
    let seed = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/model_folder/tiny-bert-mean"),
    )
    .unwrap();
    let parts = fuzz_inputs::files::<6>(&seed);
    // The first tensor in the safetensors header declared as 32-bit integers (same size, so
    // every offset stays valid): the case the fuzzer found panicking in the first product.
    let mut weights = parts[5].unwrap().to_vec();
    let at = weights
        .windows(5)
        .position(|w| w == b"\"F32\"")
        .expect("a float tensor in the seed");
    weights[at + 1] = b'I';
    let folder = tempfile::tempdir().unwrap();
    let names = [
        "config.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
        "tokenizer.json",
    ];
    for (name, part) in names.iter().zip(parts) {
        let path = folder.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, part.unwrap()).unwrap();
    }
    std::fs::write(folder.path().join("model.safetensors"), weights).unwrap();
    let opened = reclab::lm::ModelFolder::open(folder.path()).unwrap();
    let loaded =
        reclab::lm::TextEncoder::<reclab::train::Inference>::load(opened, Default::default());
    let error = match loaded {
        Ok(_) => panic!("integer weights were accepted"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("model.safetensors"), "{error}");
}
