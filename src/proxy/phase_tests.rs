//! Unit tests of the per-connection phase machine over scripted sockets:
//! first-bytes detection split across reads, every way the first bytes can
//! end a connection, handshake and connect timeouts, upstream connect
//! failure, the relay taking over, and the drain on shutdown.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::config::{SslSettings, protocols::Protocols};
use crate::proxy::script::{ReadStep, Script};
use crate::tls::Io;

/// The upstream sockets a test hands out, in order.
#[derive(Default)]
struct TestDial {
    sockets: RefCell<VecDeque<io::Result<Script>>>,
    calls: Cell<usize>,
}

impl Dial for TestDial {
    fn dial(&self, _key: usize) -> io::Result<Socket> {
        self.calls.set(self.calls.get() + 1);
        match self.sockets.borrow_mut().pop_front() {
            Some(Ok(script)) => Ok(Socket::scripted(script)),
            Some(Err(e)) => Err(e),
            None => Err(io::ErrorKind::ConnectionRefused.into()),
        }
    }
}

struct Fixture {
    dial: TestDial,
    upstream: Upstream,
    role: Role,
    proxy_protocol: ProxyProtocolSettings,
    stats: Arc<LoopStats>,
    refusals: RefCell<RefusalLog>,
    mailbox: Arc<Mailbox>,
    /// Owns the mailbox's waker.
    _poll: mio::Poll,
}

impl Fixture {
    fn new(role: Role) -> Fixture {
        let poll = mio::Poll::new().expect("poll");
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).expect("waker");
        Fixture {
            mailbox: Arc::new(Mailbox::new(waker)),
            _poll: poll,
            dial: TestDial::default(),
            upstream: Upstream::Tcp("127.0.0.1:27018".parse().expect("address")),
            role,
            proxy_protocol: ProxyProtocolSettings::default(),
            stats: Arc::default(),
            refusals: RefCell::new(RefusalLog::default()),
        }
    }

    fn plaintext(mode: SslMode) -> Fixture {
        Fixture::new(Role::Server { mode, tls: None })
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            dial: &self.dial,
            key: 0,
            upstream: &self.upstream,
            role: &self.role,
            proxy_protocol: &self.proxy_protocol,
            mailbox: &self.mailbox,
            stats: &self.stats,
            taps: None,
            refusals: &self.refusals,
            handshake_timeout: Duration::from_secs(10),
            now: Instant::now(),
        }
    }

    /// Where clients connect, when a PROXY header must name it.
    fn local(&self) -> Option<SocketAddr> {
        (self.proxy_protocol.upstream != ProxyProtocol::None)
            .then(|| "10.0.0.1:27017".parse().expect("local"))
    }

    /// The next upstream connection succeeds onto the returned script.
    fn upstream_ok(&self) -> Script {
        let script = Script::new();
        self.dial.sockets.borrow_mut().push_back(Ok(script.clone()));
        script
    }

    /// A client that sent `first` accepted on this fixture's port.
    fn client(&self, first: &[u8]) -> (Script, Connection) {
        let client = Script::new();
        client.data(first);
        let connection = self.accept(&client);
        (client, connection)
    }

    fn accept(&self, client: &Script) -> Connection {
        let ctx = self.ctx();
        let deadline = ctx.now + ctx.handshake_timeout;
        let peer = "127.0.0.1:50000".parse().expect("peer");
        Connection::accept(
            1,
            (peer, self.local()),
            Socket::scripted(client.clone()),
            deadline,
            &ctx,
        )
        .expect("accepted")
    }
}

/// A server context with a throwaway self-signed certificate.
fn server_tls(dir: &std::path::Path) -> ServerContext {
    let (key, cert) = crate::tls::pem::self_signed(&[("CN", "server")]);
    let mut pem = key.private_key_to_pem_pkcs8().expect("key pem");
    pem.extend(cert.to_pem().expect("cert pem"));
    let path = dir.join("server.pem");
    std::fs::write(&path, pem).expect("write pem");
    let settings = SslSettings {
        pem_key_file: path,
        pem_key_password: None,
        ca_file: None,
        crl_file: None,
        weak_cert_validation: false,
        allow_invalid_certificates: false,
        protocols: Protocols::default(),
        cipher_config: None,
        session_tickets: 0,
        allowed_clients: None,
        ocsp_require: false,
        parameters: Default::default(),
    };
    let decision = crate::fips::decide(None).expect("no FIPS");
    let mut built = crate::tls::server::build(&settings, &decision, 1).expect("context");
    built.contexts.remove(0)
}

