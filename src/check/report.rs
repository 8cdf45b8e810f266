//! What `mongossl check` found, and its two renderings: lines for people
//! and one JSON object for programs, plus the exit code each kind of
//! failure maps to.

use std::fmt::Write;

/// Why a check failed; each kind has its own exit code so scripts can
/// tell "down" from "misconfigured" without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The command line, the connection string or a file it names.
    Usage,
    /// Name resolution or the TCP/unix connect failed (refused, unreachable).
    Connect,
    /// The server closed the connection before answering.
    Closed,
    /// The TLS handshake failed for a reason other than verification.
    Handshake,
    /// The server's certificate did not verify (chain, dates, host name).
    Verification,
    /// No answer within `--timeoutSecs`.
    Timeout,
    /// The answer was not a MongoDB reply.
    Protocol,
    /// The server answered, but not `ok: 1`.
    NotOk,
}

impl FailureKind {
    pub fn exit_code(self) -> u8 {
        match self {
            FailureKind::NotOk | FailureKind::Protocol => 1,
            FailureKind::Usage => 2,
            FailureKind::Connect | FailureKind::Closed => 3,
            FailureKind::Handshake => 4,
            FailureKind::Verification => 5,
            FailureKind::Timeout => 6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Usage => "usage",
            FailureKind::Connect => "connect",
            FailureKind::Closed => "closed",
            FailureKind::Handshake => "handshake",
            FailureKind::Verification => "verification",
            FailureKind::Timeout => "timeout",
            FailureKind::Protocol => "protocol",
            FailureKind::NotOk => "notOk",
        }
    }
}

/// A failed check: the kind and a sentence naming the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// The server certificate, as far as `check` describes it.
#[derive(Debug, Clone, Default)]
pub struct CertificateReport {
    pub subject: String,
    pub issuer: String,
    /// `DNS:name`, `IP:address`, `email:...`, `URI:...`.
    pub sans: Vec<String>,
    pub not_after: String,
    /// Whole days until `not_after`; negative once expired.
    pub days_left: i32,
}

/// The TLS session.
#[derive(Debug, Clone, Default)]
pub struct TlsReport {
    /// Empty when the handshake did not finish.
    pub version: String,
    pub cipher: String,
    pub certificate: Option<CertificateReport>,
    /// How the server was verified, or why it was not.
    pub verification: String,
}

/// The fields of the `hello` reply worth showing.
#[derive(Debug, Clone, Default)]
pub struct HelloReport {
    /// `hello`, or `isMaster` for servers before 4.4.2.
    pub command: &'static str,
    pub ok: Option<f64>,
    /// The field name the server used (`isWritablePrimary` or `ismaster`).
    pub writable_primary: Option<(&'static str, bool)>,
    pub max_wire_version: Option<i64>,
    pub set_name: Option<String>,
    pub hosts: Option<Vec<String>>,
    pub errmsg: Option<String>,
    pub code: Option<i64>,
}

/// Everything one run found, filled in as far as it got.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `host:port` or a socket path; empty if the URI did not parse.
    pub target: String,
    pub tls_requested: bool,
    pub tls: Option<TlsReport>,
    pub hello: Option<HelloReport>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub failure: Option<Failure>,
}

impl Report {
    pub fn exit_code(&self) -> u8 {
        self.failure.as_ref().map_or(0, |f| f.kind.exit_code())
    }
}

