//! The workbench driven headlessly with egui_kittest: the real panels, real jobs on worker
//! threads, real training and evaluation on the synthetic world.

use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use reclab::app::{AppState, LaunchOptions, ModelChoice, PanelKind, Workbench};
use reclab::data::{self, Split, SplitStrategy};
use reclab::eval::EvalConfig;
use reclab::recommend::BaselineConfig;
use reclab::runs::run_baseline;

fn harness(state: AppState, runs: &Path) -> Harness<'static, Workbench> {
    let options = LaunchOptions {
        runs_root: Some(runs.to_path_buf()),
        fresh_state: true,
        ..LaunchOptions::default()
    };
    Harness::builder()
        .with_size([1400.0, 1000.0])
        .build_eframe(move |cc| Workbench::with_state(&cc.egui_ctx, state, options))
}

/// Steps the app (letting its worker threads run) until `done` holds.
fn step_until(
    harness: &mut Harness<'_, Workbench>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Workbench) -> bool,
) {
    let started = Instant::now();
    while !done(harness.state()) {
        assert!(
            started.elapsed() < timeout,
            "timed out waiting for {what} ({timeout:?})"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    // Two more frames: the first frame of a grid only measures it.
    harness.step();
    harness.step();
}

/// Clicks the widget named `label`, then lets the command apply and the next frame draw.
fn click(harness: &mut Harness<'_, Workbench>, label: &str) {
    harness.get_by_label(label).click();
    harness.step();
    harness.step();
}

fn loaded(harness: &mut Harness<'_, Workbench>) {
    step_until(
        harness,
        "the dataset to load",
        Duration::from_secs(60),
        |app| app.data.loaded.is_some() || app.data.error.is_some(),
    );
    assert!(
        harness.state().data.error.is_none(),
        "{:?}",
        harness.state().data.error
    );
}

/// A SASRec small enough to take a few seconds per epoch here.
fn tiny_sasrec() -> AppState {
    let mut state = AppState::default();
    let config = &mut state.train.transformer;
    config.transformer.hidden = 16;
    config.transformer.inner = 32;
    config.transformer.layers = 1;
    config.transformer.max_len = 20;
    config.batch_size = 64;
    config.epochs = 200;
    config.cutoffs = vec![10];
    state
}

#[test]
fn launches_on_the_synthetic_world_with_its_statistics() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(AppState::default(), runs.path());
    loaded(&mut harness);
    let reference = data::load(&data::LoadSpec::default(), None).unwrap();
    let shown = harness.state().data.loaded.as_ref().unwrap().stats.users;
    assert_eq!(shown, reference.num_users());
    // The statistics grid shows the same numbers.
    harness.get_by_label("Users");
    harness.get_by_label(&reference.num_users().to_string());
    harness.get_by_label(&reference.num_interactions().to_string());
    harness.get_by_label("Item popularity (long tail)");
    harness.check_accessibility();
}

#[test]
fn a_bad_dataset_path_shows_the_error_in_the_panel() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(AppState::default(), runs.path());
    loaded(&mut harness);
    let field = harness.get_by_label("Dataset path");
    field.focus();
    field.type_text("-missing/ratings.csv");
    harness.step();
    click(&mut harness, "Load");
    step_until(
        &mut harness,
        "the load error",
        Duration::from_secs(30),
        |app| app.data.error.is_some(),
    );
    let error = harness.get_by_label_contains("Could not load the dataset");
    let text = format!("{error:?}");
    assert!(text.contains("synthetic-missing"), "{text}");
    // The synthetic world stays loaded: a failed load loses nothing.
    assert!(harness.state().data.loaded.is_some());
}

#[test]
fn training_streams_loss_stops_and_appears_in_compare() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(tiny_sasrec(), runs.path());
    loaded(&mut harness);
    click(&mut harness, "Train");
    click(&mut harness, "Start training");
    step_until(
        &mut harness,
        "loss points",
        Duration::from_secs(120),
        |app| {
            app.training
                .live
                .as_ref()
                .is_some_and(|l| l.losses.len() >= 3)
        },
    );
    let points = harness.state().training.live.as_ref().unwrap().losses.len();
    assert!(
        harness
            .query_by_label_contains("Training loss per batch (")
            .is_some()
    );
    assert!(points >= 3);
    // Cross-entropy over 500 items starts near ln 501 ≈ 6.2.
    let first = harness.state().training.live.as_ref().unwrap().losses[0][1];
    assert!((first - 501f64.ln()).abs() < 0.5, "first loss {first}");
    harness.check_accessibility();

    click(&mut harness, "Stop");
    step_until(
        &mut harness,
        "the training to stop",
        Duration::from_secs(120),
        |app| !app.is_training(),
    );
    let live = harness.state().training.live.as_ref().unwrap();
    assert_eq!(live.status, reclab::app::LiveStatus::Stopped);
    let run_dir = live.run_dir.clone().unwrap();
    assert!(run_dir.join("run.json").exists());

    click(&mut harness, "Compare");
    let run_id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    // Listed on the left and compared (a column headed by its id).
    assert!(
        harness
            .query_by_label_contains(&format!("SASRec · synthetic · {run_id}"))
            .is_some()
    );
    assert!(
        harness.query_by_label(&run_id).is_some(),
        "run id column missing"
    );
    harness.check_accessibility();
}

