//! mongod 2.6+'s YAML config files: reads the document (keeping each key's
//! line), maps each key onto the option whose YAML path it is (the paths
//! live in the option table: `net.*`, `net.ssl.*`, `net.tls.*`,
//! `systemLog.*` and mongossl's own `mongossl:` section), and notes a
//! warning for each key mongossl does not use.
//!
//! Only the mapping lives here: the values land in `RawOptions` like the
//! command line's, so every rule between options is checked in one place.

use std::collections::BTreeMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, StrInput};

use super::raw::{FileOptions, RawOptions, file_value};
use super::table::{self, BIND_IP, Kind, OPTIONS, OptionSpec, SET_PARAMETER, SYSLOG};

/// Deeper nesting than any mongod config has; a cap keeps a hostile file
/// from exhausting the stack.
const MAX_DEPTH: usize = 16;

/// A YAML value with the line it starts on.
struct Located {
    node: Node,
    line: usize,
}

enum Node {
    Null,
    Scalar(String),
    Seq(Vec<Located>),
    Map(Vec<Entry>),
}

struct Entry {
    key: String,
    line: usize,
    value: Located,
}

/// Pulls events out of the parser, turning its errors into line-numbered
/// messages.
struct Reader<'a> {
    parser: Parser<'a, StrInput<'a>>,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), String> {
        match self.parser.next() {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => Err(format!(
                "line {}: not valid YAML: {}",
                e.marker().line(),
                e.info()
            )),
            None => Err("the YAML document ends too early".to_string()),
        }
    }

    /// The single document of the file; `None` for a file with none.
    fn document(&mut self) -> Result<Option<Located>, String> {
        let (first, _) = self.next()?;
        if !matches!(first, Event::StreamStart) {
            return Err("not valid YAML".to_string());
        }
        let (event, span) = self.next()?;
        match event {
            Event::StreamEnd => return Ok(None),
            Event::DocumentStart(_) => {}
            _ => return Err(format!("line {}: not valid YAML", span.start.line())),
        }
        let (event, span) = self.next()?;
        let root = self.node(event, span, 0)?;
        let (event, span) = self.next()?;
        if !matches!(event, Event::DocumentEnd) {
            return Err(format!("line {}: not valid YAML", span.start.line()));
        }
        match self.next()? {
            (Event::StreamEnd, _) => Ok(Some(root)),
            (_, span) => Err(format!(
                "line {}: a config file holds one YAML document, found a second",
                span.start.line()
            )),
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Located, String> {
        let line = span.start.line();
        if depth > MAX_DEPTH {
            return Err(format!("line {line}: nested too deeply"));
        }
        let node = match event {
            Event::Scalar(value, style, _, _) => {
                // An empty value (`key:`) or YAML's null words; a quoted
                // "null" stays a string.
                let null = style == ScalarStyle::Plain
                    && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                if null {
                    Node::Null
                } else {
                    Node::Scalar(value.into_owned())
                }
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                Node::Seq(items)
            }
            Event::MappingStart(..) => Node::Map(self.entries(depth)?),
            Event::Alias(_) => {
                return Err(format!(
                    "line {line}: YAML aliases (*name) are not supported in config files"
                ));
            }
            _ => return Err(format!("line {line}: not valid YAML")),
        };
        Ok(Located { node, line })
    }

    fn entries(&mut self, depth: usize) -> Result<Vec<Entry>, String> {
        let mut entries: Vec<Entry> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            let line = span.start.line();
            let key = match event {
                Event::MappingEnd => return Ok(entries),
                Event::Scalar(key, ..) => key.into_owned(),
                _ => return Err(format!("line {line}: a key must be a plain name")),
            };
            if let Some(first) = entries.iter().find(|e| e.key == key) {
                return Err(format!(
                    "line {line}: '{key}' given more than once (first on line {})",
                    first.line
                ));
            }
            let (event, span) = self.next()?;
            let value = self.node(event, span, depth + 1)?;
            entries.push(Entry { key, line, value });
        }
    }
}

/// mongod's keys with no meaning for mongossl's server role (mongod's own
/// outgoing and cluster connections, or certificate stores of other
/// platforms): each is ignored with a warning.
const UNUSED: &[&str] = &[
    "net.ssl.clusterFile",
    "net.ssl.clusterPassword",
    "net.ssl.clusterCAFile",
    "net.ssl.allowInvalidHostnames",
    "net.ssl.certificateSelector",
    "net.ssl.clusterCertificateSelector",
    "net.tls.clusterFile",
    "net.tls.clusterPassword",
    "net.tls.clusterCAFile",
    "net.tls.clusterCRLFile",
    "net.tls.allowInvalidHostnames",
    "net.tls.certificateSelector",
    "net.tls.clusterCertificateSelector",
    "net.tls.logVersions",
    "net.tls.clusterAuthX509",
];

