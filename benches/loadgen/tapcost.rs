//! In-process cost of the relay's taps: one connection's audit tap (and
//! the command counter's) shown a driver's ping and its reply, round after
//! round, with no sockets or TLS around them; and a tap opened and ended
//! per connection (the audit's clientConnect and clientDisconnect), as
//! each handshake costs it. The loop's share is this
//! thread's CPU time; the writer's is the rest of the process's. It tells
//! what the audit adds per round trip without the noise of a loaded
//! machine, and which part of the tap costs what (`perf` on this command).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bson::{Binary, Document, doc, spec::BinarySubtype};
use mongossl::config::{AuditDestination, AuditFormat, AuditSettings};
use mongossl::proxy::stats::LoopStats;
use mongossl::proxy::tap::{Flow, Opened, TapMaker};
use mongossl::tls::TlsFacts;

/// An OP_MSG with `command` as its one section.
fn op_msg(request_id: i32, response_to: i32, command: &Document) -> Vec<u8> {
    let mut body = 0u32.to_le_bytes().to_vec();
    body.push(0);
    body.extend(bson::to_vec(command).unwrap_or_default());
    let mut message = ((16 + body.len()) as i32).to_le_bytes().to_vec();
    for field in [request_id, response_to, 2013] {
        message.extend_from_slice(&field.to_le_bytes());
    }
    message.extend(body);
    message
}

/// A ping as PyMongo sends it, and mongod's reply.
fn ping_and_reply(id: i32) -> (Vec<u8>, Vec<u8>) {
    let session = Binary {
        subtype: BinarySubtype::Uuid,
        bytes: vec![7; 16],
    };
    let ping = doc! {
        "ping": 1, "lsid": { "id": session },
        "$clusterTime": { "clusterTime": bson::Timestamp { time: 1, increment: 1 },
            "signature": { "hash": Binary { subtype: BinarySubtype::Generic, bytes: vec![0; 20] },
                "keyId": 0i64 } },
        "$db": "admin",
    };
    let reply = doc! { "ok": 1.0 };
    (op_msg(id, 0, &ping), op_msg(id + 1, id, &reply))
}

fn thread_cpu_ns() -> u64 {
    // SAFETY: clock_gettime writes into the struct we own.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Feeds `rounds` ping/reply pairs to one tap of `maker`; the loop's
/// nanoseconds per round trip.
fn feed(maker: &dyn TapMaker, rounds: usize) -> f64 {
    let stats = Arc::new(LoopStats::default());
    let remote: SocketAddr = ([192, 0, 2, 1], 40000).into();
    let local: SocketAddr = ([127, 0, 0, 1], 27017).into();
    let opened = Opened {
        id: 1,
        remote,
        local: Some(local),
        tls: None,
        stats: &stats,
    };
    let mut tap = maker.open(&opened);
    let (mut ping, mut reply) = ping_and_reply(0);
    let start = thread_cpu_ns();
    for round in 0..rounds {
        // New ids each round, as a driver sends them.
        let id = (round as i32).wrapping_mul(2);
        ping[4..8].copy_from_slice(&id.to_le_bytes());
        reply[4..8].copy_from_slice(&(id + 1).to_le_bytes());
        reply[8..12].copy_from_slice(&id.to_le_bytes());
        tap.saw(Flow::ToUpstream, &ping);
        tap.saw(Flow::ToClient, &reply);
    }
    tap.ended("done");
    (thread_cpu_ns() - start) as f64 / rounds as f64
}

/// Opens and ends `count` taps of `maker`, with the TLS facts of a
/// TLS 1.3 client without a certificate; the loop's nanoseconds for each.
fn connections(maker: &dyn TapMaker, count: usize) -> f64 {
    let stats = Arc::new(LoopStats::default());
    let facts = TlsFacts {
        version: "TLSv1.3",
        cipher: "TLS_AES_128_GCM_SHA256",
        server_name: Some("localhost".into()),
        alpn: None,
        certificate: None,
    };
    let start = thread_cpu_ns();
    for id in 0..count {
        let opened = Opened {
            id: id as u64,
            remote: ([192, 0, 2, 1], 40000 + (id % 20000) as u16).into(),
            local: Some(([127, 0, 0, 1], 27017).into()),
            tls: Some(&facts),
            stats: &stats,
        };
        let mut tap = maker.open(&opened);
        tap.ended("closed by peers");
    }
    (thread_cpu_ns() - start) as f64 / count.max(1) as f64
}

pub fn run(rounds: usize) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!("loadgen-tapcost-{}.json", std::process::id()));
    let settings = AuditSettings {
        destination: AuditDestination::File(path.clone()),
        format: AuditFormat::Json,
        filter: None,
        redact: true,
        block_when_full: true,
    };
    let (audit, writer) = mongossl::taps::audit::start(&settings).map_err(|e| e.to_string())?;
    let process_before = crate::procstat::self_cpu_seconds();
    let wall = Instant::now();
    let audit_loop = feed(&*audit, rounds);
    let audit_connection = connections(&*audit, rounds / 10);
    drop(audit);
    writer.finish();
    let process_ns = (crate::procstat::self_cpu_seconds() - process_before) * 1e9;
    let loop_ns = audit_loop * rounds as f64 + audit_connection * (rounds / 10) as f64;
    let lines = std::fs::read_to_string(&path)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let _ = std::fs::remove_file(&path);
    let counter = feed(&mongossl::taps::commands::CommandCounter, rounds);
    let counter_connection = connections(&mongossl::taps::commands::CommandCounter, rounds / 10);
    println!(
        "rounds\t{rounds}\naudit loop ns/round trip\t{audit_loop:.0}\n\
         audit loop ns/connection\t{audit_connection:.0}\n\
         audit writer ns/event (all of them)\t{:.0}\naudit events written\t{lines}\n\
         audit wall s\t{:.2}\ncounter loop ns/round trip\t{counter:.0}\n\
         counter loop ns/connection\t{counter_connection:.0}",
        (process_ns - loop_ns) / lines.max(1) as f64,
        wall.elapsed().as_secs_f64()
    );
    Ok(())
}
