//! `mongossl check URI` through the real binary: a real mongossl in front
//! of a fake mongod, real TLS with the test PKI, and every way a check
//! fails (client certificate, CA, host name, refused, stalled, `ok: 0`),
//! each with its exit code and a reason naming the cause.

use serde_json::Value;

use crate::harness::mongod;
use crate::harness::net::{Backend, dead_port};
use crate::harness::pki::{self, KEY_PASSWORD, Pki, Purpose, Spec};
use crate::harness::process::{Exit, Server, run_to_exit};
use crate::harness::{tls_server, tls_server_with_pem};

/// Runs `mongossl check` with these arguments.
fn check(arguments: &[&str]) -> Exit {
    let mut all = vec!["check".to_string()];
    all.extend(arguments.iter().map(|s| s.to_string()));
    run_to_exit(&all)
}

/// Asserts the exit code and that every needle is in the output.
fn expect(exit: &Exit, code: i32, needles: &[&str]) {
    assert_eq!(
        exit.code,
        Some(code),
        "expected exit {code}; output:\n{}",
        exit.output
    );
    for needle in needles {
        assert!(
            exit.output.contains(needle),
            "{needle:?} missing from:\n{}",
            exit.output
        );
    }
}

fn uri(host: &str, port: u16, query: &str) -> String {
    format!("mongodb://{host}:{port}/?{query}")
}

#[test]
fn check_through_mongossl_reports_tls_certificate_and_hello() {
    let pki = Pki::new();
    let backend = mongod::primary();
    let server = tls_server(&pki, &backend, &[]);
    let ca = pki.arg("ca.pem");
    let exit = check(&[&uri(
        "localhost",
        server.port,
        &format!("tls=true&tlsCAFile={ca}"),
    )]);
    expect(
        &exit,
        0,
        &[
            &format!("server:            localhost:{} (TLS)", server.port),
            "TLS:               TLSv1.3, TLS_",
            "subject:           CN=localhost,O=mongossl tests",
            "issuer:            CN=Test CA,O=mongossl tests",
            "SANs:              DNS:localhost, IP:127.0.0.1, IP:::1",
            "(in 36", // 365 days minus a moment
            &format!(
                "verification:      verified against tlsCAFile {ca}; host name localhost matches"
            ),
            "hello:             ok: 1",
            "isWritablePrimary: true",
            "maxWireVersion:    17",
            "\nOK\n",
        ],
    );
    assert!(!exit.output.contains("warning"), "{}", exit.output);
    // mongossl saw a real client go through.
    server.expect_log("SSL handshake done: TLSv1.3");
}

#[test]
fn check_json_is_one_object_with_the_same_facts() {
    let pki = Pki::new();
    let backend = mongod::secondary();
    let server = tls_server(&pki, &backend, &[]);
    let exit = check(&[
        "--json",
        &uri(
            "127.0.0.1",
            server.port,
            &format!("ssl=true&sslCAFile={}&replicaSet=rs0", pki.arg("ca.pem")),
        ),
    ]);
    expect(&exit, 0, &[]);
    let lines: Vec<&str> = exit.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line of JSON:\n{}", exit.output);
    let v: Value = serde_json::from_str(lines[0]).expect("valid JSON");
    assert_eq!(v["ok"], true);
    assert_eq!(v["server"], format!("127.0.0.1:{}", server.port));
    assert_eq!(v["transport"], "tls");
    assert_eq!(v["tls"]["version"], "TLSv1.3");
    assert!(
        v["tls"]["cipher"]
            .as_str()
            .is_some_and(|c| c.starts_with("TLS_")),
        "{v}"
    );
    let cert = &v["tls"]["certificate"];
    assert_eq!(cert["subject"], "CN=localhost,O=mongossl tests");
    assert_eq!(cert["issuer"], "CN=Test CA,O=mongossl tests");
    assert_eq!(
        cert["sans"],
        serde_json::json!(["DNS:localhost", "IP:127.0.0.1", "IP:::1"])
    );
    assert!(cert["daysLeft"].as_i64().is_some_and(|d| d >= 360), "{v}");
    assert!(
        v["tls"]["verification"]
            .as_str()
            .is_some_and(|t| t.contains("host name 127.0.0.1 matches")),
        "{v}"
    );
    let hello = &v["hello"];
    assert_eq!(hello["command"], "hello");
    assert_eq!(hello["ok"], 1);
    assert_eq!(hello["isWritablePrimary"], false);
    assert_eq!(hello["maxWireVersion"], 21);
    assert_eq!(hello["setName"], "rs0");
    assert_eq!(
        hello["hosts"],
        serde_json::json!(["db1.example:27017", "db2.example:27017"])
    );
    assert_eq!(
        v["notes"],
        serde_json::json!(["options not used by check: replicaSet"])
    );
    assert!(v.get("error").is_none(), "{v}");
}

