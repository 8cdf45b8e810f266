//! What reads the running proxy from the side, never in its way: the
//! Prometheus metrics (scraped on their own thread).

pub mod metrics;
