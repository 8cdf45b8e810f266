//! Cutting one direction of a relayed stream into MongoDB messages as its
//! bytes pass, without holding the stream: each message's 16-byte header
//! and at most the first `CAPTURE_LIMIT` bytes of its body are copied; the
//! rest of a large message (bulk inserts, big replies) is only counted.
//! A framer made with `first_document` copies even less of an OP_MSG: its
//! flags and its command document (the kind-0 section), while document
//! sequences (kind-1 sections: the data of inserts, updates and deletes)
//! are walked as they pass — their identifier, documents and bytes
//! counted — and never copied.
//! A stream whose header is impossible (a length under 16 or over mongod's
//! maximum) cannot be followed any further: the framer says so once and
//! then ignores that direction. The relay is never affected either way.

use crate::proxy::tap::Flow;
use crate::wire::{HEADER_LEN, MAX_MESSAGE_LEN, OP_MSG};

/// OP_MSG's checksumPresent flag: the body ends with 4 bytes of CRC-32C.
const CHECKSUM_PRESENT: u32 = 1;
/// An identifier longer than this is cut (they are field names).
const MAX_IDENTIFIER: usize = 64;

/// How much of a message body is kept for decoding: enough for any
/// command document a person writes, and for compressed messages of that
/// size; bulk payloads beyond it are not copied.
pub const CAPTURE_LIMIT: usize = 1024 * 1024;

/// One message as the framer saw it.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub length: usize,
    pub request_id: i32,
    pub response_to: i32,
    pub op_code: i32,
    /// The body's first bytes (all of it when `complete`); with
    /// `first_document`, an OP_MSG's flags and command document.
    pub body: Vec<u8>,
    pub complete: bool,
    /// The document sequences that passed uncopied (`first_document`).
    pub sequences: Vec<Sequence>,
}

/// An OP_MSG document sequence, as counted while it passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequence {
    /// Its field in the command (`documents`, `updates`, `deletes`).
    pub identifier: String,
    pub count: u32,
    /// The section's size.
    pub bytes: usize,
}

/// What the framer found in one chunk of bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Frame(Frame),
    /// The stream stopped looking like MongoDB messages (the reason).
    Lost(String),
}

pub struct Framer {
    /// How much of each body is kept (`CAPTURE_LIMIT` by default).
    capture: usize,
    /// OP_MSG bodies are kept up to their command document only.
    first_document: bool,
    /// Where the current OP_MSG is among its sections (`first_document`).
    sections: Sections,
    header: [u8; HEADER_LEN],
    header_len: usize,
    /// The current message, once its header is in.
    current: Option<Frame>,
    /// Body bytes of the current message still to come.
    remaining: usize,
    lost: bool,
}

impl Default for Framer {
    fn default() -> Framer {
        Framer::capturing(CAPTURE_LIMIT)
    }
}

impl Framer {
    /// A framer that keeps at most `capture` bytes of each body.
    pub fn capturing(capture: usize) -> Framer {
        Framer {
            capture,
            first_document: false,
            sections: Sections::new(0),
            header: [0; HEADER_LEN],
            header_len: 0,
            current: None,
            remaining: 0,
            lost: false,
        }
    }

    /// A framer that keeps an OP_MSG's flags and command document (at most
    /// `capture` bytes of it) and counts its document sequences; other
    /// messages as `capturing`.
    pub fn first_document(capture: usize) -> Framer {
        Framer {
            first_document: true,
            ..Framer::capturing(capture)
        }
    }

