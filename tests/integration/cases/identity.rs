//! The client's identity through to mongod, through the real binary: the
//! PROXY header mongossl sends upstream (v1, v2 with every TLV, over TCP
//! and a unix socket), and the one a trusted balancer sends it (taken,
//! required, refused from anyone else). The upstream parses headers with
//! the `ppp` crate, an implementation independent of mongossl's builder.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixListener;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod};
use ppp::v2;

use crate::harness::net::{Backend, ClientOptions, round_trip, tls_connect};
use crate::harness::pki::{Pki, Purpose, Spec, issue};
use crate::harness::process::{Server, args};
use crate::harness::tls_server;

/// What the upstream saw: the header, then the bytes after it.
struct Seen {
    header: Vec<u8>,
}

/// Reads one PROXY header off `stream` (exactly its bytes: v1 up to its
/// CRLF, v2 by its length field), reports it, then echoes the rest.
fn serve_after_header(mut stream: impl Read + Write, seen: &Sender<Seen>) {
    let mut header = vec![0u8; 16];
    if stream.read_exact(&mut header).is_err() {
        return;
    }
    if header.starts_with(v2::PROTOCOL_PREFIX) {
        let len = usize::from(u16::from_be_bytes([header[14], header[15]]));
        let mut rest = vec![0u8; len];
        if stream.read_exact(&mut rest).is_err() {
            return;
        }
        header.extend(rest);
    } else {
        let mut byte = [0u8; 1];
        while !header.ends_with(b"\r\n") && header.len() < 108 {
            if stream.read_exact(&mut byte).is_err() {
                return;
            }
            header.push(byte[0]);
        }
    }
    let complete = !ppp::PartialResult::is_incomplete(&ppp::HeaderResult::parse(&header));
    assert!(complete, "{header:?}");
    let _ = seen.send(Seen { header });
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 || stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// A TCP upstream that expects a PROXY header on every connection.
fn header_backend() -> (Backend, Receiver<Seen>) {
    let (tx, rx) = channel();
    let tx = std::sync::Mutex::new(tx);
    let backend = Backend::start(move |stream| {
        let seen = tx.lock().expect("sender").clone();
        serve_after_header(stream, &seen)
    });
    (backend, rx)
}

fn next(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the upstream saw a connection")
}

/// The TLVs of a v2 header, (type, value) in order.
fn tlvs(header: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let parsed = v2::Header::try_from(header).expect("a v2 header");
    parsed
        .tlvs()
        .map(|tlv| {
            let tlv = tlv.expect("a well-formed TLV");
            (tlv.kind, tlv.value.to_vec())
        })
        .collect()
}

fn sub_tlvs(mut ssl: &[u8]) -> Vec<(u8, Vec<u8>)> {
    ssl = &ssl[5..];
    let mut out = Vec::new();
    while ssl.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([ssl[1], ssl[2]]));
        out.push((ssl[0], ssl[3..3 + len].to_vec()));
        ssl = &ssl[3 + len..];
    }
    out
}

fn value(found: &[(u8, Vec<u8>)], kind: u8) -> Option<&[u8]> {
    found
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| v.as_slice())
}

/// The DER of a MongoDB roles extension: a SET of one role
/// `{role: "readWrite", db: "app"}` (two UTF8Strings in a SEQUENCE).
const ROLES_DER: &[u8] = b"\x31\x12\x30\x10\x0c\x09readWrite\x0c\x03app";

