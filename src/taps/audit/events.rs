//! The audit event document in mongod's "mongo" schema — `{ atype, ts,
//! uuid, local, remote, users, roles, param, result }` — and the redaction
//! of audited commands (keys kept, values replaced), so that the audit
//! file does not become a copy of the data.

use std::net::SocketAddr;

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Document, doc};

/// What mongod writes in place of a redacted value (its log redaction's
/// placeholder).
pub const REDACTED: &str = "###";

/// Fields that never reach the audit, whatever `--auditRedact` says:
/// passwords (`createUser`, `updateUser`) and SASL payloads.
const SECRET_FIELDS: &[&str] = &["pwd", "payload"];

/// A user a connection authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub user: String,
    pub db: String,
}

impl User {
    fn to_bson(&self) -> Bson {
        Bson::Document(doc! { "user": &self.user, "db": &self.db })
    }
}

/// What every event of one connection shares.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// Identifies the connection across its events (UUID version 4).
    pub uuid: [u8; 16],
    pub local: Option<SocketAddr>,
    pub remote: SocketAddr,
}

impl Endpoints {
    pub fn new(local: Option<SocketAddr>, remote: SocketAddr) -> Endpoints {
        let mut uuid = [0u8; 16];
        // A failing random source leaves zeros, which is still a valid
        // (if less unique) identifier; the audit must not stop for it.
        let _ = openssl::rand::rand_bytes(&mut uuid);
        uuid[6] = (uuid[6] & 0x0f) | 0x40;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
        Endpoints {
            uuid,
            local,
            remote,
        }
    }
}

/// `{ ip, port }`, as mongod writes an endpoint.
pub fn endpoint(address: &SocketAddr) -> Document {
    doc! { "ip": address.ip().to_string(), "port": i32::from(address.port()) }
}

/// One event. `ts` is when it happened (a command's: when it was sent).
pub fn event(
    atype: &str,
    ts: DateTime,
    endpoints: &Endpoints,
    users: &[User],
    param: Document,
    result: i32,
) -> Document {
    let local = match &endpoints.local {
        Some(address) => endpoint(address),
        None => Document::new(),
    };
    doc! {
        "atype": atype,
        "ts": ts,
        "uuid": Binary { subtype: BinarySubtype::Uuid, bytes: endpoints.uuid.to_vec() },
        "local": local,
        "remote": endpoint(&endpoints.remote),
        "users": users.iter().map(User::to_bson).collect::<Vec<_>>(),
        "roles": Vec::<Bson>::new(),
        "param": param,
        "result": result,
    }
}

/// A command as the audit shows it: top-level options (the collection's
/// name, `ordered`, `limit`) as sent; inside documents and arrays (the
/// data, filters, updates, pipelines) every value replaced by `###` when
/// `redact`, keys kept. Secrets are dropped either way.
pub fn command_args(command: &Document, redact: bool) -> Document {
    let mut args = Document::new();
    for (key, value) in command {
        if SECRET_FIELDS.contains(&key.as_str()) {
            args.insert(key, REDACTED);
            continue;
        }
        let value = match value {
            Bson::Document(_) | Bson::Array(_) if redact => redacted(value),
            _ => without_secrets(value),
        };
        args.insert(key, value);
    }
    args
}

/// Keys and shape kept, every scalar replaced.
fn redacted(value: &Bson) -> Bson {
    match value {
        Bson::Document(d) => Bson::Document(
            d.iter()
                .map(|(k, v)| (k.clone(), redacted(v)))
                .collect::<Document>(),
        ),
        Bson::Array(items) => Bson::Array(items.iter().map(redacted).collect()),
        _ => Bson::String(REDACTED.into()),
    }
}

fn without_secrets(value: &Bson) -> Bson {
    match value {
        Bson::Document(d) => Bson::Document(
            d.iter()
                .map(|(k, v)| {
                    let v = if SECRET_FIELDS.contains(&k.as_str()) {
                        Bson::String(REDACTED.into())
                    } else {
                        without_secrets(v)
                    };
                    (k.clone(), v)
                })
                .collect::<Document>(),
        ),
        Bson::Array(items) => Bson::Array(items.iter().map(without_secrets).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_has_mongods_fields_in_order() {
        let endpoints = Endpoints::new(
            Some("127.0.0.1:27017".parse().unwrap()),
            "192.0.2.1:5000".parse().unwrap(),
        );
        let users = [User {
            user: "tim".into(),
            db: "admin".into(),
        }];
        let e = event(
            "authCheck",
            DateTime::from_millis(0),
            &endpoints,
            &users,
            doc! {"command": "find"},
            0,
        );
        let keys: Vec<&str> = e.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "atype", "ts", "uuid", "local", "remote", "users", "roles", "param", "result"
            ]
        );
        assert_eq!(
            e.get_document("remote").unwrap(),
            &doc! {"ip": "192.0.2.1", "port": 5000}
        );
        assert_eq!(
            e.get_document("local").unwrap().get_i32("port").unwrap(),
            27017
        );
        let Some(Bson::Binary(uuid)) = e.get("uuid") else {
            panic!("{e}")
        };
        assert_eq!(uuid.subtype, BinarySubtype::Uuid);
        assert_eq!(uuid.bytes.len(), 16);
        assert_eq!(uuid.bytes[6] >> 4, 4, "version 4");
        let json = bson::Bson::Document(e).into_relaxed_extjson().to_string();
        assert!(json.contains(r#""subType":"04""#), "{json}");
        assert!(
            json.contains(r#""users":[{"user":"tim","db":"admin"}]"#),
            "{json}"
        );
    }

    #[test]
    fn redaction_keeps_keys_and_options() {
        let command = doc! {
            "insert": "orders",
            "ordered": true,
            "documents": [ { "card": "4111", "n": 2, "nested": { "x": [1, 2] } } ],
            "$db": "shop",
        };
        let args = command_args(&command, true);
        assert_eq!(
            args,
            doc! {
                "insert": "orders",
                "ordered": true,
                "documents": [ { "card": "###", "n": "###", "nested": { "x": ["###", "###"] } } ],
                "$db": "shop",
            }
        );
        assert_eq!(command_args(&command, false), command);
    }

    #[test]
    fn passwords_never_reach_the_audit() {
        let command = doc! { "createUser": "bob", "pwd": "hunter2", "roles": [] };
        assert_eq!(command_args(&command, false).get_str("pwd").unwrap(), "###");
        let nested = doc! { "applyOps": [ { "o": { "pwd": "x" } } ] };
        let args = command_args(&nested, false);
        assert!(!Bson::Document(args).to_string().contains("\"x\""));
    }
}
