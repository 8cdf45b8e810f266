//! The relay through the real binary: byte-exact streams under
//! concurrency, half-close both ways, one large message, back-pressure
//! from a client that does not read, handshake timeouts, a vanished
//! backend, and plaintext on the SSL port.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use openssl::sha::Sha256;

use crate::harness::net::{
    Backend, ClientOptions, Noise, dead_port, is_let_in, round_trip, tls_connect,
};
use crate::harness::pki::Pki;
use crate::harness::process::{Server, args};
use crate::harness::tls_server;

fn ca_client(pki: &Pki) -> ClientOptions<'static> {
    // The PKI outlives every client of a test; leak the path for 'static.
    let ca: &'static std::path::Path = Box::leak(pki.path("ca.pem").into_boxed_path());
    ClientOptions {
        ca: Some(ca),
        ..Default::default()
    }
}

/// Sends `total` pseudo-random bytes in random write sizes while reading
/// the echo on another thread; returns (sent digest, received digest).
fn stream_both_ways(
    port: u16,
    options: &ClientOptions<'static>,
    seed: u64,
    total: usize,
) -> ([u8; 32], [u8; 32]) {
    // One TLS stream cannot be split across threads, so interleave bounded
    // writes and reads on this one.
    let mut stream = tls_connect(port, options).expect("connect");
    let mut noise = Noise::new(seed);
    let mut sent = Sha256::new();
    let mut received = Sha256::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut back = vec![0u8; 64 * 1024];
    let (mut written, mut read) = (0usize, 0usize);
    while written < total {
        let size = noise.between(1, chunk.len()).min(total - written);
        noise.fill(&mut chunk[..size]);
        stream.write_all(&chunk[..size]).expect("write");
        sent.update(&chunk[..size]);
        written += size;
        // Keep little in flight so no side deadlocks on full buffers.
        while written - read > 256 * 1024 {
            let n = stream.read(&mut back).expect("read");
            assert!(n > 0, "early EOF");
            received.update(&back[..n]);
            read += n;
        }
    }
    while read < total {
        let n = stream.read(&mut back).expect("read");
        assert!(n > 0, "early EOF at {read} of {total}");
        received.update(&back[..n]);
        read += n;
    }
    (sent.finish(), received.finish())
}

#[test]
fn eight_connections_stream_64_mib_each_way_byte_exact() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &[]);
    let port = server.port;
    let threads: Vec<_> = (0..8u64)
        .map(|i| {
            let options = ca_client(&pki);
            std::thread::spawn(move || stream_both_ways(port, &options, i + 1, 64 << 20))
        })
        .collect();
    for t in threads {
        let (sent, received) = t.join().expect("thread");
        assert_eq!(sent, received, "SHA-256 of what came back differs");
    }
}

#[test]
fn a_single_48_mb_message_round_trips() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &[]);
    let (sent, received) = stream_both_ways(server.port, &ca_client(&pki), 48, 48_000_000);
    assert_eq!(sent, received);
}

#[test]
fn client_half_close_delivers_everything_then_the_reply() {
    let pki = Pki::new();
    // The backend reads to EOF, then answers with the byte count and closes.
    let backend = Backend::start(|mut s| {
        let mut all = Vec::new();
        if s.read_to_end(&mut all).is_ok() {
            let mut digest = Sha256::new();
            digest.update(&all);
            let _ = s.write_all(format!("{} {:?}", all.len(), digest.finish()).as_bytes());
        }
    });
    let server = tls_server(&pki, &backend, &[]);
    let mut stream = tls_connect(server.port, &ca_client(&pki)).expect("connect");
    let mut data = vec![0u8; 3_000_001];
    Noise::new(7).fill(&mut data);
    stream.write_all(&data).expect("write");
    stream.shutdown().expect("close_notify");
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .expect("reply after half-close");
    let mut digest = Sha256::new();
    digest.update(&data);
    assert_eq!(reply, format!("{} {:?}", data.len(), digest.finish()));
}

#[test]
fn upstream_half_close_delivers_everything_and_the_client_can_still_send() {
    let pki = Pki::new();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let tx = std::sync::Mutex::new(tx);
    // The backend sends 2 MB, half-closes, then reads what the client says.
    let backend = Backend::start(move |mut s| {
        let mut data = vec![0u8; 2_000_000];
        Noise::new(9).fill(&mut data);
        if s.write_all(&data).is_err() {
            return;
        }
        let _ = s.shutdown(Shutdown::Write);
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(rest);
        }
    });
    let server = tls_server(&pki, &backend, &[]);
    let mut stream = tls_connect(server.port, &ca_client(&pki)).expect("connect");
    let mut got = Vec::new();
    stream.read_to_end(&mut got).expect("read to close_notify");
    let mut expected = vec![0u8; 2_000_000];
    Noise::new(9).fill(&mut expected);
    assert!(
        got == expected,
        "upstream bytes altered ({} bytes)",
        got.len()
    );
    stream
        .write_all(b"after your EOF")
        .expect("client still sends");
    stream.shutdown().expect("close_notify");
    let rest = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("backend saw the rest");
    assert_eq!(rest, b"after your EOF");
}

