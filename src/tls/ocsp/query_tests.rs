//! Requests and response checks against a real `openssl ocsp` responder:
//! statuses, signers, nonces, malformed answers.

use super::*;
use crate::tls::ocsp::testpki::{Pki, Responder};
use std::time::Instant;

fn ask(url: &str, der: &[u8]) -> Vec<u8> {
    crate::tls::ocsp::http::post(url, der, Instant::now() + Duration::from_secs(5)).unwrap()
}

#[test]
fn good_revoked_and_unknown_from_a_delegated_signer() {
    let pki = Pki::new();
    let responder = Responder::start(&pki, &pki.delegate);
    let good = Query::new(&pki.good, &pki.ca.cert).unwrap();
    let answer = good
        .check(&ask(&responder.url, good.der()), &pki.ca.cert)
        .unwrap();
    assert_eq!(answer.status, Status::Good);
    // -nmin 5: nextUpdate about five minutes ahead.
    let ahead = answer
        .next_update
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        ahead > Duration::from_secs(200) && ahead <= Duration::from_secs(301),
        "{ahead:?}"
    );

    let revoked = Query::new(&pki.revoked, &pki.ca.cert).unwrap();
    let answer = revoked
        .check(&ask(&responder.url, revoked.der()), &pki.ca.cert)
        .unwrap();
    match answer.status {
        Status::Revoked { reason, revoked_at } => {
            assert_eq!(reason, "keyCompromise");
            assert_eq!(revoked_at, "Dec  1 00:00:00 2025 GMT");
        }
        other => panic!("expected revoked, got {other:?}"),
    }

    let unknown = Query::new(&pki.unknown, &pki.ca.cert).unwrap();
    let answer = unknown
        .check(&ask(&responder.url, unknown.der()), &pki.ca.cert)
        .unwrap();
    assert_eq!(answer.status, Status::Unknown);
}

#[test]
fn answers_signed_by_others_are_refused() {
    let pki = Pki::new();
    // A self-signed key the CA never vouched for.
    let responder = Responder::start(&pki, &pki.stranger);
    let query = Query::new(&pki.good, &pki.ca.cert).unwrap();
    let e = query
        .check(&ask(&responder.url, query.der()), &pki.ca.cert)
        .unwrap_err();
    assert!(e.contains("not trusted"), "{e}");
    // Issued by the CA, but without the OCSP-signing EKU.
    let responder = Responder::start(&pki, &pki.no_eku);
    let query = Query::new(&pki.good, &pki.ca.cert).unwrap();
    let e = query
        .check(&ask(&responder.url, query.der()), &pki.ca.cert)
        .unwrap_err();
    assert!(e.contains("not trusted"), "{e}");
}

#[test]
fn the_ca_itself_may_sign() {
    let pki = Pki::new();
    let responder = Responder::start(&pki, &pki.ca);
    let query = Query::new(&pki.good, &pki.ca.cert).unwrap();
    let answer = query
        .check(&ask(&responder.url, query.der()), &pki.ca.cert)
        .unwrap();
    assert_eq!(answer.status, Status::Good);
}

#[test]
fn an_intermediate_issuer_is_trusted_without_its_root() {
    let pki = Pki::new();
    // Signed by the intermediate itself; only the intermediate is given.
    let responder = Responder::start(&pki, &pki.intermediate);
    let issuer = &pki.intermediate.cert;
    let query = Query::new(&pki.lower, issuer).unwrap();
    let answer = query
        .check(&ask(&responder.url, query.der()), issuer)
        .unwrap();
    assert_eq!(answer.status, Status::Good);
    // The same answer does not vouch for the root's certificates.
    let query = Query::new(&pki.good, &pki.ca.cert).unwrap();
    let e = query
        .check(&ask(&responder.url, query.der()), &pki.ca.cert)
        .unwrap_err();
    assert!(e.contains("not trusted"), "{e}");
}

#[test]
fn nonce_must_match_when_echoed_and_may_be_absent() {
    let pki = Pki::new();
    let responder = Responder::start(&pki, &pki.delegate);
    let first = Query::new(&pki.good, &pki.ca.cert).unwrap();
    let second = Query::new(&pki.good, &pki.ca.cert).unwrap();
    assert_ne!(first.der(), second.der(), "each request has its own nonce");
    // The answer to the first request, presented as the second's.
    let answer = ask(&responder.url, first.der());
    let e = second.check(&answer, &pki.ca.cert).unwrap_err();
    assert!(e.contains("nonce"), "{e}");
    assert_eq!(
        first.check(&answer, &pki.ca.cert).unwrap().status,
        Status::Good
    );

    // A request without a nonce gets an answer without one, as from
    // a responder that never echoes: taken.
    let mut bare = OcspRequest::new().unwrap();
    bare.add_id(OcspCertId::from_cert(MessageDigest::sha1(), &pki.good, &pki.ca.cert).unwrap())
        .unwrap();
    let answer = ask(&responder.url, &bare.to_der().unwrap());
    assert_eq!(
        first.check(&answer, &pki.ca.cert).unwrap().status,
        Status::Good
    );
}

#[test]
fn garbage_and_error_statuses_are_refused() {
    let pki = Pki::new();
    let query = Query::new(&pki.good, &pki.ca.cert).unwrap();
    assert!(
        query
            .check(b"not der", &pki.ca.cert)
            .unwrap_err()
            .contains("not valid DER")
    );
    let try_later = OcspResponse::create(OcspResponseStatus::TRY_LATER, None).unwrap();
    let e = query
        .check(&try_later.to_der().unwrap(), &pki.ca.cert)
        .unwrap_err();
    assert!(e.contains("tryLater"), "{e}");
}

#[test]
fn keys_differ_by_serial_and_issuer() {
    let pki = Pki::new();
    let a = cert_key(&pki.good, &pki.ca.cert).unwrap();
    assert_eq!(a, cert_key(&pki.good, &pki.ca.cert).unwrap());
    assert_ne!(a, cert_key(&pki.revoked, &pki.ca.cert).unwrap());
    assert_ne!(a, cert_key(&pki.good, &pki.stranger.cert).unwrap());
}
