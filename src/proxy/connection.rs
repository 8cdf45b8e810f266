//! One client connection as a state machine whose phases own their
//! resources. Server role: the PROXY header of a trusted balancer (when it
//! comes from one) → sniffing the first bytes (ports that take both SSL
//! and plaintext) → TLS handshake and peer policy → connecting to mongod
//! (whose first bytes are mongossl's PROXY header, when asked) → relaying;
//! between handshake and mongod, a wait for the client certificate's OCSP
//! answer where one must be asked for (`ocsp_wait`). Tunnel role
//! (`tunnel_phases`): connecting to the server → TLS handshake as a
//! client → relaying. Each transition consumes the old
//! phase; `ready` is the single entry point the event loop calls. No
//! socket is touched but through `Dial` and the phase's own streams, so
//! the phases are unit-tested over scripted streams.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::header_in::{self, ProxyProtocolSettings, Reading};
use super::header_out::{self, Facts};
use super::peer_log;
use super::refusals::RefusalLog;
use super::relay::{Ending, Progress, Ready, Relay, Side};
use super::shared::Mailbox;
use super::stats::{LoopStats, Refusal};
use super::streams::{Socket, Stream};
use super::tap::{Opened, TapMaker};
use crate::config::{ProxyProtocol, SslMode, Upstream};
use crate::ops::log_json::*;
use crate::tls::{
    Accepted, Accepting, ByteStream, ClientContext, Connecting, PeerVerdict, ServerContext,
    TlsFacts, TlsStream, policy::NO_CERTIFICATE,
};
use crate::wire::{self, FirstBytes, HEADER_LEN};

/// How long mongod may take to accept a connection.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a loop is: the server side of SSL, or the client tunnel.
#[derive(Clone)]
pub enum Role {
    /// TLS (or plaintext, by `mode`) from clients, plaintext to mongod.
    Server {
        mode: SslMode,
        /// `None` exactly when `mode` is `Disabled`.
        tls: Option<ServerContext>,
    },
    /// Plaintext from local programs, TLS to the remote server.
    Tunnel(ClientContext),
}

/// Opens the upstream side of a connection: a non-blocking connect,
/// already watched by the loop (`key` names the connection).
pub trait Dial {
    fn dial(&self, key: usize) -> std::io::Result<Socket>;
}

/// What the event loop lends a connection while it works.
pub struct Context<'a> {
    pub dial: &'a dyn Dial,
    pub key: usize,
    /// Where upstream connections go (for the log lines).
    pub upstream: &'a Upstream,
    pub role: &'a Role,
    pub proxy_protocol: &'a ProxyProtocolSettings,
    /// Where answers from other threads (OCSP) come back to the loop.
    pub mailbox: &'a Arc<Mailbox>,
    pub stats: &'a Arc<LoopStats>,
    pub taps: Option<&'a dyn TapMaker>,
    pub refusals: &'a RefCell<RefusalLog>,
    pub handshake_timeout: Duration,
    pub now: Instant,
}

enum Phase {
    /// From a trusted balancer: its PROXY header, until it is complete.
    ReadingProxyHeader {
        socket: Socket,
        bytes: Vec<u8>,
    },
    Sniffing {
        socket: Socket,
        header: [u8; HEADER_LEN],
        len: usize,
    },
    Handshaking(Accepting<Socket>),
    Connecting {
        client: Stream,
        upstream: Socket,
    },
    /// Tunnel: waiting for the TCP connection to the server.
    TunnelConnecting {
        client: Socket,
        upstream: Socket,
    },
    /// Tunnel: TLS handshake with the server, as its client.
    TunnelHandshaking {
        client: Socket,
        upstream: Connecting<Socket>,
    },
    /// A client's handshake is done; its certificate's OCSP answer is awaited.
    AwaitingOcsp(Box<ocsp_wait::AwaitingOcsp>),
    Relaying(Relay<Stream>),
    /// Only while a transition is under way, or after the end.
    Gone,
}

