//! One event loop: a mio `Poll`, its listen sockets, a slab of connections
//! and their deadlines. It accepts, dispatches events by token, takes
//! commands (new TLS contexts, shutdown, OCSP answers) through its mailbox, and closes
//! what connections report finished; the logic lives in `Connection`.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Waker};
use slab::Slab;

use super::connection::{Connection, Context, Dial, Role, Step};
use super::header_in::ProxyProtocolSettings;
use super::refusals::RefusalLog;
use super::relay::{Ready, Side};
use super::shared::{Command, Mailbox, Shared};
use super::stats::{LoopStats, Refusal};
use super::streams::Socket;
use super::tap::TapMaker;
use super::token::{self, Target};
use crate::config::{ProxyProtocol, Upstream};
use crate::error::Error;
use crate::tls::ocsp::Outcome;

/// How long accepting pauses after an accept error such as EMFILE.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// At most one accept-error line per this interval.
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(5);
const EVENTS_CAPACITY: usize = 1024;

/// What a loop needs to serve.
pub struct LoopSettings {
    pub upstream: Upstream,
    pub role: Role,
    pub handshake_timeout: Duration,
    /// Close relayed connections without traffic for this long (off when
    /// `None`: driver pools keep idle connections on purpose).
    pub idle_timeout: Option<Duration>,
    pub proxy_protocol: ProxyProtocolSettings,
    /// This loop's counters, read by the metrics.
    pub stats: Arc<LoopStats>,
    /// What watches relayed connections (the audit log), if anything.
    pub taps: Option<Arc<dyn TapMaker>>,
}

/// How a loop ended.
pub struct LoopExit {
    /// Connections still open at the shutdown deadline, closed by force.
    pub cut: usize,
}

pub struct EventLoop {
    poll: Poll,
    listeners: Vec<TcpListener>,
    settings: LoopSettings,
    shared: Arc<Shared>,
    mailbox: Arc<Mailbox>,
    connections: Slab<Connection>,
    /// (deadline, slab key, connection id); stale entries are skipped.
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Connections that yielded with work left.
    again: VecDeque<(usize, u64)>,
    refusals: RefCell<RefusalLog>,
    accept_paused_until: Option<Instant>,
    last_accept_error_log: Option<Instant>,
    suppressed_accept_errors: u64,
    /// Set once a shutdown was asked for: the time open connections have.
    stopping: Option<Instant>,
    /// When to look for idle connections next (with `idle_timeout`).
    next_idle_sweep: Option<Instant>,
}