#[test]
fn two_baseline_runs_side_by_side_and_evaluated() {
    let runs = tempfile::tempdir().unwrap();
    let mut state = AppState::default();
    state.train.transformer.cutoffs = vec![10];
    let mut harness = harness(state, runs.path());
    loaded(&mut harness);
    click(&mut harness, "Train");
    for choice in [ModelChoice::Pop, ModelChoice::ItemKnn] {
        harness.state_mut().state.train.choice = choice;
        harness.step();
        click(&mut harness, "Start training");
        step_until(
            &mut harness,
            "the baseline run",
            Duration::from_secs(120),
            |app| !app.is_training(),
        );
    }
    click(&mut harness, "Compare");
    assert_eq!(harness.state().compare.compared.len(), 2);
    harness.get_by_label("test.ndcg@10");

    // The table's numbers are the evaluator's, computed here independently of the app.
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let config = EvalConfig {
        cutoffs: vec![10],
        ..EvalConfig::default()
    };
    for baseline in [
        BaselineConfig::Pop,
        BaselineConfig::ItemKnn(Default::default()),
    ] {
        let expected = run_baseline(
            &baseline,
            &dataset,
            "synthetic",
            SplitStrategy::LeaveOneOut,
            &config,
            42,
            &|_, _| true,
        )
        .unwrap()
        .test
        .metrics["ndcg@10"];
        assert!(
            harness.query_by_label(&format!("{expected:.4}")).is_some(),
            "{} ndcg@10 {expected:.4} not in the table",
            baseline.name()
        );
    }
    harness.check_accessibility();

    // Evaluate: open the Pop run's model and evaluate it with full ranking.
    click(&mut harness, "Evaluate");
    click(&mut harness, "Open Pop");
    step_until(&mut harness, "the model", Duration::from_secs(60), |app| {
        app.evaluation.model.is_some()
    });
    click(&mut harness, "Run evaluation");
    step_until(
        &mut harness,
        "the evaluation",
        Duration::from_secs(60),
        |app| !app.evaluation.reports.is_empty() || app.evaluation.error.is_some(),
    );
    let report = &harness.state().evaluation.reports[0];
    assert_eq!(report.protocol, "full ranking");
    let split = Split::new(&dataset, SplitStrategy::LeaveOneOut).unwrap();
    let pop = BaselineConfig::Pop.fit(&dataset, &split).unwrap();
    let expected = reclab::eval::evaluate(
        pop.as_ref(),
        &dataset,
        &split,
        reclab::eval::Stage::Test,
        &config,
        &|_, _| true,
    )
    .unwrap()
    .metrics["ndcg@10"];
    assert!((report.metrics["ndcg@10"] - expected).abs() < 1e-12);
    harness.check_accessibility();

    // The User panel lists the opened model's recommendations.
    click(&mut harness, "User");
    let view = harness.state().user.view.as_ref().expect("recommendations");
    assert_eq!(view.list.len(), 10);
    harness.check_accessibility();
}

#[test]
fn every_panel_is_reachable_by_shortcut_and_keeps_labels() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(AppState::default(), runs.path());
    loaded(&mut harness);
    let keys = [
        eframe::egui::Key::Num1,
        eframe::egui::Key::Num2,
        eframe::egui::Key::Num3,
        eframe::egui::Key::Num4,
        eframe::egui::Key::Num5,
        eframe::egui::Key::Num6,
    ];
    for (key, panel) in keys.into_iter().zip(PanelKind::ALL) {
        harness.key_press_modifiers(eframe::egui::Modifiers::COMMAND, key);
        harness.step();
        harness.step();
        assert_eq!(harness.state().state.panel, panel);
        harness.check_accessibility();
    }
    // The theme toggles and the state survives serialisation (eframe persistence).
    let dark = harness.state().state.dark_mode;
    harness.key_press_modifiers(eframe::egui::Modifiers::COMMAND, eframe::egui::Key::T);
    harness.step();
    assert_eq!(harness.state().state.dark_mode, !dark);
    let saved = serde_json::to_string(&harness.state().state).unwrap();
    let restored: AppState = serde_json::from_str(&saved).unwrap();
    assert_eq!(restored, harness.state().state);
}

#[test]
fn the_live_preview_steps_adapts_after_a_click_plays_and_pauses() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(AppState::default(), runs.path());
    loaded(&mut harness);
    click(&mut harness, "Live preview");
    click(&mut harness, "Reset");
    assert!(
        harness.state().live.preview.is_some(),
        "{:?}",
        harness.state().live.error
    );
    // Step until the adaptive (left) side records a click, then check the next page changed.
    let mut adapted = false;
    for _ in 0..20 {
        let before = harness.state().live.preview.as_ref().unwrap().sides[0]
            .last
            .clone();
        click(&mut harness, "Step");
        let preview = harness.state().live.preview.as_ref().unwrap();
        let side = &preview.sides[0];
        if let Some(previous) = before
            && previous.choice.clicked.is_some()
        {
            let now = &side.last.as_ref().unwrap().page;
            assert_ne!(&previous.page, now, "the page did not change after a click");
            adapted = true;
            break;
        }
    }
    assert!(adapted, "no click in 20 pages");
    harness.check_accessibility();

    // Play: pages advance on their own; Pause: they stop.
    harness.state_mut().state.preview_speed = 20.0;
    click(&mut harness, "Play");
    let start = harness.state().live.preview.as_ref().unwrap().sides[0].pages;
    step_until(
        &mut harness,
        "pages to advance",
        Duration::from_secs(30),
        |app| app.live.preview.as_ref().unwrap().sides[0].pages >= start + 3,
    );
    click(&mut harness, "Pause");
    let paused_at = harness.state().live.preview.as_ref().unwrap().sides[0].pages;
    for _ in 0..10 {
        harness.step();
        std::thread::sleep(Duration::from_millis(60));
    }
    assert_eq!(
        harness.state().live.preview.as_ref().unwrap().sides[0].pages,
        paused_at
    );

    // A/B in the background: the result is a run that appears in Compare.
    harness.state_mut().state.ab_users = 50;
    click(&mut harness, "Run A/B");
    step_until(
        &mut harness,
        "the A/B run",
        Duration::from_secs(60),
        |app| app.live.ab_report.is_some(),
    );
    assert_eq!(
        harness
            .state()
            .live
            .ab_report
            .as_ref()
            .unwrap()
            .outcomes
            .len(),
        2
    );
    assert_eq!(harness.state().compare.compared.len(), 1);
    harness.check_accessibility();
}

/// The shared all-MiniLM-L6-v2 folder (`$RECLAB_MODELS`).
fn minilm() -> String {
    let root = std::env::var_os("RECLAB_MODELS")
        .expect("set RECLAB_MODELS to the folder that holds all-MiniLM-L6-v2/");
    Path::new(&root)
        .join("all-MiniLM-L6-v2")
        .display()
        .to_string()
}

fn ml100k_state() -> AppState {
    let root = std::env::var_os("RECLAB_DATASETS")
        .expect("set RECLAB_DATASETS to the folder that holds ml-100k/");
    AppState {
        dataset: data::LoadSpec::new(Path::new(&root).join("ml-100k").display().to_string()),
        ..AppState::default()
    }
}

