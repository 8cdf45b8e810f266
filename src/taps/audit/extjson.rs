//! An event as one line of relaxed extended JSON, the form mongod writes
//! its JSON audit in, written straight from the event (and from a
//! command's relayed BSON) into the writer's buffer: no intermediate
//! document or JSON tree. The common types are written here; the rare
//! ones (decimals, regular expressions, timestamps, code, non-finite
//! numbers, …) go through the bson crate's own conversion, so that the
//! output is the crate's `into_relaxed_extjson` but for dates, which are
//! written as mongod writes them (`2026-12-07T09:53:38.460+00:00`).

use std::io::Write;

use bson::{Bson, RawBsonRef, RawDocument, RawDocumentBuf};

use super::events::{Check, Event, Param, User, sequences_bson};

/// The latest date relaxed extended JSON writes as a string (9999-12-31).
const LAST_ISO_MILLIS: i64 = 253_402_300_799_999;

/// Appends `event` as one JSON object (no newline).
pub fn write_event(event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"atype\":");
    string(event.atype, out);
    out.extend_from_slice(b",\"ts\":");
    date(event.ts.timestamp_millis(), out);
    out.push(b',');
    out.extend_from_slice(event.endpoints.json.as_bytes());
    out.extend_from_slice(b",\"users\":");
    users(&event.users, out);
    out.extend_from_slice(b",\"roles\":[],\"param\":");
    match &event.param {
        Param::Check(check) => check_param(check, out),
        Param::Document(param) => match RawDocumentBuf::from_document(param) {
            Ok(raw) => document(&raw, out),
            Err(_) => out.extend_from_slice(b"{}"),
        },
    }
    let _ = write!(out, ",\"result\":{}}}", event.result);
}

fn check_param(check: &Check, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"command\":");
    string(check.command(), out);
    out.extend_from_slice(b",\"ns\":");
    string(&check.ns, out);
    out.extend_from_slice(b",\"args\":");
    document(&check.args, out);
    if !check.sequences.is_empty() {
        out.extend_from_slice(b",\"sequences\":");
        fallback(Bson::Array(sequences_bson(&check.sequences)), out);
    }
    if let Some(compressor) = check.compressor {
        out.extend_from_slice(b",\"compressor\":");
        string(compressor, out);
    }
    if !check.reply_seen {
        out.extend_from_slice(b",\"reply\":\"not seen\"");
    }
    out.push(b'}');
}

/// A connection's `"uuid":…,"local":…,"remote":…` (`Endpoints::json`).
pub fn endpoints(
    uuid: &[u8; 16],
    local: Option<&std::net::SocketAddr>,
    remote: &std::net::SocketAddr,
) -> String {
    let mut out = b"\"uuid\":".to_vec();
    binary(4, uuid, &mut out);
    out.extend_from_slice(b",\"local\":");
    match local {
        Some(address) => endpoint(address, &mut out),
        None => out.extend_from_slice(b"{}"),
    }
    out.extend_from_slice(b",\"remote\":");
    endpoint(remote, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn endpoint(address: &std::net::SocketAddr, out: &mut Vec<u8>) {
    let _ = write!(
        out,
        "{{\"ip\":\"{}\",\"port\":{}}}",
        address.ip(),
        address.port()
    );
}

fn users(users: &[User], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, user) in users.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"user\":");
        string(&user.user, out);
        out.extend_from_slice(b",\"db\":");
        string(&user.db, out);
        out.push(b'}');
    }
    out.push(b']');
}

/// A document's elements in order. One that does not parse (the loops
/// checked commands already) ends the document early, still valid JSON.
pub fn document(doc: &RawDocument, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, element) in doc.iter().enumerate() {
        let Ok((key, item)) = element else { break };
        if i > 0 {
            out.push(b',');
        }
        string(key, out);
        out.push(b':');
        value(item, out);
    }
    out.push(b'}');
}

fn value(item: RawBsonRef, out: &mut Vec<u8>) {
    match item {
        RawBsonRef::String(s) => string(s, out),
        RawBsonRef::Document(d) => document(d, out),
        RawBsonRef::Array(a) => {
            out.push(b'[');
            for (i, element) in a.into_iter().enumerate() {
                let Ok(element) = element else { break };
                if i > 0 {
                    out.push(b',');
                }
                value(element, out);
            }
            out.push(b']');
        }
        RawBsonRef::Int32(n) => {
            let _ = write!(out, "{n}");
        }
        RawBsonRef::Int64(n) => {
            let _ = write!(out, "{n}");
        }
        RawBsonRef::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        RawBsonRef::Null => out.extend_from_slice(b"null"),
        RawBsonRef::Double(f) if f.is_finite() => {
            let _ = serde_json::to_writer(&mut *out, &f);
        }
        RawBsonRef::Binary(b) => binary(u8::from(b.subtype), b.bytes, out),
        RawBsonRef::ObjectId(id) => {
            let _ = write!(out, "{{\"$oid\":\"{}\"}}", id.to_hex());
        }
        RawBsonRef::DateTime(d) => date(d.timestamp_millis(), out),
        other => match Bson::try_from(other.to_raw_bson()) {
            Ok(bson) => fallback(bson, out),
            Err(_) => out.extend_from_slice(b"null"),
        },
    }
}

/// The bson crate's relaxed form, for the types not written above.
fn fallback(bson: Bson, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, &bson.into_relaxed_extjson());
}

