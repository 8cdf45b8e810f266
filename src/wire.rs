//! The few MongoDB wire-protocol facts mongossl needs without parsing
//! messages: telling a TLS hello from plaintext MongoDB, HTTP or SSLv2 by
//! a connection's first bytes, the way mongod does on a port that takes
//! both (allowSSL/preferSSL).

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

/// The size of a MongoDB message header: what mongod reads before it
/// decides whether a connection speaks SSL.
pub const HEADER_LEN: usize = 16;

/// mongod's reply to an HTTP request on the native driver port.
pub const HTTP_NOTICE: &[u8] = b"HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 84\r\n\r\nIt looks like you are trying to access MongoDB over HTTP on the native driver port.\n";

/// mongod's decision on a full 16-byte header: `GET ` is HTTP; a
/// `responseTo` field (bytes 8..12, little-endian) other than 0 or -1 cannot
/// start a client's MongoDB message, so it is a TLS ClientHello; anything
/// else is plaintext MongoDB.
pub fn classify_header(header: &[u8; HEADER_LEN]) -> FirstBytes {
    if header.starts_with(b"GET ") {
        return FirstBytes::Http;
    }
    let response_to = i32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if response_to != 0 && response_to != -1 {
        FirstBytes::Tls
    } else {
        FirstBytes::Plaintext
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_headers_like_mongod() {
        let op_msg = [58, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0];
        assert_eq!(classify_header(&op_msg), FirstBytes::Plaintext);
        let mut legacy = op_msg;
        legacy[8..12].copy_from_slice(&(-1i32).to_le_bytes());
        assert_eq!(classify_header(&legacy), FirstBytes::Plaintext);
        // A TLS 1.2/1.3 ClientHello: record header, handshake header, version, random.
        let hello = [
            0x16, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3, 0x5e, 0x11, 0x22, 0x33, 0x44,
        ];
        assert_eq!(classify_header(&hello), FirstBytes::Tls);
        let mut get = [b' '; HEADER_LEN];
        get[..4].copy_from_slice(b"GET ");
        assert_eq!(classify_header(&get), FirstBytes::Http);
        assert_eq!(
            HTTP_NOTICE.len()
                - HTTP_NOTICE
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(0, |p| p + 4),
            84
        );
    }

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
