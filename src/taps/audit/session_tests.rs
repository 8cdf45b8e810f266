//! Conversations as drivers hold them: SCRAM in steps and speculatively
//! inside hello, X.509, failures, logout, pipelined and unacknowledged
//! commands, and a connection that ends with commands in flight.

use bson::{Binary, Bson, Document, RawDocumentBuf, doc, spec::BinarySubtype};

use super::*;
use crate::taps::wire::messages::{Command, Message, Reply};

fn session() -> Session {
    let endpoints = Endpoints::new(
        Some("127.0.0.1:27017".parse().unwrap()),
        "192.0.2.9:4000".parse().unwrap(),
    );
    Session::new(endpoints, true, Some("CN=client,O=MongoDB".into()))
}

fn command(id: i32, body: Document) -> Message {
    Message::Command(Command {
        request_id: id,
        op_code: crate::wire::OP_MSG,
        legacy_db: None,
        name: body.keys().next().unwrap().clone(),
        body: RawDocumentBuf::from_document(&body).unwrap(),
        sequences: Vec::new(),
        more_to_come: false,
        compressor: None,
    })
}

fn reply(to: i32, body: Document) -> Message {
    Message::Reply(Reply {
        response_to: to,
        body: RawDocumentBuf::from_document(&body).unwrap(),
        more_to_come: false,
        cut_short: false,
    })
}

fn payload(text: &str) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: text.as_bytes().to_vec(),
    })
}

fn feed(s: &mut Session, messages: Vec<(Flow, Message)>) -> Vec<Document> {
    let mut out = Vec::new();
    for (flow, m) in messages {
        s.message(flow, m, &mut out);
    }
    out.iter().map(Event::to_document).collect()
}

const UP: Flow = Flow::ToUpstream;
const DOWN: Flow = Flow::ToClient;

fn atypes(events: &[Document]) -> Vec<&str> {
    events.iter().map(|e| e.get_str("atype").unwrap()).collect()
}

#[test]
fn a_scram_login_then_commands_carry_the_user() {
    let mut s = session();
    let start = doc! { "saslStart": 1, "mechanism": "SCRAM-SHA-256",
    "payload": payload("n,,n=ti=2Cm,r=abc"), "$db": "admin" };
    let events = feed(
        &mut s,
        vec![
            (UP, command(1, start)),
            (
                DOWN,
                reply(1, doc! { "conversationId": 1, "done": false, "ok": 1 }),
            ),
            (
                UP,
                command(
                    2,
                    doc! { "saslContinue": 1, "conversationId": 1, "$db": "admin" },
                ),
            ),
            (
                DOWN,
                reply(2, doc! { "conversationId": 1, "done": false, "ok": 1 }),
            ),
            (
                UP,
                command(
                    3,
                    doc! { "saslContinue": 1, "conversationId": 1, "$db": "admin" },
                ),
            ),
            (
                DOWN,
                reply(3, doc! { "conversationId": 1, "done": true, "ok": 1 }),
            ),
            (
                UP,
                command(
                    4,
                    doc! { "find": "orders", "filter": { "card": "4111" }, "$db": "shop" },
                ),
            ),
            (DOWN, reply(4, doc! { "cursor": {}, "ok": 1 })),
        ],
    );
    assert_eq!(atypes(&events), ["authenticate", "authCheck"]);
    assert_eq!(
        events[0].get_document("param").unwrap(),
        &doc! { "user": "ti,m", "db": "admin", "mechanism": "SCRAM-SHA-256" }
    );
    assert_eq!(events[0].get_i32("result").unwrap(), 0);
    let check = &events[1];
    assert_eq!(
        check.get_array("users").unwrap(),
        &vec![Bson::Document(doc! { "user": "ti,m", "db": "admin" })]
    );
    let param = check.get_document("param").unwrap();
    assert_eq!(param.get_str("ns").unwrap(), "shop.orders");
    assert_eq!(
        param
            .get_document("args")
            .unwrap()
            .get_document("filter")
            .unwrap(),
        &doc! { "card": "###" }
    );
}

#[test]
fn a_wrong_password_is_a_failed_authenticate() {
    let mut s = session();
    let start = doc! { "saslStart": 1, "mechanism": "SCRAM-SHA-1",
    "payload": payload("n,,n=bob,r=x"), "$db": "test" };
    let events = feed(
        &mut s,
        vec![
            (UP, command(1, start)),
            (
                DOWN,
                reply(1, doc! { "conversationId": 1, "done": false, "ok": 1 }),
            ),
            (UP, command(2, doc! { "saslContinue": 1, "$db": "test" })),
            (
                DOWN,
                reply(
                    2,
                    doc! { "ok": 0, "code": 18, "errmsg": "Authentication failed." },
                ),
            ),
            (UP, command(3, doc! { "ping": 1, "$db": "test" })),
            (DOWN, reply(3, doc! { "ok": 1 })),
        ],
    );
    assert_eq!(atypes(&events), ["authenticate", "authCheck"]);
    assert_eq!(events[0].get_i32("result").unwrap(), 18);
    assert_eq!(
        events[0]
            .get_document("param")
            .unwrap()
            .get_str("user")
            .unwrap(),
        "bob"
    );
    assert!(events[1].get_array("users").unwrap().is_empty());
}

