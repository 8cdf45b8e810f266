//! `mongossl check URI`: a one-shot health check for operators and
//! systemd. It reads a MongoDB connection string, connects (TLS when the
//! string asks for it, verifying the server as drivers do), sends one
//! `hello`, reports the TLS session, the server certificate and the
//! reply, and exits 0 only when the server answered `ok: 1`.
//!
//! A blocking client on purpose: it runs once and ends, so plain sockets
//! with one deadline over every step are simpler than the server's loop.

pub mod bson;
pub mod net;
pub mod report;
pub mod uri;

use std::io::Write;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::ssl::{SslContext, SslStream};
use openssl::x509::{X509, X509VerifyResult};

use crate::error::{Error, describe_openssl};
use crate::tls;
use crate::tls::client::{ClientTrust, Named};
use crate::tls::handshake::client_ssl;
use crate::tls::pem::{EXPIRY_WARNING_DAYS, describe_name};
use crate::wire;
use bson::{Document, Value};
use net::{Conn, Deadline, HandshakeFailure, Socket};
use report::{CertificateReport, Failure, FailureKind, HelloReport, Report, TlsReport};
use uri::{Endpoint, Host, Target, TlsOptions};

/// Seconds the whole check may take unless `--timeoutSecs` says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// mongod's `CommandNotFound`: a server before 4.4.2 has no `hello`.
const COMMAND_NOT_FOUND: i64 = 59;

fn make_opts() -> getopts::Options {
    let mut opts = getopts::Options::new();
    opts.optflag("", "json", "print the result as one JSON object");
    opts.optopt(
        "",
        "timeoutSecs",
        "give up after N seconds, everything included (default 10)",
        "N",
    );
    opts.optflag("h", "help", "print this help");
    opts
}

fn usage() -> String {
    make_opts().usage(
        "Usage: mongossl check [--json] [--timeoutSecs N] URI\n\n\
         Connects to one MongoDB server, sends hello and reports the TLS\n\
         session, the server certificate and the reply. URI examples:\n  \
         mongodb://db.example:27017/?tls=true&tlsCAFile=/etc/ssl/ca.pem\n  \
         mongodb://127.0.0.1:27018   (plaintext, e.g. mongod behind mongossl)\n\n\
         Exit status: 0 ok: 1; 1 not ok or not MongoDB; 2 bad usage, URI or file;\n\
         3 cannot connect or closed; 4 TLS handshake failed; 5 certificate\n\
         verification failed; 6 timeout.",
    )
}

/// Writes to stdout or stderr, ignoring errors: a reader that went away
/// (`mongossl check ... | head -1`) must not turn into a panic, and the
/// exit code still tells the result.
fn emit(text: &str, to_stderr: bool) {
    let _ = if to_stderr {
        std::io::stderr().lock().write_all(text.as_bytes())
    } else {
        std::io::stdout().lock().write_all(text.as_bytes())
    };
}

/// Runs `mongossl check` with the arguments after `check`; returns the
/// process exit code.
pub fn run(args: &[String]) -> u8 {
    let usage_error = |text: String| {
        emit(
            &format!("mongossl check: {text}\nTry 'mongossl check --help'.\n"),
            true,
        );
        FailureKind::Usage.exit_code()
    };
    let matches = match make_opts().parse(args) {
        Ok(m) => m,
        Err(e) => return usage_error(e.to_string()),
    };
    if matches.opt_present("help") {
        emit(&format!("{}\n", usage()), false);
        return 0;
    }
    let timeout = match matches.opt_str("timeoutSecs") {
        None => DEFAULT_TIMEOUT_SECS,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=86_400).contains(&n) => n,
            _ => return usage_error(format!("--timeoutSecs {text}: expected 1 to 86400")),
        },
    };
    let uri = match matches.free.as_slice() {
        [uri] => uri,
        [] => return usage_error("give a connection string (mongodb://host:port/?...)".into()),
        _ => return usage_error("give exactly one connection string".into()),
    };
    let report = check(uri, Duration::from_secs(timeout));
    if matches.opt_present("json") {
        emit(&format!("{}\n", report::json(&report)), false);
    } else {
        emit(&report::text(&report), false);
        match &report.failure {
            None => emit("OK\n", false),
            Some(f) => emit(&format!("{}\n", report::verdict(f)), true),
        }
    }
    report.exit_code()
}

/// Checks the server the connection string names, within `timeout`.
pub fn check(uri_text: &str, timeout: Duration) -> Report {
    let mut report = Report::default();
    if let Err(failure) = check_into(uri_text, timeout, &mut report) {
        report.failure = Some(failure);
    }
    report
}