#[test]
fn client_certificate_from_the_uri_or_a_clear_refusal() {
    let pki = Pki::new();
    let backend = mongod::primary();
    let server = tls_server(&pki, &backend, &["--sslCAFile", &pki.arg("ca.pem")]);
    let ca = pki.arg("ca.pem");
    let with_cert = check(&[&uri(
        "localhost",
        server.port,
        &format!(
            "tls=true&tlsCAFile={ca}&tlsCertificateKeyFile={}",
            pki.arg("client.pem")
        ),
    )]);
    expect(&with_cert, 0, &["maxWireVersion:    17", "\nOK\n"]);
    server.expect_log("peer certificate subject: CN=client,O=mongossl tests");

    // An encrypted key, its password percent-encoded in the URI.
    let mut encrypted = pki
        .client
        .key
        .private_key_to_pem_pkcs8_passphrase(
            openssl::symm::Cipher::aes_256_cbc(),
            KEY_PASSWORD.as_bytes(),
        )
        .expect("pkcs8");
    encrypted.extend(pki.client.cert.to_pem().expect("pem"));
    pki.write("client-encrypted.pem", &encrypted);
    let keyed = |password: &str| {
        check(&[&uri(
            "localhost",
            server.port,
            &format!(
                "tls=true&tlsCAFile={ca}&tlsCertificateKeyFile={}&tlsCertificateKeyFilePassword={password}",
                pki.arg("client-encrypted.pem")
            ),
        )])
    };
    expect(&keyed(&KEY_PASSWORD.replace(' ', "%20")), 0, &["\nOK\n"]);
    let wrong = keyed("not-the-password-42");
    expect(
        &wrong,
        2,
        &["FAILED (usage): tlsCertificateKeyFile=", "cannot decrypt"],
    );
    // A password is never echoed.
    assert!(
        !wrong.output.contains("not-the-password-42"),
        "{}",
        wrong.output
    );

    let without = check(&[&uri(
        "localhost",
        server.port,
        &format!("tls=true&tlsCAFile={ca}"),
    )]);
    expect(
        &without,
        3,
        &[
            "FAILED (closed): the server closed the connection without answering hello",
            "the server may require a client certificate: give one with tlsCertificateKeyFile",
        ],
    );
    server.expect_log("no SSL certificate provided by peer; connection rejected");
}

#[test]
fn wrong_ca_is_a_verification_failure() {
    let pki = Pki::new();
    let backend = mongod::primary();
    let server = tls_server(&pki, &backend, &[]);
    let other = pki.arg("other-ca.pem");
    let exit = check(&[&uri(
        "localhost",
        server.port,
        &format!("tls=true&tlsCAFile={other}"),
    )]);
    expect(
        &exit,
        5,
        &[
            "FAILED (verification): server certificate verification failed: unable to get local issuer certificate",
            &format!("is tlsCAFile {other} the CA that signed it?"),
            // The certificate that failed is still described.
            "subject:           CN=localhost,O=mongossl tests",
        ],
    );
    // Without a CA file the system trust store does not know the test CA.
    let system = check(&[&uri("localhost", server.port, "tls=true")]);
    expect(
        &system,
        5,
        &["verification failed", "give its CA with tlsCAFile"],
    );
}

