//! One client connection as a state machine whose phases own their
//! resources: TLS handshake → peer policy → connecting to mongod →
//! relaying. Each transition consumes the old phase; `ready` is the single
//! entry point the event loop calls.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::Registry;
use mio::event::Event;
use openssl::ssl::SslStream;

use super::relay::{Ending, Progress, Relay, Side};
use super::streams::{ClientStream, Io, UpstreamStream, classify_ssl_error};
use super::token;
use crate::config::Upstream;
use crate::tls::policy::{self, PeerVerdict};
use crate::tls::server::ServerTls;
use crate::wire::FirstBytes;

/// How long mongod may take to accept a connection.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the event loop lends a connection while it works.
pub struct Context<'a> {
    pub registry: &'a Registry,
    pub key: usize,
    pub upstream: &'a Upstream,
    pub tls: Option<&'a ServerTls>,
    pub now: Instant,
}

enum Phase {
    Handshaking(SslStream<super::streams::ClientSocket>),
    Connecting {
        client: ClientStream,
        upstream: UpstreamStream,
    },
    Relaying(Relay),
    /// Only while a transition is under way.
    Gone,
}

/// What the event loop should do with the connection afterwards.
#[derive(Debug)]
pub enum Step {
    /// Wait for events (or the deadline).
    Wait,
    /// Call `ready` again soon, without an event.
    Again,
    /// Remove it; the text is the reason for the log.
    Close(String),
}

pub struct Connection {
    pub id: u64,
    /// `connN`: the log context of this connection.
    pub context: String,
    pub peer: SocketAddr,
    pub opened: Instant,
    /// When the current phase must be over (handshake, upstream connect).
    pub deadline: Option<Instant>,
    phase: Phase,
    bytes_in: u64,
    bytes_out: u64,
}

impl Connection {
    /// A TLS connection whose handshake has not started.
    pub fn tls(
        id: u64,
        peer: SocketAddr,
        stream: SslStream<super::streams::ClientSocket>,
        deadline: Instant,
        now: Instant,
    ) -> Connection {
        Connection::with_phase(id, peer, Phase::Handshaking(stream), Some(deadline), now)
    }

    /// A plaintext connection (SSL off): it goes straight to mongod.
    pub fn plain(
        id: u64,
        peer: SocketAddr,
        client: ClientStream,
        ctx: &Context,
    ) -> Result<Connection, String> {
        let mut conn = Connection::with_phase(id, peer, Phase::Gone, None, ctx.now);
        conn.phase = conn.start_upstream(client, ctx)?;
        Ok(conn)
    }

