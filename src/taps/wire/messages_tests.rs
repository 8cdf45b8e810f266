//! Decoding real message shapes: OP_MSG with document sequences and a
//! checksum, the legacy OP_QUERY hello and its OP_REPLY, each compressor.

use std::io::Write;

use bson::{Document, doc};

use super::*;

pub fn op_msg_body(
    flags: u32,
    command: &Document,
    sequence: Option<(&str, &[Document])>,
) -> Vec<u8> {
    let mut body = flags.to_le_bytes().to_vec();
    body.push(0);
    command.to_writer(&mut body).unwrap();
    if let Some((identifier, docs)) = sequence {
        let mut section = Vec::new();
        section.extend_from_slice(identifier.as_bytes());
        section.push(0);
        for d in docs {
            d.to_writer(&mut section).unwrap();
        }
        body.push(1);
        body.extend_from_slice(&((section.len() + 4) as i32).to_le_bytes());
        body.extend(section);
    }
    body
}

pub fn frame(op_code: i32, request_id: i32, response_to: i32, body: Vec<u8>) -> Frame {
    Frame {
        length: body.len() + 16,
        request_id,
        response_to,
        op_code,
        body,
        complete: true,
        sequences: Vec::new(),
    }
}

#[test]
fn an_op_msg_command_with_a_document_sequence() {
    let command = doc! { "insert": "orders", "ordered": true, "$db": "shop" };
    let docs = [doc! { "a": 1 }, doc! { "a": 2 }];
    let body = op_msg_body(0, &command, Some(("documents", &docs)));
    let Message::Command(c) = decode(&frame(OP_MSG, 7, 0, body), true) else {
        panic!()
    };
    assert_eq!(
        (c.request_id, c.name.as_str(), c.db()),
        (7, "insert", "shop")
    );
    assert_eq!(
        c.body.get_array("documents").unwrap().into_iter().count(),
        2
    );
    assert!(!c.more_to_come && c.compressor.is_none());
}

#[test]
fn more_to_come_and_a_checksum() {
    let command = doc! { "insert": "t", "$db": "d", "writeConcern": { "w": 0 } };
    let mut body = op_msg_body(MORE_TO_COME | CHECKSUM_PRESENT, &command, None);
    body.extend_from_slice(&[1, 2, 3, 4]);
    let Message::Command(c) = decode(&frame(OP_MSG, 1, 0, body), true) else {
        panic!()
    };
    assert!(c.more_to_come);
    assert_eq!(c.name, "insert");
}

#[test]
fn replies_say_ok_or_their_code() {
    let ok = op_msg_body(0, &doc! { "n": 1, "ok": 1.0 }, None);
    let Message::Reply(r) = decode(&frame(OP_MSG, 2, 7, ok), false) else {
        panic!()
    };
    assert!(r.ok() && r.code() == 0 && r.response_to == 7);
    let failed = op_msg_body(0, &doc! { "ok": 0.0, "errmsg": "no", "code": 59 }, None);
    let Message::Reply(r) = decode(&frame(OP_MSG, 2, 8, failed), false) else {
        panic!()
    };
    assert!(!r.ok());
    assert_eq!(r.code(), 59);
    let no_code = op_msg_body(0, &doc! { "ok": 0 }, None);
    let Message::Reply(r) = decode(&frame(OP_MSG, 2, 8, no_code), false) else {
        panic!()
    };
    assert_eq!(r.code(), 8);
}

#[test]
fn the_legacy_hello_and_its_reply() {
    let mut body = 0i32.to_le_bytes().to_vec();
    body.extend_from_slice(b"admin.$cmd\0");
    body.extend_from_slice(&0i32.to_le_bytes());
    body.extend_from_slice(&(-1i32).to_le_bytes());
    doc! { "isMaster": 1, "client": { "driver": { "name": "x" } } }
        .to_writer(&mut body)
        .unwrap();
    let Message::Command(c) = decode(&frame(OP_QUERY, 3, 0, body), true) else {
        panic!()
    };
    assert_eq!((c.name.as_str(), c.db()), ("isMaster", "admin"));
    let mut reply = 0i32.to_le_bytes().to_vec();
    reply.extend_from_slice(&[0; 16]);
    doc! { "ismaster": true, "ok": 1 }
        .to_writer(&mut reply)
        .unwrap();
    let Message::Reply(r) = decode(&frame(OP_REPLY, 4, 3, reply), false) else {
        panic!()
    };
    assert!(r.ok());
}

fn compressed(id: u8, inner: &[u8]) -> Vec<u8> {
    let data = match id {
        1 => snap::raw::Encoder::new().compress_vec(inner).unwrap(),
        2 => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(inner).unwrap();
            e.finish().unwrap()
        }
        3 => zstd::bulk::compress(inner, 3).unwrap(),
        _ => inner.to_vec(),
    };
    let mut body = OP_MSG.to_le_bytes().to_vec();
    body.extend_from_slice(&(inner.len() as i32).to_le_bytes());
    body.push(id);
    body.extend(data);
    body
}

