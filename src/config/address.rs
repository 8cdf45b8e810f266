//! Listen addresses, the upstream address and trusted networks: their
//! text forms, as mongod and mongossl's options write them, read into
//! addresses.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::Upstream;
use super::table::{BIND_IP, PROXY_PROTOCOL_FROM, UPSTREAM};
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

/// A network in CIDR form (`10.0.0.0/8`, `::1/128`; a bare address is
/// the one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` lies in this network; an IPv4 address seen as
    /// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// `--proxyProtocolFrom`'s comma-separated list of networks.
pub fn parse_networks(list: &str) -> Result<Vec<Network>, Error> {
    let bad = |item: &str, why: &str| {
        Error::options(format!("--{}: '{item}' {why}", PROXY_PROTOCOL_FROM.name))
    };
    let networks = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (address, prefix) = item.split_once('/').unwrap_or((item, ""));
            let base: IpAddr = address
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| bad(item, "is not an IPv4 or IPv6 network (CIDR)"))?;
            let max = if base.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                "" => max,
                text => text
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| {
                        bad(item, &format!("has a prefix length other than 0 to {max}"))
                    })?,
            };
            Ok(Network { base, prefix })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if networks.is_empty() {
        return Err(bad(list, "names no network"));
    }
    Ok(networks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses() {
        let nets = parse_networks("10.0.0.0/8, 127.0.0.1,::1/128,2001:db8::/32").expect("valid");
        let has = |ip: &str| nets.iter().any(|n| n.contains(ip.parse().expect("ip")));
        assert!(has("10.200.3.4"));
        assert!(has("127.0.0.1"));
        assert!(has("::ffff:127.0.0.1"));
        assert!(has("::1"));
        assert!(has("2001:db8:1::5"));
        assert!(!has("11.0.0.1"));
        assert!(!has("127.0.0.2"));
        assert!(!has("2001:db9::1"));
        let all = parse_networks("0.0.0.0/0").expect("valid");
        assert!(all[0].contains("203.0.113.9".parse().expect("ip")));
        for bad in ["10.0.0.0/33", "x/8", "", "::/129", "10.0.0.0/-1"] {
            let err = parse_networks(bad).expect_err(bad);
            assert!(err.to_string().contains("--proxyProtocolFrom"), "{err}");
        }
    }

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
