//! What mongod can do wrong, through the real binary: not up at start,
//! restarting under connected clients, resetting a connection mid-reply,
//! accepting and then stalling. Affected clients get a close (or, for a
//! stall, wait until they give up: see docs/security.md), mongossl logs
//! it, never exits, and serves new clients as soon as mongod is back.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::net::{ClientOptions, dead_port, is_let_in, round_trip, tls_connect};
use crate::harness::pki::Pki;
use crate::harness::process::{Server, args};

fn ca_client(pki: &Pki) -> ClientOptions<'static> {
    let ca: &'static std::path::Path = Box::leak(pki.path("ca.pem").into_boxed_path());
    ClientOptions {
        ca: Some(ca),
        ..Default::default()
    }
}

fn server_for(pki: &Pki, port: u16) -> Server {
    Server::start(&args(&[
        "--upstream",
        &format!("127.0.0.1:{port}"),
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        &pki.arg("server.pem"),
    ]))
}

/// An echo backend on a fixed port that can be stopped (listener closed,
/// every connection shut down) as a restarting mongod would be.
struct StoppableEcho {
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StoppableEcho {
    fn start(port: u16) -> StoppableEcho {
        // The port was just given up by this test; retry briefly in case
        // the kernel has not released it yet.
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() > deadline => panic!("rebind {port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, streams) = (stop.clone(), streams.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(false).ok();
                            if let (Ok(mut list), Ok(clone)) = (streams.lock(), s.try_clone()) {
                                list.push(clone);
                            }
                            std::thread::spawn(move || echo(s));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        StoppableEcho {
            stop,
            streams,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("acceptor");
        }
        if let Ok(list) = self.streams.lock() {
            for s in list.iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

fn echo(mut s: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 || s.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = s.shutdown(Shutdown::Write);
}

#[test]
fn mongod_not_up_at_start_then_up() {
    let pki = Pki::new();
    let port = dead_port();
    let mut server = server_for(&pki, port);
    let fds = server.open_fds();
    let mut early = tls_connect(server.port, &ca_client(&pki)).expect("handshake");
    let mut buf = [0u8; 8];
    assert_eq!(early.read(&mut buf).expect("a clean close"), 0);
    server.expect_log(&format!(
        "upstream mongod 127.0.0.1:{port} unavailable: Connection refused"
    ));
    let backend = StoppableEcho::start(port);
    is_let_in(server.port, &ca_client(&pki)).expect("served once mongod is up");
    assert!(server.is_running());
    drop(early);
    backend.stop();
    server.expect_fds(fds);
}

#[test]
fn mongod_restarts_under_connected_clients() {
    let pki = Pki::new();
    let port = dead_port();
    let backend = StoppableEcho::start(port);
    let mut server = server_for(&pki, port);
    let fds = server.open_fds();
    let mut clients: Vec<_> = (0..5)
        .map(|_| {
            let mut c = tls_connect(server.port, &ca_client(&pki)).expect("connect");
            assert_eq!(round_trip(&mut c, b"ping").expect("echo"), b"ping");
            c
        })
        .collect();
    backend.stop();
    // mongod's EOF reaches each client as a close_notify: a clean close.
    for c in clients.iter_mut() {
        let mut buf = [0u8; 8];
        assert_eq!(c.read(&mut buf).expect("clean close"), 0);
    }
    // While mongod is down, new clients are closed with the reason.
    let mut during = tls_connect(server.port, &ca_client(&pki)).expect("handshake");
    let mut buf = [0u8; 8];
    let _ = during.write_all(b"x");
    assert_eq!(during.read(&mut buf).expect("clean close"), 0);
    server.expect_log("unavailable: Connection refused");
    let backend = StoppableEcho::start(port);
    is_let_in(server.port, &ca_client(&pki)).expect("served after the restart");
    assert!(server.is_running());
    drop(clients);
    drop(during);
    backend.stop();
    server.expect_fds(fds);
}

#[test]
fn mongod_resets_a_connection_mid_reply() {
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Reads a request, sends half of a 1 MB reply, then resets.
    std::thread::spawn(move || {
        for s in listener.incoming().map_while(Result::ok).take(3) {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 64];
                if s.read(&mut buf).is_err() {
                    return;
                }
                let _ = s.write_all(&vec![7u8; 512 * 1024]);
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: a valid socket and a correctly sized option value.
                unsafe {
                    libc::setsockopt(
                        s.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&linger as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    );
                }
            });
        }
    });
    let mut server = server_for(&pki, port);
    let fds = server.open_fds();
    for _ in 0..3 {
        let mut client = tls_connect(server.port, &ca_client(&pki)).expect("connect");
        client.write_all(b"find").expect("request");
        let mut got = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        // The client sees the reply end early: a close (clean, since
        // mongossl sends close_notify after the upstream error) or an
        // error, never a hang and never more than mongod sent.
        loop {
            match client.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    assert!(buf[..n].iter().all(|b| *b == 7), "bytes altered");
                    got += n;
                }
                Err(e) => {
                    assert_ne!(e.kind(), ErrorKind::WouldBlock, "hung");
                    break;
                }
            }
        }
        assert!(got <= 512 * 1024, "{got} bytes");
    }
    server.expect_count("upstream error: Connection reset by peer", 3);
    assert!(server.is_running());
    server.expect_fds(fds);
}

