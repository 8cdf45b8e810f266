//! `--wire`: the byte stream cut into real MongoDB messages, so that a
//! proxy that reads the wire protocol (mongossl's audit and command
//! metrics) does its real work. Each message is an OP_MSG whose
//! `responseTo` is its own `requestID`, so the echo backend's copy reads as
//! its reply. Round trips send `{ping: 1, $db: "bench", p: <binary>}`
//! filling the round's size; streams send inserts of one document
//! (`{insert: "bench", $db: "bench"}` with a `documents` sequence holding
//! `{p: <binary>}`) of `STREAM_FRAME` bytes. The binary is the pattern's
//! bytes, so the stream is still checked byte for byte.

/// The size of each message of a wire stream.
pub const STREAM_FRAME: u64 = 256 * 1024;

/// The smallest round-trip size that holds the ping command.
pub const MIN_ROUND: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Round trips: one ping of the round's size.
    Ping,
    /// A stream of one-document inserts.
    Insert,
}

fn push_i32(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(&(n as i32).to_le_bytes());
}

/// The first bytes of message `index` of `len` bytes; its last byte is
/// the document's terminating zero.
fn prefix(shape: Shape, len: u64, index: u64) -> Vec<u8> {
    let len = len as i64;
    let mut out = Vec::with_capacity(96);
    push_i32(&mut out, len);
    push_i32(&mut out, index as i64);
    push_i32(&mut out, index as i64);
    push_i32(&mut out, 2013);
    push_i32(&mut out, 0); // flags
    out.push(0); // kind 0: the command document
    let db = |out: &mut Vec<u8>| {
        out.push(0x02);
        out.extend_from_slice(b"$db\0");
        push_i32(out, 6);
        out.extend_from_slice(b"bench\0");
    };
    match shape {
        Shape::Ping => {
            // Document: length, ping, $db, then p reaching the frame's end.
            let doc_len = len - 21;
            push_i32(&mut out, doc_len);
            out.push(0x10);
            out.extend_from_slice(b"ping\0");
            push_i32(&mut out, 1);
            db(&mut out);
            out.push(0x05);
            out.extend_from_slice(b"p\0");
            let bin = len - (out.len() as i64 + 4 + 1) - 1;
            push_i32(&mut out, bin);
            out.push(0); // generic binary
        }
        Shape::Insert => {
            let command_start = out.len();
            push_i32(&mut out, 0); // patched below
            out.push(0x02);
            out.extend_from_slice(b"insert\0");
            push_i32(&mut out, 6);
            out.extend_from_slice(b"bench\0");
            db(&mut out);
            out.push(0);
            let command_len = (out.len() - command_start) as i32;
            out[command_start..command_start + 4].copy_from_slice(&command_len.to_le_bytes());
            out.push(1); // kind 1: documents
            let section_len = len - out.len() as i64;
            push_i32(&mut out, section_len);
            out.extend_from_slice(b"documents\0");
            let doc_len = len - out.len() as i64;
            push_i32(&mut out, doc_len);
            out.push(0x05);
            out.extend_from_slice(b"p\0");
            let bin = len - (out.len() as i64 + 4 + 1) - 1;
            push_i32(&mut out, bin);
            out.push(0);
        }
    }
    out
}

/// Writes the message framing over `out`, which holds the stream's bytes
/// at `pos..`; messages are `len` bytes long.
pub fn overlay(shape: Shape, len: u64, pos: u64, out: &mut [u8]) {
    let end = pos + out.len() as u64;
    let mut index = pos / len;
    while index * len < end {
        let start = index * len;
        let head = prefix(shape, len, index);
        for (i, byte) in head.iter().enumerate() {
            let at = start + i as u64;
            if at >= pos && at < end {
                out[(at - pos) as usize] = *byte;
            }
        }
        let last = start + len - 1;
        if last >= pos && last < end {
            out[(last - pos) as usize] = 0;
        }
        index += 1;
    }
}