#[test]
fn host_name_must_be_in_the_certificate_unless_allowed() {
    let pki = Pki::new();
    let named = pki::issue(
        &Spec {
            only_dns: Some("db.example"),
            ..Spec::new("db.example", Purpose::Server)
        },
        Some(&pki.ca),
    );
    pki.write("server-db-example.pem", &named.key_then_cert());
    let backend = mongod::primary();
    let server = tls_server_with_pem(&pki, &backend, "server-db-example.pem", &[]);
    let ca = pki.arg("ca.pem");
    let by_ip = check(&[&uri(
        "127.0.0.1",
        server.port,
        &format!("tls=true&tlsCAFile={ca}"),
    )]);
    expect(
        &by_ip,
        5,
        &[
            "FAILED (verification): server certificate verification failed: IP address mismatch",
            "127.0.0.1 is not among the certificate's names: DNS:db.example",
            "tlsAllowInvalidHostnames=true",
        ],
    );
    let by_name = check(&[&uri(
        "localhost",
        server.port,
        &format!("tls=true&tlsCAFile={ca}"),
    )]);
    expect(&by_name, 5, &["verification failed: hostname mismatch"]);
    let allowed = check(&[&uri(
        "127.0.0.1",
        server.port,
        &format!("tls=true&tlsCAFile={ca}&tlsAllowInvalidHostnames=true"),
    )]);
    expect(
        &allowed,
        0,
        &[
            "SANs:              DNS:db.example",
            "host name not checked (tlsAllowInvalidHostnames)",
            "\nOK\n",
        ],
    );
}

#[test]
fn insecure_spellings_accept_an_unknown_ca() {
    let pki = Pki::new();
    let backend = mongod::primary();
    let server = tls_server(&pki, &backend, &[]);
    let other = pki.arg("other-ca.pem");
    for query in [
        format!("tls=true&tlsCAFile={other}&tlsInsecure=true"),
        format!("ssl=true&sslCAFile={other}&sslverifycertificate=false"),
        format!("tls=true&tlsCAFile={other}&tlsAllowInvalidCertificates=true"),
        "ssl=true&sslVerifyCertificate=false".to_string(),
    ] {
        let exit = check(&[&uri("localhost", server.port, &query)]);
        expect(
            &exit,
            0,
            &[
                "not enforced (tlsAllowInvalidCertificates or tlsInsecure)",
                "warning: the server certificate does not verify against",
                "unable to get local issuer certificate",
                "\nOK\n",
            ],
        );
    }
}

#[test]
fn expiring_certificate_is_a_warning_not_a_failure() {
    let pki = Pki::new();
    let backend = mongod::primary();
    let server = tls_server_with_pem(&pki, &backend, "expiring-server.pem", &[]);
    let exit = check(&[&uri(
        "localhost",
        server.port,
        &format!("tls=true&tlsCAFile={}", pki.arg("ca.pem")),
    )]);
    expect(
        &exit,
        0,
        // 10 days less the moments since the certificate was made.
        &[
            "warning: the server certificate expires in ",
            " day(s), on ",
            "\nOK\n",
        ],
    );
}

#[test]
fn nothing_listening_is_refused() {
    let port = dead_port();
    let exit = check(&[&uri("127.0.0.1", port, "tls=true")]);
    expect(
        &exit,
        3,
        &[&format!(
            "FAILED (connect): cannot connect to 127.0.0.1:{port}: Connection refused"
        )],
    );
    let json = check(&["--json", &uri("127.0.0.1", port, "")]);
    expect(&json, 3, &[]);
    let v: Value = serde_json::from_str(json.stdout.trim()).expect("valid JSON");
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["kind"], "connect");
    assert_eq!(v["error"]["exitCode"], 3);
}

