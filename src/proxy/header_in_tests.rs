//! The inbound PROXY header parser: v1 and v2, every split point,
//! LOCAL and UNKNOWN, and the malformed headers it must refuse.

use super::*;
use crate::config::ProxyProtocol;
use crate::proxy::header_out::{self, Facts};

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

/// Headers as mongossl itself sends them, so the two ends agree.
fn sent(version: ProxyProtocol, source: &str, destination: &str) -> Vec<u8> {
    let facts = Facts {
        source: addr(source),
        destination: addr(destination),
        id: 9,
        tls: None,
    };
    header_out::build(version, &facts)
        .expect("fits")
        .expect("a header")
}

#[test]
fn every_split_point_reads_the_same_header() {
    for version in [ProxyProtocol::V1, ProxyProtocol::V2] {
        for (source, destination) in [
            ("192.0.2.7:51234", "10.0.0.1:27017"),
            ("[2001:db8::7]:51234", "[2001:db8::1]:27017"),
        ] {
            let mut bytes = sent(version, source, destination);
            let len = bytes.len();
            bytes.extend_from_slice(b"\x16\x03\x01 the ClientHello follows");
            for cut in 1..len {
                assert_eq!(
                    parse(&bytes[..cut]),
                    Parsed::Incomplete,
                    "{version:?} cut {cut}"
                );
            }
            assert_eq!(
                parse(&bytes),
                Parsed::Header {
                    len,
                    addresses: Some((addr(source), addr(destination)))
                },
                "{version:?}"
            );
        }
    }
}

#[test]
fn local_and_unknown_keep_the_real_peer() {
    let mut local = v2::PROTOCOL_PREFIX.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    assert_eq!(
        parse(&local),
        Parsed::Header {
            len: 16,
            addresses: None
        }
    );
    assert_eq!(
        parse(b"PROXY UNKNOWN\r\n"),
        Parsed::Header {
            len: 15,
            addresses: None
        }
    );
}

#[test]
fn malformed_headers_are_refused_with_a_reason() {
    let mut too_long_v2 = v2::PROTOCOL_PREFIX.to_vec();
    too_long_v2.extend_from_slice(&[0x21, 0x11, 0xFF, 0xFF]);
    let mut bad_version = v2::PROTOCOL_PREFIX.to_vec();
    bad_version.extend_from_slice(&[0x31, 0x11, 0x00, 0x0C]);
    bad_version.extend_from_slice(&[0; 12]);
    let mut bad_family = v2::PROTOCOL_PREFIX.to_vec();
    bad_family.extend_from_slice(&[0x21, 0x41, 0x00, 0x00]);
    let mut short_addresses = v2::PROTOCOL_PREFIX.to_vec();
    short_addresses.extend_from_slice(&[0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]);
    let mut unix = v2::PROTOCOL_PREFIX.to_vec();
    unix.extend_from_slice(&[0x21, 0x31, 0x00, 0xD8]);
    unix.extend_from_slice(&[0; 216]);
    let mut udp = v2::PROTOCOL_PREFIX.to_vec();
    udp.extend_from_slice(&[0x21, 0x12, 0x00, 0x0C]);
    udp.extend_from_slice(&[0; 12]);
    let long_v1 = format!("PROXY TCP4 {}\r\n", "1".repeat(120));
    for (bytes, needle) in [
        (&b"\x16\x03\x01\x00\x05hello"[..], "did not begin"),
        (&too_long_v2[..], "more than"),
        (&bad_version[..], "malformed"),
        (&bad_family[..], "malformed"),
        (&short_addresses[..], "malformed"),
        (&unix[..], "unix-socket"),
        (&udp[..], "not a stream"),
        (long_v1.as_bytes(), "longer than 107"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n", "malformed"),
        (b"PROXY TCP9 1.2.3.4 5.6.7.8 1 1\r\n", "malformed"),
        (b"PROXY TCP4 1.2.3.4\r\n", "malformed"),
    ] {
        match parse(bytes) {
            Parsed::Invalid(why) => assert!(why.contains(needle), "{bytes:?}: {why}"),
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
}

#[test]
fn signatures_are_recognised_from_the_first_byte() {
    assert!(looks_like_a_header(b"PROXY TCP4"));
    assert!(looks_like_a_header(b"PRO"));
    assert!(looks_like_a_header(b"\r\n\r\n\0\r\nQUIT\n\x21"));
    assert!(!looks_like_a_header(b"\x16\x03\x01"));
    assert!(!looks_like_a_header(b""));
    assert!(!looks_like_a_header(b"PROXYX"));
}
