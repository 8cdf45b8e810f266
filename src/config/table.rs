//! The option table: every option of mongossl spelled once, as mongod
//! spells it, with its second names (mongod 4.2's `tls*`), its YAML paths
//! and its help text. The command line (`options`), both config-file
//! readers (`file`, `yaml`), the help text, validation and the TLS code's
//! error messages all read an option's name from here.
//!
//! An option's long name is also its key in mongod 2.4's `key = value`
//! files. An option with no YAML path that may stand in a config file is
//! read from the `mongossl:` section under its long name.

/// How an option takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Present or not; `key = true|false` in a config file.
    Flag,
    /// Takes one value.
    Value,
    /// May repeat (`-vvv`); `key = true|false|N` in a config file.
    Count,
    /// Takes a value and may repeat (`--setParameter a=1 --setParameter
    /// b=2`); the values are kept one per line, in order.
    List,
}

/// One option of mongossl.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The long name: `--name` on the command line, `name =` in a 2.4 file.
    pub name: &'static str,
    pub short: &'static str,
    pub kind: Kind,
    pub hint: &'static str,
    /// Empty for a second name: its help names the option it stands for.
    pub help: &'static str,
    /// Whether the option may stand in a config file.
    pub in_file: bool,
    /// For a second name of an option (mongod 4.2's `--tls*` names, the
    /// 3.0 `--sslAllowConnectionsWithoutCertificates`): the name it stands
    /// for, under which validation finds its value.
    pub twin_of: Option<&'static str>,
    /// Where the option stands in a YAML config file (dotted paths).
    pub yaml: &'static [&'static str],
}

impl OptionSpec {
    /// The help text as `--help` shows it.
    pub fn help_text(&self) -> String {
        match self.twin_of {
            Some(of) => format!("the same as --{of}"),
            None => self.help.to_string(),
        }
    }
}

const fn option(
    name: &'static str,
    kind: Kind,
    hint: &'static str,
    yaml: &'static [&'static str],
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        short: "",
        kind,
        hint,
        help,
        in_file: true,
        twin_of: None,
        yaml,
    }
}

