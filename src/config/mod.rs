//! Turns the command line and the config file into one validated `Config`,
//! applying mongod's rules between the SSL options before anything binds.

pub mod file;
pub mod options;
pub mod password;
pub mod protocols;
pub mod tunnel;
pub mod yaml;

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::fips::FipsRequest;
use options::RawOptions;
use protocols::Protocols;
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
    /// mongod's `sslMode`; `--sslOnNormalPorts` is `Require`.
    pub mode: SslMode,
    /// `Some` exactly when `mode` is not `Disabled`.
    pub ssl: Option<SslSettings>,
    pub fips: Option<FipsRequest>,
    pub log: LogSettings,
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

    fn parse(text: &str) -> Result<SslMode, Error> {
        match text {
            "disabled" => Ok(SslMode::Disabled),
            "allowSSL" => Ok(SslMode::Allow),
            "preferSSL" => Ok(SslMode::Prefer),
            "requireSSL" => Ok(SslMode::Require),
            _ => Err(Error::options(format!(
                "--sslMode: '{text}' is not one of disabled, allowSSL, preferSSL, requireSSL"
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
    let (mut merged, file_warnings) = match cli.get("config") {
        Some(path) => {
            let read = file::read(&PathBuf::from(path))?;
            (read.raw, read.warnings)
        }
        None => (RawOptions::new(), Vec::new()),
    };
    merged.extend(cli);
    let mut config = validate(&merged)?;
    // The file's warnings first: they come from earlier in start-up.
    let validation_warnings = std::mem::replace(&mut config.warnings, file_warnings);
    config.warnings.extend(validation_warnings);
    // Asked for only now that every other option is known to be right,
    // so nobody types a password for a command line that fails anyway.
    let ask = merged.get("sslPEMKeyPassword").map(String::as_str) == Some(options::ASK);
    if ask {
        if let Some(ssl) = config.ssl.as_mut() {
            ssl.pem_key_password = password::obtain()?;
        } else if let Some(tunnel) = config.tunnel.as_mut() {
            tunnel.pem_key_password = password::obtain()?;
        }
    }
    Ok(Command::Serve(Box::new(config)))
}

/// Applies mongod's rules to raw option values (twins already folded onto
/// their `ssl*` names, see `options::fold_twins`).
pub fn validate(raw: &RawOptions) -> Result<Config, Error> {
    let flag = |name: &str| raw.get(name).is_some_and(|v| v == "true");
    let given = |name: &str| raw.get(name).is_some_and(|v| v != "false");
    let mut warnings = Vec::new();
    let tunnel = if flag("client") {
        Some(tunnel::validate(raw)?)
    } else {
        None
    };
    let mode = ssl_mode(raw)?;

    // mongod's rule: every SSL option needs SSL to be on.
    const NEEDS_SSL: &[&str] = &[
        "sslPEMKeyFile",
        "sslPEMKeyPassword",
        "sslCAFile",
        "sslCRLFile",
        "sslWeakCertificateValidation",
        "sslAllowInvalidCertificates",
        "sslDisabledProtocols",
        "sslCipherConfig",
        "sslFIPSMode",
        "sslFIPSConfig",
    ];
    // (The client tunnel reads some of them as the mongo shell does.)
    let needs_ssl = NEEDS_SSL.iter().find(|name| given(name));
    if let Some(name) = needs_ssl.filter(|_| mode == SslMode::Disabled && tunnel.is_none()) {
        return Err(Error::options(format!(
            "--{name} needs --sslOnNormalPorts (or --sslMode other than disabled): SSL is not enabled"
        )));
    }

    let ssl = if mode == SslMode::Disabled {
        None
    } else {
        let pem_key_file = raw.get("sslPEMKeyFile").ok_or_else(|| {
            let by = if raw.contains_key("sslMode") {
                format!("--sslMode {}", mode.as_str())
            } else {
                "--sslOnNormalPorts".to_string()
            };
            Error::options(format!(
                "{by} needs --sslPEMKeyFile: the server's key and certificate"
            ))
        })?;
        let ca_file = raw.get("sslCAFile").map(PathBuf::from);
        for name in ["sslWeakCertificateValidation", "sslCRLFile"] {
            if ca_file.is_none() && given(name) {
                return Err(Error::options(format!(
                    "--{name} needs --sslCAFile: client certificates are only checked against a CA"
                )));
            }
        }
        // mongod takes it without a CA file; it just has nothing to forgive.
        if ca_file.is_none() && flag("sslAllowInvalidCertificates") {
            warnings.push(
                "--sslAllowInvalidCertificates has no effect without --sslCAFile: client certificates are not requested".to_string(),
            );
        }
        let protocols = match raw.get("sslDisabledProtocols") {
            Some(list) => {
                let parsed = protocols::parse(list).map_err(Error::options)?;
                warnings.extend(parsed.warning);
                parsed.protocols
            }
            None => Protocols::default(),
        };
        let cipher_config = raw.get("sslCipherConfig").cloned();
        if let Some(list) = &cipher_config {
            // OpenSSL takes a C string: a NUL would cut the list short.
            if list.trim().is_empty() || list.contains('\0') {
                return Err(Error::options(format!(
                    "--sslCipherConfig: '{}' is not an OpenSSL cipher list",
                    list.escape_default()
                )));
            }
        }
        let pem_key_password = raw
            .get("sslPEMKeyPassword")
            .filter(|p| p.as_str() != options::ASK)
            .cloned()
            .map(Password);
        Some(SslSettings {
            pem_key_file: PathBuf::from(pem_key_file),
            pem_key_password,
            ca_file,
            crl_file: raw.get("sslCRLFile").map(PathBuf::from),
            weak_cert_validation: flag("sslWeakCertificateValidation"),
            allow_invalid_certificates: flag("sslAllowInvalidCertificates"),
            protocols,
            cipher_config,
            session_tickets: number::<usize>(raw, "sslSessionTickets")?.unwrap_or(0),
        })
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
        mode,
        ssl,
        fips,
        log: LogSettings {
            verbosity,
            logpath: raw.get("logpath").map(PathBuf::from),
            logappend: flag("logappend"),
        },
        tunnel,
        warnings,
    })
}

/// `sslMode` if given, else `sslOnNormalPorts` (= `requireSSL`), else off.
/// mongod refuses the two together; here they may agree.
fn ssl_mode(raw: &RawOptions) -> Result<SslMode, Error> {
    let on_normal_ports = raw.get("sslOnNormalPorts").is_some_and(|v| v == "true");
    match raw.get("sslMode") {
        Some(text) => {
            let mode = SslMode::parse(text)?;
            if on_normal_ports && mode != SslMode::Require {
                return Err(Error::options(format!(
                    "--sslOnNormalPorts means --sslMode requireSSL and contradicts --sslMode {text}: give one"
                )));
            }
            Ok(mode)
        }
        None if on_normal_ports => Ok(SslMode::Require),
        None => Ok(SslMode::Disabled),
    }
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
            ("sslPEMKeyPassword", options::ASK),
        ]))
        .expect("valid");
        assert!(cfg.ssl.expect("ssl").pem_key_password.is_none());
    }

    #[test]
    fn password_debug_is_hidden() {
        let p = Password::new("s3cret".into());
        assert!(!format!("{p:?}").contains("s3cret"));
    }
}
