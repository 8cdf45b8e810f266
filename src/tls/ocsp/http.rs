//! The one HTTP exchange OCSP needs: a blocking `POST` of a DER request to
//! a plain `http://` responder, bounded by one deadline, returning the DER
//! body of a `200 application/ocsp-response` answer. Called only from
//! worker threads (or a thread that may block), never from an event loop.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A responder's answer is a few KiB at most; anything larger is not OCSP.
pub const MAX_BODY: usize = 64 * 1024;
/// Room for the status line and headers (OpenSSL's responder sends ~100 bytes).
const MAX_HEAD: usize = 8 * 1024;

/// Where to send the request, taken from an `http://host[:port]/path` URL.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// The host as written (an IPv6 literal without its brackets).
    pub host: String,
    pub port: u16,
    /// The path, `/` when the URL has none.
    pub path: String,
}

/// Parses a responder URL; only `http://` is accepted, because OCSP
/// responses are signed (TLS adds nothing) and `https` would need a TLS
/// client whose own revocation checks could recurse.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &url[7..],
        _ => {
            return Err(format!(
                "OCSP responder {url}: only http:// responder URLs are supported"
            ));
        }
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let bad = |why: &str| format!("OCSP responder {url}: {why}");
    if authority.contains('@') {
        return Err(bad("user information in the URL is not supported"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:8080`.
        let close = bracketed
            .find(']')
            .ok_or_else(|| bad("unclosed '[' in the host"))?;
        let after = &bracketed[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(bad("unexpected text after the IPv6 address")),
        };
        (&bracketed[..close], port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host in the URL"));
    }
    let port = match port {
        None => 80,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
    };
    Ok(Target {
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

/// POSTs `body` to the responder at `url` and returns the DER answer, or
/// an error naming the URL. All of it (name resolution aside, which the
/// system resolver bounds itself) finishes by `deadline`.
pub fn post(url: &str, body: &[u8], deadline: Instant) -> Result<Vec<u8>, String> {
    let target = parse_url(url)?;
    exchange(&target, body, deadline).map_err(|why| format!("OCSP responder {url}: {why}"))
}

fn exchange(target: &Target, body: &[u8], deadline: Instant) -> Result<Vec<u8>, String> {
    let mut stream = connect(target, deadline)?;
    let host_header = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let head = format!(
        "POST {} HTTP/1.0\r\nHost: {}:{}\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        target.path,
        host_header,
        target.port,
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    set_timeouts(&stream, deadline)?;
    stream
        .write_all(&request)
        .map_err(|e| describe(&e, deadline))?;
    read_response(&mut stream, deadline)
}

/// Connects to the first address of the host that accepts, within the deadline.
fn connect(target: &Target, deadline: Instant) -> Result<TcpStream, String> {
    let addresses = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?;
    let mut last = format!("{} resolves to no address", target.host);
    for address in addresses {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&address, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = describe(&e, deadline),
        }
    }
    Err(last)
}

/// Reads the status line, headers and body of the answer.
fn read_response(stream: &mut TcpStream, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut buffer = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_HEAD {
            return Err(format!("the HTTP headers exceed {MAX_HEAD} bytes"));
        }
        if read_some(stream, &mut buffer, deadline)? == 0 {
            return Err("the connection closed before the HTTP headers ended".to_string());
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut body = buffer.split_off(head_end + 4);
    let length = check_head(&head)?;
    if let Some(length) = length
        && length > MAX_BODY
    {
        return Err(format!("the answer of {length} bytes exceeds {MAX_BODY}"));
    }
    loop {
        if length.is_some_and(|length| body.len() >= length) {
            break;
        }
        if body.len() > MAX_BODY {
            return Err(format!("the answer exceeds {MAX_BODY} bytes"));
        }
        if read_some(stream, &mut body, deadline)? == 0 {
            match length {
                Some(length) => {
                    return Err(format!(
                        "the connection closed after {} of {length} body bytes",
                        body.len()
                    ));
                }
                None => break,
            }
        }
    }
    if let Some(length) = length {
        body.truncate(length);
    }
    if body.is_empty() {
        return Err("the answer has an empty body".to_string());
    }
    Ok(body)
}

/// Checks the status and content type; returns the Content-Length if given.
fn check_head(head: &str) -> Result<Option<usize>, String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP answer: {:?}", truncate(status_line)));
    }
    if code != "200" {
        return Err(format!("HTTP status {}", truncate(status_line)));
    }
    let mut length = None;
    let mut content_type = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let parsed = value
                .parse::<usize>()
                .map_err(|_| format!("bad Content-Length {:?}", truncate(value)))?;
            length = Some(parsed);
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && !value.eq_ignore_ascii_case("identity")
        {
            // We ask in HTTP/1.0, so a chunked answer breaks the protocol.
            return Err(format!(
                "unsupported Transfer-Encoding {:?}",
                truncate(value)
            ));
        }
    }
    let media_type = content_type
        .as_deref()
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    match media_type {
        Some(media) if media.eq_ignore_ascii_case("application/ocsp-response") => Ok(length),
        Some(media) => Err(format!(
            "Content-Type {:?}, not application/ocsp-response",
            truncate(media)
        )),
        None => Err("no Content-Type in the answer".to_string()),
    }
}

/// One read into `buffer`, with the socket's timeout set to what is left.
fn read_some(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    deadline: Instant,
) -> Result<usize, String> {
    set_timeouts(stream, deadline)?;
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(describe(&e, deadline)),
        }
    }
}

fn set_timeouts(stream: &TcpStream, deadline: Instant) -> Result<(), String> {
    let left = remaining(deadline)?;
    stream
        .set_read_timeout(Some(left))
        .and_then(|()| stream.set_write_timeout(Some(left)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))
}

/// The time left before the deadline; an error once it has passed (a zero
/// timeout would mean "wait forever" to the socket calls).
fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        Err("no answer before the deadline (timed out)".to_string())
    } else {
        Ok(left)
    }
}

/// An I/O error in an operator's words.
fn describe(e: &io::Error, deadline: Instant) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            "no answer before the deadline (timed out)".to_string()
        }
        _ if Instant::now() >= deadline => "no answer before the deadline (timed out)".to_string(),
        _ => e.to_string(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Keeps text quoted from a misbehaving peer short in error messages.
fn truncate(text: &str) -> &str {
    match text.char_indices().nth(80) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
