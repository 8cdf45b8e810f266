//! Fuzzes the MongoDB wire-protocol readers: the 16-byte header (its
//! length bounds), the sniffing decision on a full header, and the OP_MSG
//! body extraction, plus a round trip through `op_msg`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mongossl::wire::{
    FirstBytes, HEADER_LEN, Header, MAX_MESSAGE_LEN, classify_header, op_msg, op_msg_body,
};

fuzz_target!(|data: &[u8]| {
    if let Some(first) = data.first_chunk::<HEADER_LEN>() {
        if let Ok(header) = Header::parse(first) {
            assert!((HEADER_LEN..=MAX_MESSAGE_LEN).contains(&header.message_length));
        }
        let kind = classify_header(first);
        assert!(matches!(
            kind,
            FirstBytes::Http | FirstBytes::Tls | FirstBytes::Plaintext
        ));
    }
    if let Ok(body) = op_msg_body(data) {
        // The body is a BSON document: its own length prefix covers it.
        assert!(body.len() >= 5);
        let declared = i32::from_le_bytes([body[0], body[1], body[2], body[3]]);
        assert_eq!(usize::try_from(declared).ok(), Some(body.len()));
    }
    // A document whose length prefix is right survives a round trip.
    if data.len() >= 5 && data.len() < 4096 {
        let mut doc = data.to_vec();
        doc[..4].copy_from_slice(&(data.len() as i32).to_le_bytes());
        let message = op_msg(7, &doc);
        let header =
            Header::parse(message.first_chunk::<HEADER_LEN>().expect("header")).expect("parse");
        assert_eq!(header.message_length, message.len());
        assert_eq!(op_msg_body(&message[HEADER_LEN..]), Ok(&doc[..]));
    }
});