/// Types the model folder into the Data panel, presses Embed and waits for the vectors.
fn embed_with_minilm(harness: &mut Harness<'_, Workbench>) {
    let field = harness.get_by_label("Language model folder");
    field.focus();
    field.type_text(&minilm());
    harness.step();
    click(harness, "Embed");
    step_until(
        harness,
        "the catalogue to be embedded",
        Duration::from_secs(600),
        |app| {
            !app.is_embedding()
                && (app.language.catalogue.is_some() || app.language.error.is_some())
        },
    );
    assert!(
        harness.state().language.error.is_none(),
        "{:?}",
        harness.state().language.error
    );
}

#[test]
#[ignore = "needs RECLAB_MODELS and RECLAB_DATASETS (MiniLM, ML-100K)"]
fn the_data_panel_embeds_searches_and_maps_the_catalogue() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(ml100k_state(), runs.path());
    loaded(&mut harness);
    let dataset = harness
        .state()
        .data
        .loaded
        .as_ref()
        .unwrap()
        .dataset
        .clone();

    // The template's live preview shows the most popular film's text (Star Wars, 583 ratings).
    let template = reclab::lm::Template::default_for(&dataset);
    let star_wars = (1..=dataset.num_items() as u32)
        .find(|&i| dataset.item_label(i) == "Star Wars")
        .unwrap();
    let text = template.render(&dataset, star_wars);
    assert!(text.starts_with("Star Wars (1977). Action"), "{text}");
    harness.get_by_label_contains(&text);
    // A template naming a field the items lack is explained in place.
    let path = dataset_path(&harness);
    harness
        .state_mut()
        .state
        .item_templates
        .insert(path, "{title} by {director}".into());
    harness.step();
    harness.get_by_label_contains("no item has a field `director`");
    click(&mut harness, "Default");

    embed_with_minilm(&mut harness);
    let language = harness.state().language.catalogue.clone().unwrap();
    assert_eq!(language.items.len(), dataset.num_items() + 1);
    assert_eq!(language.items.dim(), 384);
    harness.get_by_label_contains("1682 items × 384 dims");

    // Semantic search as you type: the titles nearest to the words, as the encoder ranks them.
    let field = harness.get_by_label("Semantic search");
    field.focus();
    field.type_text("Toy Story");
    harness.step();
    harness.step();
    let results = harness.state().language.search_results.clone();
    assert_eq!(results.len(), 10);
    assert_eq!(dataset.item_label(results[0].0), "Toy Story");
    let embedder = reclab::lm::Embedder::open(minilm(), reclab::train::DeviceChoice::Cpu).unwrap();
    let query = embedder.encode_one("Toy Story").unwrap();
    let mut expected: Vec<(u32, f32)> = (1..=dataset.num_items() as u32)
        .map(|i| {
            let item = language.items.row(i as usize);
            (i, reclab::lm::cosine(&query, item))
        })
        .collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for ((item, sim), (want, want_sim)) in results.iter().zip(&expected) {
        assert_eq!(item, want);
        assert!((sim - want_sim).abs() < 1e-4);
    }
    harness.get_by_label(&format!("{:.3}", results[0].1));

    // The map: every item placed, spread over both axes; a selected item opens with its text
    // and neighbours; the history path can be drawn.
    assert_eq!(language.map.len(), dataset.num_items());
    for axis in 0..2 {
        let spread = language
            .map
            .iter()
            .map(|p| p[axis].abs())
            .fold(0.0, f32::max);
        assert!(spread > 0.05, "axis {axis}: {spread}");
    }
    harness.get_by_label("Item map");
    harness
        .state_mut()
        .send(reclab::app::Command::SelectItem(star_wars));
    harness.step();
    harness.step();
    harness.get_by_label("Nearest by meaning:");
    harness.get_by_label_contains(&format!("Text: {text}"));
    click(&mut harness, "Show user 0's history as a path");
    assert!(harness.state().state.map_history);
    harness.check_accessibility();
}

fn dataset_path(harness: &Harness<'_, Workbench>) -> String {
    harness
        .state()
        .data
        .loaded
        .as_ref()
        .unwrap()
        .spec
        .path
        .clone()
}

