//! Running as a process and a service: logging in mongod's style, signals,
//! and the systemd protocol.

pub mod log;
pub mod signals;
pub mod systemd;
