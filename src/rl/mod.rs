//! Reinforcement learning in the simulator: a page policy that learns what a page does to the
//! rest of the session (SlateQ-style Q-learning with a small Q-network in burn), trained on
//! simulated users and handed to `sim` as [`PageValues`](crate::sim::PageValues). The simulator
//! stays free of burn; this module sits above it.

pub mod features;
pub mod learner;
pub mod network;
pub mod policy;
pub mod replay;
pub mod train;

pub use learner::{Learner, LearnerConfig};
pub use policy::QPolicy;
pub use train::{RlConfig, RlEvent, RlOutcome, load_policy, mean_return, train_rl};
