//! The client-tunnel role (`--client`): plaintext on a loopback port, TLS
//! to a remote SSL mongod or mongossl, with the mongo shell's SSL options
//! and rules.

use std::path::PathBuf;

use super::options::RawOptions;
use super::{Password, parse_upstream};
use crate::error::Error;

/// How the tunnel connects to the remote server.
#[derive(Debug, Clone)]
pub struct TunnelSettings {
    /// The client certificate and key, if the server wants one.
    pub pem_key_file: Option<PathBuf>,
    pub pem_key_password: Option<Password>,
    /// CAs that must have signed the server's certificate; `None` means
    /// the system's trust store, as the mongo shell does.
    pub ca_file: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    pub allow_invalid_certificates: bool,
    pub allow_invalid_hostnames: bool,
    /// The remote host as written in `--upstream`: checked against the
    /// server certificate's SAN and sent as SNI when it is a DNS name.
    pub host: String,
}

/// Options that belong to the server role only.
const SERVER_ONLY: &[&str] = &[
    "sslOnNormalPorts",
    "sslMode",
    "sslWeakCertificateValidation",
    "sslDisabledProtocols",
    "sslCipherConfig",
];

/// Validates the tunnel's options (the mongo shell's rules).
pub fn validate(raw: &RawOptions) -> Result<TunnelSettings, Error> {
    let flag = |name: &str| raw.get(name).is_some_and(|v| v == "true");
    let given = |name: &str| raw.get(name).is_some_and(|v| v != "false");
    if let Some(name) = SERVER_ONLY.iter().find(|n| given(n)) {
        return Err(Error::options(format!(
            "--{name} is a server option; --client makes mongossl a client tunnel"
        )));
    }
    if !flag("ssl") {
        return Err(Error::options(
            "--client needs --ssl: the tunnel exists to speak SSL to the server",
        ));
    }
    let upstream = raw.get("upstream").ok_or_else(|| {
        Error::options("--client needs --upstream: the remote SSL server as HOST:PORT")
    })?;
    if upstream.contains('/') {
        return Err(Error::options(
            "--upstream: the tunnel connects over TCP to HOST:PORT, not to a unix socket",
        ));
    }
    // Validates the form; the connection itself resolves it again.
    parse_upstream(upstream)?;
    let host = upstream
        .rsplit_once(':')
        .map_or(upstream.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok(TunnelSettings {
        pem_key_file: raw.get("sslPEMKeyFile").map(PathBuf::from),
        pem_key_password: raw.get("sslPEMKeyPassword").cloned().map(Password::new),
        ca_file: raw.get("sslCAFile").map(PathBuf::from),
        crl_file: raw.get("sslCRLFile").map(PathBuf::from),
        allow_invalid_certificates: flag("sslAllowInvalidCertificates"),
        allow_invalid_hostnames: flag("sslAllowInvalidHostnames"),
        host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&'static str, &str)]) -> RawOptions {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn needs_ssl_and_a_tcp_upstream() {
        let err = validate(&raw(&[("upstream", "db.example:27017")])).expect_err("no ssl");
        assert!(err.to_string().contains("--client needs --ssl"), "{err}");
        let err = validate(&raw(&[("ssl", "true")])).expect_err("no upstream");
        assert!(err.to_string().contains("--upstream"), "{err}");
        let err =
            validate(&raw(&[("ssl", "true"), ("upstream", "/tmp/x.sock")])).expect_err("unix");
        assert!(err.to_string().contains("unix socket"), "{err}");
        let err = validate(&raw(&[
            ("ssl", "true"),
            ("upstream", "127.0.0.1:1"),
            ("sslOnNormalPorts", "true"),
        ]))
        .expect_err("server option");
        assert!(err.to_string().contains("server option"), "{err}");
    }

    #[test]
    fn keeps_the_host_name_for_verification() {
        let t = validate(&raw(&[("ssl", "true"), ("upstream", "localhost:27017")])).expect("ok");
        assert_eq!(t.host, "localhost");
        let t = validate(&raw(&[("ssl", "true"), ("upstream", "[::1]:27017")])).expect("ok");
        assert_eq!(t.host, "::1");
    }
}
