//! The client tunnel (`--client --ssl`): a plaintext program connects to
//! mongossl on loopback, which connects with SSL — client certificate, CA,
//! host name checks — to a mongossl server that requires certificates.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::net::{Backend, round_trip};
use crate::harness::pki::{Pki, Purpose, Spec, issue};
use crate::harness::process::{Server, args, run_to_exit};
use crate::harness::{tls_server, tls_server_with_pem};

fn tunnel(upstream: &str, extra: &[&str]) -> Server {
    let mut a = args(&["--client", "--ssl", "--upstream", upstream]);
    a.extend(extra.iter().map(|s| s.to_string()));
    Server::start(&a)
}

fn plain_client(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the tunnel");
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    stream
}

/// A plaintext client finds the tunnel closed on it (EOF or reset).
fn refused(port: u16) {
    let mut stream = plain_client(port);
    let _ = std::io::Write::write_all(&mut stream, b"hello through the tunnel, please");
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("the tunnel relayed {n} bytes although it should refuse"),
    }
}

#[test]
fn tunnel_reaches_a_server_that_requires_client_certificates() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["--sslCAFile", &pki.arg("ca.pem")]);
    let upstream = format!("localhost:{}", server.port);
    let tunnel = tunnel(
        &upstream,
        &[
            "--sslPEMKeyFile",
            &pki.arg("client.pem"),
            "--sslCAFile",
            &pki.arg("ca.pem"),
        ],
    );
    let mut stream = plain_client(tunnel.port);
    let message = b"a plaintext program's bytes, TLS only between the two mongossl";
    assert_eq!(round_trip(&mut stream, message).expect("echo"), message);
    tunnel.expect_log(&format!(":{} established: TLSv1.3", server.port));
    tunnel.expect_log("server certificate subject: CN=localhost,O=mongossl tests");
    server.expect_log("peer certificate subject: CN=client,O=mongossl tests");

    // Without the client certificate the server refuses the tunnel's client.
    let bare = self::tunnel(&upstream, &["--sslCAFile", &pki.arg("ca.pem")]);
    refused(bare.port);
    server.expect_log("no SSL certificate provided by peer; connection rejected");
}

#[test]
fn tunnel_refuses_a_wrong_host_name_unless_allowed() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let elsewhere = issue(
        &Spec {
            only_dns: Some("db.elsewhere.example"),
            ..Spec::new("db.elsewhere.example", Purpose::Server)
        },
        Some(&pki.ca),
    );
    pki.write("elsewhere.pem", &elsewhere.key_then_cert());
    let server = tls_server_with_pem(&pki, &backend, "elsewhere.pem", &[]);
    for host in ["127.0.0.1", "localhost"] {
        let upstream = format!("{host}:{}", server.port);
        let strict = tunnel(&upstream, &["--sslCAFile", &pki.arg("ca.pem")]);
        refused(strict.port);
        strict.expect_log("SSL handshake with the server");
        strict.expect_log("mismatch");
        let lenient = tunnel(
            &upstream,
            &[
                "--sslCAFile",
                &pki.arg("ca.pem"),
                "--sslAllowInvalidHostnames",
            ],
        );
        let mut stream = plain_client(lenient.port);
        let message = b"host names are not checked, the CA still is";
        assert_eq!(round_trip(&mut stream, message).expect("echo"), message);
    }
}

#[test]
fn tunnel_refuses_an_untrusted_server_unless_allowed() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &[]);
    let upstream = format!("localhost:{}", server.port);
    let strict = tunnel(&upstream, &["--sslCAFile", &pki.arg("other-ca.pem")]);
    refused(strict.port);
    strict.expect_log("SSL handshake with the server");
    strict.expect_log("certificate verify failed");
    let lenient = tunnel(
        &upstream,
        &[
            "--sslCAFile",
            &pki.arg("other-ca.pem"),
            "--sslAllowInvalidCertificates",
        ],
    );
    let mut stream = plain_client(lenient.port);
    let message = b"certificate checks off, as --sslAllowInvalidCertificates says";
    assert_eq!(round_trip(&mut stream, message).expect("echo"), message);
}

#[test]
fn tunnel_options_follow_the_mongo_shells_rules() {
    let exit = run_to_exit(&args(&["--client", "--upstream", "localhost:27017"]));
    assert_eq!(exit.code, Some(2), "{}", exit.output);
    assert!(
        exit.output.contains("--client needs --ssl"),
        "{}",
        exit.output
    );
    let exit = run_to_exit(&args(&["--ssl", "--upstream", "localhost:27017"]));
    assert_eq!(exit.code, Some(2), "{}", exit.output);
    assert!(exit.output.contains("give --client too"), "{}", exit.output);
    let exit = run_to_exit(&args(&[
        "--client",
        "--ssl",
        "--upstream",
        "localhost:27017",
        "--sslCAFile",
        "/nonexistent/ca.pem",
    ]));
    assert_eq!(exit.code, Some(2), "{}", exit.output);
    assert!(
        exit.output.contains("--sslCAFile /nonexistent/ca.pem"),
        "{}",
        exit.output
    );
}
