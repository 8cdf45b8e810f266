//! The tunnel role's own phases of a `Connection`: the TCP connection to
//! the remote server, then the TLS handshake with it as its client (SNI
//! and host name verification as the mongo shell does), then relaying.

use super::{Connection, Context, Phase, Role, Step};
use crate::proxy::relay::{Relay, Side};
use crate::proxy::streams::{Socket, Stream};
use crate::tls::{Connected, Connecting};

impl Connection {
    /// Tunnel: the TCP connection to the server is up; start TLS on it,
    /// with SNI and host name verification as the mongo shell does.
    pub(super) fn tunnel_connecting(
        &mut self,
        client: Socket,
        upstream: Socket,
        side: Side,
        ctx: &Context,
    ) -> (Phase, Step) {
        let Role::Tunnel(tls) = ctx.role else {
            return (
                Phase::Gone,
                Step::Close("internal: no tunnel settings".into()),
            );
        };
        match self.upstream_connected(&upstream, side, ctx) {
            None => (Phase::TunnelConnecting { client, upstream }, Step::Wait),
            Some(Ok(())) => match Connecting::new(tls, upstream) {
                Ok(handshake) => {
                    self.deadline = Some(ctx.now + ctx.handshake_timeout);
                    self.tunnel_handshake(client, handshake, ctx)
                }
                Err(reason) => (Phase::Gone, Step::Close(reason)),
            },
            Some(Err(reason)) => (Phase::Gone, Step::Close(reason)),
        }
    }

    pub(super) fn tunnel_handshake(
        &mut self,
        client: Socket,
        upstream: Connecting<Socket>,
        ctx: &Context,
    ) -> (Phase, Step) {
        let (upstream, subject) = match upstream.resume() {
            Connected::Blocked(upstream) => {
                return (Phase::TunnelHandshaking { client, upstream }, Step::Wait);
            }
            Connected::Failed(why) => {
                let reason = format!(
                    "SSL handshake with the server {} failed: {why}",
                    ctx.upstream
                );
                log::error!(target: &self.context, "{reason}");
                return (Phase::Gone, Step::Close(reason));
            }
            Connected::Done(upstream, subject) => (upstream, subject),
        };
        self.deadline = None;
        log::info!(
            target: &self.context,
            "SSL connection to {} established: {} {}, server certificate subject: {subject}",
            ctx.upstream,
            upstream.version(),
            upstream.cipher()
        );
        let mut relay = Relay::new(Stream::Plain(client), Stream::Tls(upstream));
        let step = self.relay(&mut relay, ctx);
        (Phase::Relaying(relay), step)
    }
}
