//! The network side: binding the listen addresses and running the event
//! loop that takes clients through their handshake to mongod.

mod buffer;
pub mod connection;
mod event_loop;
pub mod relay;
pub mod streams;
pub mod token;

use std::net::{IpAddr, SocketAddr};

use mio::net::TcpListener;

use crate::error::Error;
pub use event_loop::{EventLoop, ServerSettings};

/// Binds every `--bind_ip` address on `port`. With port 0 the first bind
/// picks a free port and the others use the same one.
pub fn bind(addresses: &[IpAddr], port: u16) -> Result<(Vec<TcpListener>, u16), Error> {
    let mut listeners = Vec::with_capacity(addresses.len());
    let mut port = port;
    for ip in addresses {
        let addr = SocketAddr::new(*ip, port);
        let listener = TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        if port == 0 {
            port = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?
                .port();
        }
        listeners.push(listener);
    }
    Ok((listeners, port))
}
