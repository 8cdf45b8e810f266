//! Both ends of a relayed connection as non-blocking byte streams with one
//! result type, `Io`, that keeps would-block, clean EOF, unclean EOF and
//! failure apart. A `Socket` is TCP or unix, remembers the first bytes it
//! read and can replay bytes read ahead (the sniffed header); a `Stream` is
//! a socket with or without TLS on it.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use openssl::ssl::{ErrorCode, SslStream};

use crate::config::Upstream;
use crate::error::describe_openssl;

/// OpenSSL 3's `SSL_R_UNEXPECTED_EOF_WHILE_READING`: the peer closed the
/// socket without close_notify. openssl-sys does not export it.
const SSL_R_UNEXPECTED_EOF_WHILE_READING: i32 = 294;

/// What a non-blocking operation did.
#[derive(Debug, PartialEq, Eq)]
pub enum Io {
    /// Moved this many bytes (0 for a completed shutdown).
    Done(usize),
    /// Must wait until the socket is readable again.
    WantRead,
    /// Must wait until the socket is writable again.
    WantWrite,
    /// The peer finished sending; `clean` is false for a TLS peer that
    /// vanished without close_notify (still an EOF, not a crash).
    Eof { clean: bool },
    /// The stream is broken; the text says why.
    Failed(String),
}

/// How many of a peer's first bytes are kept.
pub const FIRST_BYTES: usize = 16;

