//! The audit log through the real binary: a TLS client with a certificate
//! sends MongoDB messages to an echo backend (whose echo of a message with
//! `responseTo` = its own `requestID` is, to mongossl, that command's
//! reply), so every event can be predicted. Checks the JSON file line by
//! line, redaction, a hostile message relayed unchanged and audited as
//! undecodable, rotation by SIGUSR1, a filtered BSON file read back with
//! the bson crate, and start-up errors.

use std::path::Path;
use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};

use crate::harness::net::{Backend, ClientOptions, round_trip, tls_connect};
use crate::harness::pki::Pki;
use crate::harness::process::Server;
use crate::harness::tls_server;

/// An OP_MSG whose echo is its own reply (`responseTo` = `requestID`).
fn echoed_command(request_id: i32, command: &Document) -> Vec<u8> {
    let mut body = 0u32.to_le_bytes().to_vec();
    body.push(0);
    command.to_writer(&mut body).expect("bson");
    let mut message = ((16 + body.len()) as i32).to_le_bytes().to_vec();
    message.extend_from_slice(&request_id.to_le_bytes());
    message.extend_from_slice(&request_id.to_le_bytes());
    message.extend_from_slice(&2013i32.to_le_bytes());
    message.extend(body);
    message
}

/// Waits until the file holds a line with `needle`; its JSON lines.
fn json_lines(path: &Path, needle: &str) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "no {needle} in {}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn client(pki: &Pki, server: &Server) -> crate::harness::net::TlsStream {
    let identity = pki.path("client.pem");
    tls_connect(
        server.port,
        &ClientOptions {
            identity: Some(&identity),
            ..Default::default()
        },
    )
    .expect("let in")
}