/// An SSL-only port (`requireSSL`) and the client that connected to it.
fn ssl_only(dir: &std::path::Path, first_bytes: &[u8]) -> (Fixture, Script, Connection) {
    let fixture = Fixture::new(Role::Server {
        mode: SslMode::Require,
        tls: Some(server_tls(dir)),
    });
    let client = Script::new();
    client.data(first_bytes);
    let connection = fixture.accept(&client);
    (fixture, client, connection)
}

/// An OP_MSG header (16 bytes) and a few body bytes.
fn op_msg() -> Vec<u8> {
    let mut message = Vec::new();
    message.extend_from_slice(&21u32.to_le_bytes());
    message.extend_from_slice(&7u32.to_le_bytes());
    message.extend_from_slice(&0u32.to_le_bytes());
    message.extend_from_slice(&2013u32.to_le_bytes());
    message.extend_from_slice(&[0, 0, 0, 0, 0]);
    message
}

const READY: Option<Ready> = Some(Ready {
    readable: true,
    writable: true,
});

#[test]
fn a_header_split_across_reads_is_sniffed_then_relayed_whole() {
    let fixture = Fixture::plaintext(SslMode::Allow);
    let client = Script::new();
    let message = op_msg();
    client
        .data(&message[..5])
        .read(ReadStep::Block(Io::WantRead));
    let mut connection = fixture.accept(&client);
    let ctx = fixture.ctx();
    assert_eq!(connection.ready(Side::Client, READY, &ctx), Step::Wait);
    assert_eq!(fixture.dial.calls.get(), 0, "dialled before 16 bytes");
    let upstream = fixture.upstream_ok();
    client.data(&message[5..]);
    assert_eq!(connection.ready(Side::Client, READY, &ctx), Step::Wait);
    assert_eq!(fixture.dial.calls.get(), 1);
    // The upstream connect completes: the sniffed bytes are replayed first.
    assert_eq!(connection.ready(Side::Upstream, READY, &ctx), Step::Wait);
    assert!(connection.is_relaying());
    assert_eq!(upstream.written(), message);
}

#[test]
fn an_http_request_gets_the_notice_and_is_closed() {
    let fixture = Fixture::plaintext(SslMode::Allow);
    let client = Script::new();
    client.data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut connection = fixture.accept(&client);
    let step = connection.ready(Side::Client, READY, &fixture.ctx());
    assert_eq!(
        step,
        Step::Close("an HTTP request on the MongoDB port".into())
    );
    assert_eq!(client.written(), wire::HTTP_NOTICE);
    assert_eq!(fixture.dial.calls.get(), 0);
}