/// A second name of `of`, with its kind and value hint.
const fn twin(name: &'static str, of: OptionSpec, yaml: &'static [&'static str]) -> OptionSpec {
    OptionSpec {
        name,
        help: "",
        twin_of: Some(of.name),
        yaml,
        ..of
    }
}

// mongossl's own, and mongod's general options.

pub const HELP: OptionSpec = OptionSpec {
    short: "h",
    in_file: false,
    ..option("help", Kind::Flag, "", &[], "show this usage information")
};
pub const VERSION: OptionSpec = OptionSpec {
    in_file: false,
    ..option(
        "version",
        Kind::Flag,
        "",
        &[],
        "show version and OpenSSL/FIPS information",
    )
};
pub const CONFIG: OptionSpec = OptionSpec {
    short: "f",
    in_file: false,
    ..option(
        "config",
        Kind::Value,
        "FILE",
        &[],
        "configuration file (key = value lines); command-line options win",
    )
};
pub const VERBOSE: OptionSpec = OptionSpec {
    short: "v",
    ..option(
        "verbose",
        Kind::Count,
        "",
        &["systemLog.verbosity"],
        "more log detail (-vv for more)",
    )
};
pub const QUIET: OptionSpec = option(
    "quiet",
    Kind::Flag,
    "",
    &["systemLog.quiet"],
    "less log output",
);
pub const LOGPATH: OptionSpec = option(
    "logpath",
    Kind::Value,
    "FILE",
    &["systemLog.path"],
    "log to FILE instead of stderr",
);
pub const LOGAPPEND: OptionSpec = option(
    "logappend",
    Kind::Flag,
    "",
    &["systemLog.logAppend"],
    "append to --logpath instead of rotating the old file aside",
);
pub const LOG_FORMAT: OptionSpec = option(
    "logFormat",
    Kind::Value,
    "json|text",
    &[],
    "log lines as mongod 4.4+'s JSON documents, or as text (default text)",
);
pub const SYSLOG: OptionSpec = option(
    "syslog",
    Kind::Flag,
    "",
    &[],
    "log to the local syslog daemon instead of --logpath or standard error",
);
pub const SYSLOG_FACILITY: OptionSpec = option(
    "syslogFacility",
    Kind::Value,
    "NAME",
    &["systemLog.syslogFacility"],
    "the syslog facility with --syslog: user (default), daemon, auth, local0..local7, ...",
);
/// The facility names `--syslogFacility` takes (syslog(3)'s), with their codes.
pub const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

pub const PORT: OptionSpec = option(
    "port",
    Kind::Value,
    "N",
    &["net.port"],
    "listen port (default 27017; 0 picks a free port and logs it)",
);
pub const BIND_IP: OptionSpec = option(
    "bind_ip",
    Kind::Value,
    "ADDR[,ADDR]",
    &["net.bindIp"],
    "listen addresses (default 127.0.0.1; IPv6 accepted)",
);
pub const UPSTREAM: OptionSpec = option(
    "upstream",
    Kind::Value,
    "ADDR",
    &["mongossl.upstream"],
    "the plaintext mongod: HOST:PORT, [V6]:PORT or a unix socket path (required)",
);
pub const MAX_CONNS: OptionSpec = option(
    "maxConns",
    Kind::Value,
    "N",
    &["net.maxIncomingConnections"],
    "refuse connections beyond N (default 1000000)",
);
pub const IDLE_TIMEOUT_SECS: OptionSpec = option(
    "idleTimeoutSecs",
    Kind::Value,
    "SECS",
    &[],
    "close relayed connections without traffic for SECS (default 0: never)",
);
pub const THREADS: OptionSpec = option(
    "threads",
    Kind::Value,
    "N",
    &[],
    "event loops, one per thread (default: one per CPU core)",
);
pub const SHUTDOWN_TIMEOUT_SECS: OptionSpec = option(
    "shutdownTimeoutSecs",
    Kind::Value,
    "SECS",
    &[],
    "on SIGTERM/SIGINT, time open connections get to finish (default 15)",
);

// The client's identity through to mongod (PROXY protocol), mongossl's own.

pub const UPSTREAM_PROXY_PROTOCOL: OptionSpec = option(
    "upstreamProxyProtocol",
    Kind::Value,
    "none|v1|v2",
    &["mongossl.upstreamProxyProtocol"],
    "begin every upstream connection with a PROXY header: the client's address (v1), plus its TLS facts and certificate subject (v2); default none",
);
pub const PROXY_PROTOCOL_FROM: OptionSpec = option(
    "proxyProtocolFrom",
    Kind::Value,
    "CIDR[,CIDR]",
    &["mongossl.proxyProtocolFrom"],
    "load balancers whose connections must begin with a PROXY header (v1 or v2), which then names the client",
);

pub const METRICS_LISTEN: OptionSpec = option(
    "metricsListen",
    Kind::Value,
    "HOST:PORT",
    &["mongossl.metricsListen"],
    "serve Prometheus metrics at http://HOST:PORT/metrics (off by default; port 0 picks one and logs it)",
);

// The audit log, with mongod Enterprise's names and mongod.conf's
// `auditLog` section; the last two are mongossl's own.

pub const AUDIT_DESTINATION: OptionSpec = option(
    "auditDestination",
    Kind::Value,
    "file|syslog|console",
    &["auditLog.destination"],
    "write an audit log in mongod's audit schema (authentications, commands, connections): to --auditPath, to syslog, or to standard output",
);
pub const AUDIT_FORMAT: OptionSpec = option(
    "auditFormat",
    Kind::Value,
    "JSON|BSON",
    &["auditLog.format"],
    "the audit file's format: one relaxed extended JSON document per line, or BSON documents (default JSON)",
);
pub const AUDIT_PATH: OptionSpec = option(
    "auditPath",
    Kind::Value,
    "FILE",
    &["auditLog.path"],
    "the audit file (with --auditDestination file); reopened on SIGUSR1 and on a reload",
);
pub const AUDIT_FILTER: OptionSpec = option(
    "auditFilter",
    Kind::Value,
    "DOCUMENT",
    &["auditLog.filter"],
    "record only events that match this query document, as mongod's (e.g. '{ atype: \"authenticate\" }')",
);
pub const AUDIT_REDACT: OptionSpec = option(
    "auditRedact",
    Kind::Value,
    "true|false",
    &["mongossl.auditRedact"],
    "replace the values in audited commands' documents, keeping their keys (default true)",
);
pub const AUDIT_ON_FULL_QUEUE: OptionSpec = option(
    "auditOnFullQueue",
    Kind::Value,
    "block|drop",
    &["mongossl.auditOnFullQueue"],
    "when the audit writer falls behind: wait for it (default block: no gaps) or drop and count events",
);

// The server role's SSL options, with mongod 2.6 to 4.0's names.

pub const SSL_ON_NORMAL_PORTS: OptionSpec = option(
    "sslOnNormalPorts",
    Kind::Flag,
    "",
    &["net.ssl.sslOnNormalPorts"],
    "use SSL on the listen port, for every connection",
);
pub const SSL_PEM_KEY_FILE: OptionSpec = option(
    "sslPEMKeyFile",
    Kind::Value,
    "FILE",
    &["net.ssl.PEMKeyFile"],
    "PEM file with the private key and the certificate (and its chain)",
);
pub const SSL_PEM_KEY_PASSWORD: OptionSpec = option(
    "sslPEMKeyPassword",
    Kind::Value,
    "PASS",
    &["net.ssl.PEMKeyPassword"],
    "password of an encrypted private key in --sslPEMKeyFile",
);
pub const SSL_CA_FILE: OptionSpec = option(
    "sslCAFile",
    Kind::Value,
    "FILE",
    &["net.ssl.CAFile"],
    "CA certificates: clients must present a certificate signed by them",
);
pub const SSL_CRL_FILE: OptionSpec = option(
    "sslCRLFile",
    Kind::Value,
    "FILE",
    &["net.ssl.CRLFile"],
    "certificate revocation list: revoked clients are refused",
);
pub const SSL_WEAK_CERTIFICATE_VALIDATION: OptionSpec = option(
    "sslWeakCertificateValidation",
    Kind::Flag,
    "",
    &["net.ssl.weakCertificateValidation"],
    "let clients without a certificate in (invalid certificates are still refused)",
);
pub const SSL_FIPS_MODE: OptionSpec = option(
    "sslFIPSMode",
    Kind::Flag,
    "",
    &["net.ssl.FIPSMode"],
    "activate FIPS 140-2 mode before any SSL context exists",
);
pub const SSL_FIPS_CONFIG: OptionSpec = option(
    "sslFIPSConfig",
    Kind::Value,
    "FILE",
    &["mongossl.fipsConfig"],
    "OpenSSL config that includes the FIPS module's fipsmodule.cnf",
);
pub const SSL_HANDSHAKE_TIMEOUT_SECS: OptionSpec = option(
    "sslHandshakeTimeoutSecs",
    Kind::Value,
    "SECS",
    &["mongossl.handshakeTimeoutSecs"],
    "close connections whose SSL handshake takes longer (default 10)",
);
pub const SSL_MODE: OptionSpec = option(
    "sslMode",
    Kind::Value,
    "MODE",
    &["net.ssl.mode"],
    "disabled|allowSSL|preferSSL|requireSSL (--sslOnNormalPorts = requireSSL)",
);
pub const SSL_ALLOW_INVALID_CERTIFICATES: OptionSpec = option(
    "sslAllowInvalidCertificates",
    Kind::Flag,
    "",
    &["net.ssl.allowInvalidCertificates"],
    "server: let clients with an invalid certificate in, logging why; client tunnel: do not verify the server's certificate",
);
pub const SSL_DISABLED_PROTOCOLS: OptionSpec = option(
    "sslDisabledProtocols",
    Kind::Value,
    "LIST",
    &["net.ssl.disabledProtocols"],
    "TLS1_0,TLS1_1,TLS1_2,TLS1_3 or none (TLS 1.0 and 1.1 stay off regardless)",
);
pub const SSL_CIPHER_CONFIG: OptionSpec = option(
    "sslCipherConfig",
    Kind::Value,
    "CIPHERS",
    &["net.ssl.sslCipherConfig"],
    "OpenSSL cipher list for TLS 1.2 (AEAD suites with certificates only)",
);
pub const SSL_SESSION_TICKETS: OptionSpec = option(
    "sslSessionTickets",
    Kind::Value,
    "N",
    &[],
    "TLS 1.3 session tickets per full handshake, for resumption (default 0)",
);

pub const SSL_ALLOWED_CLIENTS: OptionSpec = option(
    "sslAllowedClients",
    Kind::Value,
    "FILE",
    &[],
    "allow-list of client identities (subject=, san-dns=, san-uri=, san-email=, spki-sha256= rules; reloaded on SIGHUP)",
);
pub const SSL_OCSP_REQUIRE: OptionSpec = option(
    "sslOCSPRequire",
    Kind::Flag,
    "",
    &[],
    "refuse a client certificate whose OCSP status cannot be had (mongod lets it in with a warning)",
);
/// mongod's `--setParameter`; only the TLS parameters are taken
/// (`config::parameters`). In YAML it is the top-level `setParameter:`
/// section, read by the YAML reader itself.
pub const SET_PARAMETER: OptionSpec = option(
    "setParameter",
    Kind::List,
    "NAME=VALUE",
    &[],
    "one of mongod's TLS parameters (ocspEnabled, tlsOCSPVerifyTimeoutSecs, tlsX509ExpirationWarningThresholdDays, opensslCipherSuiteConfig, ...); repeat for more",
);

// The client-tunnel role, with the mongo shell's names.

pub const CLIENT: OptionSpec = option(
    "client",
    Kind::Flag,
    "",
    &[],
    "client tunnel: plaintext on --port, SSL to the server at --upstream",
);
pub const SSL: OptionSpec = option(
    "ssl",
    Kind::Flag,
    "",
    &[],
    "client tunnel: connect to the server with SSL",
);
pub const SSL_ALLOW_INVALID_HOSTNAMES: OptionSpec = option(
    "sslAllowInvalidHostnames",
    Kind::Flag,
    "",
    &[],
    "client tunnel: do not check the server certificate's host names",
);

// Second names: mongod 3.0's name of sslWeakCertificateValidation, and
// mongod 4.2's `tls*` names with their `net.tls` keys.

pub const SSL_ALLOW_CONNECTIONS_WITHOUT_CERTIFICATES: OptionSpec = twin(
    "sslAllowConnectionsWithoutCertificates",
    SSL_WEAK_CERTIFICATE_VALIDATION,
    &["net.ssl.allowConnectionsWithoutCertificates"],
);
pub const TLS_MODE: OptionSpec = twin("tlsMode", SSL_MODE, &["net.tls.mode"]);
pub const TLS_CERTIFICATE_KEY_FILE: OptionSpec = twin(
    "tlsCertificateKeyFile",
    SSL_PEM_KEY_FILE,
    &["net.tls.certificateKeyFile"],
);
pub const TLS_CERTIFICATE_KEY_FILE_PASSWORD: OptionSpec = twin(
    "tlsCertificateKeyFilePassword",
    SSL_PEM_KEY_PASSWORD,
    &["net.tls.certificateKeyFilePassword"],
);
pub const TLS_CA_FILE: OptionSpec = twin("tlsCAFile", SSL_CA_FILE, &["net.tls.CAFile"]);
pub const TLS_CRL_FILE: OptionSpec = twin("tlsCRLFile", SSL_CRL_FILE, &["net.tls.CRLFile"]);
pub const TLS_ALLOW_CONNECTIONS_WITHOUT_CERTIFICATES: OptionSpec = twin(
    "tlsAllowConnectionsWithoutCertificates",
    SSL_WEAK_CERTIFICATE_VALIDATION,
    &["net.tls.allowConnectionsWithoutCertificates"],
);
pub const TLS_ALLOW_INVALID_CERTIFICATES: OptionSpec = twin(
    "tlsAllowInvalidCertificates",
    SSL_ALLOW_INVALID_CERTIFICATES,
    &["net.tls.allowInvalidCertificates"],
);
pub const TLS_FIPS_MODE: OptionSpec = twin("tlsFIPSMode", SSL_FIPS_MODE, &["net.tls.FIPSMode"]);
pub const TLS_DISABLED_PROTOCOLS: OptionSpec = twin(
    "tlsDisabledProtocols",
    SSL_DISABLED_PROTOCOLS,
    &["net.tls.disabledProtocols"],
);
/// mongod's (hidden) `net.tls.tlsCipherConfig`, and the shorter key this
/// project documents.
pub const TLS_CIPHER_CONFIG: OptionSpec = twin(
    "tlsCipherConfig",
    SSL_CIPHER_CONFIG,
    &["net.tls.tlsCipherConfig", "net.tls.cipherConfig"],
);

/// Every option, in `--help` order.
pub const OPTIONS: &[OptionSpec] = &[
    HELP,
    VERSION,
    CONFIG,
    VERBOSE,
    QUIET,
    LOGPATH,
    LOGAPPEND,
    LOG_FORMAT,
    SYSLOG,
    SYSLOG_FACILITY,
    PORT,
    BIND_IP,
    UPSTREAM,
    MAX_CONNS,
    SSL_ON_NORMAL_PORTS,
    SSL_PEM_KEY_FILE,
    SSL_PEM_KEY_PASSWORD,
    SSL_CA_FILE,
    SSL_CRL_FILE,
    SSL_WEAK_CERTIFICATE_VALIDATION,
    SSL_FIPS_MODE,
    SSL_FIPS_CONFIG,
    SSL_HANDSHAKE_TIMEOUT_SECS,
    SSL_MODE,
    CLIENT,
    SSL,
    SSL_ALLOW_INVALID_CERTIFICATES,
    SSL_ALLOW_INVALID_HOSTNAMES,
    SSL_DISABLED_PROTOCOLS,
    SSL_CIPHER_CONFIG,
    SSL_SESSION_TICKETS,
    SSL_ALLOWED_CLIENTS,
    SSL_OCSP_REQUIRE,
    SET_PARAMETER,
    IDLE_TIMEOUT_SECS,
    THREADS,
    SHUTDOWN_TIMEOUT_SECS,
    UPSTREAM_PROXY_PROTOCOL,
    PROXY_PROTOCOL_FROM,
    METRICS_LISTEN,
    AUDIT_DESTINATION,
    AUDIT_FORMAT,
    AUDIT_PATH,
    AUDIT_FILTER,
    AUDIT_REDACT,
    AUDIT_ON_FULL_QUEUE,
    SSL_ALLOW_CONNECTIONS_WITHOUT_CERTIFICATES,
    TLS_MODE,
    TLS_CERTIFICATE_KEY_FILE,
    TLS_CERTIFICATE_KEY_FILE_PASSWORD,
    TLS_CA_FILE,
    TLS_CRL_FILE,
    TLS_ALLOW_CONNECTIONS_WITHOUT_CERTIFICATES,
    TLS_ALLOW_INVALID_CERTIFICATES,
    TLS_FIPS_MODE,
    TLS_DISABLED_PROTOCOLS,
    TLS_CIPHER_CONFIG,
];

/// Options whose bare form (no value) means "ask for it": the key
/// password, prompted for on a terminal or read from a systemd credential.
pub const ASKABLE: &[&str] = &[
    SSL_PEM_KEY_PASSWORD.name,
    TLS_CERTIFICATE_KEY_FILE_PASSWORD.name,
];

/// Looks an option up by its long name.
pub fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// The option that stands at a dotted YAML path, if one does.
pub fn at_yaml_path(path: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.yaml.contains(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_twin_stands_for_an_option_of_its_kind() {
        for o in OPTIONS.iter().filter(|o| o.twin_of.is_some()) {
            let of = o.twin_of.and_then(find).expect("twin of a known option");
            assert_eq!(o.kind, of.kind, "{}", o.name);
            assert!(of.twin_of.is_none(), "{} is a twin of a twin", o.name);
        }
    }

    #[test]
    fn names_and_yaml_paths_are_unique() {
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                assert_ne!(a.name, b.name);
                for path in a.yaml {
                    assert!(!b.yaml.contains(path), "{path} twice");
                }
            }
            assert!(a.in_file || a.yaml.is_empty(), "{}", a.name);
        }
    }
}
