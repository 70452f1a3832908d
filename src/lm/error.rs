//! What can go wrong reading a language-model folder or running it.

use std::path::PathBuf;

/// A language-model error; each names the file (and field) it concerns and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    #[error("{path}: no such file; a Hugging Face model folder needs {expected}")]
    MissingFile { path: PathBuf, expected: String },
    #[error("{path}: cannot read it: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: field `{field}` is {found}; {expected}")]
    Field {
        path: PathBuf,
        field: String,
        found: String,
        expected: String,
    },
    #[error("{path}: the weights do not fit a {architecture} of this configuration: {message}")]
    Weights {
        path: PathBuf,
        architecture: String,
        message: String,
    },
    #[error("{path}: the tokenizer does not load: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("tokenizing {what}: {message}")]
    Tokenize { what: String, message: String },
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    Template(String),
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T> = std::result::Result<T, LmError>;
