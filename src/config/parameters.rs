//! mongod's `--setParameter name=value` (and the config file's
//! `setParameter:` section), for the TLS parameters that mean something in
//! front of mongod: their names, defaults and checks, read into one
//! `TlsParameters`. Any other name stops start-up with an error naming
//! it, so a parameter is never silently ignored.

use std::path::PathBuf;
use std::time::Duration;

use super::raw::parse_bool;
use super::table::SET_PARAMETER;
use crate::error::Error;

/// The TLS parameters, with mongod's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParameters {
    /// `ocspEnabled`: check client certificates (and, on the tunnel, the
    /// server's) with their OCSP responder, and staple the server's own.
    pub ocsp_enabled: bool,
    /// `tlsOCSPVerifyTimeoutSecs`: how long a responder may take to answer.
    pub ocsp_verify_timeout: Duration,
    /// `tlsOCSPStaplingTimeoutSecs`: the same for fetching the server's
    /// own status; mongod's -1 means "as `tlsOCSPVerifyTimeoutSecs`".
    pub ocsp_stapling_timeout: Duration,
    /// `ocspStaplingRefreshPeriodSecs`: `None` (mongod's -1) refreshes the
    /// stapled response half way to its nextUpdate.
    pub ocsp_stapling_refresh: Option<Duration>,
    /// `ocspValidationRefreshPeriodSecs`: how long a client certificate's
    /// answer is kept; `None` (-1) keeps it until its nextUpdate.
    pub ocsp_validation_refresh: Option<Duration>,
    /// `tlsX509ExpirationWarningThresholdDays`: warn this many days before
    /// a certificate or CRL runs out (0: never).
    pub expiry_warning_days: u32,
    /// `opensslCipherSuiteConfig`: the TLS 1.3 suites, replacing mongossl's.
    pub tls13_suites: Option<String>,
    /// `opensslCipherConfig`: the TLS 1.2 list, mongod's later spelling of
    /// `--sslCipherConfig`.
    pub tls12_ciphers: Option<String>,
    /// `opensslDiffieHellmanParameters`: a PEM file of DH parameters for
    /// DHE suites named by the cipher list.
    pub dh_parameters: Option<PathBuf>,
    /// `sslWithholdClientCertificate` / `tlsWithholdClientCertificate`:
    /// the tunnel presents no client certificate.
    pub withhold_client_certificate: bool,
    /// `suppressNoTLSPeerCertificateWarning`: no warning for a client let
    /// in without a certificate under weak validation.
    pub suppress_no_peer_certificate_warning: bool,
    /// `tlsUseSystemCA`: trust the system's CA certificates too.
    pub use_system_ca: bool,
}

impl Default for TlsParameters {
    fn default() -> TlsParameters {
        TlsParameters {
            ocsp_enabled: true,
            ocsp_verify_timeout: Duration::from_secs(5),
            ocsp_stapling_timeout: Duration::from_secs(5),
            ocsp_stapling_refresh: None,
            ocsp_validation_refresh: None,
            expiry_warning_days: 30,
            tls13_suites: None,
            tls12_ciphers: None,
            dh_parameters: None,
            withhold_client_certificate: false,
            suppress_no_peer_certificate_warning: false,
            use_system_ca: false,
        }
    }
}

/// mongod parameters that mongossl knows and cannot honour in front of
/// mongod: they belong on mongod itself (or on a cluster member).
const MONGOD_ONLY: &[&str] = &[
    "authenticationMechanisms",
    "enableLocalhostAuthBypass",
    "tlsCATrusts",
    "sslMode",
    "tlsMode",
    "clusterAuthMode",
    "disableNonTLSConnectionLogging",
    "disableNonSSLConnectionLogging",
    "tlsClusterAuthX509Override",
    "tlsUseSystemCAForClusterAuth",
    "opensslCipherSuiteConfigForCluster",
    "enableTestCommands",
    "diagnosticDataCollectionEnabled",
];

/// Reads `name=value` lines (later lines win, so the command line beats
/// the file) into the TLS parameters.
pub fn parse(lines: Option<&str>) -> Result<TlsParameters, Error> {
    let mut params = TlsParameters::default();
    let mut stapling_timeout = None;
    for line in lines.into_iter().flat_map(str::lines) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(bad(line, "expected NAME=VALUE (such as ocspEnabled=false)"));
        };
        let (name, value) = (name.trim(), value.trim());
        let secs = |v: &str| seconds(name, v);
        match name {
            "ocspEnabled" => params.ocsp_enabled = flag(name, value)?,
            "tlsOCSPVerifyTimeoutSecs" => {
                params.ocsp_verify_timeout = secs(value)?.ok_or_else(|| at_least_one(name))?
            }
            "tlsOCSPStaplingTimeoutSecs" => stapling_timeout = Some(secs(value)?),
            "ocspStaplingRefreshPeriodSecs" => params.ocsp_stapling_refresh = secs(value)?,
            "ocspValidationRefreshPeriodSecs" => params.ocsp_validation_refresh = secs(value)?,
            "tlsX509ExpirationWarningThresholdDays" => {
                params.expiry_warning_days = value.parse().map_err(|_| {
                    bad(
                        name,
                        &format!("'{value}' is not a number of days (0 or more)"),
                    )
                })?
            }
            "opensslCipherSuiteConfig" => params.tls13_suites = Some(c_string(name, value)?),
            "opensslCipherConfig" => params.tls12_ciphers = Some(c_string(name, value)?),
            "opensslDiffieHellmanParameters" => {
                params.dh_parameters = Some(PathBuf::from(c_string(name, value)?))
            }
            "sslWithholdClientCertificate" | "tlsWithholdClientCertificate" => {
                params.withhold_client_certificate = flag(name, value)?
            }
            "suppressNoTLSPeerCertificateWarning" => {
                params.suppress_no_peer_certificate_warning = flag(name, value)?
            }
            "tlsUseSystemCA" => params.use_system_ca = flag(name, value)?,
            _ if MONGOD_ONLY.contains(&name) => {
                return Err(bad(
                    name,
                    "a mongod parameter that mongossl cannot honour in front of mongod: set it on mongod",
                ));
            }
            _ => {
                return Err(bad(
                    name,
                    "not a TLS parameter mongossl knows (see docs/configuration.md, \"setParameter\")",
                ));
            }
        }
    }
    // -1 (or no value) means "as long as tlsOCSPVerifyTimeoutSecs".
    params.ocsp_stapling_timeout = stapling_timeout
        .flatten()
        .unwrap_or(params.ocsp_verify_timeout);
    Ok(params)
}

