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
pub const HANDSHAKE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// Upper bounds of the command-duration histogram (request to reply).
pub const COMMAND_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// How many command names are counted apart (`command` label); the tap
/// that counts maps each name to a slot below this, so a client inventing
/// names cannot grow the label set.
pub const COMMAND_SLOTS: usize = 64;

/// The TLS versions counted apart (`version` label).
pub const VERSIONS: [&str; 2] = ["TLSv1.2", "TLSv1.3"];

/// A histogram one loop writes: a count per bucket (the last is +Inf) and
/// the sum of what was observed, in microseconds.
pub struct Histogram {
    bounds: &'static [f64],
    counts: Box<[AtomicU64]>,
    micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Relaxed);
        }
        self.micros.fetch_add(took.as_micros() as u64, Relaxed);
    }

    fn add_to(&self, totals: &mut HistogramTotals) {
        for (total, one) in totals.buckets.iter_mut().zip(self.counts.iter()) {
            *total += one.load(Relaxed);
        }
        totals.seconds += self.micros.load(Relaxed) as f64 / 1e6;
    }
}

/// A histogram summed over the loops, its buckets cumulative as
/// Prometheus has them.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramTotals {
    pub bounds: &'static [f64],
    /// One per bound, then +Inf (the count of all).
    pub buckets: Vec<u64>,
    pub seconds: f64,
}

impl HistogramTotals {
    fn new(bounds: &'static [f64]) -> HistogramTotals {
        HistogramTotals {
            bounds,
            buckets: vec![0; bounds.len() + 1],
            seconds: 0.0,
        }
    }

    fn make_cumulative(&mut self) {
        for i in 1..self.buckets.len() {
            self.buckets[i] += self.buckets[i - 1];
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets.last().copied().unwrap_or(0)
    }
}

pub struct LoopStats {
    accepted: AtomicU64,
    closed: AtomicU64,
    refused: [AtomicU64; 5],
    /// Per entry of `VERSIONS`.
    handshakes_ok: [AtomicU64; 2],
    handshakes_failed: AtomicU64,
    handshakes: Histogram,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
    /// Per command slot: [ok, error].
    commands: Box<[[AtomicU64; 2]]>,
    command_durations: Histogram,
}

impl Default for LoopStats {
    fn default() -> LoopStats {
        LoopStats {
            accepted: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            refused: Default::default(),
            handshakes_ok: Default::default(),
            handshakes_failed: AtomicU64::new(0),
            handshakes: Histogram::new(HANDSHAKE_BUCKETS),
            bytes_to_upstream: AtomicU64::new(0),
            bytes_to_client: AtomicU64::new(0),
            commands: (0..COMMAND_SLOTS).map(|_| Default::default()).collect(),
            command_durations: Histogram::new(COMMAND_BUCKETS),
        }
    }
}

/// The counters of all loops, summed.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub accepted: u64,
    /// Accepted and not closed yet.
    pub open: u64,
    pub refused: [u64; 5],
    pub handshakes_ok: [u64; 2],
    pub handshakes_failed: u64,
    pub handshakes: HistogramTotals,
    pub bytes_to_upstream: u64,
    pub bytes_to_client: u64,
    /// Per command slot: [ok, error].
    pub commands: Vec<[u64; 2]>,
    pub command_durations: HistogramTotals,
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
        self.handshakes.observe(took);
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

    /// A command in `slot` got its reply after `took` (`None` for a
    /// request that asked for no reply).
    pub fn command_done(&self, slot: usize, ok: bool, took: Option<Duration>) {
        if let Some(counts) = self.commands.get(slot) {
            counts[usize::from(!ok)].fetch_add(1, Relaxed);
        }
        if let Some(took) = took {
            self.command_durations.observe(took);
        }
    }
}

/// Sums the loops' counters (a scrape; never on an event loop).
pub fn sum(loops: &[std::sync::Arc<LoopStats>]) -> Totals {
    let mut t = Totals {
        accepted: 0,
        open: 0,
        refused: [0; 5],
        handshakes_ok: [0; 2],
        handshakes_failed: 0,
        handshakes: HistogramTotals::new(HANDSHAKE_BUCKETS),
        bytes_to_upstream: 0,
        bytes_to_client: 0,
        commands: vec![[0; 2]; COMMAND_SLOTS],
        command_durations: HistogramTotals::new(COMMAND_BUCKETS),
    };
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
        s.handshakes.add_to(&mut t.handshakes);
        t.bytes_to_upstream += s.bytes_to_upstream.load(Relaxed);
        t.bytes_to_client += s.bytes_to_client.load(Relaxed);
        for (total, one) in t.commands.iter_mut().zip(s.commands.iter()) {
            total[0] += one[0].load(Relaxed);
            total[1] += one[1].load(Relaxed);
        }
        s.command_durations.add_to(&mut t.command_durations);
    }
    t.open = t.accepted.saturating_sub(closed);
    t.handshakes.make_cumulative();
    t.command_durations.make_cumulative();
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
        let t = sum(&[a.clone(), b.clone()]);
        assert_eq!((t.accepted, t.open), (2, 1));
        assert_eq!(t.refused, [0, 0, 0, 1, 0]);
        assert_eq!(t.handshakes_ok, [1, 2]);
        assert_eq!(t.handshakes_failed, 1);
        assert_eq!(t.handshakes.buckets, [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3]);
        assert!((t.handshakes.seconds - 3.0307).abs() < 1e-9);
        assert_eq!((t.bytes_to_upstream, t.bytes_to_client), (15, 7));
        a.command_done(3, true, Some(Duration::from_micros(300)));
        b.command_done(3, false, Some(Duration::from_secs(20)));
        b.command_done(3, true, None);
        b.command_done(COMMAND_SLOTS, true, None);
        let t = sum(&[a, b]);
        assert_eq!(t.commands[3], [2, 1]);
        assert_eq!(t.command_durations.count(), 2);
        assert_eq!(t.command_durations.buckets[1], 1);
    }
}
