//! mongossl as a service: systemd notifications, socket activation,
//! SIGHUP reloads of certificate and CRL without touching open
//! connections, graceful SIGTERM, log rotation, several event loops and
//! --maxConns.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use openssl::sha::Sha256;

use crate::harness::net::{Backend, ClientOptions, Noise, is_let_in, round_trip, tls_connect};
use crate::harness::pki::{Pki, Purpose, Spec, crl, issue};
use crate::harness::process::{Server, args, binary};
use crate::harness::tls_server;

fn server_args(backend: &Backend, pem: &str, extra: &[&str]) -> Vec<String> {
    let mut a = args(&[
        "--upstream",
        &backend.address(),
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        pem,
    ]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn serial_of(stream: &crate::harness::net::TlsStream) -> Vec<u8> {
    stream
        .ssl()
        .peer_certificate()
        .expect("server certificate")
        .serial_number()
        .to_bn()
        .expect("bn")
        .to_vec()
}

fn receive(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Receives notifications until one contains `needle`.
fn receive_until(socket: &UnixDatagram, needle: &str) -> String {
    for _ in 0..20 {
        let message = receive(socket);
        if message.contains(needle) {
            return message;
        }
    }
    panic!("no notification with {needle:?}");
}

#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let path = pki.path("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    socket.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let notify = path.display().to_string();
    let mut server = Server::start_with_env(
        &server_args(&backend, &pki.arg("server.pem"), &[]),
        &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "2000000")],
    );
    assert!(receive_until(&socket, "READY=1").contains("READY=1"));
    // WatchdogSec=2: a ping at least every second.
    receive_until(&socket, "WATCHDOG=1");
    server.signal(libc::SIGHUP);
    receive_until(&socket, "RELOADING=1");
    receive_until(&socket, "READY=1");
    server.signal(libc::SIGTERM);
    receive_until(&socket, "STOPPING=1");
    assert_eq!(server.wait_for_exit(Duration::from_secs(20)), Some(0));
}

#[test]
fn socket_activation_uses_the_inherited_listener() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    // systemd sets LISTEN_PID to the service's pid: the shell's $$ is the
    // pid mongossl keeps after exec.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"")
        .arg(binary())
        .args(server_args(&backend, &pki.arg("server.pem"), &[]));
    // SAFETY: dup2 is async-signal-safe; `fd` stays open in the parent
    // until spawn returns.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = Server::start_command(command);
    assert_eq!(server.port, port, "it bound its own port instead");
    server.expect_log("using 1 listen socket(s) from systemd socket activation");
    drop(listener);
    let ca = pki.path("ca.pem");
    is_let_in(
        port,
        &ClientOptions {
            ca: Some(&ca),
            ..Default::default()
        },
    )
    .expect("served on the inherited socket");
}

#[test]
fn sighup_swaps_the_certificate_for_new_clients_only() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let live = pki.path("live.pem");
    std::fs::copy(pki.path("server.pem"), &live).expect("copy");
    let server = Server::start(&server_args(&backend, &live.display().to_string(), &[]));
    let ca = pki.path("ca.pem");
    let options = ClientOptions {
        ca: Some(&ca),
        ..Default::default()
    };
    let mut before = tls_connect(server.port, &options).expect("connect");
    let old_serial = serial_of(&before);
    assert_eq!(round_trip(&mut before, b"old").expect("echo"), b"old");

    let renewed = issue(&Spec::new("localhost", Purpose::Server), Some(&pki.ca));
    std::fs::write(&live, renewed.key_then_cert()).expect("write");
    server.signal(libc::SIGHUP);
    server.expect_log("reload done");
    let mut after = tls_connect(server.port, &options).expect("connect after reload");
    assert_ne!(
        serial_of(&after),
        old_serial,
        "new client got the old certificate"
    );
    assert_eq!(round_trip(&mut after, b"new").expect("echo"), b"new");
    // The connection opened before the reload is undisturbed.
    assert_eq!(
        round_trip(&mut before, b"still here").expect("echo"),
        b"still here"
    );

    // A broken file leaves the current certificate in place.
    std::fs::write(&live, b"-----BEGIN PRIVATE KEY-----\nbroken\n").expect("write");
    server.signal(libc::SIGHUP);
    server.expect_log("reload failed, keeping the previous certificates");
    server.expect_log(&format!("--sslPEMKeyFile {}", live.display()));
    let mut third = tls_connect(server.port, &options).expect("served after a failed reload");
    assert_eq!(serial_of(&third), serial_of(&after));
    assert_eq!(round_trip(&mut third, b"x").expect("echo"), b"x");
}

