//! mongod 4.4+'s JSON log line (`--logFormat json`): one document per
//! line, `{"t":{"$date":…},"s":…,"c":…,"id":…,"ctx":…,"msg":…,"attr":{…}}`.
//! A log call names its event with key-values (`id = 22943, remote:% =
//! peer`); where mongod logs the same event, mongod's id and message are
//! used, and the call's other key-values become `attr`.
//!
//! Ids: mongod's own for the events below; mongossl's own events are in
//! 9,100,000–9,100,999 (`MONGOSSL_DEFAULT_ID` for a line without one).

use std::fmt::Write as _;
use std::io::{self, Write};

use log::Record;
use log::kv::{Key, Value, VisitSource};

/// The id of a line that names none.
pub const MONGOSSL_DEFAULT_ID: u64 = 9_100_000;

/// mongod's ids and messages for the events mongossl logs too.
const MONGOD_EVENTS: &[(u64, &str)] = &[
    (22943, "Connection accepted"),
    (22944, "Connection ended"),
    (23015, "Listening on"),
    (23016, "Waiting for connections"),
    (
        HANDSHAKE_FAILED,
        "Error receiving request from client. Ending connection from remote",
    ),
    (
        NO_CERTIFICATE_ALLOWED,
        "No SSL certificate provided by peer",
    ),
    (
        NO_CERTIFICATE_REJECTED,
        "No SSL certificate provided by peer; connection rejected",
    ),
    (
        VALIDATION_FAILED_ALLOWED,
        "SSL peer certificate validation failed",
    ),
    (
        VALIDATION_FAILED_REJECTED,
        "SSL peer certificate validation failed",
    ),
    (
        SERVER_CERTIFICATE_EXPIRES_SOON,
        "Server certificate will expire soon",
    ),
    (
        PREFER_SSL_PLAINTEXT,
        "SSL mode is set to 'preferred' and connection to remote is not using SSL.",
    ),
];

/// mongod's ids for the TLS events (mongod logs a failed handshake, and a
/// plaintext client on an SSL-only port, as 22988 with the reason).
pub const HANDSHAKE_FAILED: u64 = 22988;
pub const NO_CERTIFICATE_ALLOWED: u64 = 23234;
pub const NO_CERTIFICATE_REJECTED: u64 = 23255;
pub const VALIDATION_FAILED_ALLOWED: u64 = 23235;
pub const VALIDATION_FAILED_REJECTED: u64 = 23256;
pub const SERVER_CERTIFICATE_EXPIRES_SOON: u64 = 23786;
pub const PREFER_SSL_PLAINTEXT: u64 = 23838;

/// mongod's id for a refused peer certificate (or the lack of one).
pub fn rejection_id(no_certificate: bool) -> u64 {
    if no_certificate {
        NO_CERTIFICATE_REJECTED
    } else {
        VALIDATION_FAILED_REJECTED
    }
}

/// mongossl's own ids (documented in docs/configuration.md).
pub const SSL_HANDSHAKE_DONE: u64 = 9_100_001;
pub const PROXY_HEADER_RECEIVED: u64 = 9_100_002;
/// A client let in without a good OCSP answer for its certificate.
pub const OCSP_SOFT_FAIL: u64 = 9_100_005;

/// Writes `record` as one JSON line; `time` is RFC 3339 with a `Z`.
pub fn write_line(
    out: &mut impl Write,
    time: &str,
    context: &str,
    record: &Record,
) -> io::Result<()> {
    let mut fields = Fields::default();
    // A visitor that never fails: errors only come from the visitor.
    let _ = record.key_values().visit(&mut fields);
    let id = fields.id.unwrap_or(MONGOSSL_DEFAULT_ID);
    let text = record.args().to_string();
    let msg = MONGOD_EVENTS
        .iter()
        .find(|(known, _)| *known == id)
        .map_or(text.as_str(), |(_, msg)| msg);
    let severity = match record.level() {
        log::Level::Error => "E",
        log::Level::Warn => "W",
        log::Level::Info => "I",
        log::Level::Debug => "D1",
        log::Level::Trace => "D2",
    };
    let component = fields.component.unwrap_or(if context.starts_with("conn") {
        "NETWORK".to_string()
    } else {
        "CONTROL".to_string()
    });
    let mut line = String::with_capacity(160 + text.len());
    line.push_str("{\"t\":{\"$date\":");
    push_str(&mut line, &mongod_date(time));
    line.push_str("},\"s\":");
    push_str(&mut line, severity);
    line.push_str(",\"c\":");
    push_str(&mut line, &component);
    let _ = write!(line, ",\"id\":{id},\"ctx\":");
    push_str(&mut line, context);
    line.push_str(",\"msg\":");
    push_str(&mut line, msg);
    line.push_str(",\"attr\":{");
    if msg != text {
        // mongod's message: mongossl's own words go along as an attribute.
        fields
            .attr
            .insert(0, ("message".to_string(), Json::Str(text)));
    }
    for (i, (key, value)) in fields.attr.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_str(&mut line, key);
        line.push(':');
        match value {
            Json::Int(n) => {
                let _ = write!(line, "{n}");
            }
            Json::Bool(b) => {
                let _ = write!(line, "{b}");
            }
            Json::Str(s) => push_str(&mut line, s),
        }
    }
    line.push_str("}}\n");
    out.write_all(line.as_bytes())
}