#[test]
fn every_compressor_inflates() {
    let inner = op_msg_body(0, &doc! { "find": "orders", "$db": "shop" }, None);
    for (id, name) in [(0, "noop"), (1, "snappy"), (2, "zlib"), (3, "zstd")] {
        let Message::Command(c) = decode(&frame(OP_COMPRESSED, 5, 0, compressed(id, &inner)), true)
        else {
            panic!("{name}")
        };
        assert_eq!(c.name, "find");
        assert_eq!(c.compressor, Some(name));
    }
}

#[test]
fn what_cannot_be_read_says_why() {
    let mut lying = compressed(2, &op_msg_body(0, &doc! { "ping": 1 }, None));
    lying[4] = 0xff; // a size that is not what inflates
    let Message::Other { why, .. } = decode(&frame(OP_COMPRESSED, 1, 0, lying), true) else {
        panic!()
    };
    assert!(why.contains("inflated to"), "{why}");
    let Message::Other { why, .. } = decode(&frame(OP_COMPRESSED, 1, 0, compressed(9, b"x")), true)
    else {
        panic!()
    };
    assert!(why.contains("compressor id 9"), "{why}");
    let Message::Other { why, .. } = decode(&frame(2002, 1, 0, vec![0; 20]), true) else {
        panic!()
    };
    assert!(why.contains("2002"), "{why}");
    let Message::Other { why, .. } = decode(&frame(OP_MSG, 1, 0, vec![0, 0, 0, 0, 0, 9]), true)
    else {
        panic!()
    };
    assert!(why.contains("ends early"), "{why}");
}

#[test]
fn a_partly_captured_command_still_decodes_its_command_document() {
    let docs: Vec<Document> = (0..3).map(|i| doc! { "i": i }).collect();
    let mut body = op_msg_body(
        0,
        &doc! { "insert": "big", "$db": "d" },
        Some(("documents", &docs)),
    );
    body.truncate(body.len() - 5);
    let mut f = frame(OP_MSG, 1, 0, body);
    f.complete = false;
    let Message::Command(c) = decode(&f, true) else {
        panic!()
    };
    assert_eq!(c.name, "insert");
}

/// The whole message around `body`, as the relay carries it.
fn message(op_code: i32, request_id: i32, response_to: i32, body: &[u8]) -> Vec<u8> {
    let mut m = ((body.len() + 16) as i32).to_le_bytes().to_vec();
    for field in [request_id, response_to, op_code] {
        m.extend_from_slice(&field.to_le_bytes());
    }
    m.extend_from_slice(body);
    m
}

fn first_frame(framer: &mut super::super::framing::Framer, stream: &[u8]) -> Frame {
    let mut found = Vec::new();
    framer.feed(stream, &mut |f| found.push(f));
    match found.pop() {
        Some(super::super::framing::Found::Frame(frame)) => frame,
        other => panic!("{other:?}"),
    }
}

#[test]
fn counted_sequences_come_with_the_command_not_in_it() {
    use super::super::framing::Framer;
    let docs: Vec<Document> = (0..4).map(|i| doc! { "card": "4111", "i": i }).collect();
    let command = doc! { "insert": "orders", "$db": "shop" };
    let body = op_msg_body(0, &command, Some(("documents", &docs)));
    let stream = message(OP_MSG, 3, 0, &body);
    let frame = first_frame(&mut Framer::first_document(1 << 20), &stream);
    let Message::Command(c) = decode(&frame, true) else {
        panic!()
    };
    assert_eq!((c.name.as_str(), c.db()), ("insert", "shop"));
    assert!(c.body.get("documents").unwrap().is_none(), "not copied");
    let [sequence] = &c.sequences[..] else {
        panic!("{:?}", c.sequences)
    };
    assert_eq!(
        (sequence.identifier.as_str(), sequence.count),
        ("documents", 4)
    );
    // flags, kind 0, the command, kind 1: the rest is the section.
    let command_len = bson::to_vec(&command).unwrap().len();
    assert_eq!(sequence.bytes, body.len() - 4 - 1 - command_len - 1);
}

#[test]
fn a_reply_larger_than_the_capture_is_a_success() {
    use super::super::framing::Framer;
    let batch: Vec<i32> = (0..2000).collect();
    let reply = doc! { "cursor": { "firstBatch": batch }, "ok": 1 };
    let stream = message(OP_MSG, 9, 4, &op_msg_body(0, &reply, None));
    let frame = first_frame(&mut Framer::first_document(1024), &stream);
    let Message::Reply(r) = decode(&frame, false) else {
        panic!()
    };
    assert!(r.cut_short && r.ok() && r.code() == 0 && r.response_to == 4);
    let zlib = compressed(2, &op_msg_body(0, &reply, None));
    let frame = first_frame(
        &mut Framer::first_document(1024),
        &message(OP_COMPRESSED, 9, 5, &zlib),
    );
    assert!(
        matches!(decode(&frame, false), Message::Reply(r) if r.cut_short && r.response_to == 5)
    );
}
