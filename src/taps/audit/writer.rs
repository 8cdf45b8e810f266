//! The audit writer thread: events come from the event loops through a
//! bounded queue, already filtered and encoded by the loop that made them
//! (`encode`), and are written to the file (JSON lines or BSON), to syslog
//! or to standard output; each buffer goes back to the loops' pool once
//! written. The loops never touch a disk: when the queue is full they wait
//! (`--auditOnFullQueue block`, no gaps) or drop the event and count it
//! (`drop`).
//!
//! Durability: each batch of events (what the queue held when the writer
//! looked, every 2 ms while events come) is written with one `write` and
//! so reaches the kernel at once;
//! the file is fsynced at most once a second while events arrive, and at
//! rotation (SIGUSR1, reload) and shutdown. A machine crash can lose up to
//! the last second of events; a mongossl crash loses none that were
//! written.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::encode::{Encoder, Pool};
use super::events::Event;
use super::filter::Filter;
use crate::config::{AuditDestination, AuditFormat};
use crate::ops::syslog::{self, Syslog};

/// Events the queue holds before the loops wait (or drop).
pub const QUEUE_LEN: usize = 16 * 1024;
const FSYNC_INTERVAL: Duration = Duration::from_secs(1);
/// After each batch the writer lets the next events gather for this long,
/// polling rather than waiting on the queue: a waiting writer must be
/// woken by the loop that sends (a futex call, two context switches) for
/// every event. It is also the most an event waits before its write.
const BATCH_PAUSE: Duration = Duration::from_millis(2);
/// Empty polls (20 ms) before the writer waits on the queue instead, so
/// that an idle server's writer sleeps.
const IDLE_POLLS: u32 = 10;
/// Facility user, as mongod's audit lines in syslog.
const SYSLOG_FACILITY: u8 = 1;

/// What goes to the writer.
pub enum Job {
    /// One encoded event: a JSON line without its newline, or a BSON
    /// document.
    Event(Vec<u8>),
    /// Close and reopen the file (log rotation).
    Reopen,
}

/// What the audit counts, read by the metrics.
#[derive(Default)]
pub struct Counters {
    /// Events written (after the filter).
    pub written: AtomicU64,
    /// Events the filter left out.
    pub filtered: AtomicU64,
    /// Events dropped on a full queue (`--auditOnFullQueue drop`).
    pub dropped: AtomicU64,
    /// Writes that failed, and events that could not be encoded.
    pub write_errors: AtomicU64,
}

/// The loops' end of the queue.
#[derive(Clone)]
pub struct Queue {
    sender: SyncSender<Job>,
    encoder: Arc<Encoder>,
    pool: Arc<Pool>,
    block_when_full: bool,
    counters: Arc<Counters>,
    /// When the last "queue full" warning was logged (ms since start).
    warned_at: Arc<AtomicU64>,
    started: Instant,
}

