//! Blocking network I/O for the one-shot check, every step bounded by one
//! deadline: resolving, connecting (TCP or unix socket), the TLS
//! handshake, and reading and writing whole buffers, each failure turned
//! into a `Failure` that names its cause.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use openssl::ssl::{ErrorCode, HandshakeError, Ssl, SslStream};
use openssl::x509::{X509, X509VerifyResult};

use super::report::{Failure, FailureKind};
use super::uri::{Endpoint, Host};
use crate::error::describe_openssl;

/// The single deadline of a run.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    pub fn after(total: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + total,
            total,
        }
    }

    /// Time left, or the timeout failure for `what` once it is gone.
    pub fn remaining(&self, what: &str) -> Result<Duration, Failure> {
        let left = self.at.saturating_duration_since(Instant::now());
        // Socket timeouts of zero mean "forever": never hand one out.
        if left < Duration::from_millis(1) {
            return Err(Failure::new(
                FailureKind::Timeout,
                format!(
                    "timed out after {} s {what} (--timeoutSecs)",
                    self.total.as_secs()
                ),
            ));
        }
        Ok(left)
    }
}

/// A connected socket, TCP or unix.
#[derive(Debug)]
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    /// Bounds the next blocking read or write by what is left of the run.
    fn bound_by(&self, deadline: &Deadline, what: &str) -> Result<(), Failure> {
        let left = Some(deadline.remaining(what)?);
        let set = match self {
            Socket::Tcp(s) => s.set_read_timeout(left).and(s.set_write_timeout(left)),
            Socket::Unix(s) => s.set_read_timeout(left).and(s.set_write_timeout(left)),
        };
        set.map_err(|e| Failure::new(FailureKind::Connect, format!("cannot set a timeout: {e}")))
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            Socket::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.flush(),
            Socket::Unix(s) => s.flush(),
        }
    }
}

/// The peer closed with our bytes unread (a reset) or before our write.
fn is_hang_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Resolves a host name on a helper thread, so a hanging resolver cannot
/// outlast the deadline (the thread is left behind; the process ends soon).
fn resolve(name: &str, port: u16, deadline: &Deadline) -> Result<Vec<SocketAddr>, Failure> {
    let (tx, rx) = mpsc::channel();
    let owned = name.to_string();
    std::thread::spawn(move || {
        let result = (owned.as_str(), port)
            .to_socket_addrs()
            .map(|addrs| addrs.collect::<Vec<_>>());
        let _ = tx.send(result);
    });
    let what = format!("resolving {name}");
    match rx.recv_timeout(deadline.remaining(&what)?) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(Failure::new(
            FailureKind::Connect,
            format!("{name} has no address"),
        )),
        Ok(Err(e)) => Err(Failure::new(
            FailureKind::Connect,
            format!("cannot resolve {name}: {e}"),
        )),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(deadline
            .remaining(&what)
            .err()
            .unwrap_or_else(|| Failure::new(FailureKind::Timeout, format!("timed out {what}")))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Failure::new(
            FailureKind::Connect,
            format!("cannot resolve {name}"),
        )),
    }
}

