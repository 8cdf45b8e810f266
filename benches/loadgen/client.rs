//! The TLS client side of every measurement: one mio loop per thread
//! driving many non-blocking OpenSSL connections, so the load generator
//! costs as little CPU as possible on a machine it shares with the proxy.
//!
//! A connection is a small state machine: handshake → send one message →
//! read its echo and check every byte → (depending on the mode) again,
//! close, or stay idle. The streaming mode instead sends the pattern of
//! `pattern.rs` continuously and checks everything that comes back.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslSession,
    SslSessionCacheMode, SslStream, SslVerifyMode, SslVersion,
};
use slab::Slab;

use crate::pattern;
use crate::wire::{self, Shape};

/// Plaintext per TLS write in the streaming mode: one full record.
const CHUNK: usize = 16 * 1024;
/// Latency samples kept per thread (bounded memory).
const MAX_SAMPLES: usize = 4_000_000;
/// A connection that has not finished its handshake and round trip by
/// then is dropped and counted as an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection waits for the proxy's close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Sessions kept for resumption per thread (newest used first).
const SESSION_POOL: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Connect, handshake, one round trip, close; again and again.
    Handshake { resume: bool },
    /// Stream verified bytes both ways until stopped.
    Stream,
    /// One message at a time, each round trip timed.
    PingPong,
    /// Handshake, one round trip, then stay open and silent.
    Idle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
}

pub struct Settings {
    pub mode: Mode,
    pub version: Version,
    pub target: SocketAddr,
    /// Connections this thread keeps open at once (Idle: opens in all).
    pub conns: usize,
    /// Handshakes in flight at once (Idle only).
    pub inflight: usize,
    /// Message size of a round trip.
    pub size: usize,
    /// `--wire`: the bytes are MongoDB messages (`wire`).
    pub wire: bool,
    pub sources: Vec<Ipv4Addr>,
    /// A PEM file with the client's certificate and key, for proxies that
    /// verify client certificates (mongod's `sslCAFile` case).
    pub client_cert: Option<String>,
    /// No thread runs past this, whatever happens.
    pub hard_end: Instant,
}

/// Counters shared by the threads and the measuring thread. Work is
/// counted only while `recording` is set.
#[derive(Default)]
pub struct Shared {
    pub stop: AtomicBool,
    pub recording: AtomicBool,
    pub ops: AtomicU64,
    pub bytes: AtomicU64,
    pub full: AtomicU64,
    pub resumed: AtomicU64,
    pub tickets: AtomicU64,
    pub errors: AtomicU64,
    pub idle_open: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

impl Shared {
    fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    fn count(&self, counter: &AtomicU64, n: u64) {
        if self.recording() {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(what);
        }
    }
}

/// The client context: no certificate check (the proxies' costs are what
/// is measured), AES-128-GCM and X25519 so every proxy negotiates the same
/// suite and group (P-256 is listed too: TLS 1.2 needs the ECDSA
/// certificate's curve among the client's groups), session tickets accepted (as drivers do) and counted.
fn context(
    settings: &Settings,
    shared: Arc<Shared>,
    sessions: Arc<Mutex<VecDeque<SslSession>>>,
) -> Result<SslContext, String> {
    let e = |what: &'static str| move |err: openssl::error::ErrorStack| format!("{what}: {err}");
    let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(e("client context"))?;
    let (min, max) = match settings.version {
        Version::Tls12 => (SslVersion::TLS1_2, SslVersion::TLS1_2),
        Version::Tls13 => (SslVersion::TLS1_3, SslVersion::TLS1_3),
    };
    b.set_min_proto_version(Some(min))
        .map_err(e("min version"))?;
    b.set_max_proto_version(Some(max))
        .map_err(e("max version"))?;
    b.set_cipher_list("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
        .map_err(e("cipher list"))?;
    b.set_ciphersuites("TLS_AES_128_GCM_SHA256")
        .map_err(e("cipher suites"))?;
    b.set_groups_list("X25519:P-256").map_err(e("groups"))?;
    b.set_verify(SslVerifyMode::NONE);
    b.set_mode(SslMode::RELEASE_BUFFERS);
    if let Some(pem) = &settings.client_cert {
        b.set_certificate_chain_file(pem)
            .map_err(e("client certificate"))?;
        b.set_private_key_file(pem, openssl::ssl::SslFiletype::PEM)
            .map_err(e("client key"))?;
    }
    b.set_session_cache_mode(SslSessionCacheMode::CLIENT | SslSessionCacheMode::NO_INTERNAL);
    b.set_new_session_callback(move |_ssl, session| {
        shared.count(&shared.tickets, 1);
        // OpenSSL marks a TLS 1.3 session used for resumption as spent once
        // its connection gets a new ticket, so each session is used once.
        let mut pool = sessions.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() >= SESSION_POOL {
            pool.pop_front();
        }
        pool.push_back(session);
    });
    Ok(b.build())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    Send,
    Recv,
    Stream,
    Closing { notify_sent: bool },
    Idle,
}

struct Conn {
    tls: SslStream<TcpStream>,
    state: State,
    opened: Instant,
    closing_since: Option<Instant>,
    sent_at: Instant,
    seed: u64,
    round: u64,
    out: Vec<u8>,
    inbuf: Vec<u8>,
    scratch: Vec<u8>,
    got: usize,
    sent: u64,
    recv: u64,
    out_pending: bool,
}

/// What one thread hands back: its latency samples in nanoseconds.
pub type Samples = Vec<u32>;

struct Worker<'a> {
    settings: &'a Settings,
    shared: &'a Shared,
    samples: Samples,
    stopping: bool,
    idle_here: usize,
}

fn is_want(e: &openssl::ssl::Error) -> bool {
    matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE)
}

