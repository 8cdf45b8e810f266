//! The audit event document in mongod's "mongo" schema — `{ atype, ts,
//! uuid, local, remote, users, roles, param, result }` — and the redaction
//! of audited commands (keys kept, values replaced), so that the audit
//! file does not become a copy of the data.

use std::net::SocketAddr;
use std::sync::Arc;

use bson::spec::BinarySubtype;
use bson::{
    Binary, Bson, DateTime, Document, RawArrayBuf, RawBson, RawBsonRef, RawDocument,
    RawDocumentBuf, doc,
};

use crate::taps::wire::framing::Sequence;

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

/// The users of `users` as mongod lists them: `[{user, db}]`.
pub fn users_bson(users: &[User]) -> Vec<Bson> {
    users.iter().map(User::to_bson).collect()
}

/// What every event of one connection shares.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// Identifies the connection across its events (UUID version 4).
    pub uuid: [u8; 16],
    pub local: Option<SocketAddr>,
    pub remote: SocketAddr,
    /// `"uuid":…,"local":…,"remote":…` as JSON: the same in every event
    /// of the connection, so written once.
    pub json: String,
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
            json: super::extjson::endpoints(&uuid, local.as_ref(), &remote),
        }
    }
}

/// `{ ip, port }`, as mongod writes an endpoint.
pub fn endpoint(address: &SocketAddr) -> Document {
    doc! { "ip": address.ip().to_string(), "port": i32::from(address.port()) }
}

/// One event, as the loops hand it to the writer: cheap to make (the
/// connection's parts are shared, a command stays in its relayed form);
/// the writer turns it into a line or a document.
#[derive(Clone, Debug)]
pub struct Event {
    pub atype: &'static str,
    /// When it happened (a command's: when it was sent).
    pub ts: DateTime,
    pub endpoints: Arc<Endpoints>,
    pub users: Arc<[User]>,
    pub param: Param,
    pub result: i32,
}

#[derive(Clone, Debug)]
pub enum Param {
    /// Connection, login and metadata events.
    Document(Document),
    /// A command's authCheck.
    Check(Check),
}

/// An authCheck's `param`: `{ command, ns, args }`, and what mongossl adds
/// (`sequences`, `compressor`, `reply`). The command's name and namespace
/// are read from `args` when the event is written: one allocation per
/// event, which matters because the writer thread frees it, and glibc
/// makes a thread that frees another's memory take that thread's lock.
#[derive(Clone, Debug)]
pub struct Check {
    /// The command, redacted (`command_args`); its first key is the
    /// command's name.
    pub args: RawDocumentBuf,
    /// `<db>.<collection>` when the command names a collection, else the
    /// database.
    pub ns: String,
    /// Document sequences that were counted, not copied.
    pub sequences: Vec<Sequence>,
    pub compressor: Option<&'static str>,
    /// False when the connection ended (or too many commands waited)
    /// before the reply came: `reply: "not seen"`.
    pub reply_seen: bool,
}

impl Check {
    /// The check of `command` (its database from `$db`, or `legacy_db`),
    /// made in one pass over the relayed bytes.
    pub fn of(
        command: &RawDocument,
        legacy_db: Option<&str>,
        redact: bool,
    ) -> Result<Check, String> {
        let mut facts = Facts::default();
        let args = args_and_facts(command, redact, &mut facts)?;
        let db = legacy_db.or(facts.db).unwrap_or("admin");
        let ns = match facts.collection {
            Some(collection) => format!("{db}.{collection}"),
            None => db.to_string(),
        };
        Ok(Check {
            args,
            ns,
            sequences: Vec::new(),
            compressor: None,
            reply_seen: true,
        })
    }

    /// The command's name: the first key.
    pub fn command(&self) -> &str {
        match self.args.iter().next() {
            Some(Ok((name, _))) => name,
            _ => "",
        }
    }

    pub fn to_document(&self) -> Document {
        let args = Document::try_from(self.args.as_ref()).unwrap_or_default();
        let mut param = doc! { "command": self.command(), "ns": &self.ns, "args": args };
        if !self.sequences.is_empty() {
            param.insert("sequences", sequences_bson(&self.sequences));
        }
        if let Some(compressor) = self.compressor {
            param.insert("compressor", compressor);
        }
        if !self.reply_seen {
            param.insert("reply", "not seen");
        }
        param
    }
}

/// `[{ identifier, count, bytes }]` for the sequences of a command.
pub fn sequences_bson(sequences: &[Sequence]) -> Vec<Bson> {
    sequences
        .iter()
        .map(|s| {
            Bson::Document(doc! {
                "identifier": &s.identifier,
                "count": i64::from(s.count),
                "bytes": s.bytes as i64,
            })
        })
        .collect()
}

