//! A look at a Parquet file's page headers before polars decodes it. polars-parquet 0.55
//! reserves room for as many values as a data page's header claims; a damaged header (a
//! negative count, read as 2⁶⁴ − n) made it ask for 2 EiB and abort the process — an
//! allocation failure cannot be caught like a panic (found by fuzzing, `fuzz/regressions/parquet`).
//! Here every page of a flat column must hold at most its row group's rows.

use std::io::Cursor;

use polars_buffer::Buffer;
use polars_parquet::parquet::page::CompressedPage;
use polars_parquet::parquet::read::{get_page_iterator, read_metadata};

/// The largest page polars reads by default (1 GiB), here as in its reader.
const MAX_PAGE_SIZE: usize = 1 << 30;

/// Checks the page headers of the Parquet file `bytes`; the message says what is wrong.
pub fn check_page_headers(bytes: &[u8]) -> Result<(), String> {
    let metadata = read_metadata(&mut Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let buffer = Buffer::from_vec(bytes.to_vec());
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
