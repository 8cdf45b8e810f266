//! Prometheus metrics on `--metricsListen HOST:PORT`: a small blocking
//! HTTP responder on its own thread answers `GET /metrics` with the text
//! exposition format 0.0.4, summing the event loops' counters at scrape
//! time (the loops never wait for it).
//!
//! Written here rather than with the `prometheus-client` crate: that crate
//! writes OpenMetrics rather than 0.0.4 and keeps each metric in its own
//! shared atomics, while mongossl's loops each count in their own
//! `LoopStats` and only a scrape sums them.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::proxy::stats::{self, HistogramTotals, LoopStats, Refusal, Totals, VERSIONS};
use crate::taps::audit::writer::Counters;
use crate::taps::commands;

/// How long one scrape may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What the control thread knows: FIPS, the server certificate, reloads.
#[derive(Default)]
pub struct ProcessFacts {
    pub fips: bool,
    /// The `--sslPEMKeyFile` and its certificate's notAfter (Unix time).
    certificate: Mutex<Option<(String, i64)>>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

impl ProcessFacts {
    pub fn new(fips: bool) -> ProcessFacts {
        ProcessFacts {
            fips,
            ..ProcessFacts::default()
        }
    }

    pub fn certificate(&self, file: &str, not_after: i64) {
        if let Ok(mut c) = self.certificate.lock() {
            *c = Some((file.to_string(), not_after));
        }
    }

    pub fn reloaded(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Relaxed);
    }
}

/// Everything a scrape reads.
pub struct Metrics {
    pub loops: Vec<Arc<LoopStats>>,
    pub process: Arc<ProcessFacts>,
    /// The audit's counters, when the audit is on.
    pub audit: Option<Arc<Counters>>,
}

impl Metrics {
    /// The exposition text.
    pub fn render(&self) -> String {
        let t = stats::sum(&self.loops);
        let mut out = String::with_capacity(4096);
        family(
            &mut out,
            "mongossl_connections_accepted_total",
            "counter",
            "Connections accepted.",
        );
        sample(
            &mut out,
            "mongossl_connections_accepted_total",
            "",
            t.accepted,
        );
        family(
            &mut out,
            "mongossl_connections_open",
            "gauge",
            "Connections open now.",
        );
        sample(&mut out, "mongossl_connections_open", "", t.open);
        family(
            &mut out,
            "mongossl_connections_refused_total",
            "counter",
            "Connections refused before relaying, by reason.",
        );
        for (why, count) in Refusal::ALL.iter().zip(t.refused) {
            let labels = format!("{{reason=\"{}\"}}", why.label());
            sample(
                &mut out,
                "mongossl_connections_refused_total",
                &labels,
                count,
            );
        }
        family(
            &mut out,
            "mongossl_handshakes_total",
            "counter",
            "TLS handshakes, by result and version.",
        );
        for (version, count) in VERSIONS.iter().zip(t.handshakes_ok) {
            let labels = format!("{{result=\"ok\",version=\"{version}\"}}");
            sample(&mut out, "mongossl_handshakes_total", &labels, count);
        }
        let failed = "{result=\"failed\",version=\"\"}";
        sample(
            &mut out,
            "mongossl_handshakes_total",
            failed,
            t.handshakes_failed,
        );
        histogram(
            &mut out,
            "mongossl_handshake_duration_seconds",
            "From accept to a finished TLS handshake.",
            &t.handshakes,
        );
        family(
            &mut out,
            "mongossl_bytes_total",
            "counter",
            "Bytes relayed, by direction.",
        );
        sample(
            &mut out,
            "mongossl_bytes_total",
            "{direction=\"to_upstream\"}",
            t.bytes_to_upstream,
        );
        sample(
            &mut out,
            "mongossl_bytes_total",
            "{direction=\"to_client\"}",
            t.bytes_to_client,
        );
        let p = &self.process;
        if let Ok(Some((file, not_after))) = p.certificate.lock().map(|c| c.clone()) {
            let name = "mongossl_certificate_expiry_timestamp_seconds";
            family(
                &mut out,
                name,
                "gauge",
                "The server certificate's notAfter, as Unix time.",
            );
            let _ = writeln!(
                out,
                "{name}{{file=\"{}\"}} {not_after}",
                escape_label(&file)
            );
        }
        family(
            &mut out,
            "mongossl_fips_mode",
            "gauge",
            "1 when FIPS mode is on.",
        );
        sample(&mut out, "mongossl_fips_mode", "", u64::from(p.fips));
        family(
            &mut out,
            "mongossl_reloads_total",
            "counter",
            "SIGHUP reloads, by result.",
        );
        sample(
            &mut out,
            "mongossl_reloads_total",
            "{result=\"ok\"}",
            p.reloads_ok.load(Relaxed),
        );
        sample(
            &mut out,
            "mongossl_reloads_total",
            "{result=\"failed\"}",
            p.reloads_failed.load(Relaxed),
        );
        command_families(&mut out, &t);
        if let Some(audit) = &self.audit {
            audit_families(&mut out, audit);
        }
        out
    }
}

