//! The test cases, grouped by what they exercise.

mod fips;
mod hostile;
mod peer_policy;
mod relay;
mod startup;
