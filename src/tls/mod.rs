//! Everything OpenSSL, and no sockets: loading mongod's PEM files, the
//! server and client contexts, the peer policy that judges a client,
//! non-blocking handshakes and the TLS byte stream over any transport,
//! and the few OpenSSL calls the crates lack (`ffi`). Nothing outside
//! `tls/` (but `check`'s report and `fips`) names an `openssl::ssl` type.

pub mod allow_list;
pub mod client;
pub mod expiry;
pub mod facts;
mod ffi;
pub mod handshake;
pub mod ocsp;
pub mod pem;
pub mod policy;
pub mod revocation;
pub mod server;
pub mod stream;

pub use client::ClientContext;
pub use facts::TlsFacts;
pub use handshake::{Accepted, Accepting, Connected, Connecting};
pub use policy::{PeerPolicy, PeerVerdict, PeerWarning};
pub use server::ServerContext;
pub use stream::{ByteStream, Io, TlsStream, Transport};