impl Worker<'_> {
    /// Drives a connection until it would block. Ok(false): finished.
    fn drive(&mut self, c: &mut Conn) -> Result<bool, String> {
        let size = self.settings.size;
        loop {
            match c.state {
                State::Handshake => match c.tls.connect() {
                    Ok(()) => {
                        let reused = c.tls.ssl().session_reused();
                        let counter = if reused {
                            &self.shared.resumed
                        } else {
                            &self.shared.full
                        };
                        self.shared.count(counter, 1);
                        if self.settings.mode == Mode::Stream {
                            c.out = vec![0; CHUNK];
                            c.inbuf = vec![0; CHUNK];
                            c.scratch = vec![0; CHUNK];
                            c.state = State::Stream;
                        } else {
                            self.begin_round(c);
                        }
                    }
                    Err(e) if is_want(&e) => return Ok(true),
                    Err(e) => return Err(format!("handshake: {e}")),
                },
                State::Send => match c.tls.ssl_write(&c.out[..size]) {
                    Ok(_) => {
                        c.got = 0;
                        c.state = State::Recv;
                    }
                    Err(e) if is_want(&e) => return Ok(true),
                    Err(e) => return Err(format!("write: {e}")),
                },
                State::Recv => match c.tls.ssl_read(&mut c.inbuf[c.got..size]) {
                    Ok(n) => {
                        c.got += n;
                        if c.got < size {
                            continue;
                        }
                        if c.inbuf[..size] != c.out[..size] {
                            return Err("the echo differs from what was sent".into());
                        }
                        self.round_done(c);
                        if c.state == State::Idle {
                            return Ok(true);
                        }
                    }
                    Err(e) if is_want(&e) => return Ok(true),
                    Err(e) => return Err(format!("read (waiting for the echo): {e}")),
                },
                State::Stream => {
                    if !self.stream(c)? {
                        return Ok(true);
                    }
                }
                State::Closing { notify_sent } => {
                    if !notify_sent {
                        match c.tls.shutdown() {
                            Ok(_) => c.state = State::Closing { notify_sent: true },
                            Err(e) if is_want(&e) => return Ok(true),
                            Err(_) => return Ok(false),
                        }
                        c.closing_since = Some(Instant::now());
                    }
                    // The proxy's close (close_notify or EOF) ends it.
                    match c.tls.ssl_read(&mut c.scratch) {
                        Ok(_) => {}
                        Err(e) if e.code() == ErrorCode::WANT_READ => return Ok(true),
                        Err(_) => return Ok(false),
                    }
                }
                State::Idle => match c.tls.ssl_read(&mut c.scratch) {
                    Ok(_) => return Err("an idle connection got unexpected bytes".into()),
                    Err(e) if is_want(&e) => return Ok(true),
                    Err(e) => return Err(format!("idle connection closed by the proxy: {e}")),
                },
            }
        }
    }

    fn begin_round(&mut self, c: &mut Conn) {
        let size = self.settings.size;
        if c.out.len() < size {
            c.out = vec![0; size];
            c.inbuf = vec![0; size];
            c.scratch = vec![0; size.max(64)];
        }
        pattern::fill(c.seed, c.round * size as u64, &mut c.out[..size]);
        if self.settings.wire {
            let pos = c.round * size as u64;
            wire::overlay(Shape::Ping, size as u64, pos, &mut c.out[..size]);
        }
        c.round += 1;
        c.sent_at = Instant::now();
        c.state = State::Send;
    }

    fn round_done(&mut self, c: &mut Conn) {
        match self.settings.mode {
            Mode::PingPong => {
                if self.shared.recording() {
                    self.shared.ops.fetch_add(1, Ordering::Relaxed);
                    if self.samples.len() < MAX_SAMPLES {
                        let ns = c.sent_at.elapsed().as_nanos().min(u32::MAX as u128) as u32;
                        self.samples.push(ns);
                    }
                }
                if self.stopping {
                    c.state = State::Closing { notify_sent: false };
                } else {
                    self.begin_round(c);
                }
            }
            Mode::Handshake { .. } => {
                self.shared.count(&self.shared.ops, 1);
                c.state = State::Closing { notify_sent: false };
            }
            Mode::Idle => {
                self.shared.idle_open.fetch_add(1, Ordering::Relaxed);
                self.idle_here += 1;
                c.state = State::Idle;
            }
            Mode::Stream => unreachable!("streams have no rounds"),
        }
    }

    /// One pass of writing and reading; Ok(false) when both would block.
    fn stream(&mut self, c: &mut Conn) -> Result<bool, String> {
        let mut progress = false;
        if c.out_pending || !self.stopping {
            if !c.out_pending {
                pattern::fill(c.seed, c.sent, &mut c.out);
                if self.settings.wire {
                    wire::overlay(Shape::Insert, wire::STREAM_FRAME, c.sent, &mut c.out);
                }
                c.out_pending = true;
            }
            match c.tls.ssl_write(&c.out) {
                Ok(n) => {
                    c.sent += n as u64;
                    c.out_pending = false;
                    progress = true;
                }
                Err(e) if is_want(&e) => {}
                Err(e) => return Err(format!("stream write: {e}")),
            }
        }
        match c.tls.ssl_read(&mut c.inbuf) {
            Ok(n) => {
                let framing = self
                    .settings
                    .wire
                    .then_some((Shape::Insert, wire::STREAM_FRAME));
                pattern::check(c.seed, c.recv, framing, &c.inbuf[..n], &mut c.scratch)
                    .map_err(|at| format!("stream byte {at} came back wrong"))?;
                c.recv += n as u64;
                self.shared.count(&self.shared.bytes, n as u64);
                progress = true;
            }
            Err(e) if is_want(&e) => {}
            Err(e) => return Err(format!("stream read: {e}")),
        }
        if self.stopping && !c.out_pending && c.recv >= c.sent {
            c.state = State::Closing { notify_sent: false };
            return Ok(true);
        }
        Ok(progress)
    }
}

