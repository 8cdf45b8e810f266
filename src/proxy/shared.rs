//! What the event loops share: the connection count behind `--maxConns`
//! and the log's "N connections now open", connection numbers, and each
//! loop's mailbox for commands from the control thread. Nothing here is
//! touched per byte: one atomic add per connection opened or closed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use mio::Waker;

use crate::tls::ServerContext;
use crate::tls::ocsp::Outcome;

pub struct Shared {
    open: AtomicUsize,
    next_id: AtomicU64,
    max_conns: usize,
}

impl Shared {
    pub fn new(max_conns: usize) -> Shared {
        Shared {
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            max_conns,
        }
    }

    /// mongod numbers connections from 1 in accept order.
    pub fn next_connection_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a new connection if the limit allows; the new total.
    pub fn try_open(&self) -> Option<usize> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_conns).then_some(n + 1)
            })
            .ok()
            .map(|n| n + 1)
    }

    /// Counts a closed connection; the new total.
    pub fn close_one(&self) -> usize {
        self.open.fetch_sub(1, Ordering::AcqRel).saturating_sub(1)
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// A command from the control thread to one loop.
pub enum Command {
    /// Use this TLS context for new connections (a reload).
    NewTls(ServerContext),
    /// Stop accepting; close what is still open at `deadline`.
    Shutdown { deadline: Instant },
    /// An OCSP worker's answer for the client of connection `id` (slab
    /// `key`).
    OcspAnswered {
        key: usize,
        id: u64,
        outcome: Outcome,
    },
}

/// A loop's inbox: commands plus the waker that makes the loop look.
pub struct Mailbox {
    waker: Waker,
    commands: Mutex<Vec<Command>>,
}

impl Mailbox {
    pub fn new(waker: Waker) -> Mailbox {
        Mailbox {
            waker,
            commands: Mutex::new(Vec::new()),
        }
    }

    pub fn send(&self, command: Command) -> std::io::Result<()> {
        match self.commands.lock() {
            Ok(mut commands) => commands.push(command),
            Err(poisoned) => poisoned.into_inner().push(command),
        }
        self.waker.wake()
    }

    pub fn take(&self) -> Vec<Command> {
        match self.commands.lock() {
            Ok(mut commands) => std::mem::take(&mut *commands),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_to_the_limit() {
        let shared = Shared::new(2);
        assert_eq!(shared.try_open(), Some(1));
        assert_eq!(shared.try_open(), Some(2));
        assert_eq!(shared.try_open(), None);
        assert_eq!(shared.close_one(), 1);
        assert_eq!(shared.try_open(), Some(2));
        assert_eq!(shared.next_connection_id(), 1);
        assert_eq!(shared.next_connection_id(), 2);
    }
}
