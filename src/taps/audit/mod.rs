//! The audit log in mongod's audit schema: every relayed connection gets
//! a tap that frames both directions into MongoDB messages
//! (`taps::wire::framing`), decodes their headers and first documents
//! (`taps::wire::messages`), follows logins
//! and pairs commands with replies (`session`); each finished event
//! (`events`) is filtered (`filter`) and encoded (`encode`, `extjson` for
//! JSON lines) on the loop and handed to the writer thread (`writer`). The relay's bytes are never
//! changed or delayed; what is copied is each message's header and
//! command document (at most a megabyte of it; a reply's first
//! `REPLY_CAPTURE` bytes): document sequences — the data of inserts,
//! updates and deletes — are counted, not copied, unless
//! `--auditRedact false` asks for their contents.

pub mod encode;
pub mod events;
pub mod extjson;
pub mod filter;
pub mod session;
pub mod writer;

use std::sync::Arc;
use std::thread::JoinHandle;

use bson::{Document, doc};

use crate::taps::wire::framing::CAPTURE_LIMIT;

use crate::config::table::{AUDIT_FILTER, AUDIT_PATH};
use crate::config::{AuditDestination, AuditSettings};
use crate::error::Error;
use crate::proxy::tap::{Flow, Opened, Tap, TapMaker};
use crate::taps::wire::framing::{Directions, Found, Framer};
use crate::taps::wire::messages;
use crate::tls::TlsFacts;
use events::{Endpoints, Event};
use session::Session;
use writer::{Counters, Queue};

/// How much of a reply is copied: what the audit reads of one (`ok`,
/// `code`, a login's `done`) is in small replies; a larger one (a batch
/// of documents) is a success, as mongod's error replies are small.
const REPLY_CAPTURE: usize = 16 * 1024;

/// The audit of the whole process: makes each connection's tap.
pub struct Audit {
    queue: Queue,
    redact: bool,
}

/// The writer thread, joined at shutdown once every connection is gone.
pub struct AuditWriter(JoinHandle<()>);

impl AuditWriter {
    /// Waits until the writer has written and synced everything (it ends
    /// when the last `Audit` handle is dropped).
    pub fn finish(self) {
        if self.0.join().is_err() {
            log::error!(target: "audit", "the audit writer thread panicked");
        }
    }
}

/// Compiles the filter and opens the destination: errors stop start-up.
pub fn start(settings: &AuditSettings) -> Result<(Arc<Audit>, AuditWriter), Error> {
    let filter = settings
        .filter
        .as_deref()
        .map(filter::Filter::parse)
        .transpose()
        .map_err(|why| Error::options(format!("--{}: {why}", AUDIT_FILTER.name)))?;
    let (queue, thread) = writer::start(
        &settings.destination,
        settings.format,
        filter,
        settings.block_when_full,
    )
    .map_err(|source| match &settings.destination {
        AuditDestination::File(path) => Error::Io {
            option: AUDIT_PATH.name,
            path: path.clone(),
            source,
        },
        _ => Error::Runtime {
            what: "starting the audit writer".into(),
            source,
        },
    })?;
    let audit = Audit {
        queue,
        redact: settings.redact,
    };
    Ok((Arc::new(audit), AuditWriter(thread)))
}

impl Audit {
    /// SIGUSR1 and reloads: the writer reopens its file.
    pub fn reopen(&self) {
        self.queue.reopen();
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.queue.counters().clone()
    }
}

impl TapMaker for Audit {
    fn open(&self, opened: &Opened) -> Box<dyn Tap> {
        let subject = opened
            .tls
            .and_then(|t| t.certificate.as_ref())
            .map(|c| c.subject.clone());
        let session = Session::new(
            Endpoints::new(opened.local, opened.remote),
            self.redact,
            subject,
        );
        let mut param = doc! { "connectionId": opened.id as i64 };
        if let Some(tls) = opened.tls {
            param.insert("tls", tls_param(tls));
        }
        self.queue.send(session.event("clientConnect", param, 0));
        // Redacted, a sequence's documents would only show their keys:
        // they are counted instead of copied.
        let requests = if self.redact {
            Framer::first_document(CAPTURE_LIMIT)
        } else {
            Framer::capturing(CAPTURE_LIMIT)
        };
        Box::new(ConnectionAudit {
            queue: self.queue.clone(),
            session,
            directions: Directions {
                requests,
                replies: Framer::first_document(REPLY_CAPTURE),
            },
            events: Vec::new(),
        })
    }
}

/// The TLS facts of a connection, as its clientConnect event shows them.
fn tls_param(tls: &TlsFacts) -> Document {
    let mut param = doc! { "version": tls.version, "cipher": tls.cipher };
    if let Some(sni) = &tls.server_name {
        param.insert("sni", sni);
    }
    if let Some(cert) = &tls.certificate {
        param.insert("subject", &cert.subject);
        param.insert("issuer", &cert.issuer);
        param.insert("serial", &cert.serial);
        param.insert("verified", cert.verify_result == 0);
    }
    param
}

/// One connection's tap.
struct ConnectionAudit {
    queue: Queue,
    session: Session,
    directions: Directions,
    /// Events finished by the current chunk, sent when it is done.
    events: Vec<Event>,
}

impl Tap for ConnectionAudit {
    fn saw(&mut self, flow: Flow, bytes: &[u8]) {
        let ConnectionAudit {
            session,
            directions,
            events,
            ..
        } = self;
        directions.feed(flow, bytes, &mut |found| match found {
            Found::Frame(frame) => {
                let message = messages::decode(&frame, flow == Flow::ToUpstream);
                session.message(flow, message, events);
            }
            Found::Lost(why) => events.push(session.undecoded(
                flow,
                0,
                &format!("{why}; the rest of this direction is not audited"),
            )),
        });
        for event in self.events.drain(..) {
            self.queue.send(event);
        }
    }

    fn ended(&mut self, reason: &str) {
        self.session.ended(reason, &mut self.events);
        for event in self.events.drain(..) {
            self.queue.send(event);
        }
    }
}
