//! mongod's rules between options, each one function that reads as one
//! sentence of mongod's behaviour, applied in a fixed order to raw values
//! (twins already folded onto their `ssl*` names, see
//! `options::fold_twins`) to give a `Config`.

use std::path::PathBuf;
use std::time::Duration;

use super::address::{parse_bind_ip, parse_networks, parse_upstream};
use super::audit::audit_settings;
use super::options::ASK;
use super::parameters::{self, TlsParameters};
use super::protocols::{self, Protocols};
use super::raw::{RawOptions, Values};
use super::table::*;
use super::{Config, LogSettings, Password, ProxyProtocol, SslMode, SslSettings, tunnel};
use crate::error::Error;
use crate::fips::FipsRequest;

const DEFAULT_MAX_CONNS: usize = 1_000_000;
const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;
const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 15;

/// Applies mongod's rules to raw option values.
pub fn validate(raw: &RawOptions) -> Result<Config, Error> {
    let values = Values(raw);
    let mut warnings = Vec::new();
    let parameters = parameters::parse(values.text(&SET_PARAMETER).map(String::as_str))?;
    let tunnel = if values.flag(&CLIENT) {
        Some(tunnel::validate(raw, &parameters)?)
    } else {
        None
    };
    let mode = ssl_mode(values)?;
    if tunnel.is_none() {
        every_ssl_option_needs_ssl_on(values, mode)?;
    }
    let ssl = match mode {
        SslMode::Disabled => None,
        _ => Some(ssl_settings(values, mode, &parameters, &mut warnings)?),
    };
    if tunnel.is_none() {
        tunnel_options_need_client(values)?;
    }
    let fips = fips_request(values)?;
    let upstream = values.text(&UPSTREAM).ok_or_else(|| {
        Error::options(format!(
            "--{} is required: the plaintext mongod as HOST:PORT, [V6]:PORT or a unix socket path",
            UPSTREAM.name
        ))
    })?;
    let verbosity = if values.flag(&QUIET) {
        -1
    } else {
        values.number::<i8>(&VERBOSE)?.unwrap_or(0)
    };
    Ok(Config {
        port: values.number(&PORT)?.unwrap_or(super::DEFAULT_PORT),
        bind_ip: parse_bind_ip(values.text(&BIND_IP).map_or("127.0.0.1", String::as_str))?,
        upstream: parse_upstream(upstream)?,
        max_conns: at_least_one(values, &MAX_CONNS)?.unwrap_or(DEFAULT_MAX_CONNS),
        handshake_timeout: Duration::from_secs(
            at_least_one(values, &SSL_HANDSHAKE_TIMEOUT_SECS)?
                .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT_SECS),
        ),
        threads: match at_least_one(values, &THREADS)? {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        idle_timeout: values
            .number::<u64>(&IDLE_TIMEOUT_SECS)?
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs),
        shutdown_timeout: Duration::from_secs(
            values
                .number::<u64>(&SHUTDOWN_TIMEOUT_SECS)?
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
        ),
        upstream_proxy_protocol: match values.text(&UPSTREAM_PROXY_PROTOCOL) {
            Some(text) => ProxyProtocol::parse(text)?,
            None => ProxyProtocol::None,
        },
        proxy_protocol_from: match values.text(&PROXY_PROTOCOL_FROM) {
            Some(list) => parse_networks(list)?,
            None => Vec::new(),
        },
        metrics_listen: values
            .text(&METRICS_LISTEN)
            .map(|text| {
                text.parse().map_err(|_| {
                    Error::options(format!(
                        "--{}: '{text}' is not IP:PORT (such as 127.0.0.1:9216 or [::1]:9216)",
                        METRICS_LISTEN.name
                    ))
                })
            })
            .transpose()?,
        audit: audit_settings(values)?,
        mode,
        ssl,
        fips,
        log: LogSettings {
            verbosity,
            logpath: values.path(&LOGPATH),
            logappend: values.flag(&LOGAPPEND),
            json: log_format_is_json(values)?,
            syslog: syslog_facility(values)?,
        },
        tunnel,
        warnings,
    })
}

/// `sslMode` if given, else `sslOnNormalPorts` (= `requireSSL`), else off;
/// mongod refuses the two together, mongossl only when they disagree.
fn ssl_mode(values: Values) -> Result<SslMode, Error> {
    let on_normal_ports = values.flag(&SSL_ON_NORMAL_PORTS);
    match values.text(&SSL_MODE) {
        Some(text) => {
            let mode = SslMode::parse(text)?;
            if on_normal_ports && mode != SslMode::Require {
                return Err(Error::options(format!(
                    "--{} means --{} requireSSL and contradicts --{} {text}: give one",
                    SSL_ON_NORMAL_PORTS.name, SSL_MODE.name, SSL_MODE.name
                )));
            }
            Ok(mode)
        }
        None if on_normal_ports => Ok(SslMode::Require),
        None => Ok(SslMode::Disabled),
    }
}

