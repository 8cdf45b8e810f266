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
//! - [`ops`] — logging, systemd, signals, memory.
//! - [`control`] — the control thread: signals, reload, shutdown.
//! - [`check`] — `mongossl check URI`: a one-shot blocking client that sends
//!   `hello` and reports TLS, certificate and reply (uses `tls`, `wire`).
//!
//! [`serve`] ties them together in the order that matters: FIPS before any
//! TLS context, every file checked before anything binds. ARCHITECTURE.md
//! follows one connection from accept to close.

pub mod check;
pub mod config;
pub mod control;
pub mod error;
pub mod fips;
pub mod ops;
pub mod proxy;
pub mod taps;
pub mod tls;
pub mod wire;

use std::sync::Arc;
use std::time::Instant;

use config::Config;
use error::Error;
use ops::signals::Signals;
use ops::systemd;
use proxy::stats::LoopStats;
use proxy::tap::TapMaker;
use proxy::{LoopSettings, Proxy, Role};
use taps::metrics::{Metrics, ProcessFacts};

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
    let facts = Arc::new(ProcessFacts::new(decision.is_fips()));
    let stats: Vec<Arc<LoopStats>> = (0..loops).map(|_| Arc::default()).collect();
    let tunnel = match &config.tunnel {
        Some(settings) => Some(tls::client::tunnel(settings, &decision)?),
        None => None,
    };
    let (tls, expiry) = match (&config.ssl, &tunnel) {
        (Some(settings), _) => {
            let loaded = control::load_tls(settings, &decision, loops, &facts)?;
            (Some(loaded.contexts), Some(loaded.expiry))
        }
        (None, Some(_)) => {
            log::info!(
                "client tunnel: plaintext on the listen port, SSL to {}",
                config.upstream
            );
            (None, None)
        }
        (None, None) => {
            log::warn!("SSL is off (no --sslOnNormalPorts): relaying plaintext");
            (None, None)
        }
    };
    let audit = match &config.audit {
        Some(settings) => {
            let (audit, writer) = taps::audit::start(settings)?;
            log::info!(target: "audit", "{}", audit_destination(settings));
            Some((audit, writer))
        }
        None => None,
    };
    let inherited = systemd::listen_fds();
    let (listeners, port) = if inherited.is_empty() {
        let bound = proxy::listen::bind(&config.bind_ip, config.port, loops)?;
        for ip in &config.bind_ip {
            let address = std::net::SocketAddr::new(*ip, bound.1);
            log::info!(id = 23015, address:% = address; "listening on {address}");
        }
        bound
    } else {
        log::info!(
            "using {} listen socket(s) from systemd socket activation",
            inherited.len()
        );
        proxy::listen::share(inherited, loops)?
    };
    let taps = relay_taps(
        audit.as_ref().map(|(audit, _)| audit.clone()),
        config.metrics_listen.is_some(),
    );
    let proxy = Proxy::start(listeners, config.max_conns, |index| LoopSettings {
        upstream: config.upstream.clone(),
        role: match &tunnel {
            Some(tunnel) => Role::Tunnel(tunnel.clone()),
            None => Role::Server {
                mode: config.mode,
                tls: tls.as_ref().and_then(|t| t.get(index).cloned()),
            },
        },
        handshake_timeout: config.handshake_timeout,
        idle_timeout: config.idle_timeout,
        proxy_protocol: proxy::ProxyProtocolSettings {
            upstream: config.upstream_proxy_protocol,
            trusted: config.proxy_protocol_from.clone(),
        },
        stats: stats.get(index).cloned().unwrap_or_default(),
        taps: taps.clone(),
    })?;
    // The loops hold their own: this handle would keep the audit's queue
    // open, and the writer from ever finishing at shutdown.
    drop(taps);
    if let Some(addr) = config.metrics_listen {
        let listener =
            std::net::TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        let bound = listener.local_addr().unwrap_or(addr);
        let metrics = Arc::new(Metrics {
            loops: stats.clone(),
            process: facts.clone(),
            audit: audit.as_ref().map(|(audit, _)| audit.counters()),
        });
        taps::metrics::serve(listener, metrics).map_err(|source| Error::Runtime {
            what: "starting the metrics thread".into(),
            source,
        })?;
        log::info!("metrics on http://{bound}/metrics");
    }
    log::info!(
        "relaying to upstream mongod at {} with {loops} event loop(s)",
        config.upstream
    );
    let ssl = if config.ssl.is_some() { "on" } else { "off" };
    log::info!(id = 23016, port = port, ssl = ssl; "waiting for connections on port {port}");
    systemd::notify("READY=1\nSTATUS=waiting for connections");

    control::run(
        config,
        &decision,
        &signals,
        &proxy,
        &facts,
        audit.as_ref().map(|(audit, _)| &**audit),
        expiry,
    );

    systemd::notify("STOPPING=1");
    let open = proxy.open_connections();
    log::info!(
        "shutting down: no new connections; {open} open connection(s) get up to {} s",
        config.shutdown_timeout.as_secs()
    );
    proxy.shutdown(Instant::now() + config.shutdown_timeout);
    let cut = proxy.join()?;
    if let Some((audit, writer)) = audit {
        // The loops' handles went with them: this was the last.
        drop(audit);
        writer.finish();
    }
    log::info!("shutdown complete: {cut} connection(s) cut at the timeout");
    log::info!("dbexit: rc: 0");
    Ok(())
}

/// The start-up line that says where audit events go.
/// What watches each relayed connection: the audit when it is on, the
/// command counter when metrics are served; nothing (and no decoding at
/// all) otherwise.
fn relay_taps(audit: Option<Arc<taps::audit::Audit>>, metrics: bool) -> Option<Arc<dyn TapMaker>> {
    let mut makers: Vec<Arc<dyn TapMaker>> = Vec::new();
    if let Some(audit) = audit {
        makers.push(audit);
    }
    if metrics {
        makers.push(Arc::new(taps::commands::CommandCounter));
    }
    match makers.len() {
        0 => None,
        1 => makers.pop(),
        _ => Some(Arc::new(proxy::tap::TeeMaker(makers))),
    }
}

fn audit_destination(settings: &config::AuditSettings) -> String {
    let format = match settings.format {
        config::AuditFormat::Json => "JSON",
        config::AuditFormat::Bson => "BSON",
    };
    let filtered = if settings.filter.is_some() {
        ", filtered"
    } else {
        ""
    };
    match &settings.destination {
        config::AuditDestination::File(path) => {
            format!("audit log: {format} to {}{filtered}", path.display())
        }
        config::AuditDestination::Syslog => format!("audit log: JSON to syslog{filtered}"),
        config::AuditDestination::Console => {
            format!("audit log: JSON to standard output{filtered}")
        }
    }
}
