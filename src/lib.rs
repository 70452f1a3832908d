//! reclab: a research workbench for Transformer-based sequential recommenders.
//!
//! The library holds everything the app and the command line share; see DESIGN.md for the
//! map of modules and the direction of their dependencies.

#[cfg(feature = "gui")]
pub mod app;
pub mod atomic_file;
pub mod data;
pub mod device;
pub mod eval;
pub mod guard;
pub mod lm;
pub mod memory;
pub mod model;
pub mod quantile;
pub mod recommend;
pub mod rl;
pub mod runs;
pub mod sim;
pub mod stats;
pub mod sweep;
pub mod train;