/// The server role's SSL options, which all need SSL to be on.
const NEEDS_SSL: &[OptionSpec] = &[
    SSL_PEM_KEY_FILE,
    SSL_PEM_KEY_PASSWORD,
    SSL_CA_FILE,
    SSL_CRL_FILE,
    SSL_WEAK_CERTIFICATE_VALIDATION,
    SSL_ALLOW_INVALID_CERTIFICATES,
    SSL_DISABLED_PROTOCOLS,
    SSL_CIPHER_CONFIG,
    SSL_FIPS_MODE,
    SSL_FIPS_CONFIG,
    SSL_ALLOWED_CLIENTS,
    SSL_OCSP_REQUIRE,
];

/// mongod refuses an SSL option while SSL is off (the client tunnel reads
/// some of them as the mongo shell does, so it is not asked).
fn every_ssl_option_needs_ssl_on(values: Values, mode: SslMode) -> Result<(), Error> {
    match NEEDS_SSL.iter().find(|o| values.given(o)) {
        Some(option) if mode == SslMode::Disabled => Err(Error::options(format!(
            "--{} needs --{} (or --{} other than disabled): SSL is not enabled",
            option.name, SSL_ON_NORMAL_PORTS.name, SSL_MODE.name
        ))),
        _ => Ok(()),
    }
}

/// The listen port's SSL settings, once SSL is on.
fn ssl_settings(
    values: Values,
    mode: SslMode,
    parameters: &TlsParameters,
    warnings: &mut Vec<String>,
) -> Result<SslSettings, Error> {
    let pem_key_file = ssl_needs_a_key_file(values, mode)?;
    let ca_file = values.path(&SSL_CA_FILE);
    client_certificate_options_need_a_ca(values, ca_file.is_some())?;
    an_allow_list_is_of_verified_clients(values)?;
    ocsp_require_needs_ocsp(values, parameters)?;
    if parameters.use_system_ca && ca_file.is_none() {
        return Err(Error::options(format!(
            "--{} tlsUseSystemCA=true needs --{} on the server: mongossl asks clients for certificates only when a CA file is given",
            SET_PARAMETER.name, SSL_CA_FILE.name
        )));
    }
    warnings.extend(allowing_invalid_certificates_needs_a_ca(
        values,
        ca_file.is_some(),
    ));
    let protocols = match values.text(&SSL_DISABLED_PROTOCOLS) {
        Some(list) => {
            let parsed = protocols::parse(list).map_err(Error::options)?;
            warnings.extend(parsed.warning);
            parsed.protocols
        }
        None => Protocols::default(),
    };
    Ok(SslSettings {
        pem_key_file,
        pem_key_password: given_password(values),
        ca_file,
        crl_file: values.path(&SSL_CRL_FILE),
        weak_cert_validation: values.flag(&SSL_WEAK_CERTIFICATE_VALIDATION),
        allow_invalid_certificates: values.flag(&SSL_ALLOW_INVALID_CERTIFICATES),
        protocols,
        cipher_config: one_cipher_list(cipher_config_is_one_c_string(values)?, parameters)?,
        session_tickets: values.number::<usize>(&SSL_SESSION_TICKETS)?.unwrap_or(0),
        allowed_clients: values.path(&SSL_ALLOWED_CLIENTS),
        ocsp_require: values.flag(&SSL_OCSP_REQUIRE),
        parameters: parameters.clone(),
    })
}

/// `opensslCipherConfig` is mongod's later name for `sslCipherConfig`:
/// either may be given, or both alike.
fn one_cipher_list(
    option: Option<String>,
    parameters: &TlsParameters,
) -> Result<Option<String>, Error> {
    match (option, &parameters.tls12_ciphers) {
        (Some(a), Some(b)) if a != *b => Err(Error::options(format!(
            "--{} '{a}' and --{} opensslCipherConfig='{b}' disagree: give one",
            SSL_CIPHER_CONFIG.name, SET_PARAMETER.name
        ))),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b.clone()),
    }
}