/// What the event loop should do with the connection afterwards.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait for events (or the deadline).
    Wait,
    /// Call `ready` again soon, without an event.
    Again,
    /// Remove it; the text is the reason for the log.
    Close(String),
    /// Remove it without the usual closing line (a refusal whose log line
    /// was rate-limited).
    CloseQuietly(String),
}

pub struct Connection {
    pub id: u64,
    /// `connN`: the log context of this connection.
    pub context: String,
    /// The client: the socket's peer, or the one a balancer's PROXY
    /// header names.
    pub peer: SocketAddr,
    /// The address the client connected to (for the PROXY header sent
    /// upstream); `None` when no header is sent.
    pub local: Option<SocketAddr>,
    /// The handshake's facts, kept for the PROXY v2 header.
    tls_facts: Option<TlsFacts>,
    pub opened: Instant,
    /// The last time anything happened on it (for `--idleTimeoutSecs`).
    pub last_active: Instant,
    /// When the current phase must be over (sniff/handshake, upstream connect).
    pub deadline: Option<Instant>,
    phase: Phase,
}

impl Connection {
    /// A freshly accepted connection. On an SSL-only port the handshake
    /// starts at once; otherwise the first bytes decide.
    pub fn accept(
        id: u64,
        (peer, local): (SocketAddr, Option<SocketAddr>),
        socket: Socket,
        deadline: Instant,
        ctx: &Context,
    ) -> Result<Connection, String> {
        let mut connection = Connection {
            id,
            context: format!("conn{id}"),
            peer,
            local,
            tls_facts: None,
            opened: ctx.now,
            last_active: ctx.now,
            deadline: Some(deadline),
            phase: Phase::Gone,
        };
        connection.phase = match ctx.role {
            Role::Tunnel(_) => {
                let upstream = connection
                    .open_upstream(ctx)
                    .map_err(|e| connection.upstream_unavailable(ctx, &e))?;
                Phase::TunnelConnecting {
                    client: socket,
                    upstream,
                }
            }
            Role::Server { .. } if ctx.proxy_protocol.trusts(peer) => Phase::ReadingProxyHeader {
                socket,
                bytes: Vec::new(),
            },
            Role::Server { .. } => first_phase(socket, ctx)?,
        };
        Ok(connection)
    }

    /// Bytes relayed so far: (from the client, from mongod).
    pub fn bytes(&self) -> (u64, u64) {
        match &self.phase {
            Phase::Relaying(relay) => relay.bytes(),
            _ => (0, 0),
        }
    }

    /// Whether the connection is relaying (not still being set up).
    pub fn is_relaying(&self) -> bool {
        matches!(self.phase, Phase::Relaying(_))
    }

    /// The deadline of the current phase passed.
    pub fn timed_out(&mut self) -> String {
        let reason = match &self.phase {
            Phase::ReadingProxyHeader { .. } => "no complete PROXY header in time",
            Phase::Sniffing { .. } | Phase::Handshaking(_) => "SSL handshake timed out",
            Phase::Connecting { .. } | Phase::TunnelConnecting { .. } => {
                "connecting to the upstream server timed out"
            }
            Phase::TunnelHandshaking { .. } => "SSL handshake with the upstream server timed out",
            Phase::AwaitingOcsp(_) => "no OCSP answer in time",
            _ => "timed out",
        };
        self.abandon();
        reason.to_string()
    }

