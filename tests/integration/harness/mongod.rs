//! A fake mongod for the check tests: a plaintext backend that reads
//! OP_MSG commands and answers each with a BSON reply. Its BSON and
//! framing are written here, apart from the code under test, so a bug
//! shared by mongossl's encoder and decoder cannot hide.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::net::Backend;

/// A reply field.
pub enum Field {
    Bool(bool),
    Int(i32),
    Double(f64),
    Str(&'static str),
    Strs(&'static [&'static str]),
}

fn element(out: &mut Vec<u8>, key: &str, field: &Field) {
    let (kind, payload): (u8, Vec<u8>) = match field {
        Field::Bool(b) => (0x08, vec![u8::from(*b)]),
        Field::Int(n) => (0x10, n.to_le_bytes().to_vec()),
        Field::Double(d) => (0x01, d.to_le_bytes().to_vec()),
        Field::Str(s) => {
            let mut p = ((s.len() + 1) as i32).to_le_bytes().to_vec();
            p.extend(s.as_bytes());
            p.push(0);
            (0x02, p)
        }
        Field::Strs(items) => {
            // An array is a document keyed "0", "1", ...
            let mut body = Vec::new();
            for (i, item) in items.iter().enumerate() {
                element(&mut body, &i.to_string(), &Field::Str(item));
            }
            let mut p = ((body.len() + 5) as i32).to_le_bytes().to_vec();
            p.extend(body);
            p.push(0);
            (0x04, p)
        }
    };
    out.push(kind);
    out.extend(key.as_bytes());
    out.push(0);
    out.extend(payload);
}

/// A BSON document of these fields, in order.
pub fn document(fields: &[(&str, Field)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, field) in fields {
        element(&mut body, key, field);
    }
    let mut doc = ((body.len() + 5) as i32).to_le_bytes().to_vec();
    doc.extend(body);
    doc.push(0);
    doc
}

fn le_i32(bytes: &[u8]) -> i32 {
    i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The request id and command name (the body's first key) of an OP_MSG,
/// or None for anything else.
fn command_of(message: &[u8]) -> Option<(i32, String)> {
    if message.len() < 26 || le_i32(&message[12..16]) != 2013 || message[20] != 0 {
        return None;
    }
    // Header 16, flags 4, section kind 1, document length 4, element type 1.
    let key = &message[26..];
    let end = key.iter().position(|b| *b == 0)?;
    Some((
        le_i32(&message[4..8]),
        String::from_utf8_lossy(&key[..end]).into_owned(),
    ))
}

fn op_msg_reply(response_to: i32, body: &[u8]) -> Vec<u8> {
    let length = 16 + 4 + 1 + body.len();
    let mut m = (length as i32).to_le_bytes().to_vec();
    m.extend(99i32.to_le_bytes());
    m.extend(response_to.to_le_bytes());
    m.extend(2013i32.to_le_bytes());
    m.extend(0u32.to_le_bytes());
    m.push(0);
    m.extend(body);
    m
}

/// Serves one connection: every OP_MSG gets `answer(command)`; anything
/// that is not an OP_MSG ends the connection, as mongod would.
fn serve(mut stream: TcpStream, answer: fn(&str) -> Vec<u8>) {
    loop {
        let mut header = [0u8; 16];
        if stream.read_exact(&mut header).is_err() {
            return;
        }
        // A TLS record: mongod without SSL hangs up ("SSL handshake
        // received but server is started without SSL support").
        if header[0] == 0x16 {
            return;
        }
        let length = le_i32(&header[..4]);
        if !(16..=48_000_000).contains(&length) {
            return;
        }
        let mut message = header.to_vec();
        message.resize(length as usize, 0);
        if stream.read_exact(&mut message[16..]).is_err() {
            return;
        }
        let Some((request_id, command)) = command_of(&message) else {
            return;
        };
        let reply = op_msg_reply(request_id, &answer(&command));
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}

/// A primary: `{isWritablePrimary: true, maxWireVersion: 17, ok: 1}`.
pub fn primary() -> Backend {
    Backend::start(|s| {
        serve(s, |_| {
            document(&[
                ("isWritablePrimary", Field::Bool(true)),
                ("maxWireVersion", Field::Int(17)),
                ("ok", Field::Double(1.0)),
            ])
        })
    })
}

/// A replica-set secondary that names its set and members.
pub fn secondary() -> Backend {
    Backend::start(|s| {
        serve(s, |_| {
            document(&[
                ("isWritablePrimary", Field::Bool(false)),
                ("secondary", Field::Bool(true)),
                ("setName", Field::Str("rs0")),
                (
                    "hosts",
                    Field::Strs(&["db1.example:27017", "db2.example:27017"]),
                ),
                ("maxWireVersion", Field::Int(21)),
                ("ok", Field::Double(1.0)),
            ])
        })
    })
}

/// A server that answers every command with `ok: 0`.
pub fn refusing() -> Backend {
    Backend::start(|s| {
        serve(s, |_| {
            document(&[
                ("ok", Field::Double(0.0)),
                ("errmsg", Field::Str("node is shutting down")),
                ("code", Field::Int(91)),
            ])
        })
    })
}

/// A server from before MongoDB 4.4.2: no `hello`, but `isMaster`.
pub fn pre_hello() -> Backend {
    Backend::start(|s| {
        serve(s, |command| {
            if command.eq_ignore_ascii_case("ismaster") {
                document(&[
                    ("ismaster", Field::Bool(true)),
                    ("maxWireVersion", Field::Int(8)),
                    ("ok", Field::Double(1.0)),
                ])
            } else {
                document(&[
                    ("ok", Field::Double(0.0)),
                    ("errmsg", Field::Str("no such command: 'hello'")),
                    ("code", Field::Int(59)),
                    ("codeName", Field::Str("CommandNotFound")),
                ])
            }
        })
    })
}

/// Accepts, reads whatever comes, and never answers.
pub fn stalling() -> Backend {
    Backend::start(|mut s| {
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    })
}
