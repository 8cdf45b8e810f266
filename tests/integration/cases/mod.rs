//! The test cases, grouped by what they exercise.

mod check;
mod config_compat;
mod fips;
mod peer_policy;
mod relay;
mod service;
mod startup;
mod tunnel;
