//! The raw interaction log every reader produces, before preprocessing: rows in file order,
//! users and items as codes into their original ids.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Descriptive data about an item, as the source gives it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemMeta {
    pub title: Option<String>,
    pub categories: Vec<String>,
    pub year: Option<i32>,
    pub text: Option<String>,
    /// Every other column of the item table, by column name, for item-text templates.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
}

/// One interaction log in file order. Row `r` is user `user_keys[users[r]]` meeting item
/// `item_keys[items[r]]`.
#[derive(Debug, Clone, Default)]
pub struct RawLog {
    pub user_keys: Vec<String>,
    pub item_keys: Vec<String>,
    pub users: Vec<u32>,
    pub items: Vec<u32>,
    /// Unix seconds (or any increasing number); `None` when the source has no time column, in
    /// which case file order is time order.
    pub timestamps: Option<Vec<f64>>,
    pub ratings: Option<Vec<f32>>,
    /// Metadata per item key; missing where the item table has no row for the item.
    pub item_meta: Vec<Option<ItemMeta>>,
}

impl RawLog {
    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Attaches an item table (original id → metadata) to the log's items.
    pub fn attach_items(&mut self, table: FxHashMap<String, ItemMeta>) {
        let mut table = table;
        self.item_meta = self.item_keys.iter().map(|key| table.remove(key)).collect();
    }
}

/// Splits a MovieLens title such as `Toy Story (1995)` into `("Toy Story", Some(1995))`. Only a
/// trailing four-digit year in parentheses counts, so `Seven (Se7en)` keeps its parentheses.
pub fn split_title_year(raw: &str) -> (String, Option<i32>) {
    let trimmed = raw.trim();
    if let Some(open) = trimmed.rfind('(') {
        let tail = &trimmed[open + 1..];
        if let Some(year) = tail.strip_suffix(')') {
            let year = year.trim();
            if year.len() == 4 && year.chars().all(|c| c.is_ascii_digit()) {
                return (trimmed[..open].trim_end().to_string(), year.parse().ok());
            }
        }
    }
    (trimmed.to_string(), None)
}

/// How the dense indices relate to the raw log's codes, for callers that carry data keyed by
/// raw code (the synthetic world's truth).
pub struct KeyMap {
    /// Raw user code of each dense user.
    pub users: Vec<u32>,
    /// Raw item code of each dense item; entry 0 (padding) is `u32::MAX`.
    pub items: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_year_is_split_only_on_a_trailing_year() {
        assert_eq!(
            split_title_year("Toy Story (1995)"),
            ("Toy Story".into(), Some(1995))
        );
        assert_eq!(
            split_title_year("Seven (Se7en) (1995)"),
            ("Seven (Se7en)".into(), Some(1995))
        );
        assert_eq!(
            split_title_year("Seven (Se7en)"),
            ("Seven (Se7en)".into(), None)
        );
        assert_eq!(split_title_year("unknown"), ("unknown".into(), None));
        assert_eq!(
            split_title_year(" Heat (1995 ) "),
            ("Heat".into(), Some(1995))
        );
    }
}
