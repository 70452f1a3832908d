//! The one normalised dataset every model and metric works on.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::format::Format;
use super::preprocess::Preprocessing;
use super::raw::{KeyMap, RawLog};
use super::synthetic::SyntheticTruth;

/// The index of the padding item. Real items are `1..=num_items()`.
pub const PADDING_ITEM: u32 = 0;

/// An item and what is known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The id in the source files.
    pub id: String,
    pub title: Option<String>,
    /// Indices into [`Dataset::category_names`], ascending.
    pub categories: Vec<u32>,
    pub year: Option<i32>,
    pub text: Option<String>,
    /// The item table's other columns (brand, price, …), by column name.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
}

/// Users, items and per-user interaction sequences with dense indices.
///
/// - Users are `0..num_users()`, items `1..=num_items()` (0 is padding), both numbered in the
///   natural order of their original ids (numerically when every id is a number), so the
///   numbering does not depend on the order of the file.
/// - Each user's sequence is ordered by timestamp, and interactions with the same timestamp
///   keep their order in the source file. Without a timestamp column, file order is time.
/// - Only items with at least one interaction (after preprocessing) are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub name: String,
    pub format: Format,
    /// Hash of the source files' content (or of the synthetic world's config).
    pub fingerprint: String,
    pub preprocessing: Preprocessing,
    pub user_ids: Vec<String>,
    /// `items[0]` is the padding item.
    pub items: Vec<Item>,
    pub category_names: Vec<String>,
    /// Sequences in compressed rows: user `u` owns `offsets[u]..offsets[u + 1]`.
    offsets: Vec<usize>,
    seq_items: Vec<u32>,
    seq_times: Vec<f64>,
    seq_ratings: Option<Vec<f32>>,
    /// Whether the source had real timestamps (otherwise times are file positions).
    pub has_timestamps: bool,
    /// The hidden truth of a synthetic world, indexed like this dataset.
    pub truth: Option<SyntheticTruth>,
}

/// Sort key that orders ids numerically when they are numbers, text after numbers.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum NaturalKey<'a> {
    Number(i128),
    Text(&'a str),
}

fn natural_key(id: &str) -> NaturalKey<'_> {
    id.parse::<i128>()
        .map(NaturalKey::Number)
        .unwrap_or(NaturalKey::Text(id))
}

fn natural_order(keys: &[String], codes: &mut [u32]) {
    codes.sort_by(|&a, &b| {
        natural_key(&keys[a as usize])
            .cmp(&natural_key(&keys[b as usize]))
            // `01` and `1` are the same number: fall back to the text to stay deterministic.
            .then_with(|| keys[a as usize].cmp(&keys[b as usize]))
    });
}

