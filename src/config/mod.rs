//! Turns the command line and the config file into one validated `Config`,
//! applying mongod's rules between the SSL options before anything binds.

pub mod file;
pub mod options;
pub mod tunnel;

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::fips::FipsRequest;
use options::RawOptions;
pub use tunnel::TunnelSettings;

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
    /// `None` when `sslOnNormalPorts` is off: plaintext relay.
    pub ssl: Option<SslSettings>,
    pub fips: Option<FipsRequest>,
    pub log: LogSettings,
    /// `Some` in the client-tunnel role (`--client`).
    pub tunnel: Option<TunnelSettings>,
}

/// The SSL options of the listen port.
#[derive(Debug, Clone)]
pub struct SslSettings {
    pub pem_key_file: PathBuf,
    pub pem_key_password: Option<Password>,
    pub ca_file: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    pub weak_cert_validation: bool,
}

/// Logging options.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    /// 0 = normal, 1 = `-v`, 2 = `-vv`, ...; -1 = `--quiet`.
    pub verbosity: i8,
    pub logpath: Option<PathBuf>,
    pub logappend: bool,
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
const DEFAULT_MAX_CONNS: usize = 1_000_000;
const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;
const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 15;

/// Parses the command line (without the program name), reads the config
/// file it names, and validates the result.
pub fn from_args(args: &[String]) -> Result<Command, Error> {
    let cli = options::from_args(args)?;
    if cli.contains_key("help") {
        return Ok(Command::Help);
    }
    if cli.contains_key("version") {
        return Ok(Command::Version);
    }
    let mut merged = match cli.get("config") {
        Some(path) => file::read(&PathBuf::from(path))?,
        None => RawOptions::new(),
    };
    merged.extend(cli);
    validate(&merged).map(|c| Command::Serve(Box::new(c)))
}

/// Applies mongod's rules to raw option values.
pub fn validate(raw: &RawOptions) -> Result<Config, Error> {
    let flag = |name: &str| raw.get(name).is_some_and(|v| v == "true");
    let tunnel = if flag("client") {
        Some(tunnel::validate(raw)?)
    } else {
        None
    };
    let ssl_on = flag("sslOnNormalPorts");

    // mongod's rule: every SSL option needs SSL to be on.
    const NEEDS_SSL: &[&str] = &[
        "sslPEMKeyFile",
        "sslPEMKeyPassword",
        "sslCAFile",
        "sslCRLFile",
        "sslWeakCertificateValidation",
        "sslFIPSMode",
        "sslFIPSConfig",
    ];
    if !ssl_on && tunnel.is_none() {
        let given = NEEDS_SSL
            .iter()
            .find(|name| raw.get(**name).is_some_and(|v| v != "false"));
        if let Some(name) = given {
            return Err(Error::options(format!(
                "--{name} needs --sslOnNormalPorts: SSL is not enabled"
            )));
        }
    }

    let ssl = if ssl_on {
        let pem_key_file = raw.get("sslPEMKeyFile").ok_or_else(|| {
            Error::options(
                "--sslOnNormalPorts needs --sslPEMKeyFile: the server's key and certificate",
            )
        })?;
        let ca_file = raw.get("sslCAFile").map(PathBuf::from);
        for name in ["sslWeakCertificateValidation", "sslCRLFile"] {
            if ca_file.is_none() && raw.get(name).is_some_and(|v| v != "false") {
                return Err(Error::options(format!(
                    "--{name} needs --sslCAFile: client certificates are only checked against a CA"
                )));
            }
        }
        Some(SslSettings {
            pem_key_file: PathBuf::from(pem_key_file),
            pem_key_password: raw.get("sslPEMKeyPassword").cloned().map(Password),
            ca_file,
            crl_file: raw.get("sslCRLFile").map(PathBuf::from),
            weak_cert_validation: flag("sslWeakCertificateValidation"),
        })
    } else {
        None
    };

    if tunnel.is_none() {
        for name in ["ssl", "sslAllowInvalidHostnames"] {
            if flag(name) {
                return Err(Error::options(format!(
                    "--{name} is a client tunnel option: give --client too"
                )));
            }
        }
    }
    let fips = flag("sslFIPSMode").then(|| FipsRequest {
        config: raw.get("sslFIPSConfig").map(PathBuf::from),
    });
    if fips.is_none() && raw.contains_key("sslFIPSConfig") {
        return Err(Error::options(
            "--sslFIPSConfig needs --sslFIPSMode: the FIPS configuration is only read in FIPS mode",
        ));
    }

    let upstream = raw.get("upstream").ok_or_else(|| {
        Error::options("--upstream is required: the plaintext mongod as HOST:PORT, [V6]:PORT or a unix socket path")
    })?;

    let verbosity = if flag("quiet") {
        -1
    } else {
        number::<i8>(raw, "verbose")?.unwrap_or(0)
    };

    Ok(Config {
        port: number(raw, "port")?.unwrap_or(DEFAULT_PORT),
        bind_ip: parse_bind_ip(raw.get("bind_ip").map_or("127.0.0.1", String::as_str))?,
        upstream: parse_upstream(upstream)?,
        max_conns: match number::<usize>(raw, "maxConns")? {
            Some(0) => return Err(Error::options("--maxConns must be at least 1")),
            Some(n) => n,
            None => DEFAULT_MAX_CONNS,
        },
        handshake_timeout: match number::<u64>(raw, "sslHandshakeTimeoutSecs")? {
            Some(0) => {
                return Err(Error::options(
                    "--sslHandshakeTimeoutSecs must be at least 1",
                ));
            }
            Some(n) => Duration::from_secs(n),
            None => Duration::from_secs(DEFAULT_HANDSHAKE_TIMEOUT_SECS),
        },
        threads: match number::<usize>(raw, "threads")? {
            Some(0) => return Err(Error::options("--threads must be at least 1")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        idle_timeout: number::<u64>(raw, "idleTimeoutSecs")?
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs),
        shutdown_timeout: Duration::from_secs(
            number::<u64>(raw, "shutdownTimeoutSecs")?.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
        ),
        ssl,
        fips,
        log: LogSettings {
            verbosity,
            logpath: raw.get("logpath").map(PathBuf::from),
            logappend: flag("logappend"),
        },
        tunnel,
    })
}

fn number<T: std::str::FromStr>(raw: &RawOptions, name: &str) -> Result<Option<T>, Error> {
    raw.get(name)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| Error::options(format!("--{name}: '{v}' is not a valid number")))
        })
        .transpose()
}

