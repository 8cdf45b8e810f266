//! Hand-made TLS ClientHello records, for the inputs a real client library
//! will not produce: weak-only cipher lists, a 16 KB extension block, an
//! SSLv2-format hello, truncations and oversized records.

/// TLS 1.2 suites mongossl accepts (ECDHE-ECDSA/RSA with AES-128-GCM).
pub const GOOD_SUITES: &[u16] = &[0xc02b, 0xc02f];

/// Weak suites, each a family the server must refuse: RC4, 3DES, NULL,
/// export, anonymous Diffie-Hellman, and CBC (not AEAD).
pub const WEAK_SUITES: &[(&str, &[u16])] = &[
    ("RC4", &[0x0005, 0x0004, 0xc011, 0xc007]),
    ("3DES", &[0x000a, 0xc012, 0xc008]),
    ("NULL", &[0x0001, 0x0002, 0x003b, 0xc010, 0xc006]),
    ("EXPORT", &[0x0003, 0x0006, 0x0008, 0x0014]),
    ("anonymous", &[0x0034, 0x006c, 0x00a6, 0xc018, 0xc019]),
    ("CBC", &[0xc009, 0xc013, 0x002f, 0x0035, 0xc023, 0xc027]),
];

fn u16be(v: usize) -> [u8; 2] {
    [(v >> 8) as u8, v as u8]
}

fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend(u16be(body.len()));
    out.extend(body);
    out
}

/// A TLS 1.2 ClientHello offering `suites`, with a padding extension of
/// `padding` zero bytes, as TLS records (split at 16 KiB, as a client
/// must when the message is larger than one record).
pub fn client_hello(suites: &[u16], padding: usize) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend((0u8..32).map(|i| i.wrapping_mul(37)));
    body.push(0); // no session id
    body.extend(u16be(suites.len() * 2));
    for s in suites {
        body.extend(s.to_be_bytes());
    }
    body.extend([1, 0]); // compression: null only
    let mut extensions = Vec::new();
    // supported_groups: x25519, secp256r1
    extensions.extend(extension(0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]));
    // ec_point_formats: uncompressed
    extensions.extend(extension(0x000b, &[1, 0]));
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
    extensions.extend(extension(0x000d, &[0, 6, 4, 3, 8, 4, 4, 1]));
    // renegotiation_info (empty): a TLS 1.2 client that supports it
    extensions.extend(extension(0xff01, &[0]));
    if padding > 0 {
        extensions.extend(extension(0x0015, &vec![0u8; padding]));
    }
    body.extend(u16be(extensions.len()));
    body.extend(extensions);
    let mut message = vec![1u8]; // ClientHello
    message.extend(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend(body);
    records(0x16, &message)
}

/// Wraps `payload` into TLS records of content type `kind`.
pub fn records(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for fragment in payload.chunks(16 * 1024) {
        out.extend([kind, 0x03, 0x01]);
        out.extend(u16be(fragment.len()));
        out.extend(fragment);
    }
    out
}

/// An SSLv2-format ClientHello (as very old clients send to negotiate
/// SSLv3/TLS 1.0), offering TLS_RSA_WITH_AES_128_CBC_SHA and an SSLv2 suite.
pub fn sslv2_hello() -> Vec<u8> {
    let mut body = vec![0x01, 0x03, 0x01]; // CLIENT-HELLO, version TLS 1.0
    let specs: &[u8] = &[0x00, 0x00, 0x2f, 0x01, 0x00, 0x80];
    let challenge = [0x42u8; 16];
    body.extend(u16be(specs.len()));
    body.extend(u16be(0)); // session id length
    body.extend(u16be(challenge.len()));
    body.extend(specs);
    body.extend(challenge);
    let mut out = vec![0x80 | (body.len() >> 8) as u8, body.len() as u8];
    out.extend(body);
    out
}

/// A record header announcing `length` bytes of handshake data.
pub fn record_header(kind: u8, length: u16) -> [u8; 5] {
    let [hi, lo] = length.to_be_bytes();
    [kind, 0x03, 0x03, hi, lo]
}
