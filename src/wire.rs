//! The few MongoDB wire-protocol facts mongossl needs: telling a TLS hello
//! from plaintext MongoDB, HTTP or SSLv2 by a connection's first bytes, the
//! way mongod does on a port that takes both (allowSSL/preferSSL); and the
//! message header and OP_MSG framing that `mongossl check` sends its
//! `hello` in (the BSON inside is `check::bson`'s business).

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

/// `OP_MSG`, the only opcode of MongoDB 3.6 and later.
pub const OP_MSG: i32 = 2013;
/// mongod's `maxMessageSizeBytes`: no message is larger.
pub const MAX_MESSAGE_LEN: usize = 48_000_000;

/// The standard header every MongoDB message starts with.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Header {
    /// The whole message, header included.
    pub message_length: usize,
    pub request_id: i32,
    pub response_to: i32,
    pub op_code: i32,
}

fn i32_at(bytes: &[u8], at: usize) -> Option<i32> {
    let four = bytes.get(at..at + 4)?;
    Some(i32::from_le_bytes([four[0], four[1], four[2], four[3]]))
}

impl Header {
    /// Reads a header, refusing lengths no MongoDB server would send, so a
    /// non-MongoDB peer cannot make the reader wait for gigabytes.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Header, String> {
        let length = i32_at(bytes, 0).unwrap_or_default();
        let message_length = usize::try_from(length)
            .ok()
            .filter(|n| (HEADER_LEN..=MAX_MESSAGE_LEN).contains(n))
            .ok_or_else(|| format!("not a MongoDB message (length {length})"))?;
        Ok(Header {
            message_length,
            request_id: i32_at(bytes, 4).unwrap_or_default(),
            response_to: i32_at(bytes, 8).unwrap_or_default(),
            op_code: i32_at(bytes, 12).unwrap_or_default(),
        })
    }
}

/// An OP_MSG with no flags and one body section (kind 0) holding `body`,
/// a complete BSON document.
pub fn op_msg(request_id: i32, body: &[u8]) -> Vec<u8> {
    let length = HEADER_LEN + 4 + 1 + body.len();
    let mut message = Vec::with_capacity(length);
    // A body is a few dozen bytes, far below i32::MAX.
    message.extend((length as i32).to_le_bytes());
    message.extend(request_id.to_le_bytes());
    message.extend(0i32.to_le_bytes());
    message.extend(OP_MSG.to_le_bytes());
    message.extend(0u32.to_le_bytes());
    message.push(0);
    message.extend(body);
    message
}

/// The body document of an OP_MSG's payload (everything after the
/// header): the bytes of its kind-0 section. Kind-1 sections (document
/// sequences) are skipped; a checksum trailer is never reached.
pub fn op_msg_body(payload: &[u8]) -> Result<&[u8], String> {
    let mut at = 4; // flagBits
    loop {
        match payload.get(at) {
            None => return Err("OP_MSG without a body section".to_string()),
            Some(0) => {
                let length = i32_at(payload, at + 1)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n >= 5)
                    .ok_or("OP_MSG body section too short")?;
                return payload
                    .get(at + 1..at + 1 + length)
                    .ok_or_else(|| "OP_MSG body section truncated".to_string());
            }
            Some(1) => {
                let length = i32_at(payload, at + 1)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n >= 4)
                    .ok_or("OP_MSG document sequence too short")?;
                at += 1 + length;
            }
            Some(kind) => return Err(format!("OP_MSG section of unknown kind {kind}")),
        }
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

    #[test]
    fn header_round_trip() {
        let message = op_msg(7, &[5, 0, 0, 0, 0]);
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&message[..HEADER_LEN]);
        assert_eq!(
            Header::parse(&header),
            Ok(Header {
                message_length: message.len(),
                request_id: 7,
                response_to: 0,
                op_code: OP_MSG,
            })
        );
        assert_eq!(
            op_msg_body(&message[HEADER_LEN..]),
            Ok(&[5u8, 0, 0, 0, 0][..])
        );
    }

    #[test]
    fn refuses_impossible_lengths() {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&8i32.to_le_bytes());
        assert!(Header::parse(&header).is_err());
        header[..4].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(Header::parse(&header).is_err());
        // "HTTP" read as a length: far beyond maxMessageSizeBytes.
        header[..4].copy_from_slice(b"HTTP");
        assert!(Header::parse(&header).is_err());
    }

    #[test]
    fn finds_the_body_after_a_document_sequence() {
        let mut payload = vec![0, 0, 0, 0];
        payload.push(1);
        payload.extend(9i32.to_le_bytes());
        payload.extend(b"ids\0\0");
        payload.push(0);
        payload.extend([5, 0, 0, 0, 0]);
        assert_eq!(op_msg_body(&payload), Ok(&[5u8, 0, 0, 0, 0][..]));
        assert!(op_msg_body(&[0, 0, 0, 0, 7]).is_err());
        assert!(op_msg_body(&[0, 0, 0, 0, 0, 9, 0, 0, 0]).is_err());
    }
}
