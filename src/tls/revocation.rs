//! OCSP for a verified client certificate, as mongod 4.4 checks it: which
//! certificates are asked about (`ocspEnabled`, a CA file, a responder URL
//! in the certificate, its issuer in the verified chain), the `Question`
//! put to the shared `Checker`, and what the answer does to the verdict:
//! `revoked` refuses; `unknown` or no answer lets the client in with a
//! warning (mongod's soft-fail) unless `--sslOCSPRequire` makes it refuse.

use std::time::Duration;

use openssl::ssl::SslRef;
use openssl::x509::X509;

use super::ocsp::{Checker, CheckerSettings, Done, Outcome};
use super::policy::{PeerVerdict, PeerWarning};
use crate::config::SslSettings;

/// Round trips at once: a slow responder holds one worker for up to
/// `tlsOCSPVerifyTimeoutSecs`, so a few keep other certificates moving.
const WORKER_THREADS: usize = 4;
/// Beyond the responder's timeout, how long a client may wait for a free
/// worker before it is given the no-answer outcome.
const QUEUE_ALLOWANCE: Duration = Duration::from_secs(1);

/// The OCSP rules of one build of the server contexts.
pub struct Revocation {
    checker: Checker,
    /// `--sslOCSPRequire`: no good answer, no entry.
    require: bool,
    /// How long a client's handshake waits for an answer.
    wait: Duration,
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocation")
            .field("require", &self.require)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl Revocation {
    /// The rules of these settings; `None` when client certificates are
    /// not verified (no CA file) or `ocspEnabled=false`.
    pub fn new(settings: &SslSettings) -> Option<Revocation> {
        let params = &settings.parameters;
        if settings.ca_file.is_none() || !params.ocsp_enabled {
            return None;
        }
        let checker = Checker::new(CheckerSettings {
            verify_timeout: params.ocsp_verify_timeout,
            refresh_period: params
                .ocsp_validation_refresh
                .unwrap_or(CheckerSettings::default().refresh_period),
            threads: WORKER_THREADS,
        });
        Some(Revocation {
            checker,
            require: settings.ocsp_require,
            wait: params.ocsp_verify_timeout + QUEUE_ALLOWANCE,
        })
    }

    /// The question a client's certificate raises, if it has a responder
    /// and its issuer is in the verified chain. Only certificates that
    /// passed validation are asked about: one let in by
    /// `sslAllowInvalidCertificates` has no trustworthy issuer to ask for.
    pub fn question(&self, ssl: &SslRef, verdict: &PeerVerdict) -> Option<Question> {
        let PeerVerdict::Accept {
            subject: Some(subject),
            warnings,
        } = verdict
        else {
            return None;
        };
        if warnings
            .iter()
            .any(|w| matches!(w, PeerWarning::InvalidAllowed(_)))
        {
            return None;
        }
        let chain = ssl.verified_chain()?;
        let cert = chain.get(0)?.to_owned();
        Checker::responder_url(&cert)?;
        let issuer = chain.get(1)?.to_owned();
        Some(Question {
            checker: self.checker.clone(),
            cert,
            issuer,
            subject: subject.clone(),
            require: self.require,
            wait: self.wait,
        })
    }
}

/// One client certificate's OCSP question.
pub struct Question {
    checker: Checker,
    cert: X509,
    issuer: X509,
    subject: String,
    require: bool,
    wait: Duration,
}

impl Question {
    /// The answer already known (cached until the responder's nextUpdate),
    /// without waiting.
    pub fn cached(&self) -> Option<Outcome> {
        self.checker.cached(&self.cert, &self.issuer)
    }

    /// Asks in the background; `done` is called once, from another thread
    /// (or at once when the answer is at hand).
    pub fn ask(&self, done: Done) {
        self.checker
            .lookup(self.cert.clone(), self.issuer.clone(), done);
    }

    /// How long the handshake may wait for `done` before it settles for
    /// no answer.
    pub fn wait_limit(&self) -> Duration {
        self.wait
    }

    /// What the answer does to the verdict given after validation.
    pub fn settle(&self, verdict: PeerVerdict, outcome: &Outcome) -> PeerVerdict {
        let PeerVerdict::Accept {
            subject,
            mut warnings,
        } = verdict
        else {
            return verdict;
        };
        let who = &self.subject;
        let doubt = match outcome {
            Outcome::Good => None,
            Outcome::Revoked { reason, revoked_at } => {
                return PeerVerdict::Reject(format!(
                    "SSL peer certificate validation failed: the certificate {who} is revoked by OCSP ({reason}, since {revoked_at})"
                ));
            }
            Outcome::Unknown => Some("the responder does not know the certificate".to_string()),
            Outcome::Failed(why) => Some(why.clone()),
        };
        if let Some(why) = doubt {
            if self.require {
                return PeerVerdict::Reject(format!(
                    "SSL peer certificate validation failed: no good OCSP answer for the certificate {who} ({why}) and --sslOCSPRequire is set"
                ));
            }
            warnings.push(PeerWarning::OcspUnchecked(format!(
                "OCSP status of the certificate {who} unknown ({why}): let in (soft-fail; --sslOCSPRequire would refuse it)"
            )));
        }
        PeerVerdict::Accept { subject, warnings }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(require: bool) -> Question {
        let (_, cert) = crate::tls::pem::self_signed(&[("CN", "client")]);
        Question {
            checker: Checker::new(CheckerSettings {
                threads: 0,
                ..CheckerSettings::default()
            }),
            issuer: cert.clone(),
            cert,
            subject: "CN=client".into(),
            require,
            wait: Duration::from_secs(1),
        }
    }

    fn accepted() -> PeerVerdict {
        PeerVerdict::Accept {
            subject: Some("CN=client".into()),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn good_passes_and_revoked_refuses_either_way() {
        for require in [false, true] {
            let q = question(require);
            assert_eq!(q.settle(accepted(), &Outcome::Good), accepted());
            let revoked = Outcome::Revoked {
                reason: "keyCompromise".into(),
                revoked_at: "Dec  1 00:00:00 2025 GMT".into(),
            };
            match q.settle(accepted(), &revoked) {
                PeerVerdict::Reject(text) => assert!(
                    text.contains("CN=client is revoked by OCSP (keyCompromise, since Dec  1"),
                    "{text}"
                ),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn no_answer_is_a_warning_unless_required() {
        let failed = Outcome::Failed("connection refused".into());
        for outcome in [Outcome::Unknown, failed] {
            match question(false).settle(accepted(), &outcome) {
                PeerVerdict::Accept { warnings, .. } => assert!(
                    matches!(&warnings[..], [PeerWarning::OcspUnchecked(w)] if w.contains("soft-fail")),
                    "{warnings:?}"
                ),
                other => panic!("expected soft-fail, got {other:?}"),
            }
            match question(true).settle(accepted(), &outcome) {
                PeerVerdict::Reject(text) => {
                    assert!(text.contains("--sslOCSPRequire"), "{text}")
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_refusal_stays_a_refusal() {
        let refused = PeerVerdict::Reject("no".into());
        assert_eq!(
            question(false).settle(refused, &Outcome::Good),
            PeerVerdict::Reject("no".into())
        );
    }
}
