//! OCSP, the client side: asking a certificate's responder whether it is
//! revoked, on worker threads so no caller ever waits on the network, with
//! the answers cached until the responder's nextUpdate.
//!
//! `Checker` is the whole interface: `cached` is the non-blocking probe,
//! `lookup` the background question, `fetch_blocking` the one round trip
//! used for stapling the server's own certificate.

mod cache;
mod checker;
mod http;
mod query;
#[cfg(test)]
mod testpki;

pub use checker::{Checker, CheckerSettings, Done};
pub use query::{Outcome, Status};
