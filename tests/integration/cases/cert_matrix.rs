//! The client-certificate matrix, through the real binary: every kind of
//! certificate (and none) × {CA required, weak validation}, with or
//! without a CRL file, against mongod's rules. `--nocapture` prints the table that
//! docs/security.md reproduces.

use crate::harness::net::{Backend, ClientOptions, is_let_in};
use crate::harness::pki::Pki;
use crate::harness::tls_server;

/// (case, whether --sslCRLFile is given, identity file, chain file,
/// expected in CA-required mode, expected with weak validation, log line
/// of a refusal).
type Row = (
    &'static str,
    bool,
    Option<&'static str>,
    Option<&'static str>,
    bool,
    bool,
    &'static str,
);

const MATRIX: &[Row] = &[
    ("valid", false, Some("client.pem"), None, true, true, ""),
    (
        "no certificate",
        false,
        None,
        None,
        false,
        true,
        "no SSL certificate provided by peer; connection rejected",
    ),
    (
        "expired",
        false,
        Some("expired-client.pem"),
        None,
        false,
        false,
        "SSL peer certificate validation failed: certificate has expired",
    ),
    (
        "not yet valid",
        false,
        Some("future-client.pem"),
        None,
        false,
        false,
        "SSL peer certificate validation failed: certificate is not yet valid",
    ),
    (
        "wrong CA",
        false,
        Some("other-client.pem"),
        None,
        false,
        false,
        "SSL peer certificate validation failed: unable to get local issuer certificate",
    ),
    (
        "self-signed",
        false,
        Some("self-signed-client.pem"),
        None,
        false,
        false,
        "SSL peer certificate validation failed: self-signed certificate",
    ),
    (
        "revoked",
        true,
        Some("revoked-client.pem"),
        None,
        false,
        false,
        "SSL peer certificate validation failed: certificate revoked",
    ),
    (
        "server-auth only (wrong key usage)",
        false,
        Some("server-as-client.pem"),
        None,
        false,
        false,
        "SSL peer certificate validation failed: unsuitable certificate purpose",
    ),
    (
        "intermediate missing",
        false,
        Some("intermediate-client.pem"),
        None,
        false,
        false,
        "SSL peer certificate validation failed: unable to get local issuer certificate",
    ),
    (
        "intermediate supplied by the client",
        false,
        Some("intermediate-client.pem"),
        Some("intermediate-ca.pem"),
        true,
        true,
        "",
    ),
    (
        "valid, CRL file given",
        true,
        Some("client.pem"),
        None,
        true,
        true,
        "",
    ),
    // With a CRL file, OpenSSL (and so mongod, which sets the same
    // X509_V_FLAG_CRL_CHECK) needs a CRL from the leaf's issuer: a client
    // under an intermediate whose CRL is not in the file is refused.
    (
        "intermediate supplied, CRL file of the root only",
        true,
        Some("intermediate-client.pem"),
        Some("intermediate-ca.pem"),
        false,
        false,
        "SSL peer certificate validation failed: unable to get certificate CRL",
    ),
];

#[test]
fn certificate_matrix_matches_mongods_rules() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let mut table =
        String::from("| client certificate | CA required | weak validation |\n|---|---|---|\n");
    let mut results = vec![[false; 2]; MATRIX.len()];
    for (mode, weak) in [false, true].into_iter().enumerate() {
        let servers: Vec<_> = [false, true]
            .into_iter()
            .map(|crl| {
                let mut extra = vec!["--sslCAFile".to_string(), pki.arg("ca.pem")];
                if crl {
                    extra.extend(["--sslCRLFile".to_string(), pki.arg("crl.pem")]);
                }
                if weak {
                    extra.push("--sslWeakCertificateValidation".to_string());
                }
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                let server = tls_server(&pki, &backend, &extra);
                let fds = server.open_fds();
                (server, fds)
            })
            .collect();
        for (row, (case, crl, identity, chain, strict_ok, weak_ok, refusal)) in
            MATRIX.iter().enumerate()
        {
            let server = &servers[usize::from(*crl)].0;
            let identity = identity.map(|f| pki.path(f));
            let chain = chain.map(|f| pki.path(f));
            let options = ClientOptions {
                identity: identity.as_deref(),
                chain: chain.as_deref(),
                ..Default::default()
            };
            let expected = if weak { *weak_ok } else { *strict_ok };
            let got = is_let_in(server.port, &options).is_ok();
            results[row][mode] = got;
            assert_eq!(
                got,
                expected,
                "{case} (weak {weak}): let in {got}, expected {expected}; log:\n{}",
                server.log()
            );
            if !got {
                server.expect_log(refusal);
            }
        }
        for (server, fds) in &servers {
            server.expect_fds(*fds);
        }
    }
    let word = |ok: bool| if ok { "accepted" } else { "refused" };
    for ((case, ..), [strict, weak]) in MATRIX.iter().zip(&results) {
        table.push_str(&format!(
            "| {case} | {} | {} |\n",
            word(*strict),
            word(*weak)
        ));
    }
    eprintln!("{table}");
}
