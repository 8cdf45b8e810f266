//! The test cases, grouped by what they exercise.

mod peer_policy;
mod relay;
mod startup;
