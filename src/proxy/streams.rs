//! The sockets of a relayed connection. A `Socket` is TCP or unix (or, in
//! unit tests, a script), remembers the first bytes it read and can replay
//! bytes read ahead (the sniffed header); a `Stream` is a socket with or
//! without TLS on it. Both speak the `ByteStream` contract of `tls::stream`.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

use crate::config::Upstream;
use crate::tls::stream::{plain_close_write, plain_read, plain_write};
use crate::tls::{ByteStream, Io, TlsStream, Transport};

/// How many of a peer's first bytes are kept.
pub const FIRST_BYTES: usize = 16;

enum Kind {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(test)]
    Script(super::script::Script),
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

    /// A socket whose peer is a test's script.
    #[cfg(test)]
    pub fn scripted(script: super::script::Script) -> Socket {
        Socket::new(Kind::Script(script))
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
    /// Starts the socket over after a PROXY header: `bytes` (read past the
    /// header) are the client's first, replayed and remembered as such.
    pub fn begin_with(&mut self, bytes: &[u8]) {
        self.replay = bytes.to_vec();
        self.first_len = bytes.len().min(FIRST_BYTES);
        self.first[..self.first_len].copy_from_slice(&bytes[..self.first_len]);
    }

    /// Puts bytes already read back in front of what is still to come
    /// (which may be bytes replayed after a PROXY header).
    pub fn set_replay(&mut self, bytes: &[u8]) {
        self.replay.splice(0..0, bytes.iter().copied());
    }

    /// Whether a non-blocking connect has finished: `Ok(true)` connected,
    /// `Ok(false)` still in progress, `Err` refused or unreachable.
    /// The local address of a TCP socket (where the client connected to).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.kind {
            Kind::Tcp(s) => s.local_addr().ok(),
            _ => None,
        }
    }

    pub fn connect_finished(&self) -> io::Result<bool> {
        let (error, peer) = match &self.kind {
            Kind::Tcp(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
            Kind::Unix(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
            #[cfg(test)]
            Kind::Script(_) => (None, Ok(())),
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
            #[cfg(test)]
            Kind::Script(_) => Ok(()),
        }
    }
}

impl Transport for Socket {
    fn shutdown_write(&mut self) -> io::Result<()> {
        let result = match &mut self.kind {
            Kind::Tcp(s) => s.shutdown(Shutdown::Write),
            Kind::Unix(s) => s.shutdown(Shutdown::Write),
            #[cfg(test)]
            Kind::Script(s) => s.shutdown_write(),
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
            #[cfg(test)]
            Kind::Script(s) => Read::read(s, buf)?,
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
            #[cfg(test)]
            Kind::Script(s) => Write::write(s, buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ByteStream for Socket {
    fn read(&mut self, buf: &mut [u8]) -> Io {
        plain_read(self, buf)
    }

    fn write(&mut self, buf: &[u8]) -> Io {
        plain_write(self, buf)
    }

    fn close_write(&mut self) -> Io {
        plain_close_write(self)
    }
}

/// One side of a relayed connection: a socket, with TLS or without.
pub enum Stream {
    Tls(TlsStream<Socket>),
    Plain(Socket),
}

impl ByteStream for Stream {
    fn read(&mut self, buf: &mut [u8]) -> Io {
        match self {
            Stream::Tls(s) => s.read(buf),
            Stream::Plain(s) => ByteStream::read(s, buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> Io {
        match self {
            Stream::Tls(s) => s.write(buf),
            Stream::Plain(s) => ByteStream::write(s, buf),
        }
    }

    fn close_write(&mut self) -> Io {
        match self {
            Stream::Tls(s) => s.close_write(),
            Stream::Plain(s) => s.close_write(),
        }
    }

    fn has_buffered(&self) -> bool {
        match self {
            Stream::Tls(s) => s.has_buffered(),
            Stream::Plain(_) => false,
        }
    }
}
