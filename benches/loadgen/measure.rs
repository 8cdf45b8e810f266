//! One measurement against one proxy: start the client threads, let them
//! warm up, then count work and read the proxy's CPU time over a fixed
//! window, stop, and write one result line. The idle-memory measurement
//! opens N connections and reads the proxy's RSS before, with them open,
//! and after they closed.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{self, Mode, Settings, Shared, Version};
use crate::procstat;

/// Who ran and what it was called: the first columns of a result line.
pub struct Label {
    pub proxy: String,
    pub cores: String,
    pub cert: String,
    pub name: String,
}

pub struct Run {
    pub label: Label,
    pub mode: Mode,
    pub version: Version,
    pub target: SocketAddr,
    pub threads: usize,
    pub conns: usize,
    pub size: usize,
    pub wire: bool,
    pub sources: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub proxy_pids: Vec<u32>,
    pub backend_pids: Vec<u32>,
    pub out: Option<String>,
    pub client_cert: Option<String>,
}

/// A result line: tab-separated, the columns `report.rs` reads.
pub struct Line {
    pub ops: f64,
    pub wall: f64,
    pub proxy_cpu: f64,
    pub client_cpu: f64,
    pub backend_cpu: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub extra: String,
}

pub const HEADER: &str = "proxy\tcores\tcert\tmeasure\tops\twall_s\tproxy_cpu_s\tclient_cpu_s\tbackend_cpu_s\tp50_us\tp99_us\textra";

fn emit(label: &Label, line: &Line, out: Option<&str>) -> Result<(), String> {
    let text = format!(
        "{}\t{}\t{}\t{}\t{:.0}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.1}\t{:.1}\t{}",
        label.proxy,
        label.cores,
        label.cert,
        label.name,
        line.ops,
        line.wall,
        line.proxy_cpu,
        line.client_cpu,
        line.backend_cpu,
        line.p50_us,
        line.p99_us,
        line.extra
    );
    println!("{text}");
    if let Some(path) = out {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
            writeln!(file, "{HEADER}").map_err(|e| format!("{path}: {e}"))?;
        }
        writeln!(file, "{text}").map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

struct Snapshot {
    at: Instant,
    proxy: f64,
    backend: f64,
    client: f64,
}

fn snapshot(run: &Run) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        proxy: procstat::tree_cpu_seconds(&run.proxy_pids),
        backend: procstat::tree_cpu_seconds(&run.backend_pids),
        client: procstat::self_cpu_seconds(),
    }
}

fn percentile(sorted: &[u32], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted[i] as f64 / 1000.0
}

/// The client threads of one measurement.
type Clients = Vec<thread::JoinHandle<client::Samples>>;

fn spawn(
    run: &Run,
    mode: Mode,
    conns_per_thread: usize,
    threads: usize,
    hard_end: Instant,
    shared: &Arc<Shared>,
) -> Clients {
    let settings = Arc::new(Settings {
        mode,
        version: run.version,
        target: run.target,
        conns: conns_per_thread,
        inflight: 64,
        size: run.size,
        wire: run.wire,
        sources: crate::net::sources(run.sources),
        client_cert: run.client_cert.clone(),
        hard_end,
    });
    (0..threads)
        .map(|i| {
            let settings = settings.clone();
            let shared = shared.clone();
            thread::spawn(move || client::run_thread(settings, shared, i))
        })
        .collect()
}

fn first_error(shared: &Shared) -> String {
    shared
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default()
}

