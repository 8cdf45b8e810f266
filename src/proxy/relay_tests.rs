//! Unit tests of the relay over scripted in-memory streams: partial reads
//! and writes, would-block on either side, half-close each way, TLS
//! close_notify against an unclean EOF, back-pressure, large messages.

use super::*;
use crate::proxy::buffer::CAPACITY;
use crate::proxy::script::{ReadStep, Script, WriteStep};

/// A relay between two scripts, and the handles the test keeps.
fn pair() -> (Relay<Script>, Script, Script) {
    let (client, upstream) = (Script::new(), Script::new());
    (
        Relay::new(client.clone(), upstream.clone()),
        client,
        upstream,
    )
}

/// Drives the relay and expects it to wait for the next event.
fn idle(relay: &mut Relay<Script>) {
    assert_eq!(relay.drive(), Progress::Idle);
}

/// Drives the relay to a wait, and checks what `sink` has received so far.
fn idle_then(relay: &mut Relay<Script>, sink: &Script, expected: &[u8]) {
    idle(relay);
    assert_eq!(sink.written(), expected);
}

const BOTH: Ready = Ready {
    readable: true,
    writable: true,
};

#[test]
fn bytes_pass_both_ways_unchanged() {
    let (mut relay, client, upstream) = pair();
    client.data(b"hello ").data(b"mongod");
    upstream.data(b"hello client");
    idle_then(&mut relay, &upstream, b"hello mongod");
    assert_eq!(client.written(), b"hello client");
    assert_eq!(relay.bytes(), (12, 12));
}

#[test]
fn partial_writes_keep_the_rest_for_later() {
    let (mut relay, client, upstream) = pair();
    client.data(b"0123456789");
    upstream
        .write(WriteStep::Take(3))
        .write(WriteStep::Block(Io::WantWrite));
    idle_then(&mut relay, &upstream, b"012");
    // Nothing moves until the upstream socket says it is writable again.
    idle_then(&mut relay, &upstream, b"012");
    relay.on_ready(Side::Upstream, BOTH);
    idle_then(&mut relay, &upstream, b"0123456789");
}

#[test]
fn a_blocked_read_waits_for_the_next_event() {
    let (mut relay, client, upstream) = pair();
    client
        .data(b"ab")
        .read(ReadStep::Block(Io::WantRead))
        .data(b"cd");
    idle_then(&mut relay, &upstream, b"ab");
    let calls = client.read_calls();
    idle(&mut relay);
    assert_eq!(client.read_calls(), calls, "read again without an event");
    relay.on_ready(Side::Client, BOTH);
    idle_then(&mut relay, &upstream, b"abcd");
}

#[test]
fn a_tls_read_that_wants_write_resumes_when_writable() {
    let (mut relay, client, upstream) = pair();
    client.read(ReadStep::Block(Io::WantWrite)).data(b"xy");
    idle(&mut relay);
    assert!(upstream.written().is_empty());
    // Writable only, not readable: that is what the read waited for.
    relay.on_ready(
        Side::Client,
        Ready {
            readable: false,
            writable: true,
        },
    );
    idle_then(&mut relay, &upstream, b"xy");
}

#[test]
fn bytes_openssl_holds_are_read_without_an_event() {
    let (mut relay, client, upstream) = pair();
    client.read(ReadStep::Block(Io::WantRead)).data(b"pending");
    idle(&mut relay);
    client.set_buffered(true);
    idle_then(&mut relay, &upstream, b"pending");
}

#[test]
fn client_half_close_reaches_mongod_after_its_bytes() {
    let (mut relay, client, upstream) = pair();
    client
        .data(b"last words")
        .read(ReadStep::Eof { clean: true });
    upstream.write(WriteStep::Take(4));
    idle_then(&mut relay, &upstream, b"last words");
    assert!(upstream.write_closed());
    // mongod can still answer the half-closed client.
    upstream.data(b"reply");
    relay.on_ready(Side::Upstream, BOTH);
    idle_then(&mut relay, &client, b"reply");
    assert!(!client.write_closed());
}