#[test]
#[ignore = "needs RECLAB_MODELS and RECLAB_DATASETS (MiniLM, ML-100K)"]
fn words_rerank_the_storefront_and_set_the_persona() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(ml100k_state(), runs.path());
    loaded(&mut harness);
    embed_with_minilm(&mut harness);
    let dataset = harness
        .state()
        .data
        .loaded
        .as_ref()
        .unwrap()
        .dataset
        .clone();
    click(&mut harness, "Live preview");
    click(&mut harness, "Reset");

    let request = "a funny animated film for children";
    let field = harness.get_by_label("Tell the storefront");
    field.focus();
    field.type_text(request);
    harness.step();
    click(&mut harness, "Ask");
    let preview = harness.state().live.preview.as_ref().unwrap();
    assert!(
        preview.last_request.is_some(),
        "{:?}",
        harness.state().live.error
    );
    // The adaptive page (greedy, left) leads with the request's row; the static page does not.
    let page = &preview.sides[0].last.as_ref().unwrap().page;
    let row = &page.rows[0];
    assert_eq!(row.kind, reclab::sim::RowKind::BecauseYouAsked);
    let wanted = ["Animation", "Children's", "Comedy"];
    let matching = row
        .items
        .iter()
        .filter(|&&i| {
            dataset
                .item_category_names(i)
                .iter()
                .any(|g| wanted.contains(&&**g))
        })
        .count();
    assert!(
        matching * 3 >= row.items.len() * 2,
        "{matching} of {} asked-for films are animation, children's or comedy",
        row.items.len()
    );
    let static_page = &preview.sides[1].last.as_ref().unwrap().page;
    assert!(
        static_page
            .rows
            .iter()
            .all(|r| r.kind != reclab::sim::RowKind::BecauseYouAsked)
    );
    harness.get_by_label(&format!("Because you asked for “{request}”"));
    harness.get_by_label_contains("last request: embedding");
    // The next page keeps the request.
    click(&mut harness, "Step");
    let page = &harness.state().live.preview.as_ref().unwrap().sides[0]
        .last
        .as_ref()
        .unwrap()
        .page;
    assert_eq!(page.rows[0].kind, reclab::sim::RowKind::BecauseYouAsked);

    // A persona in words becomes the hidden taste: horror first.
    let field = harness.get_by_label("Persona");
    field.focus();
    field.type_text("a teenager who loves horror movies");
    harness.step();
    click(&mut harness, "Set persona");
    let taste = harness.state().live.preview.as_ref().unwrap().sides[0]
        .taste()
        .to_vec();
    let top = (0..taste.len())
        .max_by(|&a, &b| taste[a].total_cmp(&taste[b]))
        .unwrap();
    assert_eq!(dataset.category_names[top], "Horror", "{taste:?}");
    assert!((taste.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    harness.get_by_label("persona: a teenager who loves horror movies");
    harness.check_accessibility();
}

#[test]
#[ignore = "needs RECLAB_MODELS and RECLAB_DATASETS (MiniLM, ML-100K)"]
fn the_lm_recommender_trains_from_the_app_and_the_user_panel_compares_it() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(ml100k_state(), runs.path());
    loaded(&mut harness);
    embed_with_minilm(&mut harness);

    // The User panel: the profile text and the lm's top 10 beside the opened model's.
    click(&mut harness, "User");
    harness.get_by_label("Profile text (what the language model is told)");
    harness.get_by_label("LM (history vector): top 10");

    // The Train panel fits `lm` with the Data panel's model folder; its run is saved.
    harness.state_mut().state.train.choice = ModelChoice::Lm;
    click(&mut harness, "Train");
    click(&mut harness, "Start training");
    step_until(
        &mut harness,
        "the lm run",
        Duration::from_secs(600),
        |app| !app.is_training(),
    );
    let runs_listed = &harness.state().compare.listed;
    assert_eq!(runs_listed.len(), 1, "{:?}", harness.state().status);
    let run = runs_listed[0].run.as_ref().unwrap();
    assert_eq!(run.model.name, "LM (history)");
    // The same figure the CLI gives for `eval --model lm` on ML-100K (README): NDCG@10 0.0165.
    let ndcg = run.test_metrics["ndcg@10"];
    assert!((ndcg - 0.0165).abs() < 5e-4, "{ndcg}");
    // Opened, it shows in the User panel with the overlap of the two lists (identical here).
    let dir = runs_listed[0].dir.clone();
    harness
        .state_mut()
        .send(reclab::app::Command::OpenModel(dir));
    step_until(
        &mut harness,
        "the model to open",
        Duration::from_secs(120),
        |app| app.evaluation.model.is_some(),
    );
    click(&mut harness, "User");
    harness.get_by_label("Overlap with the model's top 10: 10 items");
}

#[test]
fn a_folder_that_is_no_usable_model_shows_its_error_and_keeps_the_data() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(AppState::default(), runs.path());
    loaded(&mut harness);
    click(&mut harness, "Embed");
    harness.get_by_label_contains("choose a language model folder");

    let folder = tempfile::tempdir().unwrap();
    let gpt2 = folder.path().join("gpt2");
    std::fs::create_dir(&gpt2).unwrap();
    std::fs::write(
        gpt2.join("config.json"),
        r#"{"model_type": "gpt2", "n_embd": 768}"#,
    )
    .unwrap();
    for (dir, expected) in [(folder.path().to_path_buf(), "config.json"), (gpt2, "gpt2")] {
        harness.state_mut().state.lm_dir = dir.display().to_string();
        click(&mut harness, "Embed");
        step_until(
            &mut harness,
            "the embedding to fail",
            Duration::from_secs(30),
            |app| !app.is_embedding(),
        );
        let error = harness.get_by_label_contains("Language model:");
        let text = format!("{error:?}");
        assert!(text.contains(expected), "{text}");
        assert!(harness.state().language.catalogue.is_none());
        assert!(
            harness.state().data.loaded.is_some(),
            "the dataset stays loaded"
        );
    }
}

#[test]
fn a_dropped_model_folder_becomes_the_language_model_not_a_dataset() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(AppState::default(), runs.path());
    loaded(&mut harness);
    let folder = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::write(folder.path().join(file), "{}").unwrap();
    }
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(folder.path().to_path_buf())));
    harness.step();
    harness.step();
    let app = harness.state();
    assert_eq!(app.state.lm_dir, folder.path().display().to_string());
    assert!(
        !app.is_loading(),
        "a model folder is not loaded as a dataset"
    );
    assert_eq!(app.data.loaded.as_ref().unwrap().stats.name, "synthetic");
    // The field shows it.
    harness.get_by_label("Language model folder");
}

/// A folder dropped on the window, as the windowing integration hands it to egui.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl eframe::egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("a folder has no bytes".into())
    }
}

/// Two seeds of a tiny SASRec (one group) and ItemKNN, on the synthetic world.
fn grouped_runs(root: &Path) -> Vec<std::path::PathBuf> {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let mut dirs = Vec::new();
    let knn = run_baseline(
        &BaselineConfig::ItemKnn(Default::default()),
        &dataset,
        "synthetic",
        SplitStrategy::LeaveOneOut,
        &EvalConfig::default(),
        42,
        &|_, _| true,
    )
    .unwrap();
    dirs.push(knn.run.save(root).unwrap());
    for seed in [1, 2] {
        let mut config = tiny_sasrec().train.transformer;
        config.epochs = 3;
        config.seed = seed;
        config.group = Some("sasrec-seeds".into());
        config.device = reclab::train::DeviceChoice::Cpu;
        let outcome = reclab::train::train_on_chosen_device(
            &dataset,
            &config,
            root,
            None,
            Arc::new(AtomicBool::new(false)),
            &mut |_| {},
        )
        .unwrap();
        dirs.push(outcome.run_dir);
    }
    dirs
}

