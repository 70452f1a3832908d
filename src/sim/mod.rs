//! Simulated users browsing a mock storefront (RecSim-style), the policies that lay the page
//! out, and A/B runs of those policies with common random numbers. No egui, no burn: models
//! arrive behind the [`Recommender`](crate::recommend::Recommender) trait.
//!
//! References for the user model: RecSim (Ie et al., 2019) — users examine a slate and choose by
//! a multinomial logit with a no-choice option, with satiation and a time budget; RecoGym
//! (Rohde et al., 2018) — organic vs. recommended sessions, CTR as the outcome.

pub mod ab;
pub mod choice;
pub mod layout;
pub mod observe;
pub mod policy;
pub mod request;
pub mod session;
pub mod user;

pub use ab::{
    AbConfig, AbReport, Estimate, PolicyOutcome, UserPool, ab_run_file, paired_base, run_ab,
    run_ab_with, simulated_users,
};
pub use choice::{Choice, ChoiceModel};
pub use layout::{Page, Row, RowKind, Slot};
pub use observe::{Catalogue, Observation, ObservedSession, PageValues};
pub use policy::{Policy, PolicyKind};
pub use request::Request;
pub use session::{Session, SessionConfig, SessionTrace, StepTrace, run_session};
pub use user::{SimUser, World, taste_from_similarities};
