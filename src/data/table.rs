//! Reading one delimited text or Parquet file into a polars `DataFrame`, and pulling typed,
//! checked columns out of it. Text is decoded and validated here (UTF-8 or latin-1, multi-byte
//! separators) so that polars only ever sees clean UTF-8 and every error can name its line.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rustc_hash::FxHashMap;

use super::error::{DataError, Position, Result};

/// How the bytes of a text file are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8; anything else is an error that names the line.
    Utf8,
    /// ISO-8859-1, as the older MovieLens files are. A file that is already valid UTF-8 is taken
    /// as UTF-8, since some redistributions re-encoded them.
    Latin1,
}

/// How to cut a text file into fields.
#[derive(Debug, Clone)]
pub struct TextLayout {
    /// The field separator; may be several bytes (MovieLens 1M uses `::`).
    pub separator: String,
    /// Column names to use when the file has no header line.
    pub column_names: Option<Vec<String>>,
    pub encoding: Encoding,
    /// Whether `"` quotes fields. MovieLens and RecBole files are unquoted and their titles
    /// contain stray quotes, so it is off for them.
    pub quoting: bool,
}

impl TextLayout {
    pub fn with_header(separator: &str) -> Self {
        TextLayout {
            separator: separator.to_string(),
            column_names: None,
            encoding: Encoding::Utf8,
            quoting: false,
        }
    }

    pub fn headerless(separator: &str, names: &[&str], encoding: Encoding) -> Self {
        TextLayout {
            separator: separator.to_string(),
            column_names: Some(names.iter().map(|s| s.to_string()).collect()),
            encoding,
            quoting: false,
        }
    }

    fn separator_name(&self) -> String {
        describe_separator(&self.separator)
    }
}

/// A human name for a separator, for messages.
pub fn describe_separator(sep: &str) -> String {
    match sep {
        "\t" => "tab".to_string(),
        "," => "comma".to_string(),
        ";" => "semicolon".to_string(),
        "|" => "`|`".to_string(),
        other => format!("`{other}`"),
    }
}

/// A parsed file: every column as polars read it, plus what is needed to point at a line.
pub struct Table {
    pub path: PathBuf,
    pub frame: DataFrame,
    /// Line number of the first data row in text files (2 with a header, 1 without); `None`
    /// for Parquet, whose positions are rows.
    first_data_line: Option<usize>,
    separator: Option<String>,
}

/// The byte used in place of a multi-byte separator before polars sees the text.
const UNIT_SEPARATOR: u8 = 0x1f;

/// Reads the whole file, failing with a message that names it.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}

/// The first `n` bytes of a file (fewer if it is shorter; none if it cannot be read), for
/// format detection.
pub fn read_head(path: &Path, n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::with_capacity(n);
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(n as u64).read_to_end(&mut head);
    }
    head
}

impl Table {
    /// Reads a delimited text file. Every column is read as text; typed accessors below parse
    /// and report the first bad value with its line.
    pub fn read_text(path: &Path, layout: &TextLayout, expected: &str) -> Result<Table> {
        let bytes = read_bytes(path)?;
        Self::parse_text(path, bytes, layout, expected)
    }