fn string(s: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn binary(subtype: u8, bytes: &[u8], out: &mut Vec<u8>) {
    let _ = write!(
        out,
        "{{\"$binary\":{{\"base64\":\"{}\",\"subType\":\"{subtype:02x}\"}}}}",
        openssl::base64::encode_block(bytes)
    );
}

/// `{"$date": "…"}` for the years 1970 to 9999, as relaxed extended JSON
/// has it; `{"$date": {"$numberLong": "…"}}` outside them.
fn date(millis: i64, out: &mut Vec<u8>) {
    if (0..=LAST_ISO_MILLIS).contains(&millis) {
        out.extend_from_slice(b"{\"$date\":\"");
        iso_date_into(millis, out);
        out.extend_from_slice(b"\"}");
    } else {
        let _ = write!(out, "{{\"$date\":{{\"$numberLong\":\"{millis}\"}}}}");
    }
}

/// Milliseconds since the epoch as mongod writes a date:
/// `2026-12-07T09:53:38.460+00:00`.
pub fn iso_date(millis: i64) -> String {
    let mut out = Vec::with_capacity(29);
    iso_date_into(millis, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// `iso_date`, appended digit by digit (every event has one: no
/// formatting machinery).
fn iso_date_into(millis: i64, out: &mut Vec<u8>) {
    let (days, ms) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    // Days to a civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let digits = |out: &mut Vec<u8>, value: i64, width: u32| {
        for place in (0..width).rev() {
            out.push(b'0' + (value / 10i64.pow(place) % 10) as u8);
        }
    };
    digits(out, year, 4);
    out.push(b'-');
    digits(out, month, 2);
    out.push(b'-');
    digits(out, day, 2);
    out.push(b'T');
    digits(out, ms / 3_600_000, 2);
    out.push(b':');
    digits(out, ms / 60_000 % 60, 2);
    out.push(b':');
    digits(out, ms / 1000 % 60, 2);
    out.push(b'.');
    digits(out, ms % 1000, 3);
    out.extend_from_slice(b"+00:00");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bson::oid::ObjectId;
    use bson::spec::BinarySubtype;
    use bson::{Binary, DateTime, Decimal128, Regex, Timestamp, doc};

    use super::*;
    use crate::taps::audit::events::{Endpoints, command_args};
    use crate::taps::wire::framing::Sequence;

    #[test]
    fn dates_as_mongod_writes_them() {
        assert_eq!(iso_date(0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(iso_date(1_796_636_018_460), "2026-12-07T09:33:38.460+00:00");
        assert_eq!(iso_date(951_782_400_000), "2000-02-29T00:00:00.000+00:00");
        let mut out = Vec::new();
        date(-1, &mut out);
        assert_eq!(out, br#"{"$date":{"$numberLong":"-1"}}"#);
    }

    /// Every BSON type, as a command's args can hold them.
    fn every_type() -> bson::Document {
        doc! {
            "s": "quote \" backslash \\ newline \n é", "i": 7, "l": 1i64 << 40,
            "d": 1.0, "frac": -0.25, "inf": f64::INFINITY, "nan": f64::NAN,
            "t": true, "f": false, "n": null,
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 255, 3] },
            "oid": ObjectId::from_bytes([1; 12]),
            "re": Regex { pattern: "^a".into(), options: "mi".into() },
            "ts": Timestamp { time: 5, increment: 6 },
            "dec": Decimal128::from_bytes([0; 16]),
            "nested": { "a": [1, { "b": [] }, "x"], "e": {} },
            "min": Bson::MinKey, "max": Bson::MaxKey, "undef": Bson::Undefined,
        }
    }

    fn event(param: Param) -> Event {
        Event {
            atype: "authCheck",
            ts: DateTime::from_millis(1_796_636_018_460),
            endpoints: Arc::new(Endpoints::new(
                Some("[::1]:27017".parse().unwrap()),
                "192.0.2.1:5000".parse().unwrap(),
            )),
            users: vec![User {
                user: "tim \"t\"".into(),
                db: "admin".into(),
            }]
            .into(),
            param,
            result: 13,
        }
    }

    /// What the bson crate makes of the event's document, with `ts` as
    /// mongod writes it.
    fn crate_json(event: &Event) -> serde_json::Value {
        let mut json = Bson::Document(event.to_document()).into_relaxed_extjson();
        json["ts"]["$date"] = iso_date(event.ts.timestamp_millis()).into();
        json
    }

    fn ours(event: &Event) -> serde_json::Value {
        let mut out = Vec::new();
        write_event(event, &mut out);
        serde_json::from_slice(&out).expect("one JSON object")
    }

    #[test]
    fn lines_are_the_crates_relaxed_json() {
        let document_event = event(Param::Document(every_type()));
        assert_eq!(ours(&document_event), crate_json(&document_event));
        let check = event(Param::Check(Check {
            ns: "shop.orders".into(),
            args: command_args(
                &RawDocumentBuf::from_document(&every_type()).unwrap(),
                false,
            )
            .unwrap(),
            sequences: vec![Sequence {
                identifier: "documents".into(),
                count: 2,
                bytes: 99,
            }],
            compressor: Some("snappy"),
            reply_seen: false,
        }));
        assert_eq!(ours(&check), crate_json(&check));
    }

    #[test]
    fn field_order_is_mongods() {
        let mut out = Vec::new();
        write_event(&event(Param::Document(doc! {"b": 1, "a": 2})), &mut out);
        let line = String::from_utf8(out).unwrap();
        let at = |k: &str| line.find(&format!("\"{k}\":")).unwrap();
        let order = [
            "atype", "ts", "uuid", "local", "remote", "users", "roles", "param", "result",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{line}");
        assert!(line.contains(r#""param":{"b":1,"a":2}"#), "{line}");
        assert!(
            line.contains(r#""local":{"ip":"::1","port":27017}"#),
            "{line}"
        );
        assert!(line.contains(r#""subType":"04""#), "{line}");
    }
}
