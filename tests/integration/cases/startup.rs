//! Start-up validation: every bad option, file or password stops mongossl
//! before it binds, with exit code 2 (48 for a bind failure) and one line
//! naming the option, the file and the cause.

use crate::harness::net::{Backend, ClientOptions, is_let_in};
use crate::harness::pki::{KEY_PASSWORD, Pki};
use crate::harness::process::{Server, args, run_to_exit};

const UPSTREAM: &str = "127.0.0.1:27999";

fn expect_refusal(arguments: Vec<String>, code: i32, needles: &[&str]) {
    let exit = run_to_exit(&arguments);
    assert_eq!(
        exit.code,
        Some(code),
        "args {arguments:?}: expected exit {code}, output:\n{}",
        exit.output
    );
    for needle in needles {
        assert!(
            exit.output.contains(needle),
            "args {arguments:?}: {needle:?} missing from:\n{}",
            exit.output
        );
    }
    assert!(
        !exit.output.contains("waiting for connections"),
        "it bound anyway:\n{}",
        exit.output
    );
}

fn ssl_args(pki: &Pki, pem: &str, extra: &[&str]) -> Vec<String> {
    let mut a = args(&[
        "--port",
        "0",
        "--upstream",
        UPSTREAM,
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
    ]);
    a.push(pki.arg(pem));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn mongod_rules_between_ssl_options() {
    let pki = Pki::new();
    let ca = pki.arg("ca.pem");
    expect_refusal(
        args(&["--upstream", UPSTREAM, "--sslCAFile", &ca]),
        2,
        &["--sslCAFile needs --sslOnNormalPorts"],
    );
    expect_refusal(
        args(&[
            "--upstream",
            UPSTREAM,
            "--sslPEMKeyFile",
            &pki.arg("server.pem"),
        ]),
        2,
        &["--sslPEMKeyFile needs --sslOnNormalPorts"],
    );
    expect_refusal(
        args(&["--upstream", UPSTREAM, "--sslOnNormalPorts"]),
        2,
        &["--sslOnNormalPorts needs --sslPEMKeyFile"],
    );
    expect_refusal(
        ssl_args(&pki, "server.pem", &["--sslWeakCertificateValidation"]),
        2,
        &["--sslWeakCertificateValidation needs --sslCAFile"],
    );
    expect_refusal(
        ssl_args(&pki, "server.pem", &["--sslCRLFile", &pki.arg("crl.pem")]),
        2,
        &["--sslCRLFile needs --sslCAFile"],
    );
}

#[test]
fn upstream_is_required_and_parsed() {
    expect_refusal(args(&["--port", "0"]), 2, &["--upstream is required"]);
    expect_refusal(
        args(&["--upstream", "nonsense"]),
        2,
        &["--upstream 'nonsense'"],
    );
    expect_refusal(
        args(&["--upstream", "127.0.0.1:x"]),
        2,
        &["the port is not a number"],
    );
    expect_refusal(
        args(&["--upstream", UPSTREAM, "--frobnicate"]),
        2,
        &["frobnicate"],
    );
}

#[test]
fn unusable_key_files_are_named_with_their_cause() {
    let pki = Pki::new();
    let cases: &[(&str, &str)] = &[
        ("does-not-exist.pem", "cannot read: No such file"),
        ("empty.pem", "the file is empty"),
        ("cert-only.pem", "no private key found"),
        ("key-only.pem", "no certificate found"),
        ("garbage.pem", "malformed"),
        (
            "mismatch.pem",
            "the private key does not match the certificate",
        ),
        ("expired-server.pem", "expired on"),
        ("future-server.pem", "is not valid until"),
    ];
    for (file, cause) in cases {
        let path = pki.arg(file);
        expect_refusal(
            ssl_args(&pki, file, &[]),
            2,
            &["--sslPEMKeyFile", &path, cause],
        );
    }
}

#[test]
fn unusable_ca_and_crl_files_are_named() {
    let pki = Pki::new();
    let server = pki.arg("server.pem");
    expect_refusal(
        ssl_args(&pki, "server.pem", &["--sslCAFile", &pki.arg("empty.pem")]),
        2,
        &["--sslCAFile", "the file is empty"],
    );
    expect_refusal(
        ssl_args(
            &pki,
            "server.pem",
            &["--sslCAFile", &server, "--sslCRLFile", &pki.arg("ca.pem")],
        ),
        2,
        &["--sslCRLFile", "no revocation list found"],
    );
    expect_refusal(
        ssl_args(
            &pki,
            "server.pem",
            &["--sslCAFile", &pki.arg("missing-ca.pem")],
        ),
        2,
        &["--sslCAFile", "missing-ca.pem", "cannot read"],
    );
}

#[test]
fn encrypted_keys_need_the_right_password() {
    let pki = Pki::new();
    for file in [
        "server-pkcs8-encrypted.pem",
        "server-traditional-encrypted.pem",
    ] {
        expect_refusal(
            ssl_args(&pki, file, &[]),
            2,
            &["the private key is encrypted: give its password with --sslPEMKeyPassword"],
        );
        let exit = run_to_exit(&ssl_args(
            &pki,
            file,
            &["--sslPEMKeyPassword", "wrong password"],
        ));
        assert_eq!(exit.code, Some(2), "{}", exit.output);
        assert!(
            exit.output
                .contains("cannot decrypt the private key: wrong --sslPEMKeyPassword?"),
            "{}",
            exit.output
        );
        assert!(
            !exit.output.contains("wrong password\n") && !exit.output.contains("'wrong password'"),
            "password leaked:\n{}",
            exit.output
        );

        let backend = Backend::echo();
        let mut a = args(&[
            "--upstream",
            &backend.address(),
            "--sslOnNormalPorts",
            "--sslPEMKeyFile",
        ]);
        a.push(pki.arg(file));
        a.extend(args(&["--sslPEMKeyPassword", KEY_PASSWORD]));
        let server = Server::start(&a);
        is_let_in(
            server.port,
            &ClientOptions {
                ca: Some(&pki.path("ca.pem")),
                ..Default::default()
            },
        )
        .expect("right password serves");
        assert!(
            !server.log().contains(KEY_PASSWORD),
            "password in the log:\n{}",
            server.log()
        );
    }
}

#[test]
fn help_and_version_never_show_passwords() {
    let exit = run_to_exit(&args(&["--help"]));
    assert_eq!(exit.code, Some(0));
    assert!(
        exit.output.contains("--sslPEMKeyPassword") && exit.output.contains("--sslOnNormalPorts")
    );
    let exit = run_to_exit(&args(&["--version"]));
    assert_eq!(exit.code, Some(0), "{}", exit.output);
    assert!(exit.output.contains("OpenSSL"), "{}", exit.output);
}

#[test]
fn cannot_bind_exits_48_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    expect_refusal(
        args(&[
            "--port",
            &port,
            "--bind_ip",
            "127.0.0.1",
            "--upstream",
            UPSTREAM,
        ]),
        48,
        &[&format!("127.0.0.1:{port}"), "bind() failed"],
    );
}