#[test]
fn a_client_that_never_reads_does_not_grow_the_server() {
    let pki = Pki::new();
    let (tx, rx) = mpsc::channel::<usize>();
    let tx = std::sync::Mutex::new(tx);
    // The backend tries to stream 1 GiB and reports how far it got.
    let backend = Backend::start(move |mut s| {
        let chunk = vec![0x5au8; 1 << 20];
        let mut sent = 0usize;
        s.set_write_timeout(Some(Duration::from_secs(3))).ok();
        while sent < (1 << 30) {
            match s.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(sent);
        }
    });
    let server = tls_server(&pki, &backend, &[]);
    let before = server.rss_kib();
    let mut stream = tls_connect(server.port, &ca_client(&pki)).expect("connect");
    stream.write_all(b"start").expect("write");
    let sent = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("backend blocked");
    let after = server.rss_kib();
    assert!(
        sent < 64 << 20,
        "back-pressure never reached the backend: {sent} bytes sent"
    );
    assert!(
        after < before + 16 * 1024,
        "server grew from {before} KiB to {after} KiB"
    );
    // The stalled connection is not killed: it still delivers when read.
    let mut buf = vec![0u8; 1 << 16];
    let n = stream.read(&mut buf).expect("still readable");
    assert!(n > 0 && buf[..n].iter().all(|b| *b == 0x5a));
}

#[test]
fn a_stalled_handshake_times_out_while_others_are_served() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["--sslHandshakeTimeoutSecs", "1"]);
    let baseline_fds = server.open_fds();
    let mut silent = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let mut half_hello = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    half_hello
        .write_all(&[0x16, 0x03, 0x01, 0x02])
        .expect("partial record");
    is_let_in(server.port, &ca_client(&pki)).expect("a good client meanwhile");
    // The server's timeout is 1 s; the clients wait up to 10 s for the
    // close, so a read error (rather than EOF) means it never came.
    let mut buf = [0u8; 16];
    for stream in [&mut silent, &mut half_hello] {
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        match stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("the server sent {n} bytes to a stalled client"),
            Err(e) => panic!("not closed by the handshake timeout: {e}"),
        }
    }
    server.expect_log("SSL handshake timed out");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.count_in_log("] SSL handshake timed out") < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        server.count_in_log("] SSL handshake timed out"),
        2,
        "{}",
        server.log()
    );
    // The two timed-out sockets are closed on the server's side too.
    drop(silent);
    drop(half_hello);
    assert_eq!(
        server.open_fds(),
        baseline_fds,
        "file descriptors left behind"
    );
}

#[test]
fn a_vanished_backend_closes_the_client_cleanly_and_service_goes_on() {
    let pki = Pki::new();
    let port = dead_port();
    let mut server = Server::start(&args(&[
        "--upstream",
        &format!("127.0.0.1:{port}"),
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        &pki.arg("server.pem"),
    ]));
    for _ in 0..3 {
        let mut stream = tls_connect(server.port, &ca_client(&pki)).expect("handshake still works");
        let mut buf = [0u8; 16];
        let _ = stream.write_all(b"hello");
        // A clean close: close_notify (Ok(0)), not a reset.
        assert_eq!(stream.read(&mut buf).expect("clean close"), 0);
    }
    server.expect_log(&format!(
        "upstream mongod 127.0.0.1:{port} unavailable: Connection refused"
    ));
    assert!(server.is_running());
}

#[test]
fn plaintext_on_the_ssl_port_is_refused_and_service_goes_on() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &[]);
    // An OP_MSG header followed by a little body, as a plaintext driver sends.
    let mut plain = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let mut message = vec![58u8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0];
    message.extend_from_slice(&[0u8; 42]);
    plain.write_all(&message).expect("write");
    plain.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    // OpenSSL may answer with an alert, never with the echo.
    assert!(
        n == 0 || buf[0] == 0x15,
        "plaintext got through: {:?}",
        &buf[..n]
    );
    server.expect_log("The server is configured to only allow SSL connections");
    is_let_in(server.port, &ca_client(&pki)).expect("TLS still served");
    let mut stream = tls_connect(server.port, &ca_client(&pki)).expect("connect");
    assert_eq!(round_trip(&mut stream, b"x").expect("echo"), b"x");
}

#[test]
fn plaintext_relay_when_ssl_is_off() {
    let backend = Backend::echo();
    let server = Server::start(&args(&["--upstream", &backend.address()]));
    let mut plain = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    plain.set_read_timeout(Some(Duration::from_secs(10))).ok();
    // mongod reads a whole 16-byte header before deciding what a client
    // speaks; so does mongossl on a port that is not SSL-only.
    let mut message = vec![48u8, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0];
    message.extend_from_slice(b"a plaintext MongoDB message body");
    assert_eq!(round_trip(&mut plain, &message).expect("echo"), message);
    server.expect_log("SSL is off");
}
