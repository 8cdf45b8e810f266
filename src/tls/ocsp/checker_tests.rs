//! The checker against a real `openssl ocsp` responder and misbehaving
//! stand-ins: outcomes, timeouts, caching and request sharing.

use super::*;
use crate::tls::ocsp::testpki::{Pki, Responder};
use openssl::ocsp::{OcspResponse, OcspResponseStatus};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::RecvTimeoutError;

fn checker(timeout_ms: u64) -> Checker {
    Checker::new(CheckerSettings {
        verify_timeout: Duration::from_millis(timeout_ms),
        ..CheckerSettings::default()
    })
}

/// Starts a lookup; the receiver gets its outcome.
fn start(checker: &Checker, cert: &X509, issuer: &X509) -> mpsc::Receiver<Outcome> {
    let (tx, rx) = mpsc::channel();
    checker.lookup(
        cert.clone(),
        issuer.clone(),
        Box::new(move |outcome| {
            let _ = tx.send(outcome);
        }),
    );
    rx
}

fn wait(rx: mpsc::Receiver<Outcome>) -> Outcome {
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn check(checker: &Checker, cert: &X509, issuer: &X509) -> Outcome {
    wait(start(checker, cert, issuer))
}

#[test]
fn is_clone_send_sync() {
    fn assert<T: Clone + Send + Sync + 'static>() {}
    assert::<Checker>();
}

#[test]
fn good_revoked_unknown_and_the_cache() {
    let pki = Pki::new();
    let responder = Responder::start(&pki, &pki.delegate);
    let url = format!("http://127.0.0.1:{}/", pki.port);
    assert_eq!(responder.url, url, "the AIA port was taken; rerun");
    assert_eq!(
        Checker::responder_url(&pki.good).as_deref(),
        Some(url.as_str())
    );
    let checker = checker(5000);
    assert_eq!(checker.cached(&pki.good, &pki.ca.cert), None);

    assert_eq!(check(&checker, &pki.good, &pki.ca.cert), Outcome::Good);
    assert_eq!(checker.requests_sent(), 1);
    let expected = Outcome::Revoked {
        reason: "keyCompromise".to_string(),
        revoked_at: "Dec  1 00:00:00 2025 GMT".to_string(),
    };
    assert_eq!(check(&checker, &pki.revoked, &pki.ca.cert), expected);
    assert_eq!(
        check(&checker, &pki.unknown, &pki.ca.cert),
        Outcome::Unknown
    );
    assert_eq!(checker.requests_sent(), 3);

    // Answered from the cache, by the probe and by lookup alike.
    assert_eq!(checker.cached(&pki.good, &pki.ca.cert), Some(Outcome::Good));
    assert_eq!(checker.cached(&pki.revoked, &pki.ca.cert), Some(expected));
    drop(responder);
    assert_eq!(check(&checker, &pki.good, &pki.ca.cert), Outcome::Good);
    assert_eq!(
        checker.clone().requests_sent(),
        3,
        "clones share the counter"
    );
}

#[test]
fn responder_down_fails_fast() {
    let pki = Pki::new(); // nothing listens on the AIA port
    let checker = checker(5000);
    let started = Instant::now();
    let outcome = check(&checker, &pki.good, &pki.ca.cert);
    let url = format!("http://127.0.0.1:{}/", pki.port);
    assert_eq!(
        outcome,
        Outcome::Failed(format!("OCSP responder {url}: connection refused"))
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // Remembered briefly, so a burst of connections sends one request.
    assert_eq!(checker.cached(&pki.good, &pki.ca.cert), Some(outcome));
    assert_eq!(checker.requests_sent(), 1);
}

#[test]
fn silent_responder_fails_after_the_timeout() {
    let pki = Pki::new();
    let listener = TcpListener::bind(("127.0.0.1", pki.port)).unwrap();
    // Accepts and holds connections, never answering.
    thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().filter_map(Result::ok).collect();
        drop(held);
    });
    let checker = checker(400);
    let started = Instant::now();
    let outcome = check(&checker, &pki.good, &pki.ca.cert);
    let took = started.elapsed();
    match outcome {
        Outcome::Failed(why) => assert!(why.contains("timed out"), "{why}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn answers_signed_by_an_unrelated_key_fail() {
    let pki = Pki::new();
    let responder = Responder::start(&pki, &pki.stranger);
    assert_eq!(responder.url, format!("http://127.0.0.1:{}/", pki.port));
    match check(&checker(5000), &pki.good, &pki.ca.cert) {
        Outcome::Failed(why) => assert!(why.contains("not trusted"), "{why}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Accepts connections on `port`, and after `delay` relays each to
/// `upstream`; counts the connections.
fn slow_relay(port: u16, upstream: String, delay: Duration) -> Arc<AtomicUsize> {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    thread::spawn(move || {
        for client in listener.incoming().filter_map(Result::ok) {
            counted.fetch_add(1, Ordering::SeqCst);
            let upstream = upstream.clone();
            thread::spawn(move || {
                thread::sleep(delay);
                let mut server = TcpStream::connect(upstream).unwrap();
                let (mut client_in, mut server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || std::io::copy(&mut client_in, &mut server_out));
                let mut reply = Vec::new();
                server.read_to_end(&mut reply).unwrap();
                let mut client = client;
                client.write_all(&reply).unwrap();
            });
        }
    });
    count
}

#[test]
fn concurrent_lookups_share_one_request() {
    let pki = Pki::new();
    // The real responder elsewhere; the AIA port relays to it slowly, so
    // the second lookup comes while the first is in flight.
    let upstream = Responder::start_elsewhere(&pki, &pki.delegate);
    let connections = slow_relay(pki.port, upstream.url.clone(), Duration::from_millis(300));
    let checker = checker(5000);
    let first = start(&checker, &pki.good, &pki.ca.cert);
    let second = start(&checker, &pki.good, &pki.ca.cert);
    assert_eq!(
        second.recv_timeout(Duration::from_millis(100)),
        Err(RecvTimeoutError::Timeout),
        "the second waits on the first's request"
    );
    assert_eq!(wait(first), Outcome::Good);
    assert_eq!(wait(second), Outcome::Good);
    assert_eq!(checker.requests_sent(), 1);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[test]
fn no_workers_or_no_url_fail_at_once() {
    let pki = Pki::new();
    let none = Checker::new(CheckerSettings {
        threads: 0,
        ..CheckerSettings::default()
    });
    let outcome = start(&none, &pki.good, &pki.ca.cert).try_recv().unwrap();
    assert_eq!(
        outcome,
        Outcome::Failed("the OCSP worker threads are gone".to_string())
    );
    // A second lookup is not stuck behind the first's in-flight entry.
    let again = start(&none, &pki.good, &pki.ca.cert).try_recv().unwrap();
    assert!(matches!(again, Outcome::Failed(_)));
    // The CA certificate has no AIA extension.
    let outcome = start(&checker(5000), &pki.ca.cert, &pki.ca.cert)
        .try_recv()
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::Failed(why) if why.contains("no http:// OCSP responder")),
        "{outcome:?}"
    );
}

#[test]
fn dropping_the_last_handle_ends_the_workers() {
    let checker = checker(5000);
    let clone = checker.clone();
    let shared = checker.shared_weak();
    drop(checker);
    assert!(shared.upgrade().is_some(), "a clone still holds it");
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(5);
    while shared.upgrade().is_some() {
        assert!(Instant::now() < deadline, "the workers did not end");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn fetch_blocking_returns_the_der_to_staple() {
    let pki = Pki::new();
    let responder = Responder::start(&pki, &pki.delegate);
    let (der, status, next_update) = Checker::fetch_blocking(
        &responder.url,
        &pki.good,
        &pki.ca.cert,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(status, Status::Good);
    assert!(next_update.is_some());
    let parsed = OcspResponse::from_der(&der).unwrap();
    assert_eq!(parsed.status(), OcspResponseStatus::SUCCESSFUL);
    let e = Checker::fetch_blocking(
        "https://127.0.0.1/",
        &pki.good,
        &pki.ca.cert,
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(e.contains("https://127.0.0.1/"), "{e}");
}