/// Connects to the endpoint, trying each address of a name in turn.
pub fn connect(endpoint: &Endpoint, deadline: &Deadline) -> Result<Socket, Failure> {
    let (host, port) = match endpoint {
        Endpoint::Unix(path) => {
            return UnixStream::connect(path).map(Socket::Unix).map_err(|e| {
                Failure::new(
                    FailureKind::Connect,
                    format!("cannot connect to {}: {e}", path.display()),
                )
            });
        }
        Endpoint::Tcp { host, port } => (host, *port),
    };
    let addrs = match host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Host::Name(name) => resolve(name, port, deadline)?,
    };
    let mut last = None;
    for addr in &addrs {
        let what = format!("connecting to {endpoint}");
        match TcpStream::connect_timeout(addr, deadline.remaining(&what)?) {
            Ok(stream) => {
                // One small request and one reply: no reason to batch.
                let _ = stream.set_nodelay(true);
                return Ok(Socket::Tcp(stream));
            }
            Err(e) => last = Some((*addr, e)),
        }
    }
    let Some((addr, e)) = last else {
        return Err(Failure::new(
            FailureKind::Connect,
            format!("{endpoint} has no address"),
        ));
    };
    if is_timeout(&e) {
        deadline.remaining(&format!("connecting to {endpoint}"))?;
        return Err(Failure::new(
            FailureKind::Timeout,
            format!("connecting to {addr} timed out"),
        ));
    }
    let hint = if e.kind() == io::ErrorKind::ConnectionRefused {
        " (is the server running and listening there?)"
    } else {
        ""
    };
    Err(Failure::new(
        FailureKind::Connect,
        format!("cannot connect to {addr}: {e}{hint}"),
    ))
}

/// How a TLS handshake ended badly, before the caller adds what it knows
/// about certificates.
pub enum HandshakeFailure {
    /// The handshake itself failed, with what the session knew by then:
    /// the verification result and the server's certificate, if it came.
    Failed {
        failure: Failure,
        verify_result: X509VerifyResult,
        peer: Option<X509>,
    },
    /// Setup, timeout or lost connection: nothing more to learn.
    Other(Failure),
}

/// Runs the client handshake to completion or to the deadline.
pub fn handshake(
    ssl: Ssl,
    socket: Socket,
    deadline: &Deadline,
) -> Result<SslStream<Socket>, HandshakeFailure> {
    const WHAT: &str = "in the TLS handshake";
    socket
        .bound_by(deadline, WHAT)
        .map_err(HandshakeFailure::Other)?;
    let mut attempt = ssl.connect(socket);
    loop {
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(HandshakeError::SetupFailure(stack)) => {
                return Err(HandshakeFailure::Other(Failure::new(
                    FailureKind::Handshake,
                    format!("cannot set up TLS: {}", describe_openssl(&stack)),
                )));
            }
            Err(HandshakeError::WouldBlock(mid)) => {
                // The socket timeout expired: go on only while time is left.
                mid.get_ref()
                    .bound_by(deadline, WHAT)
                    .map_err(HandshakeFailure::Other)?;
                attempt = mid.handshake();
            }
            Err(HandshakeError::Failure(mid)) => {
                return Err(HandshakeFailure::Failed {
                    failure: describe_ssl_error(mid.error(), "during the TLS handshake"),
                    verify_result: mid.ssl().verify_result(),
                    // OpenSSL keeps the server's certificate as "the
                    // peer's" only once it verified; the chain it was sent,
                    // leaf first, stays readable after a failure.
                    peer: mid.ssl().peer_certificate().or_else(|| {
                        mid.ssl()
                            .peer_cert_chain()
                            .and_then(|chain| chain.get(0).map(|leaf| leaf.to_owned()))
                    }),
                });
            }
        }
    }
}

/// Turns an OpenSSL I/O error into a failure: the peer hanging up is
/// "closed", an OpenSSL reason is a handshake failure with that reason.
fn describe_ssl_error(e: &openssl::ssl::Error, when: &str) -> Failure {
    if let Some(io) = e.io_error() {
        if is_timeout(io) {
            return Failure::new(FailureKind::Timeout, format!("timed out {when}"));
        }
        if is_hang_up(io) {
            return Failure::new(
                FailureKind::Closed,
                format!("the server closed the connection {when} ({io})"),
            );
        }
        return Failure::new(
            FailureKind::Connect,
            format!("connection lost {when}: {io}"),
        );
    }
    match (e.code(), e.ssl_error()) {
        (ErrorCode::SSL, Some(stack)) => {
            let reason = describe_openssl(stack);
            // OpenSSL 3 names a hang-up without close_notify this way.
            if reason.contains("unexpected eof") {
                Failure::new(
                    FailureKind::Closed,
                    format!("the server closed the connection {when}"),
                )
            } else {
                Failure::new(
                    FailureKind::Handshake,
                    format!("TLS error {when}: {reason}"),
                )
            }
        }
        (ErrorCode::ZERO_RETURN, _) | (ErrorCode::SYSCALL, _) => Failure::new(
            FailureKind::Closed,
            format!("the server closed the connection {when}"),
        ),
        (code, _) => Failure::new(
            FailureKind::Handshake,
            format!("TLS error {when} (OpenSSL error code {code:?})"),
        ),
    }
}

