//! Expiry warnings, as mongod 4.4+ gives them within
//! `tlsX509ExpirationWarningThresholdDays`: for the server's own files
//! (its certificate, each CA certificate, the CRL's nextUpdate) at
//! start-up and daily, and for client certificates on their handshake,
//! once a day per certificate rather than once per connection.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::x509::X509Ref;

const DAY_SECS: i64 = 86_400;

/// mongod's id for "Server certificate will expire soon".
const SERVER_CERTIFICATE_ID: u64 = 23786;
/// mongossl's ids for a CA certificate and a CRL that run out soon.
const CA_CERTIFICATE_ID: u64 = 9_100_003;
const CRL_ID: u64 = 9_100_004;
/// mongod's id for a client certificate that expires soon.
pub const PEER_CERTIFICATE_ID: u64 = 23222;

/// Now, as Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An ASN.1 time as Unix seconds (0 if OpenSSL cannot tell the difference).
pub fn unix_time(time: &Asn1TimeRef) -> i64 {
    let Ok(epoch) = Asn1Time::from_unix(0) else {
        return 0;
    };
    epoch
        .diff(time)
        .map_or(0, |d| i64::from(d.days) * DAY_SECS + i64::from(d.secs))
}

/// One date of the server's files that must not pass unnoticed.
#[derive(Debug, Clone)]
struct Dated {
    id: u64,
    /// "the server certificate CN=… in /etc/ssl/mongodb.pem"
    what: String,
    /// What happens on the date: "expires", "is due to be replaced".
    happens: &'static str,
    at: i64,
}

/// The dates of the server's files, checked at start-up and daily.
#[derive(Debug, Clone, Default)]
pub struct ExpiryWatch {
    threshold_days: u32,
    dates: Vec<Dated>,
}

impl ExpiryWatch {
    pub fn new(threshold_days: u32) -> ExpiryWatch {
        ExpiryWatch {
            threshold_days,
            dates: Vec::new(),
        }
    }

    pub fn server_certificate(&mut self, what: String, not_after: &Asn1TimeRef) {
        self.add(SERVER_CERTIFICATE_ID, what, "expires", not_after);
    }

    pub fn ca_certificate(&mut self, what: String, not_after: &Asn1TimeRef) {
        self.add(CA_CERTIFICATE_ID, what, "expires", not_after);
    }

    /// A CRL past its nextUpdate is stale: the CA has (or should have)
    /// published a newer one that mongossl does not know.
    pub fn crl(&mut self, what: String, next_update: &Asn1TimeRef) {
        self.add(
            CRL_ID,
            what,
            "is due to be replaced (nextUpdate)",
            next_update,
        );
    }

    fn add(&mut self, id: u64, what: String, happens: &'static str, at: &Asn1TimeRef) {
        self.dates.push(Dated {
            id,
            what,
            happens,
            at: unix_time(at),
        });
    }

    /// The warnings due at `now` (Unix seconds): each date within the
    /// threshold, or past. (A server certificate past its date never gets
    /// this far: start-up and reload refuse it.)
    pub fn due(&self, now: i64) -> Vec<(u64, String)> {
        if self.threshold_days == 0 {
            return Vec::new();
        }
        let threshold = i64::from(self.threshold_days) * DAY_SECS;
        self.dates
            .iter()
            .filter(|d| d.at - now < threshold)
            .map(|d| {
                let when = format_date(d.at);
                let text = if d.at <= now {
                    format!("{} {} on {when}: that date has passed", d.what, d.happens)
                } else {
                    let days = (d.at - now) / DAY_SECS;
                    format!("{} {} in {days} day(s), on {when}", d.what, d.happens)
                };
                (d.id, text)
            })
            .collect()
    }

    /// Logs the warnings due now.
    pub fn warn(&self) {
        for (id, text) in self.due(unix_now()) {
            log::warn!(id = id; "{text}");
        }
    }
}

/// A Unix time as OpenSSL prints certificate dates (`Jan  1 00:00:00 2027 GMT`).
fn format_date(at: i64) -> String {
    Asn1Time::from_unix(at).map_or_else(|_| at.to_string(), |t| t.to_string())
}

/// Client certificates that expire within the threshold, each warned of
/// once a day.
#[derive(Debug)]
pub struct PeerExpiry {
    threshold_days: u32,
    /// The day (Unix days) and the certificates warned of on it.
    warned: Mutex<(i64, HashSet<Vec<u8>>)>,
}

impl PeerExpiry {
    pub fn new(threshold_days: u32) -> PeerExpiry {
        PeerExpiry {
            threshold_days,
            warned: Mutex::new((0, HashSet::new())),
        }
    }

    /// The days left when `cert` expires within the threshold and has not
    /// been warned of today. Every loop shares this memory, through
    /// `try_lock` only: a handshake never waits for another loop's, and
    /// one that finds it busy skips the warning (the next handshake with
    /// that certificate gives it).
    pub fn warn_of(&self, cert: &X509Ref) -> Option<i32> {
        let now = Asn1Time::days_from_now(0).ok()?;
        let left = now.diff(cert.not_after()).ok()?;
        if left.days >= i32::try_from(self.threshold_days).unwrap_or(i32::MAX) {
            return None;
        }
        let digest = cert.digest(MessageDigest::sha256()).ok()?.to_vec();
        let today = unix_now() / DAY_SECS;
        let mut warned = self.warned.try_lock().ok()?;
        if warned.0 != today {
            *warned = (today, HashSet::new());
        }
        warned.1.insert(digest).then_some(left.days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_within_the_threshold_are_due() {
        let now = unix_now();
        let at = |days: i64| Asn1Time::from_unix(now + days * DAY_SECS + 60).expect("time");
        let mut watch = ExpiryWatch::new(30);
        watch.server_certificate("the server certificate CN=s".into(), &at(10));
        watch.ca_certificate("the CA certificate CN=ca".into(), &at(400));
        watch.crl("the CRL of CN=ca".into(), &at(-2));
        let due = watch.due(now);
        assert_eq!(due.len(), 2, "{due:?}");
        assert_eq!(due[0].0, SERVER_CERTIFICATE_ID);
        assert!(
            due[0]
                .1
                .starts_with("the server certificate CN=s expires in 10 day(s), on "),
            "{}",
            due[0].1
        );
        assert_eq!(due[1].0, CRL_ID);
        assert!(due[1].1.contains("that date has passed"), "{}", due[1].1);
        // A threshold of 0 turns the warnings off.
        let mut off = ExpiryWatch::new(0);
        off.crl("the CRL".into(), &at(-2));
        assert!(off.due(now).is_empty());
    }

    #[test]
    fn a_client_certificate_is_warned_of_once_a_day() {
        // The test certificate is valid for 30 days.
        let cert = crate::tls::pem::test_certificate(&[("CN", "soon")], &[]);
        let expiry = PeerExpiry::new(45);
        let days = expiry.warn_of(&cert).expect("within 45 days");
        assert!((28..=30).contains(&days), "{days}");
        assert_eq!(expiry.warn_of(&cert), None, "said once today");
        let other = crate::tls::pem::test_certificate(&[("CN", "other")], &[]);
        assert!(expiry.warn_of(&other).is_some());
        assert_eq!(
            PeerExpiry::new(10).warn_of(&cert),
            None,
            "30 days is beyond 10"
        );
    }
}
