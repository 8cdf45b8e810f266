//! The `Checker`: answers "is this certificate revoked?" without ever
//! blocking its caller on the network. Round trips run on its worker
//! threads; answers are cached; concurrent questions about the same
//! certificate share one request.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SendError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use openssl::x509::{X509, X509Ref};

use super::cache::{self, Cache};
use super::http;
use super::query::{Answer, Outcome, Query, Status, cert_key};

/// mongod's knobs, as the caller read them.
#[derive(Debug, Clone)]
pub struct CheckerSettings {
    /// `tlsOCSPVerifyTimeoutSecs`: the whole round trip, connect to answer.
    pub verify_timeout: Duration,
    /// `ocspValidationRefreshPeriodSecs`: how long an answer without
    /// nextUpdate is kept.
    pub refresh_period: Duration,
    /// Worker threads, i.e. round trips at once. With 0 every lookup fails
    /// at once (there is no one to do it).
    pub threads: usize,
}

impl Default for CheckerSettings {
    fn default() -> CheckerSettings {
        CheckerSettings {
            verify_timeout: Duration::from_secs(5),
            refresh_period: Duration::from_secs(3600),
            threads: 2,
        }
    }
}

/// Called once with the outcome of a lookup.
pub type Done = Box<dyn FnOnce(Outcome) + Send>;

struct Job {
    key: Vec<u8>,
    url: String,
    cert: X509,
    issuer: X509,
}

/// What the handles and the workers share.
struct Shared {
    settings: CheckerSettings,
    cache: Mutex<Cache>,
    /// Lookups waiting on a request already sent, by certificate key.
    in_flight: Mutex<HashMap<Vec<u8>, Vec<Done>>>,
    requests_sent: AtomicU64,
}

/// Owned by the handles only: when the last goes, the sender drops and
/// each worker ends once its current round trip (if any) is over. Drop
/// does not join them, so it never waits on the network.
struct Inner {
    shared: Arc<Shared>,
    jobs: Sender<Job>,
}

/// A handle on the OCSP workers and cache; cheap to clone, shareable
/// between event loops.
#[derive(Clone)]
pub struct Checker {
    inner: Arc<Inner>,
}

