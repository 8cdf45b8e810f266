//! Byte-exact checks of the PROXY headers mongossl sends (v1 text, v2
//! binary with every TLV), decoded back with the `ppp` parser and by hand.

use super::*;
use crate::tls::facts::ClientCertificate;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

fn tls(certificate: Option<ClientCertificate>) -> TlsFacts {
    TlsFacts {
        version: "TLSv1.3",
        cipher: "TLS_AES_256_GCM_SHA384",
        server_name: Some("db.example.net".into()),
        alpn: None,
        certificate,
    }
}

fn client_certificate() -> ClientCertificate {
    ClientCertificate {
        verify_result: 0,
        common_name: Some("client".into()),
        subject: "CN=client,OU=Kernel,O=MongoDB,L=New York City,ST=New York,C=US".into(),
        issuer: "CN=ca".into(),
        serial: "01".into(),
        signature_algorithm: "ecdsa-with-SHA256".into(),
        key_algorithm: "EC256".into(),
        mongodb_roles: Some(vec![0x31, 0x03, 0x04, 0x01, 0x61]),
    }
}

/// The TLVs of a v2 header as (type, value), read by hand.
fn tlvs(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
        out.push((bytes[0], bytes[3..3 + len].to_vec()));
        bytes = &bytes[3 + len..];
    }
    assert!(bytes.is_empty(), "trailing bytes {bytes:?}");
    out
}

#[test]
fn v1_is_the_text_line() {
    let facts = Facts {
        source: addr("192.0.2.7:51234"),
        destination: addr("127.0.0.1:27017"),
        id: 3,
        tls: None,
    };
    let header = build(ProxyProtocol::V1, &facts).expect("fits").expect("v1");
    assert_eq!(header, b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 27017\r\n");
    let facts = Facts {
        source: addr("[2001:db8::1]:40000"),
        destination: addr("[::1]:27017"),
        ..facts
    };
    let header = build(ProxyProtocol::V1, &facts).expect("fits").expect("v1");
    assert_eq!(header, b"PROXY TCP6 2001:db8::1 ::1 40000 27017\r\n");
    let mixed = Facts {
        source: addr("192.0.2.7:1"),
        destination: addr("[::1]:2"),
        ..facts
    };
    let header = build(ProxyProtocol::V1, &mixed).expect("fits").expect("v1");
    assert_eq!(header, b"PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n");
    assert_eq!(build(ProxyProtocol::None, &mixed), Ok(None));
}

#[test]
fn v2_carries_addresses_and_every_tlv() {
    let facts_tls = tls(Some(client_certificate()));
    let facts = Facts {
        source: addr("192.0.2.7:51234"),
        destination: addr("127.0.0.1:27017"),
        id: 42,
        tls: Some(&facts_tls),
    };
    let header = build(ProxyProtocol::V2, &facts).expect("fits").expect("v2");
    assert_eq!(&header[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!(header[12], 0x21, "version 2, PROXY");
    assert_eq!(header[13], 0x11, "TCP over IPv4");
    let len = usize::from(u16::from_be_bytes([header[14], header[15]]));
    assert_eq!(header.len(), 16 + len);
    assert_eq!(&header[16..20], &[192, 0, 2, 7]);
    assert_eq!(&header[20..24], &[127, 0, 0, 1]);
    assert_eq!(&header[24..26], &51234u16.to_be_bytes());
    assert_eq!(&header[26..28], &27017u16.to_be_bytes());
    let found = tlvs(&header[28..]);
    let kinds: Vec<u8> = found.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [0x02, 0x05, 0x20, 0xE0, 0xE1]);
    assert_eq!(found[0].1, b"db.example.net");
    assert_eq!(found[1].1, b"42");
    let ssl = &found[2].1;
    assert_eq!(ssl[0], 0x07, "SSL, cert on connection and session");
    assert_eq!(&ssl[1..5], &[0, 0, 0, 0], "verified");
    let subs = tlvs(&ssl[5..]);
    assert_eq!(
        subs,
        [
            (0x21, b"TLSv1.3".to_vec()),
            (0x22, b"client".to_vec()),
            (0x23, b"TLS_AES_256_GCM_SHA384".to_vec()),
            (0x24, b"ecdsa-with-SHA256".to_vec()),
            (0x25, b"EC256".to_vec()),
        ]
    );
    assert_eq!(
        found[3].1,
        b"CN=client,OU=Kernel,O=MongoDB,L=New York City,ST=New York,C=US"
    );
    assert_eq!(found[4].1, [0x31, 0x03, 0x04, 0x01, 0x61]);
    // An independent parser reads the same header.
    let parsed = ppp::v2::Header::try_from(&header[..]).expect("ppp parses it");
    assert_eq!(parsed.len(), header.len());
    assert_eq!(parsed.tlvs().count(), 5);
}

#[test]
fn v2_without_certificate_or_tls() {
    let facts_tls = TlsFacts {
        alpn: Some(b"mongodb".to_vec()),
        server_name: None,
        ..tls(None)
    };
    let facts = Facts {
        source: addr("[2001:db8::1]:40000"),
        destination: addr("[::1]:27017"),
        id: 7,
        tls: Some(&facts_tls),
    };
    let header = build(ProxyProtocol::V2, &facts).expect("fits").expect("v2");
    assert_eq!(header[13], 0x21, "TCP over IPv6");
    let found = tlvs(&header[16 + 36..]);
    let kinds: Vec<u8> = found.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [0x01, 0x05, 0x20],
        "no subject or roles without a certificate"
    );
    assert_eq!(found[0].1, b"mongodb");
    let ssl = &found[2].1;
    assert_eq!(ssl[0], PP2_CLIENT_SSL);
    assert_ne!(&ssl[1..5], &[0, 0, 0, 0], "nothing was verified");
    let subs: Vec<u8> = tlvs(&ssl[5..]).iter().map(|(k, _)| *k).collect();
    assert_eq!(subs, [0x21, 0x23]);

    let plain = Facts { tls: None, ..facts };
    let header = build(ProxyProtocol::V2, &plain).expect("fits").expect("v2");
    let kinds: Vec<u8> = tlvs(&header[16 + 36..]).iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [0x05], "a plaintext client: no SSL TLV");
}

#[test]
fn a_certificate_let_in_invalid_says_so() {
    let facts_tls = tls(Some(ClientCertificate {
        verify_result: 20,
        ..client_certificate()
    }));
    let facts = Facts {
        source: addr("192.0.2.7:1"),
        destination: addr("127.0.0.1:2"),
        id: 1,
        tls: Some(&facts_tls),
    };
    let header = build(ProxyProtocol::V2, &facts).expect("fits").expect("v2");
    let found = tlvs(&header[28..]);
    let ssl = &found.iter().find(|(k, _)| *k == 0x20).expect("ssl tlv").1;
    assert_eq!(&ssl[1..5], &20u32.to_be_bytes());
}
