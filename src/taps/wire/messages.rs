//! Decoding a framed MongoDB message into what the audit needs: a
//! command (OP_MSG with its document sequences, or the legacy OP_QUERY on
//! `db.$cmd` that drivers still send their first hello in), a reply
//! (OP_MSG or OP_REPLY), either of them inside OP_COMPRESSED (snappy, zlib,
//! zstd). Anything else comes back as `Other` with the reason, so that the
//! audit records it rather than guessing.

use std::io::Read;

use bson::{RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};

use super::framing::{Frame, Sequence};
use crate::wire::OP_MSG;

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_COMPRESSED: i32 = 2012;
/// A compressed message that would inflate beyond this is not decoded.
const MAX_INFLATED: usize = 16 * 1024 * 1024;

const CHECKSUM_PRESENT: u32 = 1;
pub const MORE_TO_COME: u32 = 1 << 1;

/// A client's command, as the server will read it.
#[derive(Debug)]
pub struct Command {
    pub request_id: i32,
    /// OP_MSG or OP_QUERY (the one inside OP_COMPRESSED).
    pub op_code: i32,
    /// The database of a legacy OP_QUERY (its namespace's); an OP_MSG
    /// names it in `$db` (`db()`).
    pub legacy_db: Option<String>,
    /// The command's name: its first key.
    pub name: String,
    /// The command document as sent, with the document sequences (kind 1
    /// sections) that were captured added as arrays under their
    /// identifiers.
    pub body: RawDocumentBuf,
    /// The sequences that passed uncounted by the capture: their
    /// identifiers, sizes and document counts only.
    pub sequences: Vec<Sequence>,
    /// No reply will come (`moreToCome`, e.g. unacknowledged writes).
    pub more_to_come: bool,
    /// The compressor it came in, if any.
    pub compressor: Option<&'static str>,
}

/// The server's answer to a command.
#[derive(Debug)]
pub struct Reply {
    pub response_to: i32,
    pub body: RawDocumentBuf,
    /// More replies follow without a request (exhaust cursors, streamed hello).
    pub more_to_come: bool,
    /// Larger than the capture, so `body` is empty: taken as a success
    /// (mongod's error replies are small).
    pub cut_short: bool,
}

impl Command {
    /// The database: `$db` (`admin` when missing), or a legacy one's.
    pub fn db(&self) -> &str {
        match &self.legacy_db {
            Some(db) => db,
            None => self.body.get_str("$db").unwrap_or("admin"),
        }
    }
}

impl Reply {
    /// `ok: 1` (as any number type).
    pub fn ok(&self) -> bool {
        self.cut_short || ok_of(&self.body)
    }

    /// mongod's error code; 8 (UnknownError) for a failure without one.
    /// One pass over the reply for `ok` and `code` both.
    pub fn code(&self) -> i32 {
        if self.cut_short {
            return 0;
        }
        let (mut ok, mut code) = (None, None);
        for (key, value) in self.body.iter().flatten() {
            match key {
                "ok" => ok = as_number(value),
                "code" => code = as_number(value),
                _ => continue,
            }
            if ok.is_some() && code.is_some() {
                break;
            }
        }
        match (code, ok) {
            (Some(code), _) => code as i32,
            (None, Some(1.0)) => 0,
            (None, _) => 8,
        }
    }

    /// The reply's `field` as a document, when it has one.
    pub fn document(&self, field: &str) -> Option<&RawDocument> {
        self.body.get_document(field).ok()
    }
}

/// A reply document's `ok: 1` (as any number type).
pub fn ok_of(reply: &RawDocument) -> bool {
    number(reply, "ok") == Some(1.0)
}

fn number(doc: &RawDocument, field: &str) -> Option<f64> {
    doc.get(field).ok().flatten().and_then(as_number)
}

fn as_number(value: RawBsonRef) -> Option<f64> {
    match value {
        RawBsonRef::Int32(n) => Some(f64::from(n)),
        RawBsonRef::Int64(n) => Some(n as f64),
        RawBsonRef::Double(n) => Some(n),
        RawBsonRef::Boolean(b) => Some(f64::from(u8::from(b))),
        _ => None,
    }
}

#[derive(Debug)]
pub enum Message {
    Command(Command),
    Reply(Reply),
    /// Not decoded (the reason); relayed all the same.
    Other {
        op_code: i32,
        why: String,
    },
}

