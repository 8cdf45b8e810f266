//! In-process costs: a server and a client in one thread over memory
//! buffers (no sockets, no kernel), the server's CPU time measured around
//! each server-side call with the thread CPU clock. It separates what
//! OpenSSL itself costs per handshake and per MiB from what a proxy adds,
//! and prices the settings mongossl can choose: session tickets sent per
//! handshake, the key-exchange group, the certificate type, TLS 1.2 vs
//! 1.3, resumption, and SSL_MODE_RELEASE_BUFFERS.
//!
//! The server context mirrors src/tls/server.rs's policy (same suites,
//! groups, options and modes); only the setting under test changes.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslSession,
    SslSessionCacheMode, SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::{X509, X509NameBuilder};

/// One direction of the in-memory connection.
type Queue = Rc<RefCell<VecDeque<u8>>>;

/// One end: reads from `inbox`, writes to `outbox`; empty means would-block.
struct End {
    inbox: Queue,
    outbox: Queue,
}

impl Read for End {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut q = self.inbox.borrow_mut();
        if q.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        q.read(buf)
    }
}

impl Write for End {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbox.borrow_mut().extend(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn pair() -> (End, End) {
    let a: Queue = Rc::default();
    let b: Queue = Rc::default();
    (
        End {
            inbox: a.clone(),
            outbox: b.clone(),
        },
        End {
            inbox: b,
            outbox: a,
        },
    )
}

/// This thread's CPU time in nanoseconds.
fn cpu_ns() -> u64 {
    // SAFETY: clock_gettime writes into the struct we own.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cert {
    Ecdsa,
    Rsa,
}

struct Identity {
    key: PKey<Private>,
    cert: X509,
}

fn identity(kind: Cert) -> Result<Identity, openssl::error::ErrorStack> {
    let key = match kind {
        Cert::Ecdsa => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(EcKey::generate(&group)?)?
        }
        Cert::Rsa => PKey::from_rsa(Rsa::generate(2048)?)?,
    };
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, "localhost")?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let (from, to) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(30)?);
    b.set_not_before(&from)?;
    b.set_not_after(&to)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok(Identity {
        key,
        cert: b.build(),
    })
}

/// A server setting under test.
#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    cert: Cert,
    tls13: bool,
    tickets: usize,
    /// Client's key-share group.
    group: &'static str,
    release_buffers: bool,
    resume: bool,
    /// OpenSSL's server-side session cache (on by default).
    session_cache: bool,
}

const BASE: Variant = Variant {
    name: "",
    cert: Cert::Ecdsa,
    tls13: true,
    tickets: 1,
    group: "X25519",
    release_buffers: true,
    resume: false,
    session_cache: true,
};

fn server_ctx(v: &Variant, id: &Identity) -> Result<SslContext, openssl::error::ErrorStack> {
    let mut b = SslContextBuilder::new(SslMethod::tls_server())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_cipher_list(
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
         ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
    )?;
    b.set_ciphersuites(
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
    )?;
    b.set_groups_list("X25519:P-256:P-384")?;
    b.set_options(
        SslOptions::CIPHER_SERVER_PREFERENCE
            | SslOptions::NO_COMPRESSION
            | SslOptions::NO_RENEGOTIATION
            | SslOptions::NO_SESSION_RESUMPTION_ON_RENEGOTIATION,
    );
    let mut mode = SslMode::ENABLE_PARTIAL_WRITE | SslMode::ACCEPT_MOVING_WRITE_BUFFER;
    if v.release_buffers {
        mode |= SslMode::RELEASE_BUFFERS;
    }
    b.set_mode(mode);
    b.set_num_tickets(v.tickets)?;
    b.set_private_key(&id.key)?;
    b.set_certificate(&id.cert)?;
    b.set_session_id_context(b"mongossl")?;
    if !v.session_cache {
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
    }
    Ok(b.build())
}

fn client_ctx(v: &Variant) -> Result<SslContext, openssl::error::ErrorStack> {
    let mut b = SslContextBuilder::new(SslMethod::tls_client())?;
    let version = if v.tls13 {
        SslVersion::TLS1_3
    } else {
        SslVersion::TLS1_2
    };
    b.set_min_proto_version(Some(version))?;
    b.set_max_proto_version(Some(version))?;
    b.set_cipher_list("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")?;
    b.set_ciphersuites("TLS_AES_128_GCM_SHA256")?;
    let groups = if v.group == "X25519" {
        "X25519:P-256"
    } else {
        v.group
    };
    b.set_groups_list(groups)?;
    b.set_verify(SslVerifyMode::NONE);
    b.set_session_cache_mode(SslSessionCacheMode::CLIENT | SslSessionCacheMode::NO_INTERNAL);
    // The callback must be Send + Sync: hand the session over through a
    // thread-local (everything here runs in one thread).
    b.set_new_session_callback(|_, session| {
        LATEST.with(|l| *l.borrow_mut() = Some(session));
    });
    Ok(b.build())
}