#[test]
fn compare_shows_paired_tests_a_seed_band_and_a_sweep() {
    let runs = tempfile::tempdir().unwrap();
    let dirs = grouped_runs(runs.path());
    let state = AppState {
        panel: PanelKind::Compare,
        compared: dirs.clone(),
        ..AppState::default()
    };
    let mut harness = harness(state, runs.path());
    loaded(&mut harness);
    step_until(
        &mut harness,
        "the paired tests",
        Duration::from_secs(60),
        |app| app.compare.paired.is_some() && !app.is_testing_pairs(),
    );
    let report = match &harness.state().compare.paired.as_ref().unwrap().1 {
        Ok(report) => report.clone(),
        Err(e) => panic!("{e}"),
    };
    // ItemKNN is A; the two SASRec seeds are one arm, B.
    assert_eq!(report.arms.len(), 2);
    assert_eq!(report.arms[1].runs.len(), 2);
    assert_eq!(report.rows.len(), 2);
    harness.get_by_label("Is B better than A?");
    harness.get_by_label_contains("Paired tests against");
    harness.get_by_label_contains("(SASRec, 2 seeds)");
    harness.get_by_label("Wilcoxon p");
    let shown = format!("{:+.4}", report.rows[0].test.mean_difference);
    assert!(
        !harness
            .get_all_by_label(&shown)
            .collect::<Vec<_>>()
            .is_empty()
    );

    // The group's curves: one mean line with a band, the mean of the two runs at each epoch.
    let files: Vec<reclab::runs::RunFile> = dirs
        .iter()
        .map(|d| reclab::runs::RunFile::load(d).unwrap())
        .collect();
    let series = reclab::app::curve_series(&files, "valid_ndcg@10", 0.0);
    assert_eq!(
        series.len(),
        1,
        "ItemKNN has no curves; the group is one line"
    );
    let (name, mean, band) = &series[0];
    assert!(name.contains("(2 seeds)"), "{name}");
    let values = |run: &reclab::runs::RunFile| run.curves["valid_ndcg@10"][0].value;
    assert!((mean[0][1] - (values(&files[1]) + values(&files[2])) / 2.0).abs() < 1e-12);
    assert_eq!(band.as_ref().unwrap().len(), 2 * mean.len());

    // A sweep of two ItemKNN trials opens as a table; a trial opens as a model.
    let sweep_dir = runs.path().join("sweep");
    let file = format!(
        "model = \"itemknn\"\n[data]\npath = \"synthetic\"\n[sweep]\nkind = \"eval\"\nout = \"{}\"\nneighbours = [5, 50]\n",
        sweep_dir.display()
    );
    let sweep = reclab::sweep::Sweep::parse(&file, Path::new("sweep.toml")).unwrap();
    let state = reclab::sweep::run_sweep(
        &sweep,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        &mut |_| {},
    )
    .unwrap();
    let best = reclab::sweep::best(&state).unwrap().index;
    harness
        .state_mut()
        .send(reclab::app::Command::OpenSweep(sweep_dir));
    harness.step();
    harness.step();
    harness.get_by_label_contains("Sweep ");
    harness.get_by_label(&format!("{best} (best)"));
    harness.get_by_label("valid ndcg@10 vs neighbours");
    click(&mut harness, &format!("Open trial {best} as model"));
    step_until(
        &mut harness,
        "the trial's model",
        Duration::from_secs(60),
        |app| app.evaluation.model.is_some() || app.evaluation.model_error.is_some(),
    );
    assert!(
        harness.state().evaluation.model.is_some(),
        "{:?}",
        harness.state().evaluation.model_error
    );
}

/// Drops `path` on the window (as the windowing integration does).
fn drop_on_window(harness: &mut Harness<'_, Workbench>, path: &Path) {
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.to_path_buf())));
    harness.step();
}

#[test]
fn hostile_files_dropped_on_the_data_panel_show_their_error_and_keep_the_data() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(AppState::default(), runs.path());
    loaded(&mut harness);
    let files = tempfile::tempdir().unwrap();
    let dir = files.path();
    std::fs::write(dir.join("empty.csv"), b"").unwrap();
    let binary: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("binary.csv"), &binary).unwrap();
    // 100 MB on one line: no newline anywhere.
    let line = vec![b'7'; 100 * 1024 * 1024];
    std::fs::write(dir.join("one-line.csv"), &line).unwrap();
    // Latin-1 where UTF-8 is expected: "Café" with é as the single byte 0xE9.
    let mut latin1 = b"user_id,item_id,timestamp\n1,Caf".to_vec();
    latin1.extend_from_slice(&[0xE9]);
    latin1.extend_from_slice(b",3\n2,Tea,4\n");
    std::fs::write(dir.join("latin1.csv"), &latin1).unwrap();
    std::fs::create_dir(dir.join("nothing-known")).unwrap();
    std::fs::write(dir.join("nothing-known/notes.txt"), b"hello").unwrap();
    for name in [
        "empty.csv",
        "binary.csv",
        "one-line.csv",
        "latin1.csv",
        "nothing-known",
    ] {
        let started = Instant::now();
        drop_on_window(&mut harness, &dir.join(name));
        // The window keeps drawing while the file is read on a worker.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name}: a frame took {:?}",
            started.elapsed()
        );
        step_until(
            &mut harness,
            &format!("{name} to fail"),
            Duration::from_secs(120),
            |app| !app.is_loading(),
        );
        let app = harness.state();
        let error = app
            .data
            .error
            .clone()
            .unwrap_or_else(|| panic!("{name} loaded without an error"));
        assert!(
            error.contains(name),
            "{name}: the error names the file: {error}"
        );
        assert_eq!(
            app.data.loaded.as_ref().unwrap().stats.name,
            "synthetic",
            "{name}: the loaded dataset stays"
        );
        harness.get_by_label_contains("Could not load the dataset");
        if name == "one-line.csv" {
            assert!(error.contains("no data rows"), "{error}");
        }
        eprintln!("{name}: {error}");
    }
}

#[test]
fn hostile_run_folders_in_compare_show_their_error_and_keep_the_open_runs() {
    let runs = tempfile::tempdir().unwrap();
    let dataset = data::load(&data::LoadSpec::default(), None).unwrap();
    let good = run_baseline(
        &BaselineConfig::Pop,
        &dataset,
        "synthetic",
        SplitStrategy::LeaveOneOut,
        &EvalConfig::default(),
        42,
        &|_, _| true,
    )
    .unwrap()
    .run
    .save(runs.path())
    .unwrap();
    let hostile = tempfile::tempdir().unwrap();
    let folder = |name: &str, content: &[u8]| {
        let dir = hostile.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("run.json"), content).unwrap();
        dir
    };
    let cases = [
        (folder("empty", b""), "run.json"),
        (
            folder("binary", &[0xff, 0x00, 0x13, 0x37, 0xfe]),
            "run.json",
        ),
        (
            folder("newer", br#"{"schema_version": 99, "run_id": "x"}"#),
            "update reclab",
        ),
    ];
    let state = AppState {
        panel: PanelKind::Compare,
        compared: vec![good.clone()],
        ..AppState::default()
    };
    let mut harness = harness(state, runs.path());
    loaded(&mut harness);
    for (dir, expected) in &cases {
        harness.state_mut().send(reclab::app::Command::CompareRun {
            dir: dir.clone(),
            include: true,
        });
        harness.step();
        harness.step();
        let label = dir.display().to_string();
        let shown: Vec<String> = harness
            .get_all_by_label_contains(&label)
            .map(|node| format!("{node:?}"))
            .collect();
        assert!(shown.iter().any(|t| t.contains(expected)), "{shown:?}");
    }
    // The good run is still open and compared.
    let app = harness.state();
    assert!(
        app.compare
            .compared
            .iter()
            .any(|c| c.dir == good && c.run.is_ok())
    );
    assert_eq!(app.compare.compared.len(), 4);
}

