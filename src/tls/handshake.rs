//! Non-blocking TLS handshakes over any transport: a server accepting a
//! client (then judged by the `PeerPolicy` fixed when it was accepted),
//! and the tunnel's client connecting to a server (SNI and host name
//! verification as the mongo shell does). Each call to `resume` goes as
//! far as the transport allows and hands the handshake back when it must
//! wait, so the event loop never blocks on it. And why one failed, in
//! words an operator searches for.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::Arc;

use openssl::error::ErrorStack;
use openssl::ssl::{Ssl, SslContext, SslStream};
use openssl::x509::X509VerifyResult;

use super::client::ClientContext;
use super::pem::describe_name;
use super::policy::{PeerPolicy, PeerVerdict};
use super::revocation::Question;
use super::server::ServerContext;
use super::stream::{Io, TlsStream, classify_ssl_error};
use crate::error::describe_openssl;
use crate::wire::{self, FirstBytes};

/// A server-side handshake in progress.
pub struct Accepting<S> {
    stream: SslStream<S>,
    policy: Arc<PeerPolicy>,
}

/// Where a server-side handshake stands after `resume`.
pub enum Accepted<S> {
    /// Waiting for the transport.
    Blocked(Accepting<S>),
    /// It failed: the outcome (an EOF or OpenSSL's reason) and the
    /// handshake, whose transport still knows the client's first bytes.
    Failed(Io, Accepting<S>),
    /// Done; what the peer policy says of the client, and the OCSP
    /// question whose answer the verdict still waits for, if any.
    Done(TlsStream<S>, PeerVerdict, Option<Question>),
}

impl<S: Read + Write> Accepting<S> {
    pub fn new(context: &ServerContext, transport: S) -> Result<Accepting<S>, String> {
        let stream = Ssl::new(context.ssl_context())
            .and_then(|ssl| SslStream::new(ssl, transport))
            .map_err(|e| format!("cannot start SSL: {}", describe_openssl(&e)))?;
        Ok(Accepting {
            stream,
            policy: context.policy(),
        })
    }

    pub fn get_ref(&self) -> &S {
        self.stream.get_ref()
    }

    pub fn resume(mut self) -> Accepted<S> {
        if let Err(e) = self.stream.accept() {
            return match classify_ssl_error(&e) {
                Io::WantRead | Io::WantWrite => Accepted::Blocked(self),
                outcome => Accepted::Failed(outcome, self),
            };
        }
        let (verdict, question) = self.policy.judge_handshake(self.stream.ssl());
        Accepted::Done(TlsStream::new(self.stream), verdict, question)
    }
}

/// A client's `Ssl` for one connection to `host` (`None`: a unix socket,
/// which has no name): SNI for DNS names, and with `verify_hostname` the
/// DNS name or IP address the server certificate must carry. The tunnel
/// and `mongossl check` both start their connections here.
pub fn client_ssl(
    context: &SslContext,
    host: Option<&str>,
    verify_hostname: bool,
) -> Result<Ssl, ErrorStack> {
    let mut ssl = Ssl::new(context)?;
    match host.map(|h| (h, h.parse::<IpAddr>())) {
        None => {}
        Some((_, Ok(ip))) if verify_hostname => ssl.param_mut().set_ip(ip)?,
        Some((_, Ok(_))) => {}
        Some((name, Err(_))) => {
            ssl.set_hostname(name)?;
            if verify_hostname {
                ssl.param_mut().set_host(name)?;
            }
        }
    }
    Ok(ssl)
}

/// A client-side handshake in progress (the tunnel role).
pub struct Connecting<S>(SslStream<S>);

/// Where a client-side handshake stands after `resume`.
pub enum Connected<S> {
    Blocked(Connecting<S>),
    /// It failed; why, with the certificate verification error if any.
    Failed(String),
    /// Done; the subject of the server's certificate ("none" without one).
    Done(TlsStream<S>, String),
}

impl<S: Read + Write> Connecting<S> {
    /// Prepares the client side: SNI for DNS names, and the host name (or
    /// IP) the server certificate must carry.
    pub fn new(context: &ClientContext, transport: S) -> Result<Connecting<S>, String> {
        let host = context.host();
        let ssl = client_ssl(context.ssl_context(), Some(host), context.verify_hostname())
            .map_err(|e| {
                format!(
                    "cannot set the server name {host}: {}",
                    describe_openssl(&e)
                )
            })?;
        SslStream::new(ssl, transport)
            .map(Connecting)
            .map_err(|e| format!("cannot start SSL: {}", describe_openssl(&e)))
    }

    pub fn resume(mut self) -> Connected<S> {
        if let Err(e) = self.0.connect() {
            return match classify_ssl_error(&e) {
                Io::WantRead | Io::WantWrite => Connected::Blocked(self),
                outcome => {
                    let verify = self.0.ssl().verify_result();
                    let detail = if verify == X509VerifyResult::OK {
                        String::new()
                    } else {
                        format!(" ({})", verify.error_string())
                    };
                    let why = match outcome {
                        Io::Failed(why) => why,
                        _ => "the server closed the connection".into(),
                    };
                    Connected::Failed(format!("{why}{detail}"))
                }
            };
        }
        let subject = self
            .0
            .ssl()
            .peer_certificate()
            .map(|c| describe_name(c.subject_name()))
            .unwrap_or_else(|| "none".into());
        Connected::Done(TlsStream::new(self.0), subject)
    }
}

/// Why a handshake failed, in words an operator searches for.
pub fn describe_failure(first_bytes: &[u8], outcome: Io) -> String {
    match wire::classify_first_bytes(first_bytes) {
        FirstBytes::Http => {
            return "SSL handshake failed: an HTTP request on the MongoDB SSL port".into();
        }
        FirstBytes::Plaintext => {
            return "SSL handshake failed: The server is configured to only allow SSL connections"
                .into();
        }
        FirstBytes::SslV2 => {
            return "SSL handshake failed: an SSLv2-format hello (SSLv2 and SSLv3 are not supported)"
                .into();
        }
        FirstBytes::Tls | FirstBytes::TooShort => {}
    }
    match outcome {
        Io::Eof { .. } => "SSL handshake failed: the client closed the connection".into(),
        Io::Failed(why) => format!("SSL handshake failed: {why}"),
        other => format!("SSL handshake failed: {other:?}"),
    }
}