#[test]
fn mongod_accepts_then_stalls() {
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().map_while(Result::ok).take(2) {
                // Never read, never answer: a hung mongod.
                if let Ok(mut list) = held.lock() {
                    list.push(s);
                }
            }
        });
    }
    let mut server = server_for(&pki, port);
    let fds = server.open_fds();
    let mut client = tls_connect(server.port, &ca_client(&pki)).expect("connect");
    client.write_all(b"hello?").expect("request");
    client
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    // mongossl has no reply timeout of its own (mongod may legitimately
    // take long: a slow query, an awaitable hello): the client's own
    // socket timeout is what ends the wait.
    let err = client
        .read(&mut buf)
        .expect_err("no reply from a stalled mongod");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    // The client gives up; mongossl passes its EOF on to mongod and keeps
    // the connection until mongod closes its side too.
    drop(client);
    // A second client is still served by the same mongossl (the stalled
    // backend accepts it too, so it times out the same way).
    let mut second = tls_connect(server.port, &ca_client(&pki)).expect("handshake still works");
    second.write_all(b"x").expect("write");
    // The hung mongod finally closes its connections: mongossl lets go.
    let deadline = Instant::now() + Duration::from_secs(10);
    while held.lock().map_or(0, |l| l.len()) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Ok(mut list) = held.lock() {
        assert_eq!(list.len(), 2, "mongossl did not connect upstream twice");
        for s in list.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
    let mut buf = [0u8; 8];
    second
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert_eq!(second.read(&mut buf).expect("clean close"), 0);
    drop(second);
    assert!(server.is_running());
    server.expect_fds(fds);
}

#[test]
fn a_stalled_mongod_is_cut_by_the_idle_timeout_when_set() {
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().map_while(Result::ok).take(1) {
                if let Ok(mut list) = held.lock() {
                    list.push(s);
                }
            }
        });
    }
    let mut server = Server::start(&args(&[
        "--upstream",
        &format!("127.0.0.1:{port}"),
        "--sslOnNormalPorts",
        "--sslPEMKeyFile",
        &pki.arg("server.pem"),
        "--idleTimeoutSecs",
        "1",
    ]));
    let fds = server.open_fds();
    let mut client = tls_connect(server.port, &ca_client(&pki)).expect("connect");
    client.write_all(b"hello?").expect("request");
    // No reply ever comes; after 1 s without traffic mongossl closes the
    // client cleanly (close_notify) and lets mongod's socket go.
    let mut buf = [0u8; 16];
    assert_eq!(client.read(&mut buf).expect("a clean close"), 0);
    server.expect_log("idle timeout: no traffic for 1 s");
    assert!(server.is_running());
    drop(client);
    server.expect_fds(fds);
}