/// The report for people: one `name: value` line per fact, then notes
/// and warnings. The verdict is printed apart (`OK` or [`verdict`]).
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: &str| {
        let _ = writeln!(out, "{name:<19}{value}");
    };
    if !report.target.is_empty() {
        let transport = if report.tls_requested {
            "TLS"
        } else {
            "plaintext"
        };
        line("server:", &format!("{} ({transport})", report.target));
    }
    if let Some(tls) = &report.tls {
        if !tls.version.is_empty() {
            line("TLS:", &format!("{}, {}", tls.version, tls.cipher));
        }
        if let Some(cert) = &tls.certificate {
            line("subject:", &cert.subject);
            line("issuer:", &cert.issuer);
            line("SANs:", &or_none(&cert.sans.join(", ")));
            line(
                "expires:",
                &format!("{} ({})", cert.not_after, days_phrase(cert.days_left)),
            );
        }
        if !tls.verification.is_empty() {
            line("verification:", &tls.verification);
        }
    }
    if let Some(hello) = &report.hello {
        if let Some(ok) = hello.ok {
            line(&format!("{}:", hello.command), &format!("ok: {ok}"));
        }
        if let Some((name, value)) = hello.writable_primary {
            line(&format!("{name}:"), &value.to_string());
        }
        if let Some(v) = hello.max_wire_version {
            line("maxWireVersion:", &v.to_string());
        }
        if let Some(name) = &hello.set_name {
            line("setName:", name);
        }
        if let Some(hosts) = &hello.hosts {
            line("hosts:", &or_none(&hosts.join(", ")));
        }
        if let Some(errmsg) = &hello.errmsg {
            line("errmsg:", errmsg);
        }
        if let Some(code) = hello.code {
            line("code:", &code.to_string());
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

/// The last line of a failed text report.
pub fn verdict(failure: &Failure) -> String {
    format!("FAILED ({}): {}", failure.kind.name(), failure.message)
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "(none)".to_string()
    } else {
        text.to_string()
    }
}

fn days_phrase(days: i32) -> String {
    match days {
        d if d < 0 => format!("expired {} day(s) ago", -d),
        0 => "expires within a day".to_string(),
        d => format!("in {d} day(s)"),
    }
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn string_array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(","))
}

/// A JSON number for a double: JSON has no NaN or infinity.
fn number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "null".to_string()
    }
}

/// Builds one JSON object field by field.
struct Object(Vec<String>);

impl Object {
    fn new() -> Object {
        Object(Vec::new())
    }

    fn raw(&mut self, key: &str, json: String) -> &mut Object {
        self.0.push(format!("{}:{json}", quote(key)));
        self
    }

    fn string(&mut self, key: &str, value: &str) -> &mut Object {
        self.raw(key, quote(value))
    }

    fn finish(&self) -> String {
        format!("{{{}}}", self.0.join(","))
    }
}