impl EventLoop {
    /// Takes already-bound listeners, so tests and socket activation can
    /// hand in their own. Returns the loop and its mailbox.
    pub fn new(
        mut listeners: Vec<TcpListener>,
        settings: LoopSettings,
        shared: Arc<Shared>,
    ) -> Result<EventLoop, Error> {
        let runtime = |what: &str| {
            let what = what.to_string();
            move |source| Error::Runtime { what, source }
        };
        let poll = Poll::new().map_err(runtime("creating the event loop"))?;
        if listeners.len() > token::MAX_LISTENERS {
            return Err(Error::options(format!(
                "--bind_ip: at most {} addresses",
                token::MAX_LISTENERS
            )));
        }
        for (index, listener) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(listener, token::listener(index), Interest::READABLE)
                .map_err(runtime("registering a listener"))?;
        }
        let waker =
            Waker::new(poll.registry(), token::WAKER).map_err(runtime("creating a waker"))?;
        Ok(EventLoop {
            poll,
            listeners,
            settings,
            shared,
            mailbox: Arc::new(Mailbox::new(waker)),
            connections: Slab::new(),
            deadlines: BinaryHeap::new(),
            again: VecDeque::new(),
            refusals: RefCell::new(RefusalLog::default()),
            accept_paused_until: None,
            last_accept_error_log: None,
            suppressed_accept_errors: 0,
            stopping: None,
            next_idle_sweep: None,
        })
    }

    /// Where commands for this loop go.
    pub fn mailbox(&self) -> Arc<Mailbox> {
        self.mailbox.clone()
    }

    /// Serves until a shutdown finishes.
    pub fn run(&mut self) -> Result<LoopExit, Error> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::Runtime {
                    what: "waiting for events".into(),
                    source: e,
                });
            }
            for event in events.iter() {
                match token::decode(event.token()) {
                    Target::Listener(index) => {
                        if self.accept_paused_until.is_none() && self.stopping.is_none() {
                            self.accept_from(index);
                        }
                    }
                    Target::Waker => self.take_commands(),
                    Target::Client(key) => self.dispatch(key, Side::Client, Some(ready(event))),
                    Target::Upstream(key) => self.dispatch(key, Side::Upstream, Some(ready(event))),
                }
            }
            self.run_again_list();
            self.expire_deadlines();
            self.close_idle();
            self.resume_accepting();
            if let Some(deadline) = self.stopping {
                if self.connections.is_empty() {
                    return Ok(LoopExit { cut: 0 });
                }
                if Instant::now() >= deadline {
                    return Ok(LoopExit {
                        cut: self.close_all("shutting down: the shutdown timeout passed"),
                    });
                }
            }
        }
    }

    fn take_commands(&mut self) {
        for command in self.mailbox.take() {
            match command {
                Command::NewTls(new) => {
                    if let Role::Server { tls, .. } = &mut self.settings.role {
                        *tls = Some(new);
                    }
                }
                Command::Shutdown { deadline } => {
                    // Closing the listen sockets stops new connections at
                    // the kernel; open ones get until `deadline`.
                    for mut listener in self.listeners.drain(..) {
                        let _ = self.poll.registry().deregister(&mut listener);
                    }
                    self.stopping = Some(deadline);
                }
                Command::OcspAnswered { key, id, outcome } => self.ocsp_answered(key, id, outcome),
            }
        }
    }

    /// Hands an OCSP answer to the connection that waits for it (not to
    /// a later one that reuses the slab key).
    fn ocsp_answered(&mut self, key: usize, id: u64, outcome: Outcome) {
        self.run_connection(key, Some(id), |connection, ctx| {
            connection.ocsp_answered(outcome, ctx)
        });
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let now = Instant::now();
        let next_deadline = self.deadlines.peek().map(|Reverse((at, _, _))| *at);
        [
            next_deadline,
            self.accept_paused_until,
            self.stopping,
            self.next_idle_sweep,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(now))
    }

    fn accept_from(&mut self, index: usize) {
        loop {
            let accepted = match self.listeners.get(index) {
                Some(listener) => listener.accept(),
                None => return,
            };
            match accepted {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // EMFILE/ENFILE/ENOMEM: the pending connection stays in
                    // the backlog; pause instead of spinning on it.
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    self.log_accept_error(&e);
                    return;
                }
            }
        }
    }

    fn log_accept_error(&mut self, e: &io::Error) {
        let now = Instant::now();
        let due = self
            .last_accept_error_log
            .is_none_or(|at| now.duration_since(at) >= ACCEPT_ERROR_LOG_INTERVAL);
        if due {
            let suppressed = std::mem::take(&mut self.suppressed_accept_errors);
            let extra = if suppressed > 0 {
                format!(" ({suppressed} similar errors not logged)")
            } else {
                String::new()
            };
            log::error!(
                target: "listener",
                "accept() failed: {e}; pausing new connections for {} ms{extra}",
                ACCEPT_PAUSE.as_millis()
            );
            self.last_accept_error_log = Some(now);
        } else {
            self.suppressed_accept_errors += 1;
        }
    }

    fn resume_accepting(&mut self) {
        if let Some(at) = self.accept_paused_until
            && Instant::now() >= at
        {
            self.accept_paused_until = None;
            // Edge-triggered: connections that queued during the pause
            // raise no new event, so look for them now.
            for index in 0..self.listeners.len() {
                self.accept_from(index);
            }
        }
    }

    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        let id = self.shared.next_connection_id();
        let Some(open) = self.shared.try_open() else {
            self.settings.stats.refused(Refusal::TooManyConnections);
            log::warn!(
                target: "listener",
                "connection refused because too many open connections: {}",
                self.shared.open()
            );
            return;
        };
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!(target: "listener", "TCP_NODELAY on {peer}: {e}");
        }
        let now = Instant::now();
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        let mut socket = Socket::tcp(stream);
        if let Err(e) = socket.register(self.poll.registry(), token::client(key)) {
            self.shared.close_one();
            log::error!(target: "listener", "cannot watch the connection from {peer}: {e}");
            return;
        }
        let dial = Dialer {
            poll: &self.poll,
            upstream: &self.settings.upstream,
        };
        let ctx = connection_context(
            &dial,
            &self.settings,
            &self.refusals,
            &self.mailbox,
            key,
            now,
        );
        let deadline = now + self.settings.handshake_timeout;
        // getsockname only when a PROXY header or the audit will name it.
        let local = match self.settings.proxy_protocol.upstream {
            ProxyProtocol::None if self.settings.taps.is_none() => None,
            _ => socket.local_addr(),
        };
        let connection = match Connection::accept(id, (peer, local), socket, deadline, &ctx) {
            Ok(c) => c,
            Err(reason) => {
                self.shared.close_one();
                log::error!(target: &format!("conn{id}"), "connection from {peer} dropped: {reason}");
                return;
            }
        };
        self.deadlines.push(Reverse((deadline, key, id)));
        entry.insert(connection);
        self.settings.stats.accepted();
        log::info!(
            target: &format!("conn{id}"),
            id = 22943, remote:% = peer, connectionId = id, connectionCount = open;
            "connection accepted from {peer} #{id} ({open} {} now open)",
            if open == 1 { "connection" } else { "connections" }
        );
    }

    fn dispatch(&mut self, key: usize, side: Side, event: Option<Ready>) {
        self.run_connection(key, None, |connection, ctx| {
            connection.ready(side, event, ctx)
        });
    }

    /// Lends connection `key` (if it is still there, and still number `id`
    /// when given) its context for `work`, then acts on the step.
    fn run_connection(
        &mut self,
        key: usize,
        id: Option<u64>,
        work: impl FnOnce(&mut Connection, &Context) -> Step,
    ) {
        let Some(connection) = self
            .connections
            .get_mut(key)
            .filter(|c| id.is_none_or(|id| c.id == id))
        else {
            // A stray event for a connection closed earlier in this batch.
            return;
        };
        let dial = Dialer {
            poll: &self.poll,
            upstream: &self.settings.upstream,
        };
        let ctx = connection_context(
            &dial,
            &self.settings,
            &self.refusals,
            &self.mailbox,
            key,
            Instant::now(),
        );
        let deadline_before = connection.deadline;
        let step = work(connection, &ctx);
        self.after(key, deadline_before, step);
    }

    /// Acts on what a connection asked for after it ran: its new
    /// deadline, another turn, or closing.
    fn after(&mut self, key: usize, deadline_before: Option<Instant>, step: Step) {
        let Some(connection) = self.connections.get(key) else {
            return;
        };
        let id = connection.id;
        if connection.deadline != deadline_before
            && let Some(deadline) = connection.deadline
        {
            self.deadlines.push(Reverse((deadline, key, id)));
        }
        match step {
            Step::Wait => {}
            Step::Again => self.again.push_back((key, id)),
            Step::Close(reason) => self.close(key, &reason, true),
            Step::CloseQuietly(reason) => self.close(key, &reason, false),
        }
    }

    fn run_again_list(&mut self) {
        for _ in 0..self.again.len() {
            let Some((key, id)) = self.again.pop_front() else {
                break;
            };
            if self.connections.get(key).is_some_and(|c| c.id == id) {
                self.dispatch(key, Side::Client, None);
            }
        }
    }

    fn expire_deadlines(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, key, id))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(connection) = self.connections.get_mut(key) else {
                continue;
            };
            // Skip entries of earlier phases or of a reused slab key.
            if connection.id != id || connection.deadline != Some(at) {
                continue;
            }
            if connection.awaits_ocsp() {
                let why = "the OCSP responder gave no answer within tlsOCSPVerifyTimeoutSecs";
                self.ocsp_answered(key, id, Outcome::Failed(why.to_string()));
                continue;
            }
            let reason = connection.timed_out();
            log::warn!(target: &connection.context, "{reason}");
            self.close(key, &reason, true);
        }
    }

    /// With `--idleTimeoutSecs`: closes relayed connections that saw no
    /// traffic for that long. One pass over the slab every quarter of the
    /// timeout (at most once a second) costs less than a timer per byte.
    fn close_idle(&mut self) {
        let Some(idle) = self.settings.idle_timeout else {
            return;
        };
        let now = Instant::now();
        let interval = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        match self.next_idle_sweep {
            None => {
                self.next_idle_sweep = Some(now + interval);
                return;
            }
            Some(at) if now < at => return,
            Some(_) => self.next_idle_sweep = Some(now + interval),
        }
        let idle_keys: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, c)| c.is_relaying() && now.duration_since(c.last_active) >= idle)
            .map(|(key, _)| key)
            .collect();
        let reason = format!("idle timeout: no traffic for {} s", idle.as_secs());
        for key in idle_keys {
            if let Some(connection) = self.connections.get_mut(key) {
                connection.abandon();
            }
            self.close(key, &reason, true);
        }
    }

    /// Closes every connection (shutdown deadline); returns how many.
    fn close_all(&mut self, reason: &str) -> usize {
        let keys: Vec<usize> = self.connections.iter().map(|(key, _)| key).collect();
        for key in &keys {
            if let Some(connection) = self.connections.get_mut(*key) {
                connection.abandon();
            }
            self.close(*key, reason, true);
        }
        keys.len()
    }

    fn close(&mut self, key: usize, reason: &str, loud: bool) {
        if !self.connections.contains(key) {
            return;
        }
        // Dropping the sockets closes them, which also removes them from
        // epoll: no explicit deregister needed.
        let mut connection = self.connections.remove(key);
        connection.ended(reason);
        let open = self.shared.close_one();
        self.settings.stats.closed();
        let (bytes_in, bytes_out) = connection.bytes();
        let level = if loud {
            log::Level::Info
        } else {
            log::Level::Debug
        };
        let millis = connection.opened.elapsed().as_millis() as u64;
        log::log!(
            target: &connection.context,
            level,
            id = 22944, remote:% = connection.peer, connectionId = connection.id,
            connectionCount = open, bytesIn = bytes_in, bytesOut = bytes_out,
            durationMillis = millis, reason:% = reason;
            "end connection {} ({open} {} now open): {bytes_in} bytes in, {bytes_out} bytes out, {:.3} s, {reason}",
            connection.peer,
            if open == 1 { "connection" } else { "connections" },
            connection.opened.elapsed().as_secs_f64()
        );
    }
}

