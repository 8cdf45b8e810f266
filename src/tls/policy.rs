//! The one place a client is judged: `PeerPolicy`, built once from the
//! SSL options, says what a client must present, and after its handshake
//! gives mongod's decision — no certificate, weak validation, an invalid
//! or revoked certificate, `sslAllowInvalidCertificates` — with mongod's
//! log words. Pure logic over a finished handshake, tested without sockets.

use openssl::ssl::SslRef;
use openssl::stack::Stack;
use openssl::x509::{X509, X509Ref, X509StoreContext, X509VerifyResult};

use super::allow_list::AllowList;
use super::expiry::PeerExpiry;
use super::pem::describe_name;
use super::revocation::{Question, Revocation};
use crate::config::SslSettings;

/// The client rules of a listen port, fixed for a connection when it is
/// accepted.
#[derive(Debug, Default)]
pub struct PeerPolicy {
    /// A CA file was given: clients must present a certificate it signed.
    verify_clients: bool,
    /// `sslWeakCertificateValidation`: a client without one is let in.
    weak_validation: bool,
    /// `sslAllowInvalidCertificates`: a failed validation is a warning.
    allow_invalid: bool,
    /// `suppressNoTLSPeerCertificateWarning`: weak validation lets a client
    /// without a certificate in quietly.
    quiet_without_certificate: bool,
    /// `--sslAllowedClients`: the identities a verified client must have.
    allow_list: Option<AllowList>,
    /// Warns of client certificates that expire soon.
    expiry: Option<PeerExpiry>,
    /// Asks OCSP responders about verified client certificates.
    revocation: Option<Revocation>,
}

impl PeerPolicy {
    /// The rules of these settings, with the allow-list already read.
    pub fn new(settings: &SslSettings, allow_list: Option<AllowList>) -> PeerPolicy {
        let days = settings.parameters.expiry_warning_days;
        PeerPolicy {
            verify_clients: settings.ca_file.is_some(),
            weak_validation: settings.weak_cert_validation,
            allow_invalid: settings.allow_invalid_certificates,
            quiet_without_certificate: settings.parameters.suppress_no_peer_certificate_warning,
            allow_list,
            expiry: (days > 0).then(|| PeerExpiry::new(days)),
            revocation: Revocation::new(settings),
        }
    }

    /// Judges the client of a finished server-side handshake. With OCSP
    /// on, a verified certificate's cached OCSP answer is applied at once;
    /// without one, the `Question` to ask (the verdict waits for it).
    pub fn judge_handshake(&self, ssl: &SslRef) -> (PeerVerdict, Option<Question>) {
        let verdict = self.judge(ssl.peer_certificate().as_deref(), first_verify_error(ssl));
        let Some(question) = self
            .revocation
            .as_ref()
            .and_then(|r| r.question(ssl, &verdict))
        else {
            return (verdict, None);
        };
        match question.cached() {
            Some(outcome) => (question.settle(verdict, &outcome), None),
            None => (verdict, Some(question)),
        }
    }

    /// Judges a client the way mongod's `validatePeerCertificate` does,
    /// then by the allow-list. `allow_invalid` forgives a certificate that
    /// fails validation (with mongod's warning), never a missing one:
    /// that is `weak_validation`'s.
    pub fn judge(&self, peer: Option<&X509Ref>, verify_result: X509VerifyResult) -> PeerVerdict {
        if !self.verify_clients {
            return PeerVerdict::accept(None);
        }
        let Some(cert) = peer else {
            return if !self.weak_validation {
                PeerVerdict::Reject(format!("{NO_CERTIFICATE}; connection rejected"))
            } else if self.quiet_without_certificate {
                PeerVerdict::accept(None)
            } else {
                PeerVerdict::Accept {
                    subject: None,
                    warnings: vec![PeerWarning::NoCertificate],
                }
            };
        };
        let subject = describe_name(cert.subject_name());
        let mut warnings = Vec::new();
        if verify_result != X509VerifyResult::OK {
            let failure = format!(
                "SSL peer certificate validation failed: {}",
                verify_result.error_string()
            );
            // Weak validation only forgives a missing certificate, never a bad one.
            if !self.allow_invalid {
                return PeerVerdict::Reject(failure);
            }
            warnings.push(PeerWarning::InvalidAllowed(failure));
        }
        if let Some(list) = &self.allow_list
            && let Err(why) = list.admits(cert)
        {
            return PeerVerdict::Reject(format!(
                "client certificate {subject} refused by the allow-list: {why}"
            ));
        }
        if let Some(days) = self.expiry.as_ref().and_then(|e| e.warn_of(cert)) {
            warnings.push(PeerWarning::ExpiresSoon {
                subject: subject.clone(),
                days,
            });
        }
        PeerVerdict::Accept {
            subject: Some(subject),
            warnings,
        }
    }
}

/// What happens to a client after its handshake.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerVerdict {
    /// Let in; the subject of its certificate, if it sent one, and what
    /// deserves a warning about it.
    Accept {
        subject: Option<String>,
        warnings: Vec<PeerWarning>,
    },
    /// Refused; the text is mongod's log line.
    Reject(String),
}

