//! Everything TLS that has no socket in it: loading mongod's PEM files,
//! building the server context, and judging a client after its handshake.

pub mod client;
pub mod pem;
pub mod policy;
pub mod server;