/// mongod writes `+00:00` where RFC 3339 may write `Z`.
fn mongod_date(time: &str) -> String {
    match time.strip_suffix('Z') {
        Some(rest) => format!("{rest}+00:00"),
        None => time.to_string(),
    }
}

/// A JSON string literal, escaped as RFC 8259 requires.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
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
}

enum Json {
    Int(i128),
    Bool(bool),
    Str(String),
}

/// The key-values of a record: `id` and `c` steer the line, the rest is `attr`.
#[derive(Default)]
struct Fields {
    id: Option<u64>,
    component: Option<String>,
    attr: Vec<(String, Json)>,
}

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        match key.as_str() {
            "id" => self.id = value.to_u64(),
            "c" => self.component = Some(value.to_string()),
            name => {
                let json = if let Some(n) = value.to_i64() {
                    Json::Int(i128::from(n))
                } else if let Some(n) = value.to_u64() {
                    Json::Int(i128::from(n))
                } else if let Some(b) = value.to_bool() {
                    Json::Bool(b)
                } else {
                    Json::Str(value.to_string())
                };
                self.attr.push((name.to_string(), json));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(record: &Record, context: &str) -> serde_json::Value {
        let mut out = Vec::new();
        write_line(&mut out, "2026-12-07T06:32:59.307Z", context, record).expect("write");
        assert!(out.ends_with(b"}\n") && out.iter().filter(|b| **b == b'\n').count() == 1);
        serde_json::from_slice(&out).expect("one JSON document")
    }

    #[test]
    fn a_mongod_event_takes_mongods_id_and_message() {
        let kvs: [(&str, Value); 4] = [
            ("id", Value::from(22943u64)),
            ("remote", Value::from("127.0.0.1:5000")),
            ("connectionId", Value::from(7u64)),
            ("connectionCount", Value::from(1u64)),
        ];
        let args =
            format_args!("connection accepted from 127.0.0.1:5000 #7 (1 connection now open)");
        let record = Record::builder()
            .level(log::Level::Info)
            .args(args)
            .key_values(&kvs)
            .build();
        let doc = line(&record, "conn7");
        assert_eq!(doc["t"]["$date"], "2026-12-07T06:32:59.307+00:00");
        assert_eq!(doc["s"], "I");
        assert_eq!(doc["c"], "NETWORK");
        assert_eq!(doc["id"], 22943);
        assert_eq!(doc["ctx"], "conn7");
        assert_eq!(doc["msg"], "Connection accepted");
        assert_eq!(doc["attr"]["remote"], "127.0.0.1:5000");
        assert_eq!(doc["attr"]["connectionId"], 7);
        assert_eq!(doc["attr"]["connectionCount"], 1);
        assert!(
            doc["attr"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("#7"))
        );
    }

    #[test]
    fn other_lines_keep_their_words_and_escape_them() {
        let args = format_args!("a \"quoted\"\tline\\ with\ncontrol \u{1} bytes");
        let record = Record::builder().level(log::Level::Warn).args(args).build();
        let doc = line(&record, "initandlisten");
        assert_eq!(doc["id"], MONGOSSL_DEFAULT_ID);
        assert_eq!(doc["c"], "CONTROL");
        assert_eq!(doc["s"], "W");
        assert_eq!(doc["msg"], "a \"quoted\"\tline\\ with\ncontrol \u{1} bytes");
        assert_eq!(doc["attr"], serde_json::json!({}));
    }
}
