//! Cutting one direction of a relayed stream into MongoDB messages as its
//! bytes pass, without holding the stream: each message's 16-byte header
//! and at most the first `CAPTURE_LIMIT` bytes of its body are copied; the
//! rest of a large message (bulk inserts, big replies) is only counted.
//! A stream whose header is impossible (a length under 16 or over mongod's
//! maximum) cannot be followed any further: the framer says so once and
//! then ignores that direction. The relay is never affected either way.

use crate::wire::{HEADER_LEN, MAX_MESSAGE_LEN};

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
    /// The body's first bytes (all of it when `complete`).
    pub body: Vec<u8>,
    pub complete: bool,
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
            header: [0; HEADER_LEN],
            header_len: 0,
            current: None,
            remaining: 0,
            lost: false,
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
                let room = self.capture.saturating_sub(frame.body.len());
                frame.body.extend_from_slice(&bytes[..take.min(room)]);
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
        self.current = Some(Frame {
            length,
            request_id: field(4),
            response_to: field(8),
            op_code: field(12),
            body: Vec::with_capacity(self.remaining.min(self.capture)),
            complete: false,
        });
        Ok(())
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

    fn frames(chunks: &[&[u8]]) -> Vec<Found> {
        let mut framer = Framer::default();
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
}
