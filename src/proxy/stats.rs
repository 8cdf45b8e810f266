//! What one event loop counts for the metrics: each loop writes only its
//! own `LoopStats` (relaxed atomics on a cache line no other loop writes),
//! and a scrape reads and sums them all. Bytes are added once per relay
//! step, never per byte.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Why a connection was refused before it was relayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `--maxConns` reached.
    TooManyConnections,
    /// The peer policy refused the client's certificate (or its lack).
    PeerCertificate,
    /// Plaintext or HTTP where SSL was required, or SSL where it is off.
    WrongProtocol,
    /// A PROXY header missing, malformed, or from an untrusted source.
    ProxyProtocol,
    /// mongod could not be reached.
    UpstreamUnavailable,
}

impl Refusal {
    pub const ALL: [Refusal; 5] = [
        Refusal::TooManyConnections,
        Refusal::PeerCertificate,
        Refusal::WrongProtocol,
        Refusal::ProxyProtocol,
        Refusal::UpstreamUnavailable,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::TooManyConnections => "max_conns",
            Refusal::PeerCertificate => "peer_certificate",
            Refusal::WrongProtocol => "wrong_protocol",
            Refusal::ProxyProtocol => "proxy_protocol",
            Refusal::UpstreamUnavailable => "upstream_unavailable",
        }
    }
}

/// Upper bounds of the handshake-duration histogram, in seconds.
pub const HANDSHAKE_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// The TLS versions counted apart (`version` label).
pub const VERSIONS: [&str; 2] = ["TLSv1.2", "TLSv1.3"];

#[derive(Default)]
pub struct LoopStats {
    accepted: AtomicU64,
    closed: AtomicU64,
    refused: [AtomicU64; 5],
    /// Per entry of `VERSIONS`.
    handshakes_ok: [AtomicU64; 2],
    handshakes_failed: AtomicU64,
    /// Cumulative-to-be: one count per bucket (the last is +Inf).
    handshake_buckets: [AtomicU64; 11],
    handshake_micros: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
}

/// The counters of all loops, summed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Totals {
    pub accepted: u64,
    /// Accepted and not closed yet.
    pub open: u64,
    pub refused: [u64; 5],
    pub handshakes_ok: [u64; 2],
    pub handshakes_failed: u64,
    /// Cumulative counts per bucket of `HANDSHAKE_BUCKETS`, then +Inf.
    pub handshake_buckets: [u64; 11],
    pub handshake_seconds: f64,
    pub bytes_to_upstream: u64,
    pub bytes_to_client: u64,
}

impl LoopStats {
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
    }

    pub fn closed(&self) {
        self.closed.fetch_add(1, Relaxed);
    }

    pub fn refused(&self, why: Refusal) {
        let index = Refusal::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.refused[index].fetch_add(1, Relaxed);
    }

    pub fn handshake_done(&self, version: &str, took: Duration) {
        if let Some(index) = VERSIONS.iter().position(|v| *v == version) {
            self.handshakes_ok[index].fetch_add(1, Relaxed);
        }
        let seconds = took.as_secs_f64();
        let bucket = HANDSHAKE_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(HANDSHAKE_BUCKETS.len());
        self.handshake_buckets[bucket].fetch_add(1, Relaxed);
        self.handshake_micros
            .fetch_add(took.as_micros() as u64, Relaxed);
    }

    pub fn handshake_failed(&self) {
        self.handshakes_failed.fetch_add(1, Relaxed);
    }

    pub fn relayed(&self, to_upstream: u64, to_client: u64) {
        if to_upstream > 0 {
            self.bytes_to_upstream.fetch_add(to_upstream, Relaxed);
        }
        if to_client > 0 {
            self.bytes_to_client.fetch_add(to_client, Relaxed);
        }
    }
}

/// Sums the loops' counters (a scrape; never on an event loop).
pub fn sum(loops: &[std::sync::Arc<LoopStats>]) -> Totals {
    let mut t = Totals::default();
    let mut closed = 0;
    for s in loops {
        t.accepted += s.accepted.load(Relaxed);
        closed += s.closed.load(Relaxed);
        for (total, one) in t.refused.iter_mut().zip(&s.refused) {
            *total += one.load(Relaxed);
        }
        for (total, one) in t.handshakes_ok.iter_mut().zip(&s.handshakes_ok) {
            *total += one.load(Relaxed);
        }
        t.handshakes_failed += s.handshakes_failed.load(Relaxed);
        for (total, one) in t.handshake_buckets.iter_mut().zip(&s.handshake_buckets) {
            *total += one.load(Relaxed);
        }
        t.handshake_seconds += s.handshake_micros.load(Relaxed) as f64 / 1e6;
        t.bytes_to_upstream += s.bytes_to_upstream.load(Relaxed);
        t.bytes_to_client += s.bytes_to_client.load(Relaxed);
    }
    t.open = t.accepted.saturating_sub(closed);
    // Prometheus buckets are cumulative.
    for i in 1..t.handshake_buckets.len() {
        t.handshake_buckets[i] += t.handshake_buckets[i - 1];
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn loops_are_summed_and_buckets_cumulative() {
        let a = Arc::new(LoopStats::default());
        let b = Arc::new(LoopStats::default());
        a.accepted();
        b.accepted();
        b.closed();
        b.refused(Refusal::ProxyProtocol);
        a.handshake_done("TLSv1.3", Duration::from_micros(700));
        b.handshake_done("TLSv1.2", Duration::from_millis(30));
        b.handshake_done("TLSv1.3", Duration::from_secs(3));
        a.handshake_failed();
        a.relayed(10, 0);
        b.relayed(5, 7);
        let t = sum(&[a, b]);
        assert_eq!((t.accepted, t.open), (2, 1));
        assert_eq!(t.refused, [0, 0, 0, 1, 0]);
        assert_eq!(t.handshakes_ok, [1, 2]);
        assert_eq!(t.handshakes_failed, 1);
        assert_eq!(t.handshake_buckets, [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3]);
        assert!((t.handshake_seconds - 3.0307).abs() < 1e-9);
        assert_eq!((t.bytes_to_upstream, t.bytes_to_client), (15, 7));
    }
}
