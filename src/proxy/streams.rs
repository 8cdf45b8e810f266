//! The two ends of a relayed connection as non-blocking byte streams with
//! one result type, `Io`, that keeps would-block, clean EOF, unclean EOF
//! and failure apart: the client side (TLS or plaintext) and the upstream
//! side (TCP or unix socket).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::path::Path;

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

/// How many of the client's first bytes are kept.
const FIRST_BYTES: usize = 16;

/// The accepted TCP socket. It keeps the first bytes the client sent, so a
/// refused handshake can tell a plaintext client from a broken TLS one.
pub struct ClientSocket {
    tcp: TcpStream,
    first: [u8; FIRST_BYTES],
    first_len: usize,
}

impl ClientSocket {
    pub fn new(tcp: TcpStream) -> ClientSocket {
        ClientSocket {
            tcp,
            first: [0; FIRST_BYTES],
            first_len: 0,
        }
    }

    /// Up to the first 16 bytes the client sent.
    pub fn first_bytes(&self) -> &[u8] {
        &self.first[..self.first_len]
    }

    pub fn tcp(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }
}

impl Read for ClientSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.tcp.read(buf)?;
        if self.first_len < FIRST_BYTES {
            let take = n.min(FIRST_BYTES - self.first_len);
            self.first[self.first_len..self.first_len + take].copy_from_slice(&buf[..take]);
            self.first_len += take;
        }
        Ok(n)
    }
}

impl Write for ClientSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
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

/// The client's side of a connection.
pub enum ClientStream {
    Tls(SslStream<ClientSocket>),
    Plain(ClientSocket),
}

impl ClientStream {
    pub fn read(&mut self, buf: &mut [u8]) -> Io {
        match self {
            ClientStream::Tls(s) => match s.ssl_read(buf) {
                Ok(n) => Io::Done(n),
                Err(e) => classify_ssl_error(&e),
            },
            ClientStream::Plain(s) => plain_read(s, buf),
        }
    }

    pub fn write(&mut self, buf: &[u8]) -> Io {
        match self {
            ClientStream::Tls(s) => match s.ssl_write(buf) {
                Ok(n) => Io::Done(n),
                Err(e) => classify_ssl_error(&e),
            },
            ClientStream::Plain(s) => plain_write(s, buf),
        }
    }

    /// Ends the client's read side: close_notify for TLS, a TCP half-close
    /// otherwise.
    pub fn close_write(&mut self) -> Io {
        match self {
            ClientStream::Tls(s) => match s.shutdown() {
                Ok(_) => Io::Done(0),
                Err(e) => match classify_ssl_error(&e) {
                    // The peer is gone: nothing left to tell it.
                    Io::Eof { .. } => Io::Done(0),
                    other => other,
                },
            },
            ClientStream::Plain(s) => match s.tcp.shutdown(Shutdown::Write) {
                Ok(()) => Io::Done(0),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Io::Done(0),
                Err(e) => Io::Failed(e.to_string()),
            },
        }
    }

    /// Plaintext OpenSSL holds already decrypted, beyond what the socket has.
    pub fn has_buffered(&self) -> bool {
        match self {
            ClientStream::Tls(s) => s.ssl().pending() > 0,
            ClientStream::Plain(_) => false,
        }
    }

    pub fn socket(&mut self) -> &mut ClientSocket {
        match self {
            ClientStream::Tls(s) => s.get_mut(),
            ClientStream::Plain(s) => s,
        }
    }
}

/// The plaintext connection to mongod.
pub enum UpstreamStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl UpstreamStream {
    /// Starts a non-blocking connect.
    pub fn connect(address: &Upstream) -> io::Result<UpstreamStream> {
        match address {
            Upstream::Tcp(addr) => {
                let tcp = TcpStream::connect(*addr)?;
                // Small MongoDB requests must not wait for Nagle.
                tcp.set_nodelay(true)?;
                Ok(UpstreamStream::Tcp(tcp))
            }
            Upstream::Unix(path) => UnixStream::connect(Path::new(path)).map(UpstreamStream::Unix),
        }
    }

    /// Whether a non-blocking connect has finished: `Ok(true)` connected,
    /// `Ok(false)` still in progress, `Err` refused or unreachable.
    pub fn connect_finished(&self) -> io::Result<bool> {
        let (error, peer) = match self {
            UpstreamStream::Tcp(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
            UpstreamStream::Unix(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
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

    pub fn read(&mut self, buf: &mut [u8]) -> Io {
        match self {
            UpstreamStream::Tcp(s) => plain_read(s, buf),
            UpstreamStream::Unix(s) => plain_read(s, buf),
        }
    }

    pub fn write(&mut self, buf: &[u8]) -> Io {
        match self {
            UpstreamStream::Tcp(s) => plain_write(s, buf),
            UpstreamStream::Unix(s) => plain_write(s, buf),
        }
    }

    /// Half-closes towards mongod: it sees EOF after every byte sent.
    pub fn close_write(&mut self) -> Io {
        let result = match self {
            UpstreamStream::Tcp(s) => s.shutdown(Shutdown::Write),
            UpstreamStream::Unix(s) => s.shutdown(Shutdown::Write),
        };
        match result {
            Ok(()) => Io::Done(0),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Io::Done(0),
            Err(e) => Io::Failed(e.to_string()),
        }
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self {
            UpstreamStream::Tcp(s) => s.register(registry, token, interest),
            UpstreamStream::Unix(s) => s.register(registry, token, interest),
        }
    }
}