    /// Parses text already in memory (used by the readers that transform a file first).
    pub fn parse_text(
        path: &Path,
        bytes: Vec<u8>,
        layout: &TextLayout,
        expected: &str,
    ) -> Result<Table> {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
                expected: expected.to_string(),
            });
        }
        let text = decode(path, bytes, layout.encoding)?;
        let (bytes, separator) = if layout.separator.len() == 1 {
            (text.into_bytes(), layout.separator.as_bytes()[0])
        } else {
            let replaced = text.replace(&layout.separator, "\u{1f}");
            (replaced.into_bytes(), UNIT_SEPARATOR)
        };
        let first_line_bytes = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let has_header = layout.column_names.is_none();
        let quote = layout.quoting.then_some(b'"');
        let options = CsvReadOptions::default()
            .with_has_header(has_header)
            // All columns as text: typed parsing happens in `floats`, which can name the line.
            .with_infer_schema_length(Some(0))
            .with_raise_if_empty(false)
            .map_parse_options(|o| o.with_separator(separator).with_quote_char(quote));
        let mut frame = crate::guard::catching(|| {
            options
                .into_reader_with_file_handle(Cursor::new(bytes))
                .finish()
        })
        .map_err(|panic| format!("the CSV reader stopped on malformed data ({panic})"))
        .and_then(|read| read.map_err(|e| e.to_string()))
        .map_err(|message| DataError::Table {
            path: path.to_path_buf(),
            message: format!(
                "{message} (fields separated by {})",
                layout.separator_name()
            ),
        })?;
        if frame.height() == 0 {
            return Err(DataError::NoRows {
                path: path.to_path_buf(),
                header_bytes: first_line_bytes,
                expected: expected.to_string(),
            });
        }
        if let Some(names) = &layout.column_names {
            if frame.width() < names.len() {
                return Err(DataError::MissingColumn {
                    path: path.to_path_buf(),
                    field: names[frame.width()].clone(),
                    expected: format!(
                        "{} fields separated by {} ({})",
                        names.len(),
                        layout.separator_name(),
                        names.join(", ")
                    ),
                    found: format!("{} field(s) on line 1", frame.width()),
                    hint: separator_hint(&frame, &layout.separator),
                });
            }
            let mut all: Vec<String> = names.clone();
            for extra in names.len()..frame.width() {
                all.push(format!("extra_{}", extra + 1));
            }
            frame.set_column_names(&all).map_err(|e| DataError::Table {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        Ok(Table {
            path: path.to_path_buf(),
            frame,
            first_data_line: Some(if has_header { 2 } else { 1 }),
            separator: Some(layout.separator.clone()),
        })
    }

    /// Reads a Parquet file.
    pub fn read_parquet(path: &Path, expected: &str) -> Result<Table> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let bytes = polars_buffer::Buffer::from_vec(bytes);
        let frame = crate::guard::catching(|| {
            super::parquet_check::check(&bytes)
                .map(|()| ParquetReader::new(Cursor::new(bytes.as_slice())).finish())
        })
        .map_err(|panic| format!("the Parquet reader stopped on malformed data ({panic})"))
        .and_then(|checked| checked)
        .and_then(|read| read.map_err(|e| e.to_string()))
        .map_err(|message| DataError::Table {
            path: path.to_path_buf(),
            message: format!("{message} (expected a Parquet file)"),
        })?;
        if frame.height() == 0 {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
                expected: expected.to_string(),
            });
        }
        Ok(Table {
            path: path.to_path_buf(),
            frame,
            first_data_line: None,
            separator: None,
        })
    }

    pub fn len(&self) -> usize {
        self.frame.height()
    }

    pub fn is_empty(&self) -> bool {
        self.frame.height() == 0
    }

    /// Column names in file order.
    pub fn column_names(&self) -> Vec<String> {
        self.frame
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.frame.column(name).is_ok()
    }

    /// The position of 0-based data row `row`, for messages.
    pub fn position(&self, row: usize) -> Position {
        match self.first_data_line {
            Some(first) => Position::Line(first + row),
            None => Position::Row(row + 1),
        }
    }

    pub(crate) fn column(&self, name: &str, expected: &str) -> Result<&Column> {
        self.frame
            .column(name)
            .map_err(|_| DataError::MissingColumn {
                path: self.path.clone(),
                field: name.to_string(),
                expected: expected.to_string(),
                found: format!("[{}]", self.column_names().join(", ")),
                hint: describe_columns_hint(self),
            })
    }

    fn table_error(&self, e: PolarsError) -> DataError {
        DataError::Table {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// The column as text; numbers in Parquet are formatted.
    fn text_column(&self, name: &str, expected: &str) -> Result<StringChunked> {
        let column = self.column(name, expected)?;
        let column = column
            .cast(&DataType::String)
            .map_err(|e| self.table_error(e))?;
        column.str().cloned().map_err(|e| self.table_error(e))
    }

    /// Maps a required id column to dense codes in order of first appearance, returning the
    /// code of every row and the distinct ids. An empty id is an error naming its line.
    pub fn factorize(&self, name: &str, expected: &str) -> Result<(Vec<u32>, Vec<String>)> {
        let column = self.text_column(name, expected)?;
        let mut codes = Vec::with_capacity(column.len());
        let mut keys: Vec<String> = Vec::new();
        let mut index: FxHashMap<&str, u32> = FxHashMap::default();
        for (row, value) in column.iter().enumerate() {
            let id = value.map(str::trim).unwrap_or("");
            if id.is_empty() {
                return Err(self.bad_value(row, name, "", expected));
            }
            let next = keys.len() as u32;
            let code = *index.entry(id).or_insert_with(|| {
                keys.push(id.to_string());
                next
            });
            codes.push(code);
        }
        Ok((codes, keys))
    }

    /// A required numeric column. The first value that is missing or not a number is an error
    /// naming its line, field and value. Datetime columns (Parquet) become Unix seconds.
    pub fn floats(&self, name: &str, expected: &str) -> Result<Vec<f64>> {
        let column = self.column(name, expected)?;
        let seconds_per_unit = match column.dtype() {
            DataType::Datetime(unit, _) | DataType::Duration(unit) => Some(match unit {
                TimeUnit::Milliseconds => 1e-3,
                TimeUnit::Microseconds => 1e-6,
                TimeUnit::Nanoseconds => 1e-9,
            }),
            DataType::Date => Some(86_400.0),
            _ => None,
        };
        let source = if seconds_per_unit.is_some() {
            column
                .cast(&DataType::Int64)
                .map_err(|e| self.table_error(e))?
        } else {
            column.clone()
        };
        let numbers = source
            .cast(&DataType::Float64)
            .map_err(|e| self.table_error(e))?;
        let numbers = numbers.f64().map_err(|e| self.table_error(e))?;
        let scale = seconds_per_unit.unwrap_or(1.0);
        let mut out = Vec::with_capacity(numbers.len());
        for (row, value) in numbers.iter().enumerate() {
            match value {
                Some(v) if v.is_finite() => out.push(v * scale),
                _ => {
                    let raw = self
                        .text_column(name, expected)?
                        .get(row)
                        .unwrap_or("")
                        .to_string();
                    // polars does not trim; accept padded numbers as a person would.
                    match raw.trim().parse::<f64>() {
                        Ok(v) if v.is_finite() => out.push(v * scale),
                        _ => return Err(self.bad_value(row, name, &raw, expected)),
                    }
                }
            }
        }
        Ok(out)
    }

    /// An optional text column: `None` when the column is absent.
    pub fn optional_text(&self, name: &str) -> Result<Option<Vec<Option<String>>>> {
        if !self.has_column(name) {
            return Ok(None);
        }
        let column = self.text_column(name, "")?;
        Ok(Some(
            column
                .iter()
                .map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
                .collect(),
        ))
    }

    /// Every column not named in `used`, as text, for item-text templates.
    pub fn other_columns(
        &self,
        used: &[Option<&str>],
    ) -> Result<Vec<(String, Vec<Option<String>>)>> {
        let mut out = Vec::new();
        for name in self.column_names() {
            if used.contains(&Some(name.as_str())) {
                continue;
            }
            if let Some(values) = self.optional_text(&name)? {
                out.push((name, values));
            }
        }
        Ok(out)
    }

    /// The cells of `columns` at `row` that hold a value, by column name.
    pub fn fields_at(
        columns: &[(String, Vec<Option<String>>)],
        row: usize,
    ) -> std::collections::BTreeMap<String, String> {
        columns
            .iter()
            .filter_map(|(name, values)| Some((name.clone(), values[row].clone()?)))
            .collect()
    }

    /// A required text column (missing values become `None`).
    pub fn text(&self, name: &str, expected: &str) -> Result<Vec<Option<String>>> {
        let column = self.text_column(name, expected)?;
        Ok(column
            .iter()
            .map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
            .collect())
    }

    pub fn bad_value(&self, row: usize, field: &str, value: &str, expected: &str) -> DataError {
        DataError::BadValue {
            path: self.path.clone(),
            position: self.position(row),
            field: field.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }
}

/// Decodes file bytes to a UTF-8 string, naming the first bad line for UTF-8 files.
fn decode(path: &Path, bytes: Vec<u8>, encoding: Encoding) -> Result<String> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(err) => match encoding {
            Encoding::Latin1 => Ok(err.into_bytes().iter().map(|&b| b as char).collect()),
            Encoding::Utf8 => {
                let offset = err.utf8_error().valid_up_to();
                let bytes = err.into_bytes();
                let line = 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count();
                Err(DataError::NotUtf8 {
                    path: path.to_path_buf(),
                    position: Position::Line(line),
                })
            }
        },
    }
}

/// The separator hint for a table whose columns were not found, if it is text.
pub fn describe_columns_hint(table: &Table) -> String {
    match &table.separator {
        Some(sep) => separator_hint(&table.frame, sep),
        None => String::new(),
    }
}

/// When a file was cut into fewer columns than expected, says which separator its first line
/// seems to use instead.
fn separator_hint(frame: &DataFrame, expected: &str) -> String {
    let header: String = frame
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("");
    let first_value: String = frame
        .columns()
        .first()
        .and_then(|c| c.str().ok().and_then(|s| s.get(0).map(str::to_string)))
        .unwrap_or_default();
    for candidate in ["\t", ",", ";", "|", "::"] {
        if candidate != expected && (header.contains(candidate) || first_value.contains(candidate))
        {
            return format!(
                "; the file seems to be separated by {} but {} was expected (set the separator with --sep or the format with --format)",
                describe_separator(candidate),
                describe_separator(expected)
            );
        }
    }
    String::new()
}