    /// Handles an event (or a scheduled retry when `ready` is `None`).
    pub fn ready(&mut self, side: Side, ready: Option<Ready>, ctx: &Context) -> Step {
        self.last_active = ctx.now;
        let phase = std::mem::replace(&mut self.phase, Phase::Gone);
        let (phase, step) = match phase {
            Phase::ReadingProxyHeader { socket, bytes } => {
                self.read_proxy_header(socket, bytes, ctx)
            }
            Phase::Sniffing {
                socket,
                header,
                len,
            } => self.sniff(socket, header, len, ctx),
            Phase::Handshaking(handshake) => self.handshake(handshake, ctx),
            Phase::Connecting { client, upstream } => self.connecting(client, upstream, side, ctx),
            Phase::TunnelConnecting { client, upstream } => {
                self.tunnel_connecting(client, upstream, side, ctx)
            }
            Phase::TunnelHandshaking { client, upstream } => {
                self.tunnel_handshake(client, upstream, ctx)
            }
            // Its bytes wait in the kernel (or OpenSSL) for the verdict.
            Phase::AwaitingOcsp(waiting) => (Phase::AwaitingOcsp(waiting), Step::Wait),
            Phase::Relaying(mut relay) => {
                if let Some(ready) = ready {
                    relay.on_ready(side, ready);
                }
                let step = self.relay(&mut relay, ctx);
                (Phase::Relaying(relay), step)
            }
            Phase::Gone => (Phase::Gone, Step::Close("internal: no phase".into())),
        };
        self.phase = phase;
        step
    }

    /// Reads a trusted balancer's PROXY header; the client's addresses in
    /// it become the connection's. Bytes read past its end are the
    /// client's, replayed to the next phase.
    fn read_proxy_header(
        &mut self,
        mut socket: Socket,
        mut bytes: Vec<u8>,
        ctx: &Context,
    ) -> (Phase, Step) {
        let (len, addresses) = match header_in::read(&mut socket, &mut bytes) {
            Reading::Blocked => return (Phase::ReadingProxyHeader { socket, bytes }, Step::Wait),
            Reading::Failed(reason) => return (Phase::Gone, Step::Close(reason)),
            Reading::Invalid(why) => {
                ctx.stats.refused(Refusal::ProxyProtocol);
                let reason = format!(
                    "refused: {why}, from {} (in --proxyProtocolFrom, so it must send one)",
                    self.peer
                );
                log::warn!(target: &self.context, "{reason}");
                return (Phase::Gone, Step::Close(reason));
            }
            Reading::Header { len, addresses } => (len, addresses),
        };
        let balancer = self.peer;
        match addresses {
            Some((source, destination)) => {
                log::info!(target: &self.context, id = PROXY_HEADER_RECEIVED, balancer:% = balancer, client:% = source, destination:% = destination; "PROXY header from {balancer}: client {source}, connected to {destination}");
                self.peer = source;
                if self.local.is_some() {
                    self.local = Some(destination);
                }
            }
            None => {
                log::debug!(target: &self.context, "PROXY header from {balancer} without a client address (LOCAL): keeping {balancer}");
            }
        }
        socket.begin_with(&bytes[len..]);
        match first_phase(socket, ctx) {
            Ok(Phase::Sniffing {
                socket,
                header,
                len,
            }) => self.sniff(socket, header, len, ctx),
            Ok(Phase::Handshaking(handshake)) => self.handshake(handshake, ctx),
            Ok(_) => (Phase::Gone, Step::Close("internal: no first phase".into())),
            Err(reason) => (Phase::Gone, Step::Close(reason)),
        }
    }

