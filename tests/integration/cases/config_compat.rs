//! Configuration that carries over from mongod, through the real binary:
//! mongod 2.6+ YAML files (with the sections mongossl ignores), the
//! `--tls*` names as twins of the `--ssl*` ones, `disabledProtocols`,
//! `cipherConfig`, `allowInvalidCertificates`, and a key password asked
//! for on a terminal or read from a systemd credential.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssl::ssl::SslVersion;

use crate::harness::fips::provider_dir;
use crate::harness::net::{Backend, ClientOptions, is_let_in, tls_connect};
use crate::harness::pki::{KEY_PASSWORD, Pki};
use crate::harness::process::{Exit, Server, args, binary, run_to_exit};
use crate::harness::tls_server;

/// Asserts mongossl stopped with `code` and every needle in its output.
fn expect_exit(exit: &Exit, code: i32, needles: &[&str]) {
    assert_eq!(exit.code, Some(code), "output:\n{}", exit.output);
    for needle in needles {
        assert!(
            exit.output.contains(needle),
            "{needle:?} missing from:\n{}",
            exit.output
        );
    }
    assert!(
        !exit.output.contains("waiting for connections"),
        "it bound anyway:\n{}",
        exit.output
    );
}

fn with_ca<'a>(
    ca: &'a std::path::Path,
    identity: Option<&'a std::path::Path>,
) -> ClientOptions<'a> {
    ClientOptions {
        ca: Some(ca),
        identity,
        ..Default::default()
    }
}

/// A mongod 4.4/5.0 config as the packages install it, with TLS, the
/// sections mongossl has no use for, and the `mongossl:` section.
fn mongod_5_config(pki: &Pki, backend: &Backend) -> String {
    format!(
        "\
# mongod.conf

# for documentation of all options, see:
#   http://docs.mongodb.org/manual/reference/configuration-options/

# Where and how to store data.
storage:
  dbPath: /var/lib/mongodb
  journal:
    enabled: true
  engine: wiredTiger

# where to write logging data.
systemLog:
  destination: file
  logAppend: true
  verbosity: 1
  timeStampFormat: iso8601-utc

# network interfaces
net:
  port: 27017
  bindIp: 127.0.0.1
  maxIncomingConnections: 100
  tls:
    mode: requireTLS
    certificateKeyFile: {pem}
    CAFile: {ca}
    allowConnectionsWithoutCertificates: true
    disabledProtocols: TLS1_0,TLS1_1
    clusterFile: /etc/ssl/cluster.pem

# how the process runs
processManagement:
  fork: false
  pidFilePath: /var/run/mongodb/mongod.pid
  timeZoneInfo: /usr/share/zoneinfo

security:
  authorization: enabled

replication:
  replSetName: rs0

#sharding:

mongossl:
  upstream: {upstream}
  handshakeTimeoutSecs: 5
",
        pem = pki.arg("server.pem"),
        ca = pki.arg("ca.pem"),
        upstream = backend.address(),
    )
}

#[test]
fn a_mongod_5_yaml_config_starts_and_serves() {
    let pki = Pki::new();
    let backend = Backend::echo();
    pki.write("mongod.conf", mongod_5_config(&pki, &backend).as_bytes());
    let server = Server::start(&args(&["--config", &pki.arg("mongod.conf")]));
    let ca = pki.path("ca.pem");
    let client = pki.path("client.pem");
    is_let_in(server.port, &with_ca(&ca, Some(&client))).expect("client with certificate");
    server.expect_log("peer certificate subject: CN=client,O=mongossl tests");
    // allowConnectionsWithoutCertificates: true is weak validation.
    is_let_in(server.port, &with_ca(&ca, None)).expect("client without certificate");
    server.expect_log("W [conn2] no SSL certificate provided by peer");
    // A self-signed certificate is still refused.
    let bad = pki.path("self-signed-client.pem");
    assert!(is_let_in(server.port, &with_ca(&ca, Some(&bad))).is_err());
    server.expect_log("SSL peer certificate validation failed: self-signed certificate");
    // systemLog.verbosity: 1 is -v: debug lines appear.
    server.expect_log("D [conn1] connected to upstream");
    // One warning for each key mongossl does not use, with its line.
    for (key, line) in [
        ("storage.dbPath", 8),
        ("storage.journal.enabled", 10),
        ("storage.engine", 11),
        ("systemLog.timeStampFormat", 18),
        ("net.tls.clusterFile", 31),
        ("processManagement.fork", 35),
        ("processManagement.pidFilePath", 36),
        ("processManagement.timeZoneInfo", 37),
        ("security.authorization", 40),
        ("replication.replSetName", 43),
    ] {
        let warning = format!(
            "W [initandlisten] config file: ignoring '{key}' (line {line}): mongossl does not use it"
        );
        assert_eq!(
            server.count_in_log(&warning),
            1,
            "{warning}\n{}",
            server.log()
        );
    }
    assert_eq!(
        server.count_in_log("config file: ignoring"),
        10,
        "{}",
        server.log()
    );
}

