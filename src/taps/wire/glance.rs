//! A glance at a framed message, for the command counter: a request's
//! command name and whether it wants a reply, or a reply's `ok`. OP_MSG,
//! which carries nearly all traffic, is read in place — the name is the
//! first element's key, `ok` one field of the reply document — without
//! parsing or copying documents; OP_COMPRESSED and the legacy opcodes go
//! through the full decoder (`messages`).

use std::borrow::Cow;

use bson::RawDocument;

use super::framing::Frame;
use super::messages::{self, MORE_TO_COME, Message};
use crate::wire::OP_MSG;

pub enum Glance<'a> {
    /// `name` is empty when the request does not decode.
    Request {
        name: Cow<'a, str>,
        more_to_come: bool,
    },
    Reply {
        ok: bool,
    },
}

/// `flow_is_request` says which way the message went.
pub fn glance(frame: &Frame, flow_is_request: bool) -> Glance<'_> {
    match (frame.op_code, flow_is_request) {
        (OP_MSG, true) => match command_name(&frame.body) {
            Some((name, more_to_come)) => Glance::Request {
                name: Cow::Borrowed(name),
                more_to_come,
            },
            None => Glance::Request {
                name: Cow::Borrowed(""),
                more_to_come: false,
            },
        },
        // Error replies are small: one cut short by the capture is a result.
        (_, false) if !frame.complete => Glance::Reply { ok: true },
        (OP_MSG, false) => Glance::Reply {
            ok: reply_document(&frame.body).is_some_and(messages::ok_of),
        },
        _ => match messages::decode(frame, flow_is_request) {
            Message::Command(command) => Glance::Request {
                name: Cow::Owned(command.name),
                more_to_come: command.more_to_come,
            },
            Message::Reply(reply) => Glance::Reply { ok: reply.ok() },
            Message::Other { .. } if flow_is_request => Glance::Request {
                name: Cow::Borrowed(""),
                more_to_come: false,
            },
            Message::Other { .. } => Glance::Reply { ok: false },
        },
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The sections of an OP_MSG body: (kind, the section's bytes after the
/// kind byte). Stops at the first one that does not fit.
fn sections(body: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut at = 4;
    std::iter::from_fn(move || {
        let kind = *body.get(at)?;
        let size = usize::try_from(u32_at(body, at + 1)?).ok()?;
        let section = body.get(at + 1..(at + 1).checked_add(size)?)?;
        at += 1 + size;
        Some((kind, section))
    })
}

/// The first key of the kind-0 document, and the moreToCome flag.
fn command_name(body: &[u8]) -> Option<(&str, bool)> {
    let flags = u32_at(body, 0)?;
    let (_, document) = sections(body).find(|(kind, _)| *kind == 0)?;
    // length (4), element type (1), then the key up to its NUL.
    let key = document.get(5..)?;
    let end = key.iter().position(|b| *b == 0)?;
    let name = std::str::from_utf8(&key[..end]).ok()?;
    (!name.is_empty()).then_some((name, flags & MORE_TO_COME != 0))
}

fn reply_document(body: &[u8]) -> Option<&RawDocument> {
    let (_, document) = sections(body).find(|(kind, _)| *kind == 0)?;
    RawDocument::from_bytes(document).ok()
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn frame(op_code: i32, body: Vec<u8>, complete: bool) -> Frame {
        Frame {
            length: 16 + body.len(),
            request_id: 1,
            response_to: 0,
            op_code,
            body,
            complete,
            sequences: Vec::new(),
        }
    }

    fn op_msg(flags: u32, sequence_first: bool, command: &bson::Document) -> Vec<u8> {
        let mut body = flags.to_le_bytes().to_vec();
        let mut sequence = vec![1u8];
        let docs = bson::to_vec(&doc! {"x": 1}).expect("bson");
        sequence.extend(((4 + 10 + docs.len()) as u32).to_le_bytes());
        sequence.extend(b"documents\0");
        sequence.extend(docs);
        if sequence_first {
            body.extend(&sequence);
        }
        body.push(0);
        body.extend(bson::to_vec(command).expect("bson"));
        if !sequence_first {
            body.extend(&sequence);
        }
        body
    }

    #[test]
    fn a_command_name_is_read_in_place() {
        for sequence_first in [false, true] {
            let body = op_msg(2, sequence_first, &doc! {"insert": "c", "$db": "t"});
            match glance(&frame(OP_MSG, body, true), true) {
                Glance::Request { name, more_to_come } => {
                    assert_eq!((name.as_ref(), more_to_come), ("insert", true))
                }
                Glance::Reply { .. } => panic!("a request read as a reply"),
            }
        }
    }

    #[test]
    fn replies_give_ok_and_short_captures_count_as_results() {
        let ok = |d: bson::Document, complete| match glance(
            &frame(OP_MSG, op_msg(0, false, &d), complete),
            false,
        ) {
            Glance::Reply { ok } => ok,
            Glance::Request { .. } => panic!("a reply read as a request"),
        };
        assert!(ok(doc! {"cursor": {}, "ok": 1.0}, true));
        assert!(!ok(doc! {"ok": 0.0, "code": 59}, true));
        assert!(ok(doc! {"ok": 0.0}, false));
    }

    #[test]
    fn garbage_is_a_nameless_request_or_a_failed_reply() {
        for body in [vec![], vec![0, 0, 0, 0, 0, 5, 0, 0, 0, 0], vec![0xff; 40]] {
            match glance(&frame(OP_MSG, body.clone(), true), true) {
                Glance::Request { name, .. } => assert_eq!(name, ""),
                Glance::Reply { .. } => panic!("garbage request read as a reply"),
            }
            assert!(matches!(
                glance(&frame(OP_MSG, body, true), false),
                Glance::Reply { ok: false }
            ));
        }
    }
}
