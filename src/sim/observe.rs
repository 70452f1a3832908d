//! What a page policy may observe of a session, and the hook through which a learned policy
//! (which lives above the simulator, in `rl`) values the candidates. The simulated user's hidden
//! state — taste, satiation, patience left, the world's latent item vectors and quality — is not
//! reachable from an [`Observation`]: a policy sees what a real storefront logs (its own pages,
//! the clicks and skips on them, the history the model reads, the catalogue's genres and
//! popularity) and the recommender's scores.

use super::choice::Choice;
use super::layout::Page;
use super::user::World;

/// What the storefront logged of this session so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedSession {
    /// Pages shown so far.
    pub pages: usize,
    /// Pages shown since the last click (the session's run of skips).
    pub skips_in_a_row: usize,
    /// Items clicked in this session, oldest first.
    pub clicks: Vec<u32>,
    /// The cards of the previous page, in reading order.
    pub last_page: Vec<u32>,
}

impl ObservedSession {
    /// Logs one page and what the user did on it.
    pub fn record(&mut self, page: &Page, choice: &Choice) {
        self.pages += 1;
        self.last_page = page.items().collect();
        match choice.clicked {
            Some(slot) => {
                self.clicks.push(slot.item);
                self.skips_in_a_row = 0;
            }
            None => self.skips_in_a_row += 1,
        }
    }
}

/// The public facts of the catalogue: genres and training popularity, indexed by item.
#[derive(Debug, Clone, Copy)]
pub struct Catalogue<'a> {
    pub genres: &'a [Vec<u32>],
    pub popularity: &'a [u32],
    pub num_genres: usize,
}

impl World {
    /// The part of the world a policy may see.
    pub fn catalogue(&self) -> Catalogue<'_> {
        Catalogue {
            genres: &self.genres,
            popularity: &self.popularity,
            num_genres: self.num_genres,
        }
    }
}

/// Everything a learned policy is given to lay out one page.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub catalogue: Catalogue<'a>,
    /// The user's history as the model reads it: before the session, then the session's clicks.
    pub history: &'a [u32],
    /// The recommender's scores for this history (blended with a request when there is one),
    /// indexed by item; 0 is padding.
    pub scores: &'a [f32],
    pub session: &'a ObservedSession,
}

/// A learned page policy: values every item for the page, highest first (the layout then fills
/// the hero and the top picks in that order, as the greedy page does with the model's scores).
pub trait PageValues: Send + Sync {
    /// Writes one value per item of `observation.scores` into `out` (resized to fit).
    fn values(&self, observation: &Observation<'_>, out: &mut Vec<f32>);
}