#[test]
fn a_26_style_net_ssl_config_starts_and_serves() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let config = format!(
        "\
systemLog:
  quiet: false
net:
  bindIp: 127.0.0.1
  port: 27017
  ssl:
    mode: requireSSL
    PEMKeyFile: {pem}
    PEMKeyPassword: \"{password}\"
    CAFile: {ca}
    CRLFile: {crl}
    weakCertificateValidation: false
    FIPSMode: false
mongossl:
  upstream: {upstream}
",
        pem = pki.arg("server-pkcs8-encrypted.pem"),
        password = KEY_PASSWORD,
        ca = pki.arg("ca.pem"),
        crl = pki.arg("crl.pem"),
        upstream = backend.address(),
    );
    pki.write("mongod26.conf", config.as_bytes());
    let server = Server::start(&args(&["-f", &pki.arg("mongod26.conf")]));
    server.expect_log("ssl imported 1 revoked certificate(s) from the revocation list.");
    let ca = pki.path("ca.pem");
    let client = pki.path("client.pem");
    is_let_in(server.port, &with_ca(&ca, Some(&client))).expect("client with certificate");
    let revoked = pki.path("revoked-client.pem");
    assert!(is_let_in(server.port, &with_ca(&ca, Some(&revoked))).is_err());
    server.expect_log("SSL peer certificate validation failed: certificate revoked");
    assert!(is_let_in(server.port, &with_ca(&ca, None)).is_err());
    server.expect_log("no SSL certificate provided by peer; connection rejected");
    assert_eq!(
        server.count_in_log("config file: ignoring"),
        0,
        "{}",
        server.log()
    );
}

#[test]
fn misspelt_keys_are_errors_naming_key_and_line() {
    let pki = Pki::new();
    for (name, text, needles) in [
        (
            "tls.conf",
            "net:\n  port: 1\n  tls:\n    mode: requireTLS\n    certificateKeyFle: /k.pem\n",
            &["line 5", "unknown key 'net.tls.certificateKeyFle'"][..],
        ),
        (
            "case.conf",
            "net:\n  tls:\n    CAfile: /ca.pem\n",
            &["line 3", "'net.tls.CAfile'", "did you mean 'CAFile'"][..],
        ),
        (
            "ssl.conf",
            "net:\n  ssl:\n    PEMKeyFiel: /k.pem\n",
            &["line 3", "'net.ssl.PEMKeyFiel'"][..],
        ),
        (
            "mongossl.conf",
            "mongossl:\n  upstraem: 127.0.0.1:1\n",
            &["line 2", "'mongossl.upstraem'"][..],
        ),
        (
            "value.conf",
            "net:\n  tls:\n    FIPSMode: sometimes\n",
            &["line 3", "'net.tls.FIPSMode' must be true or false"][..],
        ),
        (
            "twins.conf",
            "net:\n  ssl:\n    CAFile: /a.pem\n  tls:\n    CAFile: /b.pem\n",
            &["disagree"][..],
        ),
    ] {
        pki.write(name, text.as_bytes());
        let exit = run_to_exit(&args(&["--config", &pki.arg(name)]));
        let mut all = vec!["--config", name];
        all.extend_from_slice(needles);
        expect_exit(&exit, 2, &all);
    }
}

