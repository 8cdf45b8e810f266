//! Hostile and broken input on the SSL port, through the real binary: each
//! connection is closed with a log line naming the cause, a well-behaved
//! client is served right after, and no file descriptor is left behind.
//!
//! Refusals of non-TLS clients are rate-limited per address (one warning,
//! then `end connection` at debug level), so servers here run with `-v`
//! and the counts look at the `end connection ..., <reason>` lines.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use foreign_types::ForeignTypeRef;
use openssl::ssl::SslVersion;

use crate::harness::hello::{self, GOOD_SUITES, WEAK_SUITES};
use crate::harness::net::{Backend, ClientOptions, Noise, is_let_in, round_trip, tls_connect};
use crate::harness::pki::Pki;
use crate::harness::process::Server;
use crate::harness::tls_server;

/// A plain TCP connection to the server, with bounded waits.
fn raw(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Reads until the server closes the connection (EOF or reset) and
/// returns what it sent; fails if it is still open after 10 s.
fn expect_closed(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("{what}: the server did not close the connection: {e}"),
        }
    }
}

/// Closes with a TCP reset instead of a FIN (SO_LINGER 0).
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    drop(stream);
}

fn ca_client(pki: &Pki) -> ClientOptions<'static> {
    let ca: &'static std::path::Path = Box::leak(pki.path("ca.pem").into_boxed_path());
    ClientOptions {
        ca: Some(ca),
        ..Default::default()
    }
}

/// A well-behaved client still gets through.
fn still_served(server: &Server, pki: &Pki) {
    is_let_in(server.port, &ca_client(pki)).expect("a good client after the hostile one");
}

#[test]
fn random_bytes_are_refused_with_a_reason() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["-v"]);
    let fds = server.open_fds();
    let mut noise = Noise::new(0xbad);
    for case in 0..12 {
        let mut bytes = vec![0u8; noise.between(1, 4096)];
        noise.fill(&mut bytes);
        let mut stream = raw(server.port);
        if case % 2 == 0 {
            // Not a TLS record type: refused on the first byte.
            if bytes[0] == 0x16 {
                bytes[0] = 0x17;
            }
            let _ = stream.write_all(&bytes);
        } else {
            // A handshake record header with random contents, then EOF:
            // the server must not wait for a length it will never get.
            bytes[0] = 0x16;
            let _ = stream.write_all(&bytes);
            let _ = stream.shutdown(Shutdown::Write);
        }
        expect_closed(&mut stream, &format!("random bytes #{case}"));
    }
    server.expect_count("s, SSL handshake failed: ", 12);
    still_served(&server, &pki);
    server.expect_fds(fds);
}

#[test]
fn truncated_oversized_and_padded_hellos() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["-v"]);
    let fds = server.open_fds();
    let whole = hello::client_hello(GOOD_SUITES, 0);

    // A ClientHello cut short at several places, then the client's EOF.
    for cut in [1, 3, 5, 9, whole.len() / 2, whole.len() - 1] {
        let mut stream = raw(server.port);
        stream.write_all(&whole[..cut]).expect("write");
        stream.shutdown(Shutdown::Write).expect("shutdown");
        let answer = expect_closed(&mut stream, &format!("hello cut at {cut}"));
        assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
    }
    server.expect_count(
        "s, SSL handshake failed: the client closed the connection",
        6,
    );

    // A record longer than TLS allows (2^14 + 2048 bytes of ciphertext at
    // most): refused on the header, without waiting for the body.
    let before = server.count_in_log("s, SSL handshake failed: ");
    let mut stream = raw(server.port);
    stream
        .write_all(&hello::record_header(0x16, 0xffff))
        .expect("write");
    stream.write_all(&[0u8; 1024]).expect("write");
    expect_closed(&mut stream, "oversized record");
    server.expect_count("s, SSL handshake failed: ", before + 1);
    let log = server.log();
    assert!(
        log.contains("length too long") || log.contains("record overflow"),
        "the cause is not named:\n{log}"
    );

    // A 16 KB extension block (split over two records, as clients must):
    // a legal hello, answered with a ServerHello. The client then leaves.
    let big = hello::client_hello(GOOD_SUITES, 16 * 1024);
    assert!(big.len() > 16 * 1024 + 5, "the hello spans two records");
    let before = server.count_in_log("s, SSL handshake failed: ");
    let mut stream = raw(server.port);
    stream.write_all(&big).expect("write");
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).expect("server answer");
    assert_eq!(
        header[0], 0x16,
        "a handshake record (ServerHello) comes back"
    );
    // Unread server bytes make the kernel reset rather than close: the
    // cause is "client closed" or "reset by peer", either way logged.
    drop(stream);
    server.expect_count("s, SSL handshake failed: ", before + 1);

    still_served(&server, &pki);
    server.expect_fds(fds);
}