impl Event {
    /// The event in mongod's schema, as the filter and the BSON format
    /// see it.
    pub fn to_document(&self) -> Document {
        let local = match &self.endpoints.local {
            Some(address) => endpoint(address),
            None => Document::new(),
        };
        let param = match &self.param {
            Param::Document(param) => param.clone(),
            Param::Check(check) => check.to_document(),
        };
        doc! {
            "atype": self.atype,
            "ts": self.ts,
            "uuid": Binary { subtype: BinarySubtype::Uuid, bytes: self.endpoints.uuid.to_vec() },
            "local": local,
            "remote": endpoint(&self.endpoints.remote),
            "users": users_bson(&self.users),
            "roles": Vec::<Bson>::new(),
            "param": param,
            "result": self.result,
        }
    }
}

/// A command as the audit shows it: top-level options (the collection's
/// name, `ordered`, `limit`) as sent; inside documents and arrays (the
/// data, filters, updates, pipelines) every value replaced by `###` when
/// `redact`, keys kept. Secrets are dropped either way. Works on the
/// relayed bytes and checks them on the way: an error means the command
/// does not parse.
pub fn command_args(command: &RawDocument, redact: bool) -> Result<RawDocumentBuf, String> {
    args_and_facts(command, redact, &mut Facts::default())
}

/// What the pass over a command notes for its namespace.
#[derive(Default)]
struct Facts<'a> {
    /// The first element's value, when it is a string.
    collection: Option<&'a str>,
    db: Option<&'a str>,
}

fn args_and_facts<'a>(
    command: &'a RawDocument,
    redact: bool,
    facts: &mut Facts<'a>,
) -> Result<RawDocumentBuf, String> {
    let mut args = document_with_room(command.as_bytes().len());
    for (i, element) in command.iter().enumerate() {
        let (key, value) = element.map_err(broken)?;
        match value {
            RawBsonRef::String(collection) if i == 0 => facts.collection = Some(collection),
            RawBsonRef::String(db) if key == "$db" => facts.db = Some(db),
            _ => {}
        }
        if SECRET_FIELDS.contains(&key) {
            args.append_ref(key, REDACTED);
            continue;
        }
        match value {
            RawBsonRef::Document(_) | RawBsonRef::Array(_) if redact => {
                args.append(key, rebuilt(value, &redacted)?)
            }
            RawBsonRef::Document(_) | RawBsonRef::Array(_) if holds_secrets(value)? => {
                args.append(key, rebuilt(value, &without_secrets)?)
            }
            // Kept as sent, copied straight from the relayed bytes.
            _ => args.append_ref(key, value),
        }
    }
    Ok(args)
}

/// An empty document that can grow to `room` bytes without reallocating.
fn document_with_room(room: usize) -> RawDocumentBuf {
    let mut bytes = Vec::with_capacity(room.max(5));
    bytes.extend_from_slice(&[5, 0, 0, 0, 0]);
    RawDocumentBuf::from_bytes(bytes).unwrap_or_default()
}

fn broken(e: bson::raw::Error) -> String {
    format!("a document does not parse: {e}")
}

/// A value of a rebuilt document: borrowed where it is kept as it was.
enum Kept<'a> {
    As(RawBsonRef<'a>),
    Rebuilt(RawBson),
}

/// What `rebuilt` does to each element: given its key (none in an array)
/// and value, the value to keep.
type Each<'a> = &'a dyn for<'v> Fn(Option<&str>, RawBsonRef<'v>) -> Result<Kept<'v>, String>;

/// Keys and shape kept, every scalar replaced.
fn redacted<'v>(_: Option<&str>, value: RawBsonRef<'v>) -> Result<Kept<'v>, String> {
    Ok(match value {
        RawBsonRef::Document(_) | RawBsonRef::Array(_) => Kept::Rebuilt(rebuilt(value, &redacted)?),
        _ => Kept::As(RawBsonRef::String(REDACTED)),
    })
}

/// Everything kept but the secret fields at any depth.
fn without_secrets<'v>(key: Option<&str>, value: RawBsonRef<'v>) -> Result<Kept<'v>, String> {
    Ok(match key {
        Some(key) if SECRET_FIELDS.contains(&key) => Kept::As(RawBsonRef::String(REDACTED)),
        _ if holds_secrets(value)? => Kept::Rebuilt(rebuilt(value, &without_secrets)?),
        _ => Kept::As(value),
    })
}