impl Queue {
    /// Encodes the event here, on the loop, and queues its bytes.
    pub fn send(&self, event: Event) {
        let mut bytes = self.pool.take();
        match self.encoder.encode(&event, &mut bytes) {
            Ok(true) => {}
            Ok(false) => {
                self.counters.filtered.fetch_add(1, Relaxed);
                self.pool.give_back(bytes);
                return;
            }
            Err(why) => {
                self.counters.write_errors.fetch_add(1, Relaxed);
                log::error!(target: "audit", "{why}");
                return;
            }
        }
        let job = match self.sender.try_send(Job::Event(bytes)) {
            Ok(()) => return,
            Err(TrySendError::Disconnected(_)) => return,
            Err(TrySendError::Full(job)) => job,
        };
        self.warn_full();
        if self.block_when_full {
            // An auditor wants no gaps: the loop waits for the writer.
            let _ = self.sender.send(job);
        } else {
            self.counters.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Asks the writer to reopen its file.
    pub fn reopen(&self) {
        let _ = self.sender.send(Job::Reopen);
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// At most one warning every 10 seconds.
    fn warn_full(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.warned_at.load(Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 10_000)
            && self
                .warned_at
                .compare_exchange(last, now.max(1), Relaxed, Relaxed)
                .is_ok()
        {
            let policy = if self.block_when_full {
                "connections wait for the audit writer (--auditOnFullQueue block)"
            } else {
                "events are being dropped (--auditOnFullQueue drop)"
            };
            log::warn!(target: "audit", "the audit queue is full ({QUEUE_LEN} events): {policy}");
        }
    }
}

/// Where the writer writes.
enum Sink {
    File { path: PathBuf, file: File },
    Syslog(Syslog),
    Console,
}

impl Sink {
    fn open(destination: &AuditDestination) -> io::Result<Sink> {
        Ok(match destination {
            AuditDestination::File(path) => Sink::File {
                path: path.clone(),
                file: open_append(path)?,
            },
            // The writer has its own thread: it may wait for the daemon.
            AuditDestination::Syslog => Sink::Syslog(Syslog::new(SYSLOG_FACILITY, false)),
            AuditDestination::Console => Sink::Console,
        })
    }

    fn write(&mut self, bytes: &[u8], lines: &[Vec<u8>]) -> io::Result<()> {
        match self {
            Sink::File { file, .. } => file.write_all(bytes),
            Sink::Console => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Sink::Syslog(syslog) => {
                for line in lines {
                    syslog.send(syslog::INFO, line).map_err(|e| {
                        io::Error::other(format!("{}: {e}", syslog.path().display()))
                    })?;
                }
                Ok(())
            }
        }
    }

    fn sync(&mut self) {
        if let Sink::File { file, path } = self
            && let Err(e) = file.sync_data()
        {
            log::warn!(target: "audit", "cannot fsync the audit file {}: {e}", path.display());
        }
    }

    fn reopen(&mut self) {
        self.sync();
        if let Sink::File { path, file } = self {
            match open_append(path) {
                Ok(new) => {
                    *file = new;
                    log::info!(target: "audit", "reopened the audit file {}", path.display());
                }
                Err(e) => log::error!(
                    target: "audit",
                    "cannot reopen the audit file {}: {e}; writing on to the old one",
                    path.display()
                ),
            }
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Opens the destination (an error names the path) and starts the thread.
pub fn start(
    destination: &AuditDestination,
    format: AuditFormat,
    filter: Option<Filter>,
    block_when_full: bool,
) -> io::Result<(Queue, JoinHandle<()>)> {
    let sink = Sink::open(destination)?;
    let (sender, receiver) = mpsc::sync_channel(QUEUE_LEN);
    let counters = Arc::new(Counters::default());
    let pool = Arc::new(Pool::default());
    let writer = Writer {
        sink,
        format,
        pool: pool.clone(),
        counters: counters.clone(),
        unsynced_since: None,
    };
    let thread = std::thread::Builder::new()
        .name("audit".into())
        .spawn(move || writer.run(receiver))?;
    let queue = Queue {
        sender,
        encoder: Arc::new(Encoder::new(filter, format)),
        pool,
        block_when_full,
        counters,
        warned_at: Arc::new(AtomicU64::new(0)),
        started: Instant::now(),
    };
    Ok((queue, thread))
}

struct Writer {
    sink: Sink,
    format: AuditFormat,
    /// Where written buffers go back to the loops.
    pool: Arc<Pool>,
    counters: Arc<Counters>,
    /// When the first event not yet fsynced was written.
    unsynced_since: Option<Instant>,
}

impl Writer {
    /// Runs until every `Queue` is gone, then syncs and returns. While
    /// events come, the writer polls (a batch every `BATCH_PAUSE`) and the
    /// loops never wake it; once the queue has stayed empty for
    /// `IDLE_POLLS` pauses it blocks, and the next event wakes it.
    fn run(mut self, jobs: Receiver<Job>) {
        let mut bytes = Vec::new();
        let mut lines = Vec::new();
        let mut empty_polls = 0;
        loop {
            let mut taken = 0;
            let mut gone = false;
            loop {
                match jobs.try_recv() {
                    Ok(job) => {
                        self.take(job, &mut bytes, &mut lines);
                        taken += 1;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        gone = true;
                        break;
                    }
                }
            }
            // Everything that was queued goes out in one write.
            self.flush(&mut bytes, &mut lines);
            if gone {
                break;
            }
            self.sync_if_due(false);
            empty_polls = if taken == 0 { empty_polls + 1 } else { 0 };
            if empty_polls < IDLE_POLLS {
                std::thread::sleep(BATCH_PAUSE);
                continue;
            }
            match jobs.recv_timeout(FSYNC_INTERVAL) {
                Ok(job) => {
                    self.take(job, &mut bytes, &mut lines);
                    empty_polls = 0;
                }
                Err(RecvTimeoutError::Timeout) => self.sync_if_due(true),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.flush(&mut bytes, &mut lines);
        self.sink.sync();
    }

    fn take(&mut self, job: Job, bytes: &mut Vec<u8>, lines: &mut Vec<Vec<u8>>) {
        match job {
            Job::Event(event) => self.add(event, bytes, lines),
            Job::Reopen => {
                self.flush(bytes, lines);
                self.sink.reopen();
                self.unsynced_since = None;
            }
        }
    }

    /// Adds one encoded event to the batch; `lines` keeps its buffer
    /// (syslog sends each line) until it goes back to the pool.
    fn add(&mut self, event: Vec<u8>, bytes: &mut Vec<u8>, lines: &mut Vec<Vec<u8>>) {
        bytes.extend_from_slice(&event);
        if self.format == AuditFormat::Json {
            bytes.push(b'\n');
        }
        lines.push(event);
        self.counters.written.fetch_add(1, Relaxed);
    }

    fn flush(&mut self, bytes: &mut Vec<u8>, lines: &mut Vec<Vec<u8>>) {
        if bytes.is_empty() {
            return;
        }
        if let Err(e) = self.sink.write(bytes, lines) {
            self.counters.write_errors.fetch_add(1, Relaxed);
            log::error!(target: "audit", "cannot write audit events: {e}");
        }
        self.unsynced_since.get_or_insert_with(Instant::now);
        bytes.clear();
        self.pool.refill(lines);
    }

    fn sync_if_due(&mut self, idle: bool) {
        if let Some(since) = self.unsynced_since
            && (idle || since.elapsed() >= FSYNC_INTERVAL)
        {
            self.sink.sync();
            self.unsynced_since = None;
        }
    }
}