#[test]
fn sslv2_http_and_plaintext_mongodb_are_named() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["-v"]);
    let fds = server.open_fds();
    let mut op_msg = vec![58u8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0];
    op_msg.extend_from_slice(&[0u8; 42]);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "SSLv2 hello",
            hello::sslv2_hello(),
            "SSL handshake failed: an SSLv2-format hello",
        ),
        (
            "HTTP GET",
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
            "SSL handshake failed: an HTTP request on the MongoDB SSL port",
        ),
        (
            "plaintext OP_MSG",
            op_msg,
            "SSL handshake failed: The server is configured to only allow SSL connections",
        ),
    ];
    for (what, bytes, line) in cases {
        let mut stream = raw(server.port);
        stream.write_all(&bytes).expect("write");
        let answer = expect_closed(&mut stream, what);
        // At most a TLS alert, never a relayed byte.
        assert!(answer.is_empty() || answer[0] == 0x15, "{what}: {answer:?}");
        server.expect_log(line);
    }
    still_served(&server, &pki);
    server.expect_fds(fds);
}

#[test]
fn old_protocols_and_weak_only_clients_are_refused_with_the_cause() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["-v"]);
    let fds = server.open_fds();
    // Real clients limited to TLS 1.0 or 1.1.
    for version in [SslVersion::TLS1, SslVersion::TLS1_1] {
        let options = ClientOptions {
            version: Some(version),
            ciphers: Some("DEFAULT:@SECLEVEL=0"),
            ..Default::default()
        };
        assert!(tls_connect(server.port, &options).is_err(), "{version:?}");
    }
    server.expect_count("SSL handshake failed: unsupported protocol", 2);

    // Real TLS 1.2 clients offering only weak suites their OpenSSL still
    // has (RC4 and export suites are gone from OpenSSL 3's default
    // provider: those come hand-made below).
    let mut refused = 0;
    for ciphers in [
        "3DES:@SECLEVEL=0",
        "eNULL:@SECLEVEL=0",
        "aNULL:@SECLEVEL=0",
        "RC4:@SECLEVEL=0",
        "EXP:@SECLEVEL=0",
        "AES128-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0",
    ] {
        let options = ClientOptions {
            version: Some(SslVersion::TLS1_2),
            ciphers: Some(ciphers),
            ..Default::default()
        };
        match tls_connect(server.port, &options) {
            Ok(_) => panic!("a client offering only {ciphers} got in"),
            Err(e) if e.contains("no cipher match") => {
                eprintln!("(this OpenSSL cannot offer {ciphers}; covered by the hand-made hellos)");
            }
            Err(_) => refused += 1,
        }
    }
    assert!(refused >= 3, "too few weak-cipher clients could be tried");
    server.expect_count("SSL handshake failed: no shared cipher", refused);

    // Hand-made hellos offering each weak family only.
    for (family, suites) in WEAK_SUITES {
        let mut stream = raw(server.port);
        stream
            .write_all(&hello::client_hello(suites, 0))
            .expect("write");
        let answer = expect_closed(&mut stream, family);
        assert_eq!(answer.first(), Some(&0x15), "{family}: no alert");
    }
    server.expect_count(
        "SSL handshake failed: no shared cipher",
        refused + WEAK_SUITES.len(),
    );
    still_served(&server, &pki);
    server.expect_fds(fds);
}

// openssl-sys does not bind the client's renegotiation call.
unsafe extern "C" {
    fn SSL_renegotiate(ssl: *mut openssl_sys::SSL) -> libc::c_int;
}