#[test]
fn a_json_audit_file_follows_a_tls_client_and_is_reopened_on_sigusr1() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let path = pki.path("audit.json");
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--auditDestination",
            "file",
            "--auditPath",
            &path.display().to_string(),
        ],
    );
    server.expect_log("audit log: JSON to");
    let mut stream = client(&pki, &server);
    let ping = echoed_command(5, &doc! { "ping": 1, "ok": 1, "$db": "admin" });
    assert_eq!(round_trip(&mut stream, &ping).expect("relayed"), ping);
    let find = echoed_command(
        6,
        &doc! { "find": "orders", "filter": { "card": "4111-secret" }, "ok": 0, "code": 13, "$db": "shop" },
    );
    assert_eq!(round_trip(&mut stream, &find).expect("relayed"), find);
    // A header no MongoDB message has: relayed as it is, audited as such.
    let hostile = [3u8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
    assert_eq!(
        round_trip(&mut stream, &hostile).expect("relayed"),
        hostile.to_vec()
    );
    drop(stream);

    let events = json_lines(&path, "clientDisconnect");
    let atypes: Vec<&str> = events
        .iter()
        .map(|e| e["atype"].as_str().unwrap())
        .collect();
    assert_eq!(
        atypes,
        [
            "clientConnect",
            "authCheck",
            "authCheck",
            "undecodedMessage",
            "undecodedMessage",
            "clientDisconnect"
        ],
        "{events:#?}"
    );
    let uuid = &events[0]["uuid"];
    assert_eq!(uuid["$binary"]["subType"], "04");
    assert!(events.iter().all(|e| &e["uuid"] == uuid), "one uuid");
    assert!(
        events[0]["ts"]["$date"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
    let tls = &events[0]["param"]["tls"];
    assert_eq!(tls["version"], "TLSv1.3");
    assert!(
        tls["subject"].as_str().unwrap().starts_with("CN=client"),
        "{tls}"
    );
    assert_eq!(tls["verified"], true);
    assert_eq!(events[0]["local"]["port"], server.port);
    let (ping, find) = (&events[1], &events[2]);
    assert_eq!(ping["param"]["command"], "ping");
    assert_eq!(ping["param"]["ns"], "admin");
    assert_eq!(ping["result"], 0);
    assert_eq!(find["param"]["ns"], "shop.orders");
    assert_eq!(find["result"], 13);
    assert_eq!(find["param"]["args"]["filter"]["card"], "###");
    let text = std::fs::read_to_string(&path).expect("audit file");
    assert!(!text.contains("4111-secret"), "redacted by default");
    assert!(
        events[3]["param"]["reason"]
            .as_str()
            .unwrap()
            .contains("length 3")
    );

    // logrotate moves the file; SIGUSR1 makes mongossl write a new one.
    let aside = pki.path("audit.json.1");
    std::fs::rename(&path, &aside).expect("rename");
    server.signal(libc::SIGUSR1);
    server.expect_log("reopened the audit file");
    let mut again = client(&pki, &server);
    round_trip(&mut again, &echoed_command(1, &doc! { "ping": 1, "ok": 1 })).expect("relayed");
    drop(again);
    let fresh = json_lines(&path, "clientDisconnect");
    assert_eq!(fresh.len(), 3, "{fresh:#?}");
    assert_eq!(
        std::fs::read_to_string(&aside).expect("old file"),
        text,
        "the old file is left as it was"
    );

    // A stop with the audit on ends: the writer drains, syncs and exits.
    let mut server = server;
    server.signal(libc::SIGTERM);
    let exit = server.wait_for_exit(Duration::from_secs(10));
    assert_eq!(exit, Some(0), "{}", server.log());
    server.expect_log("shutdown complete");
}

#[test]
fn a_filtered_bson_audit_file_reads_back() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let path = pki.path("audit.bson");
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--auditDestination",
            "file",
            "--auditFormat",
            "BSON",
            "--auditPath",
            &path.display().to_string(),
            "--auditFilter",
            "{ atype: 'authCheck', 'param.command': { $in: ['insert', 'find'] } }",
            "--auditRedact",
            "false",
        ],
    );
    let mut stream = client(&pki, &server);
    for (id, command) in [
        (1, doc! { "ping": 1, "ok": 1, "$db": "admin" }),
        (
            2,
            doc! { "insert": "t", "documents": [{ "card": "4111" }], "ok": 1, "$db": "d" },
        ),
    ] {
        round_trip(&mut stream, &echoed_command(id, &command)).expect("relayed");
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let bytes = std::fs::read(&path).unwrap_or_default();
        let mut reader = &bytes[..];
        let mut events = Vec::new();
        while !reader.is_empty() {
            events.push(Document::from_reader(&mut reader).expect("a BSON document"));
        }
        if !events.is_empty() || Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(events.len(), 1, "only the insert passes: {events:?}");
    let insert = &events[0];
    assert!(matches!(insert.get("ts"), Some(Bson::DateTime(_))));
    assert!(matches!(insert.get("uuid"), Some(Bson::Binary(b)) if b.bytes.len() == 16));
    let args = insert
        .get_document("param")
        .unwrap()
        .get_document("args")
        .unwrap();
    let docs = args.get_array("documents").unwrap();
    assert_eq!(
        docs[0],
        Bson::Document(doc! { "card": "4111" }),
        "--auditRedact false"
    );
}

#[test]
fn bad_audit_options_stop_start_up_with_the_reason() {
    let pki = Pki::new();
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "--auditDestination",
                "file",
                "--auditPath",
                "/nonexistent-dir/audit.json",
            ],
            "/nonexistent-dir/audit.json",
        ),
        (
            &[
                "--auditDestination",
                "console",
                "--auditFilter",
                "{ atype: { $bogus: 1 } }",
            ],
            "$bogus",
        ),
        (
            &["--auditPath", "/tmp/a.json"],
            "--auditPath needs --auditDestination",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec![
            "--upstream".to_string(),
            "127.0.0.1:1".to_string(),
            "--sslOnNormalPorts".to_string(),
            "--sslPEMKeyFile".to_string(),
            pki.arg("server.pem"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let exit = match Server::try_start_with_env(&args, &[]) {
            Ok(_) => panic!("started with {extra:?}"),
            Err(exit) => exit,
        };
        assert_eq!(exit.code, Some(2), "{}", exit.output);
        assert!(exit.output.contains(needle), "{needle} in {}", exit.output);
    }
}