/// systemLog.path is `--logpath`: the warnings land in the file, written
/// after the logger exists (here mongossl then fails to bind, so it stops
/// by itself).
#[test]
fn yaml_log_settings_and_warnings_reach_the_log_file() {
    let pki = Pki::new();
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let log = pki.path("mongossl.log");
    let config = format!(
        "systemLog:\n  destination: file\n  path: {log}\n  logAppend: true\nnet:\n  port: {port}\n  bindIp: 127.0.0.1\nstorage:\n  dbPath: /var/lib/mongodb\nmongossl:\n  upstream: 127.0.0.1:1\n",
        log = log.display()
    );
    pki.write("logging.conf", config.as_bytes());
    let exit = run_to_exit(&args(&["-f", &pki.arg("logging.conf")]));
    assert_eq!(exit.code, Some(48), "{}", exit.output);
    let text = std::fs::read_to_string(&log).expect("log file written");
    for needle in [
        "W [initandlisten] config file: ignoring 'storage.dbPath' (line 9)",
        "bind() failed",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

/// What a server does: stops (code and its error, without timestamps), or
/// serves, and then which of a fixed set of clients get through and
/// whether FIPS mode is on. Two spellings of one option must give equal
/// outcomes; giving it must change the outcome, so the comparison means
/// something.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Exited {
        code: Option<i32>,
        error: String,
    },
    Serving {
        fips: bool,
        clients: Vec<(&'static str, bool)>,
    },
}

fn first_error(output: &str) -> String {
    output
        .lines()
        .find_map(|l| {
            l.split_once(" E [")
                .and_then(|(_, rest)| rest.split_once("] "))
                .map(|(_, text)| text)
                .or_else(|| l.strip_prefix("mongossl: "))
        })
        .unwrap_or(output)
        .to_string()
}

fn probe(pki: &Pki, arguments: &[String]) -> Outcome {
    let server = match Server::try_start_with_env(arguments, &[]) {
        Ok(server) => server,
        Err(exit) => {
            return Outcome::Exited {
                code: exit.code,
                error: first_error(&exit.output),
            };
        }
    };
    let ca = pki.path("ca.pem");
    let client = pki.path("client.pem");
    let self_signed = pki.path("self-signed-client.pem");
    let revoked = pki.path("revoked-client.pem");
    let battery: [(&'static str, Option<&std::path::Path>, Option<SslVersion>); 6] = [
        ("no certificate", None, None),
        ("client certificate", Some(&client), None),
        ("self-signed certificate", Some(&self_signed), None),
        ("revoked certificate", Some(&revoked), None),
        ("TLS 1.2 only", Some(&client), Some(SslVersion::TLS1_2)),
        ("TLS 1.3 only", Some(&client), Some(SslVersion::TLS1_3)),
    ];
    let clients = battery
        .iter()
        .map(|(name, identity, version)| {
            let options = ClientOptions {
                ca: Some(&ca),
                identity: *identity,
                version: *version,
                ..Default::default()
            };
            (*name, is_let_in(server.port, &options).is_ok())
        })
        .collect();
    Outcome::Serving {
        fips: server.log().contains("FIPS 140-2 mode activated"),
        clients,
    }
}

/// One option under its two names, and the options it is tried with.
struct TwinRow<'a> {
    ssl: &'static str,
    twin: &'static str,
    ssl_value: Option<String>,
    twin_value: Option<String>,
    rest: Vec<&'a str>,
}

/// Every `--tls*` name (and mongod 3.0's `--sslAllowConnectionsWithoutCertificates`)
/// behaves exactly as its `--ssl*` twin, over the same start-up and clients.
#[test]
fn every_tls_name_equals_its_ssl_twin() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let pem = pki.arg("server.pem");
    let ca = pki.arg("ca.pem");
    let crl = pki.arg("crl.pem");
    let on = "--sslOnNormalPorts";
    let table = vec![
        TwinRow {
            ssl: "sslMode",
            twin: "tlsMode",
            ssl_value: Some("requireSSL".into()),
            twin_value: Some("requireTLS".into()),
            rest: vec!["--sslPEMKeyFile", &pem],
        },
        TwinRow {
            ssl: "sslPEMKeyFile",
            twin: "tlsCertificateKeyFile",
            ssl_value: Some(pem.clone()),
            twin_value: Some(pem.clone()),
            rest: vec![on],
        },
        TwinRow {
            ssl: "sslPEMKeyPassword",
            twin: "tlsCertificateKeyFilePassword",
            ssl_value: Some(KEY_PASSWORD.into()),
            twin_value: Some(KEY_PASSWORD.into()),
            rest: vec![on, "--sslPEMKeyFile"],
        },
        TwinRow {
            ssl: "sslCAFile",
            twin: "tlsCAFile",
            ssl_value: Some(ca.clone()),
            twin_value: Some(ca.clone()),
            rest: vec![on, "--sslPEMKeyFile", &pem],
        },
        TwinRow {
            ssl: "sslCRLFile",
            twin: "tlsCRLFile",
            ssl_value: Some(crl.clone()),
            twin_value: Some(crl.clone()),
            rest: vec![on, "--sslPEMKeyFile", &pem, "--sslCAFile", &ca],
        },
        TwinRow {
            ssl: "sslWeakCertificateValidation",
            twin: "tlsAllowConnectionsWithoutCertificates",
            ssl_value: None,
            twin_value: None,
            rest: vec![on, "--sslPEMKeyFile", &pem, "--sslCAFile", &ca],
        },
        TwinRow {
            ssl: "sslWeakCertificateValidation",
            twin: "sslAllowConnectionsWithoutCertificates",
            ssl_value: None,
            twin_value: None,
            rest: vec![on, "--sslPEMKeyFile", &pem, "--sslCAFile", &ca],
        },
        TwinRow {
            ssl: "sslAllowInvalidCertificates",
            twin: "tlsAllowInvalidCertificates",
            ssl_value: None,
            twin_value: None,
            rest: vec![
                on,
                "--sslPEMKeyFile",
                &pem,
                "--sslCAFile",
                &ca,
                "--sslCRLFile",
                &crl,
            ],
        },
        TwinRow {
            ssl: "sslFIPSMode",
            twin: "tlsFIPSMode",
            ssl_value: None,
            twin_value: None,
            rest: vec![on, "--sslPEMKeyFile", &pem],
        },
        TwinRow {
            ssl: "sslDisabledProtocols",
            twin: "tlsDisabledProtocols",
            ssl_value: Some("TLS1_2".into()),
            twin_value: Some("TLS1_2".into()),
            rest: vec![on, "--sslPEMKeyFile", &pem],
        },
        TwinRow {
            ssl: "sslCipherConfig",
            twin: "tlsCipherConfig",
            ssl_value: Some("ECDHE-ECDSA-AES128-SHA".into()),
            twin_value: Some("ECDHE-ECDSA-AES128-SHA".into()),
            rest: vec![on, "--sslPEMKeyFile", &pem],
        },
    ];
    let encrypted = pki.arg("server-pkcs8-encrypted.pem");
    let mut covered = Vec::new();
    for TwinRow {
        ssl,
        twin,
        ssl_value,
        twin_value,
        rest,
    } in &table
    {
        let mut base = args(&["--upstream", &backend.address()]);
        for arg in rest {
            base.push(arg.to_string());
        }
        // The password row's key file is the encrypted one.
        if *ssl == "sslPEMKeyPassword" {
            base.push(encrypted.clone());
        }
        let with = |name: &str, value: &Option<String>| {
            let mut a = base.clone();
            a.push(format!("--{name}"));
            a.extend(value.iter().cloned());
            a
        };
        let without = probe(&pki, &base);
        let by_ssl = probe(&pki, &with(ssl, ssl_value));
        let by_twin = probe(&pki, &with(twin, twin_value));
        assert_eq!(by_ssl, by_twin, "--{twin} differs from --{ssl}");
        assert_ne!(
            by_ssl, without,
            "--{ssl} changed nothing, so the comparison proves nothing"
        );
        covered.push(*twin);
    }
    // The table keeps up with the option list: every --tls* name in
    // --help is in it.
    let help = run_to_exit(&args(&["--help"])).output;
    for word in help.split_whitespace() {
        if let Some(name) = word.strip_prefix("--tls") {
            let name = format!(
                "tls{}",
                name.trim_end_matches(|c: char| !c.is_alphanumeric())
            );
            assert!(
                covered.contains(&name.as_str()),
                "--{name} is not in the twin table"
            );
        }
    }
}