#[test]
fn renegotiation_is_refused() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["-v"]);
    let fds = server.open_fds();
    let mut stream = tls_connect(
        server.port,
        &ClientOptions {
            version: Some(SslVersion::TLS1_2),
            ..Default::default()
        },
    )
    .expect("TLS 1.2 handshake");
    assert_eq!(round_trip(&mut stream, b"before").expect("echo"), b"before");
    let ssl = stream.ssl().as_ptr();
    // SAFETY: the pointer is the live SSL of `stream`, used on this thread.
    let started = unsafe { SSL_renegotiate(ssl) };
    assert_eq!(started, 1, "the client could not even ask");
    // SAFETY: as above; a blocking socket with a 20 s timeout.
    let done = unsafe { openssl_sys::SSL_do_handshake(ssl) };
    assert_ne!(done, 1, "the server renegotiated");
    // The server answers with a no_renegotiation alert; the client's
    // OpenSSL gives up with a handshake_failure alert, which ends the
    // connection on the server with that cause.
    drop(stream);
    // OpenSSL 3.0 says "sslv3 alert handshake failure", 3.5 "ssl/tls alert
    // handshake failure".
    server.expect_log(" alert handshake failure");
    server.expect_log("client error: ");
    assert_eq!(
        server.count_in_log("SSL handshake done"),
        1,
        "a second handshake happened:\n{}",
        server.log()
    );
    still_served(&server, &pki);
    server.expect_fds(fds);
}

#[test]
fn a_client_that_leaves_mid_handshake_at_each_step() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["-v"]);
    let fds = server.open_fds();
    let hello = hello::client_hello(GOOD_SUITES, 0);
    // Connected, nothing sent: FIN, then RST.
    drop(raw(server.port));
    reset(raw(server.port));
    // Part of the record header; the whole hello; the hello and part of
    // the server's flight read: each with FIN, then with RST.
    for leave in [|s: TcpStream| drop(s), reset as fn(TcpStream)] {
        let mut s = raw(server.port);
        s.write_all(&hello[..3]).expect("write");
        leave(s);
        let mut s = raw(server.port);
        s.write_all(&hello).expect("write");
        leave(s);
        let mut s = raw(server.port);
        s.write_all(&hello).expect("write");
        let mut header = [0u8; 5];
        s.read_exact(&mut header).expect("server flight");
        leave(s);
    }
    // After the server's flight, a ClientKeyExchange that is garbage.
    let mut s = raw(server.port);
    s.write_all(&hello).expect("write");
    let mut header = [0u8; 5];
    s.read_exact(&mut header).expect("server flight");
    let key_exchange = [16, 0, 0, 4, 1, 2, 3, 4];
    s.write_all(&hello::record_header(0x16, key_exchange.len() as u16))
        .expect("write");
    s.write_all(&key_exchange).expect("write");
    let answer = expect_closed(&mut s, "garbage key exchange");
    assert!(answer.contains(&0x15) || answer.is_empty());
    // 2 + 6 + 1 handshakes, each closed with a reason.
    server.expect_count("s, SSL handshake failed: ", 9);
    still_served(&server, &pki);
    server.expect_fds(fds);
}

#[test]
fn an_oversized_record_after_the_handshake_ends_only_that_connection() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["-v"]);
    let fds = server.open_fds();
    let mut other = tls_connect(server.port, &ca_client(&pki)).expect("connect");
    let mut stream = tls_connect(server.port, &ca_client(&pki)).expect("connect");
    assert_eq!(round_trip(&mut stream, b"ok").expect("echo"), b"ok");
    // Raw bytes under the TLS layer: an application-data record header
    // announcing more than TLS allows.
    let tcp = stream.get_mut();
    tcp.write_all(&hello::record_header(0x17, 0x4801))
        .expect("write");
    tcp.write_all(&[0u8; 512]).expect("write");
    expect_closed(tcp, "oversized record while relaying");
    // "packet length too long" without read-ahead, "encrypted length too
    // long" with it: OpenSSL checks the record length at either point.
    server.expect_log("length too long");
    server.expect_log("client error: ");
    assert_eq!(
        round_trip(&mut other, b"still here").expect("the other connection"),
        b"still here"
    );
    drop(other);
    still_served(&server, &pki);
    server.expect_fds(fds);
}
