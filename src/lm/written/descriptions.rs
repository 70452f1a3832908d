//! LLM-augmented item text (the knowledge augmentation of KAR and LLMRec): the model writes a
//! short description of each item from its fields (title, year, genres or categories, brand —
//! the dataset's default item text), and item-text templates can use it as
//! `{llm_description}`.

use super::{TextCache, Writer, Written};
use crate::data::Dataset;
use crate::lm::{Progress, Result, Template};

/// The field name templates use for the written description.
pub const DESCRIPTION_FIELD: &str = "llm_description";

/// The prompt unless told otherwise; `{item}` marks the item's facts.
pub const DEFAULT_DESCRIPTION_PROMPT: &str = "In two sentences, describe this for someone \
deciding whether to choose it: what it is about and who would enjoy it. Write only the \
description.\n\n{item}";

/// Tokens a description may take.
pub const DEFAULT_DESCRIPTION_TOKENS: usize = 64;

const PLACEHOLDER: &str = "{item}";

/// Whether an item-text template asks for the written description.
pub fn wants_descriptions(template: &str) -> bool {
    template.contains(&format!("{{{DESCRIPTION_FIELD}}}"))
}

/// The prompt for each item (index 1..; index 0, the padding, has none).
pub fn description_prompts(
    writer: &Writer,
    dataset: &Dataset,
    prompt: &str,
) -> Result<Vec<String>> {
    if prompt.matches(PLACEHOLDER).count() != 1 {
        return Err(crate::lm::LmError::Template(format!(
            "the description prompt must contain {PLACEHOLDER} once (where the item's facts go)"
        )));
    }
    let facts = Template::default_for(dataset);
    (1..=dataset.num_items() as u32)
        .map(|item| writer.chat(&prompt.replacen(PLACEHOLDER, &facts.render(dataset, item), 1)))
        .collect()
}

/// A description of every item, through `cache` (see [`Writer::write`]); `texts[i]` is item
/// `i + 1`'s.
pub fn write_descriptions(
    writer: &Writer,
    dataset: &Dataset,
    prompt: &str,
    cache: &mut TextCache,
    progress: Progress<'_>,
) -> Result<Written> {
    let prompts = description_prompts(writer, dataset, prompt)?;
    writer.write(&prompts, cache, progress)
}

/// A copy of `dataset` whose items carry their descriptions as the `llm_description` field.
pub fn with_descriptions(dataset: &Dataset, descriptions: &[String]) -> Dataset {
    let mut augmented = dataset.clone();
    for (item, text) in augmented.items.iter_mut().skip(1).zip(descriptions) {
        item.fields
            .insert(DESCRIPTION_FIELD.to_string(), text.clone());
    }
    augmented
}