#[test]
fn twins_that_disagree_are_refused() {
    let pki = Pki::new();
    let exit = run_to_exit(&args(&[
        "--upstream",
        "127.0.0.1:1",
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        &pki.arg("server.pem"),
        "--tlsCAFile",
        &pki.arg("ca.pem"),
        "--sslCAFile",
        &pki.arg("other-ca.pem"),
    ]));
    expect_exit(&exit, 2, &["--tlsCAFile", "--sslCAFile", "disagree"]);
}

#[test]
fn disabled_protocols_leave_the_other_version() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let ca = pki.path("ca.pem");
    let only = |version| ClientOptions {
        ca: Some(&ca),
        version: Some(version),
        ..Default::default()
    };
    let server = tls_server(
        &pki,
        &backend,
        &["--sslDisabledProtocols", "TLS1_0,TLS1_1,TLS1_2"],
    );
    assert!(
        tls_connect(server.port, &only(SslVersion::TLS1_2)).is_err(),
        "a TLS 1.2 client got in with TLS1_2 disabled"
    );
    server.expect_log("SSL handshake failed: unsupported protocol");
    is_let_in(server.port, &only(SslVersion::TLS1_3)).expect("TLS 1.3 still works");

    let server = tls_server(&pki, &backend, &["--tlsDisabledProtocols", "TLS1_3"]);
    assert!(tls_connect(server.port, &only(SslVersion::TLS1_3)).is_err());
    is_let_in(server.port, &only(SslVersion::TLS1_2)).expect("TLS 1.2 still works");
    server.expect_log("SSL handshake done: TLSv1.2");

    // `none` is mongod's "disable nothing": TLS 1.0 and 1.1 stay off here.
    let server = tls_server(&pki, &backend, &["--sslDisabledProtocols", "none"]);
    server
        .expect_log("W [initandlisten] --sslDisabledProtocols none: TLS 1.0 and 1.1 stay disabled");
    let old = ClientOptions {
        ca: Some(&ca),
        version: Some(SslVersion::TLS1_1),
        ciphers: Some("DEFAULT:@SECLEVEL=0"),
        ..Default::default()
    };
    assert!(tls_connect(server.port, &old).is_err(), "TLS 1.1 accepted");
    is_let_in(server.port, &only(SslVersion::TLS1_2)).expect("TLS 1.2");

    let exit = run_to_exit(&args(&[
        "--upstream",
        "127.0.0.1:1",
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        &pki.arg("server.pem"),
        "--sslDisabledProtocols",
        "TLS1_2,TLS1_3",
    ]));
    expect_exit(&exit, 2, &["disables every protocol mongossl offers"]);
    let exit = run_to_exit(&args(&[
        "--upstream",
        "127.0.0.1:1",
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        &pki.arg("server.pem"),
        "--sslDisabledProtocols",
        "TLS1_2,SSL3",
    ]));
    expect_exit(&exit, 2, &["unrecognized protocol 'SSL3'"]);
}

