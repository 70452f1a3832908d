//! Errors of the data layer. Every variant names the file and, where it is known, the line or
//! row and the field, and says what was expected, so a user can fix the input without a debugger.

use std::fmt;
use std::path::PathBuf;

/// Where in a file a problem sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// A 1-based line of a text file (the header, if any, is line 1).
    Line(usize),
    /// A 1-based data row of a binary table (Parquet), header not counted.
    Row(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// Anything that can go wrong while finding, reading, checking or caching a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: no such file or folder; check the path (a dataset is a folder, one of its files, or `synthetic`)", path.display())]
    NotFound { path: PathBuf },

    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: the file is empty; expected {expected}", path.display())]
    Empty { path: PathBuf, expected: String },

    #[error("{}: a first line ({header_bytes} bytes) but no data rows after it; expected {expected}", path.display())]
    NoRows {
        path: PathBuf,
        header_bytes: usize,
        expected: String,
    },

    #[error("{}, {position}: the text is not valid UTF-8; expected UTF-8 text (re-save the file as UTF-8, or pick a format that declares latin-1 such as `ml-100k`)", path.display())]
    NotUtf8 { path: PathBuf, position: Position },

    #[error("{}: no column `{field}`; expected {expected}. The header has {found}{hint}", path.display())]
    MissingColumn {
        path: PathBuf,
        field: String,
        expected: String,
        found: String,
        hint: String,
    },

    #[error("{}, {position}, field `{field}`: found {value:?}; expected {expected}", path.display())]
    BadValue {
        path: PathBuf,
        position: Position,
        field: String,
        value: String,
        expected: String,
    },

    #[error("{}: cannot parse the table: {message}", path.display())]
    Table { path: PathBuf, message: String },

    #[error("{}: cannot tell the dataset format: {reason}; force one with --format", path.display())]
    UnknownFormat { path: PathBuf, reason: String },

    #[error("invalid configuration: {0}")]
    Config(String),

    #[error("no interactions are left after preprocessing ({0}); loosen the filters")]
    NothingLeft(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound { path }
        } else {
            DataError::Io { path, source }
        }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