impl PeerVerdict {
    fn accept(subject: Option<String>) -> PeerVerdict {
        PeerVerdict::Accept {
            subject,
            warnings: Vec::new(),
        }
    }
}

/// A client let in with a warning.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerWarning {
    /// No certificate, under weak validation.
    NoCertificate,
    /// Its certificate failed validation (mongod's line), under
    /// `sslAllowInvalidCertificates`.
    InvalidAllowed(String),
    /// Its certificate expires within `tlsX509ExpirationWarningThresholdDays`
    /// (said once a day per certificate).
    ExpiresSoon { subject: String, days: i32 },
    /// No good OCSP answer for its certificate (soft-fail): why.
    OcspUnchecked(String),
}

/// mongod's words for a client without a certificate.
pub const NO_CERTIFICATE: &str = "no SSL certificate provided by peer";

/// The verification result of a finished handshake, as the first error
/// in the chain rather than OpenSSL's last one.
///
/// The handshake runs with a callback that lets every certificate through
/// (so refusals are mongod's log lines, not bare alerts), and OpenSSL then
/// keeps the *last* error it saw: a self-signed certificate ends up as
/// "unable to get certificate CRL". Only when that result is an error is
/// the chain verified once more, against the same store, stopping at the
/// first error, which names the real cause.
fn first_verify_error(ssl: &SslRef) -> X509VerifyResult {
    let last = ssl.verify_result();
    if last == X509VerifyResult::OK {
        return last;
    }
    let Some(cert) = ssl.peer_certificate() else {
        return last;
    };
    let store = ssl.ssl_context().cert_store();
    let mut chain = match Stack::<X509>::new() {
        Ok(chain) => chain,
        Err(_) => return last,
    };
    if let Some(sent) = ssl.peer_cert_chain() {
        for c in sent {
            if chain.push(c.to_owned()).is_err() {
                return last;
            }
        }
    }
    let first = X509StoreContext::new().and_then(|mut ctx| {
        ctx.init(store, &cert, &chain, |c| {
            c.verify_cert()?;
            Ok(c.error())
        })
    });
    match first {
        Ok(result) if result != X509VerifyResult::OK => result,
        _ => last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::x509::X509;

    fn certificate() -> X509 {
        crate::tls::pem::self_signed(&[("O", "Test"), ("CN", "client")]).1
    }

    fn judge(
        verify_clients: bool,
        weak_validation: bool,
        allow_invalid: bool,
        peer: Option<&X509Ref>,
        verify_result: X509VerifyResult,
    ) -> PeerVerdict {
        let policy = PeerPolicy {
            verify_clients,
            weak_validation,
            allow_invalid,
            ..PeerPolicy::default()
        };
        policy.judge(peer, verify_result)
    }

    #[test]
    fn without_ca_everyone_passes() {
        assert_eq!(
            judge(false, false, false, None, X509VerifyResult::OK),
            PeerVerdict::accept(None)
        );
    }

    #[test]
    fn missing_certificate() {
        assert_eq!(
            judge(true, false, false, None, X509VerifyResult::OK),
            PeerVerdict::Reject("no SSL certificate provided by peer; connection rejected".into())
        );
        assert_eq!(
            judge(true, true, false, None, X509VerifyResult::OK),
            PeerVerdict::Accept {
                subject: None,
                warnings: vec![PeerWarning::NoCertificate]
            }
        );
    }

    #[test]
    fn invalid_certificate_is_refused_even_when_weak() {
        let cert = certificate();
        // SAFETY: 18 is X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, a valid code.
        let bad = unsafe { X509VerifyResult::from_raw(18) };
        for weak in [false, true] {
            match judge(true, weak, false, Some(&cert), bad) {
                PeerVerdict::Reject(text) => assert!(
                    text.starts_with("SSL peer certificate validation failed: ")
                        && text.contains("self"),
                    "{text}"
                ),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn allow_invalid_lets_a_bad_certificate_in_with_the_reason() {
        let cert = certificate();
        // SAFETY: 18 is X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, a valid code.
        let bad = unsafe { X509VerifyResult::from_raw(18) };
        match judge(true, false, true, Some(&cert), bad) {
            PeerVerdict::Accept {
                subject: Some(subject),
                warnings,
            } => {
                assert_eq!(subject, "CN=client,O=Test");
                assert!(
                    matches!(&warnings[..], [PeerWarning::InvalidAllowed(w)] if w.starts_with("SSL peer certificate validation failed: ")),
                    "{warnings:?}"
                );
            }
            other => panic!("expected acceptance with a warning, got {other:?}"),
        }
        // It does not forgive a missing certificate.
        assert!(matches!(
            judge(true, false, true, None, X509VerifyResult::OK),
            PeerVerdict::Reject(_)
        ));
    }

    #[test]
    fn valid_certificate_names_the_subject() {
        let cert = certificate();
        assert_eq!(
            judge(true, false, false, Some(&cert), X509VerifyResult::OK),
            PeerVerdict::accept(Some("CN=client,O=Test".into()))
        );
    }
}
