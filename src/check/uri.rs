//! Reading a MongoDB connection string the way drivers do, for the one
//! server `mongossl check` talks to: the host, and the SSL options
//! (`ssl`/`tls`, CA and client key files, the "allow invalid" switches,
//! `tlsInsecure` and .NET's `sslVerifyCertificate`).

use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::Password;

/// MongoDB's default port.
pub const DEFAULT_PORT: u16 = 27017;

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp {
        host: Host,
        port: u16,
    },
    /// A unix socket path, written percent-encoded in the URI
    /// (`mongodb://%2Ftmp%2Fmongodb-27017.sock`).
    Unix(PathBuf),
}

/// A host as written: a name is resolved, verified against the
/// certificate's DNS names and sent as SNI; an address is verified
/// against its IP names and never sent as SNI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp {
                host: Host::Name(name),
                port,
            } => write!(f, "{name}:{port}"),
            Endpoint::Tcp {
                host: Host::Ip(IpAddr::V6(ip)),
                port,
            } => write!(f, "[{ip}]:{port}"),
            Endpoint::Tcp {
                host: Host::Ip(ip),
                port,
            } => write!(f, "{ip}:{port}"),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The SSL options of the connection string.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub ca_file: Option<PathBuf>,
    pub certificate_key_file: Option<PathBuf>,
    pub certificate_key_password: Option<Password>,
    pub allow_invalid_certificates: bool,
    pub allow_invalid_hostnames: bool,
}

/// Everything `check` takes from a connection string.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: Endpoint,
    /// None: plaintext.
    pub tls: Option<TlsOptions>,
    /// Options `check` does not use, by name only (values may be secrets).
    pub ignored: Vec<String>,
    /// `user:password@` was given; `hello` needs no authentication.
    pub has_credentials: bool,
}

/// Percent-decoding as RFC 3986 has it; `+` stays a plus, as drivers
/// read connection strings.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent-encoding in {text:?} is not UTF-8"))
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("bad port {text:?}"))
}

fn parse_host(text: &str) -> Result<Endpoint, String> {
    if text.is_empty() {
        return Err("no host in the connection string".to_string());
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (address, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in host {text:?}"))?;
        let ip = address
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("bad IPv6 address {address:?}"))?;
        let port = match after {
            "" => DEFAULT_PORT,
            _ => parse_port(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("bad host {text:?}"))?,
            )?,
        };
        return Ok(Endpoint::Tcp {
            host: Host::Ip(IpAddr::V6(ip)),
            port,
        });
    }
    let decoded = percent_decode(text)?;
    if decoded.contains('/') {
        return Ok(Endpoint::Unix(PathBuf::from(decoded)));
    }
    let (name, port) = match decoded.rsplit_once(':') {
        Some((name, port)) => (name.to_string(), parse_port(port)?),
        None => (decoded, DEFAULT_PORT),
    };
    if name.is_empty() || name.contains(':') {
        return Err(format!(
            "bad host {text:?} (write an IPv6 address in brackets: [::1]:27017)"
        ));
    }
    let host = match name.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(name.to_ascii_lowercase()),
    };
    Ok(Endpoint::Tcp { host, port })
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{key}={value}: expected true or false")),
    }
}

/// The options as given, before the rules between them are applied.
#[derive(Default)]
struct Given {
    tls: Option<(String, bool)>,
    ca_file: Option<PathBuf>,
    certificate_key_file: Option<PathBuf>,
    certificate_key_password: Option<Password>,
    allow_invalid_certificates: Option<bool>,
    allow_invalid_hostnames: Option<bool>,
    insecure: Option<(String, bool)>,
    ignored: Vec<String>,
}

impl Given {
    fn any_tls_option(&self) -> bool {
        self.ca_file.is_some()
            || self.certificate_key_file.is_some()
            || self.certificate_key_password.is_some()
            || self.allow_invalid_certificates.is_some()
            || self.allow_invalid_hostnames.is_some()
            || self.insecure.is_some()
    }
}

/// Two spellings of one switch must agree.
fn set_once(
    slot: &mut Option<(String, bool)>,
    key: &str,
    value: bool,
    other_meaning: &str,
) -> Result<(), String> {
    if let Some((earlier, v)) = slot
        && *v != value
    {
        return Err(format!(
            "{earlier} and {key} contradict each other{other_meaning}"
        ));
    }
    *slot = Some((key.to_string(), value));
    Ok(())
}