    /// Reads the 16-byte message header and decides, as mongod does,
    /// whether the client speaks SSL, plaintext MongoDB or HTTP.
    fn sniff(
        &mut self,
        mut socket: Socket,
        mut header: [u8; HEADER_LEN],
        mut len: usize,
        ctx: &Context,
    ) -> (Phase, Step) {
        while len < HEADER_LEN {
            match Read::read(&mut socket, &mut header[len..]) {
                Ok(0) => {
                    let reason = "the client closed the connection before sending a message";
                    return (Phase::Gone, Step::Close(reason.into()));
                }
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return (
                        Phase::Sniffing {
                            socket,
                            header,
                            len,
                        },
                        Step::Wait,
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return (Phase::Gone, Step::Close(format!("client error: {e}"))),
            }
        }
        socket.set_replay(&header);
        if header_in::looks_like_a_header(&header) {
            return (Phase::Gone, self.untrusted_proxy_header(ctx));
        }
        let (mode, tls) = match ctx.role {
            Role::Server { mode, tls } => (*mode, tls.as_ref()),
            Role::Tunnel(_) => (SslMode::Disabled, None),
        };
        match wire::classify_header(&header) {
            FirstBytes::Http => {
                ctx.stats.refused(Refusal::WrongProtocol);
                // One small write on a fresh socket: if the kernel cannot
                // take it now, the client loses only the notice.
                let _ = Write::write(&mut socket, wire::HTTP_NOTICE);
                let reason = "an HTTP request on the MongoDB port";
                log::warn!(target: &self.context, "{reason}");
                (Phase::Gone, Step::Close(reason.into()))
            }
            FirstBytes::Tls => match (mode, tls) {
                (SslMode::Disabled, _) | (_, None) => {
                    ctx.stats.refused(Refusal::WrongProtocol);
                    let reason =
                        "SSL handshake refused: SSL is disabled on this port (sslMode disabled)";
                    log::warn!(target: &self.context, "{reason}");
                    (Phase::Gone, Step::Close(reason.into()))
                }
                (_, Some(tls)) => match Accepting::new(tls, socket) {
                    Ok(handshake) => self.handshake(handshake, ctx),
                    Err(reason) => (Phase::Gone, Step::Close(reason)),
                },
            },
            _ => {
                if mode == SslMode::Prefer {
                    log::info!(target: &self.context, id = PREFER_SSL_PLAINTEXT, remote:% = self.peer, connectionId = self.id; "connection not using SSL (sslMode preferSSL)");
                }
                match self.start_upstream(Stream::Plain(socket), ctx) {
                    Ok(phase) => (phase, Step::Wait),
                    Err(reason) => (Phase::Gone, Step::Close(reason)),
                }
            }
        }
    }

    fn handshake(&mut self, handshake: Accepting<Socket>, ctx: &Context) -> (Phase, Step) {
        let (stream, verdict, question) = match handshake.resume() {
            Accepted::Blocked(handshake) => return (Phase::Handshaking(handshake), Step::Wait),
            Accepted::Failed(outcome, handshake) => {
                let first = handshake.get_ref().first_bytes();
                if header_in::looks_like_a_header(first) {
                    return (Phase::Gone, self.untrusted_proxy_header(ctx));
                }
                let reason = crate::tls::handshake::describe_failure(first, outcome);
                ctx.stats.handshake_failed();
                let step = match wire::classify_first_bytes(first) {
                    // Not TLS at all: a plaintext client, likely in a
                    // retry loop; these lines are rate-limited.
                    FirstBytes::Plaintext | FirstBytes::Http | FirstBytes::SslV2 => {
                        self.refuse(reason, ctx)
                    }
                    FirstBytes::Tls | FirstBytes::TooShort => {
                        log::warn!(target: &self.context, id = HANDSHAKE_FAILED, error:% = reason, remote:% = self.peer, connectionId = self.id; "{reason}");
                        Step::Close(reason)
                    }
                };
                return (Phase::Gone, step);
            }
            Accepted::Done(stream, verdict, question) => (stream, verdict, question),
        };
        ctx.stats.handshake_done(
            stream.version(),
            ctx.now.saturating_duration_since(self.opened),
        );
        if ctx.proxy_protocol.upstream == ProxyProtocol::V2 || ctx.taps.is_some() {
            self.tls_facts = Some(stream.facts());
        }
        match question {
            Some(question) => self.ask_ocsp(stream, verdict, question, ctx),
            None => self.admit(stream, verdict, ctx),
        }
    }

    /// Acts on the verdict of a finished handshake: refuses the client,
    /// or logs it in and opens the connection to mongod.
    fn admit(
        &mut self,
        mut stream: TlsStream<Socket>,
        verdict: PeerVerdict,
        ctx: &Context,
    ) -> (Phase, Step) {
        match verdict {
            PeerVerdict::Reject(text) => {
                ctx.stats.refused(Refusal::PeerCertificate);
                let id = rejection_id(text.starts_with(NO_CERTIFICATE));
                log::error!(target: &self.context, id = id, error:% = text; "{text}");
                // A close_notify tells the client it was refused on purpose.
                let _ = stream.close_write();
                return (Phase::Gone, Step::Close(text));
            }
            PeerVerdict::Accept { subject, warnings } => peer_log::accepted(
                &self.context,
                stream.version(),
                stream.cipher(),
                subject.as_deref(),
                &warnings,
            ),
        }
        match self.start_upstream(Stream::Tls(stream), ctx) {
            Ok(phase) => (phase, Step::Wait),
            Err(reason) => (Phase::Gone, Step::Close(reason)),
        }
    }

    /// A PROXY header from a source that is not a trusted balancer: a
    /// client must not choose the address mongod sees.
    fn untrusted_proxy_header(&self, ctx: &Context) -> Step {
        ctx.stats.refused(Refusal::ProxyProtocol);
        let reason = format!(
            "refused: a PROXY protocol header from {}, which is not in --proxyProtocolFrom",
            self.peer
        );
        self.refuse(reason, ctx)
    }

    /// Logs a refused plaintext client, at most one line per peer address
    /// per interval, so a client retrying in a loop cannot flood the log.
    fn refuse(&self, reason: String, ctx: &Context) -> Step {
        match ctx
            .refusals
            .borrow_mut()
            .should_log(self.peer.ip(), ctx.now)
        {
            Some(0) => {
                log::warn!(target: &self.context, id = HANDSHAKE_FAILED, error:% = reason, remote:% = self.peer, connectionId = self.id; "{reason}");
                Step::Close(reason)
            }
            Some(suppressed) => {
                log::warn!(
                    target: &self.context,
                    id = HANDSHAKE_FAILED, error:% = reason, remote:% = self.peer, connectionId = self.id, suppressed = suppressed;
                    "{reason} ({suppressed} similar refusals from {} not logged)",
                    self.peer.ip()
                );
                Step::Close(reason)
            }
            None => Step::CloseQuietly(reason),
        }
    }

    /// Starts the non-blocking connect to the upstream server.
    fn open_upstream(&mut self, ctx: &Context) -> std::io::Result<Socket> {
        let upstream = ctx.dial.dial(ctx.key)?;
        self.deadline = Some(ctx.now + UPSTREAM_CONNECT_TIMEOUT);
        Ok(upstream)
    }

    /// Opens the connection to mongod, only now that the client passed.
    fn start_upstream(&mut self, mut client: Stream, ctx: &Context) -> Result<Phase, String> {
        match self.open_upstream(ctx) {
            Ok(upstream) => Ok(Phase::Connecting { client, upstream }),
            Err(e) => {
                let _ = client.close_write();
                Err(self.upstream_unavailable(ctx, &e))
            }
        }
    }

    fn connecting(
        &mut self,
        mut client: Stream,
        upstream: Socket,
        side: Side,
        ctx: &Context,
    ) -> (Phase, Step) {
        match self.upstream_connected(&upstream, side, ctx) {
            None => (Phase::Connecting { client, upstream }, Step::Wait),
            Some(Ok(())) => {
                self.deadline = None;
                log::debug!(target: &self.context, "connected to upstream {}", ctx.upstream);
                let preamble = match self.proxy_header(ctx) {
                    Ok(preamble) => preamble,
                    Err(reason) => {
                        log::error!(target: &self.context, "{reason}");
                        let _ = client.close_write();
                        return (Phase::Gone, Step::Close(reason));
                    }
                };
                let mut relay = Relay::with_preamble(client, Stream::Plain(upstream), &preamble);
                if let Some(taps) = ctx.taps {
                    relay.set_tap(taps.open(&Opened {
                        id: self.id,
                        remote: self.peer,
                        local: self.local,
                        tls: self.tls_facts.as_ref(),
                        stats: ctx.stats,
                    }));
                }
                // Only the PROXY header and the tap needed them.
                self.tls_facts = None;
                let step = self.relay(&mut relay, ctx);
                (Phase::Relaying(relay), step)
            }
            Some(Err(reason)) => {
                let _ = client.close_write();
                (Phase::Gone, Step::Close(reason))
            }
        }
    }

    /// The PROXY header that goes upstream before the client's first byte
    /// (empty without `--upstreamProxyProtocol`).
    fn proxy_header(&mut self, ctx: &Context) -> Result<Vec<u8>, String> {
        let version = ctx.proxy_protocol.upstream;
        let Some(destination) = self.local.filter(|_| version != ProxyProtocol::None) else {
            return Ok(Vec::new());
        };
        let facts = Facts {
            source: self.peer,
            destination,
            id: self.id,
            tls: self.tls_facts.as_ref(),
        };
        let header = header_out::build(version, &facts)?.unwrap_or_default();
        // (`connecting` drops the facts once the tap has seen them.)
        if header.len() > super::buffer::CAPACITY {
            return Err(format!(
                "the PROXY header ({} bytes) does not fit the relay buffer",
                header.len()
            ));
        }
        Ok(header)
    }

    /// Whether the upstream connect finished: `None` while it goes on
    /// (client events are not its business: the client's bytes wait in the
    /// kernel until mongod is there), else connected or why not.
    fn upstream_connected(
        &self,
        upstream: &Socket,
        side: Side,
        ctx: &Context,
    ) -> Option<Result<(), String>> {
        if side == Side::Client {
            return None;
        }
        match upstream.connect_finished() {
            Ok(false) => None,
            Ok(true) => Some(Ok(())),
            Err(e) => Some(Err(self.upstream_unavailable(ctx, &e))),
        }
    }

    fn relay(&mut self, relay: &mut Relay<Stream>, ctx: &Context) -> Step {
        let (up, down) = relay.bytes();
        let progress = relay.drive();
        let (up_now, down_now) = relay.bytes();
        ctx.stats.relayed(up_now - up, down_now - down);
        match progress {
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
                log::warn!(target: &self.context, "upstream mongod connection failed: {why}");
                Step::Close(format!("upstream error: {why}"))
            }
        }
    }

