//! The local syslog daemon, for `--syslog` and `--auditDestination
//! syslog`: one datagram per line to `/dev/log`, framed as glibc's
//! syslog(3) frames it (`<PRI>mongossl[pid]: text`; the daemon adds the
//! time and host). `MONGOSSL_SYSLOG_SOCKET` names another socket (a
//! container's, or a test's).

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// The syslog socket unless `MONGOSSL_SYSLOG_SOCKET` says otherwise.
const DEFAULT_SOCKET: &str = "/dev/log";

/// Severities (RFC 5424 numbers).
pub const ERROR: u8 = 3;
pub const WARNING: u8 = 4;
pub const INFO: u8 = 6;
pub const DEBUG: u8 = 7;

pub fn socket_path() -> PathBuf {
    std::env::var_os("MONGOSSL_SYSLOG_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// A connection to the daemon, made again after the daemon restarts.
pub struct Syslog {
    socket: Option<UnixDatagram>,
    path: PathBuf,
    facility: u8,
    /// For the process log, written from the event loops: a daemon that
    /// cannot keep up loses lines rather than stalling a loop.
    nonblocking: bool,
}

impl Syslog {
    pub fn new(facility: u8, nonblocking: bool) -> Syslog {
        let mut syslog = Syslog {
            socket: None,
            path: socket_path(),
            facility,
            nonblocking,
        };
        syslog.socket = syslog.connect().ok();
        syslog
    }

    /// Whether the daemon's socket could be reached (at start-up).
    pub fn connected(&self) -> bool {
        self.socket.is_some()
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn connect(&self) -> io::Result<UnixDatagram> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(&self.path)?;
        socket.set_nonblocking(self.nonblocking)?;
        Ok(socket)
    }

    /// Sends one line (a trailing newline is dropped).
    pub fn send(&mut self, severity: u8, line: &[u8]) -> io::Result<()> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut datagram = format!(
            "<{}>mongossl[{}]: ",
            self.facility * 8 + severity,
            std::process::id()
        )
        .into_bytes();
        datagram.extend_from_slice(line);
        if self.socket.is_none() {
            self.socket = Some(self.connect()?);
        }
        let Some(socket) = &self.socket else {
            return Err(io::Error::other("no syslog socket"));
        };
        match socket.send(&datagram) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
            Err(_) => {
                // The daemon restarted: its socket is a new one.
                let socket = self.connect()?;
                let sent = socket.send(&datagram).map(|_| ());
                self.socket = Some(socket);
                sent
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_framed_as_syslog3_frames_them() {
        let dir = std::env::temp_dir().join(format!("mongossl-syslog-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let daemon = UnixDatagram::bind(&path).expect("bind");
        let mut syslog = Syslog {
            socket: None,
            path: path.clone(),
            facility: 16,
            nonblocking: true,
        };
        syslog.send(WARNING, b"a line\n").expect("send");
        let mut buf = [0u8; 256];
        let n = daemon.recv(&mut buf).expect("recv");
        let expected = format!("<132>mongossl[{}]: a line", std::process::id());
        assert_eq!(std::str::from_utf8(&buf[..n]).expect("utf8"), expected);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
