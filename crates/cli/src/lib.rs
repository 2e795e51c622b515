//! The parts of the `embedrock` command line that other front ends share:
//! opening any model the command line names ([`open`]), resolving settings
//! from flags, the environment and a YAML file ([`settings`]), and the
//! progress shown while a model is fetched ([`progress`]).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod open;
pub mod progress;
pub mod settings;
pub mod stores;
