//! Some third-party readers panic on malformed input instead of returning an error (found by
//! fuzzing: polars' Parquet reader on a damaged bitmap, tokenizers on a bad `decoder` entry,
//! burn's record decoding on a damaged parameter id). reclab calls them through
//! [`catching`], so a bad file is an error naming it, never a crash of the app or the CLI.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `read`, turning a panic into `Err` with the panic's message.
///
/// Unwind safety: the closures passed here only build new values from a file (a table, a
/// tokenizer, a decoded record); on a panic that partial value is dropped and nothing shared
/// is left half-updated. Code that is not safe to interrupt must not be called through it:
/// burn's loading of weights into a module panicked half-way on integer weights, and after
/// catching that panic the heap was corrupted (found by fuzzing); such inputs are checked
/// before loading instead (`lm::bert::check_element_types`).
pub fn catching<T>(read: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(read)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_a_value_passes_through() {
        assert_eq!(catching(|| 7), Ok(7));
        assert_eq!(
            catching(|| -> u8 { panic!("bad {}", "bitmap") }),
            Err("bad bitmap".to_string())
        );
        assert_eq!(
            catching(|| -> u8 { panic!("plain") }),
            Err("plain".to_string())
        );
    }
}
