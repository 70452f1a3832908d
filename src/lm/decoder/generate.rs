//! Generation: prefill every prompt in one pass, then decode all of them together, one token
//! per row per step, with a KV cache; rows that finish leave the batch. Sampling is greedy
//! (temperature 0) or temperature / top-k / top-p with a repetition penalty, each row from its
//! own generator seeded with the same seed, so a prompt gives the same text alone or in a batch.

use std::time::Instant;

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::{Decoder, KvCache};
use super::tokenizer::DecoderTokenizer;
use crate::lm::error::{LmError, Result};

/// How tokens are chosen and when generation ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub max_new_tokens: usize,
    /// 0 is greedy.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the fewest most likely tokens whose probabilities reach `top_p` (1: all).
    pub top_p: f32,
    /// Hugging Face's: a seen token's positive logit divided by it, a negative one multiplied (1: off).
    pub repetition_penalty: f32,
    pub seed: u64,
    /// Generation stops where the text first contains one of these; the text ends before it.
    pub stop: Vec<String>,
    /// Go on past end-of-sequence tokens (benchmarks that need exactly `max_new_tokens`).
    pub ignore_eos: bool,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            max_new_tokens: 128,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 0,
            stop: Vec::new(),
            ignore_eos: false,
        }
    }
}

impl Sampling {
    /// Refuses values that have no meaning, naming the option.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(LmError::Device(format!("invalid sampling setting: {what}")));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("--temperature must be 0 (greedy) or positive");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("--top-p must be in (0, 1]");
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad("--repetition-penalty must be positive");
        }
        Ok(())
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// The model wrote an end-of-sequence token.
    EndOfSequence,
    /// The text reached a stop string.
    StopString,
    /// `max_new_tokens` were written.
    Length,
    Cancelled,
}

/// What one prompt gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub text: String,
    /// The generated ids (the end-of-sequence token left out).
    pub token_ids: Vec<u32>,
    pub finish: Finish,
}

/// Time spent, for tokens-per-second figures.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    pub prompt_tokens: usize,
    pub prefill_secs: f64,
    pub decoded_tokens: usize,
    pub decode_secs: f64,
}

impl Timing {
    pub fn prefill_tokens_per_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_secs.max(1e-9)
    }
    pub fn decode_tokens_per_s(&self) -> f64 {
        self.decoded_tokens as f64 / self.decode_secs.max(1e-9)
    }
}

/// What the caller says after each token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// This row is done (a stop string was seen).
    StopRow,
    /// Stop everything.
    Cancel,
}

/// Chooses the next token from one row of logits.
pub fn pick(logits: &mut [f32], seen: &[u32], sampling: &Sampling, rng: &mut ChaCha8Rng) -> u32 {
    if sampling.repetition_penalty != 1.0 {
        let mut ids: Vec<u32> = seen.to_vec();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l > 0.0 {
                    *l / sampling.repetition_penalty
                } else {
                    *l * sampling.repetition_penalty
                };
            }
        }
    }
    let value = |l: f32| if l.is_nan() { f32::NEG_INFINITY } else { l };
    if sampling.temperature <= 0.0 {
        // Greedy; ties go to the lower id, as torch.argmax does.
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if value(l) > value(logits[best]) {
                best = i;
            }
        }
        return best as u32;
    }
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        value(logits[b as usize])
            .total_cmp(&value(logits[a as usize]))
            .then(a.cmp(&b))
    });
    if sampling.top_k > 0 {
        order.truncate(sampling.top_k.max(1));
    }
    let max = value(logits[order[0] as usize]) / sampling.temperature;
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| ((value(logits[i as usize]) / sampling.temperature - max) as f64).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if sampling.top_p < 1.0 {
        let mut cumulative = 0.0;
        let keep = probs
            .iter()
            .position(|p| {
                cumulative += p;
                cumulative >= sampling.top_p as f64
            })
            .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
        order.truncate(keep);
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
    }
    let mut u: f64 = rng.random();
    for (p, &id) in probs.iter().zip(&order) {
        if u < *p {
            return id;
        }
        u -= p;
    }
    order[order.len() - 1]
}

/// One row's generated ids and why it ended.
pub type RowOutput = (Vec<u32>, Finish);

