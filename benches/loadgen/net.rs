//! Sockets that std and mio do not make: a client socket bound to one of
//! several loopback source addresses (10,000 connections and thousands of
//! handshakes a second would otherwise run out of ephemeral ports) and
//! SO_REUSEPORT listeners, one per backend thread.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::FromRawFd;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    sa
}

fn set_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: fd is open; the option value is a c_int that lives for the call.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn v4(addr: SocketAddr) -> io::Result<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "IPv4 only")),
    }
}

/// Starts a non-blocking connect from `source` (port chosen at connect
/// time, so the 4-tuple rather than the port alone must be unique).
pub fn connect_from(source: Ipv4Addr, target: SocketAddr) -> io::Result<mio::net::TcpStream> {
    let target = v4(target)?;
    // SAFETY: plain socket calls on a descriptor we own; `owned` closes it
    // on every error path.
    unsafe {
        let fd = check(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let owned = std::net::TcpStream::from_raw_fd(fd);
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
        if source != Ipv4Addr::LOCALHOST {
            set_int(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
            let sa = sockaddr(SocketAddrV4::new(source, 0));
            check(libc::bind(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ))?;
        }
        let sa = sockaddr(target);
        let rc = libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
        }
        Ok(mio::net::TcpStream::from_std(owned))
    }
}

/// A non-blocking listener that shares its port with the other threads'.
pub fn reuseport_listener(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    let addr = v4(addr)?;
    // SAFETY: as in `connect_from`.
    unsafe {
        let fd = check(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let owned = std::net::TcpListener::from_raw_fd(fd);
        set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        let sa = sockaddr(addr);
        check(libc::bind(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ))?;
        check(libc::listen(fd, 4096))?;
        Ok(mio::net::TcpListener::from_std(owned))
    }
}

/// The `n` loopback source addresses 127.0.0.1 … 127.0.0.n.
pub fn sources(n: usize) -> Vec<Ipv4Addr> {
    (1..=n.clamp(1, 250) as u8)
        .map(|i| Ipv4Addr::new(127, 0, 0, i))
        .collect()
}
