//! The generative concern: the generative model the workbench writes with (a GGUF file or a
//! Hugging Face folder, loaded once by the first task that needs it and kept), and what it
//! wrote: a user's profile, streamed into the User panel as it forms and cached.

pub mod panel;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::data::Loaded;
use super::task::{Reporter, Update};
use crate::device::DeviceChoice;
use crate::lm::decoder::{Dtype, Llm};
use crate::lm::written::Writer;
use crate::lm::written::profiles::{DEFAULT_HISTORY_TOKENS, DEFAULT_PROFILE_TOKENS, ProfilePrompt};

/// A generative model loaded from its path.
pub type LoadedLlm = (PathBuf, Arc<Llm>);

#[derive(Default)]
pub struct GenerativeState {
    /// The model last loaded, kept for the next task.
    pub llm: Option<LoadedLlm>,
    /// The profile being written, or the last one.
    pub profile: Option<WrittenProfile>,
    pub error: Option<String>,
}

/// A user's profile as the User panel shows it.
pub struct WrittenProfile {
    pub user: usize,
    pub text: String,
    /// Pieces streamed so far (none when the cache had the profile).
    pub pieces: usize,
    pub done: bool,
    pub from_cache: bool,
    pub secs: f64,
}

/// What the profile task ends with.
pub struct ProfileOutcome {
    llm: LoadedLlm,
    text: String,
    from_cache: bool,
    secs: f64,
}

impl GenerativeState {
    /// Before the profile of `user` starts.
    pub fn on_start(&mut self, user: usize) {
        self.error = None;
        self.profile = Some(WrittenProfile {
            user,
            text: String::new(),
            pieces: 0,
            done: false,
            from_cache: false,
            secs: 0.0,
        });
    }

    pub fn on_profile_update(&mut self, update: Update) {
        let Some(profile) = &mut self.profile else {
            return;
        };
        if let Some(piece) = update.partial::<String>() {
            profile.text.push_str(piece);
            profile.pieces += 1;
            return;
        }
        match update.outcome::<ProfileOutcome>() {
            Some(Ok(outcome)) => {
                self.llm = Some(outcome.llm);
                profile.text = outcome.text;
                profile.from_cache = outcome.from_cache;
                profile.secs = outcome.secs;
                profile.done = true;
            }
            Some(Err(message)) => {
                profile.done = true;
                self.error = Some(message);
            }
            None => {}
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
) -> Result<ProfileOutcome, String> {
    let started = Instant::now();
    let llm = match kept {
        Some((kept_path, llm)) if kept_path == path => llm,
        _ => {
            Arc::new(Llm::open(&path, Dtype::Auto, DeviceChoice::Auto).map_err(|e| e.to_string())?)
        }
    };
    let prompt = ProfilePrompt::new(Some(prompt), DEFAULT_HISTORY_TOKENS)?;
    let writer = Writer::new(&llm, DEFAULT_PROFILE_TOKENS).map_err(|e| e.to_string())?;
    let mut cache = writer.open_cache(crate::data::cache::default_cache_dir().as_deref());
    let history = loaded.dataset.sequence(user);
    let text = prompt
        .render(&writer, &loaded.dataset, history)
        .map_err(|e| e.to_string())?;
    let (text, from_cache) = writer
        .write_streaming(&text, &mut cache, &mut |piece| {
            out.partial(piece.to_string());
            !out.stop_requested()
        })
        .map_err(|e| e.to_string())?;
    Ok(ProfileOutcome {
        llm: (path, llm),
        text,
        from_cache,
        secs: started.elapsed().as_secs_f64(),
    })
}