#[test]
fn v2_carries_the_verified_identity_and_every_tlv() {
    let pki = Pki::new();
    let subject: &[(&str, &str)] = &[
        ("C", "US"),
        ("ST", "New York"),
        ("L", "New York City"),
        ("O", "MongoDB"),
        ("OU", "Kernel"),
        ("CN", "client"),
    ];
    let x509_user = issue(
        &Spec {
            subject: Some(subject),
            mongodb_roles: Some(ROLES_DER),
            ..Spec::new("client", Purpose::Client)
        },
        Some(&pki.ca),
    );
    pki.write("x509-user.pem", &x509_user.key_then_cert());
    let (backend, rx) = header_backend();
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--upstreamProxyProtocol",
            "v2",
        ],
    );
    let identity = pki.path("x509-user.pem");
    let ca = pki.path("ca.pem");
    let mut stream = tls_connect(
        server.port,
        &ClientOptions {
            ca: Some(&ca),
            identity: Some(&identity),
            ..Default::default()
        },
    )
    .expect("let in");
    let client_addr = stream.get_ref().local_addr().expect("addr");
    assert_eq!(
        round_trip(&mut stream, b"hello through").expect("relayed"),
        b"hello through"
    );
    let seen = next(&rx);
    let parsed = v2::Header::try_from(&seen.header[..]).expect("v2");
    assert_eq!(parsed.command, v2::Command::Proxy);
    let server_addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().expect("addr");
    assert_eq!(
        parsed.addresses,
        v2::Addresses::from((client_addr, server_addr))
    );
    let found = tlvs(&seen.header);
    assert_eq!(value(&found, 0x02), Some(&b"localhost"[..]), "SNI");
    let id = String::from_utf8(value(&found, 0x05).expect("unique id").to_vec()).expect("text");
    server.expect_log(&format!("conn{id}"));
    let ssl = value(&found, 0x20).expect("SSL TLV");
    assert_eq!(ssl[0], 0x07, "SSL + certificate on connection and session");
    assert_eq!(&ssl[1..5], &[0, 0, 0, 0], "verified");
    let subs = sub_tlvs(ssl);
    assert_eq!(value(&subs, 0x21), Some(&b"TLSv1.3"[..]));
    assert_eq!(value(&subs, 0x22), Some(&b"client"[..]));
    let cipher = stream.ssl().current_cipher().expect("cipher").name();
    assert_eq!(value(&subs, 0x23), Some(cipher.as_bytes()));
    assert_eq!(value(&subs, 0x24), Some(&b"ecdsa-with-SHA256"[..]));
    assert_eq!(value(&subs, 0x25), Some(&b"EC256"[..]));
    assert_eq!(
        value(&found, 0xE0),
        Some(&b"CN=client,OU=Kernel,O=MongoDB,L=New York City,ST=New York,C=US"[..]),
        "the subject as mongod spells the X.509 user"
    );
    assert_eq!(value(&found, 0xE1), Some(ROLES_DER), "the roles extension");

    // Without a certificate (weak validation): no subject, no roles.
    drop(stream);
    let (backend, rx) = header_backend();
    let weak = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--sslWeakCertificateValidation",
            "--upstreamProxyProtocol",
            "v2",
        ],
    );
    let mut stream = tls_connect(weak.port, &ClientOptions::default()).expect("let in");
    round_trip(&mut stream, b"x").expect("relayed");
    let found = tlvs(&next(&rx).header);
    let ssl = value(&found, 0x20).expect("SSL TLV");
    assert_eq!(ssl[0], 0x01, "SSL only");
    assert_ne!(&ssl[1..5], &[0, 0, 0, 0], "nothing verified");
    assert_eq!(value(&found, 0xE0), None);
    assert_eq!(value(&found, 0xE1), None);
}

#[test]
fn v1_over_tcp_and_v2_over_a_unix_socket() {
    let pki = Pki::new();
    // v1, a plaintext client on an allowSSL port.
    let (backend, rx) = header_backend();
    let server = Server::start(&args(&[
        "--upstream",
        &backend.address(),
        "--sslMode",
        "allowSSL",
        "--sslPEMKeyFile",
        &pki.arg("server.pem"),
        "--upstreamProxyProtocol",
        "v1",
    ]));
    let mut plain = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut message = 21u32.to_le_bytes().to_vec();
    message.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 7, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(round_trip(&mut plain, &message).expect("relayed"), message);
    let local = plain.local_addr().expect("addr");
    assert_eq!(
        String::from_utf8(next(&rx).header).expect("text"),
        format!(
            "PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\n",
            local.port(),
            server.port
        )
    );

    // v2 to a unix-socket upstream, from a TLS client.
    let path = pki.path("upstream.sock");
    let listener = UnixListener::bind(&path).expect("bind unix");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            serve_after_header(stream, &tx);
        }
    });
    let server = Server::start(&args(&[
        "--upstream",
        path.to_str().expect("path"),
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        &pki.arg("server.pem"),
        "--upstreamProxyProtocol",
        "v2",
    ]));
    let mut stream = tls_connect(server.port, &ClientOptions::default()).expect("let in");
    assert_eq!(round_trip(&mut stream, b"unix").expect("relayed"), b"unix");
    let seen = next(&rx);
    let parsed = v2::Header::try_from(&seen.header[..]).expect("v2");
    let client_addr = stream.get_ref().local_addr().expect("addr");
    let server_addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().expect("addr");
    assert_eq!(
        parsed.addresses,
        v2::Addresses::from((client_addr, server_addr))
    );
}