#[test]
fn sighup_with_a_new_crl_refuses_the_revoked_client() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let crl_path = pki.path("live-crl.pem");
    std::fs::write(&crl_path, crl(&pki.ca, &[], -1, 30).to_pem().expect("pem")).expect("write");
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--sslCRLFile",
            &crl_path.display().to_string(),
        ],
    );
    server.expect_log("ssl imported 0 revoked certificate(s)");
    let client = pki.path("client.pem");
    let options = ClientOptions {
        identity: Some(&client),
        ..Default::default()
    };
    let mut open = tls_connect(server.port, &options).expect("connect");
    assert_eq!(round_trip(&mut open, b"hi").expect("echo"), b"hi");

    std::fs::write(
        &crl_path,
        crl(&pki.ca, &[&pki.client.cert], -1, 30)
            .to_pem()
            .expect("pem"),
    )
    .expect("write");
    server.signal(libc::SIGHUP);
    server.expect_log("ssl imported 1 revoked certificate(s)");
    server.expect_log("reload done");
    assert!(
        is_let_in(server.port, &options).is_err(),
        "revoked client let in after reload"
    );
    server.expect_log("SSL peer certificate validation failed: certificate revoked");
    // Its connection from before the reload keeps relaying.
    assert_eq!(round_trip(&mut open, b"still").expect("echo"), b"still");
}

#[test]
fn sigterm_lets_a_busy_connection_finish_without_losing_a_byte() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let mut server = Server::start(&server_args(
        &backend,
        &pki.arg("server.pem"),
        &["--shutdownTimeoutSecs", "30"],
    ));
    let ca = pki.path("ca.pem");
    let mut stream = tls_connect(
        server.port,
        &ClientOptions {
            ca: Some(&ca),
            ..Default::default()
        },
    )
    .expect("connect");
    let mut noise = Noise::new(3);
    let mut sent = Sha256::new();
    let mut received = Sha256::new();
    let mut chunk = vec![0u8; 32 * 1024];
    let mut back = vec![0u8; 32 * 1024];
    let mut signalled = false;
    for round in 0..200 {
        noise.fill(&mut chunk);
        stream.write_all(&chunk).expect("write");
        sent.update(&chunk);
        let mut got = 0;
        while got < chunk.len() {
            let n = stream.read(&mut back[..chunk.len() - got]).expect("read");
            assert!(n > 0, "closed mid-stream");
            received.update(&back[..n]);
            got += n;
        }
        if round == 50 {
            server.signal(libc::SIGTERM);
            signalled = true;
            server.expect_log("shutting down: no new connections");
            // New clients are no longer taken.
            assert!(
                TcpStream::connect(("127.0.0.1", server.port)).is_err()
                    || tls_connect(server.port, &ClientOptions::default()).is_err()
            );
        }
    }
    assert!(signalled);
    assert_eq!(sent.finish(), received.finish(), "bytes lost or altered");
    stream.shutdown().expect("close_notify");
    drop(stream);
    assert_eq!(
        server.wait_for_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        server.log()
    );
    server.expect_log("shutdown complete: 0 connection(s) cut");
}

