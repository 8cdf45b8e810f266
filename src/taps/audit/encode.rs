//! Turning an event into the bytes the audit writes, on the event loop
//! that made it: the filter (`--auditFilter`) decides, then the format
//! gives one JSON line (without its newline) or one BSON document. The
//! bytes go into a buffer the writer hands back once written (`Pool`), so
//! that an event costs no allocation and nothing is freed on another
//! thread: glibc makes a thread that frees another thread's memory take
//! that thread's arena lock, which on a busy core made the loops wait for
//! the writer. Encoding on the loops also spreads it over all of them.

use std::sync::Mutex;

use super::events::Event;
use super::extjson;
use super::filter::Filter;
use crate::config::AuditFormat;

/// Buffers kept for reuse, at most.
const POOLED: usize = 4096;
/// A buffer grown beyond this (a large event) is not kept.
const LARGEST_POOLED: usize = 64 * 1024;

pub struct Encoder {
    filter: Option<Filter>,
    format: AuditFormat,
}

impl Encoder {
    pub fn new(filter: Option<Filter>, format: AuditFormat) -> Encoder {
        Encoder { filter, format }
    }

    /// Appends the event's bytes to `out`; `Ok(false)` when the filter
    /// leaves it out.
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Result<bool, String> {
        // The document form only where it is needed: JSON lines are
        // written from the event itself.
        let document = (self.filter.is_some() || self.format == AuditFormat::Bson)
            .then(|| event.to_document());
        if let (Some(filter), Some(document)) = (&self.filter, &document)
            && !filter.matches(document)
        {
            return Ok(false);
        }
        match (self.format, document) {
            (AuditFormat::Bson, Some(document)) => document
                .to_writer(&mut *out)
                .map_err(|e| format!("cannot encode an audit event: {e}"))?,
            _ => extjson::write_event(event, out),
        }
        Ok(true)
    }
}

/// Written buffers on their way back to the loops.
#[derive(Default)]
pub struct Pool {
    buffers: Mutex<Vec<Vec<u8>>>,
}

impl Pool {
    /// An empty buffer: a used one when the pool has one and is not being
    /// refilled at this moment (a loop never waits for the writer).
    pub fn take(&self) -> Vec<u8> {
        match self.buffers.try_lock() {
            Ok(mut buffers) => buffers.pop().unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// Back from the loop that took it, unused: kept if the pool is free.
    pub fn give_back(&self, buffer: Vec<u8>) {
        if let Ok(mut buffers) = self.buffers.try_lock() {
            keep(&mut buffers, buffer);
        }
    }

    /// The writer returns a batch's buffers at once (it may wait for the
    /// lock; a loop holds it only to pop one).
    pub fn refill(&self, spent: &mut Vec<Vec<u8>>) {
        if let Ok(mut buffers) = self.buffers.lock() {
            for buffer in spent.drain(..) {
                keep(&mut buffers, buffer);
            }
        }
        spent.clear();
    }
}

fn keep(buffers: &mut Vec<Vec<u8>>, mut buffer: Vec<u8>) {
    if buffers.len() < POOLED && buffer.capacity() <= LARGEST_POOLED {
        buffer.clear();
        buffers.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bson::{DateTime, doc};

    use super::*;
    use crate::taps::audit::events::{Endpoints, Param};

    fn event(atype: &'static str) -> Event {
        Event {
            atype,
            ts: DateTime::from_millis(0),
            endpoints: Arc::new(Endpoints::new(None, "192.0.2.1:5000".parse().unwrap())),
            users: Arc::new([]),
            param: Param::Document(doc! {"x": 1}),
            result: 0,
        }
    }

    #[test]
    fn the_filter_decides_and_the_format_writes() {
        let filter = Filter::parse("{ atype: 'authCheck' }").unwrap();
        let json = Encoder::new(Some(filter), AuditFormat::Json);
        let mut out = Vec::new();
        assert!(!json.encode(&event("clientConnect"), &mut out).unwrap());
        assert!(out.is_empty());
        assert!(json.encode(&event("authCheck"), &mut out).unwrap());
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["atype"], "authCheck");

        let bson_format = Encoder::new(None, AuditFormat::Bson);
        let mut out = Vec::new();
        assert!(bson_format.encode(&event("logout"), &mut out).unwrap());
        let document = bson::Document::from_reader(&out[..]).unwrap();
        assert_eq!(document.get_str("atype").unwrap(), "logout");
    }

    #[test]
    fn buffers_come_back_empty_and_large_ones_do_not() {
        let pool = Pool::default();
        let mut spent = vec![b"line".to_vec(), vec![0; LARGEST_POOLED + 1]];
        pool.refill(&mut spent);
        assert!(spent.is_empty());
        let buffer = pool.take();
        assert!(buffer.is_empty() && buffer.capacity() >= 4);
        assert_eq!(pool.take().capacity(), 0, "the large one was not kept");
    }
}