fn check_into(uri_text: &str, timeout: Duration, report: &mut Report) -> Result<(), Failure> {
    let target = uri::parse(uri_text).map_err(|e| Failure::new(FailureKind::Usage, e))?;
    report.target = target.endpoint.to_string();
    report.tls_requested = target.tls.is_some();
    if target.has_credentials {
        report
            .notes
            .push("the credentials in the URI are not used: hello needs no authentication".into());
    }
    if !target.ignored.is_empty() {
        report.notes.push(format!(
            "options not used by check: {}",
            target.ignored.join(", ")
        ));
    }
    // Files are read before connecting, so a bad path is a usage error
    // even when the server is down.
    let connector = target.tls.as_ref().map(client_context).transpose()?;
    let deadline = Deadline::after(timeout);
    let socket = net::connect(&target.endpoint, &deadline)?;
    let mut conn = match (&target.tls, connector) {
        (Some(options), Some(connector)) => Conn::Tls(Box::new(tls_handshake(
            &target, options, &connector, socket, &deadline, report,
        )?)),
        _ => Conn::Plain(socket),
    };
    let result = ask_hello(&mut conn, &deadline, report);
    conn.close();
    result.map_err(|failure| explain_refusal(failure, &target))
}

/// A file named by the URI that cannot be used, in the URI's terms.
fn file_failure(e: Error) -> Failure {
    let text = match e {
        Error::File {
            option,
            path,
            cause,
        } => format!("{option}={}: {cause}", path.display()),
        Error::Io {
            option,
            path,
            source,
        } => format!("{option}={}: cannot read: {source}", path.display()),
        other => other.to_string(),
    };
    Failure::new(FailureKind::Usage, text)
}

fn setup_failure(stack: openssl::error::ErrorStack) -> Failure {
    Failure::new(
        FailureKind::Handshake,
        format!("cannot set up TLS: {}", describe_openssl(&stack)),
    )
}

/// The client context, from the same builder as the tunnel's (protocol
/// floor, AEAD suites, CA file or the system store, client certificate),
/// named in the connection string's terms.
fn client_context(options: &TlsOptions) -> Result<SslContext, Failure> {
    let named = |option, path: &Option<std::path::PathBuf>| path.clone().map(|path| (option, path));
    let ca_file = named("tlsCAFile", &options.ca_file);
    let key_file = named("tlsCertificateKeyFile", &options.certificate_key_file);
    let trust = ClientTrust {
        key_file: key_file.as_ref().map(|(option, path)| {
            (
                Named { option, path },
                options.certificate_key_password.as_ref(),
                "tlsCertificateKeyFilePassword",
            )
        }),
        ca_file: ca_file
            .as_ref()
            .map(|(option, path)| Named { option, path }),
        crl_file: None,
        // OpenSSL still verifies and records the result; it just does not
        // stop the handshake, so the report can say what it found.
        allow_invalid_certificates: options.allow_invalid_certificates,
        also_system_ca: false,
        tls13_suites: None,
    };
    // `check` has no FIPS option: the decision is "off", which is also
    // what lets it build a context at all.
    let decision =
        crate::fips::decide(None).map_err(|e| Failure::new(FailureKind::Usage, e.to_string()))?;
    tls::client::build(&trust, &decision).map_err(|e| match e {
        Error::Tls { source, .. } => setup_failure(source),
        other => file_failure(other),
    })
}

