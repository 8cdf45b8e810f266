//! Running as a process: logging in mongod's style.

pub mod log;
