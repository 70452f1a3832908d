//! Any interaction log as CSV, TSV or Parquet, with a column mapping, and an optional item
//! table (id, title, categories, free text).

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};
use super::raw::{ItemMeta, RawLog, split_title_year};
use super::table::{Table, TextLayout};

/// Which column holds what. A `None` is found by the usual names (`user_id`, `userId`, `user`,
/// …, compared without case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ColumnMapping {
    pub user: Option<String>,
    pub item: Option<String>,
    pub timestamp: Option<String>,
    pub rating: Option<String>,
}

/// An optional table describing items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ItemTableSpec {
    pub path: PathBuf,
    pub id: Option<String>,
    pub title: Option<String>,
    pub categories: Option<String>,
    pub text: Option<String>,
    /// What separates several categories in one cell.
    pub categories_separator: String,
}

impl Default for ItemTableSpec {
    fn default() -> Self {
        ItemTableSpec {
            path: PathBuf::new(),
            id: None,
            title: None,
            categories: None,
            text: None,
            categories_separator: "|".into(),
        }
    }
}

const USER_NAMES: &[&str] = &[
    "user_id",
    "userid",
    "user",
    "uid",
    "customer_id",
    "visitorid",
];
const ITEM_NAMES: &[&str] = &[
    "item_id",
    "itemid",
    "item",
    "iid",
    "movieid",
    "movie_id",
    "product_id",
    "productid",
];
const TIME_NAMES: &[&str] = &["timestamp", "time", "ts", "datetime", "date", "event_time"];
const RATING_NAMES: &[&str] = &["rating", "score", "stars"];
const TITLE_NAMES: &[&str] = &["title", "name", "movie_title", "item_title"];
const CATEGORY_NAMES: &[&str] = &["categories", "category", "genres", "genre", "class", "tags"];
const TEXT_NAMES: &[&str] = &["text", "description", "plot", "overview", "summary"];

/// Text or Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Delimited(u8),
    Parquet,
}

/// Picks a separator for a text file from its extension, or from its first line.
pub fn guess_separator(path: &Path) -> u8 {
    match path.extension().and_then(|e| e.to_str()) {
        Some("tsv") | Some("tab") | Some("inter") => b'\t',
        Some("csv") => b',',
        _ => {
            let head = super::table::read_head(path, 4096);
            let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
            [b'\t', b',', b';', b'|']
                .into_iter()
                .max_by_key(|sep| line.iter().filter(|b| *b == sep).count())
                .unwrap_or(b',')
        }
    }
}

fn read_any(path: &Path, kind: TableKind, expected: &str) -> Result<Table> {
    match kind {
        TableKind::Parquet => Table::read_parquet(path, expected),
        TableKind::Delimited(sep) => {
            let mut layout = TextLayout::with_header(&(sep as char).to_string());
            layout.quoting = true;
            Table::read_text(path, &layout, expected)
        }
    }
}

/// Finds a column: the one asked for (which must exist) or the first usual name present.
fn resolve(
    table: &Table,
    wanted: &Option<String>,
    usual: &[&str],
    role: &str,
) -> Result<Option<String>> {
    let names = table.column_names();
    if let Some(w) = wanted {
        if table.has_column(w) {
            return Ok(Some(w.clone()));
        }
        return Err(DataError::MissingColumn {
            path: table.path.clone(),
            field: w.clone(),
            expected: format!("a column for the {role}"),
            found: format!("[{}]", names.join(", ")),
            hint: String::new(),
        });
    }
    for candidate in usual {
        if let Some(found) = names.iter().find(|n| {
            let base = n.split(':').next().unwrap_or(n);
            base.eq_ignore_ascii_case(candidate)
        }) {
            return Ok(Some(found.clone()));
        }
    }
    Ok(None)
}

fn required(
    table: &Table,
    found: Option<String>,
    usual: &[&str],
    role: &str,
    flag: &str,
) -> Result<String> {
    found.ok_or_else(|| DataError::MissingColumn {
        path: table.path.clone(),
        field: usual[0].to_string(),
        expected: format!("a {role} column named one of {usual:?}, or name it with {flag}"),
        found: format!("[{}]", table.column_names().join(", ")),
        hint: super::table::describe_columns_hint(table),
    })
}