#[test]
fn a_stalling_server_times_out() {
    let backend = mongod::stalling();
    // Plaintext: connected, hello sent, no answer.
    let plain = check(&[
        "--timeoutSecs",
        "1",
        &format!("mongodb://127.0.0.1:{}", backend.port),
    ]);
    expect(
        &plain,
        6,
        &["FAILED (timeout): timed out after 1 s waiting for the reply to hello"],
    );
    // TLS: the handshake never gets an answer.
    let tls = check(&[
        "--timeoutSecs",
        "1",
        &uri("127.0.0.1", backend.port, "tls=true"),
    ]);
    expect(
        &tls,
        6,
        &["FAILED (timeout): timed out after 1 s in the TLS handshake"],
    );
}

#[test]
fn ok_0_fails_with_the_servers_words() {
    let backend = mongod::refusing();
    let exit = check(&[&format!("mongodb://127.0.0.1:{}", backend.port)]);
    expect(
        &exit,
        1,
        &[
            "server:            127.0.0.1:",
            "(plaintext)",
            "errmsg:            node is shutting down",
            "FAILED (notOk): the server answered hello with ok: 0: node is shutting down (code 91)",
        ],
    );
}

#[test]
fn plaintext_check_and_the_pre_hello_fallback() {
    let modern = mongod::primary();
    let exit = check(&[&format!("mongodb://127.0.0.1:{}", modern.port)]);
    expect(
        &exit,
        0,
        &[
            "hello:             ok: 1",
            "maxWireVersion:    17",
            "\nOK\n",
        ],
    );
    assert!(!exit.output.contains("TLS:"), "{}", exit.output);
    let old = mongod::pre_hello();
    let exit = check(&[&format!("mongodb://localhost:{}", old.port)]);
    expect(
        &exit,
        0,
        &[
            "isMaster:          ok: 1",
            "ismaster:          true",
            "maxWireVersion:    8",
        ],
    );
}

#[test]
fn tls_and_plaintext_mixed_up_are_explained() {
    let pki = Pki::new();
    let backend = mongod::primary();
    let server: Server = tls_server(&pki, &backend, &[]);
    // Plaintext hello to an SSL-only port: mongossl hangs up.
    let plain = check(&[&format!("mongodb://127.0.0.1:{}", server.port)]);
    expect(
        &plain,
        3,
        &[
            "FAILED (closed)",
            "does the server require TLS? add tls=true",
        ],
    );
    server.expect_log("The server is configured to only allow SSL connections");
    // A TLS handshake to a plaintext mongod.
    let plain_backend: Backend = mongod::primary();
    let tls = check(&[&uri("127.0.0.1", plain_backend.port, "tls=true")]);
    assert_ne!(tls.code, Some(0), "{}", tls.output);
    assert!(tls.output.contains("drop tls=true"), "{}", tls.output);
}

#[test]
fn usage_errors_exit_2() {
    let help = check(&["--help"]);
    expect(
        &help,
        0,
        &["Usage: mongossl check", "--timeoutSecs", "--json"],
    );
    expect(&check(&[]), 2, &["give a connection string"]);
    expect(
        &check(&["localhost:27017"]),
        2,
        &["must start with mongodb://"],
    );
    expect(
        &check(&["mongodb://a:1,b:2/?replicaSet=rs0"]),
        2,
        &["check checks one server"],
    );
    expect(
        &check(&["mongodb://localhost/?tls=true&tlsCAFile=/nonexistent/ca.pem"]),
        2,
        &["tlsCAFile=/nonexistent/ca.pem: cannot read: No such file or directory"],
    );
    expect(
        &check(&["--timeoutSecs", "soon", "mongodb://localhost"]),
        2,
        &["--timeoutSecs soon"],
    );
}