#[test]
fn mongod_half_close_reaches_the_client_then_both_end() {
    let (mut relay, client, upstream) = pair();
    upstream.data(b"bye").read(ReadStep::Eof { clean: true });
    idle_then(&mut relay, &client, b"bye");
    assert!(
        client.write_closed(),
        "close_notify / half-close not passed on"
    );
    client.read(ReadStep::Eof { clean: true });
    relay.on_ready(Side::Client, BOTH);
    assert_eq!(
        relay.drive(),
        Progress::Ended(Ending::Finished { client_clean: true })
    );
}

#[test]
fn a_client_without_close_notify_is_an_unclean_eof_not_a_failure() {
    let (mut relay, client, upstream) = pair();
    client.read(ReadStep::Eof { clean: false });
    upstream.read(ReadStep::Eof { clean: true });
    assert_eq!(
        relay.drive(),
        Progress::Ended(Ending::Finished {
            client_clean: false
        })
    );
    assert!(upstream.write_closed() && client.write_closed());
}

#[test]
fn back_pressure_stops_reading_while_the_buffer_is_full() {
    let (mut relay, client, upstream) = pair();
    let big = vec![7u8; 3 * CAPACITY];
    client.data(&big);
    upstream.write(WriteStep::Block(Io::WantWrite));
    idle(&mut relay);
    // One buffer's worth read, the rest left in the client's socket.
    assert_eq!(relay.bytes().0, CAPACITY as u64);
    assert!(upstream.written().is_empty());
    assert_eq!(client.unread_steps(), 1);
    relay.on_ready(Side::Upstream, BOTH);
    relay.on_ready(Side::Client, BOTH);
    idle(&mut relay);
    assert_eq!(upstream.written(), big);
}

#[test]
fn a_large_message_arrives_whole_through_small_writes() {
    let (mut relay, client, upstream) = pair();
    let message: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for chunk in message.chunks(16_384) {
        client.data(chunk);
    }
    for _ in 0..400 {
        upstream.write(WriteStep::Take(1000));
    }
    let mut rounds = 0;
    while upstream.written().len() < message.len() && rounds < 100 {
        match relay.drive() {
            Progress::Idle | Progress::Yield => rounds += 1,
            Progress::Ended(ending) => panic!("ended: {ending:?}"),
        }
    }
    assert_eq!(upstream.written(), message);
}

#[test]
fn a_failed_read_or_write_names_the_side() {
    let (mut relay, client, _upstream) = pair();
    client.read(ReadStep::Fail("connection reset".into()));
    assert_eq!(
        relay.drive(),
        Progress::Ended(Ending::ClientFailed("connection reset".into()))
    );
    let (mut relay, client, upstream) = pair();
    upstream.data(b"reply");
    client.write(WriteStep::Closed);
    assert_eq!(
        relay.drive(),
        Progress::Ended(Ending::ClientFailed("client closed".into()))
    );
    let (mut relay, client, upstream) = pair();
    client.data(b"query");
    upstream.write(WriteStep::Fail("broken pipe".into()));
    assert_eq!(
        relay.drive(),
        Progress::Ended(Ending::UpstreamFailed("broken pipe".into()))
    );
}

#[test]
fn a_busy_connection_yields_to_the_others() {
    let (mut relay, client, upstream) = pair();
    // Each round moves one byte to mongod; more rounds than one call may do.
    client.data(&[1u8; 2 * MAX_ROUNDS]);
    for _ in 0..(2 * MAX_ROUNDS) {
        upstream.write(WriteStep::Take(1));
    }
    assert_eq!(relay.drive(), Progress::Yield);
    assert_eq!(upstream.written().len(), MAX_ROUNDS);
    assert_eq!(relay.drive(), Progress::Yield);
    idle(&mut relay);
    assert_eq!(upstream.written().len(), 2 * MAX_ROUNDS);
}
