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

use config::Config;
use error::Error;

/// Runs the server role until the process ends.
pub fn serve(config: &Config) -> Result<(), Error> {
    let decision = fips::decide(config.fips.as_ref())?;
    if let Some(message) = decision.activation_message() {
        log::info!("{message}");
    }
    let tls = match &config.ssl {
        Some(settings) => {
            let tls = tls::server::build(settings, &decision)?;
            log::info!(
                "SSL on: certificate {} (expires {})",
                tls.certificate_subject,
                tls.certificate_expiry
            );
            if let Some(count) = tls.revoked_count {
                log::info!("ssl imported {count} revoked certificate(s) from the revocation list.");
            }
            Some(tls)
        }
        None => {
            log::warn!("SSL is off (no --sslOnNormalPorts): relaying plaintext");
            None
        }
    };
    let (listeners, port) = proxy::bind(&config.bind_ip, config.port)?;
    let mut event_loop = proxy::EventLoop::new(
        listeners,
        proxy::ServerSettings {
            upstream: config.upstream.clone(),
            tls,
            max_conns: config.max_conns,
            handshake_timeout: config.handshake_timeout,
        },
    )?;
    log::info!("relaying to upstream mongod at {}", config.upstream);
    log::info!("waiting for connections on port {port}");
    event_loop.run()
}
