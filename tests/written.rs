//! Texts the generative model writes for the recommender (user profiles), with the shared
//! SmolLM2-135M-Instruct GGUF on real MovieLens histories: cached by model, prompt and history;
//! a damaged entry written again (to the same text: decoding is greedy); a cancel leaving the
//! cache whole; the `llm-profile` user vector ranking by the profile it was written.

use std::path::PathBuf;

use reclab::data::{self, Dataset};
use reclab::device::DeviceChoice;
use reclab::lm::decoder::{Dtype, Llm};
use reclab::lm::written::profiles::{ProfilePrompt, history_line, write_profiles};
use reclab::lm::written::{TextCache, Writer};
use reclab::lm::{self, Embedder, LmError, Template};
use reclab::recommend::{LmConfig, LmRecommender, Query, Recommender, UserVector};

fn models() -> PathBuf {
    PathBuf::from(
        std::env::var_os("RECLAB_MODELS")
            .expect("set RECLAB_MODELS to the folder that holds SmolLM2-135M-Instruct/"),
    )
}

fn smollm2() -> PathBuf {
    models().join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn ml100k() -> Dataset {
    let root = std::env::var_os("RECLAB_DATASETS")
        .expect("set RECLAB_DATASETS to the folder that holds ml-100k/");
    let path = PathBuf::from(root).join("ml-100k");
    data::load(&data::LoadSpec::new(path.display().to_string()), None).unwrap()
}

/// Short profiles keep the test quick; the behaviour does not depend on their length.
const TOKENS: usize = 12;

fn write(
    writer: &Writer,
    prompt: &ProfilePrompt,
    dataset: &Dataset,
    histories: &[&[u32]],
    cache: &mut TextCache,
) -> reclab::lm::written::Written {
    write_profiles(writer, prompt, dataset, histories, cache, &mut |_, _| true).unwrap()
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct) and RECLAB_DATASETS (ml-100k)"]
fn profiles_are_cached_by_model_prompt_and_history() {
    let dataset = ml100k();
    let llm = Llm::open(&smollm2(), Dtype::Auto, DeviceChoice::Cpu).unwrap();
    let writer = Writer::new(&llm, TOKENS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prompt = ProfilePrompt::new(None, 120).unwrap();
    let histories: Vec<&[u32]> = (0..3).map(|u| dataset.sequence(u)).collect();

    // The prompt carries the newest items first, as many as the budget allows.
    let shown = prompt
        .history_text(&writer, &dataset, histories[0])
        .unwrap();
    let newest = *histories[0].last().unwrap();
    assert!(
        shown.starts_with(&history_line(&dataset, newest)),
        "{shown}"
    );
    let lines = shown.lines().count();
    assert!(lines > 3 && lines < histories[0].len(), "{lines} lines");

    let mut cache = writer.open_cache(Some(dir.path()));
    let first = write(&writer, &prompt, &dataset, &histories, &mut cache);
    assert_eq!((first.generated, first.from_cache), (3, 0));
    assert!(
        first.texts.iter().all(|t| !t.is_empty()),
        "{:?}",
        first.texts
    );
    assert!(first.tokens > 0 && first.secs > 0.0);

    // Again, and from a cache reopened from disk: nothing written, the same texts.
    let again = write(&writer, &prompt, &dataset, &histories, &mut cache);
    assert_eq!((again.generated, again.from_cache), (0, 3));
    assert_eq!(again.texts, first.texts);
    let mut reopened = writer.open_cache(Some(dir.path()));
    assert_eq!(reopened.len(), 3);
    let read = write(&writer, &prompt, &dataset, &histories, &mut reopened);
    assert_eq!(
        (read.generated, read.texts.clone()),
        (0, first.texts.clone())
    );

    // Another prompt: all written again. Another history for one user: that one only.
    let other =
        ProfilePrompt::new(Some("List the genres this person likes:\n{history}"), 120).unwrap();
    assert_eq!(
        write(&writer, &other, &dataset, &histories, &mut reopened).generated,
        3
    );
    let shorter = &histories[0][..histories[0].len() - 1];
    let changed = [shorter, histories[1], histories[2]];
    let one = write(&writer, &prompt, &dataset, &changed, &mut reopened);
    assert_eq!(one.generated, 1);
    assert_eq!(&one.texts[1..], &first.texts[1..]);

    // A damaged entry is written again — to the same text, decoding being greedy.
    let path = reopened.path().unwrap().to_path_buf();
    let file = std::fs::read_to_string(&path).unwrap();
    let needle = serde_json::to_string(&first.texts[2]).unwrap();
    assert!(file.contains(&needle));
    std::fs::write(&path, file.replacen(&needle, "\"tampered\"", 1)).unwrap();
    let mut damaged = writer.open_cache(Some(dir.path()));
    assert_eq!(damaged.damaged, 1);
    let mended = write(&writer, &prompt, &dataset, &histories, &mut damaged);
    assert_eq!(mended.generated, 1);
    assert_eq!(mended.texts, first.texts);
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct) and RECLAB_DATASETS (ml-100k)"]
fn a_cancelled_run_leaves_the_cache_whole_and_resumes() {
    let dataset = ml100k();
    let llm = Llm::open(&smollm2(), Dtype::Auto, DeviceChoice::Cpu).unwrap();
    let writer = Writer::new(&llm, 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prompt = ProfilePrompt::new(None, 30).unwrap();
    // More users than one batch holds (16), so the cancel falls between batches.
    let histories: Vec<&[u32]> = (0..20).map(|u| dataset.sequence(u)).collect();
    let mut cache = writer.open_cache(Some(dir.path()));
    let mut reports = Vec::new();
    let cancelled = write_profiles(
        &writer,
        &prompt,
        &dataset,
        &histories,
        &mut cache,
        &mut |done, total| {
            reports.push((done, total));
            done == 0
        },
    );
    assert!(matches!(cancelled, Err(LmError::Cancelled)));
    assert_eq!(reports, vec![(0, 20), (16, 20)]);
    let mut reopened = writer.open_cache(Some(dir.path()));
    assert_eq!((reopened.len(), reopened.damaged), (16, 0));
    let rest = write(&writer, &prompt, &dataset, &histories, &mut reopened);
    assert_eq!((rest.generated, rest.from_cache), (4, 16));
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct, all-MiniLM-L6-v2) and RECLAB_DATASETS"]
fn llm_profile_ranks_items_by_the_profile_the_model_wrote() {
    let dataset = ml100k();
    let dir = tempfile::tempdir().unwrap();
    let config = LmConfig {
        lm: models().join("all-MiniLM-L6-v2"),
        user_vector: UserVector::LlmProfile,
        llm: Some(smollm2()),
        device: DeviceChoice::Cpu,
        ..LmConfig::default()
    };
    let model = LmRecommender::fit(&config, &dataset, Some(dir.path())).unwrap();
    assert_eq!(model.name(), "LM (llm-profile)");
    let history = &dataset.sequence(0)[..20];
    let mut scores = vec![0.0f32; dataset.num_items() + 1];
    model.score(
        Query {
            user: Some(0),
            history,
        },
        &mut scores,
    );

    // By hand: the profile the same model writes (now from the cache the fit filled), embedded,
    // against the catalogue's unit vectors.
    let llm = Llm::open(&smollm2(), Dtype::Auto, DeviceChoice::Cpu).unwrap();
    let writer = Writer::new(&llm, reclab::lm::written::profiles::DEFAULT_PROFILE_TOKENS).unwrap();
    let mut cache = writer.open_cache(Some(dir.path()));
    let prompt =
        ProfilePrompt::new(None, reclab::lm::written::profiles::DEFAULT_HISTORY_TOKENS).unwrap();
    let written = write(&writer, &prompt, &dataset, &[history], &mut cache);
    assert_eq!(written.generated, 0, "scoring cached the profile it wrote");
    let embedder = Embedder::open(&config.lm, DeviceChoice::Cpu).unwrap();
    let profile = embedder
        .encode(&written.texts, lm::DEFAULT_BATCH, &mut |_, _| true)
        .unwrap();
    let template = Template::for_dataset(&dataset, None).unwrap();
    let items = lm::embed_items(
        &embedder,
        &dataset,
        &template,
        Some(dir.path()),
        64,
        &mut |_, _| true,
    )
    .unwrap()
    .vectors
    .normalized();
    let user = profile.row(0);
    let norm = lm::vectors::dot(user, user).sqrt();
    for item in [1usize, 50, 181, 1000] {
        let expected = lm::vectors::dot(user, items.row(item)) / norm;
        assert!(
            (scores[item] - expected).abs() < 1e-4,
            "item {item}: {} against {expected}",
            scores[item]
        );
    }
    // Not the history vector's ranking in disguise.
    let history_model = LmRecommender::fit(
        &LmConfig {
            user_vector: UserVector::History,
            ..config.clone()
        },
        &dataset,
        Some(dir.path()),
    )
    .unwrap();
    let mut history_scores = vec![0.0f32; scores.len()];
    history_model.score(
        Query {
            user: Some(0),
            history,
        },
        &mut history_scores,
    );
    assert!(
        scores
            .iter()
            .zip(&history_scores)
            .any(|(a, b)| (a - b).abs() > 1e-3)
    );
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct, all-MiniLM-L6-v2)"]
fn written_item_descriptions_feed_the_item_text_template() {
    use reclab::data::{Preprocessing, SyntheticConfig, load_synthetic};
    use reclab::lm::written::descriptions::{
        DEFAULT_DESCRIPTION_PROMPT, DESCRIPTION_FIELD, write_descriptions,
    };
    use reclab::recommend::describe_items;
    let dataset = load_synthetic(
        &SyntheticConfig {
            users: 60,
            items: 20,
            max_seq_len: 20,
            ..SyntheticConfig::default()
        },
        &Preprocessing::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let template = "{title}. {genres}. {llm_description}";
    let config = LmConfig {
        lm: models().join("all-MiniLM-L6-v2"),
        template: Some(template.to_string()),
        llm: Some(smollm2()),
        device: DeviceChoice::Cpu,
        ..LmConfig::default()
    };
    // Without the generative model the template is refused, saying what is missing.
    let refused = describe_items(
        &LmConfig {
            llm: None,
            ..config.clone()
        },
        &dataset,
        None,
        &mut |_, _| true,
    );
    assert!(matches!(refused, Err(LmError::Template(m)) if m.contains("--llm")));

    let mut seen = Vec::new();
    let augmented = describe_items(&config, &dataset, Some(dir.path()), &mut |done, total| {
        seen.push((done, total));
        true
    })
    .unwrap();
    let items = dataset.num_items();
    assert_eq!(seen.last(), Some(&(items, items)));
    let rendered = Template::parse(template).unwrap();
    for item in 1..=items as u32 {
        let description = &augmented.items[item as usize].fields[DESCRIPTION_FIELD];
        assert!(!description.is_empty(), "item {item}");
        // The template renders it after the item's own fields.
        assert!(
            rendered
                .render(&augmented, item)
                .ends_with(description.as_str())
        );
    }
    // They came from, and went to, the model's text cache: a second pass writes nothing.
    let llm = Llm::open(&smollm2(), Dtype::Auto, DeviceChoice::Cpu).unwrap();
    let writer = Writer::new(
        &llm,
        reclab::lm::written::descriptions::DEFAULT_DESCRIPTION_TOKENS,
    )
    .unwrap();
    let mut cache = writer.open_cache(Some(dir.path()));
    let again = write_descriptions(
        &writer,
        &dataset,
        DEFAULT_DESCRIPTION_PROMPT,
        &mut cache,
        &mut |_, _| true,
    )
    .unwrap();
    assert_eq!((again.generated, again.from_cache), (0, items));

    // The lm model embeds the augmented text: its item vectors differ from the plain template's.
    let with = LmRecommender::fit(&config, &dataset, Some(dir.path())).unwrap();
    let without = LmRecommender::fit(
        &LmConfig {
            template: Some("{title}. {genres}.".into()),
            ..config.clone()
        },
        &dataset,
        Some(dir.path()),
    )
    .unwrap();
    let history = dataset.sequence(0);
    let (mut a, mut b) = (vec![0.0f32; items + 1], vec![0.0f32; items + 1]);
    with.score(
        Query {
            user: Some(0),
            history,
        },
        &mut a,
    );
    without.score(
        Query {
            user: Some(0),
            history,
        },
        &mut b,
    );
    assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3));
}

/// A text-aware SASRec's item vectors with `{llm_description}` in its template: the generative
/// model describes every item first, and each vector is the encoder's vector of the augmented
/// text (checked against the library's steps taken one by one, without the cache); without a
/// generative model the template is refused, naming the field.
#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct, all-MiniLM-L6-v2)"]
fn text_aware_item_vectors_carry_the_llm_descriptions() {
    use reclab::lm::written::descriptions::{
        DEFAULT_DESCRIPTION_PROMPT, DEFAULT_DESCRIPTION_TOKENS, with_descriptions,
        write_descriptions,
    };
    use reclab::model::ItemText;
    use reclab::train::{TrainConfig, item_text_vectors};

    let cache = tempfile::tempdir().unwrap();
    // SAFETY: nextest runs each test in a process of its own, and no other thread of this
    // test reads the environment while it is set; it only redirects the caches.
    unsafe { std::env::set_var("RECLAB_CACHE_DIR", cache.path()) };
    let minilm = models().join("all-MiniLM-L6-v2");
    let template = "{title}. {llm_description}";
    let mut config = TrainConfig {
        device: DeviceChoice::Cpu,
        lm: Some(minilm.clone()),
        item_template: Some(template.into()),
        ..TrainConfig::default()
    };
    config.data.synthetic.users = 30;
    config.data.synthetic.items = 6;
    config.data.synthetic.max_seq_len = 5;
    config.transformer.item_text = ItemText::Frozen;
    let dataset = data::load(&config.data, None).unwrap();

    let refused = item_text_vectors(&dataset, &mut config.clone()).unwrap_err();
    assert!(
        refused.to_string().contains("{llm_description}"),
        "{refused}"
    );

    config.llm = Some(smollm2());
    let vectors = item_text_vectors(&dataset, &mut config).unwrap().unwrap();
    assert_eq!(config.transformer.text_dim, 384);

    let llm = Llm::open(&smollm2(), Dtype::Auto, DeviceChoice::Cpu).unwrap();
    let writer = Writer::new(&llm, DEFAULT_DESCRIPTION_TOKENS).unwrap();
    let written = write_descriptions(
        &writer,
        &dataset,
        DEFAULT_DESCRIPTION_PROMPT,
        &mut writer.open_cache(None),
        &mut |_, _| true,
    )
    .unwrap();
    assert!(written.texts.iter().all(|t| !t.is_empty()));
    let augmented = with_descriptions(&dataset, &written.texts);
    let texts: Vec<String> = (1..=dataset.num_items() as u32)
        .map(|i| {
            Template::for_dataset(&augmented, Some(template))
                .unwrap()
                .render(&augmented, i)
        })
        .collect();
    assert!(texts[0].contains(&written.texts[0]), "{}", texts[0]);
    let embedder = Embedder::open(&minilm, DeviceChoice::Cpu).unwrap();
    let expected = embedder.encode(&texts, 8, &mut |_, _| true).unwrap();
    for (i, row) in expected.rows().enumerate() {
        let got = vectors.row(i + 1);
        assert!(lm::cosine(got, row) > 0.999, "item {}", i + 1);
    }
}
