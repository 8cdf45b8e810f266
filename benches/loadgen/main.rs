//! `loadgen`: mongossl's benchmark load generator (issue 7), driven by
//! `scripts/bench.sh` and described in `docs/performance.md`.
//!
//! It is a program, not a test (`harness = false`): `cargo bench --bench
//! loadgen -- help`. Subcommands:
//!
//! - `backend`: a plaintext echo server standing in for mongod;
//! - `run`: one timed measurement through a TLS proxy (full or resumed
//!   handshakes, verified streaming, ping-pong latency), printing and
//!   appending one tab-separated result line;
//! - `idle`: the proxy's RSS per idle TLS connection;
//! - `inproc`: OpenSSL's own server-side costs in one thread over memory
//!   buffers (handshake settings, records), the floor a proxy adds to;
//! - `report`: the table of raw rates, work per proxy CPU-second and
//!   mongossl's ratio to the best peer, from result files.
//!
//! Layout: `client.rs` the non-blocking OpenSSL client loops, `backend.rs`
//! the echo server, `measure.rs` windows and result lines, `procstat.rs`
//! CPU time and RSS from /proc, `pattern.rs` the checked byte stream,
//! `net.rs` sockets std does not make, `report.rs` the table.

mod backend;
mod client;
mod inproc;
mod measure;
mod net;
mod pattern;
mod procstat;
mod report;
mod tapcost;
mod wire;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use client::{Mode, Version};
use measure::{Label, Run};

const USAGE: &str = "\
usage: loadgen backend --listen ADDR [--threads N] [--lifetime SECS]
       loadgen run --target ADDR --measure hs13|hs12|resume13|resume12|stream|pingpong
                   --proxy NAME [--cores N] [--cert ecdsa|rsa] [--name NAME]
                   [--threads N] [--conns N] [--size BYTES] [--sources N]
                   [--warmup SECS] [--duration SECS] [--pid PID]... [--backend-pid PID]
                   [--client-cert PEM] [--out FILE]
       loadgen idle --target ADDR --conns N --proxy NAME --pid PID [--settle SECS] ...
       loadgen inproc [--rounds N] [--handshakes N]
       loadgen tapcost [--rounds N]   (the audit tap's and the command counter's CPU per ping round trip, in process)
       loadgen report FILE...

Every loop is bounded: a run stops at most 10 s after warm-up + duration,
the backend after --lifetime (default 1200 s).";

fn options() -> getopts::Options {
    let mut o = getopts::Options::new();
    o.optopt("", "listen", "backend address", "ADDR");
    o.optopt("", "lifetime", "backend lifetime in seconds", "SECS");
    o.optopt("", "target", "proxy address", "ADDR");
    o.optopt("", "measure", "what to measure", "KIND");
    o.optopt("", "name", "measure name in the result line", "NAME");
    o.optopt("", "proxy", "proxy name in the result line", "NAME");
    o.optopt("", "cores", "cores label", "N");
    o.optopt("", "cert", "certificate label", "ecdsa|rsa");
    o.optopt("", "threads", "threads", "N");
    o.optopt("", "conns", "connections", "N");
    o.optopt("", "size", "round-trip message size", "BYTES");
    o.optflag("", "wire", "send MongoDB messages (OP_MSG ping / insert)");
    o.optopt("", "sources", "loopback source addresses 127.0.0.1..N", "N");
    o.optopt("", "warmup", "seconds before counting", "SECS");
    o.optopt("", "duration", "seconds counted", "SECS");
    o.optopt("", "settle", "idle: seconds to let memory settle", "SECS");
    o.optmulti("", "pid", "a proxy process (with its descendants)", "PID");
    o.optmulti("", "backend-pid", "the backend process", "PID");
    o.optopt("", "out", "append the result line to FILE", "FILE");
    o.optopt(
        "",
        "client-cert",
        "client certificate and key (PEM)",
        "FILE",
    );
    o.optopt("", "rounds", "inproc: interleaved rounds", "N");
    o.optopt(
        "",
        "handshakes",
        "inproc: handshakes per variant and round",
        "N",
    );
    o
}

fn num<T: std::str::FromStr>(m: &getopts::Matches, name: &str, default: T) -> Result<T, String> {
    match m.opt_str(name) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("--{name}: not a number: {v}")),
        None => Ok(default),
    }
}

