//! The test cases, grouped by what they exercise.

mod config_compat;
mod fips;
mod peer_policy;
mod relay;
mod startup;
