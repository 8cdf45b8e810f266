//! OCSP without I/O: the DER request for a certificate (with a fresh
//! nonce) and the judgement of a DER response to it (signature, signer,
//! nonce, status, freshness).

use std::time::{Duration, SystemTime};

use foreign_types::ForeignTypeRef;
use openssl::asn1::{Asn1GeneralizedTimeRef, Asn1Time};
use openssl::hash::{MessageDigest, hash};
use openssl::ocsp::{
    OcspBasicResponseRef, OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse,
    OcspResponseStatus, OcspRevokedStatus,
};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509, X509Ref};

/// Slack for thisUpdate/nextUpdate against our clock (responders' and ours drift).
const VALIDITY_LEEWAY_SECS: u32 = 300;

/// What the responder says of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Good,
    /// `reason` is RFC 5280's name (`keyCompromise`, ...), `revoked_at` as
    /// OpenSSL prints it (`Dec  1 00:00:00 2025 GMT`).
    Revoked {
        reason: String,
        revoked_at: String,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// A checked answer: the status, and until when the responder vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Status,
    /// The response's nextUpdate, if it has one.
    pub next_update: Option<SystemTime>,
}

/// One outstanding question to a responder: the request as sent (kept to
/// compare its nonce with the answer's) and the id of the certificate.
pub struct Query {
    request: OcspRequest,
    der: Vec<u8>,
    id: OcspCertId,
}

impl Query {
    /// A request for `cert` issued by `issuer`, with a random nonce so a
    /// replayed old answer is caught when the responder echoes it. The id
    /// hashes with SHA-1, the one digest every responder indexes by.
    pub fn new(cert: &X509Ref, issuer: &X509Ref) -> Result<Query, String> {
        let id = || {
            OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer)
                .map_err(|e| format!("cannot make the OCSP certificate id: {e}"))
        };
        let mut request =
            OcspRequest::new().map_err(|e| format!("cannot make an OCSP request: {e}"))?;
        request
            .add_id(id()?)
            .map_err(|e| format!("cannot make an OCSP request: {e}"))?;
        nonce::add(&mut request)?;
        let der = request
            .to_der()
            .map_err(|e| format!("cannot encode the OCSP request: {e}"))?;
        Ok(Query {
            request,
            der,
            id: id()?,
        })
    }

    /// The DER request to POST.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Judges the responder's DER answer. Only an answer signed by the
    /// issuer, or by a certificate the issuer gave the OCSP-signing EKU, is
    /// believed; an echoed nonce must be ours (an answer without a nonce is
    /// taken, as most public CAs' responders send none).
    pub fn check(&self, response: &[u8], issuer: &X509Ref) -> Result<Answer, String> {
        let response = OcspResponse::from_der(response)
            .map_err(|e| format!("the OCSP response is not valid DER: {e}"))?;
        let status = response.status();
        if status != OcspResponseStatus::SUCCESSFUL {
            return Err(format!(
                "the OCSP responder answered {}",
                response_status_name(status)
            ));
        }
        let basic = response
            .basic()
            .map_err(|e| format!("the OCSP response has no basic response: {e}"))?;
        verify_signer(&basic, issuer)?;
        nonce::check(&self.request, &basic)?;
        let single = basic
            .find_status(&self.id)
            .ok_or("the OCSP response does not mention the certificate")?;
        single
            .check_validity(VALIDITY_LEEWAY_SECS, None)
            .map_err(|e| format!("the OCSP response is stale or not yet valid: {e}"))?;
        let next_update = match single.next_update() {
            Some(time) => Some(to_system_time(time)?),
            None => None,
        };
        let status = match single.status {
            OcspCertStatus::GOOD => Status::Good,
            OcspCertStatus::REVOKED => Status::Revoked {
                reason: reason_name(single.reason).to_string(),
                revoked_at: single
                    .revocation_time
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "an unknown time".to_string()),
            },
            _ => Status::Unknown,
        };
        Ok(Answer {
            status,
            next_update,
        })
    }
}

/// A key naming the certificate as OCSP does (its issuer's name and key,
/// and its serial), for the cache and for sharing in-flight requests.
pub fn cert_key(cert: &X509Ref, issuer: &X509Ref) -> Result<Vec<u8>, String> {
    let fail = |e: openssl::error::ErrorStack| format!("cannot name the certificate: {e}");
    let name = issuer.subject_name().to_der().map_err(fail)?;
    let key = issuer
        .public_key()
        .and_then(|k| k.public_key_to_der())
        .map_err(fail)?;
    let serial = cert.serial_number().to_bn().map_err(fail)?.to_vec();
    let mut out = Vec::with_capacity(64 + serial.len());
    out.extend_from_slice(&hash(MessageDigest::sha256(), &name).map_err(fail)?);
    out.extend_from_slice(&hash(MessageDigest::sha256(), &key).map_err(fail)?);
    out.extend_from_slice(&serial);
    Ok(out)
}

/// Checks the signature and that the signer speaks for the issuer. The
/// store trusts the issuer alone (a partial chain, since it may be an
/// intermediate); OpenSSL then accepts the issuer itself or a certificate
/// it issued with the OCSP-signing EKU, and refuses any other signer.
fn verify_signer(basic: &OcspBasicResponseRef, issuer: &X509Ref) -> Result<(), String> {
    let fail = |e: openssl::error::ErrorStack| format!("cannot verify the OCSP response: {e}");
    let mut store = X509StoreBuilder::new().map_err(fail)?;
    store.add_cert(issuer.to_owned()).map_err(fail)?;
    store
        .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
        .map_err(fail)?;
    let store = store.build();
    // The issuer among the candidate signers covers responders that sign
    // with the CA key and attach no certificate.
    let mut certs: Stack<X509> = Stack::new().map_err(fail)?;
    certs.push(issuer.to_owned()).map_err(fail)?;
    basic
        .verify(&certs, &store, OcspFlag::empty())
        .map_err(|e| format!("the OCSP response's signature or signer is not trusted: {e}"))
}