/// The shared SmolLM2-135M-Instruct GGUF (`$RECLAB_MODELS`).
fn smollm2_gguf() -> std::path::PathBuf {
    let root = std::env::var_os("RECLAB_MODELS")
        .expect("set RECLAB_MODELS to the folder that holds SmolLM2-135M-Instruct/");
    Path::new(&root).join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

#[test]
#[ignore = "needs RECLAB_DATASETS (ml-100k) and RECLAB_MODELS (SmolLM2-135M-Instruct)"]
fn the_user_panel_streams_a_written_profile_then_reads_it_from_the_cache() {
    use reclab::lm::decoder::{Dtype, Llm};
    use reclab::lm::written::Writer;
    use reclab::lm::written::profiles::{
        DEFAULT_HISTORY_TOKENS, DEFAULT_PROFILE_TOKENS, ProfilePrompt, write_profiles,
    };
    let runs = tempfile::tempdir().unwrap();
    // A prompt no earlier run has cached (it names this test's folder), so the profile must
    // be written now, and streamed.
    let prompt = format!(
        "Here is what a person chose recently, newest first:\n{{history}}\n\n\
         In one or two sentences, describe this person's taste. (Run {})",
        runs.path().display()
    );
    let mut state = ml100k_state();
    state.panel = PanelKind::User;
    state.user = 3;
    state.profile_prompt = prompt.clone();
    let mut harness = harness(state, runs.path());
    loaded(&mut harness);
    // A dropped .gguf becomes the generative model, not a dataset.
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(smollm2_gguf())));
    harness.step();
    harness.step();
    assert_eq!(
        harness.state().state.llm_path,
        smollm2_gguf().display().to_string()
    );
    assert!(!harness.state().is_loading());

    click(&mut harness, "Write profile");
    let done = |app: &Workbench| app.generative.profile.as_ref().is_some_and(|p| p.done);
    step_until(
        &mut harness,
        "the written profile",
        Duration::from_secs(300),
        done,
    );
    let app = harness.state();
    assert!(app.generative.error.is_none(), "{:?}", app.generative.error);
    let profile = app.generative.profile.as_ref().unwrap();
    assert_eq!(profile.user, 3);
    assert!(!profile.from_cache);
    assert!(profile.pieces > 1, "streamed in {} pieces", profile.pieces);
    let shown = profile.text.clone();
    assert!(!shown.is_empty());
    harness.get_by_label(&shown);

    // The library writes the same profile for the same history and prompt (greedy decoding),
    // here without any cache.
    let dataset = harness
        .state()
        .data
        .loaded
        .as_ref()
        .unwrap()
        .dataset
        .clone();
    let llm = Llm::open(
        &smollm2_gguf(),
        Dtype::Auto,
        reclab::device::DeviceChoice::Cpu,
    )
    .unwrap();
    let writer = Writer::new(&llm, DEFAULT_PROFILE_TOKENS).unwrap();
    let checked = ProfilePrompt::new(Some(&prompt), DEFAULT_HISTORY_TOKENS).unwrap();
    let mut memory_only = writer.open_cache(None);
    let expected = write_profiles(
        &writer,
        &checked,
        &dataset,
        &[dataset.sequence(3)],
        &mut memory_only,
        &mut |_, _| true,
    )
    .unwrap();
    assert_eq!(expected.texts[0], shown);

    // Again: from the cache, at once and whole.
    click(&mut harness, "Write profile");
    step_until(
        &mut harness,
        "the cached profile",
        Duration::from_secs(60),
        done,
    );
    let profile = harness.state().generative.profile.as_ref().unwrap();
    assert!(profile.from_cache);
    assert_eq!(profile.pieces, 0);
    assert_eq!(profile.text, shown);
    harness.get_by_label("from the cache");
}

#[test]
#[ignore = "needs RECLAB_DATASETS (ml-100k) and RECLAB_MODELS (SmolLM2-135M-Instruct)"]
fn why_this_explains_a_recommendation_from_the_evidence_it_shows() {
    use reclab::lm::decoder::{Dtype, Llm};
    use reclab::lm::written::Writer;
    use reclab::lm::written::explanations::{
        DEFAULT_EXPLANATION_TOKENS, evidence, explanation_request,
    };
    let runs = tempfile::tempdir().unwrap();
    let mut state = ml100k_state();
    let dataset = data::load(&state.dataset, None).unwrap();
    let pop = run_baseline(
        &BaselineConfig::Pop,
        &dataset,
        &state.dataset.path,
        SplitStrategy::LeaveOneOut,
        &EvalConfig::default(),
        42,
        &|_, _| true,
    )
    .unwrap()
    .run
    .save(runs.path())
    .unwrap();
    state.panel = PanelKind::User;
    state.user = 5;
    state.llm_path = smollm2_gguf().display().to_string();
    let mut harness = harness(state, runs.path());
    loaded(&mut harness);
    harness
        .state_mut()
        .send(reclab::app::Command::OpenModel(pop));
    step_until(
        &mut harness,
        "the model to open",
        Duration::from_secs(120),
        |app| app.evaluation.model.is_some(),
    );
    let first = harness.state().user.view.as_ref().unwrap().list[0].0;
    harness
        .get_all_by_label("Why this?")
        .next()
        .unwrap()
        .click();
    harness.step();
    harness.step();
    step_until(
        &mut harness,
        "the explanation",
        Duration::from_secs(300),
        |app| {
            app.generative
                .explanation
                .as_ref()
                .is_some_and(|e| e.written.done)
        },
    );
    let app = harness.state();
    assert!(app.generative.error.is_none(), "{:?}", app.generative.error);
    let explanation = app.generative.explanation.as_ref().unwrap();
    assert_eq!((explanation.user, explanation.item), (5, first));
    // Pop attends to nothing: the evidence is the user's three newest items, shown as given.
    let history = dataset.sequence(5);
    assert_eq!(explanation.evidence, evidence(history, &[]));
    assert_eq!(
        explanation.evidence,
        history.iter().rev().take(3).copied().collect::<Vec<_>>()
    );
    let written = &explanation.written;
    // Written now it streamed; an earlier run may have cached it.
    assert!(written.from_cache || written.pieces > 1);
    let text = written.text.clone();
    let evidence_items = explanation.evidence.clone();
    harness.get_by_label(&text);
    harness.get_by_label("Evidence given to the generative model:");

    // The library, without any cache, writes the same explanation from the same evidence.
    let llm = Llm::open(
        &smollm2_gguf(),
        Dtype::Auto,
        reclab::device::DeviceChoice::Cpu,
    )
    .unwrap();
    let writer = Writer::new(&llm, DEFAULT_EXPLANATION_TOKENS).unwrap();
    let prompt = writer
        .chat(&explanation_request(&dataset, &evidence_items, first))
        .unwrap();
    let (expected, cached) = writer
        .write_streaming(&prompt, &mut writer.open_cache(None), &mut |_| true)
        .unwrap();
    assert!(!cached);
    assert_eq!(expected, text);
}