/// A connection ready for the `hello`: plaintext or TLS.
pub enum Conn {
    Plain(Socket),
    Tls(Box<SslStream<Socket>>),
}

impl Conn {
    fn socket(&self) -> &Socket {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }

    /// Writes all of `bytes` before the deadline.
    pub fn write_all(&mut self, mut bytes: &[u8], deadline: &Deadline) -> Result<(), Failure> {
        const WHAT: &str = "sending hello";
        while !bytes.is_empty() {
            self.socket().bound_by(deadline, WHAT)?;
            let written = match self {
                Conn::Plain(s) => match s.write(bytes) {
                    Ok(0) => Err(Failure::new(
                        FailureKind::Closed,
                        "the server closed the connection while hello was sent",
                    )),
                    Ok(n) => Ok(n),
                    Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(0),
                    Err(e) if is_hang_up(&e) => Err(Failure::new(
                        FailureKind::Closed,
                        format!("the server closed the connection while hello was sent ({e})"),
                    )),
                    Err(e) => Err(Failure::new(
                        FailureKind::Connect,
                        format!("connection lost {WHAT}: {e}"),
                    )),
                },
                Conn::Tls(s) => match s.ssl_write(bytes) {
                    Ok(n) => Ok(n),
                    Err(e) if is_retry(&e) => Ok(0),
                    Err(e) => Err(describe_ssl_error(&e, "while hello was sent")),
                },
            }?;
            bytes = &bytes[written..];
        }
        Ok(())
    }

    /// Fills `buf` before the deadline; the peer closing first is a
    /// `Closed` failure.
    pub fn read_exact(&mut self, buf: &mut [u8], deadline: &Deadline) -> Result<(), Failure> {
        const WHAT: &str = "waiting for the reply to hello";
        let closed = || {
            Failure::new(
                FailureKind::Closed,
                "the server closed the connection without answering hello",
            )
        };
        let mut filled = 0;
        while filled < buf.len() {
            self.socket().bound_by(deadline, WHAT)?;
            let got = match self {
                Conn::Plain(s) => match s.read(&mut buf[filled..]) {
                    Ok(0) => Err(closed()),
                    Ok(n) => Ok(n),
                    Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(0),
                    Err(e) if is_hang_up(&e) => Err(closed()),
                    Err(e) => Err(Failure::new(
                        FailureKind::Connect,
                        format!("connection lost {WHAT}: {e}"),
                    )),
                },
                Conn::Tls(s) => match s.ssl_read(&mut buf[filled..]) {
                    Ok(0) => Err(closed()),
                    Ok(n) => Ok(n),
                    Err(e) if is_retry(&e) => Ok(0),
                    Err(e) => match describe_ssl_error(&e, "before answering hello") {
                        failure if failure.kind == FailureKind::Closed => Err(closed()),
                        failure => Err(failure),
                    },
                },
            }?;
            filled += got;
        }
        Ok(())
    }

    /// Ends politely: a TLS close_notify (not waiting for the answer).
    pub fn close(self) {
        if let Conn::Tls(mut s) = self {
            let _ = s.shutdown();
        }
    }
}

/// A blocking TLS read or write that only ran into the socket timeout
/// (or a signal): try again while the deadline allows.
fn is_retry(e: &openssl::ssl::Error) -> bool {
    matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE)
        && e.io_error()
            .is_none_or(|io| is_timeout(io) || io.kind() == io::ErrorKind::Interrupted)
}
