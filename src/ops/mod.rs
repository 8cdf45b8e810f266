//! Running as a process and a service: logging in mongod's style, signals,
//! the systemd protocol, and giving memory back.

pub mod log;
pub mod log_json;
pub mod memory;
pub mod signals;
pub mod syslog;
pub mod systemd;