/// The throughput, handshake and ping-pong measurements.
pub fn measure(run: &Run) -> Result<(), String> {
    let shared = Arc::new(Shared::default());
    let threads = run.threads.max(1);
    let per_thread = run.conns.div_ceil(threads).max(1);
    let hard_end = Instant::now() + run.warmup + run.duration + Duration::from_secs(10);
    let handles = spawn(run, run.mode, per_thread, threads, hard_end, &shared);
    thread::sleep(run.warmup);
    let before = snapshot(run);
    shared.recording.store(true, Ordering::Relaxed);
    thread::sleep(run.duration);
    shared.recording.store(false, Ordering::Relaxed);
    let after = snapshot(run);
    shared.stop.store(true, Ordering::Relaxed);
    let mut samples: Vec<u32> = Vec::new();
    for handle in handles {
        samples.extend(handle.join().map_err(|_| "a client thread panicked")?);
    }
    samples.sort_unstable();
    let wall = after.at.duration_since(before.at).as_secs_f64();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let ops = match run.mode {
        Mode::Stream => load(&shared.bytes),
        _ => load(&shared.ops),
    };
    let errors = load(&shared.errors);
    if ops == 0 {
        return Err(format!(
            "{} {}: no work done in the window ({errors} errors; first: {})",
            run.label.proxy,
            run.label.name,
            first_error(&shared)
        ));
    }
    let handshakes = load(&shared.full) + load(&shared.resumed);
    let mut extra = format!(
        "errors={errors};tickets_per_hs={:.2};resumed_share={:.3}",
        load(&shared.tickets) as f64 / handshakes.max(1) as f64,
        load(&shared.resumed) as f64 / handshakes.max(1) as f64
    );
    if errors > 0 {
        extra.push_str(&format!(
            ";first_error={}",
            first_error(&shared).replace(['\t', '\n'], " ")
        ));
    }
    let line = Line {
        ops: ops as f64,
        wall,
        proxy_cpu: after.proxy - before.proxy,
        client_cpu: after.client - before.client,
        backend_cpu: after.backend - before.backend,
        p50_us: percentile(&samples, 50),
        p99_us: percentile(&samples, 99),
        extra,
    };
    emit(&run.label, &line, run.out.as_deref())
}

/// Opens `conns` connections in one thread and waits until each has done
/// its handshake and one round trip; returns how long that took.
fn open_idle(
    run: &Run,
    conns: usize,
    limit: Duration,
) -> Result<(Arc<Shared>, Clients, f64), String> {
    let shared = Arc::new(Shared::default());
    shared.recording.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let hard_end = started + limit + Duration::from_secs(30);
    let handles = spawn(run, Mode::Idle, conns, 1, hard_end, &shared);
    while (shared.idle_open.load(Ordering::Relaxed) as usize) < conns {
        if started.elapsed() > limit {
            shared.stop.store(true, Ordering::Relaxed);
            return Err(format!(
                "{}: only {} of {conns} idle connections opened in {limit:?} ({} errors; first: {})",
                run.label.proxy,
                shared.idle_open.load(Ordering::Relaxed),
                shared.errors.load(Ordering::Relaxed),
                first_error(&shared)
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok((shared, handles, started.elapsed().as_secs_f64()))
}

fn close_idle(shared: &Shared, handles: Clients) {
    shared.stop.store(true, Ordering::Relaxed);
    for handle in handles {
        let _ = handle.join();
    }
}

/// RSS per idle TLS connection.
pub fn idle(run: &Run, settle: Duration) -> Result<(), String> {
    // Warm-up: the first connections allocate what every later one reuses.
    let (shared, handles, _) = open_idle(run, 100.min(run.conns), Duration::from_secs(30))?;
    close_idle(&shared, handles);
    thread::sleep(settle);
    let rss_base = procstat::tree_rss_kib(&run.proxy_pids);
    let before = snapshot(run);
    let (shared, handles, took) = open_idle(run, run.conns, Duration::from_secs(180))?;
    let opened = snapshot(run);
    thread::sleep(settle);
    let rss_open = procstat::tree_rss_kib(&run.proxy_pids);
    thread::sleep(settle);
    let rss_open_later = procstat::tree_rss_kib(&run.proxy_pids);
    close_idle(&shared, handles);
    thread::sleep(settle * 2);
    let rss_closed = procstat::tree_rss_kib(&run.proxy_pids);
    let per_conn = (rss_open as f64 - rss_base as f64) / run.conns as f64;
    let line = Line {
        ops: run.conns as f64,
        wall: took,
        proxy_cpu: opened.proxy - before.proxy,
        client_cpu: opened.client - before.client,
        backend_cpu: opened.backend - before.backend,
        p50_us: 0.0,
        p99_us: 0.0,
        extra: format!(
            "kib_per_conn={per_conn:.2};rss_base_kib={rss_base};rss_open_kib={rss_open};rss_open_later_kib={rss_open_later};rss_closed_kib={rss_closed};errors={}",
            shared.errors.load(Ordering::Relaxed)
        ),
    };
    emit(&run.label, &line, run.out.as_deref())
}