    /// Tells the tap, if any, why the connection ends.
    pub fn ended(&mut self, reason: &str) {
        if let Phase::Relaying(relay) = &mut self.phase {
            relay.ended(reason);
        }
    }

    /// Gives up on the connection: a last close_notify where TLS is up.
    pub fn abandon(&mut self) {
        match &mut self.phase {
            Phase::Connecting { client, .. } => {
                let _ = client.close_write();
            }
            Phase::Relaying(relay) => {
                let _ = relay.client_mut().close_write();
            }
            Phase::AwaitingOcsp(waiting) => waiting.abandon(),
            Phase::ReadingProxyHeader { .. }
            | Phase::Sniffing { .. }
            | Phase::Handshaking(_)
            | Phase::TunnelConnecting { .. }
            | Phase::TunnelHandshaking { .. }
            | Phase::Gone => {}
        }
        self.phase = Phase::Gone;
    }

    fn upstream_unavailable(&self, ctx: &Context, e: &std::io::Error) -> String {
        ctx.stats.refused(Refusal::UpstreamUnavailable);
        let reason = format!("upstream mongod {} unavailable: {e}", ctx.upstream);
        log::warn!(target: &self.context, "{reason}");
        reason
    }
}

/// The server role's first phase: on an SSL-only port the handshake
/// starts at once; otherwise the first bytes decide.
fn first_phase(socket: Socket, ctx: &Context) -> Result<Phase, String> {
    match ctx.role {
        Role::Server {
            mode: SslMode::Require,
            tls: Some(tls),
        } => Ok(Phase::Handshaking(Accepting::new(tls, socket)?)),
        _ => Ok(Phase::Sniffing {
            socket,
            header: [0; HEADER_LEN],
            len: 0,
        }),
    }
}

#[path = "ocsp_wait.rs"]
mod ocsp_wait;
#[path = "tunnel_phases.rs"]
mod tunnel_phases;

#[cfg(test)]
#[path = "phase_tests.rs"]
mod phase;
