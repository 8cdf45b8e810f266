//! A bounded soak through the real binary: many clients over many
//! sessions with random message sizes (1 B to 48 MB, mostly small), random
//! half-closes and disconnects by the client and by the backend. Every
//! byte written before a clean close must arrive, in order (compared
//! byte for byte and by SHA-256, both ways); at the end the server's file
//! descriptors are back to the baseline and its memory near it.
//!
//! The cargo test runs ~20 s; `scripts/soak.sh` runs it for minutes
//! (MONGOSSL_SOAK_SECS, MONGOSSL_SOAK_CLIENTS).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssl::sha::Sha256;

use crate::harness::net::{Backend, ClientOptions, Noise, TlsStream, tls_connect};
use crate::harness::pki::Pki;
use crate::harness::tls_server;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A continuous pseudo-random byte stream: the same seed gives the same
/// bytes however they are cut into writes and reads.
struct NoiseStream {
    noise: Noise,
    word: [u8; 8],
    used: usize,
}

impl NoiseStream {
    fn new(seed: u64) -> NoiseStream {
        NoiseStream {
            noise: Noise::new(seed),
            word: [0; 8],
            used: 8,
        }
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            if self.used == 8 {
                self.word = self.noise.next_u64().to_le_bytes();
                self.used = 0;
            }
            *b = self.word[self.used];
            self.used += 1;
        }
    }
}

/// What the backend does with a session, announced in its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BackendMode {
    /// Echo until the client's EOF, then half-close.
    Echo = 0,
    /// Echo `limit` bytes, half-close, then read (and count) the rest.
    HalfCloseAfter = 1,
    /// Echo `limit` bytes, then reset the connection.
    ResetAfter = 2,
}

/// What the backend received of each session: (length, SHA-256).
type Received = Arc<Mutex<HashMap<u64, (u64, [u8; 32])>>>;

const HEADER: usize = 17;

fn soak_backend(received: Received) -> Backend {
    Backend::start(move |mut s| {
        let mut header = [0u8; HEADER];
        if s.read_exact(&mut header).is_err() {
            return;
        }
        let mode = header[0];
        let limit = u64::from_le_bytes(header[1..9].try_into().unwrap_or_default());
        let session = u64::from_le_bytes(header[9..17].try_into().unwrap_or_default());
        let mut digest = Sha256::new();
        let mut total = 0u64;
        let mut echoing = true;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => return,
            };
            digest.update(&buf[..n]);
            let before = total;
            total += n as u64;
            if !echoing {
                continue;
            }
            let echo = if mode == 0 {
                n
            } else {
                (limit.saturating_sub(before) as usize).min(n)
            };
            if s.write_all(&buf[..echo]).is_err() {
                return;
            }
            if mode != 0 && total >= limit {
                echoing = false;
                if mode == 2 {
                    reset(&s);
                    return;
                }
                let _ = s.shutdown(Shutdown::Write);
            }
        }
        if mode == 0 {
            let _ = s.shutdown(Shutdown::Write);
        }
        if let Ok(mut map) = received.lock() {
            map.insert(session, (total, digest.finish()));
        }
    })
}

/// Drops a socket with a TCP reset (SO_LINGER 0).
fn reset(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    // The reset goes out when the caller drops the socket.
}

/// How the client ends a session.
#[derive(Clone, Copy, Debug)]
enum ClientEnd {
    /// Reads every echo, then close_notify and waits for the server's.
    Clean,
    /// close_notify right after its last write, then reads the rest.
    HalfClose,
    /// Vanishes mid-stream without close_notify (TCP FIN or reset).
    Abrupt { reset: bool },
}

/// A message size: mostly small, sometimes large, rarely up to 48 MB.
fn message_size(noise: &mut Noise) -> usize {
    match noise.between(0, 999) {
        0..=799 => noise.between(1, 1024),
        800..=949 => noise.between(1025, 256 * 1024),
        950..=994 => noise.between(256 * 1024, 4 << 20),
        _ => noise.between(4 << 20, 48_000_000),
    }
}

