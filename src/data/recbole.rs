//! RecBole atomic files: `<name>.inter`, `<name>.item` (and `<name>.user`, not used yet),
//! tab-separated with typed headers such as `user_id:token`, `rating:float`,
//! `class:token_seq` (space-separated tokens).

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use super::error::{DataError, Result};
use super::raw::{ItemMeta, RawLog, split_title_year};
use super::table::{Table, TextLayout};

/// The field types RecBole declares in a header.
const FIELD_TYPES: [&str; 4] = ["token", "token_seq", "float", "float_seq"];

/// Reads `<dir>/<name>.inter` and, if present, `<dir>/<name>.item`.
pub fn read_recbole(dir: &Path, name: &str) -> Result<RawLog> {
    let inter_path = dir.join(format!("{name}.inter"));
    let table = read_atomic(
        &inter_path,
        "a typed header such as user_id:token\titem_id:token",
    )?;
    let user = field_named(&table, &["user_id"], "the user field `user_id:token`")?;
    let item = field_named(&table, &["item_id"], "the item field `item_id:token`")?;
    let (users, user_keys) = table.factorize(&user, "a user id")?;
    let (items, item_keys) = table.factorize(&item, "an item id")?;
    let timestamps = match find_field(&table, &["timestamp"]) {
        Some(f) => Some(table.floats(&f, "a number (the timestamp)")?),
        None => None,
    };
    let ratings = match find_field(&table, &["rating"]) {
        Some(f) => Some(
            table
                .floats(&f, "a number (the rating)")?
                .into_iter()
                .map(|r| r as f32)
                .collect(),
        ),
        None => None,
    };
    let mut log = RawLog {
        user_keys,
        item_keys,
        users,
        items,
        timestamps,
        ratings,
        item_meta: Vec::new(),
    };
    let item_path = dir.join(format!("{name}.item"));
    if item_path.exists() {
        log.attach_items(read_recbole_items(&item_path)?);
    }
    Ok(log)
}