#[test]
fn a_client_that_leaves_before_a_message_is_closed() {
    let fixture = Fixture::plaintext(SslMode::Prefer);
    let client = Script::new();
    client.data(b"\x10\0\0").read(ReadStep::Eof { clean: true });
    let mut connection = fixture.accept(&client);
    match connection.ready(Side::Client, READY, &fixture.ctx()) {
        Step::Close(reason) => assert!(reason.contains("before sending a message"), "{reason}"),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[test]
fn a_tls_hello_on_a_port_without_ssl_is_refused() {
    let fixture = Fixture::plaintext(SslMode::Disabled);
    let client = Script::new();
    client.data(&[0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3, 0, 0, 0, 0, 0]);
    let mut connection = fixture.accept(&client);
    match connection.ready(Side::Client, READY, &fixture.ctx()) {
        Step::Close(reason) => assert!(reason.contains("SSL is disabled"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(fixture.dial.calls.get(), 0);
}

#[test]
fn upstream_connect_failure_closes_with_the_reason() {
    let fixture = Fixture::plaintext(SslMode::Allow);
    fixture
        .dial
        .sockets
        .borrow_mut()
        .push_back(Err(io::ErrorKind::ConnectionRefused.into()));
    let (client, mut connection) = fixture.client(&op_msg());
    match connection.ready(Side::Client, READY, &fixture.ctx()) {
        Step::Close(reason) => assert!(
            reason.starts_with("upstream mongod 127.0.0.1:27018 unavailable"),
            "{reason}"
        ),
        other => panic!("expected a close, got {other:?}"),
    }
    assert!(client.write_closed(), "the client was not told");
}

#[test]
fn client_bytes_wait_while_mongod_is_being_connected() {
    let fixture = Fixture::plaintext(SslMode::Allow);
    let upstream = fixture.upstream_ok();
    let (client, mut connection) = fixture.client(&op_msg());
    let ctx = fixture.ctx();
    assert_eq!(connection.ready(Side::Client, READY, &ctx), Step::Wait);
    client.data(b"more");
    assert_eq!(connection.ready(Side::Client, READY, &ctx), Step::Wait);
    assert!(!connection.is_relaying());
    assert!(upstream.written().is_empty());
    assert!(connection.deadline.is_some(), "no connect deadline");
    assert_eq!(connection.ready(Side::Upstream, READY, &ctx), Step::Wait);
    assert_eq!(connection.deadline, None);
    let mut expected = op_msg();
    expected.extend_from_slice(b"more");
    assert_eq!(upstream.written(), expected);
}

#[test]
fn connect_timeout_names_the_phase() {
    let fixture = Fixture::plaintext(SslMode::Allow);
    fixture.upstream_ok();
    let (_client, mut connection) = fixture.client(&op_msg());
    connection.ready(Side::Client, READY, &fixture.ctx());
    assert_eq!(
        connection.timed_out(),
        "connecting to the upstream server timed out"
    );
    // Abandoned: nothing is left to drive.
    assert_eq!(
        connection.ready(Side::Client, READY, &fixture.ctx()),
        Step::Close("internal: no phase".into())
    );
}

#[test]
fn handshake_timeout_on_an_ssl_only_port() {
    let dir = tempfile::tempdir().expect("dir");
    let (fixture, _client, mut connection) = ssl_only(dir.path(), &[0x16, 3, 1]);
    assert_eq!(
        connection.ready(Side::Client, READY, &fixture.ctx()),
        Step::Wait
    );
    assert_eq!(connection.timed_out(), "SSL handshake timed out");
}

#[test]
fn plaintext_on_an_ssl_only_port_gets_mongods_words() {
    let dir = tempfile::tempdir().expect("dir");
    let (fixture, _client, mut connection) = ssl_only(dir.path(), &op_msg());
    match connection.ready(Side::Client, READY, &fixture.ctx()) {
        Step::Close(reason) | Step::CloseQuietly(reason) => assert!(
            reason.contains("The server is configured to only allow SSL connections"),
            "{reason}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(fixture.dial.calls.get(), 0);
}

#[test]
fn a_relayed_connection_ends_when_both_peers_close() {
    let fixture = Fixture::plaintext(SslMode::Allow);
    let upstream = fixture.upstream_ok();
    let client = Script::new();
    client.data(&op_msg()).read(ReadStep::Eof { clean: true });
    upstream.data(b"reply").read(ReadStep::Eof { clean: true });
    let mut connection = fixture.accept(&client);
    let ctx = fixture.ctx();
    connection.ready(Side::Client, READY, &ctx);
    assert_eq!(
        connection.ready(Side::Upstream, READY, &ctx),
        Step::Close("closed by peers".into())
    );
    assert_eq!(client.written(), b"reply");
    // The closing log line still has the counts.
    assert_eq!(connection.bytes(), (op_msg().len() as u64, 5));
}

#[test]
fn drain_on_shutdown_tells_a_relayed_client() {
    let fixture = Fixture::plaintext(SslMode::Allow);
    fixture.upstream_ok();
    let (client, mut connection) = fixture.client(&op_msg());
    let ctx = fixture.ctx();
    connection.ready(Side::Client, READY, &ctx);
    connection.ready(Side::Upstream, READY, &ctx);
    assert!(connection.is_relaying());
    assert_eq!(connection.bytes().0, op_msg().len() as u64);
    connection.abandon();
    assert!(
        client.write_closed(),
        "no half-close / close_notify on shutdown"
    );
    assert!(!connection.is_relaying());
}

#[test]
fn the_tunnel_dials_at_once_and_holds_client_bytes() {
    let dir = tempfile::tempdir().expect("dir");
    // Any context serves: the tunnel only needs one to exist here.
    let _ = server_tls(dir.path());
    let decision = crate::fips::decide(None).expect("no FIPS");
    let trust = crate::tls::client::ClientTrust {
        key_file: None,
        ca_file: None,
        crl_file: None,
        allow_invalid_certificates: true,
        also_system_ca: false,
        tls13_suites: None,
    };
    let context = crate::tls::client::build(&trust, &decision).expect("client context");
    let fixture = Fixture::new(Role::Tunnel(ClientContext::new(
        context,
        "db.example.net".into(),
        false,
    )));
    let upstream = fixture.upstream_ok();
    let client = Script::new();
    client.data(b"plaintext from a local program");
    let mut connection = fixture.accept(&client);
    assert_eq!(fixture.dial.calls.get(), 1);
    assert_eq!(
        connection.ready(Side::Client, READY, &fixture.ctx()),
        Step::Wait
    );
    assert!(upstream.written().is_empty());
    // Connected: the TLS client hello goes out before any client byte.
    assert_eq!(
        connection.ready(Side::Upstream, READY, &fixture.ctx()),
        Step::Wait
    );
    let hello = upstream.written();
    assert_eq!(hello.first(), Some(&0x16), "not a TLS record");
    assert_eq!(
        connection.timed_out(),
        "SSL handshake with the upstream server timed out"
    );
}

/// A plaintext-and-SSL port with the PROXY protocol set both ways.
fn with_proxy_protocol(upstream: ProxyProtocol, trusted: &str) -> Fixture {
    let mut fixture = Fixture::plaintext(SslMode::Allow);
    fixture.proxy_protocol = ProxyProtocolSettings {
        upstream,
        trusted: crate::config::address::parse_networks(trusted).expect("networks"),
    };
    fixture
}

#[test]
fn a_trusted_balancers_header_split_across_reads_names_the_client_upstream() {
    let fixture = with_proxy_protocol(ProxyProtocol::V1, "127.0.0.0/8");
    let client = Script::new();
    let header = b"PROXY TCP4 192.0.2.7 10.0.0.9 51234 27017\r\n";
    let message = op_msg();
    client
        .data(&header[..20])
        .read(ReadStep::Block(Io::WantRead));
    let mut connection = fixture.accept(&client);
    let ctx = fixture.ctx();
    assert_eq!(connection.ready(Side::Client, READY, &ctx), Step::Wait);
    assert_eq!(
        fixture.dial.calls.get(),
        0,
        "dialled before the header ended"
    );
    let upstream = fixture.upstream_ok();
    // The rest of the header and the client's message in one read.
    let mut rest = header[20..].to_vec();
    rest.extend_from_slice(&message);
    client.data(&rest);
    assert_eq!(connection.ready(Side::Client, READY, &ctx), Step::Wait);
    assert_eq!(connection.peer, "192.0.2.7:51234".parse().expect("addr"));
    assert_eq!(connection.ready(Side::Upstream, READY, &ctx), Step::Wait);
    let mut expected = b"PROXY TCP4 192.0.2.7 10.0.0.9 51234 27017\r\n".to_vec();
    expected.extend_from_slice(&message);
    assert_eq!(
        upstream.written(),
        expected,
        "one header, then the bytes unchanged"
    );
    assert_eq!(
        connection.bytes().0,
        message.len() as u64,
        "the header is not the client's"
    );
}

#[test]
fn a_trusted_source_without_a_header_is_refused() {
    let fixture = with_proxy_protocol(ProxyProtocol::None, "127.0.0.1");
    let (_client, mut connection) = fixture.client(&op_msg());
    match connection.ready(Side::Client, READY, &fixture.ctx()) {
        Step::Close(reason) => assert!(
            reason.contains("did not begin with a PROXY header")
                && reason.contains("127.0.0.1:50000"),
            "{reason}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(fixture.dial.calls.get(), 0);
}

#[test]
fn an_untrusted_source_sending_a_header_is_refused() {
    let fixture = with_proxy_protocol(ProxyProtocol::None, "10.0.0.0/8");
    let (_client, mut connection) =
        fixture.client(b"PROXY TCP4 192.0.2.7 10.0.0.9 51234 27017\r\n");
    match connection.ready(Side::Client, READY, &fixture.ctx()) {
        Step::Close(reason) => {
            assert!(reason.contains("not in --proxyProtocolFrom"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(fixture.dial.calls.get(), 0);
}

#[test]
fn a_local_header_keeps_the_peer_and_v2_goes_upstream() {
    let fixture = with_proxy_protocol(ProxyProtocol::V2, "127.0.0.1");
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00".to_vec();
    bytes.extend_from_slice(&op_msg());
    let (_client, mut connection) = fixture.client(&bytes);
    let upstream = fixture.upstream_ok();
    let ctx = fixture.ctx();
    assert_eq!(connection.ready(Side::Client, READY, &ctx), Step::Wait);
    assert_eq!(connection.ready(Side::Upstream, READY, &ctx), Step::Wait);
    let written = upstream.written();
    let parsed = ppp::v2::Header::try_from(&written[..]).expect("a v2 header");
    assert_eq!(
        parsed.addresses,
        ppp::v2::Addresses::from((
            "127.0.0.1:50000".parse::<SocketAddr>().expect("peer"),
            "10.0.0.1:27017".parse::<SocketAddr>().expect("local")
        ))
    );
    assert_eq!(&written[parsed.len()..], &op_msg()[..]);
}

#[test]
fn a_balancer_that_stalls_inside_its_header_times_out() {
    let fixture = with_proxy_protocol(ProxyProtocol::None, "127.0.0.1");
    let client = Script::new();
    client
        .data(b"PROXY TCP4 1.2")
        .read(ReadStep::Block(Io::WantRead));
    let mut connection = fixture.accept(&client);
    assert_eq!(
        connection.ready(Side::Client, READY, &fixture.ctx()),
        Step::Wait
    );
    assert_eq!(connection.timed_out(), "no complete PROXY header in time");
}