impl Dataset {
    /// Builds the dataset from a raw log and the rows preprocessing kept (grouped by user
    /// code, time-ordered within a user; see [`super::preprocess::select_rows`]).
    pub fn from_rows(
        name: String,
        format: Format,
        fingerprint: String,
        preprocessing: Preprocessing,
        log: &RawLog,
        rows: &[u32],
    ) -> (Dataset, KeyMap) {
        // Contiguous group of rows per raw user code.
        let mut group: FxHashMap<u32, (usize, usize)> = FxHashMap::default();
        let mut item_used = vec![false; log.item_keys.len()];
        let mut start = 0;
        while start < rows.len() {
            let user = log.users[rows[start] as usize];
            let mut end = start;
            while end < rows.len() && log.users[rows[end] as usize] == user {
                item_used[log.items[rows[end] as usize] as usize] = true;
                end += 1;
            }
            group.insert(user, (start, end));
            start = end;
        }
        let mut user_codes: Vec<u32> = group.keys().copied().collect();
        natural_order(&log.user_keys, &mut user_codes);
        let mut item_codes: Vec<u32> = (0..log.item_keys.len() as u32)
            .filter(|&c| item_used[c as usize])
            .collect();
        natural_order(&log.item_keys, &mut item_codes);
        let mut dense_item = vec![PADDING_ITEM; log.item_keys.len()];
        for (i, &code) in item_codes.iter().enumerate() {
            dense_item[code as usize] = i as u32 + 1;
        }

        let mut offsets = Vec::with_capacity(user_codes.len() + 1);
        let mut seq_items = Vec::with_capacity(rows.len());
        let mut seq_times = Vec::with_capacity(rows.len());
        let mut seq_ratings = log.ratings.as_ref().map(|_| Vec::with_capacity(rows.len()));
        offsets.push(0);
        for code in &user_codes {
            let (s, e) = group[code];
            for &row in &rows[s..e] {
                let row = row as usize;
                seq_items.push(dense_item[log.items[row] as usize]);
                seq_times.push(match &log.timestamps {
                    Some(ts) => ts[row],
                    None => row as f64,
                });
                if let (Some(out), Some(src)) = (seq_ratings.as_mut(), log.ratings.as_ref()) {
                    out.push(src[row]);
                }
            }
            offsets.push(seq_items.len());
        }

        // Category names in alphabetical order, so two sources of one dataset agree.
        let mut category_names: Vec<String> = item_codes
            .iter()
            .filter_map(|&c| log.item_meta.get(c as usize).and_then(|m| m.as_ref()))
            .flat_map(|m| m.categories.iter().cloned())
            .collect();
        category_names.sort();
        category_names.dedup();
        let category_index: FxHashMap<&str, u32> = category_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u32))
            .collect();
        let mut items = Vec::with_capacity(item_codes.len() + 1);
        items.push(Item {
            id: String::new(),
            title: Some("[padding]".into()),
            categories: Vec::new(),
            year: None,
            text: None,
            fields: Default::default(),
        });
        for &code in &item_codes {
            let meta = log.item_meta.get(code as usize).and_then(|m| m.as_ref());
            let mut categories: Vec<u32> = meta
                .map(|m| {
                    m.categories
                        .iter()
                        .map(|c| category_index[c.as_str()])
                        .collect()
                })
                .unwrap_or_default();
            categories.sort_unstable();
            categories.dedup();
            items.push(Item {
                id: log.item_keys[code as usize].clone(),
                title: meta.and_then(|m| m.title.clone()),
                categories,
                year: meta.and_then(|m| m.year),
                text: meta.and_then(|m| m.text.clone()),
                fields: meta.map(|m| m.fields.clone()).unwrap_or_default(),
            });
        }
        let user_ids = user_codes
            .iter()
            .map(|&c| log.user_keys[c as usize].clone())
            .collect();
        let mut key_items = vec![u32::MAX];
        key_items.extend(&item_codes);
        let dataset = Dataset {
            name,
            format,
            fingerprint,
            preprocessing,
            user_ids,
            items,
            category_names,
            offsets,
            seq_items,
            seq_times,
            seq_ratings,
            has_timestamps: log.timestamps.is_some(),
            truth: None,
        };
        (
            dataset,
            KeyMap {
                users: user_codes,
                items: key_items,
            },
        )
    }

    pub fn num_users(&self) -> usize {
        self.user_ids.len()
    }

    /// Number of real items (the padding item not counted).
    pub fn num_items(&self) -> usize {
        self.items.len() - 1
    }

    pub fn num_interactions(&self) -> usize {
        self.seq_items.len()
    }

    /// The items user `user` met, oldest first.
    pub fn sequence(&self, user: usize) -> &[u32] {
        &self.seq_items[self.offsets[user]..self.offsets[user + 1]]
    }

    /// The timestamps of [`Self::sequence`].
    pub fn timestamps(&self, user: usize) -> &[f64] {
        &self.seq_times[self.offsets[user]..self.offsets[user + 1]]
    }

    /// The ratings of [`Self::sequence`], if the source had ratings.
    pub fn ratings(&self, user: usize) -> Option<&[f32]> {
        self.seq_ratings
            .as_ref()
            .map(|r| &r[self.offsets[user]..self.offsets[user + 1]])
    }

    /// All timestamps, user by user.
    pub fn all_timestamps(&self) -> &[f64] {
        &self.seq_times
    }

    /// All interactions' items, user by user.
    pub fn all_items(&self) -> &[u32] {
        &self.seq_items
    }

    /// A title to show for an item: its title, else its original id.
    pub fn item_label(&self, item: u32) -> &str {
        let item = &self.items[item as usize];
        item.title.as_deref().unwrap_or(&item.id)
    }

    /// The names of an item's categories.
    pub fn item_category_names(&self, item: u32) -> Vec<&str> {
        self.items[item as usize]
            .categories
            .iter()
            .map(|&c| self.category_names[c as usize].as_str())
            .collect()
    }

    /// The names of the item table's extra columns (see [`Item::fields`]), sorted.
    pub fn item_field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .items
            .iter()
            .flat_map(|i| i.fields.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Interaction count per item index (entry 0, padding, is 0).
    pub fn item_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.items.len()];
        for &i in &self.seq_items {
            counts[i as usize] += 1;
        }
        counts
    }
}