    /// Takes the next bytes of the stream; calls `found` for each message
    /// that ends in them (and once when the stream is lost).
    pub fn feed(&mut self, mut bytes: &[u8], found: &mut dyn FnMut(Found)) {
        while !bytes.is_empty() && !self.lost {
            if self.current.is_none() {
                let take = (HEADER_LEN - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_len += take;
                bytes = &bytes[take..];
                if self.header_len < HEADER_LEN {
                    return;
                }
                self.header_len = 0;
                match self.start_message() {
                    Ok(()) => {}
                    Err(why) => {
                        self.lost = true;
                        found(Found::Lost(why));
                        return;
                    }
                }
            }
            let take = self.remaining.min(bytes.len());
            if let Some(frame) = self.current.as_mut() {
                if self.first_document && frame.op_code == OP_MSG {
                    self.sections.feed(&bytes[..take], frame, self.capture);
                } else {
                    keep(frame, &bytes[..take], self.capture);
                }
            }
            self.remaining -= take;
            bytes = &bytes[take..];
            if self.remaining == 0
                && let Some(mut frame) = self.current.take()
            {
                frame.complete = frame.body.len() + HEADER_LEN == frame.length;
                found(Found::Frame(frame));
            }
        }
    }

    fn start_message(&mut self) -> Result<(), String> {
        let h = &self.header;
        let field = |at: usize| i32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let length = field(0);
        let length = usize::try_from(length)
            .ok()
            .filter(|n| (HEADER_LEN..=MAX_MESSAGE_LEN).contains(n))
            .ok_or_else(|| format!("a message header gives the length {length}"))?;
        self.remaining = length - HEADER_LEN;
        let op_code = field(12);
        let expected = if self.first_document && op_code == OP_MSG {
            self.sections = Sections::new(self.remaining);
            // Flags, the kind byte and a small command; more if it is not.
            self.remaining.min(256)
        } else {
            self.remaining
        };
        self.current = Some(Frame {
            length,
            request_id: field(4),
            response_to: field(8),
            op_code,
            body: Vec::with_capacity(expected.min(self.capture)),
            complete: false,
            sequences: Vec::new(),
        });
        Ok(())
    }
}

/// Both directions of one connection, each cut into messages on its own.
pub struct Directions {
    /// Client → mongod.
    pub requests: Framer,
    /// mongod → client.
    pub replies: Framer,
}

impl Directions {
    /// Feeds `bytes` to the framer of the direction they went.
    pub fn feed(&mut self, flow: Flow, bytes: &[u8], found: &mut dyn FnMut(Found)) {
        match flow {
            Flow::ToUpstream => self.requests.feed(bytes, found),
            Flow::ToClient => self.replies.feed(bytes, found),
        }
    }
}

/// Copies what room is left under `capture`.
fn keep(frame: &mut Frame, bytes: &[u8], capture: usize) {
    let room = capture.saturating_sub(frame.body.len());
    frame
        .body
        .extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Where a walk through an OP_MSG body is.
#[derive(Clone, Copy, Debug)]
enum At {
    Flags,
    Kind,
    /// Kind 0: the command document's length, then its bytes.
    DocumentLength,
    Document {
        left: usize,
    },
    /// Kind 1: the section's size, its identifier, then its documents.
    SectionSize,
    Identifier {
        left: usize,
    },
    SequenceDocumentLength {
        left: usize,
    },
    SequenceDocument {
        left: usize,
        document_left: usize,
    },
    /// The checksum, or whatever follows a section that does not add up:
    /// passed over (the decoder reports what is missing).
    Rest,
}

/// The walk through one OP_MSG body, fed in chunks cut anywhere.
struct Sections {
    at: At,
    /// Body bytes seen so far.
    offset: usize,
    /// Where the sections end (the body's end, less a checksum).
    end: usize,
    /// A little-endian int32 read across chunks.
    int: [u8; 4],
    int_len: usize,
    identifier: Vec<u8>,
}

impl Sections {
    fn new(body_len: usize) -> Sections {
        Sections {
            at: At::Flags,
            offset: 0,
            end: body_len,
            int: [0; 4],
            int_len: 0,
            identifier: Vec::new(),
        }
    }

    fn feed(&mut self, mut bytes: &[u8], frame: &mut Frame, capture: usize) {
        while !bytes.is_empty() {
            match self.at {
                At::Flags => {
                    let Some(flags) = self.int(&mut bytes) else {
                        return;
                    };
                    if flags & CHECKSUM_PRESENT != 0 {
                        self.end = self.end.saturating_sub(4);
                    }
                    keep(frame, &flags.to_le_bytes(), capture);
                    self.at = At::Kind;
                }
                At::Kind if self.offset >= self.end => self.at = At::Rest,
                At::Kind => {
                    self.at = match self.advance(&mut bytes, 1)[0] {
                        0 => At::DocumentLength,
                        1 => At::SectionSize,
                        _ => At::Rest,
                    };
                }
                At::DocumentLength => {
                    let Some(length) = self.int(&mut bytes) else {
                        return;
                    };
                    self.at = match self.inside(length) {
                        Some(left) => {
                            keep(frame, &[0], capture);
                            keep(frame, &length.to_le_bytes(), capture);
                            At::Document { left }
                        }
                        None => At::Rest,
                    };
                }
                At::Document { left } => {
                    let taken = self.advance(&mut bytes, left);
                    keep(frame, taken, capture);
                    let left = left - taken.len();
                    self.at = if left == 0 {
                        At::Kind
                    } else {
                        At::Document { left }
                    };
                }
                At::SectionSize => {
                    let Some(size) = self.int(&mut bytes) else {
                        return;
                    };
                    self.at = match self.inside(size) {
                        Some(left) => {
                            frame.sequences.push(Sequence {
                                identifier: String::new(),
                                count: 0,
                                bytes: size as usize,
                            });
                            self.identifier.clear();
                            At::Identifier { left }
                        }
                        None => At::Rest,
                    };
                }
                At::Identifier { left } => {
                    let window = &bytes[..left.min(bytes.len())];
                    let end = window.iter().position(|b| *b == 0);
                    let name = &window[..end.unwrap_or(window.len())];
                    let room = MAX_IDENTIFIER.saturating_sub(self.identifier.len());
                    self.identifier
                        .extend_from_slice(&name[..name.len().min(room)]);
                    let used = self.advance(&mut bytes, end.map_or(window.len(), |e| e + 1));
                    let left = left - used.len();
                    self.at = match end {
                        Some(_) => {
                            if let Some(sequence) = frame.sequences.last_mut() {
                                sequence.identifier =
                                    String::from_utf8_lossy(&self.identifier).into_owned();
                            }
                            At::SequenceDocumentLength { left }
                        }
                        None if left == 0 => At::Rest,
                        None => At::Identifier { left },
                    };
                }
                At::SequenceDocumentLength { left: 0 } => self.at = At::Kind,
                At::SequenceDocumentLength { left } if left < 5 => self.at = At::Rest,
                At::SequenceDocumentLength { left } => {
                    let Some(length) = self.int(&mut bytes) else {
                        return;
                    };
                    let length = length as usize;
                    self.at = if (5..=left).contains(&length) {
                        if let Some(sequence) = frame.sequences.last_mut() {
                            sequence.count += 1;
                        }
                        At::SequenceDocument {
                            left: left - length,
                            document_left: length - 4,
                        }
                    } else {
                        At::Rest
                    };
                }
                At::SequenceDocument {
                    left,
                    document_left,
                } => {
                    let skipped = self.advance(&mut bytes, document_left).len();
                    self.at = match document_left - skipped {
                        0 => At::SequenceDocumentLength { left },
                        document_left => At::SequenceDocument {
                            left,
                            document_left,
                        },
                    };
                }
                At::Rest => {
                    let n = bytes.len();
                    self.advance(&mut bytes, n);
                }
            }
        }
    }

    /// Up to `n` bytes from the front of `bytes`.
    fn advance<'a>(&mut self, bytes: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (taken, rest) = bytes.split_at(n.min(bytes.len()));
        *bytes = rest;
        self.offset += taken.len();
        taken
    }

    /// The next int32, once all four of its bytes are in.
    fn int(&mut self, bytes: &mut &[u8]) -> Option<u32> {
        let need = 4 - self.int_len;
        let taken = self.advance(bytes, need);
        self.int[self.int_len..self.int_len + taken.len()].copy_from_slice(taken);
        self.int_len += taken.len();
        if self.int_len < 4 {
            return None;
        }
        self.int_len = 0;
        Some(u32::from_le_bytes(self.int))
    }

    /// The bytes left of a section or document whose length (its first
    /// four bytes, just read) is `length`, if it fits in the sections.
    fn inside(&self, length: u32) -> Option<usize> {
        let length = length as usize;
        let start = self.offset - 4;
        (length >= 5 && start + length <= self.end).then(|| length - 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(request_id: i32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((HEADER_LEN + body.len()) as i32).to_le_bytes());
        m.extend_from_slice(&request_id.to_le_bytes());
        m.extend_from_slice(&0i32.to_le_bytes());
        m.extend_from_slice(&2013i32.to_le_bytes());
        m.extend_from_slice(body);
        m
    }

    fn document(fields: &[u8]) -> Vec<u8> {
        let mut d = ((5 + fields.len()) as i32).to_le_bytes().to_vec();
        d.extend_from_slice(fields);
        d.push(0);
        d
    }

    /// flags, a sequence of `count` documents, the command, another
    /// sequence, and a checksum when `flags` says so.
    fn op_msg(flags: u32, command: &[u8], count: usize) -> Vec<u8> {
        let mut body = flags.to_le_bytes().to_vec();
        let sequence = |name: &[u8], count: usize| {
            let docs: Vec<u8> = (0..count)
                .flat_map(|i| document(&[0x10, b'n', 0, i as u8, 0, 0, 0]))
                .collect();
            let mut s = vec![1u8];
            s.extend(((4 + name.len() + 1 + docs.len()) as u32).to_le_bytes());
            s.extend(name);
            s.push(0);
            s.extend(docs);
            s
        };
        body.extend(sequence(b"updates", 1));
        body.push(0);
        body.extend(command);
        body.extend(sequence(b"documents", count));
        if flags & CHECKSUM_PRESENT != 0 {
            body.extend([1, 2, 3, 4]);
        }
        message(5, &body)
    }

    fn frames(chunks: &[&[u8]]) -> Vec<Found> {
        frames_with(Framer::default(), chunks)
    }

    fn frames_with(mut framer: Framer, chunks: &[&[u8]]) -> Vec<Found> {
        let mut out = Vec::new();
        for chunk in chunks {
            framer.feed(chunk, &mut |f| out.push(f));
        }
        out
    }

    #[test]
    fn messages_split_anywhere_come_out_whole() {
        let mut stream = message(1, b"first body");
        stream.extend(message(2, b""));
        stream.extend(message(3, b"third"));
        for cut in 0..stream.len() {
            let found = frames(&[&stream[..cut], &stream[cut..]]);
            let ids: Vec<i32> = found
                .iter()
                .map(|f| match f {
                    Found::Frame(f) => {
                        assert!(f.complete);
                        f.request_id
                    }
                    Found::Lost(why) => panic!("{why}"),
                })
                .collect();
            assert_eq!(ids, [1, 2, 3], "cut at {cut}");
        }
        let one_by_one: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(frames(&one_by_one).len(), 3);
    }

    #[test]
    fn a_large_body_is_captured_only_up_to_the_limit() {
        let body = vec![7u8; CAPTURE_LIMIT + 100];
        let stream = message(9, &body);
        let found = frames(&[&stream]);
        let [Found::Frame(frame)] = &found[..] else {
            panic!("{found:?}")
        };
        assert_eq!(frame.body.len(), CAPTURE_LIMIT);
        assert_eq!(frame.length, stream.len());
        assert!(!frame.complete);
    }

    #[test]
    fn an_impossible_length_loses_the_stream_once() {
        let mut bytes = vec![0u8; 40];
        bytes[0] = 3;
        let found = frames(&[&bytes, &message(1, b"x")]);
        assert_eq!(
            found,
            [Found::Lost("a message header gives the length 3".into())]
        );
    }

    #[test]
    fn first_document_keeps_the_command_and_counts_the_sequences() {
        let command = document(&[0x10, b'i', 0, 1, 0, 0, 0]);
        for flags in [0, CHECKSUM_PRESENT] {
            let stream = op_msg(flags, &command, 3);
            let mut kept = flags.to_le_bytes().to_vec();
            kept.push(0);
            kept.extend(&command);
            for cut in 0..stream.len() {
                let found = frames_with(
                    Framer::first_document(CAPTURE_LIMIT),
                    &[&stream[..cut], &stream[cut..]],
                );
                let [Found::Frame(frame)] = &found[..] else {
                    panic!("{found:?}")
                };
                assert_eq!(frame.body, kept, "cut at {cut}");
                assert!(!frame.complete);
                let counted: Vec<(&str, u32)> = frame
                    .sequences
                    .iter()
                    .map(|s| (s.identifier.as_str(), s.count))
                    .collect();
                assert_eq!(counted, [("updates", 1), ("documents", 3)], "cut at {cut}");
            }
            let byte_by_byte: Vec<&[u8]> = stream.chunks(1).collect();
            let found = frames_with(Framer::first_document(CAPTURE_LIMIT), &byte_by_byte);
            assert!(matches!(&found[..], [Found::Frame(f)] if f.body == kept));
        }
    }

    #[test]
    fn first_document_passes_over_a_section_that_does_not_add_up() {
        let command = document(&[0x10, b'i', 0, 1, 0, 0, 0]);
        let mut body = 0u32.to_le_bytes().to_vec();
        body.push(0);
        body.extend(&command);
        // A sequence claiming more bytes than the message has.
        body.push(1);
        body.extend(9999u32.to_le_bytes());
        body.extend(b"documents\0");
        let stream = [message(1, &body), message(2, b"next")].concat();
        let found = frames_with(Framer::first_document(CAPTURE_LIMIT), &[&stream]);
        let [Found::Frame(first), Found::Frame(second)] = &found[..] else {
            panic!("{found:?}")
        };
        assert!(first.sequences.is_empty());
        assert_eq!(first.body.len(), 5 + command.len());
        assert_eq!(second.request_id, 2);
    }
}