#[test]
fn sigterm_cuts_idle_connections_at_the_timeout() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let mut server = Server::start(&server_args(
        &backend,
        &pki.arg("server.pem"),
        &["--shutdownTimeoutSecs", "1"],
    ));
    let ca = pki.path("ca.pem");
    let mut idle = tls_connect(
        server.port,
        &ClientOptions {
            ca: Some(&ca),
            ..Default::default()
        },
    )
    .expect("connect");
    assert_eq!(round_trip(&mut idle, b"ping").expect("echo"), b"ping");
    let started = Instant::now();
    server.signal(libc::SIGINT);
    assert_eq!(
        server.wait_for_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        server.log()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "did not wait for the timeout"
    );
    server.expect_log("shutdown complete: 1 connection(s) cut");
    // The client was told with close_notify.
    let mut buf = [0u8; 8];
    assert_eq!(idle.read(&mut buf).expect("clean close"), 0);
}

#[test]
fn sigusr1_rotates_the_log_file() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let logpath = pki.path("mongossl.log");
    let logarg = logpath.display().to_string();
    let mut a = server_args(&backend, &pki.arg("server.pem"), &["--logpath", &logarg]);
    a.extend(args(&["--port", "0"]));
    // Logging to a file: the harness cannot read the port from stderr.
    let mut child = Command::new(binary())
        .args(&a)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&logpath)
        .unwrap_or_default()
        .contains("waiting for connections")
    {
        assert!(Instant::now() < deadline, "never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let rotated = loop {
        let aside: Vec<_> = std::fs::read_dir(pki.path(""))
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.display().to_string().starts_with(&format!("{logarg}.")))
            .collect();
        if let Some(p) = aside.first() {
            break p.clone();
        }
        assert!(Instant::now() < deadline, "no rotated file");
        std::thread::sleep(Duration::from_millis(20));
    };
    let old = std::fs::read_to_string(&rotated).expect("old log");
    assert!(old.contains("waiting for connections"), "{old}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&logpath)
        .unwrap_or_default()
        .contains("log rotated")
    {
        assert!(Instant::now() < deadline, "new log never written");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn several_event_loops_serve_concurrent_clients() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["--threads", "2"]);
    server.expect_log("with 2 event loop(s)");
    let port = server.port;
    let ca: &'static std::path::Path = Box::leak(pki.path("ca.pem").into_boxed_path());
    let threads: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..5 {
                    is_let_in(
                        port,
                        &ClientOptions {
                            ca: Some(ca),
                            ..Default::default()
                        },
                    )
                    .expect("served");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    // Connection numbers stay unique across loops.
    let log = server.log();
    for id in 1..=80 {
        assert_eq!(
            log.matches(&format!(" #{id} (")).count(),
            1,
            "#{id} appears twice or never"
        );
    }
}

#[test]
fn max_conns_refuses_beyond_the_limit_and_resumes_below_it() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let server = tls_server(&pki, &backend, &["--maxConns", "2"]);
    let ca = pki.path("ca.pem");
    let options = ClientOptions {
        ca: Some(&ca),
        ..Default::default()
    };
    let mut first = tls_connect(server.port, &options).expect("first");
    let mut second = tls_connect(server.port, &options).expect("second");
    assert_eq!(round_trip(&mut first, b"1").expect("echo"), b"1");
    assert_eq!(round_trip(&mut second, b"2").expect("echo"), b"2");
    assert!(
        is_let_in(server.port, &options).is_err(),
        "third connection let in"
    );
    server.expect_log("connection refused because too many open connections: 2");
    drop(first);
    server.expect_log("(1 connection now open)");
    is_let_in(server.port, &options).expect("below the limit again");
    assert_eq!(round_trip(&mut second, b"2").expect("echo"), b"2");
}

