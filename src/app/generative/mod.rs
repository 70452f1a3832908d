//! The generative concern: the generative model the workbench writes with (a GGUF file or a
//! Hugging Face folder, loaded once by the first task that needs it and kept), and what it
//! wrote, streamed into the User panel and the Live preview as it forms and cached: a user's
//! profile, why an item was recommended, and the item a comment to the storefront asks for.

pub mod panel;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::data::Loaded;
use super::language::Language;
use super::task::{Reporter, Update};
use crate::device::DeviceChoice;
use crate::lm::decoder::{Dtype, Llm};
use crate::lm::written::Writer;
use crate::lm::written::explanations::{DEFAULT_EXPLANATION_TOKENS, explanation_request};
use crate::lm::written::hypothetical::{HYPOTHETICAL_TOKENS, hypothetical_request};
use crate::lm::written::profiles::{DEFAULT_HISTORY_TOKENS, DEFAULT_PROFILE_TOKENS, ProfilePrompt};
use crate::sim::Request;

/// A generative model loaded from its path.
pub type LoadedLlm = (PathBuf, Arc<Llm>);

#[derive(Default)]
pub struct GenerativeState {
    /// The model last loaded, kept for the next task.
    pub llm: Option<LoadedLlm>,
    /// The profile being written, or the last one.
    pub profile: Option<WrittenText>,
    /// The explanation being written, or the last one.
    pub explanation: Option<WrittenExplanation>,
    /// The item description being written for a comment to the storefront, or the last one.
    pub described: Option<WrittenDescription>,
    pub error: Option<String>,
}

/// A text the model wrote (a profile or an explanation) as the User panel shows it.
pub struct WrittenText {
    pub user: usize,
    pub text: String,
    /// Pieces streamed so far (none when the cache had the profile).
    pub pieces: usize,
    pub done: bool,
    pub from_cache: bool,
    pub secs: f64,
}

/// Why an item was recommended to a user, as the User panel shows it.
pub struct WrittenExplanation {
    pub user: usize,
    pub item: u32,
    /// The history items the model was shown as evidence.
    pub evidence: Vec<u32>,
    pub written: WrittenText,
}

/// The item a comment asks for, as the generative model describes it (the Live preview).
pub struct WrittenDescription {
    pub comment: String,
    pub written: WrittenText,
}

/// What the description task ends with: the text, and the request it became once embedded.
pub struct DescribedOutcome {
    written: WrittenOutcome,
    request: Request,
    embed_secs: f64,
}

/// A described request ready for the storefront, with what writing and embedding it took.
pub struct DescribedRequest {
    pub request: Request,
    pub write_secs: f64,
    pub embed_secs: f64,
}

/// What the profile and explanation tasks end with.
pub struct WrittenOutcome {
    llm: LoadedLlm,
    text: String,
    from_cache: bool,
    secs: f64,
}

impl GenerativeState {
    /// Before the profile of `user` starts.
    pub fn on_start(&mut self, user: usize) {
        self.error = None;
        self.profile = Some(WrittenText::new(user));
    }

    /// Before the explanation of `item` for `user` starts.
    pub fn on_explain_start(&mut self, user: usize, item: u32, evidence: Vec<u32>) {
        self.error = None;
        self.explanation = Some(WrittenExplanation {
            user,
            item,
            evidence,
            written: WrittenText::new(user),
        });
    }

    pub fn on_profile_update(&mut self, update: Update) {
        if let Some(profile) = &mut self.profile
            && let Some(outcome) = profile.on_update(update, &mut self.error)
        {
            self.llm = Some(outcome);
        }
    }

    /// Before the description for `comment` starts.
    pub fn on_describe_start(&mut self, comment: &str) {
        self.error = None;
        self.described = Some(WrittenDescription {
            comment: comment.to_string(),
            written: WrittenText::new(0),
        });
    }

    /// Takes a piece or the end of the description task; at its end, the request to apply.
    pub fn on_description_update(&mut self, update: Update) -> Option<DescribedRequest> {
        let described = self.described.as_mut()?;
        if let Some(piece) = update.partial::<String>() {
            described.written.text.push_str(piece);
            described.written.pieces += 1;
            return None;
        }
        let outcome = update.outcome::<DescribedOutcome>()?;
        described.written.done = true;
        match outcome {
            Ok(DescribedOutcome {
                written,
                request,
                embed_secs,
            }) => {
                described.written.text = written.text;
                described.written.from_cache = written.from_cache;
                described.written.secs = written.secs;
                self.llm = Some(written.llm);
                Some(DescribedRequest {
                    request,
                    write_secs: written.secs,
                    embed_secs,
                })
            }
            Err(message) => {
                self.error = Some(message);
                None
            }
        }
    }

    pub fn on_explanation_update(&mut self, update: Update) {
        if let Some(explanation) = &mut self.explanation
            && let Some(outcome) = explanation.written.on_update(update, &mut self.error)
        {
            self.llm = Some(outcome);
        }
    }
}

