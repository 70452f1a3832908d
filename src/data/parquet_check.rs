//! A look at a Parquet file's footer and page headers before polars decodes it. polars-parquet
//! 0.55 reserves memory from counts in the file before checking them against the file's size,
//! and an allocation failure aborts the process (it cannot be caught like a panic). Both were
//! found by fuzzing (inputs in `fuzz/regressions/parquet`):
//! - a list in the footer claiming up to 2³¹ entries made its metadata reader reserve up to
//!   136 GB: here the footer is walked the way that reader walks it, and every list it would
//!   reserve memory for must fit in the bytes that remain;
//! - a data page claiming a negative number of values (read as 2⁶⁴ − n) made it reserve 2 EiB:
//!   here every page of a flat column must hold at most its row group's rows.

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

/// No list in the footer claims more entries than its remaining bytes could hold.
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
    let mut footer = Footer {
        bytes: &bytes[n - 8 - length..n - 8],
        at: 0,
    };
    match footer.file_metadata() {
        Err(Stop::OverClaim(message)) => Err(message),
        // Where polars' reader fails on its own it reserves nothing more: its error is the
        // clearer one, so the walk lets it speak.
        Ok(()) | Err(Stop::ReaderFails) => Ok(()),
    }
}

/// Why the walk of the footer stopped early.
enum Stop {
    /// A list claims more entries than the footer could hold: polars would reserve memory
    /// for all of them before failing.
    OverClaim(String),
    /// polars' reader fails here with an error (or a panic that `guard::catching` turns into
    /// one) before reserving anything.
    ReaderFails,
}

type Walk = Result<(), Stop>;

/// The fewest bytes a list entry takes when polars reads it without error: each field header
/// takes a byte, each number at least one, a string its length byte, a struct its stop byte.
/// polars reserves room for the whole list first, so a list claiming more entries than the
/// remaining bytes could hold would fail anyway, after the reservation.
mod min_entry_bytes {
    /// `name`, then the stop byte.
    pub const SCHEMA_ELEMENT: u64 = 3;
    /// `columns` (an empty list), `total_byte_size`, `num_rows`, then the stop byte.
    pub const ROW_GROUP: u64 = 7;
    /// `key`, then the stop byte.
    pub const KEY_VALUE: u64 = 3;
    /// One variant holding an empty struct, then the stop byte.
    pub const COLUMN_ORDER: u64 = 3;
    /// `meta_data` (its five required numbers and its stop byte), then the stop byte.
    pub const COLUMN_CHUNK: u64 = 13;
    /// `column_idx`, the two flags (each in its field header), then the stop byte.
    pub const SORTING_COLUMN: u64 = 5;
}