fn bad(what: &str, why: &str) -> Error {
    Error::options(format!("--{} {what}: {why}", SET_PARAMETER.name))
}

fn at_least_one(name: &str) -> Error {
    bad(name, "must be 1 or more seconds")
}

fn flag(name: &str, value: &str) -> Result<bool, Error> {
    parse_bool(value).ok_or_else(|| bad(name, &format!("'{value}' is not true or false")))
}

/// Seconds, 1 or more; mongod's -1 means "not set" (`None`).
fn seconds(name: &str, value: &str) -> Result<Option<Duration>, Error> {
    match value.parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(n) if n >= 1 => Ok(Some(Duration::from_secs(n.unsigned_abs()))),
        _ => Err(bad(
            name,
            &format!(
                "'{value}' is not a number of seconds (1 or more, or -1 for mongod's default)"
            ),
        )),
    }
}

/// OpenSSL takes these as C strings: an empty one, or one with a NUL that
/// would cut it short, is refused here rather than misread there.
fn c_string(name: &str, value: &str) -> Result<String, Error> {
    if value.is_empty() || value.contains('\0') {
        return Err(bad(name, "needs a value"));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_mongods() {
        let params = parse(None).expect("no parameters");
        assert!(params.ocsp_enabled);
        assert_eq!(params.ocsp_verify_timeout, Duration::from_secs(5));
        assert_eq!(params.ocsp_stapling_timeout, Duration::from_secs(5));
        assert_eq!(params.expiry_warning_days, 30);
        assert_eq!(params, TlsParameters::default());
    }

    #[test]
    fn every_parameter_is_read() {
        let params = parse(Some(
            "ocspEnabled=false\ntlsOCSPVerifyTimeoutSecs=2\nocspStaplingRefreshPeriodSecs=600\n\
             ocspValidationRefreshPeriodSecs=-1\ntlsX509ExpirationWarningThresholdDays=0\n\
             opensslCipherSuiteConfig=TLS_AES_256_GCM_SHA384\nopensslCipherConfig=ECDHE+AESGCM\n\
             opensslDiffieHellmanParameters=/etc/dh.pem\ntlsWithholdClientCertificate=true\n\
             suppressNoTLSPeerCertificateWarning=1\ntlsUseSystemCA=yes",
        ))
        .expect("valid");
        assert_eq!(
            params,
            TlsParameters {
                ocsp_enabled: false,
                ocsp_verify_timeout: Duration::from_secs(2),
                // Follows the verify timeout when not given.
                ocsp_stapling_timeout: Duration::from_secs(2),
                ocsp_stapling_refresh: Some(Duration::from_secs(600)),
                ocsp_validation_refresh: None,
                expiry_warning_days: 0,
                tls13_suites: Some("TLS_AES_256_GCM_SHA384".into()),
                tls12_ciphers: Some("ECDHE+AESGCM".into()),
                dh_parameters: Some(PathBuf::from("/etc/dh.pem")),
                withhold_client_certificate: true,
                suppress_no_peer_certificate_warning: true,
                use_system_ca: true,
            }
        );
    }

    #[test]
    fn later_lines_win() {
        let params = parse(Some("ocspEnabled=false\nocspEnabled=true")).expect("valid");
        assert!(params.ocsp_enabled);
    }

    #[test]
    fn errors_name_the_parameter() {
        for (lines, needle) in [
            ("ocspEnabled", "NAME=VALUE"),
            ("ocspEnabled=maybe", "ocspEnabled: 'maybe'"),
            (
                "tlsOCSPVerifyTimeoutSecs=0",
                "tlsOCSPVerifyTimeoutSecs: '0'",
            ),
            (
                "tlsOCSPVerifyTimeoutSecs=-1",
                "tlsOCSPVerifyTimeoutSecs: must be",
            ),
            (
                "tlsX509ExpirationWarningThresholdDays=-3",
                "not a number of days",
            ),
            ("opensslCipherSuiteConfig=", "needs a value"),
            ("enableLocalhostAuthBypass=false", "cannot honour"),
            ("ocspEnable=false", "ocspEnable: not a TLS parameter"),
        ] {
            let err = parse(Some(lines)).expect_err(lines).to_string();
            assert!(
                err.contains(needle) && err.contains("--setParameter"),
                "{lines}: {err}"
            );
        }
    }
}
