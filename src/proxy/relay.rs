//! Relaying bytes both ways between a client and mongod. One `Direction`
//! (a bounded buffer, the EOF seen at its source, the half-close passed to
//! its sink) is used twice, client → mongod and mongod → client, over any
//! `ByteStream`: a side is not read while the buffer towards the other is
//! full (back-pressure), an EOF is carried across once every byte before
//! it was written (half-close), and readiness is tracked in userland
//! because mio is edge-triggered.

use super::buffer::RelayBuffer;
use super::tap::{Flow, Tap};
use crate::tls::{ByteStream, Io};

/// Rounds of work one `drive` call may do before letting other
/// connections run; the loop calls it again without waiting for an event.
const MAX_ROUNDS: usize = 32;

/// What a readiness event said about one socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Readable, read-closed or in error (errors surface through the next read).
    pub readable: bool,
    /// Writable, write-closed or in error.
    pub writable: bool,
}

/// What the kernel last said about one socket, and what OpenSSL needs
/// before a blocked read or write can go on.
#[derive(Clone, Copy, Debug)]
struct Readiness {
    readable: bool,
    writable: bool,
    /// A TLS read stopped on WANT_WRITE (it resumes when writable).
    read_wants_write: bool,
    /// A TLS write stopped on WANT_READ (it resumes when readable).
    write_wants_read: bool,
}

impl Readiness {
    /// Until the kernel says otherwise, assume a socket can do anything:
    /// bytes may have arrived before the relay existed.
    fn optimistic() -> Readiness {
        Readiness {
            readable: true,
            writable: true,
            read_wants_write: false,
            write_wants_read: false,
        }
    }

    fn update(&mut self, ready: Ready) {
        self.readable |= ready.readable;
        self.writable |= ready.writable;
    }

    fn may_read(&self) -> bool {
        self.readable || (self.read_wants_write && self.writable)
    }

    fn may_write(&self) -> bool {
        self.writable || (self.write_wants_read && self.readable)
    }

    /// Records a would-block of a read or a write: on its own readiness,
    /// or (TLS) on the other one, which it then waits for. The flag it
    /// clears comes back with the next event.
    fn blocked(&mut self, op: Op, io: &Io) {
        let on_other = matches!(
            (op, io),
            (Op::Read, Io::WantWrite) | (Op::Write, Io::WantRead)
        );
        let (own, other, waits_for_other) = match op {
            Op::Read => (
                &mut self.readable,
                &mut self.writable,
                &mut self.read_wants_write,
            ),
            Op::Write => (
                &mut self.writable,
                &mut self.readable,
                &mut self.write_wants_read,
            ),
        };
        if on_other {
            *other = false;
            *waits_for_other = true;
        } else {
            *own = false;
            *waits_for_other = false;
        }
    }
}

/// What blocked.
#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
}

/// One stream with what is known of its readiness.
struct End<S> {
    stream: S,
    ready: Readiness,
}

/// Which end of a direction broke.
enum Fault {
    /// Its source: reading failed.
    Source(String),
    /// Its sink: writing failed, or the sink had closed its socket.
    Sink(String),
    SinkClosed,
}

/// Bytes moving one way: from a source end to a sink end.
#[derive(Default)]
struct Direction {
    buffer: RelayBuffer,
    /// The source finished sending; `Some(false)` when a TLS peer did so
    /// without close_notify.
    source_eof: Option<bool>,
    /// The sink was told so (close_notify or a half-close).
    sink_closed: bool,
    bytes: u64,
}

impl Direction {
    fn finished(&self) -> bool {
        self.source_eof.is_some() && self.sink_closed
    }

    /// Moves what the two ends allow now; whether anything happened.
    fn pump<S: ByteStream>(
        &mut self,
        source: &mut End<S>,
        sink: &mut End<S>,
        tap: Option<(&mut (dyn Tap + 'static), Flow)>,
    ) -> Result<bool, Fault> {
        let mut tap = tap;
        let mut progress = false;
        // Read until the buffer is full or the source has nothing more, so
        // several records go out in one write.
        while self.source_eof.is_none()
            && !self.buffer.is_full()
            && (source.ready.may_read() || source.stream.has_buffered())
        {
            match source.stream.read(self.buffer.space()) {
                Io::Done(n) => {
                    self.buffer.filled(n);
                    self.bytes += n as u64;
                    if let Some((tap, flow)) = tap.as_mut() {
                        let pending = self.buffer.pending();
                        tap.saw(*flow, &pending[pending.len().saturating_sub(n)..]);
                    }
                    progress = true;
                }
                Io::Eof { clean } => {
                    self.source_eof = Some(clean);
                    progress = true;
                }
                Io::Failed(why) => return Err(Fault::Source(why)),
                blocked => {
                    source.ready.blocked(Op::Read, &blocked);
                    self.buffer.release();
                    break;
                }
            }
        }
        if !self.buffer.is_empty() && sink.ready.may_write() {
            match sink.stream.write(self.buffer.pending()) {
                Io::Done(n) => {
                    self.buffer.consumed(n);
                    progress = true;
                }
                Io::Failed(why) => return Err(Fault::Sink(why)),
                Io::Eof { .. } => return Err(Fault::SinkClosed),
                blocked => sink.ready.blocked(Op::Write, &blocked),
            }
        }
        if self.source_eof.is_some()
            && self.buffer.is_empty()
            && !self.sink_closed
            && sink.ready.may_write()
        {
            // Everything the source sent is with the sink: pass its EOF on.
            match sink.stream.close_write() {
                Io::Done(_) => {
                    self.sink_closed = true;
                    progress = true;
                }
                Io::Failed(why) => return Err(Fault::Sink(why)),
                blocked => sink.ready.blocked(Op::Write, &blocked),
            }
        }
        Ok(progress)
    }
}

/// Why a relay ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Both sides finished; `clean` is false if the client vanished
    /// without close_notify.
    Finished { client_clean: bool },
    /// The client's side broke.
    ClientFailed(String),
    /// mongod's side broke.
    UpstreamFailed(String),
}

/// What a `drive` call left behind.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Waiting for the next event.
    Idle,
    /// More work is ready; call again soon.
    Yield,
    Ended(Ending),
}

