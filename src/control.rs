//! The control thread: after start-up it waits for signals (SIGTERM/SIGINT
//! to shut down, SIGHUP to reload the certificate files, SIGUSR1 to rotate
//! the log and reopen the audit file), keeps systemd's status and watchdog fed, gives freed memory
//! back, and notices an event loop that died. It is the only thread that
//! reads files after start-up; the loops get new contexts by mailbox.

use std::time::{Duration, Instant};

use crate::config::{Config, SslSettings};
use crate::error::Error;
use crate::fips::FipsDecision;
use crate::ops::signals::{Signal, Signals};
use crate::ops::{self, systemd};
use crate::proxy::Proxy;
use crate::taps::audit::Audit;
use crate::taps::metrics::ProcessFacts;
use crate::tls::expiry::ExpiryWatch;
use crate::tls::{self, ServerContext};

/// How often systemd's STATUS is updated.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);
/// How often the control thread wakes when no signal comes.
const CONTROL_TICK: Duration = Duration::from_secs(1);
/// How often the certificate, CA and CRL dates are checked again.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// The control thread's loop: signals, systemd status and watchdog, until
/// a shutdown is asked for (or a loop died).
pub fn run(
    config: &Config,
    decision: &FipsDecision,
    signals: &Signals,
    proxy: &Proxy,
    facts: &ProcessFacts,
    audit: Option<&Audit>,
    mut expiry: Option<ExpiryWatch>,
) {
    let mut last_expiry_check = Instant::now();
    let watchdog = systemd::watchdog_interval().map(|interval| interval / 2);
    let tick = watchdog.map_or(CONTROL_TICK, |w| w.min(CONTROL_TICK));
    let mut last_status = Instant::now();
    let mut trimmer = ops::memory::Trimmer::default();
    let mut last_watchdog = Instant::now();
    loop {
        match signals.wait(tick) {
            Some(Signal::Shutdown) => {
                log::info!("got a signal to shut down");
                return;
            }
            Some(Signal::Reload) => {
                if let Some(watch) = reload(config, decision, proxy, facts) {
                    expiry = Some(watch);
                    last_expiry_check = Instant::now();
                }
                if let Some(audit) = audit {
                    audit.reopen();
                }
            }
            Some(Signal::RotateLog) => {
                match ops::log::rotate() {
                    Ok(Some(aside)) => {
                        log::info!("log rotated; the old log is {}", aside.display())
                    }
                    Ok(None) => log::info!("log rotation asked for, but the log goes to stderr"),
                    Err(e) => log::error!("log rotation failed: {e}"),
                }
                // mongod's logRotate reopens the audit file too; moving the
                // old one aside is the rotating tool's job.
                if let Some(audit) = audit {
                    audit.reopen();
                }
            }
            None => {}
        }
        if proxy.any_finished() {
            log::error!("an event loop stopped; shutting down");
            return;
        }
        if let Some(every) = watchdog
            && last_watchdog.elapsed() >= every
        {
            last_watchdog = Instant::now();
            systemd::notify("WATCHDOG=1");
        }
        if let Some(watch) = &expiry
            && last_expiry_check.elapsed() >= EXPIRY_INTERVAL
        {
            last_expiry_check = Instant::now();
            watch.warn();
        }
        if trimmer.observe(proxy.open_connections()) {
            log::debug!("gave freed memory back to the system");
        }
        if last_status.elapsed() >= STATUS_INTERVAL {
            last_status = Instant::now();
            systemd::notify(&format!(
                "STATUS=waiting for connections; {} open",
                proxy.open_connections()
            ));
        }
    }
}

/// SIGHUP: re-reads the key, CA, CRL and allow-list files and hands
/// every loop new contexts. Any error keeps the old ones: never a
/// half-applied mix. The new files' dates, when it worked.
fn reload(
    config: &Config,
    decision: &FipsDecision,
    proxy: &Proxy,
    facts: &ProcessFacts,
) -> Option<ExpiryWatch> {
    let Some(settings) = &config.ssl else {
        log::info!("reload asked for, but SSL is off: nothing to reload");
        return None;
    };
    systemd::notify("RELOADING=1");
    log::info!("reloading the SSL certificate, CA, CRL and allow-list files");
    let watch = match load_tls(settings, decision, config.threads.max(1), facts) {
        Ok(tls) => {
            proxy.reload(tls.contexts);
            facts.reloaded(true);
            log::info!("reload done: new connections use the new files; open ones keep theirs");
            Some(tls.expiry)
        }
        Err(e) => {
            facts.reloaded(false);
            log::error!("reload failed, keeping the previous certificates: {e}");
            None
        }
    };
    systemd::notify("READY=1");
    watch
}

/// What `load_tls` made: a context per loop, and the files' dates.
pub struct LoadedTls {
    pub contexts: Vec<ServerContext>,
    pub expiry: ExpiryWatch,
}

/// Builds one context per event loop and logs what it holds.
pub fn load_tls(
    settings: &SslSettings,
    decision: &FipsDecision,
    loops: usize,
    facts: &ProcessFacts,
) -> Result<LoadedTls, Error> {
    let tls = tls::server::build(settings, decision, loops)?;
    facts.certificate(
        &settings.pem_key_file.display().to_string(),
        tls.certificate_not_after,
    );
    log::info!(
        "SSL on: certificate {} (expires {})",
        tls.certificate_subject,
        tls.certificate_expiry
    );
    if let Some(count) = tls.revoked_count {
        log::info!("ssl imported {count} revoked certificate(s) from the revocation list.");
    }
    if let (Some(count), Some(path)) = (tls.allowed_clients, &settings.allowed_clients) {
        log::info!(
            "client allow-list {}: {count} rule(s); other clients are refused",
            path.display()
        );
    }
    tls.expiry.warn();
    Ok(LoadedTls {
        contexts: tls.contexts,
        expiry: tls.expiry,
    })
}
