//! The seam through which a tap (the audit log) watches a relayed
//! connection: it is shown each read's bytes as they pass, in order, and
//! told when the connection ends. A tap only reads: the relay writes the
//! same bytes whatever the tap does with them. The taps themselves live
//! above this module (`crate::taps`) and are handed in as a `TapMaker`.

use std::net::SocketAddr;
use std::sync::Arc;

use super::stats::LoopStats;
use crate::tls::TlsFacts;

/// Which way bytes went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Client → mongod (requests).
    ToUpstream,
    /// mongod → client (replies).
    ToClient,
}

/// What is known of a connection when its relay starts.
pub struct Opened<'a> {
    pub id: u64,
    /// The client (or the one a balancer's PROXY header named).
    pub remote: SocketAddr,
    /// The address the client connected to, when known.
    pub local: Option<SocketAddr>,
    /// The handshake's facts; `None` for plaintext (allowSSL/preferSSL).
    pub tls: Option<&'a TlsFacts>,
    /// The counters of the loop the connection runs on (the one thread
    /// that writes them).
    pub stats: &'a Arc<LoopStats>,
}

/// Watches one connection's relayed bytes.
pub trait Tap: Send {
    /// `bytes` were just read from the side that `flow` starts at; they
    /// go on to the other side unchanged.
    fn saw(&mut self, flow: Flow, bytes: &[u8]);
    /// The connection is over (the text is the log's reason).
    fn ended(&mut self, reason: &str);
}

/// Makes a tap for each connection that starts relaying. Shared by the
/// loops, so it only hands out per-connection state.
pub trait TapMaker: Send + Sync {
    fn open(&self, opened: &Opened) -> Box<dyn Tap>;
}

/// Several taps on each connection (the audit and the command counter),
/// each shown the same bytes in turn.
pub struct TeeMaker(pub Vec<Arc<dyn TapMaker>>);

struct Tee(Vec<Box<dyn Tap>>);

impl TapMaker for TeeMaker {
    fn open(&self, opened: &Opened) -> Box<dyn Tap> {
        Box::new(Tee(self.0.iter().map(|m| m.open(opened)).collect()))
    }
}

impl Tap for Tee {
    fn saw(&mut self, flow: Flow, bytes: &[u8]) {
        for tap in &mut self.0 {
            tap.saw(flow, bytes);
        }
    }

    fn ended(&mut self, reason: &str) {
        for tap in &mut self.0 {
            tap.ended(reason);
        }
    }
}