/// The mutexes guard plain maps that no panic leaves half-updated, so a
/// poisoned one is still sound to use.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Checker {
    pub fn new(settings: CheckerSettings) -> Checker {
        let threads = settings.threads;
        let shared = Arc::new(Shared {
            settings,
            cache: Mutex::new(Cache::new(cache::DEFAULT_CAPACITY)),
            in_flight: Mutex::new(HashMap::new()),
            requests_sent: AtomicU64::new(0),
        });
        let (jobs, receiver) = mpsc::channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads {
            let (shared, receiver) = (Arc::clone(&shared), Arc::clone(&receiver));
            let spawned = thread::Builder::new()
                .name(format!("ocsp-{n}"))
                .spawn(move || work(&shared, &receiver));
            if let Err(e) = spawned {
                // With none started, lookups fail (see `lookup`).
                log::warn!("cannot start OCSP worker thread {n}: {e}");
            }
        }
        Checker {
            inner: Arc::new(Inner { shared, jobs }),
        }
    }

    /// The certificate's first `http://` OCSP responder (its AIA extension).
    pub fn responder_url(cert: &X509Ref) -> Option<String> {
        let urls = cert.ocsp_responders().ok()?;
        urls.iter().map(|url| url.to_string()).find(|url| {
            url.get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
        })
    }

    /// The remembered outcome, if still fresh: an answer until its
    /// nextUpdate (or the refresh period), a `Failed` for a few seconds
    /// (`cache::FAILURE_TTL`). Never blocks on I/O: the mutex is only ever
    /// held for a map operation.
    pub fn cached(&self, cert: &X509Ref, issuer: &X509Ref) -> Option<Outcome> {
        let key = cert_key(cert, issuer).ok()?;
        lock(&self.inner.shared.cache).get(&key, Instant::now())
    }

    /// Finds out, in the background, and calls `done` with the outcome,
    /// from a worker thread. It is called before `lookup` returns when the
    /// answer is at hand: cached, or a failure known at once (no responder
    /// URL, no worker threads).
    pub fn lookup(&self, cert: X509, issuer: X509, done: Done) {
        let shared = &self.inner.shared;
        let key = match cert_key(&cert, &issuer) {
            Ok(key) => key,
            Err(e) => return done(Outcome::Failed(e)),
        };
        let Some(url) = Self::responder_url(&cert) else {
            return done(Outcome::Failed(
                "the certificate names no http:// OCSP responder".to_string(),
            ));
        };
        {
            let mut in_flight = lock(&shared.in_flight);
            if let Some(waiting) = in_flight.get_mut(&key) {
                waiting.push(done);
                return;
            }
            // Looked up under the in-flight lock: a worker fills the cache
            // before it clears its in-flight entry, so one of the two is seen.
            let cached = lock(&shared.cache).get(&key, Instant::now());
            if let Some(outcome) = cached {
                drop(in_flight);
                return done(outcome);
            }
            in_flight.insert(key.clone(), vec![done]);
        }
        let job = Job {
            key,
            url,
            cert,
            issuer,
        };
        if let Err(SendError(job)) = self.inner.jobs.send(job) {
            let waiting = lock(&shared.in_flight).remove(&job.key);
            let why = "the OCSP worker threads are gone";
            finish(
                waiting.unwrap_or_default(),
                &Outcome::Failed(why.to_string()),
            );
        }
    }

    /// Requests sent to responders so far (cache hits and shared requests
    /// send none).
    pub fn requests_sent(&self) -> u64 {
        self.inner.shared.requests_sent.load(Ordering::Relaxed)
    }

    /// One round trip on the calling thread, for stapling the server's own
    /// certificate: the DER response (to staple as is), its status and
    /// nextUpdate. Blocks up to `timeout`: not for an event loop.
    pub fn fetch_blocking(
        url: &str,
        cert: &X509Ref,
        issuer: &X509Ref,
        timeout: Duration,
    ) -> Result<(Vec<u8>, Status, Option<SystemTime>), String> {
        let (der, answer) = fetch(url, cert, issuer, timeout, None)?;
        Ok((der, answer.status, answer.next_update))
    }

    #[cfg(test)]
    fn shared_weak(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.inner.shared)
    }
}

/// Builds the request, POSTs it, checks the answer.
fn fetch(
    url: &str,
    cert: &X509Ref,
    issuer: &X509Ref,
    timeout: Duration,
    sent: Option<&AtomicU64>,
) -> Result<(Vec<u8>, Answer), String> {
    let deadline = Instant::now() + timeout;
    let query = Query::new(cert, issuer)?;
    if let Some(sent) = sent {
        sent.fetch_add(1, Ordering::Relaxed);
    }
    let der = http::post(url, query.der(), deadline)?;
    let answer = query
        .check(&der, issuer)
        .map_err(|e| format!("OCSP responder {url}: {e}"))?;
    Ok((der, answer))
}

/// A worker: takes jobs until every handle is gone.
fn work(shared: &Shared, jobs: &Mutex<Receiver<Job>>) {
    loop {
        // The receiver's lock is released before the job runs.
        let job = match lock(jobs).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let settings = &shared.settings;
        let sent = Some(&shared.requests_sent);
        let (outcome, next_update) = match fetch(
            &job.url,
            &job.cert,
            &job.issuer,
            settings.verify_timeout,
            sent,
        ) {
            Ok((_, answer)) => (Outcome::from(answer.status), answer.next_update),
            Err(e) => (Outcome::Failed(e), None),
        };
        let now = Instant::now();
        let expires_at = cache::expiry(&outcome, next_update, settings.refresh_period, now);
        lock(&shared.cache).put(job.key.clone(), outcome.clone(), expires_at, now);
        let waiting = lock(&shared.in_flight).remove(&job.key);
        finish(waiting.unwrap_or_default(), &outcome);
    }
}

/// Calls each waiting callback; one that panics does not take the worker
/// (or the other callbacks) with it.
fn finish(waiting: Vec<Done>, outcome: &Outcome) {
    for done in waiting {
        let outcome = outcome.clone();
        if catch_unwind(AssertUnwindSafe(move || done(outcome))).is_err() {
            log::error!("an OCSP lookup's completion callback panicked");
        }
    }
}

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