fn histogram(out: &mut String, name: &str, help: &str, h: &HistogramTotals) {
    family(out, name, "histogram", help);
    for (bound, count) in h.bounds.iter().zip(&h.buckets) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let all = h.count();
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {all}");
    let _ = writeln!(out, "{name}_sum {}", h.seconds);
    let _ = writeln!(out, "{name}_count {all}");
}

/// Commands by name and result: only the names seen, so the label set
/// stays as small as the traffic.
fn command_families(out: &mut String, t: &Totals) {
    let name = "mongossl_commands_total";
    family(
        out,
        name,
        "counter",
        "Commands relayed, by name and by the reply's ok.",
    );
    for (slot, counts) in t.commands.iter().enumerate() {
        for (result, count) in ["ok", "error"].iter().zip(counts) {
            if *count > 0 {
                let command = commands::name_of(slot);
                let labels = format!("{{command=\"{command}\",result=\"{result}\"}}");
                sample(out, name, &labels, *count);
            }
        }
    }
    histogram(
        out,
        "mongossl_command_duration_seconds",
        "From reading a command from the client to reading its reply from mongod.",
        &t.command_durations,
    );
}

fn audit_families(out: &mut String, audit: &Counters) {
    let families = [
        (
            "mongossl_audit_events_total",
            "Audit events written (after --auditFilter).",
            audit.written.load(Relaxed),
        ),
        (
            "mongossl_audit_filtered_total",
            "Audit events --auditFilter left out.",
            audit.filtered.load(Relaxed),
        ),
        (
            "mongossl_audit_dropped_total",
            "Audit events dropped on a full queue (--auditOnFullQueue drop).",
            audit.dropped.load(Relaxed),
        ),
        (
            "mongossl_audit_write_errors_total",
            "Failed writes of audit events.",
            audit.write_errors.load(Relaxed),
        ),
    ];
    for (name, help, value) in families {
        family(out, name, "counter", help);
        sample(out, name, "", value);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: u64) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

/// A label value: backslash, quote and newline escaped, as 0.0.4 asks.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Answers scrapes on `listener` until the process ends.
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        if let Err(e) = answer(stream, &metrics) {
                            log::debug!(target: "metrics", "scrape failed: {e}");
                        }
                    }
                    Err(e) => {
                        log::warn!(target: "metrics", "accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })
        .map(|_| ())
}

/// One request, one answer, then close.
fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.by_ref().take(8192).read_line(&mut request)?;
    // The headers, up to the blank line (bounded).
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        if reader.by_ref().take(8192).read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, kind, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lists_every_family_once() {
        let stats = Arc::new(LoopStats::default());
        stats.accepted();
        stats.handshake_done("TLSv1.3", Duration::from_millis(2));
        let process = Arc::new(ProcessFacts::new(true));
        process.certificate("/etc/ssl/a \"b\".pem", 1_800_000_000);
        process.reloaded(true);
        let text = Metrics {
            loops: vec![stats],
            process,
            audit: Some(Arc::new(Counters::default())),
        }
        .render();
        assert!(
            text.contains("mongossl_connections_accepted_total 1\n"),
            "{text}"
        );
        assert!(text.contains("mongossl_handshakes_total{result=\"ok\",version=\"TLSv1.3\"} 1\n"));
        assert!(text.contains("mongossl_handshake_duration_seconds_bucket{le=\"0.002\"} 1\n"));
        assert!(text.contains("mongossl_handshake_duration_seconds_count 1\n"));
        assert!(text.contains(
            "mongossl_certificate_expiry_timestamp_seconds{file=\"/etc/ssl/a \\\"b\\\".pem\"} 1800000000\n"
        ));
        assert!(text.contains("mongossl_fips_mode 1\n"));
        assert!(text.contains("mongossl_reloads_total{result=\"ok\"} 1\n"));
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert!(text.contains("mongossl_audit_dropped_total 0\n"));
        assert_eq!(types, 15, "{text}");
    }
}