fn take_option(given: &mut Given, key: &str, value: &str) -> Result<(), String> {
    let path = || PathBuf::from(value);
    match key.to_ascii_lowercase().as_str() {
        "ssl" | "tls" => set_once(&mut given.tls, key, parse_bool(key, value)?, "")?,
        "tlscafile" | "sslcafile" => given.ca_file = Some(path()),
        "tlscertificatekeyfile" | "sslclientcertificatekeyfile" | "sslpemkeyfile" => {
            given.certificate_key_file = Some(path())
        }
        "tlscertificatekeyfilepassword"
        | "sslclientcertificatekeypassword"
        | "sslpemkeypassword" => {
            given.certificate_key_password = Some(Password::new(value.to_string()))
        }
        "tlsallowinvalidcertificates" | "sslallowinvalidcertificates" => {
            given.allow_invalid_certificates = Some(parse_bool(key, value)?)
        }
        "tlsallowinvalidhostnames" | "sslallowinvalidhostnames" => {
            given.allow_invalid_hostnames = Some(parse_bool(key, value)?)
        }
        "tlsinsecure" => set_once(
            &mut given.insecure,
            key,
            parse_bool(key, value)?,
            " (sslVerifyCertificate=false means tlsInsecure=true)",
        )?,
        // The .NET driver's old spelling, the inverse of tlsInsecure.
        "sslverifycertificate" => set_once(
            &mut given.insecure,
            key,
            !parse_bool(key, value)?,
            " (sslVerifyCertificate=false means tlsInsecure=true)",
        )?,
        _ => given.ignored.push(key.to_string()),
    }
    Ok(())
}

