//! `--sslFIPSMode` against a real OpenSSL 3.0.8 FIPS provider: activation
//! and its log line, only approved suites and groups, every way activation
//! can fail (before anything binds), and mongod's client rules unchanged.

use std::path::{Path, PathBuf};

use openssl::ssl::SslVersion;

use crate::harness::fips::provider_dir;
use crate::harness::net::{Backend, ClientOptions, is_let_in, tls_connect};
use crate::harness::pki::{KEY_PASSWORD, Pki};
use crate::harness::process::{Server, args, binary};

const ACTIVATED: &str = "FIPS 140-2 mode activated (OpenSSL FIPS Provider 3.0.8)";

fn fips_args(pki: &Pki, backend: &Backend, dir: &Path, pem: &str, extra: &[&str]) -> Vec<String> {
    let mut a = args(&[
        "--upstream",
        &backend.address(),
        "--sslOnNormalPorts",
        "--sslFIPSMode",
    ]);
    a.extend(args(&["--sslPEMKeyFile", &pki.arg(pem)]));
    a.extend(args(&[
        "--sslFIPSConfig",
        &dir.join("openssl-fips.cnf").display().to_string(),
    ]));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn fips_server(pki: &Pki, backend: &Backend, dir: &Path, pem: &str, extra: &[&str]) -> Server {
    let modules = dir.display().to_string();
    Server::start_with_env(
        &fips_args(pki, backend, dir, pem, extra),
        &[("OPENSSL_MODULES", &modules)],
    )
}

/// Runs mongossl in FIPS mode expecting it to stop; returns (code, output).
fn fips_failure(arguments: &[String], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = std::process::Command::new(binary());
    command
        .args(["--port", "0"])
        .args(arguments)
        .env_remove("OPENSSL_CONF");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("run mongossl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains("waiting for connections"),
        "it bound anyway:\n{text}"
    );
    (output.status.code(), text)
}

#[test]
fn fips_mode_relays_with_approved_suites() {
    let Some(dir) = provider_dir() else { return };
    let pki = Pki::new();
    let backend = Backend::echo();
    let ca = pki.path("ca.pem");
    let server = fips_server(&pki, &backend, &dir, "server.pem", &[]);
    server.expect_log(ACTIVATED);
    let tls13 = ClientOptions {
        ca: Some(&ca),
        version: Some(SslVersion::TLS1_3),
        ..Default::default()
    };
    is_let_in(server.port, &tls13).expect("TLS 1.3 AES-GCM");
    server.expect_log("SSL handshake done: TLSv1.3 TLS_AES_128_GCM_SHA256");
    let tls12 = ClientOptions {
        ca: Some(&ca),
        version: Some(SslVersion::TLS1_2),
        ..Default::default()
    };
    is_let_in(server.port, &tls12).expect("TLS 1.2 ECDHE-ECDSA-AES-GCM");
    server.expect_log("SSL handshake done: TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256");

    let rsa = fips_server(&pki, &backend, &dir, "server-rsa.pem", &[]);
    is_let_in(rsa.port, &tls12).expect("TLS 1.2 ECDHE-RSA-AES-GCM");
    rsa.expect_log("SSL handshake done: TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256");
}

#[test]
fn fips_mode_refuses_chacha_and_x25519_that_normal_mode_takes() {
    let Some(dir) = provider_dir() else { return };
    let pki = Pki::new();
    let backend = Backend::echo();
    let ca = pki.path("ca.pem");
    let chacha = ClientOptions {
        ca: Some(&ca),
        version: Some(SslVersion::TLS1_3),
        suites: Some("TLS_CHACHA20_POLY1305_SHA256"),
        ..Default::default()
    };
    let chacha12 = ClientOptions {
        ca: Some(&ca),
        version: Some(SslVersion::TLS1_2),
        ciphers: Some("ECDHE-ECDSA-CHACHA20-POLY1305"),
        ..Default::default()
    };
    let x25519 = ClientOptions {
        ca: Some(&ca),
        groups: Some("X25519"),
        ..Default::default()
    };

    let fips = fips_server(&pki, &backend, &dir, "server.pem", &[]);
    for (name, client) in [
        ("ChaCha20 TLS 1.3", &chacha),
        ("ChaCha20 TLS 1.2", &chacha12),
        ("X25519", &x25519),
    ] {
        assert!(
            tls_connect(fips.port, client).is_err(),
            "{name} accepted in FIPS mode"
        );
    }
    fips.expect_log("SSL handshake failed: no shared cipher");
    fips.expect_log("SSL handshake failed: no suitable key share");

    let normal = crate::harness::tls_server(&pki, &backend, &[]);
    for (name, client) in [
        ("ChaCha20 TLS 1.3", &chacha),
        ("ChaCha20 TLS 1.2", &chacha12),
        ("X25519", &x25519),
    ] {
        is_let_in(normal.port, client)
            .unwrap_or_else(|e| panic!("{name} refused without FIPS: {e}"));
    }
}

#[test]
fn fips_mode_keeps_mongods_client_rules() {
    let Some(dir) = provider_dir() else { return };
    let pki = Pki::new();
    let backend = Backend::echo();
    let ca = pki.arg("ca.pem");
    let crl = pki.arg("crl.pem");
    let server = fips_server(
        &pki,
        &backend,
        &dir,
        "server.pem",
        &["--sslCAFile", &ca, "--sslCRLFile", &crl],
    );
    server.expect_log(ACTIVATED);
    let good = pki.path("client.pem");
    let revoked = pki.path("revoked-client.pem");
    is_let_in(
        server.port,
        &ClientOptions {
            identity: Some(&good),
            ..Default::default()
        },
    )
    .expect("good client");
    assert!(is_let_in(server.port, &ClientOptions::default()).is_err());
    server.expect_log("no SSL certificate provided by peer; connection rejected");
    assert!(
        is_let_in(
            server.port,
            &ClientOptions {
                identity: Some(&revoked),
                ..Default::default()
            }
        )
        .is_err()
    );
    server.expect_log("SSL peer certificate validation failed: certificate revoked");

    let weak = fips_server(
        &pki,
        &backend,
        &dir,
        "server.pem",
        &["--sslCAFile", &ca, "--sslWeakCertificateValidation"],
    );
    is_let_in(weak.port, &ClientOptions::default()).expect("weak: no certificate");
    let other = pki.path("other-client.pem");
    assert!(
        is_let_in(
            weak.port,
            &ClientOptions {
                identity: Some(&other),
                ..Default::default()
            }
        )
        .is_err()
    );
}

#[test]
fn fips_activation_failures_stop_before_binding() {
    let Some(dir) = provider_dir() else { return };
    let pki = Pki::new();
    let backend = Backend::echo();
    let modules = dir.display().to_string();
    let base = fips_args(&pki, &backend, &dir, "server.pem", &[]);

    // The provider module is not where OpenSSL looks.
    let (code, text) = fips_failure(&base, &[("OPENSSL_MODULES", "/nonexistent")]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("can't activate FIPS mode: "), "{text}");
    assert!(
        text.contains("fips.so was not found in /nonexistent"),
        "{text}"
    );

    // No config data: the module is found, but fipsmodule.cnf is not included.
    let no_config = fips_args(&pki, &backend, &dir, "server.pem", &[]);
    let no_config: Vec<String> = no_config
        .iter()
        .filter(|a| !a.ends_with("openssl-fips.cnf") && *a != "--sslFIPSConfig")
        .cloned()
        .collect();
    let (code, text) = fips_failure(&no_config, &[("OPENSSL_MODULES", &modules)]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("can't activate FIPS mode: "), "{text}");
    assert!(text.contains("missing config data"), "{text}");

    // A corrupted checksum: the module's self-test fails.
    let corrupt_dir = tempfile::tempdir().expect("tempdir");
    let module_cnf = std::fs::read_to_string(dir.join("fipsmodule.cnf")).expect("fipsmodule.cnf");
    let corrupted: String = module_cnf
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("module-mac") {
                let flipped = if line.ends_with('0') { '1' } else { '0' };
                format!("{}{}", &line[..line.len() - 1], flipped)
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(
        corrupted.trim(),
        module_cnf.trim(),
        "no module-mac line to corrupt"
    );
    let corrupt_module: PathBuf = corrupt_dir.path().join("fipsmodule.cnf");
    std::fs::write(&corrupt_module, corrupted).expect("write");
    let config = std::fs::read_to_string(dir.join("openssl-fips.cnf")).expect("openssl-fips.cnf");
    let included = dir.join("fipsmodule.cnf").display().to_string();
    assert!(
        config.contains(&included),
        "config does not include {included}:\n{config}"
    );
    let corrupt_config = corrupt_dir.path().join("openssl-fips.cnf");
    std::fs::write(
        &corrupt_config,
        config.replace(&included, &corrupt_module.display().to_string()),
    )
    .expect("write");
    let mut corrupt_args = no_config.clone();
    corrupt_args.extend(args(&[
        "--sslFIPSConfig",
        &corrupt_config.display().to_string(),
    ]));
    let (code, text) = fips_failure(&corrupt_args, &[("OPENSSL_MODULES", &modules)]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("can't activate FIPS mode: the FIPS provider failed its self-test"),
        "{text}"
    );

    // A config file that is not there.
    let mut missing = no_config.clone();
    missing.extend(args(&["--sslFIPSConfig", "/nonexistent/openssl-fips.cnf"]));
    let (code, text) = fips_failure(&missing, &[("OPENSSL_MODULES", &modules)]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("cannot read the FIPS config file /nonexistent/openssl-fips.cnf"),
        "{text}"
    );

    // mongod's rule: FIPS mode needs SSL.
    let (code, text) = fips_failure(&args(&["--upstream", "127.0.0.1:1", "--sslFIPSMode"]), &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("--sslFIPSMode needs --sslOnNormalPorts"),
        "{text}"
    );
}

#[test]
fn fips_mode_names_non_approved_key_encryption() {
    let Some(dir) = provider_dir() else { return };
    let pki = Pki::new();
    let backend = Backend::echo();
    let modules = dir.display().to_string();
    let traditional = fips_args(
        &pki,
        &backend,
        &dir,
        "server-traditional-encrypted.pem",
        &["--sslPEMKeyPassword", KEY_PASSWORD],
    );
    let (code, text) = fips_failure(&traditional, &[("OPENSSL_MODULES", &modules)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("traditional PEM encryption (an MD5-based key derivation), which FIPS mode does not allow"), "{text}");
    assert!(!text.contains(KEY_PASSWORD), "password leaked:\n{text}");
    // PKCS#8 with PBKDF2 and AES is approved and loads.
    let server = fips_server(
        &pki,
        &backend,
        &dir,
        "server-pkcs8-encrypted.pem",
        &["--sslPEMKeyPassword", KEY_PASSWORD],
    );
    server.expect_log(ACTIVATED);
    let ca = pki.path("ca.pem");
    is_let_in(
        server.port,
        &ClientOptions {
            ca: Some(&ca),
            ..Default::default()
        },
    )
    .expect("PKCS#8 key in FIPS mode");
}

#[test]
fn fips_modules_are_found_beside_the_fips_config() {
    let Some(dir) = provider_dir() else { return };
    let pki = Pki::new();
    let backend = Backend::echo();
    // No OPENSSL_MODULES: the library's built-in directory has no fips.so
    // (Debian ships none; a vendored build points into its build tree),
    // so mongossl looks next to --sslFIPSConfig.
    let mut command = std::process::Command::new(binary());
    command
        .args(["--port", "0", "--bind_ip", "127.0.0.1"])
        .args(fips_args(&pki, &backend, &dir, "server.pem", &[]))
        .env_remove("OPENSSL_MODULES")
        .env_remove("OPENSSL_CONF");
    let server = Server::start_command(command);
    server.expect_log(ACTIVATED);
    let ca = pki.path("ca.pem");
    is_let_in(
        server.port,
        &ClientOptions {
            ca: Some(&ca),
            ..Default::default()
        },
    )
    .expect("FIPS relay");
}
