//! A storefront page as data: an optional hero card and rows (carousels) of cards. The simulator
//! walks it in reading order; the app draws it.

use serde::{Deserialize, Serialize};

/// What a row shows, which also names it on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowKind {
    TopPicks,
    /// "Because you watched X": items like the latest click.
    BecauseYouWatched,
    /// Best items of the session's favourite genre (its index).
    Genre(u32),
    Trending,
    /// High-scored items outside the genres of the top picks.
    SomethingDifferent,
    /// "Because you asked for …": the items closest to what the person said they want.
    BecauseYouAsked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub kind: RowKind,
    pub title: String,
    pub items: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Page {
    pub hero: Option<u32>,
    pub rows: Vec<Row>,
}

/// Where a card sits: `row` is `None` for the hero card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub item: u32,
    pub row: Option<usize>,
    pub column: usize,
}

impl Page {
    /// Every card in reading order: the hero, then each row left to right.
    pub fn slots(&self) -> Vec<Slot> {
        let mut slots = Vec::new();
        if let Some(item) = self.hero {
            slots.push(Slot {
                item,
                row: None,
                column: 0,
            });
        }
        for (r, row) in self.rows.iter().enumerate() {
            for (c, &item) in row.items.iter().enumerate() {
                slots.push(Slot {
                    item,
                    row: Some(r),
                    column: c,
                });
            }
        }
        slots
    }

    /// Every item on the page.
    pub fn items(&self) -> impl Iterator<Item = u32> + '_ {
        self.hero
            .into_iter()
            .chain(self.rows.iter().flat_map(|r| r.items.iter().copied()))
    }
}
