//! Fuzzes the inbound PROXY header parser (v1 and v2, as a trusted
//! balancer sends them) and checks its invariants: it decides within
//! `MAX_LEN` bytes, a header never claims bytes it was not given, a cut
//! header is incomplete, and a header mongossl builds reads back the same.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use mongossl::config::ProxyProtocol;
use mongossl::proxy::header_in::{MAX_LEN, Parsed, parse};
use mongossl::proxy::header_out::{self, Facts};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Parsed::Header { len, addresses } => {
            assert!(len <= data.len() && len <= MAX_LEN);
            assert_eq!(
                parse(&data[..len]),
                Parsed::Header { len, addresses },
                "the header alone reads the same"
            );
            if len > 1 {
                assert_eq!(parse(&data[..len - 1]), Parsed::Incomplete);
            }
        }
        Parsed::Incomplete => assert!(data.len() < MAX_LEN, "undecided after {MAX_LEN} bytes"),
        Parsed::Invalid(why) => assert!(!why.is_empty()),
    }
    // Addresses and ports from the input, through mongossl's own builder.
    if data.len() >= 12 {
        let ip4 = |b: &[u8]| {
            SocketAddr::from(([b[0], b[1], b[2], b[3]], u16::from_be_bytes([b[4], b[5]])))
        };
        let (source, destination) = (ip4(&data[..6]), ip4(&data[6..12]));
        for version in [ProxyProtocol::V1, ProxyProtocol::V2] {
            let facts = Facts {
                source,
                destination,
                id: 1,
                tls: None,
            };
            let header = header_out::build(version, &facts)
                .expect("fits")
                .expect("a header");
            assert_eq!(
                parse(&header),
                Parsed::Header {
                    len: header.len(),
                    addresses: Some((source, destination))
                }
            );
        }
    }
});
