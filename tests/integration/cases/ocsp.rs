//! OCSP for client certificates through the real binary, against a real
//! `openssl ocsp` responder: good is let in, revoked refused with "revoked
//! by OCSP", unknown and an unreachable responder soft-fail with a
//! warning (refused under `--sslOCSPRequire`), answers are cached (a good
//! client still gets in once the responder is gone), and a responder that
//! never answers holds only its own client: another one is served
//! meanwhile on the same event loop.

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::harness::net::{Backend, ClientOptions, is_let_in};
use crate::harness::ocsp::OcspPki;
use crate::harness::pki::Pki;
use crate::harness::tls_server;

fn as_client(identity: &Path) -> ClientOptions<'_> {
    ClientOptions {
        identity: Some(identity),
        ..Default::default()
    }
}

#[test]
fn client_certificates_are_checked_with_soft_fail_and_cache() {
    let pki = Pki::new();
    let ocsp = OcspPki::new(&pki);
    let backend = Backend::echo();
    let responder = ocsp.start_responder(&pki);
    let server = tls_server(
        &pki,
        &backend,
        &[
            "--sslCAFile",
            &pki.arg("ca.pem"),
            "--threads",
            "1",
            "--setParameter",
            "tlsOCSPVerifyTimeoutSecs=2",
        ],
    );
    let (good, revoked) = (pki.path("ocsp-good.pem"), pki.path("ocsp-revoked.pem"));

    is_let_in(server.port, &as_client(&good)).expect("a good certificate is let in");
    server.expect_log("peer certificate subject: CN=ocsp-good");
    assert!(
        is_let_in(server.port, &as_client(&revoked)).is_err(),
        "a revoked certificate is refused"
    );
    server.expect_log("CN=ocsp-revoked,O=mongossl tests is revoked by OCSP (keyCompromise");

    for (pem, why) in [
        (
            "ocsp-unknown.pem",
            "the responder does not know the certificate",
        ),
        ("ocsp-down.pem", "OCSP responder http://127.0.0.1:"),
    ] {
        is_let_in(server.port, &as_client(&pki.path(pem))).expect("soft-fail lets it in");
        let cn = pem.trim_end_matches(".pem");
        server.expect_log(&format!(
            "OCSP status of the certificate CN={cn},O=mongossl tests unknown ({why}"
        ));
    }
    assert!(
        !server
            .log()
            .contains("CN=ocsp-good,O=mongossl tests unknown"),
        "no warning for the good one"
    );

    // A responder that never answers: that client waits for its verdict,
    // and a client arriving after it is served first, by the same loop.
    let stalled = pki.path("ocsp-stall.pem");
    let (finished, order) = mpsc::channel();
    let port = server.port;
    let waiting = {
        let finished = finished.clone();
        thread::spawn(move || {
            let result = is_let_in(port, &as_client(&stalled));
            let _ = finished.send(("stalled", result.is_ok()));
        })
    };
    thread::sleep(Duration::from_millis(300));
    let plain = pki.path("client.pem");
    let result = is_let_in(server.port, &as_client(&plain));
    finished.send(("other", result.is_ok())).expect("send");
    let first = order.recv_timeout(Duration::from_secs(20)).expect("first");
    let second = order.recv_timeout(Duration::from_secs(20)).expect("second");
    waiting.join().expect("stalled client thread");
    assert_eq!(first, ("other", true), "served while the other waited");
    assert_eq!(second, ("stalled", true), "soft-fail once the wait is over");
    server.expect_log("OCSP status of the certificate CN=ocsp-stall,O=mongossl tests unknown");

    // Answers are kept until nextUpdate: with the responder gone, the good
    // client still gets in without a warning and the revoked one is still
    // refused.
    responder.stop();
    is_let_in(server.port, &as_client(&good)).expect("cached good answer");
    assert!(is_let_in(server.port, &as_client(&revoked)).is_err());
    assert!(
        !server
            .log()
            .contains("CN=ocsp-good,O=mongossl tests unknown"),
        "the cached answer was used:\n{}",
        server.log()
    );
}

#[test]
fn ocsp_require_refuses_without_a_good_answer_and_ocsp_can_be_off() {
    let pki = Pki::new();
    let ocsp = OcspPki::new(&pki);
    let backend = Backend::echo();
    let _responder = ocsp.start_responder(&pki);
    let ca = pki.arg("ca.pem");
    let strict = tls_server(&pki, &backend, &["--sslCAFile", &ca, "--sslOCSPRequire"]);
    is_let_in(strict.port, &as_client(&pki.path("ocsp-good.pem"))).expect("good");
    for pem in ["ocsp-unknown.pem", "ocsp-down.pem"] {
        assert!(
            is_let_in(strict.port, &as_client(&pki.path(pem))).is_err(),
            "{pem} refused under --sslOCSPRequire"
        );
    }
    strict.expect_log("and --sslOCSPRequire is set");

    // ocspEnabled=false: nobody asks, so a revoked certificate gets in.
    let off = tls_server(
        &pki,
        &backend,
        &["--sslCAFile", &ca, "--setParameter", "ocspEnabled=false"],
    );
    is_let_in(off.port, &as_client(&pki.path("ocsp-revoked.pem"))).expect("not asked");
    assert!(!off.log().contains("OCSP"), "{}", off.log());
}