thread_local! {
    static LATEST: RefCell<Option<SslSession>> = const { RefCell::new(None) };
}

fn is_want(e: &openssl::ssl::Error) -> bool {
    matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE)
}

/// One connection's life as the proxy sees it: SSL_new, handshake, one
/// 200-byte round trip, the client's close_notify, the server's, SSL_free.
/// Returns the server's CPU nanoseconds.
fn one_connection(sctx: &SslContext, cctx: &SslContext, resume: bool) -> Result<u64, String> {
    let e = |w: &str| {
        let w = w.to_string();
        move |x: openssl::error::ErrorStack| format!("{w}: {x}")
    };
    let (a, b) = pair();
    let mut spent = 0u64;
    let t = cpu_ns();
    let mut server = SslStream::new(Ssl::new(sctx).map_err(e("server SSL_new"))?, a)
        .map_err(e("server stream"))?;
    spent += cpu_ns() - t;
    let mut cssl = Ssl::new(cctx).map_err(e("client SSL_new"))?;
    if resume && let Some(s) = LATEST.with(|l| l.borrow_mut().take()) {
        // SAFETY: same method on both sides.
        unsafe { cssl.set_session(&s) }.map_err(e("set_session"))?;
    }
    cssl.set_connect_state();
    let mut client = SslStream::new(cssl, b).map_err(e("client stream"))?;
    let (mut c_done, mut s_done) = (false, false);
    for _ in 0..20 {
        if !c_done {
            match client.connect() {
                Ok(()) => c_done = true,
                Err(x) if is_want(&x) => {}
                Err(x) => return Err(format!("client handshake: {x}")),
            }
        }
        if !s_done {
            let t = cpu_ns();
            let r = server.accept();
            spent += cpu_ns() - t;
            match r {
                Ok(()) => s_done = true,
                Err(x) if is_want(&x) => {}
                Err(x) => return Err(format!("server handshake: {x}")),
            }
        }
        if c_done && s_done {
            break;
        }
    }
    if !(c_done && s_done) {
        return Err("handshake did not finish".into());
    }
    let msg = [0x5au8; 200];
    let mut buf = [0u8; 512];
    client
        .ssl_write(&msg)
        .map_err(|x| format!("client write: {x}"))?;
    let t = cpu_ns();
    let n = server
        .ssl_read(&mut buf)
        .map_err(|x| format!("server read: {x}"))?;
    server
        .ssl_write(&buf[..n])
        .map_err(|x| format!("server write: {x}"))?;
    spent += cpu_ns() - t;
    let mut got = 0;
    while got < 200 {
        got += client
            .ssl_read(&mut buf)
            .map_err(|x| format!("client read: {x}"))?;
    }
    let _ = client.shutdown();
    let t = cpu_ns();
    let _ = server.ssl_read(&mut buf);
    let _ = server.shutdown();
    drop(server);
    spent += cpu_ns() - t;
    Ok(spent)
}

