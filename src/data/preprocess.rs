//! Preprocessing of a raw log: implicit-feedback threshold, de-duplication, maximum sequence
//! length and iterative k-core filtering. With the defaults nothing is removed.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};
use super::raw::RawLog;

/// What to remove before building the dataset. Applied in this order: rating threshold,
/// de-duplication, maximum length (the latest interactions are kept), then k-core.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preprocessing {
    /// Implicit feedback: keep only interactions rated at least this much.
    pub min_rating: Option<f32>,
    /// Keep only the first (earliest) interaction of each user with each item.
    pub dedup: bool,
    /// Keep at most this many of each user's latest interactions.
    pub max_seq_len: Option<usize>,
    /// k-core: every kept user has at least this many interactions …
    pub min_user_interactions: usize,
    /// … and every kept item at least this many, applied until both hold.
    pub min_item_interactions: usize,
}

impl Preprocessing {
    pub fn validate(&self) -> Result<()> {
        if self.max_seq_len == Some(0) {
            return Err(DataError::Config("max_seq_len must be at least 1".into()));
        }
        if let Some(r) = self.min_rating
            && !r.is_finite()
        {
            return Err(DataError::Config(
                "min_rating must be a finite number".into(),
            ));
        }
        Ok(())
    }
}

/// The rows of a raw log that survive preprocessing, grouped by user key and in time order
/// within a user (ties keep file order).
pub fn select_rows(log: &RawLog, config: &Preprocessing) -> Result<Vec<u32>> {
    config.validate()?;
    let n = log.len();
    let mut rows: Vec<u32> = match (config.min_rating, &log.ratings) {
        (None, _) => (0..n as u32).collect(),
        (Some(threshold), Some(ratings)) => (0..n as u32)
            .filter(|&r| ratings[r as usize] >= threshold)
            .collect(),
        (Some(_), None) => {
            return Err(DataError::Config(
                "min_rating was set but the dataset has no rating column".into(),
            ));
        }
    };
    // Group by user, then time, then file order; the row index makes every key unique.
    match &log.timestamps {
        Some(ts) => rows.par_sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            log.users[a]
                .cmp(&log.users[b])
                .then(ts[a].total_cmp(&ts[b]))
                .then(a.cmp(&b))
        }),
        None => rows.par_sort_unstable_by_key(|&r| (log.users[r as usize], r)),
    }

    if config.dedup || config.max_seq_len.is_some() {
        rows = dedup_and_truncate(log, rows, config);
    }
    if config.min_user_interactions > 1 || config.min_item_interactions > 1 {
        rows = k_core(
            log,
            rows,
            config.min_user_interactions,
            config.min_item_interactions,
        );
    }
    if rows.is_empty() {
        return Err(DataError::NothingLeft(format!("{config:?}")));
    }
    Ok(rows)
}

/// Walks each user's group once: drops repeated items (keeping the earliest) and keeps only
/// the latest `max_seq_len` interactions.
fn dedup_and_truncate(log: &RawLog, rows: Vec<u32>, config: &Preprocessing) -> Vec<u32> {
    // For each item, the last user group that contained it: an O(1) "seen" test per row.
    let mut seen_in_group = vec![u32::MAX; log.item_keys.len()];
    let mut out = Vec::with_capacity(rows.len());
    let mut start = 0;
    while start < rows.len() {
        let user = log.users[rows[start] as usize];
        let mut end = start;
        while end < rows.len() && log.users[rows[end] as usize] == user {
            end += 1;
        }
        let group_start = out.len();
        for &row in &rows[start..end] {
            let item = log.items[row as usize] as usize;
            if config.dedup {
                if seen_in_group[item] == user {
                    continue;
                }
                seen_in_group[item] = user;
            }
            out.push(row);
        }
        if let Some(max) = config.max_seq_len {
            let len = out.len() - group_start;
            if len > max {
                out.drain(group_start..group_start + (len - max));
            }
        }
        start = end;
    }
    out
}

/// Iterative k-core: removes users and items below their minimum count until every kept user
/// and item meets it (removing an item can push a user under, so it repeats).
fn k_core(log: &RawLog, mut rows: Vec<u32>, min_user: usize, min_item: usize) -> Vec<u32> {
    loop {
        let mut user_count = vec![0usize; log.user_keys.len()];
        let mut item_count = vec![0usize; log.item_keys.len()];
        for &r in &rows {
            user_count[log.users[r as usize] as usize] += 1;
            item_count[log.items[r as usize] as usize] += 1;
        }
        let before = rows.len();
        rows.retain(|&r| {
            user_count[log.users[r as usize] as usize] >= min_user
                && item_count[log.items[r as usize] as usize] >= min_item
        });
        if rows.len() == before {
            return rows;
        }
    }
}