/// A TLS client behind a pretend balancer: the PROXY header first, then
/// the handshake on the same TCP connection.
fn tls_behind_balancer(
    port: u16,
    header: &[u8],
    ca: &std::path::Path,
) -> Result<openssl::ssl::SslStream<TcpStream>, String> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    tcp.write_all(header).map_err(|e| e.to_string())?;
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    b.set_ca_file(ca).map_err(|e| e.to_string())?;
    b.build()
        .connect("localhost", tcp)
        .map_err(|e| e.to_string())
}

#[test]
fn a_trusted_balancers_header_is_taken_and_passed_on() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    let (backend, rx) = header_backend();
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--proxyProtocolFrom",
            "127.0.0.0/8,::1",
            "--upstreamProxyProtocol",
            "v1",
        ],
    );
    // v1 from the balancer, v1 on to mongod with the same addresses.
    let header = format!("PROXY TCP4 203.0.113.5 198.51.100.1 4444 {}\r\n", 27017);
    let mut stream = tls_behind_balancer(server.port, header.as_bytes(), &ca).expect("let in");
    assert_eq!(
        round_trip(&mut stream, b"via nlb").expect("relayed"),
        b"via nlb"
    );
    assert_eq!(next(&rx).header, header.as_bytes());
    server.expect_log("PROXY header from 127.0.0.1:");
    server.expect_log("client 203.0.113.5:4444");
    drop(stream);
    server.expect_log("end connection 203.0.113.5:4444");

    // v2 from the balancer, with a TLV of its own (AWS NLB sends 0xEA).
    let source: SocketAddr = "[2001:db8::5]:5555".parse().expect("addr");
    let destination: SocketAddr = "[2001:db8::1]:27017".parse().expect("addr");
    let v2_header = v2::Builder::with_addresses(
        v2::Version::Two | v2::Command::Proxy,
        v2::Protocol::Stream,
        (source, destination),
    )
    .write_tlv(0xEA, b"\x01vpce-0123456789abcdef")
    .expect("tlv")
    .build()
    .expect("header");
    let mut stream = tls_behind_balancer(server.port, &v2_header, &ca).expect("let in");
    round_trip(&mut stream, b"v2").expect("relayed");
    assert_eq!(
        String::from_utf8(next(&rx).header).expect("text"),
        "PROXY TCP6 2001:db8::5 2001:db8::1 5555 27017\r\n"
    );

    // LOCAL (a health check): the balancer's own address goes on.
    let local = v2::Builder::new(v2::Version::Two | v2::Command::Local, 0)
        .build()
        .expect("header");
    let mut stream = tls_behind_balancer(server.port, &local, &ca).expect("let in");
    let me = stream.get_ref().local_addr().expect("addr");
    round_trip(&mut stream, b"health").expect("relayed");
    let seen = String::from_utf8(next(&rx).header).expect("text");
    assert!(
        seen.starts_with(&format!("PROXY TCP4 127.0.0.1 127.0.0.1 {} ", me.port())),
        "{seen}"
    );

    // From the trusted balancer, no header (or a broken one): refused.
    assert!(tls_connect(server.port, &ClientOptions::default()).is_err());
    server.expect_log("did not begin with a PROXY header");
    assert!(tls_behind_balancer(server.port, b"PROXY TCP4 1.2.3.4 nonsense\r\n", &ca).is_err());
    server.expect_log("a malformed PROXY v1 header");
    let mut bad = v2::PROTOCOL_PREFIX.to_vec();
    bad.extend_from_slice(&[0x21, 0x11, 0xFF, 0xF0]);
    assert!(tls_behind_balancer(server.port, &bad, &ca).is_err());
    server.expect_log("more than the");
    // And it keeps serving.
    let mut stream = tls_behind_balancer(server.port, header.as_bytes(), &ca).expect("let in");
    round_trip(&mut stream, b"still here").expect("relayed");
}