fn seconds(m: &getopts::Matches, name: &str, default: f64) -> Result<Duration, String> {
    let s: f64 = num(m, name, default)?;
    if !(0.0..=600.0).contains(&s) {
        return Err(format!("--{name}: between 0 and 600 seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn addr(m: &getopts::Matches, name: &str) -> Result<SocketAddr, String> {
    let v = m.opt_str(name).ok_or(format!("--{name} is required"))?;
    v.parse()
        .map_err(|_| format!("--{name}: not an address: {v}"))
}

fn pids(m: &getopts::Matches, name: &str) -> Result<Vec<u32>, String> {
    m.opt_strs(name)
        .iter()
        .map(|p| p.parse().map_err(|_| format!("--{name}: not a pid: {p}")))
        .collect()
}

fn run_from(m: &getopts::Matches, default_conns: usize) -> Result<Run, String> {
    let measure = m.opt_str("measure").unwrap_or_else(|| "idle".into());
    let (mode, version) = match measure.as_str() {
        "hs13" => (Mode::Handshake { resume: false }, Version::Tls13),
        "hs12" => (Mode::Handshake { resume: false }, Version::Tls12),
        "resume13" => (Mode::Handshake { resume: true }, Version::Tls13),
        "resume12" => (Mode::Handshake { resume: true }, Version::Tls12),
        "stream" => (Mode::Stream, Version::Tls13),
        "pingpong" => (Mode::PingPong, Version::Tls13),
        "idle" => (Mode::Idle, Version::Tls13),
        other => return Err(format!("--measure: unknown: {other}")),
    };
    let conns: usize = num(m, "conns", default_conns)?;
    if conns == 0 || conns > 100_000 {
        return Err("--conns: between 1 and 100000".into());
    }
    Ok(Run {
        label: Label {
            proxy: m.opt_str("proxy").unwrap_or_else(|| "proxy".into()),
            cores: m.opt_str("cores").unwrap_or_else(|| "1".into()),
            cert: m.opt_str("cert").unwrap_or_else(|| "ecdsa".into()),
            name: m.opt_str("name").unwrap_or(measure),
        },
        mode,
        version,
        target: addr(m, "target")?,
        threads: num(m, "threads", 1usize)?.clamp(1, 64),
        conns,
        size: num(m, "size", 200usize)?.clamp(
            if m.opt_present("wire") {
                wire::MIN_ROUND
            } else {
                1
            },
            1 << 20,
        ),
        wire: m.opt_present("wire"),
        sources: num(m, "sources", 1usize)?,
        warmup: seconds(m, "warmup", 0.5)?,
        duration: seconds(m, "duration", 5.0)?,
        proxy_pids: pids(m, "pid")?,
        backend_pids: pids(m, "backend-pid")?,
        out: m.opt_str("out"),
        client_cert: m.opt_str("client-cert"),
    })
}

/// 10,000 connections need more descriptors than the usual soft limit.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main_result() -> Result<(), String> {
    // `cargo bench` appends --bench to the arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    raise_fd_limit();
    if command == "report" {
        let mut text = String::new();
        for path in rest {
            text.push_str(&std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?);
            text.push('\n');
        }
        print!("{}", report::table(&text));
        return Ok(());
    }
    let m = options().parse(rest).map_err(|e| e.to_string())?;
    match command.as_str() {
        "backend" => backend::run(
            addr(&m, "listen")?,
            num(&m, "threads", 1usize)?.clamp(1, 64),
            Duration::from_secs(num(&m, "lifetime", 1200u64)?.min(7200)),
        ),
        "run" => measure::measure(&run_from(&m, 1)?),
        "idle" => {
            let mut run = run_from(&m, 10_000)?;
            run.mode = Mode::Idle;
            measure::idle(&run, seconds(&m, "settle", 1.0)?)
        }
        "inproc" => inproc::run(
            num(&m, "rounds", 5usize)?.clamp(1, 100),
            num(&m, "handshakes", 200usize)?.clamp(1, 100_000),
        ),
        "tapcost" => tapcost::run(num(&m, "rounds", 200_000usize)?.clamp(1, 10_000_000)),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    }
}

fn main() -> ExitCode {
    match main_result() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