/// polars-parquet 0.55's footer reader (`handwritten_thrift/file_metadata_thrift.rs`), walked
/// without building anything. It reads a known field by the type it expects, whatever type
/// the field declares, and skips an unknown one by its declared type; so must this walk, or a
/// footer whose declared types lie would lead the two readers to different bytes.
struct Footer<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Footer<'_> {
    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.at) as u64
    }

    fn byte(&mut self) -> Result<u8, Stop> {
        let byte = *self.bytes.get(self.at).ok_or(Stop::ReaderFails)?;
        self.at += 1;
        Ok(byte)
    }

    /// A ULEB128 number; polars reads any length and keeps the low 64 bits.
    fn varint(&mut self) -> Result<u64, Stop> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f).wrapping_shl(shift);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn skip_bytes(&mut self, length: u64) -> Walk {
        if length > self.remaining() {
            return Err(Stop::ReaderFails);
        }
        self.at += length as usize;
        Ok(())
    }

    /// A string or binary: its length, then its bytes.
    fn binary(&mut self) -> Walk {
        let length = self.varint()?;
        self.skip_bytes(length)
    }

    fn number(&mut self) -> Walk {
        self.varint().map(|_| ())
    }

    /// A list header: its element type and its count, which polars reads as an `i32`.
    fn list_header(&mut self) -> Result<(u8, i32), Stop> {
        let header = self.byte()?;
        let (count, kind) = (header >> 4, header & 0x0f);
        // Element types are 1 to 12; an empty list may leave its type 0.
        let known_type = (1..=12).contains(&kind) || (kind == 0 && count == 0);
        if !known_type {
            return Err(Stop::ReaderFails);
        }
        let count = if count == 15 {
            self.varint()? as i32 // polars' own truncation
        } else {
            i32::from(count)
        };
        Ok((kind, count))
    }

    /// A list polars reads into a vector it sizes from the count first.
    fn list(&mut self, min_entry_bytes: u64, mut entry: impl FnMut(&mut Self) -> Walk) -> Walk {
        let (_, count) = self.list_header()?;
        let entries = u64::try_from(count).unwrap_or(0);
        let remaining = self.remaining();
        if entries.saturating_mul(min_entry_bytes) > remaining {
            return Err(Stop::OverClaim(format!(
                "the metadata in the footer is damaged at byte {}: a list claims {entries} entries of at least {min_entry_bytes} bytes where {remaining} bytes remain",
                self.at
            )));
        }
        for _ in 0..entries {
            entry(self)?;
        }
        Ok(())
    }

    /// A list polars skips entry by entry without storing it.
    fn skip_list(&mut self, mut entry: impl FnMut(&mut Self) -> Walk) -> Walk {
        let (_, count) = self.list_header()?;
        for _ in 0..count.max(0) {
            entry(self)?;
        }
        Ok(())
    }

    /// The fields of a struct up to its stop byte; `field` gets each field's id and declared
    /// type, and skips what it does not know with `skip`.
    fn fields(&mut self, mut field: impl FnMut(&mut Self, i16, u8) -> Walk) -> Walk {
        let mut last_id = 0i16;
        loop {
            let header = self.byte()?;
            let (delta, kind) = (header >> 4, header & 0x0f);
            if kind > 12 {
                return Err(Stop::ReaderFails);
            }
            if kind == 0 {
                return Ok(());
            }
            let id = if delta == 0 {
                let zigzag = self.varint()?;
                ((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64)) as i16
            } else {
                last_id
                    .checked_add(i16::from(delta))
                    .ok_or(Stop::ReaderFails)?
            };
            field(self, id, kind)?;
            last_id = id;
        }
    }

    /// A field polars reads as a boolean: the value is in the field's header, and polars
    /// panics (caught) on any other declared type.
    fn boolean(kind: u8) -> Walk {
        match kind {
            1 | 2 => Ok(()),
            _ => Err(Stop::ReaderFails),
        }
    }

    /// polars' `skip` of a value by its declared type, at most 64 levels deep.
    fn skip(&mut self, kind: u8, depth: u8) -> Walk {
        if depth == 0 {
            return Err(Stop::ReaderFails);
        }
        match kind {
            1 | 2 => Ok(()),
            3 => self.skip_bytes(1),
            4..=6 => self.number(),
            7 => self.skip_bytes(8),
            8 => self.binary(),
            12 => self.fields(|walk, _, kind| walk.skip(kind, depth - 1)),
            9 => {
                let (element, count) = self.list_header()?;
                // polars skips boolean entries without reading a byte, and refuses Set and
                // Map entries when there is one to skip.
                match element {
                    1 | 2 => Ok(()),
                    10 | 11 if count > 0 => Err(Stop::ReaderFails),
                    _ => {
                        for _ in 0..count.max(0) {
                            self.skip(element, depth - 1)?;
                        }
                        Ok(())
                    }
                }
            }
            _ => Err(Stop::ReaderFails),
        }
    }

    fn skip_unknown(&mut self, kind: u8) -> Walk {
        self.skip(kind, 64)
    }

    fn empty_struct(&mut self) -> Walk {
        self.fields(|walk, _, kind| walk.skip_unknown(kind))
    }

    fn file_metadata(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1 | 3 => walk.number(),
            2 => walk.list(min_entry_bytes::SCHEMA_ELEMENT, Self::schema_element),
            4 => walk.list(min_entry_bytes::ROW_GROUP, Self::row_group),
            5 => walk.list(min_entry_bytes::KEY_VALUE, Self::key_value),
            6 => walk.binary(),
            7 => walk.list(min_entry_bytes::COLUMN_ORDER, Self::column_order),
            _ => walk.skip_unknown(kind),
        })
    }

    fn schema_element(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1..=3 | 5..=9 => walk.number(),
            4 => walk.binary(),
            10 => walk.logical_type(),
            _ => walk.skip_unknown(kind),
        })
    }

    fn logical_type(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1..=4 | 6 | 11..=15 => walk.empty_struct(),
            5 => walk.fields(|walk, id, kind| match id {
                1 | 2 => walk.number(), // scale, precision
                _ => walk.skip_unknown(kind),
            }),
            7 | 8 => walk.fields(|walk, id, kind| match id {
                1 => Self::boolean(kind), // adjusted to UTC
                2 => walk.fields(|walk, id, kind| match id {
                    1..=3 => walk.empty_struct(), // the time unit
                    _ => walk.skip_unknown(kind),
                }),
                _ => walk.skip_unknown(kind),
            }),
            10 => walk.fields(|walk, id, kind| match id {
                1 => walk.skip_bytes(1),  // bit width
                2 => Self::boolean(kind), // signed
                _ => walk.skip_unknown(kind),
            }),
            _ => walk.skip_unknown(kind),
        })
    }

    fn row_group(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1 => walk.list(min_entry_bytes::COLUMN_CHUNK, Self::column_chunk),
            2 | 3 | 5..=7 => walk.number(),
            4 => walk.list(min_entry_bytes::SORTING_COLUMN, Self::sorting_column),
            _ => walk.skip_unknown(kind),
        })
    }

    fn column_chunk(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1 => walk.binary(),
            2 | 4..=7 => walk.number(),
            3 => walk.column_meta_data(),
            _ => walk.skip_unknown(kind),
        })
    }

    fn column_meta_data(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1 | 4..=7 | 9..=11 | 14 | 15 => walk.number(),
            2 => walk.skip_list(Self::number),
            3 => walk.skip_list(Self::binary),
            12 => walk.statistics(),
            _ => walk.skip_unknown(kind),
        })
    }

    fn statistics(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1 | 2 => walk.binary(),
            3 | 4 => walk.number(),
            // min and max values: polars keeps the low 32 bits of their lengths
            5 | 6 => {
                let length = walk.varint()? as u32;
                walk.skip_bytes(u64::from(length))
            }
            7 | 8 => Self::boolean(kind),
            _ => walk.skip_unknown(kind),
        })
    }

    fn key_value(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1 | 2 => walk.binary(),
            _ => walk.skip_unknown(kind),
        })
    }

    fn sorting_column(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1 => walk.number(),
            2 | 3 => Self::boolean(kind),
            _ => walk.skip_unknown(kind),
        })
    }

    fn column_order(&mut self) -> Walk {
        self.fields(|walk, id, kind| match id {
            1 | 2 => walk.empty_struct(),
            _ => walk.skip_unknown(kind),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A Parquet file's tail around `metadata`: its length and the magic.
    fn with_footer(metadata: &[u8]) -> Vec<u8> {
        let mut file = b"PAR1".to_vec();
        file.extend_from_slice(metadata);
        file.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
        file.extend_from_slice(b"PAR1");
        file
    }

    #[test]
    fn walks_every_seed_footer_to_its_end() {
        // Files written by pyarrow and polars, with statistics, dictionaries and nulls: the
        // walk must read each footer exactly as polars does, to its last byte.
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/parquet");
        let mut walked = 0;
        for entry in std::fs::read_dir(folder).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let n = bytes.len();
            let length = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
            let mut footer = Footer {
                bytes: &bytes[n - 8 - length..n - 8],
                at: 0,
            };
            assert!(footer.file_metadata().is_ok());
            assert_eq!(footer.at, length);
            walked += 1;
        }
        assert!(walked >= 5);
    }

    #[test]
    fn a_list_hidden_behind_another_declared_type_is_measured() {
        // Field 2 (the schema) declared as an i32, holding a list header that claims 2³¹ − 1
        // structs: polars reads field 2 as a list whatever it declares and would reserve room
        // for all of them; a walk by declared types would read one long number and pass.
        let metadata = [0x25, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        let message = check_footer(&with_footer(&metadata)).unwrap_err();
        assert!(message.contains("claims 2147483647 entries"), "{message}");
    }

    #[test]
    fn a_list_that_fits_is_left_to_polars() {
        // Two schema entries claimed in the 6 bytes left, the second one nameless: polars fails
        // on its own with nothing large reserved, so the check lets its error through.
        let metadata = [0x29, 0x2c, 0x48, 0x01, b'a', 0x00, 0x00, 0x00];
        assert_eq!(check_footer(&with_footer(&metadata)), Ok(()));
        // The same list claiming three entries in the 6 bytes left is refused.
        let metadata = [0x29, 0x3c, 0x48, 0x01, b'a', 0x00, 0x00, 0x00];
        assert!(check_footer(&with_footer(&metadata)).is_err());
    }
}