/// An allow-list names verified client identities: it needs a CA to
/// verify them, and cannot stand beside the options that let clients in
/// without a verified certificate.
fn an_allow_list_is_of_verified_clients(values: Values) -> Result<(), Error> {
    if !values.given(&SSL_ALLOWED_CLIENTS) {
        return Ok(());
    }
    if !values.given(&SSL_CA_FILE) {
        return Err(Error::options(format!(
            "--{} needs --{}: only verified client certificates can be matched against it",
            SSL_ALLOWED_CLIENTS.name, SSL_CA_FILE.name
        )));
    }
    for option in [
        SSL_WEAK_CERTIFICATE_VALIDATION,
        SSL_ALLOW_INVALID_CERTIFICATES,
    ] {
        if values.flag(&option) {
            return Err(Error::options(format!(
                "--{} cannot stand beside --{}: that lets in clients without a verified identity to match",
                SSL_ALLOWED_CLIENTS.name, option.name
            )));
        }
    }
    Ok(())
}

/// `--sslOCSPRequire` hardens OCSP checks, which need OCSP on and a CA.
fn ocsp_require_needs_ocsp(values: Values, parameters: &TlsParameters) -> Result<(), Error> {
    if !values.flag(&SSL_OCSP_REQUIRE) {
        return Ok(());
    }
    if !parameters.ocsp_enabled {
        return Err(Error::options(format!(
            "--{} contradicts --{} ocspEnabled=false",
            SSL_OCSP_REQUIRE.name, SET_PARAMETER.name
        )));
    }
    if !values.given(&SSL_CA_FILE) {
        return Err(Error::options(format!(
            "--{} needs --{}: client certificates are only checked against a CA",
            SSL_OCSP_REQUIRE.name, SSL_CA_FILE.name
        )));
    }
    Ok(())
}

/// A server with SSL on needs its key and certificate.
fn ssl_needs_a_key_file(values: Values, mode: SslMode) -> Result<PathBuf, Error> {
    values.path(&SSL_PEM_KEY_FILE).ok_or_else(|| {
        let by = if values.written(&SSL_MODE) {
            format!("--{} {}", SSL_MODE.name, mode.as_str())
        } else {
            format!("--{}", SSL_ON_NORMAL_PORTS.name)
        };
        Error::options(format!(
            "{by} needs --{}: the server's key and certificate",
            SSL_PEM_KEY_FILE.name
        ))
    })
}

/// Weak validation and a CRL are about client certificates, which are
/// only asked for (and checked) when there is a CA to check them against.
fn client_certificate_options_need_a_ca(values: Values, has_ca: bool) -> Result<(), Error> {
    for option in [SSL_WEAK_CERTIFICATE_VALIDATION, SSL_CRL_FILE] {
        if !has_ca && values.given(&option) {
            return Err(Error::options(format!(
                "--{} needs --{}: client certificates are only checked against a CA",
                option.name, SSL_CA_FILE.name
            )));
        }
    }
    Ok(())
}

/// mongod takes `sslAllowInvalidCertificates` without a CA file; it just
/// has nothing to forgive, which deserves a warning.
fn allowing_invalid_certificates_needs_a_ca(values: Values, has_ca: bool) -> Option<String> {
    (!has_ca && values.flag(&SSL_ALLOW_INVALID_CERTIFICATES)).then(|| {
        format!(
            "--{} has no effect without --{}: client certificates are not requested",
            SSL_ALLOW_INVALID_CERTIFICATES.name, SSL_CA_FILE.name
        )
    })
}

/// OpenSSL takes the cipher list as a C string: an empty one, or a NUL
/// that would cut it short, is refused here rather than misread there.
fn cipher_config_is_one_c_string(values: Values) -> Result<Option<String>, Error> {
    let list = values.text(&SSL_CIPHER_CONFIG).cloned();
    if let Some(list) = list
        .as_ref()
        .filter(|l| l.trim().is_empty() || l.contains('\0'))
    {
        return Err(Error::options(format!(
            "--{}: '{}' is not an OpenSSL cipher list",
            SSL_CIPHER_CONFIG.name,
            list.escape_default()
        )));
    }
    Ok(list)
}

/// The key password as given; a bare option asks for it later (see
/// `config::from_args`), so it is no password yet.
fn given_password(values: Values) -> Option<Password> {
    values
        .text(&SSL_PEM_KEY_PASSWORD)
        .filter(|p| p.as_str() != ASK)
        .cloned()
        .map(Password::new)
}

/// The mongo shell's options of the client tunnel mean nothing to a server.
fn tunnel_options_need_client(values: Values) -> Result<(), Error> {
    for option in [SSL, SSL_ALLOW_INVALID_HOSTNAMES] {
        if values.flag(&option) {
            return Err(Error::options(format!(
                "--{} is a client tunnel option: give --{} too",
                option.name, CLIENT.name
            )));
        }
    }
    Ok(())
}