/// The report as one JSON object on one line.
pub fn json(report: &Report) -> String {
    let mut root = Object::new();
    root.raw("ok", report.failure.is_none().to_string());
    root.string("server", &report.target);
    root.string(
        "transport",
        if report.tls_requested {
            "tls"
        } else {
            "plaintext"
        },
    );
    if let Some(tls) = &report.tls {
        let mut t = Object::new();
        if !tls.version.is_empty() {
            t.string("version", &tls.version);
            t.string("cipher", &tls.cipher);
        }
        if let Some(cert) = &tls.certificate {
            let mut c = Object::new();
            c.string("subject", &cert.subject)
                .string("issuer", &cert.issuer)
                .raw("sans", string_array(&cert.sans))
                .string("notAfter", &cert.not_after)
                .raw("daysLeft", cert.days_left.to_string());
            t.raw("certificate", c.finish());
        }
        t.string("verification", &tls.verification);
        root.raw("tls", t.finish());
    }
    if let Some(hello) = &report.hello {
        let mut h = Object::new();
        h.string("command", hello.command);
        if let Some(ok) = hello.ok {
            h.raw("ok", number(ok));
        }
        if let Some((name, value)) = hello.writable_primary {
            h.raw(name, value.to_string());
        }
        if let Some(v) = hello.max_wire_version {
            h.raw("maxWireVersion", v.to_string());
        }
        if let Some(name) = &hello.set_name {
            h.string("setName", name);
        }
        if let Some(hosts) = &hello.hosts {
            h.raw("hosts", string_array(hosts));
        }
        if let Some(errmsg) = &hello.errmsg {
            h.string("errmsg", errmsg);
        }
        if let Some(code) = hello.code {
            h.raw("code", code.to_string());
        }
        root.raw("hello", h.finish());
    }
    root.raw("warnings", string_array(&report.warnings));
    root.raw("notes", string_array(&report.notes));
    if let Some(f) = &report.failure {
        let mut e = Object::new();
        e.string("kind", f.kind.name())
            .string("message", &f.message)
            .raw("exitCode", f.kind.exit_code().to_string());
        root.raw("error", e.finish());
    }
    root.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Report {
        Report {
            target: "127.0.0.1:27017".into(),
            tls_requested: true,
            tls: Some(TlsReport {
                version: "TLSv1.3".into(),
                cipher: "TLS_AES_128_GCM_SHA256".into(),
                certificate: Some(CertificateReport {
                    subject: "CN=localhost".into(),
                    issuer: "CN=\"Quoted\" CA\\".into(),
                    sans: vec!["DNS:localhost".into(), "IP:127.0.0.1".into()],
                    not_after: "Nov 28 21:57:28 2027 GMT".into(),
                    days_left: 12,
                }),
                verification: "verified".into(),
            }),
            hello: Some(HelloReport {
                command: "hello",
                ok: Some(1.0),
                writable_primary: Some(("isWritablePrimary", true)),
                max_wire_version: Some(17),
                set_name: Some("rs0".into()),
                hosts: Some(vec!["a:1".into(), "b:2".into()]),
                errmsg: None,
                code: None,
            }),
            warnings: vec!["expires\tsoon\u{1}".into()],
            notes: vec![],
            failure: None,
        }
    }

    #[test]
    fn json_escapes_and_shapes() {
        let text = json(&full());
        assert!(text.starts_with("{\"ok\":true,\"server\":\"127.0.0.1:27017\""));
        assert!(text.contains(r#""issuer":"CN=\"Quoted\" CA\\""#), "{text}");
        assert!(
            text.contains(r#""warnings":["expires\tsoon\u0001"]"#),
            "{text}"
        );
        assert!(text.contains(r#""isWritablePrimary":true,"maxWireVersion":17"#));
        assert!(text.contains(r#""hosts":["a:1","b:2"]"#));
        assert!(!text.contains("error"));
        assert!(!text.contains('\n'));
    }

    #[test]
    fn failures_carry_kind_and_exit_code() {
        let mut report = full();
        report.failure = Some(Failure::new(FailureKind::Timeout, "no answer"));
        assert_eq!(report.exit_code(), 6);
        let text = json(&report);
        assert!(text.starts_with("{\"ok\":false"));
        assert!(
            text.ends_with(r#""error":{"kind":"timeout","message":"no answer","exitCode":6}}"#)
        );
        assert_eq!(
            verdict(report.failure.as_ref().expect("failed")),
            "FAILED (timeout): no answer"
        );
        assert_eq!(number(f64::NAN), "null");
    }

    #[test]
    fn text_lines() {
        let text = text(&full());
        assert!(text.contains("TLS:               TLSv1.3, TLS_AES_128_GCM_SHA256\n"));
        assert!(text.contains("SANs:              DNS:localhost, IP:127.0.0.1\n"));
        assert!(text.contains("(in 12 day(s))"));
        assert!(text.contains("maxWireVersion:    17\n"));
        assert!(text.ends_with("warning: expires\tsoon\u{1}\n"));
        assert_eq!(days_phrase(-3), "expired 3 day(s) ago");
    }

    #[test]
    fn exit_codes_are_distinct_per_cause() {
        use FailureKind::*;
        let kinds = [Usage, Connect, Handshake, Verification, Timeout, NotOk];
        let mut codes: Vec<u8> = kinds.iter().map(|k| k.exit_code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), kinds.len());
        assert!(!codes.contains(&0));
    }
}