fn tls_handshake(
    target: &Target,
    options: &TlsOptions,
    context: &SslContext,
    socket: Socket,
    deadline: &Deadline,
    report: &mut Report,
) -> Result<SslStream<Socket>, Failure> {
    // Host name verification and SNI follow the host as written: a DNS
    // name is sent as SNI and matched against DNS names, an address only
    // against IP names. A unix socket has no host to check.
    let domain = match &target.endpoint {
        Endpoint::Tcp {
            host: Host::Name(name),
            ..
        } => name.clone(),
        Endpoint::Tcp {
            host: Host::Ip(ip), ..
        } => ip.to_string(),
        Endpoint::Unix(_) => String::new(),
    };
    let host = (!domain.is_empty()).then_some(domain.as_str());
    let ssl = client_ssl(context, host, !options.allow_invalid_hostnames).map_err(setup_failure)?;
    let mut tls = TlsReport::default();
    match net::handshake(ssl, socket, deadline) {
        Ok(stream) => {
            let ssl = stream.ssl();
            tls.version = ssl.version_str().to_string();
            tls.cipher = ssl
                .current_cipher()
                .map(|c| c.name().to_string())
                .unwrap_or_default();
            tls.certificate = ssl
                .peer_certificate()
                .map(|cert| describe_certificate(&cert, report));
            tls.verification = verification_text(options, &domain, ssl.verify_result(), report);
            report.tls = Some(tls);
            Ok(stream)
        }
        Err(HandshakeFailure::Failed {
            failure,
            verify_result,
            peer,
        }) => {
            tls.certificate = peer.map(|cert| describe_certificate(&cert, report));
            let enforced = !options.allow_invalid_certificates;
            let failure = if enforced && verify_result != X509VerifyResult::OK {
                tls.verification = format!("failed: {}", verify_result.error_string());
                verification_failure(options, &domain, verify_result, tls.certificate.as_ref())
            } else {
                add_hint(failure, options, true)
            };
            report.tls = Some(tls);
            Err(failure)
        }
        Err(HandshakeFailure::Other(failure)) => Err(add_hint(failure, options, true)),
    }
}

// OpenSSL's X509_V_ERR_* codes the hints below are about.
const DEPTH_ZERO_SELF_SIGNED_CERT: i32 = 18;
const SELF_SIGNED_CERT_IN_CHAIN: i32 = 19;
const UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
const UNABLE_TO_VERIFY_LEAF_SIGNATURE: i32 = 21;
const HOSTNAME_MISMATCH: i32 = 62;
const IP_ADDRESS_MISMATCH: i32 = 64;