/// The `.inter` files of a folder, for detection.
pub fn inter_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "inter"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Reads an atomic file and renames its columns from `name:type` to `name`, checking types.
/// Fields are unquoted (titles hold stray quotes) unless the file has fields that open with a
/// quote, as Amazon item files write a title holding a tab or a newline: those are CSV-quoted.
fn read_atomic(path: &Path, expected: &str) -> Result<Table> {
    let mut layout = TextLayout::with_header("\t");
    layout.quoting = has_quoted_fields(path);
    let mut table = Table::read_text(path, &layout, expected)?;
    let names = table.column_names();
    let mut plain = Vec::with_capacity(names.len());
    for header in &names {
        let (field, kind) = header.split_once(':').ok_or_else(|| DataError::BadValue {
            path: path.to_path_buf(),
            position: super::error::Position::Line(1),
            field: header.clone(),
            value: header.clone(),
            expected: "a typed header field `name:type` with type token, token_seq, float or float_seq (fields separated by tabs)".into(),
        })?;
        if !FIELD_TYPES.contains(&kind) {
            return Err(DataError::BadValue {
                path: path.to_path_buf(),
                position: super::error::Position::Line(1),
                field: field.to_string(),
                value: kind.to_string(),
                expected: "a field type token, token_seq, float or float_seq".into(),
            });
        }
        plain.push(field.to_string());
    }
    table
        .frame
        .set_column_names(&plain)
        .map_err(|e| DataError::Table {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(table)
}

/// Whether the file quotes fields CSV-style: some field opens with `"`, and every field that
/// does closes with a `"` right before a tab or a line end (`""` inside stands for a quote).
/// A title such as `"Quote" Movie` is unquoted text, and then nothing is taken as quoting.
fn has_quoted_fields(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let mut found = false;
    let mut i = 0;
    while i < bytes.len() {
        let field_start = i == 0 || bytes[i - 1] == b'\t' || bytes[i - 1] == b'\n';
        if !(field_start && bytes[i] == b'"') {
            i += 1;
            continue;
        }
        // Find the closing quote, skipping doubled quotes.
        let mut j = i + 1;
        loop {
            match bytes.get(j) {
                None => return false,
                Some(b'"') if bytes.get(j + 1) == Some(&b'"') => j += 2,
                Some(b'"') => break,
                Some(_) => j += 1,
            }
        }
        if !matches!(bytes.get(j + 1), None | Some(b'\t' | b'\n' | b'\r')) {
            return false;
        }
        found = true;
        i = j + 1;
    }
    found
}

fn find_field(table: &Table, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|c| table.has_column(c))
        .map(|c| c.to_string())
}

fn field_named(table: &Table, candidates: &[&str], expected: &str) -> Result<String> {
    find_field(table, candidates).ok_or_else(|| DataError::MissingColumn {
        path: table.path.clone(),
        field: candidates[0].to_string(),
        expected: expected.to_string(),
        found: format!("[{}]", table.column_names().join(", ")),
        hint: String::new(),
    })
}

fn read_recbole_items(path: &Path) -> Result<FxHashMap<String, ItemMeta>> {
    let table = read_atomic(
        path,
        "a typed header such as item_id:token\tmovie_title:token_seq",
    )?;
    let id_field = field_named(&table, &["item_id"], "the item field `item_id:token`")?;
    let ids = table.text(&id_field, "an item id")?;
    let text_of = |names: &[&str]| -> Result<Option<Vec<Option<String>>>> {
        match find_field(&table, names) {
            Some(f) => table.optional_text(&f),
            None => Ok(None),
        }
    };
    let titles = text_of(&["movie_title", "title", "item_title", "name"])?;
    let classes = text_of(&["class", "genre", "genres", "categories", "category"])?;
    let years = text_of(&["release_year", "year"])?;
    let texts = text_of(&["description", "text", "plot", "overview"])?;
    let used = |names: &[&str]| find_field(&table, names);
    let used = [
        Some(id_field.clone()),
        used(&["movie_title", "title", "item_title", "name"]),
        used(&["class", "genre", "genres", "categories", "category"]),
        used(&["release_year", "year"]),
        used(&["description", "text", "plot", "overview"]),
    ];
    let used: Vec<Option<&str>> = used.iter().map(|u| u.as_deref()).collect();
    let others = table.other_columns(&used)?;
    let mut out = FxHashMap::default();
    for (row, id) in ids.into_iter().enumerate() {
        let Some(id) = id else {
            return Err(table.bad_value(row, &id_field, "", "an item id"));
        };
        let cell = |col: &Option<Vec<Option<String>>>| col.as_ref().and_then(|c| c[row].clone());
        // RecBole's ML-100K writes `unkonwn` (or a stray letter) for an unknown year; a year is
        // descriptive only, so anything not a number is taken as absent, and then a trailing
        // `(1995)` left in the title (as for item 1412) gives the year instead.
        let mut year = cell(&years).and_then(|y| y.parse().ok());
        let mut title = cell(&titles);
        if year.is_none()
            && let Some(raw) = &title
        {
            let (bare, from_title) = split_title_year(raw);
            if from_title.is_some() {
                year = from_title;
                title = Some(bare);
            }
        }
        out.insert(
            id,
            ItemMeta {
                title,
                categories: cell(&classes)
                    .map(|c| split_categories(&c))
                    .unwrap_or_default(),
                year,
                text: cell(&texts),
                fields: Table::fields_at(&others, row),
            },
        );
    }
    Ok(out)
}

/// A `token_seq` of categories: space-separated (`Action Comedy`), or a Python-style list as
/// Amazon item files write it (`'Beauty', 'Makeup', "Women's"`).
fn split_categories(cell: &str) -> Vec<String> {
    let quoted = cell.trim_start().starts_with(['\'', '"']);
    if quoted && cell.contains(',') {
        cell.split(',')
            .map(|c| c.trim().trim_matches(['\'', '"']).trim())
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        cell.split_whitespace().map(str::to_string).collect()
    }
}

#[cfg(test)]
mod category_tests {
    use super::split_categories;

    #[test]
    fn categories_split_on_spaces_or_as_a_quoted_list() {
        assert_eq!(split_categories("Action Comedy"), vec!["Action", "Comedy"]);
        assert_eq!(
            split_categories("'Beauty', 'Fragrance', \"Women's\", 'Eau de Parfum'"),
            vec!["Beauty", "Fragrance", "Women's", "Eau de Parfum"]
        );
    }
}