/// Decodes one message; `flow_is_request` says which way it went.
pub fn decode(frame: &Frame, flow_is_request: bool) -> Message {
    let result = if !frame.complete && !flow_is_request && frame.op_code == OP_COMPRESSED {
        Ok(Message::Reply(cut_short(frame.response_to)))
    } else if frame.op_code == OP_COMPRESSED {
        decompress(frame).and_then(|(op_code, body, compressor)| {
            decode_body(frame, op_code, &body, true, flow_is_request).map(|m| with(m, compressor))
        })
    } else {
        decode_body(
            frame,
            frame.op_code,
            &frame.body,
            frame.complete,
            flow_is_request,
        )
    };
    result.unwrap_or_else(|why| Message::Other {
        op_code: frame.op_code,
        why,
    })
}

fn with(message: Message, compressor: &'static str) -> Message {
    match message {
        Message::Command(mut c) => {
            c.compressor = Some(compressor);
            Message::Command(c)
        }
        other => other,
    }
}

fn decode_body(
    frame: &Frame,
    op_code: i32,
    body: &[u8],
    complete: bool,
    flow_is_request: bool,
) -> Result<Message, String> {
    match (op_code, flow_is_request) {
        (OP_MSG, true) => op_msg_command(frame.request_id, body, complete)
            .map(|c| with_sequences(c, &frame.sequences))
            .map(Message::Command),
        (OP_MSG, false) => op_msg_reply(frame.response_to, body, complete).map(Message::Reply),
        (OP_QUERY, true) => op_query_command(frame.request_id, body).map(Message::Command),
        (OP_REPLY, false) => op_reply(frame.response_to, body).map(Message::Reply),
        (op, _) => Err(format!("opcode {op} is not audited")),
    }
}

/// A little-endian reader over a body.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let slice = self
            .bytes
            .get(self.at..self.at.saturating_add(n))
            .ok_or_else(|| "the message ends early".to_string())?;
        self.at += n;
        Ok(slice)
    }

    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn cstring(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at.min(self.bytes.len())..];
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or("a name has no end")?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.at += end + 1;
        Ok(text)
    }

    /// The bytes of one BSON document (length-prefixed).
    fn document(&mut self) -> Result<&'a [u8], String> {
        let len = self
            .bytes
            .get(self.at..self.at + 4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or("the message ends early")?;
        let len = usize::try_from(len).map_err(|_| "a document has a negative length")?;
        if len < 5 {
            return Err(format!("a document claims {len} bytes"));
        }
        self.take(len)
            .map_err(|_| "the command document is larger than what the audit decodes".into())
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
}

fn parse(bytes: &[u8]) -> Result<RawDocumentBuf, String> {
    RawDocumentBuf::from_bytes(bytes.to_vec())
        .map_err(|e| format!("a document does not parse: {e}"))
}

/// The name (first key) of a command document.
fn name_of(body: &RawDocument) -> Result<String, String> {
    match body.iter().next() {
        Some(Ok((key, _))) => Ok(key.to_string()),
        Some(Err(e)) => Err(format!("a document does not parse: {e}")),
        None => Err("an empty command".into()),
    }
}

/// The sequences that the framer counted instead of capturing.
fn with_sequences(mut command: Command, sequences: &[Sequence]) -> Command {
    command.sequences = sequences.to_vec();
    command
}

fn cut_short(response_to: i32) -> Reply {
    Reply {
        response_to,
        body: RawDocumentBuf::new(),
        more_to_come: false,
        cut_short: true,
    }
}

fn op_msg_command(request_id: i32, body: &[u8], complete: bool) -> Result<Command, String> {
    let mut cursor = Cursor::new(body);
    let flags = cursor.i32()? as u32;
    if complete && flags & CHECKSUM_PRESENT != 0 {
        cursor.bytes = &body[..body.len().saturating_sub(4)];
    }
    let mut command: Option<RawDocumentBuf> = None;
    let mut sequences: Vec<(String, RawArrayBuf)> = Vec::new();
    while !cursor.done() {
        match cursor.u8()? {
            0 => command = Some(parse(cursor.document()?)?),
            1 => {
                let size = usize::try_from(cursor.i32()?).map_err(|_| "a negative section size")?;
                let start = cursor.at;
                let identifier = cursor.cstring()?;
                let mut docs = RawArrayBuf::new();
                while cursor.at < start + size.saturating_sub(4) {
                    match cursor.document() {
                        Ok(doc) => docs.push(parse(doc)?),
                        // The rest is beyond what was captured.
                        Err(_) if !complete => break,
                        Err(why) => return Err(why),
                    }
                }
                sequences.push((identifier, docs));
            }
            kind => return Err(format!("an OP_MSG section of kind {kind}")),
        }
        if !complete && command.is_some() {
            // Sections after a partial capture may be cut anywhere.
            break;
        }
    }
    let mut body = command.ok_or("an OP_MSG without a command document")?;
    let name = name_of(&body)?;
    for (identifier, docs) in sequences {
        body.append(identifier, docs);
    }
    Ok(Command {
        request_id,
        op_code: OP_MSG,
        legacy_db: None,
        name,
        body,
        sequences: Vec::new(),
        more_to_come: flags & MORE_TO_COME != 0,
        compressor: None,
    })
}