#[test]
fn cipher_config_narrows_and_weak_lists_are_refused_at_start_up() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let ca = pki.path("ca.pem");
    let server = tls_server(
        &pki,
        &backend,
        &["--sslCipherConfig", "ECDHE-ECDSA-AES256-GCM-SHA384"],
    );
    let tls12 = |ciphers| ClientOptions {
        ca: Some(&ca),
        version: Some(SslVersion::TLS1_2),
        ciphers,
        ..Default::default()
    };
    is_let_in(server.port, &tls12(None)).expect("TLS 1.2 with the configured suite");
    server.expect_log("SSL handshake done: TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384");
    assert!(
        tls_connect(server.port, &tls12(Some("ECDHE-ECDSA-AES128-GCM-SHA256"))).is_err(),
        "a suite outside the configured list was negotiated"
    );
    server.expect_log("SSL handshake failed: no shared cipher");

    for (list, needle) in [
        (
            "ECDHE-ECDSA-AES128-SHA",
            "ECDHE-ECDSA-AES128-SHA, which is not an AEAD suite",
        ),
        // HIGH expands to CBC and DSS suites among others: judged by what
        // it yields, not by its text.
        ("HIGH", "'HIGH': it allows "),
        // OpenSSL would skip the misspelt name and go on with the other.
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA265",
            "names ECDHE-ECDSA-AES128-GCM-SHA265, which OpenSSL does not offer here",
        ),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256:AES256-SHA256",
            "AES256-SHA256",
        ),
        (
            "ADH-AES128-GCM-SHA256",
            "not authenticated by a certificate",
        ),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0",
            "lowers OpenSSL's security level",
        ),
        ("NOTACIPHER", "OpenSSL takes no suite from it"),
    ] {
        let exit = run_to_exit(&args(&[
            "--port",
            "0",
            "--upstream",
            &backend.address(),
            "--sslOnNormalPorts",
            "--sslPEMKeyFile",
            &pki.arg("server.pem"),
            "--tlsCipherConfig",
            list,
        ]));
        expect_exit(&exit, 2, &["--sslCipherConfig", needle]);
    }
}

