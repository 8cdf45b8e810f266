//! The systemd protocol without libsystemd: `sd_notify` messages over the
//! `$NOTIFY_SOCKET` datagram socket (READY, RELOADING, STOPPING, STATUS,
//! WATCHDOG), the watchdog interval, and listen sockets passed by socket
//! activation (`LISTEN_PID`/`LISTEN_FDS`).

use std::os::fd::{FromRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// Sends a notification to systemd; a no-op when not run by systemd.
/// Failures are logged, never fatal: the service still works.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        // Linux abstract socket.
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|addr| {
        let socket = UnixDatagram::unbound()?;
        socket.send_to_addr(state.as_bytes(), &addr)
    });
    if let Err(e) = sent {
        log::warn!(
            "sd_notify({}) failed: {e}",
            state.lines().next().unwrap_or("")
        );
    }
}

/// The watchdog interval systemd expects pings at (`WatchdogSec=`), if any
/// and if meant for this process.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        && pid != std::process::id()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Listen sockets from socket activation, if they are meant for this
/// process. The variables are removed so children do not take them.
pub fn listen_fds() -> Vec<std::net::TcpListener> {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    let count: RawFd = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // SAFETY: single-threaded at this point of start-up (no thread reads
    // the environment concurrently).
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if !for_us {
        return Vec::new();
    }
    (LISTEN_FDS_START..LISTEN_FDS_START + count)
        .map(|fd| {
            // Keep inherited sockets out of any child process.
            // SAFETY: fcntl on a descriptor systemd passed us.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            // SAFETY: systemd hands these descriptors to this process,
            // which owns them from now on.
            unsafe { std::net::TcpListener::from_raw_fd(fd) }
        })
        .collect()
}