/// FIPS mode on request; its configuration file is only read in FIPS mode.
fn fips_request(values: Values) -> Result<Option<FipsRequest>, Error> {
    let fips = values.flag(&SSL_FIPS_MODE).then(|| FipsRequest {
        config: values.path(&SSL_FIPS_CONFIG),
    });
    if fips.is_none() && values.written(&SSL_FIPS_CONFIG) {
        return Err(Error::options(format!(
            "--{} needs --{}: the FIPS configuration is only read in FIPS mode",
            SSL_FIPS_CONFIG.name, SSL_FIPS_MODE.name
        )));
    }
    Ok(fips)
}

/// `--logFormat`: mongod 4.4+ logs JSON; mongossl's default is its text.
fn log_format_is_json(values: Values) -> Result<bool, Error> {
    match values.text(&LOG_FORMAT).map(String::as_str) {
        None | Some("text") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(Error::options(format!(
            "--{}: '{other}' is not one of json, text",
            LOG_FORMAT.name
        ))),
    }
}

/// `--syslog` and its facility; mongod refuses it beside `--logpath`.
fn syslog_facility(values: Values) -> Result<Option<u8>, Error> {
    if !values.flag(&SYSLOG) {
        if values.written(&SYSLOG_FACILITY) {
            return Err(Error::options(format!(
                "--{} needs --{}",
                SYSLOG_FACILITY.name, SYSLOG.name
            )));
        }
        return Ok(None);
    }
    if values.given(&LOGPATH) {
        return Err(Error::options(format!(
            "--{} and --{} cannot be used together: the log goes to one place",
            SYSLOG.name, LOGPATH.name
        )));
    }
    let name = values.text(&SYSLOG_FACILITY).map_or("user", String::as_str);
    match FACILITIES.iter().find(|(n, _)| *n == name) {
        Some((_, code)) => Ok(Some(*code)),
        None => Err(Error::options(format!(
            "--{}: '{name}' is not a syslog facility ({})",
            SYSLOG_FACILITY.name,
            FACILITIES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A limit or a timeout of zero would refuse or cut off every connection.
fn at_least_one<T>(values: Values, option: &OptionSpec) -> Result<Option<T>, Error>
where
    T: std::str::FromStr + PartialEq + From<u8>,
{
    match values.number::<T>(option)? {
        Some(n) if n == T::from(0) => Err(Error::options(format!(
            "--{} must be at least 1",
            option.name
        ))),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::raw::from_pairs as raw;

    #[test]
    fn ssl_options_need_ssl_on() {
        let err = validate(&raw(&[("upstream", "127.0.0.1:1"), ("sslCAFile", "/ca")]))
            .expect_err("no ssl");
        assert!(
            err.to_string()
                .contains("--sslCAFile needs --sslOnNormalPorts"),
            "{err}"
        );
    }

    #[test]
    fn ssl_on_needs_key_file() {
        let err = validate(&raw(&[
            ("upstream", "127.0.0.1:1"),
            ("sslOnNormalPorts", "true"),
        ]))
        .expect_err("no pem");
        assert!(err.to_string().contains("needs --sslPEMKeyFile"), "{err}");
    }

    #[test]
    fn weak_and_crl_need_ca() {
        for name in ["sslWeakCertificateValidation", "sslCRLFile"] {
            let value = if name == "sslCRLFile" { "/crl" } else { "true" };
            let err = validate(&raw(&[
                ("upstream", "127.0.0.1:1"),
                ("sslOnNormalPorts", "true"),
                ("sslPEMKeyFile", "/k"),
                (name, value),
            ]))
            .expect_err("no ca");
            assert!(err.to_string().contains("needs --sslCAFile"), "{err}");
        }
    }

    #[test]
    fn false_flags_are_off() {
        let cfg = validate(&raw(&[
            ("upstream", "127.0.0.1:1"),
            ("sslOnNormalPorts", "false"),
            ("sslWeakCertificateValidation", "false"),
        ]))
        .expect("valid");
        assert!(cfg.ssl.is_none());
    }

    #[test]
    fn upstream_is_required_and_numbers_checked() {
        assert!(
            validate(&raw(&[]))
                .expect_err("none")
                .to_string()
                .contains("--upstream")
        );
        let err = validate(&raw(&[("upstream", "127.0.0.1:1"), ("port", "x")])).expect_err("port");
        assert!(err.to_string().contains("--port"), "{err}");
        let err = validate(&raw(&[
            ("upstream", "127.0.0.1:1"),
            ("bind_ip", "300.1.1.1"),
        ]))
        .expect_err("bind");
        assert!(err.to_string().contains("--bind_ip"), "{err}");
    }

    const KEY: (&str, &str) = ("sslPEMKeyFile", "/k");
    const UP: (&str, &str) = ("upstream", "127.0.0.1:1");

    #[test]
    fn modes() {
        let mode = |pairs: &[(&'static str, &str)]| {
            validate(&raw(pairs)).map(|c| (c.mode, c.ssl.is_some()))
        };
        assert_eq!(mode(&[UP]).expect("off"), (SslMode::Disabled, false));
        assert_eq!(
            mode(&[UP, KEY, ("sslOnNormalPorts", "true")]).expect("on"),
            (SslMode::Require, true)
        );
        for (text, expected) in [
            ("allowSSL", SslMode::Allow),
            ("preferSSL", SslMode::Prefer),
            ("requireSSL", SslMode::Require),
        ] {
            assert_eq!(
                mode(&[UP, KEY, ("sslMode", text)]).expect(text),
                (expected, true)
            );
        }
        assert_eq!(
            mode(&[UP, ("sslMode", "disabled")]).expect("disabled"),
            (SslMode::Disabled, false)
        );
        assert_eq!(
            mode(&[
                UP,
                KEY,
                ("sslMode", "requireSSL"),
                ("sslOnNormalPorts", "true")
            ])
            .expect("agree"),
            (SslMode::Require, true)
        );
        let err = mode(&[UP, ("sslMode", "preferSSL")]).expect_err("no key");
        assert!(
            err.to_string()
                .contains("--sslMode preferSSL needs --sslPEMKeyFile"),
            "{err}"
        );
        let err = mode(&[
            UP,
            KEY,
            ("sslMode", "allowSSL"),
            ("sslOnNormalPorts", "true"),
        ])
        .expect_err("contradiction");
        assert!(err.to_string().contains("contradicts"), "{err}");
        let err = mode(&[UP, KEY, ("sslMode", "requireTLS")]).expect_err("tls spelling");
        assert!(err.to_string().contains("--sslMode"), "{err}");
        let err = mode(&[UP, KEY, ("sslMode", "disabled")]).expect_err("key without ssl");
        assert!(err.to_string().contains("--sslPEMKeyFile needs"), "{err}");
    }

    #[test]
    fn new_ssl_options() {
        let on = [UP, KEY, ("sslOnNormalPorts", "true")];
        let with = |extra: &[(&'static str, &str)]| {
            let mut pairs = on.to_vec();
            pairs.extend_from_slice(extra);
            validate(&raw(&pairs))
        };
        let cfg = with(&[
            ("sslDisabledProtocols", "TLS1_2"),
            ("sslCipherConfig", "HIGH"),
        ])
        .expect("valid");
        let ssl = cfg.ssl.expect("ssl");
        assert_eq!(
            ssl.protocols,
            Protocols {
                tls1_2: false,
                tls1_3: true
            }
        );
        assert_eq!(ssl.cipher_config.as_deref(), Some("HIGH"));
        assert!(with(&[("sslDisabledProtocols", "TLS1_2,TLS1_3")]).is_err());
        assert!(with(&[("sslCipherConfig", "HIGH\0:NULL")]).is_err());
        assert!(with(&[("sslCipherConfig", " ")]).is_err());
        // mongod accepts it without a CA file; here it warns that it does nothing.
        let cfg = with(&[("sslAllowInvalidCertificates", "true")]).expect("valid");
        assert!(
            cfg.warnings.iter().any(|w| w.contains("no effect")),
            "{:?}",
            cfg.warnings
        );
        let cfg = with(&[("sslDisabledProtocols", "none")]).expect("valid");
        assert!(
            cfg.warnings.iter().any(|w| w.contains("stay disabled")),
            "{:?}",
            cfg.warnings
        );
        let err = validate(&raw(&[UP, ("sslAllowInvalidCertificates", "true")])).expect_err("off");
        assert!(
            err.to_string().contains("needs --sslOnNormalPorts"),
            "{err}"
        );
    }

    #[test]
    fn bare_password_is_not_a_password() {
        let cfg = validate(&raw(&[
            UP,
            KEY,
            ("sslOnNormalPorts", "true"),
            ("sslPEMKeyPassword", ASK),
        ]))
        .expect("valid");
        assert!(cfg.ssl.expect("ssl").pem_key_password.is_none());
    }
}