/// In FIPS mode a configured list may hold only AES-GCM suites.
#[test]
fn cipher_config_in_fips_mode_is_aes_gcm_only() {
    let Some(dir) = provider_dir() else {
        return;
    };
    let pki = Pki::new();
    let backend = Backend::echo();
    let modules = dir.display().to_string();
    let fips_args = |list: &str| {
        args(&[
            "--upstream",
            &backend.address(),
            "--tlsMode",
            "requireTLS",
            "--tlsCertificateKeyFile",
            &pki.arg("server.pem"),
            "--tlsFIPSMode",
            "--sslFIPSConfig",
            &dir.join("openssl-fips.cnf").display().to_string(),
            "--tlsCipherConfig",
            list,
        ])
    };
    let exit = match Server::try_start_with_env(
        &fips_args("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"),
        &[("OPENSSL_MODULES", &modules)],
    ) {
        Ok(server) => panic!("ChaCha20 accepted in FIPS mode:\n{}", server.log()),
        Err(exit) => exit,
    };
    // OpenSSL's FIPS provider has no ChaCha20: the named suite is missing.
    expect_exit(
        &exit,
        2,
        &[
            "--sslCipherConfig",
            "names ECDHE-ECDSA-CHACHA20-POLY1305",
            "FIPS mode offers FIPS 140-2 approved suites only",
        ],
    );
    let server = Server::start_with_env(
        &fips_args("ECDHE-ECDSA-AES256-GCM-SHA384"),
        &[("OPENSSL_MODULES", &modules)],
    );
    server.expect_log("FIPS 140-2 mode activated");
    let ca = pki.path("ca.pem");
    let tls12 = ClientOptions {
        ca: Some(&ca),
        version: Some(SslVersion::TLS1_2),
        ..Default::default()
    };
    is_let_in(server.port, &tls12).expect("AES-GCM in FIPS mode");
    server.expect_log("SSL handshake done: TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384");
}

#[test]
fn allow_invalid_certificates_lets_a_self_signed_client_in_with_a_warning() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--sslAllowInvalidCertificates",
        ],
    );
    let ca = pki.path("ca.pem");
    let self_signed = pki.path("self-signed-client.pem");
    is_let_in(server.port, &with_ca(&ca, Some(&self_signed))).expect("self-signed let in");
    server.expect_log("W [conn1] SSL peer certificate validation failed: self-signed certificate");
    server.expect_log("peer certificate subject: CN=self-signed-client,O=mongossl tests");
    // It forgives a bad certificate, not a missing one.
    assert!(is_let_in(server.port, &with_ca(&ca, None)).is_err());
    server.expect_log("E [conn2] no SSL certificate provided by peer; connection rejected");
}

