//! The log lines of a client let in after its handshake, in mongod's
//! words and ids: the warnings about it first (no certificate under weak
//! validation, a failed validation forgiven, a certificate that expires
//! soon, no good OCSP answer), then "SSL handshake done" with the version, suite and subject.

use crate::ops::log_json::{
    NO_CERTIFICATE_ALLOWED, OCSP_SOFT_FAIL, SSL_HANDSHAKE_DONE, VALIDATION_FAILED_ALLOWED,
};
use crate::tls::PeerWarning;
use crate::tls::expiry::PEER_CERTIFICATE_ID;
use crate::tls::policy::NO_CERTIFICATE;

/// Logs an accepted client on its connection's log context.
pub fn accepted(
    context: &str,
    version: &str,
    cipher: &str,
    subject: Option<&str>,
    warnings: &[PeerWarning],
) {
    for warning in warnings {
        match warning {
            PeerWarning::NoCertificate => {
                log::warn!(target: context, id = NO_CERTIFICATE_ALLOWED; "{NO_CERTIFICATE}")
            }
            PeerWarning::InvalidAllowed(text) => {
                log::warn!(target: context, id = VALIDATION_FAILED_ALLOWED, reason:% = text; "{text}")
            }
            PeerWarning::ExpiresSoon { subject, days } => log::warn!(
                target: context, id = PEER_CERTIFICATE_ID, subject:% = subject, daysLeft = days;
                "peer certificate {subject} expires in {days} day(s)"
            ),
            PeerWarning::OcspUnchecked(text) => {
                log::warn!(target: context, id = OCSP_SOFT_FAIL, reason:% = text; "{text}")
            }
        }
    }
    match subject {
        Some(subject) => {
            log::info!(target: context, id = SSL_HANDSHAKE_DONE, version = version, cipher = cipher, subject:% = subject; "SSL handshake done: {version} {cipher}, peer certificate subject: {subject}")
        }
        None => {
            log::info!(target: context, id = SSL_HANDSHAKE_DONE, version = version, cipher = cipher; "SSL handshake done: {version} {cipher}, no peer certificate")
        }
    }
}
