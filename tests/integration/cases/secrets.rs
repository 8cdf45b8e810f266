//! Secrets at start-up, through the real binary: a private-key file that
//! other users can read is named in a warning; the key password never
//! appears in the log (at any verbosity) or in an error message.

use std::os::unix::fs::PermissionsExt;

use crate::harness::net::Backend;
use crate::harness::pki::{KEY_PASSWORD, Pki};
use crate::harness::process::{Server, args, run_to_exit};

fn chmod(pki: &Pki, file: &str, mode: u32) {
    std::fs::set_permissions(pki.path(file), std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn start(pki: &Pki, backend: &Backend, pem: &str, extra: &[&str]) -> Server {
    let mut a = args(&[
        "--upstream",
        &backend.address(),
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
    ]);
    a.push(pki.arg(pem));
    a.extend(args(extra));
    Server::start(&a)
}

#[test]
fn a_key_file_readable_by_others_is_named_in_a_warning() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let warning = "is readable by other users";
    chmod(&pki, "server.pem", 0o644);
    let server = start(&pki, &backend, "server.pem", &[]);
    server.expect_log(&format!(
        "W [initandlisten] the private key file {} (sslPEMKeyFile) is readable by other users (mode 644)",
        pki.arg("server.pem")
    ));
    drop(server);
    for mode in [0o600, 0o640, 0o400] {
        chmod(&pki, "server.pem", mode);
        let server = start(&pki, &backend, "server.pem", &[]);
        assert!(
            !server.log().contains(warning),
            "warned for mode {mode:o}:\n{}",
            server.log()
        );
    }
}

#[test]
fn the_key_password_is_never_logged_or_echoed() {
    let pki = Pki::new();
    let backend = Backend::echo();
    // Served at the most verbose level: the password is not in the log.
    let server = start(
        &pki,
        &backend,
        "server-pkcs8-encrypted.pem",
        &["--sslPEMKeyPassword", KEY_PASSWORD, "-vv"],
    );
    assert!(!server.log().contains(KEY_PASSWORD), "{}", server.log());
    drop(server);
    // From a config file, at the most verbose level.
    let config = pki.path("mongossl.conf");
    std::fs::write(
        &config,
        format!(
            "upstream = {}\nsslOnNormalPorts = true\nsslPEMKeyFile = {}\nsslPEMKeyPassword = \"{KEY_PASSWORD}\"\nverbose = 2\n",
            backend.address(),
            pki.arg("server-pkcs8-encrypted.pem")
        ),
    )
    .expect("config");
    let server = Server::start(&args(&["--config", &config.display().to_string()]));
    assert!(!server.log().contains(KEY_PASSWORD), "{}", server.log());
    drop(server);
    // Every refusal that involves the password option: none repeats it.
    let secret = "hunter2-do-not-print";
    let refusals: Vec<Vec<String>> = vec![
        // Without SSL on.
        args(&[
            "--upstream",
            &backend.address(),
            "--sslPEMKeyPassword",
            secret,
        ]),
        // Wrong password, both encrypted forms.
        args(&[
            "--upstream",
            &backend.address(),
            "--sslOnNormalPorts",
            "--sslPEMKeyFile",
            &pki.arg("server-pkcs8-encrypted.pem"),
            "--sslPEMKeyPassword",
            secret,
        ]),
        args(&[
            "--upstream",
            &backend.address(),
            "--sslOnNormalPorts",
            "--sslPEMKeyFile",
            &pki.arg("server-traditional-encrypted.pem"),
            "--sslPEMKeyPassword",
            secret,
        ]),
        // Another error later on the command line.
        args(&["--sslPEMKeyPassword", secret, "--port", "notanumber"]),
        args(&["--sslPEMKeyPassword", secret, "--nosuchoption"]),
    ];
    for a in refusals {
        let exit = run_to_exit(&a);
        assert_ne!(exit.code, Some(0), "{a:?}: {}", exit.output);
        assert!(
            !exit.output.contains(secret),
            "{a:?} echoed the password:\n{}",
            exit.output
        );
    }
}
