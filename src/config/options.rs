//! The option table (mongod's spelling) and the command-line parser: one
//! table serves getopts, `--help` and the config-file key check, so a key
//! valid on the command line is valid in a config file and vice versa.

use std::collections::BTreeMap;

use crate::error::Error;

/// How an option takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Present or not; `key = true|false` in a config file.
    Flag,
    /// Takes one value.
    Value,
    /// May repeat (`-vvv`); `key = true|false|N` in a config file.
    Count,
}

/// One option of mongossl.
pub struct OptionSpec {
    pub name: &'static str,
    pub short: &'static str,
    pub kind: Kind,
    pub hint: &'static str,
    pub help: &'static str,
    /// Whether the option may stand in a config file.
    pub in_file: bool,
}

const fn spec(
    name: &'static str,
    kind: Kind,
    hint: &'static str,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        short: "",
        kind,
        hint,
        help,
        in_file: true,
    }
}

/// Every option, in `--help` order.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        short: "h",
        in_file: false,
        ..spec("help", Kind::Flag, "", "show this usage information")
    },
    OptionSpec {
        in_file: false,
        ..spec(
            "version",
            Kind::Flag,
            "",
            "show version and OpenSSL/FIPS information",
        )
    },
    OptionSpec {
        short: "f",
        in_file: false,
        ..spec(
            "config",
            Kind::Value,
            "FILE",
            "configuration file (key = value lines); command-line options win",
        )
    },
    OptionSpec {
        short: "v",
        ..spec("verbose", Kind::Count, "", "more log detail (-vv for more)")
    },
    spec("quiet", Kind::Flag, "", "less log output"),
    spec(
        "logpath",
        Kind::Value,
        "FILE",
        "log to FILE instead of stderr",
    ),
    spec(
        "logappend",
        Kind::Flag,
        "",
        "append to --logpath instead of rotating the old file aside",
    ),
    spec(
        "port",
        Kind::Value,
        "N",
        "listen port (default 27017; 0 picks a free port and logs it)",
    ),
    spec(
        "bind_ip",
        Kind::Value,
        "ADDR[,ADDR]",
        "listen addresses (default 127.0.0.1; IPv6 accepted)",
    ),
    spec(
        "upstream",
        Kind::Value,
        "ADDR",
        "the plaintext mongod: HOST:PORT, [V6]:PORT or a unix socket path (required)",
    ),
    spec(
        "maxConns",
        Kind::Value,
        "N",
        "refuse connections beyond N (default 1000000)",
    ),
    spec(
        "sslOnNormalPorts",
        Kind::Flag,
        "",
        "use SSL on the listen port, for every connection",
    ),
    spec(
        "sslPEMKeyFile",
        Kind::Value,
        "FILE",
        "PEM file with the private key and the certificate (and its chain)",
    ),
    spec(
        "sslPEMKeyPassword",
        Kind::Value,
        "PASS",
        "password of an encrypted private key in --sslPEMKeyFile",
    ),
    spec(
        "sslCAFile",
        Kind::Value,
        "FILE",
        "CA certificates: clients must present a certificate signed by them",
    ),
    spec(
        "sslCRLFile",
        Kind::Value,
        "FILE",
        "certificate revocation list: revoked clients are refused",
    ),
    spec(
        "sslWeakCertificateValidation",
        Kind::Flag,
        "",
        "let clients without a certificate in (invalid certificates are still refused)",
    ),
    spec(
        "sslFIPSMode",
        Kind::Flag,
        "",
        "activate FIPS 140-2 mode before any SSL context exists",
    ),
    spec(
        "sslFIPSConfig",
        Kind::Value,
        "FILE",
        "OpenSSL config that includes the FIPS module's fipsmodule.cnf",
    ),
    spec(
        "sslHandshakeTimeoutSecs",
        Kind::Value,
        "SECS",
        "close connections whose SSL handshake takes longer (default 10)",
    ),
    spec(
        "client",
        Kind::Flag,
        "",
        "client tunnel: plaintext on --port, SSL to the server at --upstream",
    ),
    spec(
        "ssl",
        Kind::Flag,
        "",
        "client tunnel: connect to the server with SSL",
    ),
    spec(
        "sslAllowInvalidCertificates",
        Kind::Flag,
        "",
        "client tunnel: do not verify the server's certificate",
    ),
    spec(
        "sslAllowInvalidHostnames",
        Kind::Flag,
        "",
        "client tunnel: do not check the server certificate's host names",
    ),
    spec(
        "idleTimeoutSecs",
        Kind::Value,
        "SECS",
        "close relayed connections without traffic for SECS (default 0: never)",
    ),
    spec(
        "threads",
        Kind::Value,
        "N",
        "event loops, one per thread (default: one per CPU core)",
    ),
    spec(
        "shutdownTimeoutSecs",
        Kind::Value,
        "SECS",
        "on SIGTERM/SIGINT, time open connections get to finish (default 15)",
    ),
];

