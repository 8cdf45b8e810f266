//! A scripted in-memory stream for the unit tests of the relay and the
//! connection phases: reads return what the test queued (bytes, a
//! would-block, an EOF clean or not, a failure), writes take what the test
//! allows, and everything written is kept for the test to inspect. Both
//! ends are handles on the same state, so a test keeps one and gives the
//! other away.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::tls::{ByteStream, Io, Transport};

/// What the next read returns.
#[derive(Debug)]
pub enum ReadStep {
    Data(Vec<u8>),
    /// One would-block (`WantRead`), or `WantWrite` as a TLS read may.
    Block(Io),
    /// Every later read is this EOF.
    Eof {
        clean: bool,
    },
    Fail(String),
}

/// What the next write does.
#[derive(Debug)]
pub enum WriteStep {
    /// Takes at most this many bytes.
    Take(usize),
    Block(Io),
    Fail(String),
    /// The peer has closed its socket.
    Closed,
}

#[derive(Default, Debug)]
struct State {
    reads: VecDeque<ReadStep>,
    /// Empty: writes take everything.
    writes: VecDeque<WriteStep>,
    written: Vec<u8>,
    write_closed: bool,
    read_calls: usize,
    /// `has_buffered` answers true while data is queued (TLS read-ahead).
    buffered: bool,
}

#[derive(Clone, Default, Debug)]
pub struct Script(Arc<Mutex<State>>);

impl Script {
    pub fn new() -> Script {
        Script::default()
    }

    /// (A `Mutex`, not a `RefCell`: a socket must be `Send`, as loops run
    /// on threads; tests never contend for it.)
    fn state(&self) -> MutexGuard<'_, State> {
        match self.0.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn read(&self, step: ReadStep) -> &Script {
        self.state().reads.push_back(step);
        self
    }

    pub fn data(&self, bytes: &[u8]) -> &Script {
        self.read(ReadStep::Data(bytes.to_vec()))
    }

    pub fn write(&self, step: WriteStep) -> &Script {
        self.state().writes.push_back(step);
        self
    }

    /// Pretend the stream holds bytes that no readiness event announces.
    pub fn set_buffered(&self, buffered: bool) {
        self.state().buffered = buffered;
    }

    pub fn written(&self) -> Vec<u8> {
        self.state().written.clone()
    }

    pub fn write_closed(&self) -> bool {
        self.state().write_closed
    }

    pub fn read_calls(&self) -> usize {
        self.state().read_calls
    }

    pub fn unread_steps(&self) -> usize {
        self.state().reads.len()
    }
}

impl ByteStream for Script {
    fn read(&mut self, buf: &mut [u8]) -> Io {
        let mut state = self.state();
        state.read_calls += 1;
        match state.reads.pop_front() {
            None => Io::WantRead,
            Some(ReadStep::Data(mut bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    state.reads.push_front(ReadStep::Data(bytes.split_off(n)));
                }
                Io::Done(n)
            }
            Some(ReadStep::Block(io)) => io,
            Some(ReadStep::Eof { clean }) => {
                state.reads.push_front(ReadStep::Eof { clean });
                Io::Eof { clean }
            }
            Some(ReadStep::Fail(why)) => Io::Failed(why),
        }
    }

    fn write(&mut self, buf: &[u8]) -> Io {
        let mut state = self.state();
        let take = match state.writes.pop_front() {
            None => buf.len(),
            Some(WriteStep::Take(n)) => n.min(buf.len()),
            Some(WriteStep::Block(io)) => return io,
            Some(WriteStep::Fail(why)) => return Io::Failed(why),
            Some(WriteStep::Closed) => {
                state.writes.push_front(WriteStep::Closed);
                return Io::Eof { clean: false };
            }
        };
        state.written.extend_from_slice(&buf[..take]);
        Io::Done(take)
    }

    fn close_write(&mut self) -> Io {
        self.state().write_closed = true;
        Io::Done(0)
    }

    fn has_buffered(&self) -> bool {
        let state = self.state();
        state.buffered && matches!(state.reads.front(), Some(ReadStep::Data(_)))
    }
}

fn as_io_result(io: Io) -> io::Result<usize> {
    match io {
        Io::Done(n) => Ok(n),
        Io::Eof { .. } => Ok(0),
        Io::WantRead | Io::WantWrite => Err(io::ErrorKind::WouldBlock.into()),
        Io::Failed(why) => Err(io::Error::other(why)),
    }
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        as_io_result(ByteStream::read(self, buf))
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match ByteStream::write(self, buf) {
            Io::Eof { .. } => Err(io::ErrorKind::BrokenPipe.into()),
            other => as_io_result(other),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Script {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.state().write_closed = true;
        Ok(())
    }
}