#[test]
fn config_file_equals_flags_and_bad_lines_are_named() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let config = format!(
        "# a mongod 2.4-style config\nport = 0\nbind_ip = 127.0.0.1\nupstream = {}\nsslOnNormalPorts = true\nsslPEMKeyFile = {}\nsslCAFile = {}\nsslWeakCertificateValidation = false\n",
        backend.address(),
        pki.arg("server.pem"),
        pki.arg("ca.pem")
    );
    pki.write("mongossl.conf", config.as_bytes());
    let server = Server::start(&args(&["--config", &pki.arg("mongossl.conf")]));
    let ca = pki.path("ca.pem");
    let client = pki.path("client.pem");
    is_let_in(
        server.port,
        &ClientOptions {
            ca: Some(&ca),
            identity: Some(&client),
            ..Default::default()
        },
    )
    .expect("client with certificate");
    // `sslWeakCertificateValidation = false` really is off.
    assert!(
        is_let_in(
            server.port,
            &ClientOptions {
                ca: Some(&ca),
                ..Default::default()
            }
        )
        .is_err()
    );
    server.expect_log("no SSL certificate provided by peer; connection rejected");

    pki.write(
        "bad.conf",
        b"port = 0\nsslOnNormalPorts = true\nsslPEMKeyFiel = /x\n",
    );
    expect_refusal(
        args(&["-f", &pki.arg("bad.conf")]),
        2,
        &["line 3", "sslPEMKeyFiel", "bad.conf"],
    );
    // The command line wins over the file.
    pki.write(
        "weak.conf",
        format!(
            "upstream = {}\nsslOnNormalPorts = true\nsslPEMKeyFile = /nonexistent.pem\n",
            backend.address()
        )
        .as_bytes(),
    );
    let server = Server::start(&args(&[
        "-f",
        &pki.arg("weak.conf"),
        "--sslPEMKeyFile",
        &pki.arg("server.pem"),
    ]));
    is_let_in(
        server.port,
        &ClientOptions {
            ca: Some(&ca),
            ..Default::default()
        },
    )
    .expect("flag overrides file");
}

#[test]
fn server_certificate_near_expiry_starts_with_a_warning() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = crate::harness::tls_server_with_pem(&pki, &backend, "expiring-server.pem", &[]);
    server.expect_log("expires in");
    is_let_in(
        server.port,
        &ClientOptions {
            ca: Some(&pki.path("ca.pem")),
            ..Default::default()
        },
    )
    .expect("serves");
}
