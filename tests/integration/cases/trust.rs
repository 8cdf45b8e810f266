//! Certificate trust beyond mongod 2.4's, through the real binary: the
//! client allow-list (a rule that admits, one that refuses, a reload that
//! swaps them, a malformed file that keeps the old list) and mongod's
//! TLS `--setParameter`s (unknown and mongod-only names refused).

use std::time::Duration;

use crate::harness::net::{Backend, ClientOptions, is_let_in};
use crate::harness::pki::Pki;
use crate::harness::process::{args, run_to_exit};
use crate::harness::tls_server;

#[test]
fn allow_list_admits_refuses_and_reloads() {
    let pki = Pki::new();
    let backend = Backend::echo();
    pki.write(
        "allowed.txt",
        b"# the test client only\nsubject=CN=client,O=mongossl tests\n",
    );
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--sslAllowedClients",
            &pki.arg("allowed.txt"),
        ],
    );
    server.expect_log("client allow-list");
    let client = pki.path("client.pem");
    let with_client = ClientOptions {
        identity: Some(&client),
        ..Default::default()
    };
    is_let_in(server.port, &with_client).expect("the listed client is let in");

    // A list that names someone else: the same client is refused, with why.
    pki.write("allowed.txt", b"san-dns=other.example.net\n");
    server.signal(libc::SIGHUP);
    assert!(server.wait_for_log("reload done", Duration::from_secs(10)));
    assert!(is_let_in(server.port, &with_client).is_err(), "refused now");
    assert!(
        server.wait_for_log(
            "client certificate CN=client,O=mongossl tests refused by the allow-list",
            Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );

    // A malformed file keeps the old list and names the line.
    pki.write(
        "allowed.txt",
        b"subject=CN=client,O=mongossl tests\nsan-ip=127.0.0.1\n",
    );
    server.signal(libc::SIGHUP);
    assert!(server.wait_for_log("reload failed", Duration::from_secs(10)));
    server.expect_log("line 2: unknown rule kind 'san-ip'");
    assert!(
        is_let_in(server.port, &with_client).is_err(),
        "old list kept"
    );
}

#[test]
fn set_parameter_names_are_checked() {
    let pki = Pki::new();
    for (parameter, needle) in [
        ("ocspEnable=false", "ocspEnable: not a TLS parameter"),
        ("enableLocalhostAuthBypass=false", "cannot honour"),
        ("tlsOCSPVerifyTimeoutSecs=0", "tlsOCSPVerifyTimeoutSecs"),
        (
            "opensslCipherSuiteConfig=TLS_AES_128_CCM_8_SHA256",
            "TLS_AES_128_CCM_8_SHA256",
        ),
    ] {
        let exit = start_with(&pki, &["--setParameter", parameter]);
        assert_ne!(exit.code, Some(0), "{parameter}: {}", exit.output);
        assert!(exit.output.contains(needle), "{parameter}: {}", exit.output);
    }
    // A malformed allow-list at start-up names the file and the line.
    pki.write("bad.txt", b"# fine\nsan-dns=a.*.example.net\n");
    let exit = start_with(
        &pki,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--sslAllowedClients",
            &pki.arg("bad.txt"),
        ],
    );
    assert_ne!(exit.code, Some(0), "{}", exit.output);
    assert!(
        exit.output.contains("bad.txt") && exit.output.contains("line 2"),
        "{}",
        exit.output
    );
}

/// Starts an SSL server with these extra options, expecting it to exit.
fn start_with(pki: &Pki, extra: &[&str]) -> crate::harness::process::Exit {
    let key = pki.arg("server.pem");
    let mut list = vec![
        "--upstream",
        "127.0.0.1:1",
        "--port",
        "0",
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        &key,
    ];
    list.extend_from_slice(extra);
    run_to_exit(&args(&list))
}
