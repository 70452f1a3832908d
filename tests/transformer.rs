//! The Transformer recommender and its training engine, on the CPU.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use reclab::data::{Dataset, Preprocessing, Split, SplitStrategy, SyntheticConfig, load_synthetic};
use reclab::eval::{EvalConfig, Stage, evaluate};
use reclab::model::{Direction, SeqRec, TransformerConfig, Vocabulary};
use reclab::recommend::{Pop, Query, Recommender};
use reclab::runs::{RunFile, RunStatus};
use reclab::train::{TrainConfig, TrainError, TrainEvent, TransformerRecommender, train};

type Cpu = Flex;
type Train = Autodiff<Flex>;

fn world(users: usize, items: usize) -> Dataset {
    let config = SyntheticConfig {
        users,
        items,
        max_seq_len: 60,
        ..SyntheticConfig::default()
    };
    load_synthetic(&config, &Preprocessing::default()).unwrap()
}

fn untrained(direction: Direction, num_items: usize) -> TransformerRecommender<Cpu> {
    let device = Default::default();
    let vocabulary = Vocabulary { num_items };
    let config = TransformerConfig {
        max_len: 20,
        ..TransformerConfig::default()
    };
    <Cpu as burn::tensor::backend::Backend>::seed(&device, 3);
    let model = SeqRec::<Cpu>::new(&config, vocabulary, &device);
    TransformerRecommender::new("test", model, device, direction, vocabulary)
}

fn scores(model: &dyn Recommender, histories: &[&[u32]]) -> Vec<Vec<f32>> {
    let width = model.num_items() + 1;
    let queries: Vec<Query<'_>> = histories
        .iter()
        .map(|h| Query {
            user: None,
            history: h,
        })
        .collect();
    let mut out = vec![0.0; width * histories.len()];
    model.score_batch(&queries, &mut out);
    out.chunks(width).map(<[f32]>::to_vec).collect()
}

fn assert_close(a: &[f32], b: &[f32]) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() < 1e-4, "index {i}: {x} != {y}");
    }
}

#[test]
fn the_causal_mask_hides_the_future() {
    let device = Default::default();
    let config = TransformerConfig {
        max_len: 8,
        ..TransformerConfig::default()
    };
    let model = SeqRec::<Cpu>::new(&config, Vocabulary { num_items: 30 }, &device);
    let encode = |items: [i64; 6], causal: bool| -> Vec<f32> {
        let tokens =
            Tensor::<Cpu, 2, Int>::from_data(TensorData::new(items.to_vec(), [1, 6]), &device);
        model.encode(tokens, causal).0.into_data().to_vec().unwrap()
    };
    let original = encode([3, 7, 1, 9, 4, 12], true);
    let changed = encode([3, 7, 1, 9, 25, 12], true); // position 4 perturbed
    let hidden = 64;
    // Positions 0..4 cannot see position 4: unchanged. Positions 4 and 5 do change.
    assert_close(&original[..4 * hidden], &changed[..4 * hidden]);
    assert!(
        original[4 * hidden..]
            .iter()
            .zip(&changed[4 * hidden..])
            .any(|(a, b)| (a - b).abs() > 1e-3)
    );
    // Without the mask (BERT4Rec), earlier positions see the change.
    let original = encode([3, 7, 1, 9, 4, 12], false);
    let changed = encode([3, 7, 1, 9, 25, 12], false);
    assert!(
        original[..hidden]
            .iter()
            .zip(&changed[..hidden])
            .any(|(a, b)| (a - b).abs() > 1e-3)
    );
}

#[test]
fn left_padding_changes_nothing() {
    for direction in [Direction::Causal, Direction::Bidirectional] {
        let model = untrained(direction, 40);
        let short: &[u32] = &[5, 9, 2];
        let long: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        // Alone the short history has no padding; batched with the long one it gets 8 pads.
        let alone = scores(&model, &[short]);
        let batched = scores(&model, &[short, long]);
        // Item 0 is padding, scored -inf (never recommended); the real items must agree.
        assert_close(&alone[0][1..], &batched[0][1..]);
        assert_close(&scores(&model, &[long])[0][1..], &batched[1][1..]);
        assert_eq!(batched[0][0], f32::NEG_INFINITY);
    }
}

#[test]
fn fully_masked_rows_and_empty_histories_give_no_nan() {
    for direction in [Direction::Causal, Direction::Bidirectional] {
        let model = untrained(direction, 40);
        // The empty history is all padding next to the long one: in causal mode every padded
        // query row has all its keys masked.
        let rows = scores(&model, &[&[], &[1, 2, 3, 4, 5, 6, 7, 8], &[7]]);
        for row in rows {
            assert!(
                row[1..].iter().all(|s| s.is_finite()),
                "{direction:?}: {row:?}"
            );
        }
    }
}