enum Kind {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A non-blocking socket. It keeps the first bytes the peer sent (so a
/// refused handshake can tell plaintext from broken TLS) and yields
/// `replay` bytes, read ahead while sniffing, before the kernel's.
pub struct Socket {
    kind: Kind,
    first: [u8; FIRST_BYTES],
    first_len: usize,
    replay: Vec<u8>,
}

impl Socket {
    pub fn tcp(tcp: TcpStream) -> Socket {
        Socket::new(Kind::Tcp(tcp))
    }

    fn new(kind: Kind) -> Socket {
        Socket {
            kind,
            first: [0; FIRST_BYTES],
            first_len: 0,
            replay: Vec::new(),
        }
    }

    /// Starts a non-blocking connect to mongod (or whatever `address` is).
    pub fn connect(address: &Upstream) -> io::Result<Socket> {
        match address {
            Upstream::Tcp(addr) => {
                let tcp = TcpStream::connect(*addr)?;
                // Small MongoDB requests must not wait for Nagle.
                tcp.set_nodelay(true)?;
                Ok(Socket::tcp(tcp))
            }
            Upstream::Unix(path) => UnixStream::connect(path).map(|s| Socket::new(Kind::Unix(s))),
        }
    }

    /// Up to the first 16 bytes the peer sent.
    pub fn first_bytes(&self) -> &[u8] {
        &self.first[..self.first_len]
    }

    /// Bytes to hand out before reading the kernel's (a sniffed header).
    pub fn set_replay(&mut self, bytes: &[u8]) {
        self.replay = bytes.to_vec();
    }

    /// Whether a non-blocking connect has finished: `Ok(true)` connected,
    /// `Ok(false)` still in progress, `Err` refused or unreachable.
    pub fn connect_finished(&self) -> io::Result<bool> {
        let (error, peer) = match &self.kind {
            Kind::Tcp(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
            Kind::Unix(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
        };
        if let Some(e) = error {
            return Err(e);
        }
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        match &mut self.kind {
            Kind::Tcp(s) => s.register(registry, token, interest),
            Kind::Unix(s) => s.register(registry, token, interest),
        }
    }

    /// Half-closes: the peer sees EOF after every byte sent.
    pub fn shutdown_write(&self) -> io::Result<()> {
        let result = match &self.kind {
            Kind::Tcp(s) => s.shutdown(Shutdown::Write),
            Kind::Unix(s) => s.shutdown(Shutdown::Write),
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.replay.is_empty() {
            let n = self.replay.len().min(buf.len());
            buf[..n].copy_from_slice(&self.replay[..n]);
            self.replay.drain(..n);
            return Ok(n);
        }
        let n = match &mut self.kind {
            Kind::Tcp(s) => s.read(buf)?,
            Kind::Unix(s) => s.read(buf)?,
        };
        if self.first_len < FIRST_BYTES {
            let take = n.min(FIRST_BYTES - self.first_len);
            self.first[self.first_len..self.first_len + take].copy_from_slice(&buf[..take]);
            self.first_len += take;
        }
        Ok(n)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.kind {
            Kind::Tcp(s) => s.write(buf),
            Kind::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn plain_read(stream: &mut impl Read, buf: &mut [u8]) -> Io {
    loop {
        return match stream.read(buf) {
            Ok(0) => Io::Eof { clean: true },
            Ok(n) => Io::Done(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Io::WantRead,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Io::Failed(e.to_string()),
        };
    }
}

fn plain_write(stream: &mut impl Write, buf: &[u8]) -> Io {
    loop {
        return match stream.write(buf) {
            Ok(n) => Io::Done(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Io::WantWrite,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Io::Failed(e.to_string()),
        };
    }
}

/// Maps an OpenSSL I/O error onto `Io`.
pub fn classify_ssl_error(e: &openssl::ssl::Error) -> Io {
    match e.code() {
        ErrorCode::WANT_READ => Io::WantRead,
        ErrorCode::WANT_WRITE => Io::WantWrite,
        ErrorCode::ZERO_RETURN => Io::Eof { clean: true },
        ErrorCode::SYSCALL => match e.io_error() {
            Some(io) => Io::Failed(io.to_string()),
            None => Io::Eof { clean: false },
        },
        _ => match e.ssl_error() {
            Some(stack)
                if stack
                    .errors()
                    .iter()
                    .any(|x| x.reason_code() == SSL_R_UNEXPECTED_EOF_WHILE_READING) =>
            {
                Io::Eof { clean: false }
            }
            Some(stack) => Io::Failed(describe_openssl(stack)),
            None => Io::Failed(e.to_string()),
        },
    }
}

// OpenSSL 1.1+ has SSL_has_pending, but openssl-sys does not bind it.
unsafe extern "C" {
    fn SSL_has_pending(ssl: *const openssl_sys::SSL) -> libc::c_int;
}

/// One side of a relayed connection: a socket, with TLS or without.
pub enum Stream {
    Tls(SslStream<Socket>),
    Plain(Socket),
}

impl Stream {
    pub fn read(&mut self, buf: &mut [u8]) -> Io {
        match self {
            Stream::Tls(s) => match s.ssl_read(buf) {
                Ok(n) => Io::Done(n),
                Err(e) => classify_ssl_error(&e),
            },
            Stream::Plain(s) => plain_read(s, buf),
        }
    }

    pub fn write(&mut self, buf: &[u8]) -> Io {
        match self {
            Stream::Tls(s) => match s.ssl_write(buf) {
                Ok(n) => Io::Done(n),
                Err(e) => classify_ssl_error(&e),
            },
            Stream::Plain(s) => plain_write(s, buf),
        }
    }

    /// Ends what this side receives: close_notify for TLS, a TCP
    /// half-close otherwise.
    pub fn close_write(&mut self) -> Io {
        match self {
            Stream::Tls(s) => match s.shutdown() {
                Ok(_) => Io::Done(0),
                Err(e) => match classify_ssl_error(&e) {
                    // The peer is gone: nothing left to tell it.
                    Io::Eof { .. } => Io::Done(0),
                    other => other,
                },
            },
            Stream::Plain(s) => match s.shutdown_write() {
                Ok(()) => Io::Done(0),
                Err(e) => Io::Failed(e.to_string()),
            },
        }
    }

    /// Whether OpenSSL holds bytes beyond what the socket has: decrypted
    /// plaintext, or records read ahead and not yet processed (which
    /// `SSL_pending` does not count).
    pub fn has_buffered(&self) -> bool {
        match self {
            Stream::Tls(s) => {
                use foreign_types::ForeignTypeRef;
                // SAFETY: the SSL object is alive for the call.
                unsafe { SSL_has_pending(s.ssl().as_ptr()) == 1 }
            }
            Stream::Plain(_) => false,
        }
    }
}