/// A key that needs more than the option table's one name.
type Special = fn(&mut Mapper, &str, usize, &Located) -> Result<(), String>;

const SPECIAL: &[(&str, Special)] = &[
    ("net.bindIpAll", bind_ip_all),
    ("systemLog.destination", log_destination),
    ("setParameter", set_parameters),
];

/// What an unknown key in a section is.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Unknown {
    /// Ignored with a warning: mongod has many keys mongossl has no use for.
    Warn,
    /// An error: a misspelt SSL setting must not pass unnoticed.
    Error,
    /// An error unless it is the long name of a mongossl option that has
    /// no YAML path (so options added later need no YAML path of their own).
    ErrorUnlessOption,
}

/// Sections whose unknown keys are not just ignored; elsewhere they are.
const STRICT: &[(&str, Unknown)] = &[
    ("net.ssl", Unknown::Error),
    ("net.tls", Unknown::Error),
    ("mongossl", Unknown::ErrorUnlessOption),
    ("auditLog", Unknown::Error),
];

/// Every dotted path that means something: the options' and the rest.
fn known_paths() -> impl Iterator<Item = &'static str> {
    OPTIONS
        .iter()
        .flat_map(|o| o.yaml.iter().copied())
        .chain(UNUSED.iter().copied())
        .chain(SPECIAL.iter().map(|(path, _)| *path))
}

/// The keys a section (`""` for the top) may hold.
fn keys_of(section: &str) -> impl Iterator<Item = &'static str> + '_ {
    known_paths().filter_map(move |path| {
        let rest = if section.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(section)
                .and_then(|rest| rest.strip_prefix('.'))
        };
        rest.and_then(|rest| rest.split('.').next())
    })
}

/// Whether a path is a section that holds known keys (`net`, `net.tls`).
fn is_section(path: &str) -> bool {
    keys_of(path).next().is_some()
}

/// The options collected so far, where each came from, and the warnings.
#[derive(Default)]
struct Mapper {
    raw: RawOptions,
    origin: BTreeMap<&'static str, (String, usize)>,
    warnings: Vec<String>,
}

impl Mapper {
    fn set(
        &mut self,
        option: &'static str,
        path: &str,
        line: usize,
        value: String,
    ) -> Result<(), String> {
        if let Some((first, first_line)) = self.origin.get(option) {
            return Err(format!(
                "line {line}: '{path}' sets --{option} again (already set by '{first}' on line {first_line})"
            ));
        }
        self.raw.insert(option, value);
        self.origin.insert(option, (path.to_string(), line));
        Ok(())
    }

    /// Reads the value of an option's key.
    fn option(
        &mut self,
        option: &OptionSpec,
        path: &str,
        line: usize,
        at: &Located,
    ) -> Result<(), String> {
        let value = value_as(option.kind, path, line, at)?;
        self.set(option.name, path, line, value)
    }

    /// One warning for each key with a value under `path` (defined on
    /// `line`), so the log names every setting that has no effect.
    fn ignore(&mut self, path: &str, line: usize, at: &Located) {
        match &at.node {
            Node::Map(entries) if !entries.is_empty() => {
                for e in entries {
                    self.ignore(&format!("{path}.{}", e.key), e.line, &e.value);
                }
            }
            _ => self.warnings.push(format!(
                "config file: ignoring '{path}' (line {line}): mongossl does not use it"
            )),
        }
    }

    /// Maps the keys of the section at `path` (`""` for the top).
    fn section(&mut self, path: &str, at: &Located) -> Result<(), String> {
        let entries = match &at.node {
            Node::Map(entries) => entries,
            Node::Null => return Ok(()),
            _ => {
                let what = if path.is_empty() {
                    "the file is neither YAML settings (such as 'net:') nor mongod 2.4's 'key = value' lines".to_string()
                } else {
                    format!("'{path}' must be a section of keys")
                };
                return Err(format!("line {}: {what}", at.line));
            }
        };
        let unknown = STRICT
            .iter()
            .find(|(strict, _)| *strict == path)
            .map_or(Unknown::Warn, |(_, unknown)| *unknown);
        for entry in entries {
            let (key, line, value) = (entry.key.as_str(), entry.line, &entry.value);
            let full = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            if let Some(option) = table::at_yaml_path(&full) {
                self.option(option, &full, line, value)?;
            } else if let Some((_, handle)) = SPECIAL.iter().find(|(p, _)| *p == full) {
                handle(self, &full, line, value)?;
            } else if UNUSED.contains(&full.as_str()) {
                self.ignore(&full, line, value);
            } else if is_section(&full) {
                self.section(&full, value)?;
            } else {
                match (unknown, mongossl_only(key)) {
                    (Unknown::Warn, _) => self.ignore(&full, line, value),
                    (Unknown::ErrorUnlessOption, Some(option)) => {
                        self.option(option, &full, line, value)?
                    }
                    _ => return Err(unknown_key(path, key, &full, line)),
                }
            }
        }
        Ok(())
    }
}