/// Which socket an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Upstream,
}

/// A connection in its relaying phase.
pub struct Relay<S> {
    client: End<S>,
    upstream: End<S>,
    /// Client → mongod.
    up: Direction,
    /// mongod → client.
    down: Direction,
    /// Watches what passes (the audit log), when one is on.
    tap: Option<Box<dyn Tap>>,
}

impl<S: ByteStream> Relay<S> {
    pub fn new(client: S, upstream: S) -> Relay<S> {
        Relay {
            client: End {
                stream: client,
                ready: Readiness::optimistic(),
            },
            upstream: End {
                stream: upstream,
                ready: Readiness::optimistic(),
            },
            up: Direction::default(),
            down: Direction::default(),
            tap: None,
        }
    }

    /// A relay whose first bytes to mongod are `preamble` (a PROXY
    /// header), sent with the client's first bytes in one write. They are
    /// not counted as the client's.
    pub fn with_preamble(client: S, upstream: S, preamble: &[u8]) -> Relay<S> {
        let mut relay = Relay::new(client, upstream);
        if !preamble.is_empty() {
            let space = relay.up.buffer.space();
            let n = preamble.len().min(space.len());
            space[..n].copy_from_slice(&preamble[..n]);
            relay.up.buffer.filled(n);
        }
        relay
    }

    /// Shows `tap` every byte read from here on.
    pub fn set_tap(&mut self, tap: Box<dyn Tap>) {
        self.tap = Some(tap);
    }

    /// Tells the tap, if there is one, that the connection is over.
    pub fn ended(&mut self, reason: &str) {
        if let Some(tap) = self.tap.as_mut() {
            tap.ended(reason);
        }
        self.tap = None;
    }

    /// Bytes relayed so far: (from the client, from mongod).
    pub fn bytes(&self) -> (u64, u64) {
        (self.up.bytes, self.down.bytes)
    }

    pub fn on_ready(&mut self, side: Side, ready: Ready) {
        match side {
            Side::Client => self.client.ready.update(ready),
            Side::Upstream => self.upstream.ready.update(ready),
        }
    }

    /// The client stream, for a last close_notify when the relay fails.
    pub fn client_mut(&mut self) -> &mut S {
        &mut self.client.stream
    }

    /// Moves as many bytes as the sockets allow, both ways.
    pub fn drive(&mut self) -> Progress {
        for _ in 0..MAX_ROUNDS {
            let up = self
                .up
                .pump(
                    &mut self.client,
                    &mut self.upstream,
                    self.tap.as_deref_mut().map(|t| (t, Flow::ToUpstream)),
                )
                .map_err(|fault| match fault {
                    Fault::Source(why) => Ending::ClientFailed(why),
                    Fault::Sink(why) => Ending::UpstreamFailed(why),
                    Fault::SinkClosed => Ending::UpstreamFailed("upstream closed".into()),
                });
            let down = up.and_then(|up| {
                self.down
                    .pump(
                        &mut self.upstream,
                        &mut self.client,
                        self.tap.as_deref_mut().map(|t| (t, Flow::ToClient)),
                    )
                    .map(|down| up | down)
                    .map_err(|fault| match fault {
                        Fault::Source(why) => Ending::UpstreamFailed(why),
                        Fault::Sink(why) => Ending::ClientFailed(why),
                        // A client that closed its socket cannot take more bytes.
                        Fault::SinkClosed => Ending::ClientFailed("client closed".into()),
                    })
            });
            let progress = match down {
                Ok(progress) => progress,
                Err(ending) => return Progress::Ended(ending),
            };
            if let (Some(client_clean), true) = (self.up.source_eof, self.up.finished())
                && self.down.finished()
            {
                return Progress::Ended(Ending::Finished { client_clean });
            }
            if !progress {
                return Progress::Idle;
            }
        }
        Progress::Yield
    }
}

// Named after what it tests, so `cargo test relay::` runs exactly these.
#[cfg(test)]
#[path = "relay_tests.rs"]
#[allow(clippy::module_inception)]
mod relay;
