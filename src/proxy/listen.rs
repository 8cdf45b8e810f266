//! Listen sockets for several event loops: each loop gets its own socket
//! on every address, bound with SO_REUSEPORT so the kernel spreads new
//! connections across loops without a shared accept queue or lock.
//! Sockets inherited from systemd are shared by duplicating them instead.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};

use mio::net::TcpListener;

use crate::error::Error;

/// Pending connections the kernel queues per socket (mongod uses 128;
/// a front door absorbing pool reconnect storms wants more).
const BACKLOG: i32 = 1024;

/// Listeners for `loops` event loops on every address: `result[l]` holds
/// loop `l`'s sockets. With port 0 the first bind picks the port and all
/// others use it. Returns the port.
pub fn bind(
    addresses: &[IpAddr],
    port: u16,
    loops: usize,
) -> Result<(Vec<Vec<TcpListener>>, u16), Error> {
    let loops = loops.max(1);
    let mut per_loop: Vec<Vec<TcpListener>> = (0..loops).map(|_| Vec::new()).collect();
    let mut port = port;
    for ip in addresses {
        for sockets in per_loop.iter_mut() {
            let addr = SocketAddr::new(*ip, port);
            let listener = bind_reuseport(addr).map_err(|source| Error::Bind { addr, source })?;
            if port == 0 {
                port = listener
                    .local_addr()
                    .map_err(|source| Error::Bind { addr, source })?
                    .port();
            }
            sockets.push(TcpListener::from_std(listener));
        }
    }
    Ok((per_loop, port))
}

/// Shares inherited (socket-activated) listeners among the loops.
pub fn share(
    inherited: Vec<std::net::TcpListener>,
    loops: usize,
) -> Result<(Vec<Vec<TcpListener>>, u16), Error> {
    let runtime = |source| Error::Runtime {
        what: "using an inherited listen socket".into(),
        source,
    };
    let mut port = 0;
    let mut per_loop: Vec<Vec<TcpListener>> = (0..loops.max(1)).map(|_| Vec::new()).collect();
    for listener in inherited {
        listener.set_nonblocking(true).map_err(runtime)?;
        if port == 0 {
            port = listener.local_addr().map_err(runtime)?.port();
        }
        for sockets in per_loop.iter_mut() {
            let copy = listener.try_clone().map_err(runtime)?;
            sockets.push(TcpListener::from_std(copy));
        }
    }
    Ok((per_loop, port))
}

fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    for option in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        // SAFETY: valid fd, option value points at a live c_int.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let SocketAddr::V6(_) = addr {
        // An IPv6 address means IPv6 only; 0.0.0.0 is its own --bind_ip.
        // SAFETY: as above.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let (storage, len) = socket_addr_to_raw(&addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
    if unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: valid, bound socket.
    if unsafe { libc::listen(fd, BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::net::TcpListener::from(owned))
}

fn socket_addr_to_raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_loop_gets_a_socket_on_the_same_port() {
        let (per_loop, port) = bind(&[IpAddr::from([127, 0, 0, 1])], 0, 3).expect("bind");
        assert_ne!(port, 0);
        assert_eq!(per_loop.len(), 3);
        for sockets in &per_loop {
            assert_eq!(sockets.len(), 1);
            assert_eq!(sockets[0].local_addr().expect("addr").port(), port);
        }
        // A plain bind of the same port still fails: the port is taken.
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
    }
}