#[test]
#[ignore = "needs RECLAB_DATASETS (ml-100k) and RECLAB_MODELS (MiniLM, SmolLM2-135M-Instruct)"]
fn the_generative_route_streams_the_described_item_into_the_live_preview_and_why_this_explains_a_card()
 {
    use reclab::lm::decoder::{Dtype, Llm};
    use reclab::lm::written::Writer;
    use reclab::lm::written::hypothetical::{HYPOTHETICAL_TOKENS, hypothetical_request};
    let runs = tempfile::tempdir().unwrap();
    let mut state = ml100k_state();
    state.llm_path = smollm2_gguf().display().to_string();
    let mut harness = harness(state, runs.path());
    loaded(&mut harness);
    embed_with_minilm(&mut harness);
    click(&mut harness, "Live preview");
    click(&mut harness, "Reset");

    // A comment no earlier run has cached (it names this test's folder): written now, streamed.
    let comment = format!(
        "something funny for the kids tonight (run {})",
        runs.path().display()
    );
    let field = harness.get_by_label("Tell the storefront");
    field.focus();
    field.type_text(&comment);
    harness.step();
    click(&mut harness, "describe it first");
    assert!(harness.state().state.request_llm);
    click(&mut harness, "Ask");
    let done = |app: &Workbench| {
        app.generative
            .described
            .as_ref()
            .is_some_and(|d| d.written.done)
    };
    // The description streams into the panel before the page changes.
    step_until(
        &mut harness,
        "the first written piece",
        Duration::from_secs(120),
        |app| {
            app.generative
                .described
                .as_ref()
                .is_some_and(|d| d.written.pieces > 0)
        },
    );
    if !done(harness.state()) {
        assert!(
            harness
                .state()
                .live
                .preview
                .as_ref()
                .unwrap()
                .last_request
                .is_none()
        );
        harness.get_by_label_contains("The generative model describes what");
    }
    step_until(
        &mut harness,
        "the description",
        Duration::from_secs(300),
        done,
    );
    let app = harness.state();
    assert!(app.generative.error.is_none(), "{:?}", app.generative.error);
    let described = app.generative.described.as_ref().unwrap();
    assert!(
        described.written.pieces > 1,
        "{} pieces",
        described.written.pieces
    );
    let text = described.written.text.clone();
    harness.get_by_label(&text);

    // The page was re-laid with the request's row, ranked by the description's vector.
    let preview = harness.state().live.preview.as_ref().unwrap();
    let timing = preview.last_request.unwrap();
    assert!(timing.write_secs > 0.0 && timing.embed_secs > 0.0);
    let row = &preview.sides[0].last.as_ref().unwrap().page.rows[0];
    assert_eq!(row.kind, reclab::sim::RowKind::BecauseYouAsked);
    let language = harness.state().language.catalogue.clone().unwrap();
    let (expected, _) = language.request_described(&comment, &text, 0.5).unwrap();
    let nearest = reclab::app::top(&expected.similarity, 1, &[])[0].0;
    let request = preview.sides[0].request().unwrap();
    assert_eq!(request.similarity, expected.similarity);
    assert!(row.items.len() > 1 && expected.similarity[nearest as usize] > 0.0);
    harness.get_by_label_contains("last request: writing");

    // The library writes the same description (greedy decoding), without any cache.
    let llm = Llm::open(
        &smollm2_gguf(),
        Dtype::Auto,
        reclab::device::DeviceChoice::Cpu,
    )
    .unwrap();
    let writer = Writer::new(&llm, HYPOTHETICAL_TOKENS).unwrap();
    let prompt = writer.chat(&hypothetical_request(&comment)).unwrap();
    let (again, cached) = writer
        .write_streaming(&prompt, &mut writer.open_cache(None), &mut |_| true)
        .unwrap();
    assert!(!cached);
    assert_eq!(again, text);

    // Why this? explains the adaptive page's first card, from evidence shown beside it.
    let first = {
        let page = &harness.state().live.preview.as_ref().unwrap().sides[0]
            .last
            .as_ref()
            .unwrap()
            .page;
        page.hero.unwrap_or(page.rows[0].items[0])
    };
    click(&mut harness, "Why this?");
    step_until(
        &mut harness,
        "the explanation",
        Duration::from_secs(300),
        |app| {
            app.generative
                .explanation
                .as_ref()
                .is_some_and(|e| e.written.done)
        },
    );
    let explanation = harness.state().generative.explanation.as_ref().unwrap();
    assert_eq!(explanation.item, first);
    assert!(!explanation.evidence.is_empty());
    let written = explanation.written.text.clone();
    harness.get_by_label(&written);
    harness.get_by_label("Evidence given to the generative model:");
}

