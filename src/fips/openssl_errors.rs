//! OpenSSL's error queue as one line of text for [`super::FipsError`]. Only
//! the routes that call OpenSSL to switch FIPS on need it.

/// Drains this thread's OpenSSL error queue into one line. Draining matters
/// as much as reading: stale errors would otherwise be reported by the next,
/// unrelated OpenSSL call (for example the first TLS handshake).
pub(super) fn take_openssl_errors() -> String {
    openssl::error::ErrorStack::get()
        .errors()
        .iter()
        .map(describe_openssl_error)
        .collect::<Vec<_>>()
        .join("; ")
}

/// OpenSSL's usual "error:CODE:library:function:reason:data" form, without
/// the source file and line: those name OpenSSL's build tree, which helps
/// no operator and makes the message three times longer.
fn describe_openssl_error(error: &openssl::error::Error) -> String {
    let mut text = format!(
        "error:{:08X}:{}:{}:{}",
        error.code(),
        error.library().unwrap_or("unknown library"),
        error.function().unwrap_or("unknown function"),
        error.reason().unwrap_or("unknown reason"),
    );
    if let Some(data) = error.data().map(str::trim).filter(|data| !data.is_empty()) {
        text.push(':');
        text.push_str(data);
    }
    text
}
