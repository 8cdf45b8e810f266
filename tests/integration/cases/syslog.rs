//! `--syslog` and `--auditDestination syslog` through the real binary: a
//! datagram socket stands in for the syslog daemon (named by
//! `MONGOSSL_SYSLOG_SOCKET`); each log line and each audit event must
//! arrive as one datagram framed as syslog(3) frames it, with the
//! facility's priority. And the start-up errors: `--syslog` beside
//! `--logpath`, an unknown facility, and no daemon listening.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::net::{Backend, ClientOptions, tls_connect};
use crate::harness::pki::Pki;
use crate::harness::process::{Server, args, binary};

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Stops the spawned mongossl however the test ends (a failed assertion
/// included), so that no server outlives its test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Datagrams until one contains `needle` (all of them, in order).
fn until(daemon: &UnixDatagram, seen: &mut Vec<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = vec![0u8; 65536];
    while !seen.iter().any(|d| d.contains(needle)) {
        assert!(Instant::now() < deadline, "no {needle} in {seen:#?}");
        if let Ok(n) = daemon.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

#[test]
fn the_log_and_the_audit_go_to_syslog() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let socket = pki.path("syslog.sock");
    let daemon = UnixDatagram::bind(&socket).expect("bind the stand-in daemon");
    daemon
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = free_port();
    let child = Command::new(binary())
        .args(["--port", &port.to_string(), "--bind_ip", "127.0.0.1"])
        .args(["--upstream", &backend.address(), "--sslOnNormalPorts"])
        .args(["--sslPEMKeyFile", &pki.arg("server.pem")])
        .args(["--sslCAFile", &pki.arg("ca.pem")])
        .args(["--syslog", "--syslogFacility", "local3"])
        .args(["--auditDestination", "syslog"])
        .env("MONGOSSL_SYSLOG_SOCKET", &socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mongossl");
    let child = KillOnDrop(child);
    let pid = child.0.id();
    let mut seen = Vec::new();
    until(&daemon, &mut seen, "waiting for connections on port");
    // local3 (19) × 8 + info (6); the daemon adds time and host.
    let prefix = format!("<158>mongossl[{pid}]: I [initandlisten] ");
    let waiting = seen.iter().find(|d| d.contains("waiting for connections"));
    assert!(
        waiting.is_some_and(|d| d.starts_with(&prefix) && !d.ends_with('\n')),
        "{seen:#?}"
    );

    let identity = pki.path("client.pem");
    let client = tls_connect(
        port,
        &ClientOptions {
            identity: Some(&identity),
            ..Default::default()
        },
    )
    .expect("TLS through mongossl");
    drop(client);
    // The audit: facility user, info; the connection event as JSON.
    // The log line and the audit event of the close come from different
    // threads, in either order: wait for both.
    until(&daemon, &mut seen, "\"atype\":\"clientDisconnect\"");
    until(&daemon, &mut seen, "end connection");
    let connect = seen
        .iter()
        .find(|d| d.contains("\"atype\":\"clientConnect\""))
        .expect("a clientConnect event");
    let event = connect
        .strip_prefix(&format!("<14>mongossl[{pid}]: "))
        .unwrap_or_else(|| panic!("audit framing: {connect}"));
    let event: serde_json::Value = serde_json::from_str(event).expect("one JSON event");
    assert_eq!(
        event["param"]["tls"]["subject"],
        "CN=client,O=mongossl tests"
    );
    assert!(
        seen.iter()
            .any(|d| d.starts_with(&format!("<158>mongossl[{pid}]: "))
                && d.contains("end connection")),
        "{seen:#?}"
    );
    drop(child);
}

#[test]
fn syslog_start_up_errors_name_the_cause() {
    let pki = Pki::new();
    let cases = [
        (
            vec!["--syslog", "--logpath", "/tmp/never.log"],
            "--syslog and --logpath cannot be used together",
        ),
        (
            vec!["--syslog", "--syslogFacility", "local9"],
            "'local9' is not a syslog facility",
        ),
        (
            vec!["--syslogFacility", "daemon"],
            "--syslogFacility needs --syslog",
        ),
        (vec!["--syslog"], "no syslog daemon listens there"),
    ];
    let nowhere = pki.path("no-daemon.sock");
    for (extra, needle) in cases {
        let mut list = vec!["--upstream", "127.0.0.1:1"];
        list.extend(extra);
        let env = [("MONGOSSL_SYSLOG_SOCKET", nowhere.to_str().expect("utf8"))];
        match Server::try_start_with_env(&args(&list), &env) {
            Ok(_) => panic!("{list:?} started"),
            Err(exit) => {
                assert_ne!(exit.code, Some(0), "{list:?}");
                assert!(exit.output.contains(needle), "{list:?}: {}", exit.output);
            }
        }
    }
}