#[test]
#[ignore = "needs RECLAB_MODELS (MiniLM, SmolLM2-135M-Instruct)"]
fn embedding_a_template_with_llm_description_describes_the_items_first() {
    use reclab::lm::decoder::{Dtype, Llm};
    use reclab::lm::written::Writer;
    use reclab::lm::written::descriptions::{
        DEFAULT_DESCRIPTION_PROMPT, DEFAULT_DESCRIPTION_TOKENS, with_descriptions,
        write_descriptions,
    };
    let runs = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    // SAFETY: nextest runs each test in a process of its own, and the workbench's threads are
    // not started yet; it only redirects the caches.
    unsafe { std::env::set_var("RECLAB_CACHE_DIR", cache.path()) };
    let mut state = AppState::default();
    state.dataset.synthetic.users = 30;
    state.dataset.synthetic.items = 6;
    state.dataset.synthetic.max_seq_len = 5;
    state.llm_path = smollm2_gguf().display().to_string();
    let template = "{title}. {llm_description}";
    state
        .item_templates
        .insert(state.dataset.path.clone(), template.to_string());
    let mut harness = harness(state, runs.path());
    loaded(&mut harness);
    embed_with_minilm(&mut harness);
    let app = harness.state();
    assert!(app.language.error.is_none(), "{:?}", app.language.error);
    let language = app.language.catalogue.clone().unwrap();
    let dataset = app.data.loaded.as_ref().unwrap().dataset.clone();

    // The texts embedded are the titles with the descriptions the library writes.
    let llm = Llm::open(
        &smollm2_gguf(),
        Dtype::Auto,
        reclab::device::DeviceChoice::Cpu,
    )
    .unwrap();
    let writer = Writer::new(&llm, DEFAULT_DESCRIPTION_TOKENS).unwrap();
    let written = write_descriptions(
        &writer,
        &dataset,
        DEFAULT_DESCRIPTION_PROMPT,
        &mut writer.open_cache(None),
        &mut |_, _| true,
    )
    .unwrap();
    let augmented = with_descriptions(&dataset, &written.texts);
    let expected = reclab::lm::Template::for_dataset(&augmented, Some(template))
        .unwrap()
        .render_all(&augmented);
    assert_eq!(language.texts, expected);
    assert!(
        language.texts[1].contains(&written.texts[0]),
        "{:?}",
        language.texts
    );
}

/// The Compare panel follows a sweep that runs elsewhere (a Slurm array writing into a folder
/// this machine mounts): trials appear as they finish, and unfinished ones show their state.
#[test]
fn the_compare_panel_follows_a_running_sweep() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("sweep.toml");
    std::fs::write(
        &file,
        format!(
            "model = \"itemknn\"\nshrink = 0.0\nneighbours = 10\n[data]\npath = \"synthetic\"\n\
             [sweep]\nkind = \"eval\"\nout = \"{}\"\nmetric = \"ndcg@10\"\nneighbours = [5, 50]\n",
            root.path().join("sweep").display()
        ),
    )
    .unwrap();
    let sweep =
        reclab::sweep::Sweep::parse(&std::fs::read_to_string(&file).unwrap(), &file).unwrap();
    let state = reclab::sweep::open_state(&sweep).unwrap();
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(
        AppState {
            panel: PanelKind::Compare,
            ..AppState::default()
        },
        runs.path(),
    );
    loaded(&mut harness);
    harness
        .state_mut()
        .send(reclab::app::Command::OpenSweep(sweep.out.clone()));
    harness.step();
    harness.step();
    harness.get_by_label_contains("2 trial(s) not finished");
    harness.get_by_label("trial 1: pending");

    // Trial 1 finishes "on the cluster": the panel shows it without being asked.
    let run = reclab::sweep::run_trial(
        &sweep,
        &state.trials[0],
        None,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        &mut |_| {},
    )
    .unwrap();
    reclab::sweep::record(&sweep, 1, &run).unwrap();
    std::thread::sleep(reclab::app::compare::SWEEP_REFRESH + Duration::from_millis(100));
    harness.step();
    harness.step();
    harness.get_by_label("Open trial 1 as model");
    harness.get_by_label_contains("1 trial(s) not finished");
    assert!(harness.query_by_label("trial 1: pending").is_none());
}

#[test]
fn a_learned_policy_trains_in_the_live_preview_and_lays_out_one_side() {
    let runs = tempfile::tempdir().unwrap();
    let state = AppState {
        rl_episodes: 60,
        ..AppState::default()
    };
    let mut harness = harness(state, runs.path());
    loaded(&mut harness);
    click(&mut harness, "Live preview");
    // The rl side needs a learned policy: asking for it first says so.
    harness.state_mut().state.preview_policies = [
        reclab::sim::PolicyKind::Learned,
        reclab::sim::PolicyKind::Greedy,
    ];
    click(&mut harness, "Reset");
    let error = harness.state().live.error.clone().unwrap_or_default();
    assert!(error.contains("train or open one"), "{error}");
    click(&mut harness, "Train policy");
    step_until(
        &mut harness,
        "the learned policy to train",
        Duration::from_secs(120),
        |app| app.live.learned.is_some() || app.live.error.is_some(),
    );
    let live = &harness.state().live;
    assert!(live.learned.is_some(), "{:?}", live.error);
    let curve = live.learning.as_ref().unwrap();
    assert_eq!(curve.returns.len(), 60);
    assert!(!curve.evaluations.is_empty());
    // Saved as a run in the runs folder.
    let dir = live.learned.as_ref().unwrap().dir.clone();
    assert!(dir.starts_with(runs.path()) && dir.join("q_network.bin").is_file());
    // Reopened from its run, with the curve the run kept.
    harness.state_mut().live.learning = None;
    harness.state_mut().live.open_learned(&dir);
    let reopened = harness.state().live.learning.as_ref().unwrap();
    assert_eq!(reopened.returns.len(), 60);
    assert!(!reopened.evaluations.is_empty());
    click(&mut harness, "Reset");
    for _ in 0..3 {
        click(&mut harness, "Step");
    }
    let preview = harness.state().live.preview.as_ref().unwrap();
    let (rl, greedy) = (&preview.sides[0], &preview.sides[1]);
    assert_eq!(rl.policy.name(), "rl");
    assert_eq!(rl.variety.len(), 3);
    // The network judges both sides' cards, page by page.
    assert_eq!(rl.judged_now.len(), 3);
    assert_eq!(greedy.judged_later.len(), 3);
    assert!(rl.judged_now.iter().all(|p| p[1] >= 0.0 && p[1] <= 7.0));
    harness.check_accessibility();
}