#[test]
fn an_untrained_model_ranks_like_chance() {
    let d = world(400, 300);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    let model = untrained(Direction::Causal, d.num_items());
    let config = EvalConfig {
        cutoffs: vec![10],
        ..EvalConfig::default()
    };
    let report = evaluate(&model, &d, &split, Stage::Test, &config, &|_, _| true).unwrap();
    // A random ranking of ~n candidates: NDCG@10 = Σ_{p ≤ 10} 1/(n·log2(p + 1)) ≈ 4.54 / n.
    let n = d.num_items() as f64;
    let chance: f64 = (1..=10).map(|p| 1.0 / (n * ((p + 1) as f64).log2())).sum();
    let ndcg = report.metrics["ndcg@10"];
    assert!(ndcg < 3.0 * chance, "ndcg@10 {ndcg} vs chance {chance}");
    let pop = Pop::fit(&d, &split);
    let pop_ndcg = evaluate(&pop, &d, &split, Stage::Test, &config, &|_, _| true)
        .unwrap()
        .metrics["ndcg@10"];
    assert!(pop_ndcg > 2.0 * ndcg, "Pop {pop_ndcg} vs untrained {ndcg}");
}

#[test]
fn attention_weights_cover_the_history() {
    let model = untrained(Direction::Causal, 40);
    let weights = model.attention_weights(&[4, 8, 15, 16]);
    assert_eq!(weights.len(), 4);
    let total: f32 = weights.iter().sum();
    assert!((total - 1.0).abs() < 1e-4, "{weights:?}");
}

fn small_config(epochs: usize) -> TrainConfig {
    let mut config = TrainConfig {
        epochs,
        batch_size: 64,
        learning_rate: 3e-3,
        cutoffs: vec![10],
        ..TrainConfig::default()
    };
    config.transformer.max_len = 30;
    config.early_stopping.patience = 100;
    config
}

fn run(
    d: &Dataset,
    config: &TrainConfig,
    root: &std::path::Path,
    resume: Option<&std::path::Path>,
) -> (
    Result<reclab::train::TrainOutcome, TrainError>,
    Vec<TrainEvent>,
) {
    let mut events = Vec::new();
    let outcome = train::<Train>(
        Default::default(),
        "cpu",
        d,
        config,
        None,
        root,
        resume,
        Arc::new(AtomicBool::new(false)),
        &mut |e| events.push(e),
    );
    (outcome, events)
}

fn epoch_losses(events: &[TrainEvent]) -> Vec<(usize, f64, f64)> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Epoch {
                epoch,
                train_loss,
                valid,
                ..
            } => Some((*epoch, *train_loss, valid["ndcg@10"])),
            _ => None,
        })
        .collect()
}

#[test]
fn sasrec_learns_the_synthetic_world_and_beats_pop() {
    let d = world(300, 200);
    let root = tempfile::tempdir().unwrap();
    let (outcome, events) = run(&d, &small_config(12), root.path(), None);
    let outcome = outcome.unwrap();
    let epochs = epoch_losses(&events);
    assert_eq!(epochs.len(), 12);
    assert!(
        epochs[11].1 < epochs[0].1 - 0.3,
        "loss did not fall: {epochs:?}"
    );
    let best_valid = epochs.iter().map(|e| e.2).fold(0.0, f64::max);
    let split = Split::new(&d, SplitStrategy::LeaveOneOut).unwrap();
    let config = EvalConfig {
        cutoffs: vec![10],
        ..EvalConfig::default()
    };
    let pop = evaluate(
        &Pop::fit(&d, &split),
        &d,
        &split,
        Stage::Valid,
        &config,
        &|_, _| true,
    )
    .unwrap();
    assert!(
        best_valid > pop.metrics["ndcg@10"],
        "SASRec {best_valid} vs Pop {}",
        pop.metrics["ndcg@10"]
    );
    // The run folder holds the run file, with curves, test metrics and the best weights.
    let saved = RunFile::load(&outcome.run_dir).unwrap();
    assert_eq!(saved.status, RunStatus::Completed);
    assert_eq!(saved.curves["train_loss"].len(), 12);
    assert!(saved.test_metrics.contains_key("ndcg@10"));
    assert_eq!(saved.environment.device, "cpu");
    assert!(outcome.run_dir.join("best.bin").is_file());
}

