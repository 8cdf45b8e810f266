//! Relaying bytes both ways between a client and mongod: two bounded
//! buffers with back-pressure (a side is not read while the buffer towards
//! the other is full), half-close carried across in each direction, and
//! readiness tracked in userland because mio is edge-triggered.

use mio::event::Event;

use super::buffer::RelayBuffer;
use super::streams::{Io, Stream};

/// Rounds of work one `drive` call may do before letting other
/// connections run; the loop calls it again without waiting for an event.
const MAX_ROUNDS: usize = 32;

/// What the kernel last said about one socket, and what OpenSSL needs
/// before a blocked read or write can go on.
#[derive(Clone, Copy)]
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

    fn update(&mut self, event: &Event) {
        // Errors and hang-ups surface through the next read or write.
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
    }

    fn may_read(&self) -> bool {
        self.readable || (self.read_wants_write && self.writable)
    }

    fn may_write(&self) -> bool {
        self.writable || (self.write_wants_read && self.readable)
    }

    /// Records a would-block from a read; the flag it clears comes back
    /// with the next event.
    fn read_blocked(&mut self, io: &Io) {
        match io {
            Io::WantWrite => {
                self.writable = false;
                self.read_wants_write = true;
            }
            _ => {
                self.readable = false;
                self.read_wants_write = false;
            }
        }
    }

    fn write_blocked(&mut self, io: &Io) {
        match io {
            Io::WantRead => {
                self.readable = false;
                self.write_wants_read = true;
            }
            _ => {
                self.writable = false;
                self.write_wants_read = false;
            }
        }
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

/// A connection in its relaying phase.
pub struct Relay {
    client: Stream,
    upstream: Stream,
    to_upstream: RelayBuffer,
    to_client: RelayBuffer,
    client_ready: Readiness,
    upstream_ready: Readiness,
    client_eof: Option<bool>,
    upstream_write_closed: bool,
    upstream_eof: bool,
    client_write_closed: bool,
    pub bytes_from_client: u64,
    pub bytes_from_upstream: u64,
}

/// Which socket an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Upstream,
}

impl Relay {
    pub fn new(client: Stream, upstream: Stream) -> Relay {
        Relay {
            client,
            upstream,
            to_upstream: RelayBuffer::default(),
            to_client: RelayBuffer::default(),
            client_ready: Readiness::optimistic(),
            upstream_ready: Readiness::optimistic(),
            client_eof: None,
            upstream_write_closed: false,
            upstream_eof: false,
            client_write_closed: false,
            bytes_from_client: 0,
            bytes_from_upstream: 0,
        }
    }

    pub fn on_event(&mut self, side: Side, event: &Event) {
        match side {
            Side::Client => self.client_ready.update(event),
            Side::Upstream => self.upstream_ready.update(event),
        }
    }

    /// The client stream, for a last close_notify when the relay fails.
    pub fn client_mut(&mut self) -> &mut Stream {
        &mut self.client
    }

    /// Moves as many bytes as the sockets allow, both ways.
    pub fn drive(&mut self) -> Progress {
        for _ in 0..MAX_ROUNDS {
            let mut progress = false;
            match self.client_to_upstream() {
                Ok(moved) => progress |= moved,
                Err(ending) => return Progress::Ended(ending),
            }
            match self.upstream_to_client() {
                Ok(moved) => progress |= moved,
                Err(ending) => return Progress::Ended(ending),
            }
            if let (Some(client_clean), true, true, true) = (
                self.client_eof,
                self.upstream_write_closed,
                self.upstream_eof,
                self.client_write_closed,
            ) {
                return Progress::Ended(Ending::Finished { client_clean });
            }
            if !progress {
                return Progress::Idle;
            }
        }
        Progress::Yield
    }

    fn client_to_upstream(&mut self) -> Result<bool, Ending> {
        let mut progress = false;
        // Read until the buffer is full or the client has nothing more, so
        // several records go to mongod in one write.
        while self.client_eof.is_none()
            && !self.to_upstream.is_full()
            && (self.client_ready.may_read() || self.client.has_buffered())
        {
            match self.client.read(self.to_upstream.space()) {
                Io::Done(n) => {
                    self.to_upstream.filled(n);
                    self.bytes_from_client += n as u64;
                    progress = true;
                }
                Io::Eof { clean } => {
                    self.client_eof = Some(clean);
                    progress = true;
                }
                Io::Failed(why) => return Err(Ending::ClientFailed(why)),
                blocked => {
                    self.client_ready.read_blocked(&blocked);
                    self.to_upstream.release();
                    break;
                }
            }
        }
        if !self.to_upstream.is_empty() && self.upstream_ready.may_write() {
            match self.upstream.write(self.to_upstream.pending()) {
                Io::Done(n) => {
                    self.to_upstream.consumed(n);
                    progress = true;
                }
                Io::Failed(why) => return Err(Ending::UpstreamFailed(why)),
                Io::Eof { .. } => return Err(Ending::UpstreamFailed("upstream closed".into())),
                blocked => self.upstream_ready.write_blocked(&blocked),
            }
        }
        if self.client_eof.is_some()
            && self.to_upstream.is_empty()
            && !self.upstream_write_closed
            && self.upstream_ready.may_write()
        {
            // Everything the client sent is with mongod: pass its EOF on.
            match self.upstream.close_write() {
                Io::Done(_) => {
                    self.upstream_write_closed = true;
                    progress = true;
                }
                Io::Failed(why) => return Err(Ending::UpstreamFailed(why)),
                blocked => self.upstream_ready.write_blocked(&blocked),
            }
        }
        Ok(progress)
    }

    fn upstream_to_client(&mut self) -> Result<bool, Ending> {
        let mut progress = false;
        while !self.upstream_eof
            && !self.to_client.is_full()
            && (self.upstream_ready.may_read() || self.upstream.has_buffered())
        {
            match self.upstream.read(self.to_client.space()) {
                Io::Done(n) => {
                    self.to_client.filled(n);
                    self.bytes_from_upstream += n as u64;
                    progress = true;
                }
                Io::Eof { .. } => {
                    self.upstream_eof = true;
                    progress = true;
                }
                Io::Failed(why) => return Err(Ending::UpstreamFailed(why)),
                blocked => {
                    self.upstream_ready.read_blocked(&blocked);
                    self.to_client.release();
                    break;
                }
            }
        }
        if !self.to_client.is_empty() && self.client_ready.may_write() {
            match self.client.write(self.to_client.pending()) {
                Io::Done(n) => {
                    self.to_client.consumed(n);
                    progress = true;
                }
                Io::Failed(why) => return Err(Ending::ClientFailed(why)),
                // A client that closed its socket cannot take more bytes.
                Io::Eof { .. } => return Err(Ending::ClientFailed("client closed".into())),
                blocked => self.client_ready.write_blocked(&blocked),
            }
        }
        if self.upstream_eof
            && self.to_client.is_empty()
            && !self.client_write_closed
            && self.client_ready.may_write()
        {
            // Everything mongod sent is with the client: close_notify.
            match self.client.close_write() {
                Io::Done(_) => {
                    self.client_write_closed = true;
                    progress = true;
                }
                Io::Failed(why) => return Err(Ending::ClientFailed(why)),
                blocked => self.client_ready.write_blocked(&blocked),
            }
        }
        Ok(progress)
    }
}