    fn with_phase(
        id: u64,
        peer: SocketAddr,
        phase: Phase,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Connection {
        Connection {
            id,
            context: format!("conn{id}"),
            peer,
            opened: now,
            deadline,
            phase,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Bytes relayed so far: (from the client, from mongod).
    pub fn bytes(&self) -> (u64, u64) {
        match &self.phase {
            Phase::Relaying(relay) => (relay.bytes_from_client, relay.bytes_from_upstream),
            _ => (self.bytes_in, self.bytes_out),
        }
    }

    /// The deadline of the current phase passed.
    pub fn timed_out(&mut self) -> String {
        let reason = match &self.phase {
            Phase::Handshaking(_) => "SSL handshake timed out",
            Phase::Connecting { .. } => "connecting to the upstream mongod timed out",
            _ => "timed out",
        };
        self.abandon();
        reason.to_string()
    }

    /// Handles an event (or a scheduled retry when `event` is `None`).
    pub fn ready(&mut self, side: Side, event: Option<&Event>, ctx: &Context) -> Step {
        let phase = std::mem::replace(&mut self.phase, Phase::Gone);
        let (phase, step) = match phase {
            Phase::Handshaking(stream) => self.handshake(stream, ctx),
            Phase::Connecting { client, upstream } => self.connecting(client, upstream, side, ctx),
            Phase::Relaying(mut relay) => {
                if let Some(event) = event {
                    relay.on_event(side, event);
                }
                let step = self.relay(&mut relay);
                (Phase::Relaying(relay), step)
            }
            Phase::Gone => (Phase::Gone, Step::Close("internal: no phase".into())),
        };
        self.phase = phase;
        step
    }

    fn handshake(
        &mut self,
        mut stream: SslStream<super::streams::ClientSocket>,
        ctx: &Context,
    ) -> (Phase, Step) {
        match stream.accept() {
            Ok(()) => {}
            Err(e) => {
                return match classify_ssl_error(&e) {
                    Io::WantRead | Io::WantWrite => (Phase::Handshaking(stream), Step::Wait),
                    outcome => {
                        let reason =
                            describe_failed_handshake(stream.get_ref().first_bytes(), outcome);
                        log::warn!(target: &self.context, "{reason}");
                        (Phase::Gone, Step::Close(reason))
                    }
                };
            }
        }
        let ssl = stream.ssl();
        let peer_cert = ssl.peer_certificate();
        let (verify_clients, weak, allow_invalid) = ctx.tls.map_or((false, false, false), |t| {
            (
                t.verify_clients,
                t.weak_cert_validation,
                t.allow_invalid_certificates,
            )
        });
        let verdict = policy::judge(
            verify_clients,
            weak,
            allow_invalid,
            peer_cert.as_deref(),
            policy::first_verify_error(ssl),
        );
        let cipher = ssl.current_cipher().map_or("unknown", |c| c.name());
        let version = ssl.version_str();
        match verdict {
            PeerVerdict::Reject(text) => {
                log::error!(target: &self.context, "{text}");
                // A close_notify tells the client it was refused on purpose.
                let _ = stream.shutdown();
                return (Phase::Gone, Step::Close(text));
            }
            PeerVerdict::AcceptInvalid { subject, warning } => {
                log::warn!(target: &self.context, "{warning}");
                log::info!(target: &self.context, "SSL handshake done: {version} {cipher}, peer certificate subject: {subject}");
            }
            PeerVerdict::AcceptWithoutCertificate => {
                log::warn!(target: &self.context, "{}", policy::NO_CERTIFICATE);
                log::info!(target: &self.context, "SSL handshake done: {version} {cipher}, no peer certificate");
            }
            PeerVerdict::Accept {
                subject: Some(subject),
            } => {
                log::info!(target: &self.context, "SSL handshake done: {version} {cipher}, peer certificate subject: {subject}");
            }
            PeerVerdict::Accept { subject: None } => {
                log::info!(target: &self.context, "SSL handshake done: {version} {cipher}, no peer certificate");
            }
        }
        match self.start_upstream(ClientStream::Tls(stream), ctx) {
            Ok(phase) => (phase, Step::Wait),
            Err(reason) => (Phase::Gone, Step::Close(reason)),
        }
    }

    /// Opens the connection to mongod, only now that the client passed.
    fn start_upstream(&mut self, mut client: ClientStream, ctx: &Context) -> Result<Phase, String> {
        let connected = UpstreamStream::connect(ctx.upstream).and_then(|mut upstream| {
            upstream.register(ctx.registry, token::upstream(ctx.key))?;
            Ok(upstream)
        });
        match connected {
            Ok(upstream) => {
                self.deadline = Some(ctx.now + UPSTREAM_CONNECT_TIMEOUT);
                Ok(Phase::Connecting { client, upstream })
            }
            Err(e) => {
                let _ = client.close_write();
                Err(upstream_unavailable(ctx.upstream, &e))
            }
        }
    }

    fn connecting(
        &mut self,
        mut client: ClientStream,
        upstream: UpstreamStream,
        side: Side,
        ctx: &Context,
    ) -> (Phase, Step) {
        if side == Side::Client {
            // Client bytes wait in the kernel until mongod is there.
            return (Phase::Connecting { client, upstream }, Step::Wait);
        }
        match upstream.connect_finished() {
            Ok(false) => (Phase::Connecting { client, upstream }, Step::Wait),
            Ok(true) => {
                self.deadline = None;
                log::debug!(target: &self.context, "connected to upstream {}", ctx.upstream);
                let mut relay = Relay::new(client, upstream);
                let step = self.relay(&mut relay);
                (Phase::Relaying(relay), step)
            }
            Err(e) => {
                let _ = client.close_write();
                (
                    Phase::Gone,
                    Step::Close(upstream_unavailable(ctx.upstream, &e)),
                )
            }
        }
    }

    fn relay(&mut self, relay: &mut Relay) -> Step {
        match relay.drive() {
            Progress::Idle => Step::Wait,
            Progress::Yield => Step::Again,
            Progress::Ended(Ending::Finished { client_clean: true }) => {
                Step::Close("closed by peers".into())
            }
            Progress::Ended(Ending::Finished {
                client_clean: false,
            }) => Step::Close("closed by peers (client sent no close_notify)".into()),
            Progress::Ended(Ending::ClientFailed(why)) => {
                Step::Close(format!("client error: {why}"))
            }
            Progress::Ended(Ending::UpstreamFailed(why)) => {
                let _ = relay.client_mut().close_write();
                Step::Close(format!("upstream error: {why}"))
            }
        }
    }

    /// Gives up on the connection: a last close_notify where TLS is up.
    fn abandon(&mut self) {
        match &mut self.phase {
            Phase::Connecting { client, .. } => {
                let _ = client.close_write();
            }
            Phase::Relaying(relay) => {
                let _ = relay.client_mut().close_write();
            }
            Phase::Handshaking(_) | Phase::Gone => {}
        }
        self.phase = Phase::Gone;
    }
}

fn upstream_unavailable(upstream: &Upstream, e: &std::io::Error) -> String {
    format!("upstream mongod {upstream} unavailable: {e}")
}

/// Why a handshake failed, in words an operator searches for.
fn describe_failed_handshake(first_bytes: &[u8], outcome: Io) -> String {
    match crate::wire::classify_first_bytes(first_bytes) {
        FirstBytes::Http => {
            return "SSL handshake failed: an HTTP request on the MongoDB SSL port".into();
        }
        FirstBytes::Plaintext => {
            return "SSL handshake failed: The server is configured to only allow SSL connections"
                .into();
        }
        FirstBytes::SslV2 => {
            return "SSL handshake failed: an SSLv2-format hello (SSLv2 and SSLv3 are not supported)".into();
        }
        FirstBytes::Tls | FirstBytes::TooShort => {}
    }
    match outcome {
        Io::Eof { .. } => "SSL handshake failed: the client closed the connection".into(),
        Io::Failed(why) => format!("SSL handshake failed: {why}"),
        other => format!("SSL handshake failed: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_first_bytes_are_named() {
        let text = describe_failed_handshake(b"GET ", Io::Failed("http request".into()));
        assert!(text.contains("HTTP"), "{text}");
        let text = describe_failed_handshake(&[0x3a, 0, 0, 0, 1], Io::Failed("x".into()));
        assert!(text.contains("only allow SSL connections"), "{text}");
        let text =
            describe_failed_handshake(&[0x16, 3, 1, 0, 9], Io::Failed("no shared cipher".into()));
        assert_eq!(text, "SSL handshake failed: no shared cipher");
        let text = describe_failed_handshake(&[], Io::Eof { clean: false });
        assert!(text.contains("closed"), "{text}");
    }
}