/// Parses a `mongodb://` connection string naming one server.
pub fn parse(uri: &str) -> Result<Target, String> {
    let lower = uri.get(..14).unwrap_or(uri).to_ascii_lowercase();
    if lower.starts_with("mongodb+srv://") {
        return Err(
            "mongodb+srv:// needs DNS SRV look-ups, which check does not do: give the server as mongodb://host:port"
                .to_string(),
        );
    }
    let rest = match uri.get(..10) {
        Some(scheme) if scheme.eq_ignore_ascii_case("mongodb://") => &uri[10..],
        _ => return Err("the connection string must start with mongodb://".to_string()),
    };
    let (authority, path_and_query) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let query = match path_and_query.split_once('?') {
        Some((_, query)) => query,
        None if path_and_query.starts_with('?') => &path_and_query[1..],
        None => "",
    };
    // Credentials end at the last '@': a password may contain one encoded,
    // but never a raw one, so this is only a guard.
    let (has_credentials, hosts) = match authority.rsplit_once('@') {
        Some((_, hosts)) => (true, hosts),
        None => (false, authority),
    };
    if hosts.contains(',') {
        return Err(
            "the connection string names several hosts: check checks one server, give one host"
                .to_string(),
        );
    }
    let endpoint = parse_host(hosts)?;

    let mut given = Given::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("option {pair:?} has no value"))?;
        take_option(&mut given, &percent_decode(key)?, &percent_decode(value)?)?;
    }

    let tls_on = match &given.tls {
        Some((key, false)) if given.any_tls_option() => {
            return Err(format!("{key}=false with TLS options: drop {key}=false"));
        }
        Some((_, on)) => *on,
        // As PyMongo: any TLS option switches TLS on.
        None => given.any_tls_option(),
    };
    if let Some((key, _)) = &given.insecure
        && (given.allow_invalid_certificates.is_some() || given.allow_invalid_hostnames.is_some())
    {
        return Err(format!(
            "{key} cannot be combined with tlsAllowInvalidCertificates or tlsAllowInvalidHostnames"
        ));
    }
    if given.certificate_key_password.is_some() && given.certificate_key_file.is_none() {
        return Err("tlsCertificateKeyFilePassword without tlsCertificateKeyFile".to_string());
    }
    let insecure = given.insecure.as_ref().is_some_and(|(_, on)| *on);
    let tls = tls_on.then(|| TlsOptions {
        ca_file: given.ca_file.clone(),
        certificate_key_file: given.certificate_key_file.clone(),
        certificate_key_password: given.certificate_key_password.clone(),
        allow_invalid_certificates: insecure || given.allow_invalid_certificates == Some(true),
        allow_invalid_hostnames: insecure || given.allow_invalid_hostnames == Some(true),
    });
    Ok(Target {
        endpoint,
        tls,
        ignored: given.ignored,
        has_credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn tcp(host: Host, port: u16) -> Endpoint {
        Endpoint::Tcp { host, port }
    }

    fn tls(uri: &str) -> TlsOptions {
        parse(uri).expect(uri).tls.expect("tls on")
    }

    #[test]
    fn hosts_and_ports() {
        let cases = [
            (
                "mongodb://localhost",
                tcp(Host::Name("localhost".into()), 27017),
            ),
            (
                "mongodb://DB.Example:27018/",
                tcp(Host::Name("db.example".into()), 27018),
            ),
            (
                "mongodb://127.0.0.1:1/admin?ssl=true",
                tcp(Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)), 1),
            ),
            (
                "mongodb://[::1]:27019/?tls=true",
                tcp(Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)), 27019),
            ),
            (
                "mongodb://[::1]",
                tcp(Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)), 27017),
            ),
            (
                "MONGODB://user:p%40ss@h:2?x=1",
                tcp(Host::Name("h".into()), 2),
            ),
            (
                "mongodb://%2Ftmp%2Fmongodb-27017.sock",
                Endpoint::Unix("/tmp/mongodb-27017.sock".into()),
            ),
        ];
        for (uri, endpoint) in cases {
            assert_eq!(parse(uri).expect(uri).endpoint, endpoint, "{uri}");
        }
        assert!(parse("mongodb://user:pw@h").expect("ok").has_credentials);
        assert!(!parse("mongodb://h").expect("ok").has_credentials);
    }

    #[test]
    fn refusals_say_why() {
        let cases = [
            ("localhost:27017", "mongodb://"),
            ("mongodb+srv://cluster.example", "SRV"),
            ("mongodb://a:1,b:2/?replicaSet=rs", "one host"),
            ("mongodb://", "no host"),
            ("mongodb://h:0", "bad port"),
            ("mongodb://h:70000", "bad port"),
            ("mongodb://::1", "brackets"),
            ("mongodb://[::1", "unclosed"),
            ("mongodb://h/?tls=yes", "expected true or false"),
            ("mongodb://h/?tls", "no value"),
            ("mongodb://h/?ssl=true&tls=false", "contradict"),
            ("mongodb://h/?tls=false&tlsCAFile=/ca.pem", "tls=false"),
            (
                "mongodb://h/?tlsInsecure=true&tlsAllowInvalidHostnames=true",
                "cannot be combined",
            ),
            (
                "mongodb://h/?tlsInsecure=false&sslverifycertificate=false",
                "contradict",
            ),
            (
                "mongodb://h/?tlsCertificateKeyFilePassword=x",
                "without tlsCertificateKeyFile",
            ),
            ("mongodb://h/?tlsCAFile=%zz", "percent"),
        ];
        for (uri, needle) in cases {
            let err = parse(uri).expect_err(uri);
            assert!(err.contains(needle), "{uri}: {err}");
        }
    }

    #[test]
    fn plaintext_unless_asked() {
        assert!(parse("mongodb://h").expect("ok").tls.is_none());
        assert!(parse("mongodb://h/?ssl=false").expect("ok").tls.is_none());
        assert!(parse("mongodb://h/?tls=true").expect("ok").tls.is_some());
        assert!(parse("mongodb://h/?SSL=TRUE").expect("ok").tls.is_some());
        // Any TLS option switches TLS on, as in PyMongo.
        assert!(
            parse("mongodb://h/?tlsCAFile=/ca.pem")
                .expect("ok")
                .tls
                .is_some()
        );
    }

    #[test]
    fn files_and_password_are_decoded() {
        let t = tls(
            "mongodb://h/?tls=true&tlsCAFile=%2Fetc%2Fssl%2Fca.pem&tlsCertificateKeyFile=/c+d.pem&tlsCertificateKeyFilePassword=p%26w%3D",
        );
        assert_eq!(t.ca_file, Some(PathBuf::from("/etc/ssl/ca.pem")));
        assert_eq!(t.certificate_key_file, Some(PathBuf::from("/c+d.pem")));
        assert_eq!(
            t.certificate_key_password.as_ref().map(Password::as_bytes),
            Some(&b"p&w="[..])
        );
        let old = tls("mongodb://h/?ssl=true&sslCAFile=/a.pem");
        assert_eq!(old.ca_file, Some(PathBuf::from("/a.pem")));
    }

    #[test]
    fn the_relaxations() {
        let strict = tls("mongodb://h/?tls=true");
        assert!(!strict.allow_invalid_certificates && !strict.allow_invalid_hostnames);
        let hosts = tls("mongodb://h/?tls=true&tlsAllowInvalidHostnames=true");
        assert!(!hosts.allow_invalid_certificates && hosts.allow_invalid_hostnames);
        let certs = tls("mongodb://h/?tls=true&tlsAllowInvalidCertificates=true");
        assert!(certs.allow_invalid_certificates && !certs.allow_invalid_hostnames);
        for uri in [
            "mongodb://h/?tls=true&tlsInsecure=true",
            "mongodb://h/?ssl=true&sslverifycertificate=false",
            "mongodb://h/?ssl=true&sslVerifyCertificate=false&tlsInsecure=true",
        ] {
            let t = tls(uri);
            assert!(
                t.allow_invalid_certificates && t.allow_invalid_hostnames,
                "{uri}"
            );
        }
        let verify = tls("mongodb://h/?ssl=true&sslverifycertificate=true");
        assert!(!verify.allow_invalid_certificates);
    }

    #[test]
    fn other_options_are_named_not_valued() {
        let t = parse("mongodb://u:secret@h/?replicaSet=rs0&authMechanismProperties=TOKEN:x")
            .expect("ok");
        assert_eq!(t.ignored, vec!["replicaSet", "authMechanismProperties"]);
        assert!(!format!("{t:?}").contains("secret"));
    }
}