/// mongossl with the encrypted key and a bare password option (the
/// harness adds `--port 0`).
fn encrypted_key_args(pki: &Pki, password_flag: &str) -> Vec<String> {
    args(&[
        "--upstream",
        "127.0.0.1:1",
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        &pki.arg("server-pkcs8-encrypted.pem"),
        password_flag,
    ])
}

#[test]
fn bare_password_reads_the_systemd_credential() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let credentials = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        credentials.path().join("sslPEMKeyPassword"),
        format!("{KEY_PASSWORD}\n"),
    )
    .expect("write credential");
    let dir = credentials.path().display().to_string();
    for flag in ["--sslPEMKeyPassword", "--tlsCertificateKeyFilePassword"] {
        let server = Server::start_with_env(
            &args(&[
                "--upstream",
                &backend.address(),
                "--sslOnNormalPorts",
                "--sslPEMKeyFile",
                &pki.arg("server-pkcs8-encrypted.pem"),
                flag,
            ]),
            &[("CREDENTIALS_DIRECTORY", &dir)],
        );
        let ca = pki.path("ca.pem");
        is_let_in(server.port, &with_ca(&ca, None)).expect("served with the credential's password");
        assert!(
            !server.log().contains(KEY_PASSWORD),
            "the password was logged"
        );
    }
    // An empty credential is no password: right for an unencrypted key
    // (the installed unit loads an empty file by default), and an
    // encrypted key then says it needs one.
    std::fs::write(credentials.path().join("sslPEMKeyPassword"), "").expect("write");
    let bare = |pem: &str| {
        args(&[
            "--upstream",
            &backend.address(),
            "--sslOnNormalPorts",
            "--sslPEMKeyFile",
            &pki.arg(pem),
            "--sslPEMKeyPassword",
        ])
    };
    let server = Server::start_with_env(&bare("server.pem"), &[("CREDENTIALS_DIRECTORY", &dir)]);
    is_let_in(server.port, &with_ca(&pki.path("ca.pem"), None)).expect("unencrypted key");
    let exit = match Server::try_start_with_env(
        &bare("server-pkcs8-encrypted.pem"),
        &[("CREDENTIALS_DIRECTORY", &dir)],
    ) {
        Ok(server) => panic!("an encrypted key without a password:\n{}", server.log()),
        Err(exit) => exit,
    };
    expect_exit(&exit, 2, &["the private key is encrypted"]);
}

#[test]
fn bare_password_without_terminal_or_credential_fails_clearly() {
    let pki = Pki::new();
    // Standard input is not a terminal here and no credential directory
    // is set (the empty value counts as unset).
    let exit = match Server::try_start_with_env(
        &encrypted_key_args(&pki, "--sslPEMKeyPassword"),
        &[("CREDENTIALS_DIRECTORY", "")],
    ) {
        Ok(server) => panic!("started without a password:\n{}", server.log()),
        Err(exit) => exit,
    };
    expect_exit(
        &exit,
        2,
        &[
            "--sslPEMKeyPassword was given without a value",
            "not a terminal",
            "CREDENTIALS_DIRECTORY",
        ],
    );
    // A credential directory without the credential names the file.
    let empty = tempfile::tempdir().expect("tempdir");
    let dir = empty.path().display().to_string();
    let exit = match Server::try_start_with_env(
        &encrypted_key_args(&pki, "--sslPEMKeyPassword"),
        &[("CREDENTIALS_DIRECTORY", &dir)],
    ) {
        Ok(server) => panic!("started without a password:\n{}", server.log()),
        Err(exit) => exit,
    };
    expect_exit(
        &exit,
        2,
        &[
            "sslPEMKeyPassword: cannot read the systemd credential",
            &dir,
        ],
    );
    // A wrong credential is the usual wrong-password error.
    std::fs::write(empty.path().join("sslPEMKeyPassword"), "wrong").expect("write");
    let exit = match Server::try_start_with_env(
        &encrypted_key_args(&pki, "--sslPEMKeyPassword"),
        &[("CREDENTIALS_DIRECTORY", &dir)],
    ) {
        Ok(server) => panic!("started with a wrong password:\n{}", server.log()),
        Err(exit) => exit,
    };
    expect_exit(&exit, 2, &["cannot decrypt the private key"]);
}