fn parse_bind_ip(list: &str) -> Result<Vec<IpAddr>, Error> {
    let addrs = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let bare = s.trim_start_matches('[').trim_end_matches(']');
            match bare {
                "localhost" => Ok(IpAddr::from([127, 0, 0, 1])),
                _ => bare.parse::<IpAddr>().map_err(|_| {
                    Error::options(format!("--bind_ip: '{s}' is not an IPv4 or IPv6 address"))
                }),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err(Error::options("--bind_ip: no address given"));
    }
    Ok(addrs)
}

/// `HOST:PORT`, `[V6]:PORT`, or a path (anything with a `/`) for a unix
/// socket. Host names are resolved once, at start-up.
pub fn parse_upstream(text: &str) -> Result<Upstream, Error> {
    if text.contains('/') {
        return Ok(Upstream::Unix(PathBuf::from(text)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Upstream::Tcp(addr));
    }
    let bad = |why: &str| Error::options(format!("--upstream '{text}': {why}"));
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT, [V6]:PORT or a unix socket path"))?;
    let port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
    let mut addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| bad(&format!("cannot resolve '{host}': {e}")))?;
    addrs
        .next()
        .map(Upstream::Tcp)
        .ok_or_else(|| bad(&format!("'{host}' has no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&'static str, &str)]) -> RawOptions {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

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
    fn upstream_forms() {
        assert_eq!(
            parse_upstream("127.0.0.1:27018").expect("v4"),
            Upstream::Tcp("127.0.0.1:27018".parse().expect("addr"))
        );
        assert_eq!(
            parse_upstream("[::1]:27018").expect("v6"),
            Upstream::Tcp("[::1]:27018".parse().expect("addr"))
        );
        assert_eq!(
            parse_upstream("/tmp/mongodb-27018.sock").expect("unix"),
            Upstream::Unix(PathBuf::from("/tmp/mongodb-27018.sock"))
        );
        assert!(parse_upstream("localhost:27018").is_ok());
        assert!(parse_upstream("nonsense").is_err());
        assert!(parse_upstream("127.0.0.1:notaport").is_err());
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

    #[test]
    fn password_debug_is_hidden() {
        let p = Password::new("s3cret".into());
        assert!(!format!("{p:?}").contains("s3cret"));
    }
}