/// What a readiness event says, in the relay's terms. Errors and
/// hang-ups count as both: they surface through the next read or write.
fn ready(event: &mio::event::Event) -> Ready {
    Ready {
        readable: event.is_readable() || event.is_read_closed() || event.is_error(),
        writable: event.is_writable() || event.is_write_closed() || event.is_error(),
    }
}

/// Opens upstream connections registered with this loop's poll.
struct Dialer<'a> {
    poll: &'a Poll,
    upstream: &'a Upstream,
}

impl Dial for Dialer<'_> {
    fn dial(&self, key: usize) -> io::Result<Socket> {
        let mut socket = Socket::connect(self.upstream)?;
        socket.register(self.poll.registry(), token::upstream(key))?;
        Ok(socket)
    }
}

/// What a connection may use of its loop. A free function rather than a
/// method, so the loop can lend these fields while a connection of its
/// slab is borrowed mutably.
fn connection_context<'a>(
    dial: &'a dyn Dial,
    settings: &'a LoopSettings,
    refusals: &'a RefCell<RefusalLog>,
    mailbox: &'a Arc<Mailbox>,
    key: usize,
    now: Instant,
) -> Context<'a> {
    Context {
        dial,
        key,
        upstream: &settings.upstream,
        role: &settings.role,
        proxy_protocol: &settings.proxy_protocol,
        mailbox,
        stats: &settings.stats,
        taps: settings.taps.as_deref(),
        refusals,
        handshake_timeout: settings.handshake_timeout,
        now,
    }
}