/// The terminal path, on a real pseudo-terminal from util-linux `script`:
/// the prompt appears, the typed password is not echoed, and the key
/// decrypts. mongossl then fails to bind a port the test holds, so it stops
/// by itself with exit code 48 (past the key, before serving).
#[test]
fn bare_password_is_asked_on_a_terminal_without_echo() {
    let pki = Pki::new();
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let quoted: Vec<String> = [binary(), "--port", &port, "--bind_ip", "127.0.0.1"]
        .into_iter()
        .map(String::from)
        .chain(encrypted_key_args(&pki, "--sslPEMKeyPassword"))
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &quoted.join(" "), "/dev/null"])
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script (Debian: bsdutils) runs");
    let seen = Arc::new(Mutex::new(String::new()));
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut text) = seen.lock() {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
    }
    let text = || seen.lock().map(|t| t.clone()).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text().contains("Enter PEM passphrase: ") {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no prompt on the terminal:\n{}", text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{KEY_PASSWORD}\n").as_bytes())
        .expect("type the password");
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mongossl did not stop:\n{}", text());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    std::thread::sleep(Duration::from_millis(50));
    let output = text();
    assert_eq!(status.code(), Some(48), "{output}");
    assert!(
        output.contains("SSL on: certificate"),
        "key not decrypted:\n{output}"
    );
    assert!(output.contains("bind() failed"), "{output}");
    assert!(
        !output.contains(KEY_PASSWORD),
        "the password was echoed:\n{output}"
    );
}

/// A plaintext MongoDB client: one message with a real header, echoed back
/// by the backend when mongossl relays plaintext.
fn plaintext_is_relayed(port: u16) -> bool {
    let Ok(mut plain) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    plain.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut message = vec![48u8, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0];
    message.extend_from_slice(b"a plaintext MongoDB message body");
    crate::harness::net::round_trip(&mut plain, &message).is_ok_and(|back| back == message)
}

/// `--sslMode`/`--tlsMode` (and `net.tls.mode`) reach the listen port: the
/// mode decides which clients get through.
#[test]
fn ssl_modes_reach_the_port() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let ca = pki.path("ca.pem");
    let pem = pki.arg("server.pem");
    for (mode_args, tls_ok, plain_ok) in [
        (
            vec!["--sslMode", "allowSSL", "--sslPEMKeyFile", &pem],
            true,
            true,
        ),
        (
            vec!["--tlsMode", "preferTLS", "--tlsCertificateKeyFile", &pem],
            true,
            true,
        ),
        (
            vec!["--sslMode", "requireSSL", "--sslPEMKeyFile", &pem],
            true,
            false,
        ),
        (vec!["--tlsMode", "disabled"], false, true),
    ] {
        let mut a = args(&["--upstream", &backend.address()]);
        a.extend(args(&mode_args));
        let server = Server::start(&a);
        assert_eq!(
            is_let_in(server.port, &with_ca(&ca, None)).is_ok(),
            tls_ok,
            "{mode_args:?}: TLS client\n{}",
            server.log()
        );
        assert_eq!(
            plaintext_is_relayed(server.port),
            plain_ok,
            "{mode_args:?}: plaintext client\n{}",
            server.log()
        );
        if mode_args[1] == "preferTLS" {
            server.expect_log("connection not using SSL (sslMode preferSSL)");
        }
    }
    // The YAML spelling.
    let config = format!(
        "net:\n  tls:\n    mode: allowTLS\n    certificateKeyFile: {pem}\nmongossl:\n  upstream: {}\n",
        backend.address()
    );
    pki.write("allow.conf", config.as_bytes());
    let server = Server::start(&args(&["-f", &pki.arg("allow.conf")]));
    is_let_in(server.port, &with_ca(&ca, None)).expect("TLS client, allowTLS");
    assert!(
        plaintext_is_relayed(server.port),
        "plaintext client, allowTLS"
    );
}
