//! A look at a Parquet file's footer and page headers before polars decodes it. polars-parquet
//! 0.55 reserves memory from counts in the file before checking them against the file's size,
//! and an allocation failure aborts the process (it cannot be caught like a panic). Both were
//! found by fuzzing (inputs in `fuzz/regressions/parquet`):
//! - a list in the footer claiming 2³¹ entries made its metadata reader reserve 136 GB: here
//!   every list, set, map and string in the footer must fit in the bytes that remain;
//! - a data page claiming a negative number of values (read as 2⁶⁴ − n) made it reserve 2 EiB:
//!   here every page of a flat column must hold at most its row group's rows.
//!
//! The footer walk follows the types the file declares; polars reads a field by the type it
//! expects whatever is declared, so a footer whose declared types lie can still reach its
//! reader (`fuzz/open-crashes/parquet`). Closing that needs polars' field table mirrored here,
//! or a fix upstream.

use std::io::Cursor;

use polars_buffer::Buffer;
use polars_parquet::parquet::page::CompressedPage;
use polars_parquet::parquet::read::{get_page_iterator, read_metadata};

/// The largest page polars reads by default (1 GiB), here as in its reader.
const MAX_PAGE_SIZE: usize = 1 << 30;

/// Checks the footer and the page headers of the Parquet file `bytes`; the message says what
/// is wrong. (A `Buffer` because polars' page reader wants one: shared, not copied.)
pub fn check(bytes: &Buffer<u8>) -> Result<(), String> {
    check_footer(bytes)?;
    check_page_headers(bytes)
}

/// Every length in the footer (Thrift compact encoding) fits in the bytes after it.
fn check_footer(bytes: &[u8]) -> Result<(), String> {
    let n = bytes.len();
    if n < 12 || &bytes[n - 4..] != b"PAR1" {
        return Err("the file does not end in PAR1 (not a Parquet file)".into());
    }
    let length = u32::from_le_bytes([bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]);
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > n - 8 {
        return Err(format!(
            "the footer claims {length} bytes of metadata in a {n}-byte file"
        ));
    }
    let mut footer = Thrift {
        bytes: &bytes[n - 8 - length..n - 8],
        at: 0,
    };
    footer.skip_struct(0)
}

/// A reader of Thrift's compact protocol that only walks values, checking their lengths.
struct Thrift<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Structures nest this deep at most (Parquet's footer needs a handful of levels).
const MAX_DEPTH: usize = 32;

impl Thrift<'_> {
    fn damaged(&self, what: &str) -> String {
        format!(
            "the metadata in the footer is damaged at byte {}: {what}",
            self.at
        )
    }

    fn byte(&mut self) -> Result<u8, String> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| self.damaged("it ends early"))?;
        self.at += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.damaged("a number longer than 64 bits"))
    }

    /// A count or length that must fit in the bytes left (every entry takes at least one).
    fn fits(&self, claimed: u64, what: &str) -> Result<(), String> {
        let remaining = (self.bytes.len() - self.at) as u64;
        if claimed > remaining {
            return Err(self.damaged(&format!(
                "a {what} claims {claimed} bytes or entries where {remaining} bytes remain"
            )));
        }
        Ok(())
    }

    /// Skips `length` bytes, or says they are not there.
    fn skip(&mut self, length: u64, what: &str) -> Result<(), String> {
        self.fits(length, what)?;
        self.at += length as usize;
        Ok(())
    }

    fn skip_struct(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.damaged("structures nested too deep"));
        }
        loop {
            let header = self.byte()?;
            let kind = header & 0x0f;
            if kind == 0 {
                return Ok(());
            }
            if header >> 4 == 0 {
                self.varint()?; // the field id, written in full
            }
            self.skip_value(kind, depth)?;
        }
    }

    /// A value inside a list, set or map: there a boolean takes a byte of its own.
    fn skip_element(&mut self, kind: u8, depth: usize) -> Result<(), String> {
        match kind {
            1 | 2 => self.skip(1, "boolean"),
            _ => self.skip_value(kind, depth),
        }
    }

    fn skip_value(&mut self, kind: u8, depth: usize) -> Result<(), String> {
        match kind {
            // true and false are in the field header itself
            1 | 2 => Ok(()),
            3 => self.skip(1, "byte"),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip(8, "double"),
            8 => {
                let length = self.varint()?;
                self.skip(length, "string")
            }
            9 | 10 => {
                let header = self.byte()?;
                let size = match header >> 4 {
                    15 => self.varint()?,
                    small => u64::from(small),
                };
                self.fits(size, "list")?;
                let element = header & 0x0f;
                for _ in 0..size {
                    self.skip_element(element, depth + 1)?;
                }
                Ok(())
            }
            11 => {
                let size = self.varint()?;
                self.fits(size, "map")?;
                if size > 0 {
                    let kinds = self.byte()?;
                    for _ in 0..size {
                        self.skip_element(kinds >> 4, depth + 1)?;
                        self.skip_element(kinds & 0x0f, depth + 1)?;
                    }
                }
                Ok(())
            }
            12 => self.skip_struct(depth + 1),
            other => Err(self.damaged(&format!("unknown value type {other}"))),
        }
    }
}

/// Every page of a flat column holds at most its row group's rows.
fn check_page_headers(buffer: &Buffer<u8>) -> Result<(), String> {
    let metadata = read_metadata(&mut Cursor::new(buffer.as_slice())).map_err(|e| e.to_string())?;
    for (group, row_group) in metadata.row_groups.iter().enumerate() {
        let rows = row_group.num_rows();
        for column in row_group.parquet_columns() {
            // Repeated (nested) columns hold more values than rows; reclab's logs have none,
            // and polars refuses what it cannot read as a column anyway.
            if column.descriptor().descriptor.max_rep_level > 0 {
                continue;
            }
            let pages = get_page_iterator(
                column,
                Cursor::new(buffer.clone()),
                Vec::new(),
                MAX_PAGE_SIZE,
            )
            .map_err(|e| e.to_string())?;
            for page in pages {
                let CompressedPage::Data(page) = page.map_err(|e| e.to_string())? else {
                    continue;
                };
                let values = page.num_values();
                if values > rows {
                    return Err(format!(
                        "a page of column `{}` in row group {group} claims {values} values, but the row group holds {rows} rows (a damaged page header)",
                        column.descriptor().path_in_schema.join(".")
                    ));
                }
            }
        }
    }
    Ok(())
}
