//! Feeds arbitrary bytes, cut into arbitrary reads, into a server-side
//! handshake with mongossl's real TLS context over an in-memory stream,
//! and maps every outcome the way a connection does: no panic, no hang, and
//! a handshake that cannot complete ends in an error or an EOF.
#![no_main]

use std::io::{self, Read, Write};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mongossl::tls::server::ServerTls;
use mongossl::tls::{Accepted, Accepting};

/// Reads come from the input in pieces whose sizes the input's first
/// byte picks; an empty read is would-block until the input is used up,
/// then EOF. Writes go nowhere.
struct Wire<'a> {
    data: &'a [u8],
    step: usize,
    blocked: bool,
}

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Ok(0);
        }
        // Every other call would-blocks, as a non-blocking socket does.
        self.blocked = !self.blocked;
        if self.blocked {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.step.min(self.data.len()).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls() -> &'static ServerTls {
    static TLS: OnceLock<ServerTls> = OnceLock::new();
    TLS.get_or_init(mongossl_fuzz::server_tls)
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let wire = Wire {
        data: rest,
        step: usize::from(step).max(1) * 7,
        blocked: false,
    };
    let mut handshake = Accepting::new(&tls().contexts[0], wire).expect("handshake");
    // Each round consumes input or ends: bounded by the input's length.
    for _ in 0..(2 * rest.len() + 8) {
        handshake = match handshake.resume() {
            Accepted::Blocked(handshake) => handshake,
            Accepted::Failed(..) => return,
            Accepted::Done(..) => panic!("a handshake completed from unauthenticated bytes"),
        };
    }
    panic!("the handshake neither failed nor ended");
});
