//! Turns the command line and the config file into one validated `Config`,
//! applying mongod's rules between the SSL options before anything binds.

pub mod address;
pub mod audit;
pub mod file;
pub mod options;
pub mod parameters;
pub mod password;
pub mod protocols;
pub mod raw;
pub mod table;
pub mod tunnel;
pub mod validate;
pub mod yaml;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::fips::FipsRequest;
pub use address::{Network, parse_upstream};
pub use audit::{AuditDestination, AuditFormat, AuditSettings};
pub use parameters::TlsParameters;
use protocols::Protocols;
use raw::RawOptions;
use table::{CONFIG, HELP, SSL_MODE, SSL_PEM_KEY_PASSWORD, VERSION};
pub use tunnel::TunnelSettings;
pub use validate::validate;

/// What `main` should do.
#[derive(Debug)]
pub enum Command {
    Help,
    Version,
    Serve(Box<Config>),
}

/// A validated configuration of the server role.
#[derive(Debug)]
pub struct Config {
    pub port: u16,
    pub bind_ip: Vec<IpAddr>,
    pub upstream: Upstream,
    pub max_conns: usize,
    pub handshake_timeout: Duration,
    /// Event loops (threads).
    pub threads: usize,
    pub shutdown_timeout: Duration,
    /// `None`: relayed connections may idle for ever (the default).
    pub idle_timeout: Option<Duration>,
    /// mongod's `sslMode`; `--sslOnNormalPorts` is `Require`.
    pub mode: SslMode,
    /// `Some` exactly when `mode` is not `Disabled`.
    pub ssl: Option<SslSettings>,
    pub fips: Option<FipsRequest>,
    pub log: LogSettings,
    /// The PROXY header each upstream connection begins with.
    pub upstream_proxy_protocol: ProxyProtocol,
    /// Load balancers that must send a PROXY header (`--proxyProtocolFrom`).
    pub proxy_protocol_from: Vec<Network>,
    /// Where Prometheus scrapes the metrics (`--metricsListen`).
    pub metrics_listen: Option<SocketAddr>,
    /// The audit log (`--auditDestination` and friends).
    pub audit: Option<AuditSettings>,
    /// `Some` in the client-tunnel role (`--client`).
    pub tunnel: Option<TunnelSettings>,
    /// Things worth a warning that were found before logging was set up
    /// (ignored config-file keys, options without effect): `main` logs
    /// them once the logger exists, so they land in `--logpath` too.
    pub warnings: Vec<String>,
}

/// mongod's `sslMode` (`tlsMode`): which connections on the listen port
/// use SSL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext only.
    Disabled,
    /// Plaintext and SSL clients; mongod's own outgoing connections would
    /// be plaintext.
    Allow,
    /// Plaintext and SSL clients; outgoing connections would use SSL.
    Prefer,
    /// SSL only.
    Require,
}

impl SslMode {
    /// `sslMode`'s spelling, as mongod writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disabled => "disabled",
            SslMode::Allow => "allowSSL",
            SslMode::Prefer => "preferSSL",
            SslMode::Require => "requireSSL",
        }
    }

    pub(super) fn parse(text: &str) -> Result<SslMode, Error> {
        match text {
            "disabled" => Ok(SslMode::Disabled),
            "allowSSL" => Ok(SslMode::Allow),
            "preferSSL" => Ok(SslMode::Prefer),
            "requireSSL" => Ok(SslMode::Require),
            _ => Err(Error::options(format!(
                "--{}: '{text}' is not one of disabled, allowSSL, preferSSL, requireSSL",
                SSL_MODE.name
            ))),
        }
    }
}

/// `--upstreamProxyProtocol`: which PROXY header, if any, goes to mongod
/// before the client's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    #[default]
    None,
    V1,
    V2,
}

