//! Explanations of a recommendation, written by the generative model from evidence a reader can
//! check: the history items the model rested on (a Transformer's most attended items, else the
//! newest ones) and the recommended item's facts. The prompt holds nothing else, so whether the
//! sentence is faithful can be judged against what is shown beside it.

use super::profiles::history_line;
use crate::data::Dataset;
use crate::lm::Template;

/// The prompt unless told otherwise; `{evidence}` and `{item}` mark the two parts.
pub const DEFAULT_EXPLANATION_PROMPT: &str = "Someone recently enjoyed:\n{evidence}\n\n\
We recommend to them: {item}\n\n\
In one or two sentences, explain why they might like it, using only the facts above. Write \
only the explanation.";

/// Tokens an explanation may take.
pub const DEFAULT_EXPLANATION_TOKENS: usize = 64;

/// How many history items serve as evidence.
pub const EVIDENCE_ITEMS: usize = 3;

/// The evidence for a list: the `attended` history positions (highest weight first) when the
/// model gives them, else the newest items of `history`; at most [`EVIDENCE_ITEMS`].
pub fn evidence(history: &[u32], attended: &[(usize, f32)]) -> Vec<u32> {
    let from_attention: Vec<u32> = attended
        .iter()
        .filter_map(|&(position, _)| history.get(position).copied())
        .take(EVIDENCE_ITEMS)
        .collect();
    if !from_attention.is_empty() {
        return from_attention;
    }
    history.iter().rev().take(EVIDENCE_ITEMS).copied().collect()
}

/// The user message asking why `item` suits someone who enjoyed `evidence`.
pub fn explanation_request(dataset: &Dataset, evidence: &[u32], item: u32) -> String {
    let lines: Vec<String> = evidence.iter().map(|&i| history_line(dataset, i)).collect();
    let facts = Template::default_for(dataset).render(dataset, item);
    DEFAULT_EXPLANATION_PROMPT
        .replacen("{evidence}", &lines.join("\n"), 1)
        .replacen("{item}", &facts, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_prefers_attention_then_the_newest_items() {
        let history = [10, 11, 12, 13, 14];
        // Attention gives positions, highest weight first; out-of-range ones are skipped.
        let attended = [(3, 0.5), (9, 0.3), (0, 0.2), (1, 0.1), (2, 0.05)];
        assert_eq!(evidence(&history, &attended), vec![13, 10, 11]);
        assert_eq!(evidence(&history, &[]), vec![14, 13, 12]);
        assert_eq!(evidence(&[7], &[]), vec![7]);
        assert!(evidence(&[], &[]).is_empty());
    }
}
