//! Fuzzes the first-bytes sniffing that names a refused client (TLS,
//! HTTP, SSLv2, plaintext MongoDB) and checks its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mongossl::wire::{FirstBytes, classify_first_bytes};

fuzz_target!(|data: &[u8]| {
    let kind = classify_first_bytes(data);
    assert_eq!(kind == FirstBytes::TooShort, data.is_empty());
    assert_eq!(kind == FirstBytes::Tls, data.first() == Some(&0x16));
    // More bytes never change the verdict on the first 16 the server keeps.
    if data.len() > 16 {
        let again = classify_first_bytes(&data[..16]);
        assert_eq!(kind, again);
    }
});
