//! The few MongoDB wire-protocol facts mongossl needs without parsing
//! messages: telling a TLS hello from plaintext MongoDB, HTTP or SSLv2 by
//! a connection's first bytes.

/// What a connection's first bytes look like.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum FirstBytes {
    /// A TLS record (content type 22, handshake).
    Tls,
    /// `GET ` and friends: someone pointed a browser at the port.
    Http,
    /// An SSLv2-format ClientHello (two-byte header with the top bit set).
    SslV2,
    /// Anything else, most likely a MongoDB message header.
    Plaintext,
    /// Nothing arrived yet.
    TooShort,
}

const TLS_HANDSHAKE_RECORD: u8 = 0x16;
const SSLV2_CLIENT_HELLO: u8 = 0x01;

/// Classifies the first bytes a client sent.
pub fn classify_first_bytes(bytes: &[u8]) -> FirstBytes {
    match bytes {
        [] => FirstBytes::TooShort,
        [TLS_HANDSHAKE_RECORD, ..] => FirstBytes::Tls,
        [b'G', b'E', b'T', b' ', ..]
        | [b'P', b'O', b'S', b'T', ..]
        | [b'H', b'E', b'A', b'D', ..] => FirstBytes::Http,
        [first, _, SSLV2_CLIENT_HELLO, ..] if first & 0x80 != 0 => FirstBytes::SslV2,
        _ => FirstBytes::Plaintext,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify_first_bytes(&[]), FirstBytes::TooShort);
        assert_eq!(classify_first_bytes(&[0x16, 3, 1, 2, 0]), FirstBytes::Tls);
        assert_eq!(classify_first_bytes(b"GET / HTTP/1.1"), FirstBytes::Http);
        assert_eq!(
            classify_first_bytes(&[0x80, 0x2e, 0x01, 0x00, 0x02]),
            FirstBytes::SslV2
        );
        // An OP_MSG header: length 58, requestID 1, responseTo 0, opCode 2013.
        assert_eq!(
            classify_first_bytes(&[58, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0]),
            FirstBytes::Plaintext
        );
    }
}
