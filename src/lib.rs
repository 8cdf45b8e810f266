//! mongossl: an SSL/TLS front door for MongoDB's mongod and mongos.
//!
//! Clients connect with SSL; mongossl checks them as mongod's own SSL
//! layer would (`sslPEMKeyFile`, `sslCAFile`, `sslCRLFile`,
//! `sslWeakCertificateValidation`, `sslFIPSMode`) and relays the plaintext
//! wire protocol, byte for byte, to a mongod on loopback or a unix socket.
//!
//! The layout, lower modules never importing higher ones:
//! - [`error`] — start-up errors and mongod's exit codes.
//! - [`config`] — command line and config file (mongod's spelling) → `Config`.
//! - [`fips`] — the one place that switches FIPS on and proves it.
//! - [`tls`] — PEM loading, the server context, mongod's peer policy; no sockets.
//! - [`wire`] — what a connection's first bytes are; message header, OP_MSG.
//! - [`proxy`] — the mio event loop, connection phases and the relay.
//! - [`ops`] — logging.
//! - [`check`] — `mongossl check URI`: a one-shot blocking client that sends
//!   `hello` and reports TLS, certificate and reply (uses `tls`, `wire`).
//!
//! [`serve`] ties them together in the order that matters: FIPS before any
//! TLS context, every file checked before anything binds.

pub mod check;
pub mod config;
pub mod error;
pub mod fips;
pub mod ops;
pub mod proxy;
pub mod tls;
pub mod wire;

use std::time::{Duration, Instant};

use config::{Config, SslMode, SslSettings};
use error::Error;
use fips::FipsDecision;
use ops::signals::{Signal, Signals};
use ops::systemd;
use proxy::{LoopSettings, LoopTls, PeerPolicy, PortMode, Proxy, TunnelTls};

/// How often systemd's STATUS is updated.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);
/// How often the control thread wakes when no signal comes.
const CONTROL_TICK: Duration = Duration::from_secs(1);

/// Runs the server role until SIGTERM/SIGINT and a graceful shutdown.
pub fn serve(config: &Config) -> Result<(), Error> {
    // Before any thread exists, so every thread inherits the mask.
    let signals = Signals::block().map_err(|source| Error::Runtime {
        what: "blocking signals".into(),
        source,
    })?;
    let decision = fips::decide(config.fips.as_ref())?;
    if let Some(message) = decision.activation_message() {
        log::info!("{message}");
    }
    let loops = config.threads.max(1);
    let tunnel = match &config.tunnel {
        Some(settings) => Some(TunnelTls {
            context: tls::client::build(settings, &decision)?,
            host: settings.host.clone(),
            verify_hostname: !settings.allow_invalid_hostnames,
        }),
        None => None,
    };
    let tls = match (&config.ssl, &tunnel) {
        (Some(settings), _) => Some(load_tls(settings, &decision, loops)?),
        (None, Some(_)) => {
            log::info!(
                "client tunnel: plaintext on the listen port, SSL to {}",
                config.upstream
            );
            None
        }
        (None, None) => {
            log::warn!("SSL is off (no --sslOnNormalPorts): relaying plaintext");
            None
        }
    };
    let inherited = systemd::listen_fds();
    let (listeners, port) = if inherited.is_empty() {
        proxy::listen::bind(&config.bind_ip, config.port, loops)?
    } else {
        log::info!(
            "using {} listen socket(s) from systemd socket activation",
            inherited.len()
        );
        proxy::listen::share(inherited, loops)?
    };
    let mode = match config.mode {
        SslMode::Disabled => PortMode::Disabled,
        SslMode::Allow => PortMode::Allow,
        SslMode::Prefer => PortMode::Prefer,
        SslMode::Require => PortMode::Require,
    };
    let proxy = Proxy::start(listeners, config.max_conns, |index| LoopSettings {
        upstream: config.upstream.clone(),
        mode,
        tls: tls.as_ref().and_then(|t| t.get(index).cloned()),
        tunnel: tunnel.clone(),
        handshake_timeout: config.handshake_timeout,
        idle_timeout: config.idle_timeout,
    })?;
    log::info!(
        "relaying to upstream mongod at {} with {loops} event loop(s)",
        config.upstream
    );
    log::info!("waiting for connections on port {port}");
    systemd::notify("READY=1\nSTATUS=waiting for connections");

    control(config, &decision, &signals, &proxy);

    systemd::notify("STOPPING=1");
    let open = proxy.open_connections();
    log::info!(
        "shutting down: no new connections; {open} open connection(s) get up to {} s",
        config.shutdown_timeout.as_secs()
    );
    proxy.shutdown(Instant::now() + config.shutdown_timeout);
    let cut = proxy.join()?;
    log::info!("shutdown complete: {cut} connection(s) cut at the timeout");
    log::info!("dbexit: rc: 0");
    Ok(())
}

/// The control thread's loop: signals, systemd status and watchdog, until
/// a shutdown is asked for (or a loop died).
fn control(config: &Config, decision: &FipsDecision, signals: &Signals, proxy: &Proxy) {
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
            Some(Signal::Reload) => reload(config, decision, proxy),
            Some(Signal::RotateLog) => match ops::log::rotate() {
                Ok(Some(aside)) => log::info!("log rotated; the old log is {}", aside.display()),
                Ok(None) => log::info!("log rotation asked for, but the log goes to stderr"),
                Err(e) => log::error!("log rotation failed: {e}"),
            },
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

/// SIGHUP: re-reads the key, CA and CRL files and hands every loop new
/// contexts. Any error keeps the old ones: never a half-applied mix.
fn reload(config: &Config, decision: &FipsDecision, proxy: &Proxy) {
    let Some(settings) = &config.ssl else {
        log::info!("reload asked for, but SSL is off: nothing to reload");
        return;
    };
    systemd::notify("RELOADING=1");
    log::info!("reloading the SSL certificate, CA and CRL files");
    match load_tls(settings, decision, config.threads.max(1)) {
        Ok(tls) => {
            proxy.reload(tls);
            log::info!("reload done: new connections use the new files; open ones keep theirs");
        }
        Err(e) => log::error!("reload failed, keeping the previous certificates: {e}"),
    }
    systemd::notify("READY=1");
}

/// Builds one context per event loop and logs what it holds.
fn load_tls(
    settings: &SslSettings,
    decision: &FipsDecision,
    loops: usize,
) -> Result<Vec<LoopTls>, Error> {
    let tls = tls::server::build(settings, decision, loops)?;
    log::info!(
        "SSL on: certificate {} (expires {})",
        tls.certificate_subject,
        tls.certificate_expiry
    );
    if let Some(count) = tls.revoked_count {
        log::info!("ssl imported {count} revoked certificate(s) from the revocation list.");
    }
    let policy = PeerPolicy {
        verify_clients: tls.verify_clients,
        weak_cert_validation: tls.weak_cert_validation,
        allow_invalid_certificates: tls.allow_invalid_certificates,
    };
    Ok(tls
        .contexts
        .into_iter()
        .map(|context| LoopTls { context, policy })
        .collect())
}
