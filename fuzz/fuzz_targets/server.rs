//! The whole server under fuzzed clients: mongossl's real event loops run
//! in threads (loopback listeners, real TLS context, an echo backend), and
//! each input is one client over loopback. Input byte 0 picks the port
//! (bit 1: SSL required, or SSL preferred with first-bytes sniffing) and
//! the client (bit 0):
//! - 0: raw bytes (the input, cut into writes) and then EOF;
//! - 1: a real TLS handshake, then a script of operations (write bytes,
//!   read, close_notify, raw bytes under TLS, vanish), checking that what
//!   comes back is exactly a prefix of what was written.
//!
//! A panic anywhere, including the server's thread, aborts the process
//! (libFuzzer reports it); a connection the server never closes fails the
//! bounded read below.
#![no_main]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mongossl::config::{SslMode, Upstream};
use mongossl::proxy::{LoopSettings, Proxy, Role};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};

fn echo_backend() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut s = stream;
                // Small echoes must not wait for delayed ACKs.
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s.shutdown(Shutdown::Write);
            });
        }
    });
    addr
}

/// Starts mongossl's event loop (one loop, as `--loops 1`) once per port
/// mode: SSL required, and SSL preferred (first-bytes sniffing decides).
/// Returns the two ports.
fn server_ports() -> (u16, u16) {
    static RUNNING: Mutex<Vec<Proxy>> = Mutex::new(Vec::new());
    static PORTS: OnceLock<(u16, u16)> = OnceLock::new();
    *PORTS.get_or_init(|| {
        let upstream = Upstream::Tcp(echo_backend());
        let tls = mongossl_fuzz::server_tls();
        let mut ports = Vec::new();
        for mode in [SslMode::Require, SslMode::Prefer] {
            let (listeners, port) =
                mongossl::proxy::listen::bind(&["127.0.0.1".parse().expect("ip")], 0, 1)
                    .expect("bind");
            let settings = LoopSettings {
                upstream: upstream.clone(),
                role: Role::Server {
                    mode,
                    tls: Some(tls.contexts[0].clone()),
                },
                handshake_timeout: Duration::from_secs(2),
                idle_timeout: None,
                proxy_protocol: Default::default(),
                stats: Default::default(),
                taps: None,
            };
            let mut settings = Some(settings);
            let proxy = Proxy::start(listeners, 1000, |_| settings.take().expect("one loop"))
                .expect("event loop");
            // The loops run until the process ends; keeping their handle
            // reachable keeps LeakSanitizer quiet about it.
            RUNNING.lock().expect("lock").push(proxy);
            ports.push(port);
        }
        (ports[0], ports[1])
    })
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // The server closes a failed handshake at once and a stalled one
    // after 2 s; 10 s without a close is a hang.
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn read_to_close(s: &mut impl Read) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                panic!("the server did not close the connection: {e}")
            }
            Err(_) => return,
        }
    }
}

fn raw_client(port: u16, data: &[u8]) {
    let mut s = connect(port);
    for piece in data.chunks(61) {
        if s.write_all(piece).is_err() {
            break;
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    read_to_close(&mut s);
}

fn tls_client(port: u16, script: &[u8]) {
    // Built once: a connector loads the system's CA store, which costs
    // more than a whole iteration.
    static CONNECTOR: OnceLock<SslConnector> = OnceLock::new();
    let connector = CONNECTOR.get_or_init(|| {
        let mut b = SslConnector::builder(SslMethod::tls_client()).expect("connector");
        b.set_verify(SslVerifyMode::NONE);
        b.build()
    });
    let tcp = connect(port);
    let mut tls = match connector.connect("localhost", tcp) {
        Ok(tls) => tls,
        Err(e) => panic!("a plain TLS client was refused: {e}"),
    };
    let mut written: Vec<u8> = Vec::new();
    let mut echoed: Vec<u8> = Vec::new();
    let mut ops = script.iter().copied();
    let mut closed_write = false;
    while let Some(op) = ops.next() {
        let len = usize::from(ops.next().unwrap_or(0));
        match op % 5 {
            // Write `len` bytes taken from the script.
            0 | 1 if !closed_write => {
                let bytes: Vec<u8> = ops.by_ref().take(len).collect();
                if tls.write_all(&bytes).is_err() {
                    return;
                }
                written.extend(bytes);
            }
            // Read whatever the echo has for us (bounded by what was sent).
            2 if echoed.len() < written.len() => {
                let mut buf = vec![0u8; written.len() - echoed.len()];
                match tls.read(&mut buf) {
                    Ok(n) => echoed.extend(&buf[..n]),
                    Err(e) => panic!("read failed with echo pending: {e}"),
                }
            }
            // close_notify: the rest of the echo, then the server's.
            3 if !closed_write => {
                let _ = tls.shutdown();
                closed_write = true;
            }
            // Raw bytes under TLS: the server must end this connection.
            4 => {
                let bytes: Vec<u8> = ops.by_ref().take(len).collect();
                let _ = tls.get_mut().write_all(&bytes);
                let _ = tls.get_mut().shutdown(Shutdown::Write);
                read_to_close(tls.get_mut());
                return;
            }
            _ => {}
        }
        assert!(
            written.starts_with(&echoed),
            "the echo differs from what was sent"
        );
    }
    if !closed_write {
        let _ = tls.shutdown();
    }
    let mut rest = Vec::new();
    match tls.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
            panic!("no close after close_notify: {e}")
        }
        Err(_) => {}
    }
    echoed.extend(rest);
    assert_eq!(echoed, written, "a clean close lost or altered bytes");
}

fuzz_target!(|data: &[u8]| {
    let (required, preferred) = server_ports();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Bit 1 picks the port: SSL required, or preferred (plaintext relayed).
    let port = if mode & 2 == 0 { required } else { preferred };
    if mode & 1 == 1 {
        tls_client(port, rest);
    } else {
        raw_client(port, rest);
    }
});
