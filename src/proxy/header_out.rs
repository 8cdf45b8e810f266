//! The PROXY header mongossl sends upstream before the client's first
//! byte (`--upstreamProxyProtocol`), per HAProxy's PROXY protocol
//! specification: v1's text line, or v2's binary header with the TLVs
//! that carry the client's TLS facts and X.509 identity to mongod.

use std::net::{IpAddr, SocketAddr};

use ppp::v2::{Builder, Command, Protocol, Type, Version};

use crate::config::ProxyProtocol;
use crate::tls::TlsFacts;

/// `PP2_CLIENT_SSL`: the client connected over TLS.
pub const PP2_CLIENT_SSL: u8 = 0x01;
/// `PP2_CLIENT_CERT_CONN`: it presented a certificate on this connection.
pub const PP2_CLIENT_CERT_CONN: u8 = 0x02;
/// `PP2_CLIENT_CERT_SESS`: ... and in the TLS session it belongs to.
pub const PP2_CLIENT_CERT_SESS: u8 = 0x04;
/// MongoDB's TLV: the client certificate's subject, RFC 4514.
pub const PP2_TYPE_MONGODB_SUBJECT: u8 = 0xE0;
/// MongoDB's TLV: the DER of the certificate's MongoDB roles extension.
pub const PP2_TYPE_MONGODB_ROLES: u8 = 0xE1;
/// The `verify` field when no certificate was presented (non-zero per the
/// specification; OpenSSL's `X509_V_ERR_UNSPECIFIED`).
const VERIFY_NO_CERTIFICATE: u32 = 1;

/// What one header says.
pub struct Facts<'a> {
    /// The client (source) and the address it connected to (destination).
    pub source: SocketAddr,
    pub destination: SocketAddr,
    /// mongossl's connection id (`PP2_TYPE_UNIQUE_ID`).
    pub id: u64,
    /// `None` for a plaintext client.
    pub tls: Option<&'a TlsFacts>,
}

/// The header bytes, or `None` for `--upstreamProxyProtocol none`; an
/// error only for a header too large for v2's 16-bit length.
pub fn build(version: ProxyProtocol, facts: &Facts) -> Result<Option<Vec<u8>>, String> {
    let (source, destination) = same_family(facts.source, facts.destination);
    match version {
        ProxyProtocol::None => Ok(None),
        ProxyProtocol::V1 => Ok(Some(v1(source, destination))),
        ProxyProtocol::V2 => v2(source, destination, facts).map(Some),
    }
}

/// Both addresses in one family: an IPv4 one beside an IPv6 one is
/// written IPv4-mapped, as the header has one family for both.
fn same_family(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    let mapped = |s: SocketAddr| match s.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), s.port()),
        IpAddr::V6(_) => s,
    };
    if a.is_ipv4() == b.is_ipv4() {
        (a, b)
    } else {
        (mapped(a), mapped(b))
    }
}

fn v1(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        source.ip(),
        destination.ip(),
        source.port(),
        destination.port()
    )
    .into_bytes()
}

fn v2(source: SocketAddr, destination: SocketAddr, facts: &Facts) -> Result<Vec<u8>, String> {
    let too_large = |e: std::io::Error| format!("the PROXY v2 header does not fit: {e}");
    let mut header = Builder::with_addresses(
        Version::Two | Command::Proxy,
        Protocol::Stream,
        (source, destination),
    );
    if let Some(tls) = facts.tls {
        if let Some(name) = &tls.server_name {
            header = header
                .write_tlv(Type::Authority, name.as_bytes())
                .map_err(too_large)?;
        }
        if let Some(alpn) = &tls.alpn {
            header = header.write_tlv(Type::ALPN, alpn).map_err(too_large)?;
        }
    }
    header = header
        .write_tlv(Type::UniqueId, facts.id.to_string().as_bytes())
        .map_err(too_large)?;
    if let Some(tls) = facts.tls {
        header = header
            .write_tlv(Type::SSL, &ssl_value(tls)?)
            .map_err(too_large)?;
        if let Some(cert) = &tls.certificate {
            header = header
                .write_tlv(PP2_TYPE_MONGODB_SUBJECT, cert.subject.as_bytes())
                .map_err(too_large)?;
            if let Some(roles) = &cert.mongodb_roles {
                header = header
                    .write_tlv(PP2_TYPE_MONGODB_ROLES, roles)
                    .map_err(too_large)?;
            }
        }
    }
    header.build().map_err(too_large)
}

/// `PP2_TYPE_SSL`'s value: the client flags, the verify result, then the
/// sub-TLVs.
fn ssl_value(tls: &TlsFacts) -> Result<Vec<u8>, String> {
    let (client, verify) = match &tls.certificate {
        Some(cert) => (
            PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS,
            cert.verify_result,
        ),
        None => (PP2_CLIENT_SSL, VERIFY_NO_CERTIFICATE),
    };
    let mut value = vec![client];
    value.extend_from_slice(&verify.to_be_bytes());
    sub_tlv(&mut value, Type::SSLVersion, tls.version.as_bytes())?;
    if let Some(cn) = tls
        .certificate
        .as_ref()
        .and_then(|c| c.common_name.as_ref())
    {
        sub_tlv(&mut value, Type::SSLCommonName, cn.as_bytes())?;
    }
    sub_tlv(&mut value, Type::SSLCipher, tls.cipher.as_bytes())?;
    if let Some(cert) = &tls.certificate {
        sub_tlv(
            &mut value,
            Type::SSLSignatureAlgorithm,
            cert.signature_algorithm.as_bytes(),
        )?;
        sub_tlv(
            &mut value,
            Type::SSLKeyAlgorithm,
            cert.key_algorithm.as_bytes(),
        )?;
    }
    Ok(value)
}

/// One sub-TLV: type, 16-bit big-endian length, value.
fn sub_tlv(out: &mut Vec<u8>, kind: Type, value: &[u8]) -> Result<(), String> {
    let len = u16::try_from(value.len())
        .map_err(|_| format!("a PROXY v2 TLV of {} bytes does not fit", value.len()))?;
    out.push(kind as u8);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
#[path = "header_out_tests.rs"]
mod build_tests;
