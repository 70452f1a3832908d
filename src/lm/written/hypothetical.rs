//! Hypothetical-document retrieval for what a person says to the storefront: the generative
//! model first writes the description of an item that would satisfy the comment ("this phone
//! is great, the battery lasts" → a product description), and that description, not the
//! comment, is embedded and compared with the items' texts. A description reads like the
//! catalogue's texts, which a bare comment does not.

/// The request unless told otherwise; `{comment}` marks what the person typed.
pub const DEFAULT_HYPOTHETICAL_PROMPT: &str = "A person browsing a catalogue says: \"{comment}\"\n\n\
Describe one item from the catalogue that would satisfy them: its title, its genres or \
categories, and one sentence about it. Write only the description.";

/// Tokens a description may take: enough for a title, genres and a sentence.
pub const HYPOTHETICAL_TOKENS: usize = 48;

/// The user message asking for an item that answers `comment`.
pub fn hypothetical_request(comment: &str) -> String {
    DEFAULT_HYPOTHETICAL_PROMPT.replacen("{comment}", comment.trim(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_goes_into_the_request_once() {
        let request = hypothetical_request("  something light ");
        assert!(request.contains("says: \"something light\""), "{request}");
        assert_eq!(request.matches("something light").count(), 1);
    }
}