/// The error for a misspelt key, with the right spelling when only the
/// case differs (`CAfile` for `CAFile`).
fn unknown_key(section: &str, key: &str, full: &str, line: usize) -> String {
    match keys_of(section).find(|k| k.eq_ignore_ascii_case(key)) {
        Some(k) => format!("line {line}: unknown key '{full}' (did you mean '{k}'?)"),
        None => format!("line {line}: unknown key '{full}'"),
    }
}

/// The option `key` names when it is a mongossl option without a YAML
/// path, so it may stand in the `mongossl:` section under its long name.
fn mongossl_only(key: &str) -> Option<&'static OptionSpec> {
    table::find(key).filter(|o| o.in_file && o.twin_of.is_none() && o.yaml.is_empty())
}

/// A YAML value (of the key `path` on `line`) as text of this kind.
fn value_as(kind: Kind, path: &str, line: usize, at: &Located) -> Result<String, String> {
    let text = match &at.node {
        Node::Null => return Err(format!("line {line}: '{path}' needs a value")),
        Node::Map(_) => {
            return Err(format!(
                "line {line}: '{path}' takes a value, not a section"
            ));
        }
        // mongod's lists are comma-separated strings; a YAML list of the
        // same words means the same.
        Node::Seq(items) if kind == Kind::Value => {
            let words: Option<Vec<&str>> = items
                .iter()
                .map(|i| match &i.node {
                    Node::Scalar(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            return words
                .map(|w| w.join(","))
                .ok_or_else(|| format!("line {line}: '{path}' must be a list of words"));
        }
        Node::Seq(_) => return Err(format!("line {line}: '{path}' takes one value, not a list")),
        Node::Scalar(text) => text,
    };
    if kind == Kind::Value && text.is_empty() {
        return Err(format!("line {line}: '{path}' needs a value"));
    }
    file_value(kind, text).ok_or_else(|| match kind {
        Kind::Count => format!("line {line}: '{path}' must be a number, found '{text}'"),
        _ => format!("line {line}: '{path}' must be true or false, found '{text}'"),
    })
}

/// `net.bindIpAll: true` listens on every IPv4 address, as mongod does
/// without `net.ipv6`; it cannot stand beside `net.bindIp`.
fn bind_ip_all(mapper: &mut Mapper, path: &str, line: usize, at: &Located) -> Result<(), String> {
    match value_as(Kind::Flag, path, line, at)?.as_str() {
        "true" => mapper.set(BIND_IP.name, path, line, "0.0.0.0".to_string()),
        _ => Ok(()),
    }
}

/// `systemLog.destination`: `file` goes with `systemLog.path`; `syslog`
/// is `--syslog`.
fn log_destination(
    mapper: &mut Mapper,
    path: &str,
    line: usize,
    at: &Located,
) -> Result<(), String> {
    match &at.node {
        Node::Scalar(s) if s == "file" => {}
        Node::Scalar(s) if s == "syslog" => {
            return mapper.set(SYSLOG.name, path, line, "true".to_string());
        }
        _ => mapper.ignore(path, line, at),
    }
    Ok(())
}

/// mongod.conf's `setParameter:` section, one `name: value` per key, as
/// the lines `--setParameter` gives (`config::parameters` reads them).
fn set_parameters(
    mapper: &mut Mapper,
    path: &str,
    line: usize,
    at: &Located,
) -> Result<(), String> {
    let Node::Map(entries) = &at.node else {
        return Err(format!(
            "line {line}: '{path}' must be a section of 'name: value' keys"
        ));
    };
    let mut lines = Vec::with_capacity(entries.len());
    for e in entries {
        match &e.value.node {
            Node::Scalar(value) => lines.push(format!("{}={value}", e.key)),
            _ => {
                return Err(format!(
                    "line {}: '{path}.{}' takes one value",
                    e.line, e.key
                ));
            }
        }
    }
    mapper.set(SET_PARAMETER.name, path, line, lines.join("\n"))
}

/// Parses YAML config text into raw options and warnings; an error names
/// the line.
pub fn parse(text: &str) -> Result<FileOptions, String> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
    };
    let Some(root) = reader.document()? else {
        return Ok(FileOptions::default());
    };
    let mut mapper = Mapper::default();
    mapper.section("", &root)?;
    Ok(FileOptions {
        raw: mapper.raw,
        warnings: mapper.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(read: &'a FileOptions, name: &str) -> Option<&'a str> {
        read.raw.get(name).map(String::as_str)
    }

    /// A mongod 4.4 config as its packages install it, plus SSL and the
    /// mongossl section.
    const MONGOD_44: &str = "\
# mongod.conf

# for documentation of all options, see:
#   http://docs.mongodb.org/manual/reference/configuration-options/

storage:
  dbPath: /var/lib/mongodb
  journal:
    enabled: true

systemLog:
  destination: file
  logAppend: true
  path: /var/log/mongodb/mongossl.log
  verbosity: 1

net:
  port: 27017
  bindIp: 127.0.0.1,::1
  maxIncomingConnections: 500
  tls:
    mode: requireTLS
    certificateKeyFile: /etc/ssl/mongodb.pem
    certificateKeyFilePassword: \"s3cret: yes\"
    CAFile: /etc/ssl/ca.pem
    CRLFile: /etc/ssl/crl.pem
    allowConnectionsWithoutCertificates: false
    allowInvalidCertificates: false
    FIPSMode: false
    disabledProtocols: TLS1_0,TLS1_1
    cipherConfig: ECDHE-ECDSA-AES256-GCM-SHA384
    clusterFile: /etc/ssl/cluster.pem

processManagement:
  timeZoneInfo: /usr/share/zoneinfo

security:
  authorization: enabled

#replication:

mongossl:
  upstream: 127.0.0.1:27018
  handshakeTimeoutSecs: 5
";

    #[test]
    fn maps_a_mongod_44_config() {
        let read = parse(MONGOD_44).expect("valid");
        let expected = [
            ("port", "27017"),
            ("bind_ip", "127.0.0.1,::1"),
            ("maxConns", "500"),
            ("tlsMode", "requireTLS"),
            ("tlsCertificateKeyFile", "/etc/ssl/mongodb.pem"),
            ("tlsCertificateKeyFilePassword", "s3cret: yes"),
            ("tlsCAFile", "/etc/ssl/ca.pem"),
            ("tlsCRLFile", "/etc/ssl/crl.pem"),
            ("tlsAllowConnectionsWithoutCertificates", "false"),
            ("tlsAllowInvalidCertificates", "false"),
            ("tlsFIPSMode", "false"),
            ("tlsDisabledProtocols", "TLS1_0,TLS1_1"),
            ("tlsCipherConfig", "ECDHE-ECDSA-AES256-GCM-SHA384"),
            ("logpath", "/var/log/mongodb/mongossl.log"),
            ("logappend", "true"),
            ("verbose", "1"),
            ("upstream", "127.0.0.1:27018"),
            ("sslHandshakeTimeoutSecs", "5"),
        ];
        for (name, value) in expected {
            assert_eq!(get(&read, name), Some(value), "{name}");
        }
        assert_eq!(read.raw.len(), expected.len(), "{:?}", read.raw);
        let ignored: Vec<&str> = read
            .warnings
            .iter()
            .filter_map(|w| w.split('\'').nth(1))
            .collect();
        assert_eq!(
            ignored,
            [
                "storage.dbPath",
                "storage.journal.enabled",
                "net.tls.clusterFile",
                "processManagement.timeZoneInfo",
                "security.authorization",
            ]
        );
        assert!(read.warnings[0].contains("(line 7)"), "{:?}", read.warnings);
    }

    #[test]
    fn maps_the_26_ssl_names() {
        let read = parse(
            "net:\n  bindIp: 0.0.0.0\n  ssl:\n    mode: requireSSL\n    PEMKeyFile: /k.pem\n    PEMKeyPassword: pw\n    CAFile: /ca.pem\n    CRLFile: /crl.pem\n    weakCertificateValidation: yes\n    allowInvalidCertificates: true\n    FIPSMode: off\n    disabledProtocols: [TLS1_0, TLS1_2]\n    sslCipherConfig: HIGH\n",
        )
        .expect("valid");
        assert_eq!(get(&read, "sslMode"), Some("requireSSL"));
        assert_eq!(get(&read, "sslPEMKeyFile"), Some("/k.pem"));
        assert_eq!(get(&read, "sslPEMKeyPassword"), Some("pw"));
        assert_eq!(get(&read, "sslWeakCertificateValidation"), Some("true"));
        assert_eq!(get(&read, "sslAllowInvalidCertificates"), Some("true"));
        assert_eq!(get(&read, "sslFIPSMode"), Some("false"));
        assert_eq!(get(&read, "sslDisabledProtocols"), Some("TLS1_0,TLS1_2"));
        assert_eq!(get(&read, "sslCipherConfig"), Some("HIGH"));
        assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    }

    #[test]
    fn misspelt_ssl_keys_are_errors_naming_key_and_line() {
        let err = parse("net:\n  port: 1\n  tls:\n    mode: requireTLS\n    CAfile: /ca\n")
            .expect_err("misspelt");
        assert!(
            err.contains("line 5") && err.contains("'net.tls.CAfile'") && err.contains("'CAFile'"),
            "{err}"
        );
        let err = parse("net:\n  ssl:\n    PEMKeyFiel: /k\n").expect_err("misspelt");
        assert!(
            err.contains("line 3") && err.contains("net.ssl.PEMKeyFiel"),
            "{err}"
        );
        let err = parse("mongossl:\n  upstrem: x\n").expect_err("misspelt");
        assert!(
            err.contains("line 2") && err.contains("mongossl.upstrem"),
            "{err}"
        );
        // A mongod key in the mongossl section is not a mongossl-only one.
        assert!(parse("mongossl:\n  port: 1\n").is_err());
    }

    #[test]
    fn other_keys_are_ignored_with_one_warning_each() {
        let read = parse(
            "net:\n  port: 1\n  unixDomainSocket:\n    enabled: false\n    pathPrefix: /tmp\n  ipv6: true\nreplication:\n  replSetName: rs0\nsharding:\nsystemLog:\n  destination: syslog\n  timeStampFormat: iso8601-utc\n",
        )
        .expect("valid");
        // port, and destination: syslog as --syslog.
        assert_eq!(read.raw.len(), 2);
        assert_eq!(read.warnings.len(), 6, "{:#?}", read.warnings);
        assert!(read.warnings.iter().any(|w| w.contains("'sharding'")));
    }

    #[test]
    fn values_are_checked() {
        for (text, needle) in [
            ("net:\n  ssl:\n    FIPSMode: maybe\n", "true or false"),
            ("net:\n  port:\n", "needs a value"),
            ("net:\n  port: {a: 1}\n", "not a section"),
            ("net:\n  tls:\n    CAFile: ''\n", "needs a value"),
            ("net:\n  port: 1\n  port: 2\n", "more than once"),
            ("net: 5\n", "must be a section"),
            ("just a sentence\n", "neither YAML"),
            ("net:\n  port: 1\n---\nnet: {}\n", "second"),
            ("a: &x 1\nb: *x\n", "aliases"),
            (
                "net:\n  ssl:\n    CAFile: /a\n  tls:\n    CAFile: /a\n  bindIp: x\n  bindIpAll: true\n",
                "sets --bind_ip again",
            ),
            ("net: [1, 2\n", "line"),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    /// The full example in docs/configuration.md reads as documented.
    #[test]
    fn the_documented_example_parses() {
        let docs = include_str!("../../docs/configuration.md");
        let example = docs
            .split("```yaml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a yaml block in docs/configuration.md");
        let read = parse(example).expect("the documented example");
        assert_eq!(get(&read, "tlsMode"), Some("requireTLS"));
        assert_eq!(get(&read, "tlsCipherConfig"), Some("ECDHE+AESGCM"));
        assert_eq!(get(&read, "upstream"), Some("127.0.0.1:27018"));
        assert_eq!(
            get(&read, "sslFIPSConfig"),
            Some("/etc/mongossl/openssl-fips.cnf")
        );
        assert_eq!(read.warnings.len(), 2, "{:?}", read.warnings);
    }

    #[test]
    fn small_forms() {
        assert!(parse("").expect("empty").raw.is_empty());
        assert!(
            parse("# only a comment\n---\n")
                .expect("empty")
                .raw
                .is_empty()
        );
        let read = parse("net: {bindIpAll: true, bindIp: null}\n").expect_err("null bindIp");
        assert!(read.contains("needs a value"), "{read}");
        let read = parse("net:\n  bindIpAll: true\nsystemLog: {quiet: true}\n").expect("valid");
        assert_eq!(get(&read, "bind_ip"), Some("0.0.0.0"));
        assert_eq!(get(&read, "quiet"), Some("true"));
    }
}
