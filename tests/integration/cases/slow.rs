//! Slow clients and resource exhaustion through the real binary: many
//! connections that send nothing or drip a ClientHello are all closed by
//! the handshake timeout while a good client is served; running out of
//! file descriptors is logged at a limited rate, does not spin, and
//! service resumes when descriptors come back.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::hello::{self, GOOD_SUITES};
use crate::harness::net::{Backend, ClientOptions, is_let_in};
use crate::harness::pki::Pki;
use crate::harness::process::{Server, args};
use crate::harness::tls_server;

/// How many slow clients of each kind the cargo test opens;
/// `MONGOSSL_SLOW_CLIENTS` raises it (scripts/slow-clients.sh: 500 + 500).
fn slow_clients() -> usize {
    std::env::var("MONGOSSL_SLOW_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

fn ca_client(pki: &Pki) -> ClientOptions<'static> {
    let ca: &'static std::path::Path = Box::leak(pki.path("ca.pem").into_boxed_path());
    ClientOptions {
        ca: Some(ca),
        ..Default::default()
    }
}

/// Whether the server closed `stream` (EOF or reset) within `wait`.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn silent_and_dripping_clients_are_closed_by_the_handshake_timeout() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["--sslHandshakeTimeoutSecs", "1"]);
    let fds = server.open_fds();
    let n = slow_clients();
    let mut silent: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).expect("connect"))
        .collect();
    let mut drip: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).expect("connect"))
        .collect();
    // One byte per connection per round, a round every second: each
    // dripping client is still in the middle of its hello at the timeout.
    let hello = hello::client_hello(GOOD_SUITES, 0);
    let dripper = {
        let mut streams: Vec<TcpStream> =
            drip.iter().map(|s| s.try_clone().expect("clone")).collect();
        std::thread::spawn(move || {
            let started = Instant::now();
            for byte in hello.iter().take(30) {
                streams.retain_mut(|s| s.write_all(&[*byte]).is_ok());
                if streams.is_empty() || started.elapsed() > Duration::from_secs(10) {
                    break;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    // A good client completes meanwhile (its handshake takes far less than
    // the 1 s timeout).
    is_let_in(server.port, &ca_client(&pki)).expect("a good client among slow ones");
    for (i, stream) in silent.iter_mut().chain(drip.iter_mut()).enumerate() {
        assert!(
            closed_within(stream, Duration::from_secs(15)),
            "slow client #{i} was not closed; log tail:\n{}",
            tail(&server.log())
        );
    }
    dripper.join().expect("dripper");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.count_in_log("] SSL handshake timed out") < 2 * n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.count_in_log("] SSL handshake timed out"), 2 * n);
    drop(silent);
    drop(drip);
    is_let_in(server.port, &ca_client(&pki)).expect("a good client afterwards");
    server.expect_fds(fds);
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn running_out_of_file_descriptors_is_logged_does_not_spin_and_recovers() {
    let pki = Pki::new();
    let backend = Backend::echo();
    // 64 descriptors: a handful for the process, the rest for clients.
    let server = Server::start_with_fd_limit(
        &args(&[
            "--upstream",
            &backend.address(),
            "--sslOnNormalPorts",
            "--sslPEMKeyFile",
            &pki.arg("server.pem"),
            "--sslHandshakeTimeoutSecs",
            "60",
        ]),
        64,
    );
    let fds = server.open_fds();
    // Connections queue in the kernel's backlog even when the server
    // cannot accept them; 100 is more than the limit allows.
    let mut clients = Vec::new();
    for _ in 0..100 {
        match TcpStream::connect(("127.0.0.1", server.port)) {
            Ok(s) => clients.push(s),
            Err(_) => break,
        }
    }
    server.expect_log("E [listener] accept() failed: Too many open files");
    // Out of descriptors with clients waiting: the loop must sleep, not
    // spin on the listener. 0.5 s of CPU in 1.5 s would be a spin.
    let cpu_before = server.cpu_time();
    std::thread::sleep(Duration::from_millis(1500));
    let cpu = server.cpu_time().saturating_sub(cpu_before);
    assert!(
        cpu < Duration::from_millis(500),
        "the server used {cpu:?} of CPU in 1.5 s while out of descriptors"
    );
    // Rate-limited: one line, then at most one per 5 s.
    let lines = server.count_in_log("accept() failed");
    assert!(
        (1..=2).contains(&lines),
        "{lines} accept() error lines in ~2 s"
    );
    drop(clients);
    // Descriptors come back: a good client is served again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match is_let_in(server.port, &ca_client(&pki)) {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => {
                panic!("service did not resume: {e}\n{}", tail(&server.log()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    server.expect_fds(fds);
}