impl WrittenText {
    fn new(user: usize) -> Self {
        WrittenText {
            user,
            text: String::new(),
            pieces: 0,
            done: false,
            from_cache: false,
            secs: 0.0,
        }
    }

    /// Takes a piece or the end; returns the model the task used when it ended well.
    fn on_update(&mut self, update: Update, error: &mut Option<String>) -> Option<LoadedLlm> {
        if let Some(piece) = update.partial::<String>() {
            self.text.push_str(piece);
            self.pieces += 1;
            return None;
        }
        match update.outcome::<WrittenOutcome>()? {
            Ok(outcome) => {
                self.text = outcome.text;
                self.from_cache = outcome.from_cache;
                self.secs = outcome.secs;
                self.done = true;
                Some(outcome.llm)
            }
            Err(message) => {
                self.done = true;
                *error = Some(message);
                None
            }
        }
    }
}

/// The profile task's worker: loads the model unless `kept` is it, then writes (or reads from
/// the cache) the profile of `user`'s whole history, streaming the text as it forms.
pub fn write_profile(
    loaded: &Loaded,
    user: usize,
    path: PathBuf,
    kept: Option<LoadedLlm>,
    prompt: &str,
    out: &Reporter,
) -> Result<WrittenOutcome, String> {
    let started = Instant::now();
    let llm = model(&path, kept)?;
    let prompt = ProfilePrompt::new(Some(prompt), DEFAULT_HISTORY_TOKENS)?;
    let writer = Writer::new(&llm, DEFAULT_PROFILE_TOKENS).map_err(|e| e.to_string())?;
    let history = loaded.dataset.sequence(user);
    let text = prompt
        .render(&writer, &loaded.dataset, history)
        .map_err(|e| e.to_string())?;
    let (text, from_cache, secs) = stream(&writer, &text, out, started)?;
    Ok(WrittenOutcome {
        llm: (path, llm),
        text,
        from_cache,
        secs,
    })
}

/// The explanation task's worker: why `item` suits someone who enjoyed `evidence`, streamed.
pub fn explain(
    loaded: &Loaded,
    item: u32,
    evidence: &[u32],
    path: PathBuf,
    kept: Option<LoadedLlm>,
    out: &Reporter,
) -> Result<WrittenOutcome, String> {
    let started = Instant::now();
    let llm = model(&path, kept)?;
    let writer = Writer::new(&llm, DEFAULT_EXPLANATION_TOKENS).map_err(|e| e.to_string())?;
    let request = explanation_request(&loaded.dataset, evidence, item);
    let prompt = writer.chat(&request).map_err(|e| e.to_string())?;
    let (text, from_cache, secs) = stream(&writer, &prompt, out, started)?;
    Ok(WrittenOutcome {
        llm: (path, llm),
        text,
        from_cache,
        secs,
    })
}

/// The description task's worker: the item that would satisfy `comment`, written (streamed,
/// cached), then embedded against the catalogue as the storefront's request.
pub fn describe_request(
    language: &Language,
    comment: &str,
    weight: f32,
    path: PathBuf,
    kept: Option<LoadedLlm>,
    out: &Reporter,
) -> Result<DescribedOutcome, String> {
    let started = Instant::now();
    let llm = model(&path, kept)?;
    let writer = Writer::new(&llm, HYPOTHETICAL_TOKENS).map_err(|e| e.to_string())?;
    let prompt = writer
        .chat(&hypothetical_request(comment))
        .map_err(|e| e.to_string())?;
    let (text, from_cache, secs) = stream(&writer, &prompt, out, started)?;
    let (request, embed_secs) = language.request_described(comment, &text, weight)?;
    Ok(DescribedOutcome {
        written: WrittenOutcome {
            llm: (path, llm),
            text,
            from_cache,
            secs,
        },
        request,
        embed_secs,
    })
}

/// The model at `path`: the one kept when it is that one, else loaded now.
fn model(path: &std::path::Path, kept: Option<LoadedLlm>) -> Result<Arc<Llm>, String> {
    match kept {
        Some((kept_path, llm)) if kept_path == path => Ok(llm),
        _ => Llm::open(path, Dtype::Auto, DeviceChoice::Auto)
            .map(Arc::new)
            .map_err(|e| e.to_string()),
    }
}

/// Writes one prompt's text through the model's cache, each piece a partial result of the
/// task; returns the text, whether the cache had it, and the seconds since `started`.
fn stream(
    writer: &Writer,
    prompt: &str,
    out: &Reporter,
    started: Instant,
) -> Result<(String, bool, f64), String> {
    let mut cache = writer.open_cache(crate::data::cache::default_cache_dir().as_deref());
    let (text, from_cache) = writer
        .write_streaming(prompt, &mut cache, &mut |piece| {
            out.partial(piece.to_string());
            !out.stop_requested()
        })
        .map_err(|e| e.to_string())?;
    Ok((text, from_cache, started.elapsed().as_secs_f64()))
}