#[test]
fn idle_timeout_is_off_by_default_and_closes_idle_connections_when_set() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let ca = pki.path("ca.pem");
    let options = ClientOptions {
        ca: Some(&ca),
        ..Default::default()
    };

    let default = tls_server(&pki, &backend, &[]);
    let mut pooled = tls_connect(default.port, &options).expect("connect");
    assert_eq!(round_trip(&mut pooled, b"a").expect("echo"), b"a");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        round_trip(&mut pooled, b"b").expect("an idle pooled connection survives"),
        b"b"
    );

    let strict = tls_server(&pki, &backend, &["--idleTimeoutSecs", "1"]);
    let mut idle = tls_connect(strict.port, &options).expect("connect");
    assert_eq!(round_trip(&mut idle, b"c").expect("echo"), b"c");
    // A busy connection is not idle: keep one talking past the timeout.
    let mut busy = tls_connect(strict.port, &options).expect("connect");
    for _ in 0..6 {
        assert_eq!(
            round_trip(&mut busy, b"d").expect("busy connection kept"),
            b"d"
        );
        std::thread::sleep(Duration::from_millis(400));
    }
    let mut buf = [0u8; 8];
    match idle.read(&mut buf) {
        Ok(0) => {}
        other => panic!("the idle connection was not closed: {other:?}"),
    }
    strict.expect_log("idle timeout: no traffic for 1 s");
}

/// Connects with TLS 1.3, optionally offering a saved session; returns the
/// session to offer next time and whether this one was resumed.
fn tls13_session(
    port: u16,
    ca: &std::path::Path,
    offer: Option<&openssl::ssl::SslSession>,
) -> (Option<openssl::ssl::SslSession>, bool) {
    use openssl::ssl::{SslConnector, SslMethod, SslVersion};
    let mut b = SslConnector::builder(SslMethod::tls_client()).expect("builder");
    b.set_ca_file(ca).expect("ca");
    b.set_min_proto_version(Some(SslVersion::TLS1_3))
        .expect("v");
    let connector = b.build();
    let mut config = connector.configure().expect("configure");
    if let Some(session) = offer {
        // SAFETY: the session came from a connection with the same settings.
        unsafe { config.set_session(session).expect("session") };
    }
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut stream = config.connect("localhost", tcp).expect("handshake");
    // TLS 1.3 tickets arrive after the handshake: a round trip reads them.
    assert_eq!(
        round_trip(&mut stream, b"ticket?").expect("echo"),
        b"ticket?"
    );
    let resumed = stream.ssl().session_reused();
    let session = stream.ssl().session().map(|s| s.to_owned());
    let _ = stream.shutdown();
    (session.filter(is_resumable), resumed)
}

// OpenSSL has SSL_SESSION_is_resumable, but neither openssl nor
// openssl-sys binds it.
unsafe extern "C" {
    fn SSL_SESSION_is_resumable(session: *const openssl_sys::SSL_SESSION) -> libc::c_int;
}

/// Whether the server gave this session a ticket to resume with.
fn is_resumable(session: &openssl::ssl::SslSession) -> bool {
    use foreign_types::ForeignType;
    // SAFETY: a live session object.
    unsafe { SSL_SESSION_is_resumable(session.as_ptr()) == 1 }
}

#[test]
fn session_tickets_are_off_by_default_and_resume_on_every_loop_when_on() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let ca = pki.path("ca.pem");

    let default = tls_server(&pki, &backend, &["--threads", "2"]);
    let (session, _) = tls13_session(default.port, &ca, None);
    assert!(
        session.is_none(),
        "a ticket was sent although none is configured"
    );

    let tickets = tls_server(
        &pki,
        &backend,
        &["--threads", "2", "--sslSessionTickets", "1"],
    );
    let (mut session, resumed) = tls13_session(tickets.port, &ca, None);
    assert!(!resumed);
    // Connections spread over both loops (SO_REUSEPORT): every one resumes,
    // so the loops share their ticket keys.
    for attempt in 0..8 {
        let offer = session.take().expect("a resumable ticket");
        let (next, resumed) = tls13_session(tickets.port, &ca, Some(&offer));
        assert!(resumed, "attempt {attempt} was a full handshake");
        session = next;
    }
}