/// Runs one client thread until `shared.stop` (then winds down) or the
/// hard end; returns its latency samples.
pub fn run_thread(settings: Arc<Settings>, shared: Arc<Shared>, index: usize) -> Samples {
    match thread_body(&settings, &shared, index) {
        Ok(samples) => samples,
        Err(e) => {
            shared.error(e);
            Vec::new()
        }
    }
}

fn thread_body(settings: &Settings, shared: &Arc<Shared>, index: usize) -> Result<Samples, String> {
    let sessions = Arc::new(Mutex::new(VecDeque::<SslSession>::new()));
    let ctx = context(settings, shared.clone(), sessions.clone())?;
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Slab<Conn> = Slab::new();
    let mut worker = Worker {
        settings,
        shared,
        samples: Vec::new(),
        stopping: false,
        idle_here: 0,
    };
    let mut opened: u64 = 0;
    let mut next_source = index;
    let mut last_scan = Instant::now();
    let mut open_failures_in_a_row = 0u32;
    loop {
        let now = Instant::now();
        if now >= settings.hard_end {
            break;
        }
        if !worker.stopping && shared.stop.load(Ordering::Relaxed) {
            worker.stopping = true;
            if settings.mode == Mode::Idle {
                for (_, c) in conns.iter_mut() {
                    let _ = c.tls.shutdown();
                }
                conns.clear();
                break;
            }
            // Nudge every connection once so it sees the stop.
            let keys: Vec<usize> = conns.iter().map(|(k, _)| k).collect();
            for key in keys {
                let c = &mut conns[key];
                if matches!(c.state, State::Stream | State::Send)
                    && matches!(worker.drive(c), Ok(false) | Err(_))
                {
                    conns.remove(key);
                }
            }
        }
        if worker.stopping && conns.is_empty() {
            break;
        }
        // Open connections up to this mode's target.
        if !worker.stopping {
            let want_more = |conns: &Slab<Conn>, opened: u64, idle_here: usize| match settings.mode
            {
                Mode::Handshake { .. } => conns.len() < settings.conns,
                Mode::Stream | Mode::PingPong => opened < settings.conns as u64,
                Mode::Idle => {
                    opened < settings.conns as u64 && conns.len() - idle_here < settings.inflight
                }
            };
            while want_more(&conns, opened, worker.idle_here) && open_failures_in_a_row < 100 {
                let source = settings.sources[next_source % settings.sources.len()];
                next_source += 1;
                let resume = matches!(settings.mode, Mode::Handshake { resume: true });
                let session = if resume {
                    let mut pool = sessions.lock().unwrap_or_else(|p| p.into_inner());
                    match settings.version {
                        // A TLS 1.2 session resumes again and again (a
                        // resumed connection gets no new ticket).
                        Version::Tls12 => pool.back().cloned(),
                        Version::Tls13 => pool.pop_back(),
                    }
                } else {
                    None
                };
                match open(&ctx, source, settings.target, session.as_ref()) {
                    Ok(tls) => {
                        open_failures_in_a_row = 0;
                        opened += 1;
                        let entry = conns.vacant_entry();
                        let key = entry.key();
                        let seed = ((index as u64) << 40) ^ opened ^ 0x5eed;
                        let c = entry.insert(Conn {
                            tls,
                            state: State::Handshake,
                            opened: Instant::now(),
                            closing_since: None,
                            sent_at: Instant::now(),
                            seed,
                            round: 0,
                            out: Vec::new(),
                            inbuf: Vec::new(),
                            scratch: vec![0; 64],
                            got: 0,
                            sent: 0,
                            recv: 0,
                            out_pending: false,
                        });
                        if let Err(e) = poll.registry().register(
                            c.tls.get_mut(),
                            Token(key),
                            Interest::READABLE | Interest::WRITABLE,
                        ) {
                            shared.error(format!("register: {e}"));
                            conns.remove(key);
                            continue;
                        }
                        match worker.drive(c) {
                            Ok(true) => {}
                            Ok(false) => {
                                conns.remove(key);
                            }
                            Err(e) => {
                                shared.error(e);
                                conns.remove(key);
                            }
                        }
                    }
                    Err(e) => {
                        open_failures_in_a_row += 1;
                        shared.error(e);
                        break;
                    }
                }
            }
            if open_failures_in_a_row >= 100 {
                return Err("giving up: 100 connection attempts in a row failed".into());
            }
        }
        let timeout =
            Duration::from_millis(50).min(settings.hard_end.saturating_duration_since(now));
        if let Err(e) = poll.poll(&mut events, Some(timeout))
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            return Err(format!("poll: {e}"));
        }
        for event in events.iter() {
            let key = event.token().0;
            let Some(c) = conns.get_mut(key) else {
                continue;
            };
            match worker.drive(c) {
                Ok(true) => {}
                Ok(false) => {
                    conns.remove(key);
                }
                Err(e) => {
                    if conns[key].state == State::Idle {
                        worker.idle_here -= 1;
                    }
                    shared.error(e);
                    conns.remove(key);
                }
            }
        }
        if last_scan.elapsed() >= Duration::from_millis(200) {
            last_scan = Instant::now();
            let late: Vec<usize> = conns
                .iter()
                .filter(|(_, c)| match c.state {
                    State::Closing { .. } => {
                        c.closing_since.is_some_and(|t| t.elapsed() > CLOSE_TIMEOUT)
                    }
                    State::Idle | State::Stream => false,
                    _ => c.opened.elapsed() > CONNECT_TIMEOUT && settings.mode != Mode::PingPong,
                })
                .map(|(k, _)| k)
                .collect();
            for key in late {
                let c = conns.remove(key);
                if !matches!(c.state, State::Closing { .. }) {
                    shared.error("a connection timed out before its round trip".into());
                }
            }
        }
    }
    Ok(worker.samples)
}

fn open(
    ctx: &SslContext,
    source: Ipv4Addr,
    target: SocketAddr,
    session: Option<&SslSession>,
) -> Result<SslStream<TcpStream>, String> {
    let tcp = crate::net::connect_from(source, target)
        .map_err(|e| format!("connect from {source} to {target}: {e}"))?;
    let mut ssl = Ssl::new(ctx).map_err(|e| format!("SSL_new: {e}"))?;
    if let Some(session) = session {
        // SAFETY: the session comes from a context with the same method.
        unsafe { ssl.set_session(session) }.map_err(|e| format!("set_session: {e}"))?;
    }
    ssl.set_connect_state();
    SslStream::new(ssl, tcp).map_err(|e| format!("SSL stream: {e}"))
}