#[derive(Default)]
struct Tally {
    sessions: AtomicU64,
    verified: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    abrupt: AtomicU64,
    backend_half_close: AtomicU64,
    backend_reset: AtomicU64,
}

/// The echo side of a session: compares what comes back with the stream
/// that was sent, byte for byte, in order.
struct Checker {
    expected: NoiseStream,
    scratch: Vec<u8>,
    got: u64,
    digest: Sha256,
    eof: bool,
}

impl Checker {
    fn read_some(&mut self, stream: &mut TlsStream, buf: &mut [u8]) -> Result<usize, String> {
        match stream.read(buf) {
            Ok(0) => {
                self.eof = true;
                Ok(0)
            }
            Ok(n) => {
                self.scratch.resize(n, 0);
                self.expected.fill(&mut self.scratch);
                if buf[..n] != self.scratch[..] {
                    return Err(format!(
                        "echo differs within bytes {}..{}",
                        self.got,
                        self.got + n as u64
                    ));
                }
                self.digest.update(&buf[..n]);
                self.got += n as u64;
                Ok(n)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// One session; Err only for a broken guarantee.
fn session(
    port: u16,
    options: &ClientOptions,
    id: u64,
    rng: &mut Noise,
    received: &Received,
    tally: &Tally,
) -> Result<(), String> {
    let mode = match rng.between(0, 9) {
        0..=6 => BackendMode::Echo,
        7 | 8 => BackendMode::HalfCloseAfter,
        _ => BackendMode::ResetAfter,
    };
    let end = match (mode, rng.between(0, 9)) {
        (BackendMode::Echo, 0) => ClientEnd::Abrupt { reset: false },
        (BackendMode::Echo, 1) => ClientEnd::Abrupt { reset: true },
        (_, 2..=4) => ClientEnd::HalfClose,
        _ => ClientEnd::Clean,
    };
    let sizes: Vec<usize> = (0..rng.between(1, 8)).map(|_| message_size(rng)).collect();
    let total: u64 = sizes.iter().map(|s| *s as u64).sum();
    let limit = rng.between(0, total as usize) as u64;
    let abrupt_at = rng.between(0, total as usize) as u64;

    let mut stream = tls_connect(port, options).map_err(|e| format!("connect: {e}"))?;
    let mut header = [0u8; HEADER];
    header[0] = mode as u8;
    header[1..9].copy_from_slice(&limit.to_le_bytes());
    header[9..17].copy_from_slice(&id.to_le_bytes());
    stream
        .write_all(&header)
        .map_err(|e| format!("header: {e}"))?;

    let mut source = NoiseStream::new(id);
    let mut sent_digest = Sha256::new();
    let mut sent = 0u64;
    let mut checker = Checker {
        expected: NoiseStream::new(id),
        scratch: Vec::new(),
        got: 0,
        digest: Sha256::new(),
        eof: false,
    };
    let mut chunk = vec![0u8; 64 * 1024];
    let mut back = vec![0u8; 64 * 1024];
    // Echo data still expected back right now.
    let echo_cap = |sent: u64| match mode {
        BackendMode::Echo => sent,
        _ => sent.min(limit),
    };
    let mut write_failed = false;
    'messages: for size in &sizes {
        let mut left = *size;
        while left > 0 {
            if let ClientEnd::Abrupt { reset: r } = end
                && sent >= abrupt_at
            {
                tally.abrupt.fetch_add(1, Ordering::Relaxed);
                if r {
                    reset(stream.get_ref());
                }
                return Ok(());
            }
            let n = rng.between(1, chunk.len()).min(left);
            source.fill(&mut chunk[..n]);
            if stream.write_all(&chunk[..n]).is_err() {
                // Only a backend reset may break the client's writes.
                if mode != BackendMode::ResetAfter {
                    return Err(format!("write failed at {sent} ({mode:?})"));
                }
                write_failed = true;
                break 'messages;
            }
            sent_digest.update(&chunk[..n]);
            sent += n as u64;
            left -= n;
            // Keep little in flight so neither side blocks on full buffers.
            while !checker.eof && echo_cap(sent) - checker.got > 256 * 1024 {
                match checker.read_some(&mut stream, &mut back) {
                    Ok(0) if mode == BackendMode::Echo => {
                        return Err(format!("early EOF at {} of {sent}", checker.got));
                    }
                    Ok(_) => {}
                    Err(e) if mode == BackendMode::ResetAfter && !e.contains("differs") => {
                        break 'messages;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    tally.bytes_up.fetch_add(sent, Ordering::Relaxed);
    if let ClientEnd::Abrupt { reset: r } = end {
        // Everything written before the point chosen to vanish at.
        tally.abrupt.fetch_add(1, Ordering::Relaxed);
        if r {
            reset(stream.get_ref());
        }
        return Ok(());
    }
    if let ClientEnd::HalfClose = end
        && !write_failed
    {
        let _ = stream.shutdown();
    }
    // Read the rest of the echo up to the server's close.
    while !checker.eof {
        match checker.read_some(&mut stream, &mut back) {
            Ok(_) => {}
            Err(e) if e.contains("differs") => return Err(e),
            Err(e) if mode == BackendMode::ResetAfter => {
                let _ = e;
                break;
            }
            Err(e) => {
                return Err(format!(
                    "{mode:?}/{end:?} limit {limit} sent {sent}: read after {} of {}: {e}",
                    checker.got,
                    echo_cap(sent)
                ));
            }
        }
        // Without the client's EOF, the backend closes only once it has
        // echoed `limit` bytes: otherwise stop when all came back.
        let backend_closes = mode != BackendMode::Echo && sent >= limit;
        if matches!(end, ClientEnd::Clean) && !backend_closes && checker.got == echo_cap(sent) {
            break;
        }
    }
    tally.bytes_down.fetch_add(checker.got, Ordering::Relaxed);
    match mode {
        BackendMode::ResetAfter => {
            // Only a prefix is promised, and it was checked byte by byte.
            tally.backend_reset.fetch_add(1, Ordering::Relaxed);
            if checker.got > limit {
                return Err(format!("more than echoed: {} > {limit}", checker.got));
            }
            return Ok(());
        }
        BackendMode::HalfCloseAfter => {
            tally.backend_half_close.fetch_add(1, Ordering::Relaxed);
            if checker.got != sent.min(limit) {
                return Err(format!(
                    "backend half-closed after {} bytes, client got {}",
                    sent.min(limit),
                    checker.got
                ));
            }
        }
        BackendMode::Echo => {
            if checker.got != sent {
                return Err(format!("echo: sent {sent}, got back {}", checker.got));
            }
            if checker.digest.clone().finish() != sent_digest.clone().finish() {
                return Err("echo digest differs".into());
            }
        }
    }
    if let ClientEnd::Clean = end {
        stream
            .shutdown()
            .map_err(|e| format!("close_notify: {e}"))?;
        if mode == BackendMode::Echo {
            // The server's close_notify follows the backend's EOF.
            let mut rest = [0u8; 16];
            match stream.read(&mut rest) {
                Ok(0) => {}
                other => return Err(format!("after close_notify: {other:?}")),
            }
        }
    }
    drop(stream);
    // What the backend received equals what was sent, in order.
    let want = (sent, sent_digest.finish());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = received.lock().ok().and_then(|mut m| m.remove(&id));
        match got {
            Some(got) if got == want => break,
            Some(got) => {
                return Err(format!(
                    "backend got {} bytes (digest differs: {}), sent {sent}",
                    got.0,
                    got.1 != want.1
                ));
            }
            None if Instant::now() > deadline => {
                return Err(format!(
                    "backend never saw the end of session {id} ({mode:?}, {end:?})"
                ));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    tally.verified.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

#[test]
fn soak_random_sizes_half_closes_and_disconnects_lose_nothing() {
    let secs = env_or("MONGOSSL_SOAK_SECS", 20);
    let clients = env_or("MONGOSSL_SOAK_CLIENTS", 12);
    let idle = env_or("MONGOSSL_SOAK_IDLE", 100);
    let pki = Pki::new();
    let received: Received = Arc::new(Mutex::new(HashMap::new()));
    let backend = soak_backend(received.clone());
    let server = tls_server(&pki, &backend, &[]);
    let ca: &'static std::path::Path = Box::leak(pki.path("ca.pem").into_boxed_path());
    let options = ClientOptions {
        ca: Some(ca),
        ..Default::default()
    };
    let fds = server.open_fds();
    // Warm up allocator and OpenSSL once, then take the baseline.
    let _ = tls_connect(server.port, &options).expect("warm-up");
    std::thread::sleep(Duration::from_millis(200));
    let rss_before = server.rss_kib();
    // Idle connections held for the whole run (a driver's pool).
    let idle_conns: Vec<_> = (0..idle)
        .map(|_| tls_connect(server.port, &options).expect("idle connection"))
        .collect();

    let deadline = Instant::now() + Duration::from_secs(secs);
    let tally = Arc::new(Tally::default());
    let next_id = Arc::new(AtomicU64::new(1));
    let port = server.port;
    let workers: Vec<_> = (0..clients)
        .map(|w| {
            let (received, tally, next_id, options) = (
                received.clone(),
                tally.clone(),
                next_id.clone(),
                options.clone(),
            );
            std::thread::spawn(move || -> Result<(), String> {
                let mut rng = Noise::new(0x50a1 + w);
                // Bounded in time and in count.
                while Instant::now() < deadline && tally.sessions.load(Ordering::Relaxed) < 100_000
                {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    tally.sessions.fetch_add(1, Ordering::Relaxed);
                    session(port, &options, id, &mut rng, &received, &tally)
                        .map_err(|e| format!("session {id}: {e}"))?;
                }
                Ok(())
            })
        })
        .collect();
    let mut rss_peak = 0;
    while workers.iter().any(|w| !w.is_finished()) {
        rss_peak = rss_peak.max(server.rss_kib());
        std::thread::sleep(Duration::from_millis(100));
    }
    for w in workers {
        if let Err(e) = w.join().expect("worker") {
            panic!("{e}\nserver log tail:\n{}", {
                let log = server.log();
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            });
        }
    }
    drop(idle_conns);
    server.expect_fds(fds);
    std::thread::sleep(Duration::from_millis(200));
    let rss_after = server.rss_kib();
    eprintln!(
        "soak: {secs} s, {clients} clients + {idle} idle: {} sessions ({} verified both ways, {} client aborts, {} backend half-closes, {} backend resets), {:.1} MiB up, {:.1} MiB down; RSS {rss_before} KiB before, {rss_peak} KiB peak, {rss_after} KiB after; fds back to {fds}",
        tally.sessions.load(Ordering::Relaxed),
        tally.verified.load(Ordering::Relaxed),
        tally.abrupt.load(Ordering::Relaxed),
        tally.backend_half_close.load(Ordering::Relaxed),
        tally.backend_reset.load(Ordering::Relaxed),
        tally.bytes_up.load(Ordering::Relaxed) as f64 / 1048576.0,
        tally.bytes_down.load(Ordering::Relaxed) as f64 / 1048576.0,
    );
    assert!(
        tally.verified.load(Ordering::Relaxed) > 0,
        "nothing verified"
    );
    // Idle connections and the allocator's caches aside, nothing stays.
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS {rss_before} KiB before, {rss_after} KiB after"
    );
    let errors = server.count_in_log(" E [");
    assert_eq!(errors, 0, "error lines in the log");
}
