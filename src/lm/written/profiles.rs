//! LLM-written user profiles (the "user portrait" of LLM-enhanced recommendation): the model
//! reads a user's recent history — titles with their genres or categories, newest first, as
//! many as fit a token budget — and writes a short description of their taste. The prompt is a
//! template the researcher can edit; `{history}` marks where the history goes.

use super::{Writer, Written};
use crate::data::Dataset;
use crate::lm::{Progress, Result};

/// The prompt unless told otherwise. Small instruction-tuned models follow it; it asks for
/// likes, recurring themes and what seems avoided, which is what a ranker can use.
pub const DEFAULT_PROFILE_PROMPT: &str = "Here is what a person chose recently, newest first:\n\
{history}\n\n\
In two or three sentences, describe this person's taste: what they like, the themes that \
recur, and what they seem to avoid. Write only the description.";

/// Tokens a profile may take.
pub const DEFAULT_PROFILE_TOKENS: usize = 80;
/// Tokens of history a prompt may carry (the model's context may allow more; prefill time on a
/// CPU grows with it).
pub const DEFAULT_HISTORY_TOKENS: usize = 320;

const PLACEHOLDER: &str = "{history}";

/// A checked profile prompt with its history budget.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfilePrompt {
    template: String,
    history_tokens: usize,
}

impl ProfilePrompt {
    /// `template`: the default when `None`; it must hold `{history}` once.
    pub fn new(template: Option<&str>, history_tokens: usize) -> std::result::Result<Self, String> {
        let template = template.unwrap_or(DEFAULT_PROFILE_PROMPT);
        match template.matches(PLACEHOLDER).count() {
            1 => Ok(ProfilePrompt {
                template: template.to_string(),
                history_tokens,
            }),
            n => Err(format!(
                "the profile prompt must contain {PLACEHOLDER} once (where the user's history \
                 goes); it contains it {n} times"
            )),
        }
    }

    pub fn source(&self) -> &str {
        &self.template
    }

    /// The history as the prompt shows it: one line per item, newest first, as many as fit the
    /// budget (the prompt's own and the model's context).
    pub fn history_text(
        &self,
        writer: &Writer,
        dataset: &Dataset,
        history: &[u32],
    ) -> Result<String> {
        let frame = writer.count_tokens(&writer.chat(&self.template)?)?;
        let budget = self
            .history_tokens
            .min(writer.context_room().saturating_sub(frame));
        let mut lines = Vec::new();
        let mut used = 0;
        for &item in history.iter().rev() {
            let line = history_line(dataset, item);
            // The newline between lines is a token of its own in most vocabularies.
            let cost = writer.count_tokens(&line)? + 1;
            if used + cost > budget {
                break;
            }
            used += cost;
            lines.push(line);
        }
        if lines.is_empty() {
            return Ok("(nothing yet)".to_string());
        }
        Ok(lines.join("\n"))
    }

    /// The whole prompt (in the model's chat template) for one history.
    pub fn render(&self, writer: &Writer, dataset: &Dataset, history: &[u32]) -> Result<String> {
        let history = self.history_text(writer, dataset, history)?;
        writer.chat(&self.template.replacen(PLACEHOLDER, &history, 1))
    }
}

/// One history line: `- Title (Genre, Genre)`.
pub fn history_line(dataset: &Dataset, item: u32) -> String {
    let categories = dataset.item_category_names(item);
    let title = dataset.item_label(item);
    if categories.is_empty() {
        format!("- {title}")
    } else {
        format!("- {title} ({})", categories.join(", "))
    }
}

/// Profiles for `histories`, through `cache` (see [`Writer::write`]).
pub fn write_profiles(
    writer: &Writer,
    prompt: &ProfilePrompt,
    dataset: &Dataset,
    histories: &[&[u32]],
    cache: &mut super::TextCache,
    progress: Progress<'_>,
) -> Result<Written> {
    let prompts = histories
        .iter()
        .map(|h| prompt.render(writer, dataset, h))
        .collect::<Result<Vec<_>>>()?;
    writer.write(&prompts, cache, progress)
}