fn verification_failure(
    options: &TlsOptions,
    domain: &str,
    result: X509VerifyResult,
    certificate: Option<&CertificateReport>,
) -> Failure {
    let hint = match result.as_raw() {
        HOSTNAME_MISMATCH | IP_ADDRESS_MISMATCH => {
            let names = certificate
                .map(|c| c.sans.join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".to_string());
            format!(
                " ({domain} is not among the certificate's names: {names}; tlsAllowInvalidHostnames=true skips this check)"
            )
        }
        DEPTH_ZERO_SELF_SIGNED_CERT
        | SELF_SIGNED_CERT_IN_CHAIN
        | UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | UNABLE_TO_VERIFY_LEAF_SIGNATURE => match &options.ca_file {
            Some(path) => format!(" (is tlsCAFile {} the CA that signed it?)", path.display()),
            None => " (not signed by a CA of the system trust store: give its CA with tlsCAFile)"
                .to_string(),
        },
        _ => String::new(),
    };
    Failure::new(
        FailureKind::Verification,
        format!(
            "server certificate verification failed: {}{hint}",
            result.error_string()
        ),
    )
}

fn verification_text(
    options: &TlsOptions,
    domain: &str,
    result: X509VerifyResult,
    report: &mut Report,
) -> String {
    let trust = match &options.ca_file {
        Some(path) => format!("tlsCAFile {}", path.display()),
        None => "the system trust store".to_string(),
    };
    if options.allow_invalid_certificates {
        if result == X509VerifyResult::OK {
            return format!(
                "not enforced (tlsAllowInvalidCertificates or tlsInsecure); it verifies against {trust}"
            );
        }
        report.warnings.push(format!(
            "the server certificate does not verify against {trust}: {} (accepted because of tlsAllowInvalidCertificates or tlsInsecure)",
            result.error_string()
        ));
        return format!(
            "not enforced (tlsAllowInvalidCertificates or tlsInsecure): {}",
            result.error_string()
        );
    }
    let host = if domain.is_empty() {
        "no host name to check (unix socket)".to_string()
    } else if options.allow_invalid_hostnames {
        "host name not checked (tlsAllowInvalidHostnames)".to_string()
    } else {
        format!("host name {domain} matches")
    };
    format!("verified against {trust}; {host}")
}

/// Describes the server certificate and warns about its dates.
fn describe_certificate(cert: &X509, report: &mut Report) -> CertificateReport {
    let mut sans = Vec::new();
    if let Some(names) = cert.subject_alt_names() {
        for name in &names {
            if let Some(dns) = name.dnsname() {
                sans.push(format!("DNS:{dns}"));
            } else if let Some(ip) = name.ipaddress().and_then(ip_from_bytes) {
                sans.push(format!("IP:{ip}"));
            } else if let Some(email) = name.email() {
                sans.push(format!("email:{email}"));
            } else if let Some(uri) = name.uri() {
                sans.push(format!("URI:{uri}"));
            }
        }
    }
    let now = Asn1Time::days_from_now(0).ok();
    let days_left = now
        .as_ref()
        .and_then(|now| now.diff(cert.not_after()).ok())
        .map_or(0, |d| d.days);
    let not_after = cert.not_after().to_string();
    let not_yet_valid = now.as_ref().is_some_and(|now| cert.not_before() > now);
    if not_yet_valid {
        report.warnings.push(format!(
            "the server certificate is not valid until {}",
            cert.not_before()
        ));
    } else if days_left < 0 || now.as_ref().is_some_and(|now| cert.not_after() < now) {
        report
            .warnings
            .push(format!("the server certificate expired on {not_after}"));
    } else if days_left < EXPIRY_WARNING_DAYS as i32 {
        report.warnings.push(format!(
            "the server certificate expires in {days_left} day(s), on {not_after}"
        ));
    }
    CertificateReport {
        subject: describe_name(cert.subject_name()),
        issuer: describe_name(cert.issuer_name()),
        sans,
        not_after,
        days_left,
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// Sends `{<command>: 1, $db: "admin"}` and returns the reply's body.
fn exchange(
    conn: &mut Conn,
    command: &str,
    request_id: i32,
    deadline: &Deadline,
) -> Result<Document, Failure> {
    let body = Document(vec![
        (command.to_string(), Value::Int32(1)),
        ("$db".to_string(), Value::String("admin".to_string())),
    ])
    .encode();
    conn.write_all(&wire::op_msg(request_id, &body), deadline)?;
    let protocol = |text: String| {
        Failure::new(
            FailureKind::Protocol,
            format!("the reply to {command} is not a MongoDB reply: {text}"),
        )
    };
    let mut head = [0u8; wire::HEADER_LEN];
    conn.read_exact(&mut head, deadline)?;
    let header = wire::Header::parse(&head).map_err(protocol)?;
    let mut payload = vec![0u8; header.message_length - wire::HEADER_LEN];
    conn.read_exact(&mut payload, deadline)?;
    if header.op_code == 1 {
        return Err(Failure::new(
            FailureKind::Protocol,
            "the server answered with OP_REPLY: it predates MongoDB 3.6, which check does not support",
        ));
    }
    if header.op_code != wire::OP_MSG {
        return Err(protocol(format!("opcode {}", header.op_code)));
    }
    if header.response_to != request_id {
        return Err(protocol(format!(
            "it answers request {} instead of {request_id}",
            header.response_to
        )));
    }
    let body = wire::op_msg_body(&payload).map_err(protocol)?;
    bson::decode(body).map_err(protocol)
}

/// Asks `hello` (or `isMaster`, for servers before 4.4.2) and judges the
/// reply.
fn ask_hello(conn: &mut Conn, deadline: &Deadline, report: &mut Report) -> Result<(), Failure> {
    let mut command = "hello";
    let mut reply = exchange(conn, command, 1, deadline)?;
    if reply.get("code").and_then(Value::as_i64) == Some(COMMAND_NOT_FOUND) {
        command = "isMaster";
        reply = exchange(conn, command, 2, deadline)?;
    }
    let hello = summarize(command, &reply);
    let ok = hello.ok;
    let detail = match (&hello.errmsg, hello.code) {
        (Some(msg), Some(code)) => format!(": {msg} (code {code})"),
        (Some(msg), None) => format!(": {msg}"),
        (None, Some(code)) => format!(" (code {code})"),
        (None, None) => String::new(),
    };
    report.hello = Some(hello);
    match ok {
        Some(1.0) => Ok(()),
        Some(ok) => Err(Failure::new(
            FailureKind::NotOk,
            format!("the server answered {command} with ok: {ok}{detail}"),
        )),
        None => Err(Failure::new(
            FailureKind::NotOk,
            format!("the reply to {command} has no ok field"),
        )),
    }
}

fn summarize(command: &'static str, reply: &Document) -> HelloReport {
    let writable_primary = [
        ("isWritablePrimary", "isWritablePrimary"),
        ("ismaster", "ismaster"),
    ]
    .into_iter()
    .find_map(|(key, name)| Some((name, reply.get(key)?.as_bool()?)));
    let hosts = match reply.get("hosts") {
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
        ),
        _ => None,
    };
    HelloReport {
        command,
        ok: reply.get("ok").and_then(Value::as_f64),
        writable_primary,
        max_wire_version: reply.get("maxWireVersion").and_then(Value::as_i64),
        set_name: reply
            .get("setName")
            .and_then(Value::as_str)
            .map(str::to_string),
        hosts,
        errmsg: reply
            .get("errmsg")
            .and_then(Value::as_str)
            .map(str::to_string),
        code: reply.get("code").and_then(Value::as_i64),
    }
}

/// Adds what a refusal most likely means to a failure after the TCP
/// connection was made.
fn explain_refusal(failure: Failure, target: &Target) -> Failure {
    match &target.tls {
        Some(options) => add_hint(failure, options, false),
        None if failure.kind == FailureKind::Closed => Failure::new(
            FailureKind::Closed,
            format!(
                "{} (does the server require TLS? add tls=true)",
                failure.message
            ),
        ),
        None => failure,
    }
}

/// Hints for a TLS connection the server ended: during the handshake a
/// plaintext server hangs up; after it, a server that wants a (valid)
/// client certificate hangs up or sends an alert naming it.
fn add_hint(failure: Failure, options: &TlsOptions, in_handshake: bool) -> Failure {
    let text = failure.message.to_ascii_lowercase();
    let about_client_cert = text.contains("certificate required")
        || text.contains("bad certificate")
        || text.contains("unknown ca")
        || text.contains("certificate unknown")
        || text.contains("unsupported certificate")
        || text.contains("certificate expired")
        || text.contains("certificate revoked");
    let hint = if about_client_cert || (failure.kind == FailureKind::Closed && !in_handshake) {
        match options.certificate_key_file {
            None => {
                " (the server may require a client certificate: give one with tlsCertificateKeyFile)"
            }
            Some(_) => {
                " (the server may have refused the client certificate of tlsCertificateKeyFile)"
            }
        }
    } else if in_handshake
        && (failure.kind == FailureKind::Closed || text.contains("wrong version number"))
    {
        " (is it a TLS server? a server without TLS hangs up on a TLS handshake: drop tls=true)"
    } else if in_handshake && failure.kind == FailureKind::Timeout {
        " (no TLS answer: if the server does not speak TLS, drop tls=true)"
    } else {
        ""
    };
    Failure::new(failure.kind, format!("{}{hint}", failure.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_both_spellings_of_primary() {
        let reply = Document(vec![
            ("ismaster".into(), Value::Bool(true)),
            ("maxWireVersion".into(), Value::Int32(7)),
            ("setName".into(), Value::String("rs0".into())),
            (
                "hosts".into(),
                Value::Array(vec![Value::String("a:1".into())]),
            ),
            ("ok".into(), Value::Double(1.0)),
        ]);
        let hello = summarize("isMaster", &reply);
        assert_eq!(hello.writable_primary, Some(("ismaster", true)));
        assert_eq!(hello.max_wire_version, Some(7));
        assert_eq!(hello.set_name.as_deref(), Some("rs0"));
        assert_eq!(hello.hosts, Some(vec!["a:1".to_string()]));
        assert_eq!(hello.ok, Some(1.0));
        let modern = Document(vec![("isWritablePrimary".into(), Value::Bool(false))]);
        assert_eq!(
            summarize("hello", &modern).writable_primary,
            Some(("isWritablePrimary", false))
        );
    }

    #[test]
    fn hints_name_the_likely_cause() {
        let no_cert = TlsOptions::default();
        let closed = Failure::new(FailureKind::Closed, "closed");
        assert!(
            add_hint(closed.clone(), &no_cert, false)
                .message
                .contains("give one with tlsCertificateKeyFile")
        );
        assert!(
            add_hint(closed, &no_cert, true)
                .message
                .contains("drop tls=true")
        );
        let alert = Failure::new(
            FailureKind::Handshake,
            "TLS error: tlsv13 alert certificate required",
        );
        assert!(
            add_hint(alert, &no_cert, false)
                .message
                .contains("client certificate")
        );
    }

    #[test]
    fn usage_errors_exit_2() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(run(&args(&[])), 2);
        assert_eq!(run(&args(&["--timeoutSecs", "0", "mongodb://h"])), 2);
        assert_eq!(run(&args(&["--bogus", "mongodb://h"])), 2);
        assert_eq!(run(&args(&["mongodb://a", "mongodb://b"])), 2);
        let report = check(
            "mongodb://h/?tlsCAFile=/nonexistent/ca.pem",
            Duration::from_secs(1),
        );
        let failure = report.failure.expect("fails");
        assert_eq!(failure.kind, FailureKind::Usage);
        assert!(
            failure
                .message
                .starts_with("tlsCAFile=/nonexistent/ca.pem: cannot read"),
            "{}",
            failure.message
        );
    }
}