#[test]
fn speculative_scram_in_hello_then_one_continue() {
    let mut s = session();
    let hello = doc! {
        "hello": 1, "client": { "driver": { "name": "PyMongo" } }, "$db": "admin",
        "speculativeAuthenticate": { "saslStart": 1, "mechanism": "SCRAM-SHA-256",
            "payload": payload("n,,n=alice,r=n"), "db": "admin" },
    };
    let events = feed(
        &mut s,
        vec![
            (UP, command(1, hello)),
            (
                DOWN,
                reply(
                    1,
                    doc! { "isWritablePrimary": true, "ok": 1,
                    "speculativeAuthenticate": { "conversationId": 1, "done": false } },
                ),
            ),
            (UP, command(2, doc! { "saslContinue": 1, "$db": "admin" })),
            (DOWN, reply(2, doc! { "done": true, "ok": 1 })),
        ],
    );
    assert_eq!(atypes(&events), ["clientMetadata", "authenticate"]);
    let meta = events[0].get_document("param").unwrap();
    assert_eq!(
        meta.get_document("localEndpoint")
            .unwrap()
            .get_i32("port")
            .unwrap(),
        27017
    );
    assert_eq!(
        events[1]
            .get_document("param")
            .unwrap()
            .get_str("user")
            .unwrap(),
        "alice"
    );
    // A second hello (the monitor's) is not a second clientMetadata.
    let again = feed(
        &mut s,
        vec![(UP, command(3, doc! { "hello": 1, "client": {} }))],
    );
    assert!(again.is_empty());
}

#[test]
fn x509_takes_the_certificate_subject_and_logout_drops_it() {
    let mut s = session();
    let events = feed(
        &mut s,
        vec![
            (
                UP,
                command(
                    1,
                    doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "$db": "$external" },
                ),
            ),
            (
                DOWN,
                reply(
                    1,
                    doc! { "dbname": "$external", "user": "CN=client,O=MongoDB", "ok": 1 },
                ),
            ),
            (UP, command(2, doc! { "logout": 1, "$db": "$external" })),
        ],
    );
    assert_eq!(atypes(&events), ["authenticate", "logout"]);
    assert_eq!(
        events[0].get_document("param").unwrap(),
        &doc! { "user": "CN=client,O=MongoDB", "db": "$external", "mechanism": "MONGODB-X509" }
    );
    let logout = events[1].get_document("param").unwrap();
    assert_eq!(logout.get_array("initialUsers").unwrap().len(), 1);
    assert!(logout.get_array("updatedUsers").unwrap().is_empty());
}

#[test]
fn pipelined_replies_pair_by_response_to_and_unacknowledged_writes_need_none() {
    let mut s = session();
    let mut unacknowledged = doc! { "insert": "t", "$db": "d" };
    unacknowledged.insert("writeConcern", doc! { "w": 0 });
    let Message::Command(mut quiet) = command(3, unacknowledged) else {
        panic!()
    };
    quiet.more_to_come = true;
    let events = feed(
        &mut s,
        vec![
            (UP, command(1, doc! { "find": "a", "$db": "d" })),
            (UP, command(2, doc! { "count": "b", "$db": "d" })),
            (UP, Message::Command(quiet)),
            (DOWN, reply(2, doc! { "ok": 0, "code": 13 })),
            (DOWN, reply(1, doc! { "ok": 1 })),
            (DOWN, reply(99, doc! { "ok": 1 })),
        ],
    );
    let results: Vec<(String, i32)> = events
        .iter()
        .map(|e| {
            (
                e.get_document("param")
                    .unwrap()
                    .get_str("ns")
                    .unwrap()
                    .to_string(),
                e.get_i32("result").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [("d.t".into(), 0), ("d.b".into(), 13), ("d.a".into(), 0)]
    );
}

#[test]
fn the_end_audits_what_was_in_flight_and_logs_out() {
    let mut s = session();
    let mut out = feed(
        &mut s,
        vec![
            (
                UP,
                command(
                    1,
                    doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "$db": "$external" },
                ),
            ),
            (DOWN, reply(1, doc! { "ok": 1 })),
            (UP, command(2, doc! { "find": "slow", "$db": "d" })),
        ],
    );
    let mut ended = Vec::new();
    s.ended("closed by peers", &mut ended);
    out.extend(ended.iter().map(Event::to_document));
    assert_eq!(
        atypes(&out),
        ["authenticate", "authCheck", "logout", "clientDisconnect"]
    );
    assert_eq!(
        out[1]
            .get_document("param")
            .unwrap()
            .get_str("reply")
            .unwrap(),
        "not seen"
    );
    assert_eq!(
        out[2]
            .get_document("param")
            .unwrap()
            .get_str("reason")
            .unwrap(),
        "Client has disconnected"
    );
}

#[test]
fn sasl_user_names() {
    assert_eq!(
        sasl_user("SCRAM-SHA-256", b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").as_deref(),
        Some("user")
    );
    assert_eq!(
        sasl_user("SCRAM-SHA-1", b"n,a=x,n=a=3Db,r=1").as_deref(),
        Some("a=b")
    );
    assert_eq!(sasl_user("PLAIN", b"\0bob\0secret").as_deref(), Some("bob"));
    assert_eq!(sasl_user("SCRAM-SHA-1", b"garbage"), None);
}