fn op_msg_reply(response_to: i32, body: &[u8], complete: bool) -> Result<Reply, String> {
    let mut cursor = Cursor::new(body);
    let flags = cursor.i32()? as u32;
    loop {
        match cursor.u8()? {
            0 => {
                let doc = match cursor.document() {
                    Ok(doc) => doc,
                    Err(_) if !complete => return Ok(cut_short(response_to)),
                    Err(why) => return Err(why),
                };
                let body = RawDocumentBuf::from_bytes(doc.to_vec())
                    .map_err(|e| format!("a reply does not parse: {e}"))?;
                return Ok(Reply {
                    response_to,
                    body,
                    more_to_come: flags & MORE_TO_COME != 0,
                    cut_short: false,
                });
            }
            1 => {
                let size = usize::try_from(cursor.i32()?).map_err(|_| "a negative section size")?;
                cursor.take(size.saturating_sub(4))?;
            }
            kind => return Err(format!("an OP_MSG section of kind {kind}")),
        }
    }
}

fn op_query_command(request_id: i32, body: &[u8]) -> Result<Command, String> {
    let mut cursor = Cursor::new(body);
    let _flags = cursor.i32()?;
    let namespace = cursor.cstring()?;
    let _skip = cursor.i32()?;
    let _return = cursor.i32()?;
    let db = namespace
        .strip_suffix(".$cmd")
        .ok_or_else(|| format!("a legacy query on {namespace} (not a command)"))?
        .to_string();
    let mut query = parse(cursor.document()?)?;
    // Legacy drivers wrap the command with read preferences.
    if let Ok(inner) = query
        .get_document("$query")
        .or_else(|_| query.get_document("query"))
    {
        query = inner.to_raw_document_buf();
    }
    let name = name_of(&query)?;
    Ok(Command {
        request_id,
        op_code: OP_QUERY,
        legacy_db: Some(db),
        name,
        body: query,
        sequences: Vec::new(),
        more_to_come: false,
        compressor: None,
    })
}

fn op_reply(response_to: i32, body: &[u8]) -> Result<Reply, String> {
    let mut cursor = Cursor::new(body);
    let _flags = cursor.i32()?;
    cursor.take(8 + 4 + 4)?; // cursorID, startingFrom, numberReturned
    let doc = cursor.document()?;
    let body = RawDocumentBuf::from_bytes(doc.to_vec())
        .map_err(|e| format!("a reply does not parse: {e}"))?;
    Ok(Reply {
        response_to,
        body,
        more_to_come: false,
        cut_short: false,
    })
}

/// OP_COMPRESSED's original opcode, its inflated body and the compressor.
fn decompress(frame: &Frame) -> Result<(i32, Vec<u8>, &'static str), String> {
    if !frame.complete {
        return Err("a compressed message larger than what the audit decodes".into());
    }
    let mut cursor = Cursor::new(&frame.body);
    let op_code = cursor.i32()?;
    let size = usize::try_from(cursor.i32()?).map_err(|_| "a negative uncompressed size")?;
    if size > MAX_INFLATED {
        return Err(format!("a compressed message inflates to {size} bytes"));
    }
    let id = cursor.u8()?;
    let data = &frame.body[cursor.at..];
    let (inflated, name) = match id {
        0 => (data.to_vec(), "noop"),
        1 => (
            snap::raw::Decoder::new()
                .decompress_vec(data)
                .map_err(|e| format!("snappy: {e}"))?,
            "snappy",
        ),
        2 => {
            let mut out = Vec::with_capacity(size);
            flate2::read::ZlibDecoder::new(data)
                .take(size as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("zlib: {e}"))?;
            (out, "zlib")
        }
        3 => (
            zstd::bulk::decompress(data, size).map_err(|e| format!("zstd: {e}"))?,
            "zstd",
        ),
        other => return Err(format!("compressor id {other} is unknown")),
    };
    if inflated.len() != size {
        return Err(format!(
            "a compressed message inflated to {} bytes, not the {size} its header says",
            inflated.len()
        ));
    }
    Ok((op_code, inflated, name))
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod decode_tests;