/// Generates for every prompt (token ids) in one batch. `on_token(row, id)` is called for each
/// new token of each row, in row order within a step. Returns each row's ids and why it ended.
pub fn generate_ids<B: Backend>(
    model: &Decoder<B>,
    prompts: &[Vec<u32>],
    eos: &[u32],
    sampling: &Sampling,
    on_token: &mut dyn FnMut(usize, u32) -> Control,
) -> Result<(Vec<RowOutput>, Timing)> {
    sampling.check()?;
    let vocab = model.config.vocab_size;
    if prompts.iter().any(Vec::is_empty) {
        return Err(LmError::Tokenize {
            what: "a prompt".into(),
            message: "it has no tokens".into(),
        });
    }
    if let Some(id) = prompts.iter().flatten().find(|&&id| id as usize >= vocab) {
        return Err(LmError::Tokenize {
            what: "a prompt".into(),
            message: format!("token id {id} is outside the model's vocabulary of {vocab}"),
        });
    }
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let context = model.config.context_length;
    if longest + sampling.max_new_tokens > context {
        return Err(LmError::Tokenize {
            what: "a prompt".into(),
            message: format!(
                "{longest} prompt tokens and {} new ones exceed the model's context of {context} tokens",
                sampling.max_new_tokens
            ),
        });
    }
    let mut outputs: Vec<RowOutput> = prompts
        .iter()
        .map(|_| (Vec::new(), Finish::Length))
        .collect();
    let mut timing = Timing {
        prompt_tokens: prompts.iter().map(Vec::len).sum(),
        ..Timing::default()
    };
    if sampling.max_new_tokens == 0 {
        return Ok((outputs, timing));
    }
    let pads: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let padded: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| {
            let mut row = vec![0u32; longest - p.len()];
            row.extend(p);
            row
        })
        .collect();
    let mut rngs: Vec<ChaCha8Rng> = prompts
        .iter()
        .map(|_| ChaCha8Rng::seed_from_u64(sampling.seed))
        .collect();
    let mut seen: Vec<Vec<u32>> = prompts.to_vec();
    let mut cache = KvCache::<B>::new(model.config.layers, pads);
    // Cache row i holds prompt active[i].
    let mut active: Vec<usize> = (0..prompts.len()).collect();

    let started = Instant::now();
    let mut logits = model.forward(&padded, &mut cache, false);
    let mut host: Vec<f32> = logits.into_data().iter::<f32>().collect();
    timing.prefill_secs = started.elapsed().as_secs_f64();
    let decode_started = Instant::now();

    for step in 0..sampling.max_new_tokens {
        let mut next = Vec::with_capacity(active.len());
        let mut keep = Vec::with_capacity(active.len());
        let mut cancelled = false;
        for (i, &row) in active.iter().enumerate() {
            let row_logits = &mut host[i * vocab..(i + 1) * vocab];
            let id = pick(row_logits, &seen[row], sampling, &mut rngs[row]);
            if !sampling.ignore_eos && eos.contains(&id) {
                outputs[row].1 = Finish::EndOfSequence;
                continue;
            }
            outputs[row].0.push(id);
            seen[row].push(id);
            match on_token(row, id) {
                Control::Continue => {
                    if step + 1 < sampling.max_new_tokens {
                        next.push(vec![id]);
                        keep.push(i);
                    }
                }
                Control::StopRow => outputs[row].1 = Finish::StopString,
                Control::Cancel => cancelled = true,
            }
        }
        if cancelled {
            for &row in &active {
                if outputs[row].1 == Finish::Length {
                    outputs[row].1 = Finish::Cancelled;
                }
            }
            break;
        }
        if keep.is_empty() {
            break;
        }
        cache.retain_rows(&keep);
        active = keep.iter().map(|&i| active[i]).collect();
        timing.decoded_tokens += next.len();
        logits = model.forward(&next, &mut cache, false);
        host = logits.into_data().iter::<f32>().collect();
    }
    timing.decode_secs = decode_started.elapsed().as_secs_f64();
    Ok((outputs, timing))
}

