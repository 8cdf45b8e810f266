//! `--logFormat json`: every line the real binary writes is one JSON
//! document in mongod 4.4+'s shape, with mongod's ids and messages for
//! the events mongod logs too.

use std::time::Duration;

use crate::harness::net::{Backend, ClientOptions, round_trip, tls_connect};
use crate::harness::pki::Pki;
use crate::harness::tls_server;

fn documents(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON document: {e}: {line}"))
        })
        .collect()
}

#[test]
fn every_line_is_a_mongod_json_document() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["--logFormat", "json"]);
    let mut stream = tls_connect(server.port, &ClientOptions::default()).expect("let in");
    round_trip(&mut stream, b"json").expect("relayed");
    drop(stream);
    assert!(
        server.wait_for_log("\"id\":22944", Duration::from_secs(10)),
        "no Connection ended: {}",
        server.log()
    );
    let docs = documents(&server.log());
    for doc in &docs {
        assert!(
            doc["t"]["$date"]
                .as_str()
                .is_some_and(|t| t.ends_with("+00:00")),
            "{doc}"
        );
        assert!(
            ["I", "W", "E", "D1", "D2"].contains(&doc["s"].as_str().unwrap_or("")),
            "{doc}"
        );
        for field in ["c", "ctx", "msg"] {
            assert!(doc[field].is_string(), "{field}: {doc}");
        }
        assert!(doc["id"].is_u64() && doc["attr"].is_object(), "{doc}");
    }
    let event = |id: u64| {
        docs.iter()
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("no event {id} in {docs:#?}"))
    };
    assert_eq!(event(23015)["msg"], "Listening on");
    let waiting = event(23016);
    assert_eq!(waiting["msg"], "Waiting for connections");
    assert_eq!(waiting["attr"]["port"], server.port);
    assert_eq!(waiting["attr"]["ssl"], "on");
    let accepted = event(22943);
    assert_eq!(accepted["msg"], "Connection accepted");
    assert_eq!(accepted["c"], "NETWORK");
    assert!(
        accepted["attr"]["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("127.0.0.1:"))
    );
    assert_eq!(accepted["attr"]["connectionCount"], 1);
    let id = accepted["attr"]["connectionId"]
        .as_u64()
        .expect("connectionId");
    assert_eq!(accepted["ctx"], format!("conn{id}"));
    let ended = event(22944);
    assert_eq!(ended["msg"], "Connection ended");
    assert_eq!(ended["attr"]["connectionId"], id);
    assert_eq!(ended["attr"]["connectionCount"], 0);
    assert_eq!(ended["attr"]["bytesIn"], 4);
    let handshake = event(9_100_001);
    assert_eq!(handshake["attr"]["version"], "TLSv1.3");
    assert!(
        handshake["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("SSL handshake done"))
    );
}