/// Looks an option up by its long name.
pub fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// Option values as text, keyed by long name, before validation. Flags hold
/// `"true"` or `"false"`, counts a number.
pub type RawOptions = BTreeMap<&'static str, String>;

/// The getopts description of every option.
pub fn make_opts() -> getopts::Options {
    let mut opts = getopts::Options::new();
    for o in OPTIONS {
        match o.kind {
            Kind::Flag => opts.optflag(o.short, o.name, o.help),
            Kind::Count => opts.optflagmulti(o.short, o.name, o.help),
            Kind::Value => opts.optopt(o.short, o.name, o.help, o.hint),
        };
    }
    opts
}

/// The `--help` text. It shows option names only, never values, so no
/// password can appear in it.
pub fn usage() -> String {
    make_opts().usage(
        "Usage: mongossl [options]\n       mongossl check [--json] [--timeoutSecs N] URI   (see mongossl check --help)\n\nAn SSL/TLS front door for MongoDB's mongod.",
    )
}

/// Options whose values are secrets.
const SECRET_OPTIONS: &[&str] = &["sslPEMKeyPassword"];

/// The values given to secret options, as written on the command line
/// (`--opt VALUE` or `--opt=VALUE`), whether or not getopts ends up
/// reading them as that option's value.
fn secret_values(args: &[String]) -> Vec<&str> {
    let mut secrets = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let Some(name) = arg.strip_prefix("--") else {
            continue;
        };
        for secret in SECRET_OPTIONS {
            if name == *secret {
                if let Some(value) = args.get(i + 1) {
                    secrets.push(value.as_str());
                }
            } else if let Some(value) = name
                .strip_prefix(secret)
                .and_then(|rest| rest.strip_prefix('='))
            {
                secrets.push(value);
            }
        }
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// An error about the command line, with every secret value masked: a
/// mistyped line (`--config --sslPEMKeyPassword pw`) can turn a password
/// into the "unexpected argument" that the message would quote.
fn command_line_error(text: String, args: &[String]) -> Error {
    let masked = secret_values(args)
        .into_iter()
        .fold(text, |text, secret| text.replace(secret, "<hidden>"));
    Error::options(masked)
}

/// Parses the command line (without the program name) into raw values.
pub fn from_args(args: &[String]) -> Result<RawOptions, Error> {
    let matches = make_opts()
        .parse(args)
        .map_err(|e| command_line_error(format!("{e}; try 'mongossl --help'"), args))?;
    if let Some(extra) = matches.free.first() {
        return Err(command_line_error(
            format!("unexpected argument '{extra}'; try 'mongossl --help'"),
            args,
        ));
    }
    let mut raw = RawOptions::new();
    for o in OPTIONS {
        match o.kind {
            Kind::Flag if matches.opt_present(o.name) => {
                raw.insert(o.name, "true".to_string());
            }
            Kind::Count if matches.opt_present(o.name) => {
                raw.insert(o.name, matches.opt_count(o.name).to_string());
            }
            Kind::Value => {
                let values = matches.opt_strs(o.name);
                if values.len() > 1 {
                    return Err(Error::options(format!("--{} given more than once", o.name)));
                }
                if let Some(v) = values.into_iter().next() {
                    raw.insert(o.name, v);
                }
            }
            _ => {}
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_mongod_spelling() {
        let raw = from_args(&args(&[
            "--port",
            "0",
            "--sslOnNormalPorts",
            "--sslPEMKeyFile=/x.pem",
            "-vv",
        ]))
        .expect("valid");
        assert_eq!(raw.get("port").map(String::as_str), Some("0"));
        assert_eq!(
            raw.get("sslOnNormalPorts").map(String::as_str),
            Some("true")
        );
        assert_eq!(raw.get("sslPEMKeyFile").map(String::as_str), Some("/x.pem"));
        assert_eq!(raw.get("verbose").map(String::as_str), Some("2"));
    }

    #[test]
    fn unknown_option_is_named() {
        let err = from_args(&args(&["--sslPEMKeyFil", "x"])).expect_err("unknown");
        assert!(err.to_string().contains("sslPEMKeyFil"), "{err}");
    }

    #[test]
    fn stray_argument_is_refused() {
        let err = from_args(&args(&["stray"])).expect_err("stray");
        assert!(err.to_string().contains("stray"), "{err}");
    }

    #[test]
    fn help_never_shows_values() {
        assert!(usage().contains("--sslPEMKeyPassword"));
    }

    /// Found by fuzzing: `--config` swallowed the password option's name,
    /// leaving the password itself as an "unexpected argument" to quote.
    #[test]
    fn errors_never_quote_a_password() {
        for line in [
            &["--config", "--sslPEMKeyPassword", "s3cret"][..],
            &["--f", "--sslPEMKeyPassword", "s3cret"][..],
            &["--sslPEMKeyPassword=s3cret", "s3cret"][..],
            &["--port", "--sslPEMKeyPassword", "s3cret", "extra"][..],
        ] {
            let err = from_args(&args(line)).expect_err("refused");
            assert!(!err.to_string().contains("s3cret"), "{line:?}: {err}");
        }
    }
}
