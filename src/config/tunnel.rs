//! The client-tunnel role (`--client`): plaintext on a loopback port, TLS
//! to a remote SSL mongod or mongossl, with the mongo shell's SSL options
//! and rules.

use std::path::PathBuf;

use super::raw::{RawOptions, Values};
use super::table::*;
use super::{Password, TlsParameters, parse_upstream};
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
    /// mongod's TLS `--setParameter`s (the tunnel honours
    /// `tlsWithholdClientCertificate`, `tlsUseSystemCA`, the suites).
    pub parameters: TlsParameters,
}

/// Options that belong to the server role only.
const SERVER_ONLY: &[OptionSpec] = &[
    SSL_ON_NORMAL_PORTS,
    SSL_MODE,
    SSL_WEAK_CERTIFICATE_VALIDATION,
    SSL_DISABLED_PROTOCOLS,
    SSL_CIPHER_CONFIG,
    UPSTREAM_PROXY_PROTOCOL,
    PROXY_PROTOCOL_FROM,
    SSL_ALLOWED_CLIENTS,
    SSL_OCSP_REQUIRE,
    AUDIT_DESTINATION,
    AUDIT_FORMAT,
    AUDIT_PATH,
    AUDIT_FILTER,
    AUDIT_REDACT,
    AUDIT_ON_FULL_QUEUE,
];

/// Validates the tunnel's options (the mongo shell's rules).
pub fn validate(raw: &RawOptions, parameters: &TlsParameters) -> Result<TunnelSettings, Error> {
    let values = Values(raw);
    if let Some(option) = SERVER_ONLY.iter().find(|o| values.given(o)) {
        return Err(Error::options(format!(
            "--{} is a server option; --{} makes mongossl a client tunnel",
            option.name, CLIENT.name
        )));
    }
    if !values.flag(&SSL) {
        return Err(Error::options(format!(
            "--{} needs --{}: the tunnel exists to speak SSL to the server",
            CLIENT.name, SSL.name
        )));
    }
    let upstream = values.text(&UPSTREAM).ok_or_else(|| {
        Error::options(format!(
            "--{} needs --{}: the remote SSL server as HOST:PORT",
            CLIENT.name, UPSTREAM.name
        ))
    })?;
    if upstream.contains('/') {
        return Err(Error::options(format!(
            "--{}: the tunnel connects over TCP to HOST:PORT, not to a unix socket",
            UPSTREAM.name
        )));
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
        pem_key_file: values.path(&SSL_PEM_KEY_FILE),
        pem_key_password: values
            .text(&SSL_PEM_KEY_PASSWORD)
            .cloned()
            .map(Password::new),
        ca_file: values.path(&SSL_CA_FILE),
        crl_file: values.path(&SSL_CRL_FILE),
        allow_invalid_certificates: values.flag(&SSL_ALLOW_INVALID_CERTIFICATES),
        allow_invalid_hostnames: values.flag(&SSL_ALLOW_INVALID_HOSTNAMES),
        host,
        parameters: parameters.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::raw::from_pairs as raw;

    #[test]
    fn needs_ssl_and_a_tcp_upstream() {
        let err = validate(
            &raw(&[("upstream", "db.example:27017")]),
            &TlsParameters::default(),
        )
        .expect_err("no ssl");
        assert!(err.to_string().contains("--client needs --ssl"), "{err}");
        let err =
            validate(&raw(&[("ssl", "true")]), &TlsParameters::default()).expect_err("no upstream");
        assert!(err.to_string().contains("--upstream"), "{err}");
        let err = validate(
            &raw(&[("ssl", "true"), ("upstream", "/tmp/x.sock")]),
            &TlsParameters::default(),
        )
        .expect_err("unix");
        assert!(err.to_string().contains("unix socket"), "{err}");
        let err = validate(
            &raw(&[
                ("ssl", "true"),
                ("upstream", "127.0.0.1:1"),
                ("sslOnNormalPorts", "true"),
            ]),
            &TlsParameters::default(),
        )
        .expect_err("server option");
        assert!(err.to_string().contains("server option"), "{err}");
    }

    #[test]
    fn keeps_the_host_name_for_verification() {
        let t = validate(
            &raw(&[("ssl", "true"), ("upstream", "localhost:27017")]),
            &TlsParameters::default(),
        )
        .expect("ok");
        assert_eq!(t.host, "localhost");
        let t = validate(
            &raw(&[("ssl", "true"), ("upstream", "[::1]:27017")]),
            &TlsParameters::default(),
        )
        .expect("ok");
        assert_eq!(t.host, "::1");
    }
}
