//! What reads the running proxy from the side, never in its way: the
//! audit log (a tap on each relayed connection, written on its own
//! thread), the command counter (a tap feeding the loops' metrics), the
//! message reading both share (`wire`), and the Prometheus metrics
//! (scraped on their own thread).

pub mod audit;
pub mod commands;
pub mod metrics;
pub mod wire;
