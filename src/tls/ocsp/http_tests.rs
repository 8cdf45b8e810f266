//! The HTTP client against one-shot stand-in servers: what it sends, what it
//! accepts and refuses, refused ports and silent peers.

use super::*;
use std::net::TcpListener;
use std::thread;

#[test]
fn parses_http_urls_only() {
    let t = parse_url("http://ocsp.example.com").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.path.as_str()),
        ("ocsp.example.com", 80, "/")
    );
    let t = parse_url("HTTP://127.0.0.1:8888/a/b").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.path.as_str()),
        ("127.0.0.1", 8888, "/a/b")
    );
    let t = parse_url("http://[::1]:81/").unwrap();
    assert_eq!((t.host.as_str(), t.port), ("::1", 81));
    let e = parse_url("https://ocsp.example.com/").unwrap_err();
    assert!(
        e.contains("https://ocsp.example.com/") && e.contains("only http://"),
        "{e}"
    );
    assert!(parse_url("ldap://x/").is_err());
    assert!(parse_url("http://:80/").is_err());
    assert!(parse_url("http://host:0/").is_err());
    assert!(parse_url("http://host:99999/").is_err());
}

/// A one-shot server answering with `reply`, after reading the request.
fn serve(reply: Vec<u8>) -> (String, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ocsp", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read the headers and the 3-byte body the tests send.
        while find(&request, b"\r\n\r\n").is_none_or(|end| request.len() < end + 4 + 3) {
            let n = socket.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&chunk[..n]);
        }
        socket.write_all(&reply).unwrap();
        request
    });
    (url, handle)
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[test]
fn posts_and_reads_a_sized_body() {
    let (url, server) = serve(
        b"HTTP/1.0 200 OK\r\nContent-type: application/ocsp-response\r\nContent-Length: 4\r\n\r\nDERX-ignored"
            .to_vec(),
    );
    assert_eq!(post(&url, b"abc", deadline()).unwrap(), b"DERX");
    let request = String::from_utf8(server.join().unwrap()).unwrap();
    assert!(request.starts_with("POST /ocsp HTTP/1.0\r\n"), "{request}");
    assert!(request.contains("Content-Type: application/ocsp-request\r\n"));
    assert!(request.contains("Content-Length: 3\r\n"));
    assert!(request.ends_with("\r\n\r\nabc"));
}

#[test]
fn reads_to_eof_without_a_length() {
    let (url, _server) =
        serve(b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n\r\nBODY".to_vec());
    assert_eq!(post(&url, b"abc", deadline()).unwrap(), b"BODY");
}

#[test]
fn refuses_bad_status_type_and_size() {
    let (url, _s) = serve(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec());
    let e = post(&url, b"abc", deadline()).unwrap_err();
    assert!(
        e.contains("HTTP status HTTP/1.0 404") && e.contains(&url),
        "{e}"
    );
    let (url, _s) = serve(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>".to_vec());
    let e = post(&url, b"abc", deadline()).unwrap_err();
    assert!(e.contains("text/html"), "{e}");
    let mut big = b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n\r\n".to_vec();
    big.resize(big.len() + MAX_BODY + 10, b'x');
    let (url, _s) = serve(big);
    let e = post(&url, b"abc", deadline()).unwrap_err();
    assert!(e.contains("exceeds"), "{e}");
}

#[test]
fn refused_port_fails_fast_with_the_url() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/");
    let started = Instant::now();
    let e = post(&url, b"abc", deadline()).unwrap_err();
    assert_eq!(e, format!("OCSP responder {url}: connection refused"));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn silent_server_times_out_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    // Accepted by the kernel's backlog, never answered.
    let started = Instant::now();
    let e = post(&url, b"abc", Instant::now() + Duration::from_millis(300)).unwrap_err();
    let took = started.elapsed();
    assert!(e.contains("timed out"), "{e}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    drop(listener);
}
