//! MovieLens as GroupLens distributes it: 100K (`u.data`, `u.item`), 1M (`ratings.dat`,
//! `movies.dat`) and latest / 20M / 25M (`ratings.csv`, `movies.csv`).

use std::path::Path;

use rustc_hash::FxHashMap;

use super::error::Result;
use super::raw::{ItemMeta, RawLog, split_title_year};
use super::table::{Encoding, Table, TextLayout, read_head};

/// The 19 genre flags of `u.item`, in column order, as `u.genre` lists them.
pub const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

const RATING_EXPECTED: &str = "a number (the rating)";
const TIME_EXPECTED: &str = "a number (Unix seconds)";

/// Reads the user/item/rating/timestamp columns every MovieLens ratings file has.
fn ratings_log(table: &Table, user: &str, item: &str, rating: &str, time: &str) -> Result<RawLog> {
    let (users, user_keys) = table.factorize(user, "a user id")?;
    let (items, item_keys) = table.factorize(item, "a movie id")?;
    let ratings = table.floats(rating, RATING_EXPECTED)?;
    let timestamps = table.floats(time, TIME_EXPECTED)?;
    Ok(RawLog {
        user_keys,
        item_keys,
        users,
        items,
        timestamps: Some(timestamps),
        ratings: Some(ratings.into_iter().map(|r| r as f32).collect()),
        item_meta: Vec::new(),
    })
}

/// MovieLens 100K: `u.data` (tab-separated user, item, rating, timestamp; no header) and, when
/// present, `u.item` (`|`-separated, latin-1: id, title with year, dates, URL, 19 genre flags).
pub fn read_ml100k(dir: &Path) -> Result<RawLog> {
    let data_path = dir.join("u.data");
    let layout = TextLayout::headerless(
        "\t",
        &["user_id", "item_id", "rating", "timestamp"],
        Encoding::Latin1,
    );
    let table = Table::read_text(
        &data_path,
        &layout,
        "tab-separated lines: user item rating timestamp",
    )?;
    let mut log = ratings_log(&table, "user_id", "item_id", "rating", "timestamp")?;
    let item_path = dir.join("u.item");
    if item_path.exists() {
        log.attach_items(read_ml100k_items(&item_path)?);
    }
    Ok(log)
}

fn read_ml100k_items(path: &Path) -> Result<FxHashMap<String, ItemMeta>> {
    let mut names = vec![
        "item_id",
        "title",
        "release_date",
        "video_release_date",
        "url",
    ];
    let flag_names: Vec<String> = ML100K_GENRES.iter().map(|g| format!("genre {g}")).collect();
    names.extend(flag_names.iter().map(|s| s.as_str()));
    let layout = TextLayout::headerless("|", &names, Encoding::Latin1);
    let table = Table::read_text(
        path,
        &layout,
        "`|`-separated movie lines with 19 genre flags",
    )?;
    let ids = table.text("item_id", "a movie id")?;
    let titles = table.text("title", "a title")?;
    let mut flags = Vec::with_capacity(ML100K_GENRES.len());
    for name in &flag_names {
        flags.push(table.floats(name, "a genre flag, 0 or 1")?);
    }
    let mut out = FxHashMap::default();
    for (row, id) in ids.into_iter().enumerate() {
        let Some(id) = id else {
            return Err(table.bad_value(row, "item_id", "", "a movie id"));
        };
        let (title, year) = split_title_year(titles[row].as_deref().unwrap_or(""));
        let categories = ML100K_GENRES
            .iter()
            .zip(&flags)
            .filter(|(_, column)| column[row] > 0.5)
            .map(|(genre, _)| genre.to_string())
            .collect();
        out.insert(
            id,
            ItemMeta {
                title: Some(title).filter(|t| !t.is_empty()),
                categories,
                year,
                text: None,
                fields: Default::default(),
            },
        );
    }
    Ok(out)
}

/// MovieLens 1M: `ratings.dat` (`UserID::MovieID::Rating::Timestamp`) and `movies.dat`
/// (`MovieID::Title::Genres`, genres `|`-separated), both latin-1.
pub fn read_ml1m(dir: &Path) -> Result<RawLog> {
    let layout = TextLayout::headerless(
        "::",
        &["user_id", "item_id", "rating", "timestamp"],
        Encoding::Latin1,
    );
    let table = Table::read_text(
        &dir.join("ratings.dat"),
        &layout,
        "lines of UserID::MovieID::Rating::Timestamp",
    )?;
    let mut log = ratings_log(&table, "user_id", "item_id", "rating", "timestamp")?;
    let movies = dir.join("movies.dat");
    if movies.exists() {
        let layout =
            TextLayout::headerless("::", &["item_id", "title", "genres"], Encoding::Latin1);
        let table = Table::read_text(&movies, &layout, "lines of MovieID::Title::Genres")?;
        log.attach_items(title_genre_items(&table)?);
    }
    Ok(log)
}

/// MovieLens latest, 20M and 25M: `ratings.csv` (`userId,movieId,rating,timestamp`) and
/// `movies.csv` (`movieId,title,genres`, quoted CSV, UTF-8).
pub fn read_ml_latest(dir: &Path) -> Result<RawLog> {
    let mut layout = TextLayout::with_header(",");
    layout.quoting = true;
    let table = Table::read_text(
        &dir.join("ratings.csv"),
        &layout,
        "a header userId,movieId,rating,timestamp and rows",
    )?;
    let mut log = ratings_log(&table, "userId", "movieId", "rating", "timestamp")?;
    let movies = dir.join("movies.csv");
    if movies.exists() {
        let mut table =
            Table::read_text(&movies, &layout, "a header movieId,title,genres and rows")?;
        // Checked first so that a missing column gets the usual "missing column" message.
        table.column("movieId", "a movieId column")?;
        if table.frame.rename("movieId", "item_id".into()).is_err() {
            return Err(table.bad_value(0, "movieId", "", "a movieId column"));
        }
        log.attach_items(title_genre_items(&table)?);
    }
    Ok(log)
}

/// Items from a table with `item_id`, `title` (year in parentheses) and `|`-separated `genres`.
fn title_genre_items(table: &Table) -> Result<FxHashMap<String, ItemMeta>> {
    let ids = table.text("item_id", "a movie id")?;
    let titles = table.text("title", "a title")?;
    let genres = table.text("genres", "`|`-separated genres")?;
    let mut out = FxHashMap::default();
    for (row, id) in ids.into_iter().enumerate() {
        let Some(id) = id else {
            return Err(table.bad_value(row, "item_id", "", "a movie id"));
        };
        let (title, year) = split_title_year(titles[row].as_deref().unwrap_or(""));
        let categories = genres[row]
            .as_deref()
            .unwrap_or("")
            .split('|')
            .map(str::trim)
            .filter(|g| !g.is_empty() && *g != "(no genres listed)")
            .map(str::to_string)
            .collect();
        out.insert(
            id,
            ItemMeta {
                title: Some(title).filter(|t| !t.is_empty()),
                categories,
                year,
                text: None,
                fields: Default::default(),
            },
        );
    }
    Ok(out)
}

/// Whether a CSV file starts with the MovieLens ratings header.
pub fn looks_like_ml_latest_ratings(path: &Path) -> bool {
    read_head(path, 64).starts_with(b"userId,movieId,rating,timestamp")
}
