//! `--metricsListen`: the real binary's Prometheus endpoint, scraped over
//! HTTP while real TLS clients come and go; the text is parsed by line
//! (name{labels} value) and the counts checked against what happened.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::net::{Backend, ClientOptions, round_trip, tls_connect};
use crate::harness::pki::Pki;
use crate::harness::tls_server;

fn get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    (head.to_string(), body.to_string())
}

/// `name{labels}` → value, for every sample line.
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').expect("name value");
            (key.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn the_endpoint_counts_what_happened() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--metricsListen",
            "127.0.0.1:0",
        ],
    );
    let log = server.log();
    let at = log
        .find("metrics on http://127.0.0.1:")
        .expect("the metrics address is logged");
    let rest = &log[at + "metrics on http://127.0.0.1:".len()..];
    let port: u16 = rest[..rest.find('/').expect("a path")]
        .parse()
        .expect("a port");

    let identity = pki.path("client.pem");
    let mut good = tls_connect(
        server.port,
        &ClientOptions {
            identity: Some(&identity),
            ..Default::default()
        },
    )
    .expect("let in");
    round_trip(&mut good, b"0123456789").expect("relayed");
    // Refused by the peer policy, and a plaintext client on the SSL port.
    let _ = tls_connect(server.port, &ClientOptions::default())
        .and_then(|mut s| round_trip(&mut s, b"x").map(|_| ()));
    let mut plain = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let _ = plain.write_all(&[0x3a, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 7, 0, 0]);
    let _ = plain.read(&mut [0u8; 16]);
    server.expect_log("The server is configured to only allow SSL connections");

    let (head, body) = get(port, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let m = samples(&body);
    let value = |key: &str| *m.get(key).unwrap_or_else(|| panic!("no {key} in\n{body}"));
    assert_eq!(value("mongossl_connections_accepted_total"), 3.0);
    assert_eq!(
        value("mongossl_connections_open"),
        1.0,
        "the good client is still open"
    );
    assert_eq!(
        value("mongossl_handshakes_total{result=\"ok\",version=\"TLSv1.3\"}"),
        2.0
    );
    assert_eq!(
        value("mongossl_handshakes_total{result=\"failed\",version=\"\"}"),
        1.0
    );
    assert_eq!(
        value("mongossl_connections_refused_total{reason=\"peer_certificate\"}"),
        1.0
    );
    assert_eq!(value("mongossl_handshake_duration_seconds_count"), 2.0);
    assert_eq!(
        value("mongossl_handshake_duration_seconds_bucket{le=\"+Inf\"}"),
        2.0
    );
    assert_eq!(
        value("mongossl_bytes_total{direction=\"to_upstream\"}"),
        10.0
    );
    assert_eq!(value("mongossl_bytes_total{direction=\"to_client\"}"), 10.0);
    assert_eq!(value("mongossl_fips_mode"), 0.0);
    let file = format!(
        "mongossl_certificate_expiry_timestamp_seconds{{file=\"{}\"}}",
        pki.arg("server.pem")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let days = (value(&file) - now) / 86_400.0;
    assert!((364.0..=366.0).contains(&days), "expires in {days} days");

    // A reload is counted; an unknown path is a 404.
    server.signal(libc::SIGHUP);
    server.expect_log("reload done");
    let (_, body) = get(port, "/metrics");
    assert_eq!(samples(&body)["mongossl_reloads_total{result=\"ok\"}"], 1.0);
    let (head, _) = get(port, "/");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    drop(good);
}
