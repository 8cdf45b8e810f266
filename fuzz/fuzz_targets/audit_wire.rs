//! Fuzzes the audit's wire decoder: arbitrary bytes, cut at an arbitrary
//! point, go through the framer (both directions), the message decoder,
//! the command counter's glance and a connection's session. It must never
//! panic, must find the same messages however the stream is cut (whole
//! captures and first-document ones alike), and every event it makes must
//! encode as BSON and as one line of JSON.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use mongossl::proxy::tap::Flow;
use mongossl::taps::audit::events::Endpoints;
use mongossl::taps::audit::extjson;
use mongossl::taps::audit::session::Session;
use mongossl::taps::wire::framing::{Found, Framer};
use mongossl::taps::wire::glance::glance;
use mongossl::taps::wire::messages;

fn frames(make: fn() -> Framer, chunks: &[&[u8]]) -> Vec<Found> {
    let mut framer = make();
    let mut found = Vec::new();
    for chunk in chunks {
        framer.feed(chunk, &mut |f| found.push(f));
    }
    found
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(stream.len());
    let whole = frames(Framer::default, &[stream]);
    assert_eq!(
        whole,
        frames(Framer::default, &[&stream[..cut], &stream[cut..]]),
        "cut at {cut}"
    );
    let first = || Framer::first_document(64);
    let firsts = frames(first, &[stream]);
    assert_eq!(
        firsts,
        frames(first, &[&stream[..cut], &stream[cut..]]),
        "first documents, cut at {cut}"
    );

    let remote: SocketAddr = ([192, 0, 2, 1], 4000).into();
    let mut session = Session::new(Endpoints::new(None, remote), true, None);
    let mut events = Vec::new();
    for (i, found) in whole.into_iter().chain(firsts).enumerate() {
        // The same bytes read as requests and as replies.
        let flow = if i % 2 == 0 {
            Flow::ToUpstream
        } else {
            Flow::ToClient
        };
        match found {
            Found::Frame(frame) => {
                for as_request in [true, false] {
                    let _ = glance(&frame, as_request);
                    let message = messages::decode(&frame, as_request);
                    session.message(flow, message, &mut events);
                }
            }
            Found::Lost(why) => events.push(session.undecoded(flow, 0, &why)),
        }
    }
    session.ended("fuzz", &mut events);
    for event in events {
        let mut bytes = Vec::new();
        event
            .to_document()
            .to_writer(&mut bytes)
            .expect("an event encodes as BSON");
        let mut line = Vec::new();
        extjson::write_event(&event, &mut line);
        serde_json::from_slice::<serde_json::Value>(&line).expect("an event is one JSON object");
    }
});