/// nextUpdate as a SystemTime: its distance from the Unix epoch.
fn to_system_time(time: &Asn1GeneralizedTimeRef) -> Result<SystemTime, String> {
    let epoch = Asn1Time::from_unix(0).map_err(|e| format!("cannot make a time: {e}"))?;
    let (mut days, mut secs) = (0, 0);
    // SAFETY: both pointers are live ASN1_STRINGs for the call, which only
    // reads them; an ASN1_GENERALIZEDTIME is an ASN1_TIME in C (the same
    // ASN1_STRING type, which ASN1_TIME_diff handles by its type tag).
    let ok = unsafe {
        openssl_sys::ASN1_TIME_diff(
            &mut days,
            &mut secs,
            epoch.as_ptr(),
            time.as_ptr() as *const openssl_sys::ASN1_TIME,
        )
    };
    if ok != 1 {
        return Err("the OCSP response's nextUpdate is not a valid time".to_string());
    }
    let since_epoch = i64::from(days) * 86_400 + i64::from(secs);
    u64::try_from(since_epoch)
        .ok()
        .and_then(|secs| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
        .ok_or_else(|| "the OCSP response's nextUpdate is out of range".to_string())
}

fn response_status_name(status: OcspResponseStatus) -> String {
    match status {
        OcspResponseStatus::MALFORMED_REQUEST => "malformedRequest".to_string(),
        OcspResponseStatus::INTERNAL_ERROR => "internalError".to_string(),
        OcspResponseStatus::TRY_LATER => "tryLater".to_string(),
        OcspResponseStatus::SIG_REQUIRED => "sigRequired".to_string(),
        OcspResponseStatus::UNAUTHORIZED => "unauthorized".to_string(),
        other => format!("status {}", other.as_raw()),
    }
}

/// RFC 5280's CRLReason names.
fn reason_name(reason: OcspRevokedStatus) -> &'static str {
    match reason {
        OcspRevokedStatus::KEY_COMPROMISE => "keyCompromise",
        OcspRevokedStatus::CA_COMPROMISE => "cACompromise",
        OcspRevokedStatus::AFFILIATION_CHANGED => "affiliationChanged",
        OcspRevokedStatus::STATUS_SUPERSEDED => "superseded",
        OcspRevokedStatus::STATUS_CESSATION_OF_OPERATION => "cessationOfOperation",
        OcspRevokedStatus::STATUS_CERTIFICATE_HOLD => "certificateHold",
        OcspRevokedStatus::REMOVE_FROM_CRL => "removeFromCRL",
        OcspRevokedStatus::UNSPECIFIED => "unspecified",
        _ => "no reason given",
    }
}

/// The nonce extension, which the openssl crates do not bind.
mod nonce {
    use foreign_types::ForeignTypeRef;
    use openssl::ocsp::{OcspBasicResponseRef, OcspRequestRef};

    // Both in OpenSSL since 0.9.7 (<openssl/ocsp.h>).
    unsafe extern "C" {
        fn OCSP_request_add1_nonce(
            req: *mut openssl_sys::OCSP_REQUEST,
            val: *mut libc::c_uchar,
            len: libc::c_int,
        ) -> libc::c_int;
        fn OCSP_check_nonce(
            req: *mut openssl_sys::OCSP_REQUEST,
            bs: *mut openssl_sys::OCSP_BASICRESP,
        ) -> libc::c_int;
    }

    /// Adds a random 16-byte nonce (OpenSSL's default length) to the request.
    pub fn add(request: &mut OcspRequestRef) -> Result<(), String> {
        // SAFETY: a live request; with a NULL value OpenSSL draws the
        // bytes from its RNG itself, and copies them into the request.
        let added = unsafe { OCSP_request_add1_nonce(request.as_ptr(), std::ptr::null_mut(), -1) };
        if added == 1 {
            Ok(())
        } else {
            Err(format!(
                "cannot add a nonce to the OCSP request: {}",
                openssl::error::ErrorStack::get()
            ))
        }
    }

    /// Compares the answer's nonce with the request's.
    pub fn check(request: &OcspRequestRef, basic: &OcspBasicResponseRef) -> Result<(), String> {
        // SAFETY: both objects are live for the call, which only reads
        // them (the C prototype lacks const, nothing is written).
        let verdict = unsafe { OCSP_check_nonce(request.as_ptr(), basic.as_ptr()) };
        match verdict {
            // 1: both carry the same nonce; -1: the responder sent none
            // (most CAs' do not); 2: neither has one.
            1 | -1 | 2 => Ok(()),
            0 => Err("the OCSP response's nonce is not the request's (a replay?)".to_string()),
            _ => Err("the OCSP response has a nonce the request did not ask for".to_string()),
        }
    }
}

/// What the caller learns of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Good,
    Revoked {
        reason: String,
        revoked_at: String,
    },
    Unknown,
    /// No trustworthy answer (responder down, timeout, bad or badly signed
    /// response): the caller applies its soft-fail or hard-fail policy.
    Failed(String),
}

impl From<Status> for Outcome {
    fn from(status: Status) -> Outcome {
        match status {
            Status::Good => Outcome::Good,
            Status::Revoked { reason, revoked_at } => Outcome::Revoked { reason, revoked_at },
            Status::Unknown => Outcome::Unknown,
        }
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
