//! The PROXY header (v1 or v2) that a trusted load balancer sends before
//! the client's first byte (`--proxyProtocolFrom`): recognised by its
//! signature, bounded in size, parsed by the `ppp` crate once complete,
//! however the bytes were split across reads.

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;

use ppp::v2::{self, Command, Protocol};

use crate::config::{Network, ProxyProtocol};

/// The PROXY protocol, both ways: the header sent to mongod, and the
/// balancers whose connections begin with one.
#[derive(Clone, Debug, Default)]
pub struct ProxyProtocolSettings {
    pub upstream: ProxyProtocol,
    pub trusted: Vec<Network>,
}

impl ProxyProtocolSettings {
    pub(super) fn trusts(&self, peer: SocketAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(peer.ip()))
    }
}

/// v1's longest line, `\r\n` included (the specification's 107 bytes).
pub const V1_MAX: usize = 107;
/// The TLV space mongossl takes in a v2 header: a balancer's TLVs (AWS
/// NLB's VPC endpoint id, a CRC, an SNI) are well under it.
pub const V2_MAX_TLV: usize = 4096;
/// The most bytes a header can take (a v2 header with its addresses).
pub const MAX_LEN: usize = 16 + 216 + V2_MAX_TLV;

const V1_SIGNATURE: &[u8] = b"PROXY ";
const V2_SIGNATURE: &[u8] = v2::PROTOCOL_PREFIX;

/// What the bytes so far amount to.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A header may still complete: read more.
    Incomplete,
    /// A header of `len` bytes. `addresses` are the client (source) and
    /// the address it connected to (destination); `None` for a v2 `LOCAL`
    /// command (the balancer's own health check) or v1 `UNKNOWN`, which
    /// keep the real peer's address.
    Header {
        len: usize,
        addresses: Option<(SocketAddr, SocketAddr)>,
    },
    /// Not a header mongossl takes, and why.
    Invalid(String),
}

/// Where reading a header off a socket got to.
#[derive(Debug, PartialEq, Eq)]
pub enum Reading {
    /// The socket has nothing more now: wait for it.
    Blocked,
    /// A complete header (see `Parsed::Header`); bytes past `len` are the
    /// client's.
    Header {
        len: usize,
        addresses: Option<(SocketAddr, SocketAddr)>,
    },
    /// Not a header mongossl takes, and why.
    Invalid(String),
    /// The connection ended or failed first.
    Failed(String),
}

/// Reads from `socket` into `bytes` until they hold a header (or cannot).
/// It may read past the header: the caller replays the rest.
pub fn read(socket: &mut impl Read, bytes: &mut Vec<u8>) -> Reading {
    let mut chunk = [0u8; 512];
    loop {
        match parse(bytes) {
            Parsed::Incomplete => {}
            Parsed::Header { len, addresses } => return Reading::Header { len, addresses },
            Parsed::Invalid(why) => return Reading::Invalid(why),
        }
        let room = MAX_LEN.saturating_sub(bytes.len()).min(chunk.len());
        match socket.read(&mut chunk[..room]) {
            Ok(0) => {
                return Reading::Failed(
                    "the balancer closed the connection before its PROXY header ended".into(),
                );
            }
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Reading::Blocked,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Reading::Failed(format!("client error: {e}")),
        }
    }
}

/// Whether bytes begin the way a PROXY header does (as far as they go).
pub fn looks_like_a_header(bytes: &[u8]) -> bool {
    let starts = |signature: &[u8]| {
        let n = bytes.len().min(signature.len());
        n > 0 && bytes[..n] == signature[..n]
    };
    starts(V1_SIGNATURE) || starts(V2_SIGNATURE)
}

/// Reads a header off the front of `bytes`.
pub fn parse(bytes: &[u8]) -> Parsed {
    let starts = |signature: &[u8]| {
        let n = bytes.len().min(signature.len());
        bytes[..n] == signature[..n]
    };
    if bytes.is_empty() {
        Parsed::Incomplete
    } else if starts(V2_SIGNATURE) {
        parse_v2(bytes)
    } else if starts(V1_SIGNATURE) {
        parse_v1(bytes)
    } else {
        Parsed::Invalid("the connection did not begin with a PROXY header".into())
    }
}

fn parse_v1(bytes: &[u8]) -> Parsed {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if bytes.len() >= V1_MAX {
            Parsed::Invalid(format!("a PROXY v1 header longer than {V1_MAX} bytes"))
        } else {
            Parsed::Incomplete
        };
    };
    let len = end + 2;
    match ppp::v1::Header::try_from(&bytes[..len]) {
        Ok(header) => {
            let addresses = match header.addresses {
                ppp::v1::Addresses::Tcp4(a) => Some((
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                )),
                ppp::v1::Addresses::Tcp6(a) => Some((
                    SocketAddr::from((a.source_address, a.source_port)),
                    SocketAddr::from((a.destination_address, a.destination_port)),
                )),
                ppp::v1::Addresses::Unknown => None,
            };
            Parsed::Header { len, addresses }
        }
        Err(e) => Parsed::Invalid(format!("a malformed PROXY v1 header: {e}")),
    }
}

fn parse_v2(bytes: &[u8]) -> Parsed {
    if bytes.len() < 16 {
        return Parsed::Incomplete;
    }
    let tail = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    let len = 16 + tail;
    if len > MAX_LEN {
        return Parsed::Invalid(format!(
            "a PROXY v2 header of {len} bytes (more than the {MAX_LEN} mongossl takes)"
        ));
    }
    if bytes.len() < len {
        return Parsed::Incomplete;
    }
    let header = match v2::Header::try_from(&bytes[..len]) {
        Ok(header) => header,
        Err(e) => return Parsed::Invalid(format!("a malformed PROXY v2 header: {e}")),
    };
    if header.command == Command::Local {
        return Parsed::Header {
            len,
            addresses: None,
        };
    }
    let addresses = match header.addresses {
        v2::Addresses::IPv4(a) => (
            SocketAddr::from((a.source_address, a.source_port)),
            SocketAddr::from((a.destination_address, a.destination_port)),
        ),
        v2::Addresses::IPv6(a) => (
            SocketAddr::from((a.source_address, a.source_port)),
            SocketAddr::from((a.destination_address, a.destination_port)),
        ),
        v2::Addresses::Unspecified => {
            return Parsed::Header {
                len,
                addresses: None,
            };
        }
        v2::Addresses::Unix(_) => {
            return Parsed::Invalid(
                "a PROXY v2 header for a unix-socket client (mongossl takes TCP clients)".into(),
            );
        }
    };
    if header.protocol != Protocol::Stream {
        return Parsed::Invalid(format!(
            "a PROXY v2 header for a {:?} (not a stream) connection",
            header.protocol
        ));
    }
    Parsed::Header {
        len,
        addresses: Some(addresses),
    }
}

#[cfg(test)]
#[path = "header_in_tests.rs"]
mod parse_tests;