/// Reads an interaction log with the given column mapping.
pub fn read_tabular(
    path: &Path,
    kind: TableKind,
    columns: &ColumnMapping,
    items: Option<&ItemTableSpec>,
) -> Result<RawLog> {
    let table = read_any(
        path,
        kind,
        "a header line naming the user and item columns, then rows",
    )?;
    let user = resolve(&table, &columns.user, USER_NAMES, "user id")?;
    let user = required(&table, user, USER_NAMES, "user id", "--user-col")?;
    let item = resolve(&table, &columns.item, ITEM_NAMES, "item id")?;
    let item = required(&table, item, ITEM_NAMES, "item id", "--item-col")?;
    let time = resolve(&table, &columns.timestamp, TIME_NAMES, "timestamp")?;
    let rating = resolve(&table, &columns.rating, RATING_NAMES, "rating")?;
    let (users, user_keys) = table.factorize(&user, "a user id")?;
    let (items_codes, item_keys) = table.factorize(&item, "an item id")?;
    let timestamps = match time {
        Some(t) => Some(table.floats(&t, "a number (the timestamp, e.g. Unix seconds)")?),
        None => None,
    };
    let ratings = match rating {
        Some(r) => Some(
            table
                .floats(&r, "a number (the rating)")?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        ),
        None => None,
    };
    let mut log = RawLog {
        user_keys,
        item_keys,
        users,
        items: items_codes,
        timestamps,
        ratings,
        item_meta: Vec::new(),
    };
    if let Some(spec) = items {
        log.attach_items(read_item_table(spec)?);
    }
    Ok(log)
}

/// Reads an item table: id, and optionally title (a trailing `(year)` is split off),
/// categories and free text.
pub fn read_item_table(spec: &ItemTableSpec) -> Result<FxHashMap<String, ItemMeta>> {
    let kind = match spec.path.extension().and_then(|e| e.to_str()) {
        Some("parquet") | Some("pq") => TableKind::Parquet,
        _ => TableKind::Delimited(guess_separator(&spec.path)),
    };
    let table = read_any(
        &spec.path,
        kind,
        "a header line naming the item id column, then rows",
    )?;
    let id = resolve(&table, &spec.id, ITEM_NAMES, "item id")?;
    let id = required(&table, id, ITEM_NAMES, "item id", "--item-id-col")?;
    let title = resolve(&table, &spec.title, TITLE_NAMES, "title")?;
    let categories = resolve(&table, &spec.categories, CATEGORY_NAMES, "categories")?;
    let text = resolve(&table, &spec.text, TEXT_NAMES, "text")?;
    let ids = table.text(&id, "an item id")?;
    let column = |name: &Option<String>| -> Result<Option<Vec<Option<String>>>> {
        match name {
            Some(n) => table.optional_text(n),
            None => Ok(None),
        }
    };
    let titles = column(&title)?;
    let cats = column(&categories)?;
    let texts = column(&text)?;
    let others = table.other_columns(&[
        Some(id.as_str()),
        title.as_deref(),
        categories.as_deref(),
        text.as_deref(),
    ])?;
    let mut out = FxHashMap::default();
    for (row, key) in ids.into_iter().enumerate() {
        let Some(key) = key else {
            return Err(table.bad_value(row, &id, "", "an item id"));
        };
        let cell = |c: &Option<Vec<Option<String>>>| c.as_ref().and_then(|c| c[row].clone());
        let (title, year) = match cell(&titles) {
            Some(t) => {
                let (t, y) = split_title_year(&t);
                (Some(t), y)
            }
            None => (None, None),
        };
        let categories = cell(&cats)
            .map(|c| {
                c.split(spec.categories_separator.as_str())
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        out.insert(
            key,
            ItemMeta {
                title,
                categories,
                year,
                text: cell(&texts),
                fields: Table::fields_at(&others, row),
            },
        );
    }
    Ok(out)
}
