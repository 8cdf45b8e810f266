//! mongod's decision about clients, through the real binary: no
//! certificate, weak validation, invalid certificates of every kind,
//! revocation, an expired CRL, and certificates in either order or chained.

use openssl::ssl::SslVersion;

use crate::harness::net::{Backend, ClientOptions, is_let_in, tls_connect};
use crate::harness::pki::Pki;
use crate::harness::tls_server;
use crate::harness::tls_server_with_pem;

fn client<'a>(_pki: &'a Pki, identity: Option<&'a std::path::Path>) -> ClientOptions<'a> {
    ClientOptions {
        identity,
        ..Default::default()
    }
}

#[test]
fn tls_client_relays_without_a_ca() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &[]);
    let ca = pki.path("ca.pem");
    is_let_in(
        server.port,
        &ClientOptions {
            ca: Some(&ca),
            ..Default::default()
        },
    )
    .expect("let in");
    // Without a CA file no client certificate is even requested: one sent
    // anyway is ignored.
    let cert = pki.path("self-signed-client.pem");
    is_let_in(
        server.port,
        &ClientOptions {
            ca: Some(&ca),
            identity: Some(&cert),
            ..Default::default()
        },
    )
    .expect("let in");
    server.expect_log("SSL handshake done: TLSv1.3");
    server.expect_log("no peer certificate");
    server.expect_log("end connection 127.0.0.1:");
}

#[test]
fn client_certificate_required_with_a_ca() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["--sslCAFile", &pki.arg("ca.pem")]);
    let good = pki.path("client.pem");
    is_let_in(server.port, &client(&pki, Some(&good))).expect("good certificate");
    server.expect_log("peer certificate subject: CN=client,O=mongossl tests");

    assert!(
        is_let_in(server.port, &client(&pki, None)).is_err(),
        "no certificate let in"
    );
    server.expect_log("no SSL certificate provided by peer; connection rejected");
}

#[test]
fn weak_validation_lets_in_clients_without_a_certificate_only() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--sslWeakCertificateValidation",
        ],
    );
    is_let_in(server.port, &client(&pki, None)).expect("no certificate, weak");
    server.expect_log("W [conn1] no SSL certificate provided by peer");
    let good = pki.path("client.pem");
    is_let_in(server.port, &client(&pki, Some(&good))).expect("good certificate");
    let bad = pki.path("other-client.pem");
    assert!(
        is_let_in(server.port, &client(&pki, Some(&bad))).is_err(),
        "other CA let in"
    );
    server.expect_log(
        "SSL peer certificate validation failed: unable to get local issuer certificate",
    );
}

/// Each invalid client certificate is refused with mongod's words and
/// OpenSSL's reason, with weak validation or without.
#[test]
fn invalid_certificates_are_refused_weak_or_not() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let cases: &[(&str, &str)] = &[
        ("other-client.pem", "unable to get local issuer certificate"),
        ("self-signed-client.pem", "self-signed certificate"),
        ("expired-client.pem", "certificate has expired"),
        ("future-client.pem", "certificate is not yet valid"),
        ("revoked-client.pem", "certificate revoked"),
        ("server-as-client.pem", "unsuitable certificate purpose"),
    ];
    for weak in [false, true] {
        let mut extra = vec![
            "--sslCAFile".to_string(),
            pki.arg("ca.pem"),
            "--sslCRLFile".to_string(),
            pki.arg("crl.pem"),
        ];
        if weak {
            extra.push("--sslWeakCertificateValidation".to_string());
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let server = tls_server(&pki, &backend, &extra);
        server.expect_log("ssl imported 1 revoked certificate(s) from the revocation list.");
        for (file, reason) in cases {
            let path = pki.path(file);
            let result = is_let_in(server.port, &client(&pki, Some(&path)));
            assert!(result.is_err(), "{file} let in (weak {weak})");
            server.expect_log(&format!("SSL peer certificate validation failed: {reason}"));
        }
        // A good client still passes the CRL check.
        let good = pki.path("client.pem");
        is_let_in(server.port, &client(&pki, Some(&good))).expect("good client with CRL");
    }
}

#[test]
fn an_expired_crl_refuses_everyone() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--sslCRLFile",
            &pki.arg("expired-crl.pem"),
        ],
    );
    let good = pki.path("client.pem");
    assert!(is_let_in(server.port, &client(&pki, Some(&good))).is_err());
    server.expect_log("SSL peer certificate validation failed: CRL has expired");
}

#[test]
fn key_and_certificate_in_either_order_and_with_a_chain() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let ca = pki.path("ca.pem");
    for pem in ["server.pem", "server-cert-first.pem", "server-chain.pem"] {
        let server = tls_server_with_pem(&pki, &backend, pem, &[]);
        // The client trusts the root only: the chain must come from the server.
        is_let_in(
            server.port,
            &ClientOptions {
                ca: Some(&ca),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{pem}: {e}"));
    }
}

#[test]
fn old_protocols_and_weak_ciphers_are_refused() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &[]);
    for version in [SslVersion::TLS1, SslVersion::TLS1_1] {
        let options = ClientOptions {
            version: Some(version),
            ciphers: Some("DEFAULT:@SECLEVEL=0"),
            ..Default::default()
        };
        assert!(
            tls_connect(server.port, &options).is_err(),
            "{version:?} accepted"
        );
    }
    let cbc = ClientOptions {
        version: Some(SslVersion::TLS1_2),
        ciphers: Some("ECDHE-ECDSA-AES128-SHA:AES128-SHA:DES-CBC3-SHA"),
        ..Default::default()
    };
    assert!(
        tls_connect(server.port, &cbc).is_err(),
        "a CBC-only client got in"
    );
    server.expect_log("SSL handshake failed: no shared cipher");
    let tls12 = ClientOptions {
        version: Some(SslVersion::TLS1_2),
        ..Default::default()
    };
    is_let_in(server.port, &tls12).expect("TLS 1.2 with AEAD works");
    server.expect_log("SSL handshake done: TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256");
}