#[test]
fn a_header_from_an_untrusted_source_is_refused() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    let backend = Backend::echo();
    // requireSSL (the header meets the handshake) and allowSSL (the sniffer).
    for mode in [["--sslOnNormalPorts", ""], ["--sslMode", "allowSSL"]] {
        let mut extra = vec!["--proxyProtocolFrom", "10.0.0.0/8"];
        extra.extend(mode.iter().filter(|s| !s.is_empty()));
        let server = Server::start(&args(
            &[
                &["--upstream", &backend.address()][..],
                &["--sslPEMKeyFile", &pki.arg("server.pem")][..],
                &extra[..],
            ]
            .concat(),
        ));
        let header = b"PROXY TCP4 203.0.113.5 198.51.100.1 4444 27017\r\n";
        assert!(tls_behind_balancer(server.port, header, &ca).is_err());
        server.expect_log("a PROXY protocol header from 127.0.0.1:");
        server.expect_log("which is not in --proxyProtocolFrom");
        // Clients without a header are served as before.
        let mut stream = tls_connect(server.port, &ClientOptions::default()).expect("let in");
        round_trip(&mut stream, b"direct").expect("relayed");
    }
}

#[test]
fn options_are_checked_and_read_from_config_files() {
    use crate::harness::process::run_to_exit;
    let pki = Pki::new();
    for (bad, needle) in [
        (
            &["--upstreamProxyProtocol", "v3"][..],
            "not one of none, v1, v2",
        ),
        (&["--proxyProtocolFrom", "10.0.0.0/40"][..], "prefix length"),
        (
            &["--client", "--ssl", "--upstreamProxyProtocol", "v1"][..],
            "--upstreamProxyProtocol is a server option",
        ),
    ] {
        let mut list = vec!["--upstream", "127.0.0.1:1"];
        list.extend_from_slice(bad);
        let exit = run_to_exit(&args(&list));
        assert_ne!(exit.code, Some(0), "{bad:?}");
        assert!(exit.output.contains(needle), "{bad:?}: {}", exit.output);
    }
    // The YAML and INI keys mean the same as the options.
    let (backend, rx) = header_backend();
    let yaml = pki.path("identity.yaml");
    std::fs::write(
        &yaml,
        format!(
            "net:\n  tls:\n    mode: requireTLS\n    certificateKeyFile: {}\nmongossl:\n  upstream: {}\n  upstreamProxyProtocol: v1\n  proxyProtocolFrom: 10.0.0.0/8\n",
            pki.arg("server.pem"),
            backend.address()
        ),
    )
    .expect("write yaml");
    let server = Server::start(&args(&["--config", yaml.to_str().expect("path")]));
    let mut stream = tls_connect(server.port, &ClientOptions::default()).expect("let in");
    round_trip(&mut stream, b"yaml").expect("relayed");
    assert!(
        String::from_utf8(next(&rx).header)
            .expect("text")
            .starts_with("PROXY TCP4 ")
    );
    let ini = pki.path("identity.conf");
    std::fs::write(
        &ini,
        format!(
            "sslOnNormalPorts = true\nsslPEMKeyFile = {}\nupstream = {}\nupstreamProxyProtocol = v2\n",
            pki.arg("server.pem"),
            backend.address()
        ),
    )
    .expect("write ini");
    let server = Server::start(&args(&["--config", ini.to_str().expect("path")]));
    let mut stream = tls_connect(server.port, &ClientOptions::default()).expect("let in");
    round_trip(&mut stream, b"ini").expect("relayed");
    assert!(v2::Header::try_from(&next(&rx).header[..]).is_ok());
}