/// Server CPU per MiB relayed through TLS both ways (decrypt what the
/// client sent, encrypt it back), 16 KiB records; and per 200-byte
/// message (read one, write one).
fn records(
    sctx: &SslContext,
    cctx: &SslContext,
    chunk: usize,
    total: usize,
) -> Result<f64, String> {
    let (a, b) = pair();
    let mut server =
        SslStream::new(Ssl::new(sctx).map_err(|x| x.to_string())?, a).map_err(|x| x.to_string())?;
    let mut cssl = Ssl::new(cctx).map_err(|x| x.to_string())?;
    cssl.set_connect_state();
    let mut client = SslStream::new(cssl, b).map_err(|x| x.to_string())?;
    for _ in 0..20 {
        let c = client.connect();
        let s = server.accept();
        if c.is_ok() && s.is_ok() {
            break;
        }
    }
    let out = vec![0xa5u8; chunk];
    let mut sbuf = vec![0u8; 16 * 1024];
    let mut cbuf = vec![0u8; 16 * 1024];
    let mut spent = 0u64;
    let mut moved = 0usize;
    while moved < total {
        client
            .ssl_write(&out)
            .map_err(|x| format!("client write: {x}"))?;
        let mut left = chunk;
        while left > 0 {
            let t = cpu_ns();
            let n = server
                .ssl_read(&mut sbuf)
                .map_err(|x| format!("server read: {x}"))?;
            server
                .ssl_write(&sbuf[..n])
                .map_err(|x| format!("server write: {x}"))?;
            spent += cpu_ns() - t;
            left -= n;
        }
        let mut back = 0;
        while back < chunk {
            back += client
                .ssl_read(&mut cbuf)
                .map_err(|x| format!("client read: {x}"))?;
        }
        moved += chunk;
    }
    Ok(spent as f64 / (total / chunk) as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Prints the in-process table: `rounds` interleaved rounds of
/// `handshakes` handshakes per variant, medians.
pub fn run(rounds: usize, handshakes: usize) -> Result<(), String> {
    let ecdsa = identity(Cert::Ecdsa).map_err(|e| e.to_string())?;
    let rsa = identity(Cert::Rsa).map_err(|e| e.to_string())?;
    let v = |name, f: fn(&mut Variant)| {
        let mut x = BASE;
        x.name = name;
        f(&mut x);
        x
    };
    let variants = [
        v("TLS 1.3 ECDSA X25519, 1 ticket (mongossl now)", |_| {}),
        v("TLS 1.3 ECDSA X25519, 0 tickets", |x| x.tickets = 0),
        v("TLS 1.3 ECDSA X25519, 2 tickets (OpenSSL default)", |x| {
            x.tickets = 2
        }),
        v("TLS 1.3 ECDSA P-256 key share, 1 ticket", |x| {
            x.group = "P-256"
        }),
        v("TLS 1.3 ECDSA X25519, 1 ticket, no RELEASE_BUFFERS", |x| {
            x.release_buffers = false
        }),
        v("TLS 1.3 RSA-2048, 1 ticket", |x| x.cert = Cert::Rsa),
        v("TLS 1.3 RSA-2048, 0 tickets", |x| {
            x.cert = Cert::Rsa;
            x.tickets = 0
        }),
        v("TLS 1.2 ECDSA X25519 (ticket)", |x| x.tls13 = false),
        v(
            "TLS 1.2 ECDSA X25519 (ticket), server session cache off",
            |x| {
                x.tls13 = false;
                x.session_cache = false
            },
        ),
        v("TLS 1.2 RSA-2048 (ticket)", |x| {
            x.tls13 = false;
            x.cert = Cert::Rsa
        }),
        v("TLS 1.3 resumed (ticket, X25519)", |x| x.resume = true),
        v("TLS 1.2 resumed (ticket)", |x| {
            x.tls13 = false;
            x.resume = true
        }),
    ];
    let mut contexts = Vec::new();
    for var in &variants {
        let id = if var.cert == Cert::Rsa { &rsa } else { &ecdsa };
        let s = server_ctx(var, id).map_err(|e| e.to_string())?;
        let c = client_ctx(var).map_err(|e| e.to_string())?;
        contexts.push((s, c));
    }
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, var) in variants.iter().enumerate() {
            let (s, c) = &contexts[i];
            LATEST.with(|l| *l.borrow_mut() = None);
            if var.resume {
                one_connection(s, c, false)?; // a ticket to start from
            }
            let mut total = 0u64;
            for _ in 0..handshakes {
                total += one_connection(s, c, var.resume)?;
            }
            results[i].push(total as f64 / handshakes as f64 / 1000.0);
        }
    }
    let base = median(results[0].clone());
    println!(
        "| server CPU per connection (handshake + 200 B round trip + close), in-process | µs | vs mongossl now |"
    );
    println!("|---|---:|---:|");
    for (i, var) in variants.iter().enumerate() {
        let m = median(results[i].clone());
        println!(
            "| {} | {:.0} | {:+.0}% |",
            var.name,
            m,
            (m / base - 1.0) * 100.0
        );
    }
    // Records: mongossl's modes with and without RELEASE_BUFFERS.
    println!();
    println!("| server CPU for records, in-process | with RELEASE_BUFFERS | without |");
    println!("|---|---:|---:|");
    let mut rows = Vec::new();
    for (chunk, total, label) in [
        (16 * 1024, 64 << 20, "per MiB each way (16 KiB records), µs"),
        (200, 4 << 20, "per 200-byte message in and out, µs"),
    ] {
        let mut with = Vec::new();
        let mut without = Vec::new();
        for _ in 0..rounds {
            for (rb, out) in [(true, &mut with), (false, &mut without)] {
                let mut var = BASE;
                var.release_buffers = rb;
                let s = server_ctx(&var, &ecdsa).map_err(|e| e.to_string())?;
                let c = client_ctx(&var).map_err(|e| e.to_string())?;
                let per_chunk_ns = records(&s, &c, chunk, total)?;
                out.push(if chunk == 200 {
                    per_chunk_ns / 1000.0
                } else {
                    per_chunk_ns * (1 << 20) as f64 / chunk as f64 / 1000.0
                });
            }
        }
        rows.push((label, median(with), median(without)));
    }
    for (label, w, wo) in rows {
        println!("| {label} | {w:.1} | {wo:.1} |");
    }
    Ok(())
}