impl ProxyProtocol {
    pub(super) fn parse(text: &str) -> Result<ProxyProtocol, Error> {
        match text {
            "none" => Ok(ProxyProtocol::None),
            "v1" | "1" => Ok(ProxyProtocol::V1),
            "v2" | "2" => Ok(ProxyProtocol::V2),
            _ => Err(Error::options(format!(
                "--{}: '{text}' is not one of none, v1, v2",
                table::UPSTREAM_PROXY_PROTOCOL.name
            ))),
        }
    }
}

/// The SSL options of the listen port.
#[derive(Debug, Clone)]
pub struct SslSettings {
    pub pem_key_file: PathBuf,
    pub pem_key_password: Option<Password>,
    pub ca_file: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    pub weak_cert_validation: bool,
    /// mongod's `sslAllowInvalidCertificates` on a server: a client whose
    /// certificate fails validation is let in, with a warning.
    pub allow_invalid_certificates: bool,
    /// The TLS versions left after `sslDisabledProtocols`.
    pub protocols: Protocols,
    /// `sslCipherConfig`: an OpenSSL TLS 1.2 cipher list replacing the
    /// default one; checked when the context is built.
    pub cipher_config: Option<String>,
    /// TLS 1.3 session tickets sent after each full handshake.
    pub session_tickets: usize,
    /// `--sslAllowedClients`: the rule file verified clients must match.
    pub allowed_clients: Option<PathBuf>,
    /// `--sslOCSPRequire`: a client whose OCSP status cannot be had is
    /// refused rather than let in with a warning.
    pub ocsp_require: bool,
    /// mongod's TLS `--setParameter`s.
    pub parameters: TlsParameters,
}

/// Logging options.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    /// 0 = normal, 1 = `-v`, 2 = `-vv`, ...; -1 = `--quiet`.
    pub verbosity: i8,
    pub logpath: Option<PathBuf>,
    pub logappend: bool,
    /// `--logFormat json`: mongod 4.4+'s JSON lines.
    pub json: bool,
    /// `--syslog`: the facility's code.
    pub syslog: Option<u8>,
}

/// A private-key password. Its `Debug` never shows it, so it cannot leak
/// into a log line by accident.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(text: String) -> Password {
        Password(text)
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

/// Where the plaintext mongod listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Tcp(addr) => write!(f, "{addr}"),
            Upstream::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

pub const DEFAULT_PORT: u16 = 27017;

/// Parses the command line (without the program name), reads the config
/// file it names, and validates the result.
pub fn from_args(args: &[String]) -> Result<Command, Error> {
    let cli = options::from_args(args)?;
    if cli.contains_key(HELP.name) {
        return Ok(Command::Help);
    }
    if cli.contains_key(VERSION.name) {
        return Ok(Command::Version);
    }
    let (mut merged, file_warnings) = match cli.get(CONFIG.name) {
        Some(path) => {
            let read = file::read(&PathBuf::from(path))?;
            (read.raw, read.warnings)
        }
        None => (RawOptions::new(), Vec::new()),
    };
    raw::overlay(&mut merged, cli);
    let mut config = validate(&merged)?;
    // The file's warnings first: they come from earlier in start-up.
    let validation_warnings = std::mem::replace(&mut config.warnings, file_warnings);
    config.warnings.extend(validation_warnings);
    // Asked for only now that every other option is known to be right,
    // so nobody types a password for a command line that fails anyway.
    let ask = merged.get(SSL_PEM_KEY_PASSWORD.name).map(String::as_str) == Some(options::ASK);
    if ask {
        if let Some(ssl) = config.ssl.as_mut() {
            ssl.pem_key_password = password::obtain()?;
        } else if let Some(tunnel) = config.tunnel.as_mut() {
            tunnel.pem_key_password = password::obtain()?;
        }
    }
    Ok(Command::Serve(Box::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_debug_is_hidden() {
        let p = Password::new("s3cret".into());
        assert!(!format!("{p:?}").contains("s3cret"));
    }
}
