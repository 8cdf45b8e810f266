//! The network side: listen sockets, one event loop per thread, and the
//! handle the control thread uses to reload TLS contexts and shut down.

mod buffer;
pub mod connection;
mod event_loop;
pub mod header_in;
pub mod header_out;
pub mod listen;
mod peer_log;
mod refusals;
pub mod relay;
#[cfg(test)]
mod script;
mod shared;
pub mod stats;
pub mod streams;
pub mod tap;
pub mod token;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use mio::net::TcpListener;

use crate::error::Error;
use crate::tls::ServerContext;
pub use connection::Role;
pub use event_loop::{EventLoop, LoopExit, LoopSettings};
pub use header_in::ProxyProtocolSettings;
use shared::{Command, Mailbox, Shared};

/// Running event loops.
pub struct Proxy {
    shared: Arc<Shared>,
    mailboxes: Vec<Arc<Mailbox>>,
    threads: Vec<JoinHandle<Result<LoopExit, Error>>>,
}

impl Proxy {
    /// Starts one loop per entry of `listeners` (each loop's own sockets),
    /// with `settings(i)` for loop `i`.
    pub fn start(
        listeners: Vec<Vec<TcpListener>>,
        max_conns: usize,
        mut settings: impl FnMut(usize) -> LoopSettings,
    ) -> Result<Proxy, Error> {
        let shared = Arc::new(Shared::new(max_conns));
        let mut mailboxes = Vec::new();
        let mut threads = Vec::new();
        for (index, sockets) in listeners.into_iter().enumerate() {
            let mut event_loop = EventLoop::new(sockets, settings(index), shared.clone())?;
            mailboxes.push(event_loop.mailbox());
            let thread = std::thread::Builder::new()
                .name(format!("loop{index}"))
                .spawn(move || event_loop.run())
                .map_err(|source| Error::Runtime {
                    what: "starting an event loop thread".into(),
                    source,
                })?;
            threads.push(thread);
        }
        Ok(Proxy {
            shared,
            mailboxes,
            threads,
        })
    }

    /// Connections open right now, over all loops.
    pub fn open_connections(&self) -> usize {
        self.shared.open()
    }

    /// Hands each loop its new TLS context (`tls[i]` to loop `i`).
    pub fn reload(&self, tls: Vec<ServerContext>) {
        for (mailbox, tls) in self.mailboxes.iter().zip(tls) {
            if let Err(e) = mailbox.send(Command::NewTls(tls)) {
                log::error!("cannot wake an event loop for the reload: {e}");
            }
        }
    }

    /// Stops accepting everywhere; connections get until `deadline`.
    pub fn shutdown(&self, deadline: Instant) {
        for mailbox in &self.mailboxes {
            if let Err(e) = mailbox.send(Command::Shutdown { deadline }) {
                log::error!("cannot wake an event loop for the shutdown: {e}");
            }
        }
    }

    /// Waits for every loop to end; the total of connections cut.
    pub fn join(self) -> Result<usize, Error> {
        let mut cut = 0;
        let mut first_error = None;
        for thread in self.threads {
            match thread.join() {
                Ok(Ok(exit)) => cut += exit.cut,
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(Error::Runtime {
                        what: "an event loop".into(),
                        source: std::io::Error::other("the thread panicked"),
                    });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(cut),
        }
    }

    /// Whether any loop has ended (only on an error before shutdown).
    pub fn any_finished(&self) -> bool {
        self.threads.iter().any(|t| t.is_finished())
    }
}
