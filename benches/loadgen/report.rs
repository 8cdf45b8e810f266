//! The table: reads result lines (several files or passes), takes the
//! median of each figure over the passes, and prints raw rates, work per
//! proxy CPU-second and the ratio of mongossl to the best peer.

use std::collections::BTreeMap;
use std::fmt::Write as _;

struct Row {
    proxy: String,
    cores: String,
    cert: String,
    measure: String,
    ops: f64,
    wall: f64,
    proxy_cpu: f64,
    p50: f64,
    p99: f64,
    extra: BTreeMap<String, String>,
}

fn parse(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|l| !l.starts_with("proxy\t") && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() < 12 {
                return None;
            }
            let num = |i: usize| f[i].parse::<f64>().unwrap_or(f64::NAN);
            Some(Row {
                proxy: f[0].into(),
                cores: f[1].into(),
                cert: f[2].into(),
                measure: f[3].into(),
                ops: num(4),
                wall: num(5),
                proxy_cpu: num(6),
                p50: num(9),
                p99: num(10),
                extra: f[11]
                    .split(';')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A figure of a measure: its name, how to get it from a row, and
/// whether more is better.
struct Metric {
    name: &'static str,
    get: fn(&Row) -> f64,
    higher_is_better: bool,
}

fn rate(r: &Row) -> f64 {
    r.ops / r.wall
}
fn per_cpu(r: &Row) -> f64 {
    if r.proxy_cpu > 0.0 {
        r.ops / r.proxy_cpu
    } else {
        f64::NAN
    }
}
fn mb_rate(r: &Row) -> f64 {
    rate(r) / 1e6
}
fn mb_per_cpu(r: &Row) -> f64 {
    per_cpu(r) / 1e6
}
fn p50(r: &Row) -> f64 {
    r.p50
}
fn p99(r: &Row) -> f64 {
    r.p99
}
fn extra(r: &Row, key: &str) -> f64 {
    r.extra
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}
fn kib_per_conn(r: &Row) -> f64 {
    extra(r, "kib_per_conn")
}
fn rss_left(r: &Row) -> f64 {
    extra(r, "rss_closed_kib") - extra(r, "rss_base_kib")
}
fn tickets(r: &Row) -> f64 {
    extra(r, "tickets_per_hs")
}
fn resumed(r: &Row) -> f64 {
    extra(r, "resumed_share")
}

const fn m(name: &'static str, get: fn(&Row) -> f64, higher_is_better: bool) -> Metric {
    Metric {
        name,
        get,
        higher_is_better,
    }
}

/// (measure, cert, title, metrics) in the order the table shows them.
fn layout() -> Vec<(&'static str, &'static str, &'static str, Vec<Metric>)> {
    let hs = || {
        vec![
            m("handshakes/s", rate, true),
            m("per proxy CPU-s", per_cpu, true),
            m("tickets sent per handshake", tickets, false),
        ]
    };
    let resume = || {
        let mut v = hs();
        v.push(m("share actually resumed", resumed, true));
        v
    };
    let pp = || {
        vec![
            m("p50 µs", p50, false),
            m("p99 µs", p99, false),
            m("round trips/s", rate, true),
            m("per proxy CPU-s", per_cpu, true),
        ]
    };
    vec![
        (
            "hs13",
            "ecdsa",
            "full TLS 1.3 handshakes, ECDSA P-256",
            hs(),
        ),
        (
            "hs12",
            "ecdsa",
            "full TLS 1.2 handshakes, ECDSA P-256",
            hs(),
        ),
        ("hs13", "rsa", "full TLS 1.3 handshakes, RSA-2048", hs()),
        ("hs12", "rsa", "full TLS 1.2 handshakes, RSA-2048", hs()),
        (
            "hs13",
            "mtls",
            "full TLS 1.3 handshakes, client certificate verified (sslCAFile)",
            hs(),
        ),
        (
            "hs12",
            "mtls",
            "full TLS 1.2 handshakes, client certificate verified (sslCAFile)",
            hs(),
        ),
        (
            "resume13",
            "ecdsa",
            "resumed TLS 1.3 handshakes (ticket)",
            resume(),
        ),
        (
            "resume12",
            "ecdsa",
            "resumed TLS 1.2 handshakes (ticket)",
            resume(),
        ),
        (
            "stream",
            "ecdsa",
            "MB relayed each way, every byte checked",
            vec![
                m("MB/s each way", mb_rate, true),
                m("MB per proxy CPU-s", mb_per_cpu, true),
            ],
        ),
        ("pp1", "ecdsa", "200 B ping-pong, 1 connection", pp()),
        ("pp32", "ecdsa", "200 B ping-pong, 32 connections", pp()),
        (
            "idle",
            "ecdsa",
            "idle TLS connections (RSS of the proxy)",
            vec![
                m("KiB per connection", kib_per_conn, false),
                m("KiB left after close", rss_left, false),
            ],
        ),
    ]
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 100.0 {
        let s = format!("{:.0}", v);
        // Thousands separators for readability.
        let (sign, digits) = s.split_at(if v < 0.0 { 1 } else { 0 });
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The markdown table of every measure found in `text`.
pub fn table(text: &str) -> String {
    let rows = parse(text);
    let mut proxies: Vec<String> = Vec::new();
    for r in &rows {
        if !proxies.contains(&r.proxy) {
            proxies.push(r.proxy.clone());
        }
    }
    // mongossl (and its variants) first, then the peers as they came.
    proxies.sort_by_key(|p| !p.starts_with("mongossl"));
    let mut cores: Vec<String> = rows.iter().map(|r| r.cores.clone()).collect();
    cores.sort();
    cores.dedup();
    let mut out = String::new();
    let _ = write!(out, "| measure | cores | figure |");
    for p in &proxies {
        let _ = write!(out, " {p} |");
    }
    let _ = writeln!(out, " mongossl vs best peer |");
    let _ = write!(out, "|---|---|---|");
    for _ in &proxies {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---:|");
    for (measure, cert, title, metrics) in layout() {
        for c in &cores {
            let of = |p: &str| -> Vec<&Row> {
                rows.iter()
                    .filter(|r| {
                        r.proxy == p && &r.cores == c && r.measure == measure && r.cert == cert
                    })
                    .collect()
            };
            if proxies.iter().all(|p| of(p).is_empty()) {
                continue;
            }
            for (i, metric) in metrics.iter().enumerate() {
                let label = if i == 0 { title } else { "" };
                let _ = write!(
                    out,
                    "| {label} | {} | {} |",
                    if i == 0 { c.as_str() } else { "" },
                    metric.name
                );
                let values: Vec<f64> = proxies
                    .iter()
                    .map(|p| median(of(p).iter().map(|r| (metric.get)(r)).collect()))
                    .collect();
                for v in &values {
                    let _ = write!(out, " {} |", fmt(*v));
                }
                let ours = values[0];
                let peers = proxies
                    .iter()
                    .zip(&values)
                    .filter(|(p, v)| !p.starts_with("mongossl") && v.is_finite())
                    .map(|(_, v)| *v);
                let best = if metric.higher_is_better {
                    peers.fold(f64::NAN, f64::max)
                } else {
                    peers.fold(f64::NAN, f64::min)
                };
                let ratio =
                    if metric.name.starts_with("tickets") || metric.name.contains("after close") {
                        String::new()
                    } else if ours.is_finite() && best.is_finite() && best != 0.0 {
                        let better = if metric.higher_is_better {
                            ours >= best
                        } else {
                            ours <= best
                        };
                        format!(
                            "{:.2}× {}",
                            ours / best,
                            if better { "(ahead)" } else { "(behind)" }
                        )
                    } else {
                        "–".into()
                    };
                let _ = writeln!(out, " {ratio} |");
            }
        }
    }
    let errors: f64 = rows
        .iter()
        .map(|r| extra(r, "errors"))
        .filter(|e| e.is_finite())
        .sum();
    let _ = writeln!(
        out,
        "\nRatios: mongossl ÷ best peer; for rates more is better, for latency and memory less is better ({} client-side errors in all).",
        errors
    );
    out
}
