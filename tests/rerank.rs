//! The LLM re-ranker with the shared SmolLM2-135M-Instruct GGUF on real MovieLens histories:
//! the shared-prompt scoring agrees with scoring each whole sequence on its own; a candidate's
//! place among the others does not change its score; items beyond the candidates keep the base
//! model's order.

use std::path::PathBuf;
use std::sync::Arc;

use reclab::data::{self, Dataset, Split, SplitStrategy};
use reclab::device::DeviceChoice;
use reclab::lm::decoder::{Dtype, Llm};
use reclab::recommend::{LlmScorer, Pop, Query, Recommender, Reranker};

fn smollm2() -> Llm {
    let models = PathBuf::from(
        std::env::var_os("RECLAB_MODELS")
            .expect("set RECLAB_MODELS to the folder that holds SmolLM2-135M-Instruct/"),
    );
    let path = models.join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    Llm::open(&path, Dtype::Auto, DeviceChoice::Cpu).unwrap()
}

fn ml100k() -> Dataset {
    let root = std::env::var_os("RECLAB_DATASETS")
        .expect("set RECLAB_DATASETS to the folder that holds ml-100k/");
    let path = PathBuf::from(root).join("ml-100k");
    data::load(&data::LoadSpec::new(path.display().to_string()), None).unwrap()
}

/// `log p(token | before)` from the logits of the whole sequence, computed on the host.
fn reference_logprobs(llm: &Llm, prefix: &[u32], continuation: &[u32]) -> Vec<f32> {
    let ids: Vec<u32> = prefix.iter().chain(continuation).copied().collect();
    let vocab = llm.config().vocab_size;
    let logits = llm.logits(&ids, true).unwrap();
    continuation
        .iter()
        .enumerate()
        .map(|(j, &token)| {
            let row = &logits[(prefix.len() + j - 1) * vocab..(prefix.len() + j) * vocab];
            let max = row.iter().copied().fold(f32::MIN, f32::max);
            let log_sum = row.iter().map(|x| (x - max).exp()).sum::<f32>().ln() + max;
            row[token as usize] - log_sum
        })
        .collect()
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct)"]
fn shared_prompt_scores_match_each_sequence_scored_alone() {
    let llm = smollm2();
    let prefix = llm.prompt_ids("My favourite film is").unwrap();
    let continuations: Vec<Vec<u32>> = [" Toy Story (1995)", " Heat", " The Godfather, Part II"]
        .iter()
        .map(|t| llm.tokenizer().encode(t).unwrap())
        .collect();
    let scored = llm.continuation_logprobs(&prefix, &continuations).unwrap();
    for (continuation, got) in continuations.iter().zip(&scored) {
        let expected = reference_logprobs(&llm, &prefix, continuation);
        assert_eq!(got.len(), continuation.len());
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-3, "{got:?} vs {expected:?}");
        }
        assert!(got.iter().all(|&l| l < 0.0));
    }
}

#[test]
#[ignore = "needs RECLAB_MODELS (SmolLM2-135M-Instruct) and RECLAB_DATASETS (ml-100k)"]
fn a_candidates_place_does_not_change_its_score_and_the_rest_keep_the_base_order() {
    let dataset = Arc::new(ml100k());
    let split = Split::new(&dataset, SplitStrategy::LeaveOneOut).unwrap();
    let scorer = LlmScorer::new(smollm2(), Arc::clone(&dataset));
    let history = split.train(&dataset, 0);

    // The prompt holds the history (newest first) and no candidate.
    let prompt = scorer.prompt(history).unwrap();
    let newest = dataset.item_label(*history.last().unwrap());
    assert!(prompt.contains(newest), "{prompt}");

    let candidates = [50u32, 181, 100, 258, 1];
    let forward = scorer.mean_logprobs(history, &candidates).unwrap();
    let mut reversed_candidates = candidates;
    reversed_candidates.reverse();
    let mut reversed = scorer.mean_logprobs(history, &reversed_candidates).unwrap();
    reversed.reverse();
    for (a, b) in forward.iter().zip(&reversed) {
        assert!((a - b).abs() < 1e-4, "{forward:?} vs {reversed:?}");
    }
    // Scores differ between titles: the model reads them.
    assert!(
        forward.iter().any(|&s| (s - forward[0]).abs() > 1e-2),
        "{forward:?}"
    );

    // Over Pop, the re-ranker's top 5 are Pop's top 5 in another order, and what follows is
    // Pop's own list.
    let pop = Pop::fit(&dataset, &split);
    let query = Query {
        user: Some(0),
        history,
    };
    let base = pop.top_k(query, 12).unwrap();
    let reranker = Reranker::new(Box::new(Pop::fit(&dataset, &split)), Box::new(scorer), 5);
    let reranked = reranker.top_k(query, 12).unwrap();
    assert!(reranker.failure().is_none());
    let mut top: Vec<u32> = reranked[..5].to_vec();
    let mut base_top: Vec<u32> = base[..5].to_vec();
    top.sort_unstable();
    base_top.sort_unstable();
    assert_eq!(top, base_top);
    assert_eq!(reranked[5..], base[5..]);
}
