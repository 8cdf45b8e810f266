//! Listen addresses and the upstream address: their text forms, as
//! mongod and mongossl's options write them, read into addresses.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::Upstream;
use super::table::{BIND_IP, UPSTREAM};
use crate::error::Error;

/// `--bind_ip`'s comma-separated list (`localhost` and `[v6]` accepted).
pub fn parse_bind_ip(list: &str) -> Result<Vec<IpAddr>, Error> {
    let addrs = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let bare = s.trim_start_matches('[').trim_end_matches(']');
            match bare {
                "localhost" => Ok(IpAddr::from([127, 0, 0, 1])),
                _ => bare.parse::<IpAddr>().map_err(|_| {
                    Error::options(format!(
                        "--{}: '{s}' is not an IPv4 or IPv6 address",
                        BIND_IP.name
                    ))
                }),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err(Error::options(format!(
            "--{}: no address given",
            BIND_IP.name
        )));
    }
    Ok(addrs)
}

/// `HOST:PORT`, `[V6]:PORT`, or a path (anything with a `/`) for a unix
/// socket. Host names are resolved once, at start-up.
pub fn parse_upstream(text: &str) -> Result<Upstream, Error> {
    if text.contains('/') {
        return Ok(Upstream::Unix(PathBuf::from(text)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Upstream::Tcp(addr));
    }
    let bad = |why: &str| Error::options(format!("--{} '{text}': {why}", UPSTREAM.name));
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT, [V6]:PORT or a unix socket path"))?;
    let port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
    let mut addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| bad(&format!("cannot resolve '{host}': {e}")))?;
    addrs
        .next()
        .map(Upstream::Tcp)
        .ok_or_else(|| bad(&format!("'{host}' has no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        assert_eq!(
            parse_upstream("127.0.0.1:27018").expect("v4"),
            Upstream::Tcp("127.0.0.1:27018".parse().expect("addr"))
        );
        assert_eq!(
            parse_upstream("[::1]:27018").expect("v6"),
            Upstream::Tcp("[::1]:27018".parse().expect("addr"))
        );
        assert_eq!(
            parse_upstream("/tmp/mongodb-27018.sock").expect("unix"),
            Upstream::Unix(PathBuf::from("/tmp/mongodb-27018.sock"))
        );
        assert!(parse_upstream("localhost:27018").is_ok());
        assert!(parse_upstream("nonsense").is_err());
        assert!(parse_upstream("127.0.0.1:notaport").is_err());
    }
}