/// Whether a secret field is anywhere inside `value` (which it checks
/// parses).
fn holds_secrets(value: RawBsonRef) -> Result<bool, String> {
    let mut found = false;
    match value {
        RawBsonRef::Document(d) => {
            for element in d {
                let (key, value) = element.map_err(broken)?;
                found |= SECRET_FIELDS.contains(&key) || holds_secrets(value)?;
            }
        }
        RawBsonRef::Array(a) => {
            for value in a {
                found |= holds_secrets(value.map_err(broken)?)?;
            }
        }
        _ => {}
    }
    Ok(found)
}

/// Rebuilds a document or array with `each` applied to its elements (and
/// their keys); a scalar stays itself.
fn rebuilt(value: RawBsonRef, each: Each) -> Result<RawBson, String> {
    Ok(match value {
        RawBsonRef::Document(d) => {
            let mut out = document_with_room(d.as_bytes().len());
            for element in d {
                let (key, value) = element.map_err(broken)?;
                match each(Some(key), value)? {
                    Kept::As(value) => out.append_ref(key, value),
                    Kept::Rebuilt(value) => out.append(key, value),
                }
            }
            RawBson::Document(out)
        }
        RawBsonRef::Array(a) => {
            let mut out = RawArrayBuf::new();
            for value in a {
                match each(None, value.map_err(broken)?)? {
                    Kept::As(value) => out.push(value.to_raw_bson()),
                    Kept::Rebuilt(value) => out.push(value),
                }
            }
            RawBson::Array(out)
        }
        other => other.to_raw_bson(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(d: &Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(d).unwrap()
    }

    fn args(d: &Document, redact: bool) -> Document {
        Document::try_from(command_args(&raw(d), redact).unwrap().as_ref()).unwrap()
    }

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
        let e = Event {
            atype: "authCheck",
            ts: DateTime::from_millis(0),
            endpoints: Arc::new(endpoints),
            users: users.into(),
            param: Param::Document(doc! {"command": "find"}),
            result: 0,
        }
        .to_document();
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
        assert_eq!(
            e.get_array("users").unwrap(),
            &vec![Bson::Document(doc! {"user": "tim", "db": "admin"})]
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
        assert_eq!(
            args(&command, true),
            doc! {
                "insert": "orders",
                "ordered": true,
                "documents": [ { "card": "###", "n": "###", "nested": { "x": ["###", "###"] } } ],
                "$db": "shop",
            }
        );
        assert_eq!(args(&command, false), command);
    }

    #[test]
    fn passwords_never_reach_the_audit() {
        let command = doc! { "createUser": "bob", "pwd": "hunter2", "roles": [] };
        assert_eq!(args(&command, false).get_str("pwd").unwrap(), "###");
        let nested = doc! { "applyOps": [ { "o": { "pwd": "x" } } ] };
        assert!(
            !Bson::Document(args(&nested, false))
                .to_string()
                .contains("\"x\"")
        );
    }

    #[test]
    fn a_document_that_does_not_parse_is_an_error() {
        // An int32 element whose value is cut short.
        let broken = RawDocument::from_bytes(&[10, 0, 0, 0, 0x10, b'n', 0, 1, 0, 0]).unwrap();
        assert!(command_args(broken, true).is_err());
    }

    #[test]
    fn a_check_lists_its_sequences_and_a_missing_reply() {
        let check = Check {
            args: raw(&doc! {"insert": "orders", "$db": "shop"}),
            ns: "shop.orders".into(),
            sequences: vec![Sequence {
                identifier: "documents".into(),
                count: 3,
                bytes: 120,
            }],
            compressor: Some("zstd"),
            reply_seen: false,
        };
        let legacy = Check::of(&raw(&doc! {"count": "orders"}), Some("old"), true).unwrap();
        assert_eq!(legacy.ns, "old.orders");
        let db_level = Check::of(&raw(&doc! {"ping": 1, "$db": "x"}), None, true).unwrap();
        assert_eq!((db_level.command(), db_level.ns.as_str()), ("ping", "x"));
        let find = Check::of(&raw(&doc! {"find": "o", "$db": "shop"}), None, true).unwrap();
        assert_eq!(find.ns, "shop.o");
        let no_db = Check::of(&raw(&doc! {"find": "o"}), None, true).unwrap();
        assert_eq!(no_db.ns, "admin.o");
        assert_eq!(
            check.to_document(),
            doc! {
                "command": "insert", "ns": "shop.orders", "args": {"insert": "orders", "$db": "shop"},
                "sequences": [{"identifier": "documents", "count": 3i64, "bytes": 120i64}],
                "compressor": "zstd", "reply": "not seen",
            }
        );
    }
}
