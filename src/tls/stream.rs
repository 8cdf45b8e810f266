//! The non-blocking byte-stream contract that the relay is written
//! against: `Io`, one result type that keeps would-block, clean EOF,
//! unclean EOF and failure apart, and `ByteStream`, which a plaintext
//! socket and a `TlsStream` both implement (and tests implement in memory).

use std::io::{self, Read, Write};

use openssl::ssl::{ErrorCode, SslStream};

use super::ffi;
use crate::error::describe_openssl;

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

/// One end of a relayed connection, as the relay sees it.
pub trait ByteStream {
    fn read(&mut self, buf: &mut [u8]) -> Io;
    fn write(&mut self, buf: &[u8]) -> Io;
    /// Ends what the peer receives: close_notify for TLS, a half-close
    /// for a plain socket.
    fn close_write(&mut self) -> Io;
    /// Whether bytes wait inside the stream that no readiness event will
    /// announce (OpenSSL's read-ahead and decrypted records).
    fn has_buffered(&self) -> bool {
        false
    }
}

/// A transport TLS can run over: a byte pipe that can also half-close.
pub trait Transport: Read + Write {
    /// Half-closes: the peer sees EOF after every byte sent.
    fn shutdown_write(&mut self) -> io::Result<()>;
}

/// `read` on a non-blocking plain transport, as `Io`.
pub fn plain_read(stream: &mut impl Read, buf: &mut [u8]) -> Io {
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

/// `write` on a non-blocking plain transport, as `Io`.
pub fn plain_write(stream: &mut impl Write, buf: &[u8]) -> Io {
    loop {
        return match stream.write(buf) {
            Ok(n) => Io::Done(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Io::WantWrite,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Io::Failed(e.to_string()),
        };
    }
}

/// A half-close of a plain transport, as `Io`.
pub fn plain_close_write(stream: &mut impl Transport) -> Io {
    match stream.shutdown_write() {
        Ok(()) => Io::Done(0),
        Err(e) => Io::Failed(e.to_string()),
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
                    .any(|x| x.reason_code() == ffi::SSL_R_UNEXPECTED_EOF_WHILE_READING) =>
            {
                Io::Eof { clean: false }
            }
            Some(stack) => Io::Failed(describe_openssl(stack)),
            None => Io::Failed(e.to_string()),
        },
    }
}

/// An established TLS connection over a transport.
pub struct TlsStream<S>(SslStream<S>);

impl<S> TlsStream<S> {
    pub(super) fn new(stream: SslStream<S>) -> TlsStream<S> {
        TlsStream(stream)
    }

    /// The transport under the TLS layer.
    pub fn get_ref(&self) -> &S {
        self.0.get_ref()
    }

    /// The negotiated protocol version, as OpenSSL names it (`TLSv1.3`).
    pub fn version(&self) -> &'static str {
        self.0.ssl().version_str()
    }

    /// What the handshake told about the client (for the PROXY v2 header).
    pub fn facts(&self) -> super::TlsFacts {
        super::facts::of(self.0.ssl())
    }

    /// The negotiated suite, as OpenSSL names it.
    pub fn cipher(&self) -> &'static str {
        self.0
            .ssl()
            .current_cipher()
            .map_or("unknown", |c| c.name())
    }
}

impl<S: Read + Write> ByteStream for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> Io {
        match self.0.ssl_read(buf) {
            Ok(n) => Io::Done(n),
            Err(e) => classify_ssl_error(&e),
        }
    }

    fn write(&mut self, buf: &[u8]) -> Io {
        match self.0.ssl_write(buf) {
            Ok(n) => Io::Done(n),
            Err(e) => classify_ssl_error(&e),
        }
    }

    fn close_write(&mut self) -> Io {
        match self.0.shutdown() {
            Ok(_) => Io::Done(0),
            Err(e) => match classify_ssl_error(&e) {
                // The peer is gone: nothing left to tell it.
                Io::Eof { .. } => Io::Done(0),
                other => other,
            },
        }
    }

    fn has_buffered(&self) -> bool {
        ffi::has_pending(self.0.ssl())
    }
}