#[test]
fn the_same_seed_reproduces_the_same_metrics() {
    let d = world(120, 80);
    let root = tempfile::tempdir().unwrap();
    let a = run(&d, &small_config(2), root.path(), None).0.unwrap();
    let b = run(&d, &small_config(2), root.path(), None).0.unwrap();
    assert_eq!(a.run.test_metrics, b.run.test_metrics);
    assert_eq!(a.run.curves["train_loss"], b.run.curves["train_loss"]);
}

#[test]
fn a_run_resumes_from_its_checkpoint() {
    let d = world(120, 80);
    let root = tempfile::tempdir().unwrap();
    let first = run(&d, &small_config(2), root.path(), None).0.unwrap();
    let (resumed, events) = run(&d, &small_config(4), root.path(), Some(&first.run_dir));
    let resumed = resumed.unwrap();
    assert_eq!(resumed.run_dir, first.run_dir);
    let epochs: Vec<usize> = epoch_losses(&events).iter().map(|e| e.0).collect();
    assert_eq!(epochs, vec![3, 4]);
    assert_eq!(resumed.run.curves["train_loss"].len(), 4);
    // Resuming reproduces an uninterrupted run of 4 epochs.
    let straight = run(&d, &small_config(4), root.path(), None).0.unwrap();
    assert_eq!(
        straight.run.curves["train_loss"],
        resumed.run.curves["train_loss"]
    );
}

#[test]
fn a_diverging_loss_stops_the_run_naming_epoch_and_batch() {
    let d = world(120, 80);
    let root = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        learning_rate: 1e30,
        ..small_config(3)
    };
    let (outcome, events) = run(&d, &config, root.path(), None);
    let err = outcome.unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteLoss { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("epoch") && message.contains("batch"),
        "{message}"
    );
    assert!(matches!(events.last(), Some(TrainEvent::Failed { .. })));
}

#[test]
fn stopping_keeps_the_run_file() {
    let d = world(120, 80);
    let root = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(true));
    let outcome = train::<Train>(
        Default::default(),
        "cpu",
        &d,
        &small_config(3),
        None,
        root.path(),
        None,
        stop,
        &mut |_| {},
    )
    .unwrap();
    assert!(outcome.cancelled);
    assert_eq!(
        RunFile::load(&outcome.run_dir).unwrap().status,
        RunStatus::Cancelled
    );
}

#[test]
fn bert4rec_with_pretraining_trains_and_scores_finitely() {
    let d = world(120, 80);
    let root = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        model: reclab::train::ModelKind::Bert4rec,
        pretrain_epochs: 1,
        ..small_config(2)
    };
    let (outcome, events) = run(&d, &config, root.path(), None);
    let outcome = outcome.unwrap();
    assert!(events.iter().any(|e| matches!(
        e,
        TrainEvent::Epoch {
            stage: reclab::train::Stage::Pretrain,
            ..
        }
    )));
    assert!(outcome.run.curves.contains_key("pretrain_train_loss"));
    assert!(outcome.run.test_metrics["ndcg@10"].is_finite());
}

#[test]
fn the_last_position_alone_matches_the_full_encoder() {
    let device = Default::default();
    for norm_first in [false, true] {
        let config = TransformerConfig {
            max_len: 8,
            layers: 3,
            norm_first,
            ..TransformerConfig::default()
        };
        let model = SeqRec::<Cpu>::new(&config, Vocabulary { num_items: 30 }, &device);
        // Two rows, the first left-padded.
        let ids = vec![0i64, 0, 0, 5, 9, 2, 3, 7, 1, 9, 4, 12];
        let tokens = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(ids, [2, 6]), &device);
        for causal in [true, false] {
            let (full, full_weights) = model.encode(tokens.clone(), causal);
            let (last, last_weights) = model.encode_last(tokens.clone(), causal);
            let hidden = 64;
            let heads = full_weights.dims()[1];
            assert_eq!(last.dims(), [2, hidden]);
            assert_eq!(last_weights.dims(), [2, heads, 6]);
            let expected: Vec<f32> = full
                .slice([0..2, 5..6, 0..hidden])
                .into_data()
                .to_vec()
                .unwrap();
            assert_close(&last.into_data().to_vec::<f32>().unwrap(), &expected);
            let expected: Vec<f32> = full_weights
                .slice([0..2, 0..heads, 5..6, 0..6])
                .into_data()
                .to_vec()
                .unwrap();
            let got: Vec<f32> = last_weights.into_data().to_vec().unwrap();
            assert_close(&got, &expected);
            // The padded keys of the first row get no attention.
            assert!(got[..3].iter().all(|w| w.abs() < 1e-6), "{got:?}");
        }
    }
}