/// Generates text for every prompt: streamed to `on_text(row, piece)` as it forms (a piece is
/// held back while it ends inside a UTF-8 character), ended at a stop string, cancelled when
/// `on_text` returns `false`.
pub fn generate_text<B: Backend>(
    model: &Decoder<B>,
    tokenizer: &DecoderTokenizer,
    prompts: &[Vec<u32>],
    eos: &[u32],
    sampling: &Sampling,
    on_text: &mut dyn FnMut(usize, &str) -> bool,
) -> Result<(Vec<Output>, Timing)> {
    let mut ids: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
    let mut texts: Vec<String> = vec![String::new(); prompts.len()];
    let mut sent: Vec<usize> = vec![0; prompts.len()];
    let mut error: Option<LmError> = None;
    let (results, timing) = generate_ids(model, prompts, eos, sampling, &mut |row, id| {
        ids[row].push(id);
        let text = match tokenizer.decode(&ids[row]) {
            Ok(text) => text,
            Err(e) => {
                error = Some(e);
                return Control::Cancel;
            }
        };
        let mut control = Control::Continue;
        let mut text = text;
        if let Some(at) = sampling
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()))
            .min()
        {
            text.truncate(at);
            control = Control::StopRow;
        }
        // Stream what is settled: not a trailing partial character, and not the start of a
        // stop string that the next tokens may complete.
        let mut settled = if text.ends_with('\u{FFFD}') && control == Control::Continue {
            text.trim_end_matches('\u{FFFD}').len()
        } else {
            text.len()
        };
        if control == Control::Continue {
            for stop in &sampling.stop {
                for k in (1..stop.len()).rev() {
                    if stop.is_char_boundary(k) && text.ends_with(&stop[..k]) {
                        settled = settled.min(text.len() - k);
                        break;
                    }
                }
            }
        }
        if settled > sent[row] && text.is_char_boundary(settled) && text.is_char_boundary(sent[row])
        {
            if !on_text(row, &text[sent[row]..settled]) {
                control = Control::Cancel;
            }
            sent[row] = settled;
        }
        texts[row] = text;
        control
    })?;
    if let Some(e) = error {
        return Err(e);
    }
    let outputs = results
        .into_iter()
        .zip(texts)
        .enumerate()
        .map(|(row, ((token_ids, finish), text))| {
            // A row that ended holds back nothing: send the rest.
            if text.len() > sent[row] && text.is_char_boundary(sent[row]) {
                on_text(row, &text[sent[row]..]);
            }
            Output {
                text,
                token_ids,
                finish,
            }
        })
        .collect();
    Ok((outputs, timing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_the_largest_and_the_lower_id_on_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let s = Sampling::default();
        assert_eq!(pick(&mut [0.1, 3.0, -1.0, 3.0], &[], &s, &mut rng), 1);
        assert_eq!(pick(&mut [f32::NAN, -5.0], &[], &s, &mut rng), 1);
    }

    #[test]
    fn repetition_penalty_as_hugging_face_applies_it() {
        // Seen ids 0 and 1: 2.0 / 2 = 1.0 and -0.5 * 2 = -1.0; id 2 (1.5) then wins.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let s = Sampling {
            repetition_penalty: 2.0,
            ..Sampling::default()
        };
        let mut logits = [2.0, -0.5, 1.5];
        assert_eq!(pick(&mut logits, &[0, 1, 0], &s, &mut rng), 2);
        assert_eq!(logits, [1.0, -1.0, 1.5]);
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_keeps_the_nucleus() {
        let s = Sampling {
            temperature: 1.0,
            top_k: 1,
            ..Sampling::default()
        };
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            assert_eq!(pick(&mut [0.0, 1.0, 0.9], &[], &s, &mut rng), 1);
        }
        // Probabilities ∝ e^[3, 2, 0, 0]: 0.705, 0.259, 0.035, 0.035; top-p 0.9 keeps ids 0 and 1.
        let s = Sampling {
            temperature: 1.0,
            top_p: 0.9,
            ..Sampling::default()
        };
        let mut counts = [0usize; 4];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..4000 {
            counts[pick(&mut [3.0, 2.0, 0.0, 0.0], &[], &s, &mut rng) as usize] += 1;
        }
        assert_eq!(counts[2] + counts[3], 0);
        // Renormalised: 0.731 and 0.269.
        let share = counts[0] as f64 / 4000.0;
        assert!((share - 0.731).abs() < 0.03, "{share}");
    }
}
