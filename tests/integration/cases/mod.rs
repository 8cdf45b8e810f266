//! The test cases, grouped by what they exercise.

mod audit;
mod backend_faults;
mod cert_matrix;
mod check;
mod config_compat;
mod fips;
mod hostile;
mod identity;
mod json_logs;
mod metrics;
mod ocsp;
mod peer_policy;
mod relay;
mod secrets;
mod service;
mod slow;
mod soak;
mod startup;
mod syslog;
mod trust;
mod tunnel;
