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
    /// For a second name of an option (mongod 4.2's `--tls*` names, the
    /// 3.0 `--sslAllowConnectionsWithoutCertificates`): the name it stands
    /// for, under which validation finds its value.
    pub twin_of: Option<&'static str>,
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
        twin_of: None,
    }
}

/// A second name of `$of`, with the same kind and value hint; a macro so
/// the help text can name the twin at compile time.
macro_rules! twin {
    ($name:literal, $of:literal, $kind:expr, $hint:literal $(,)?) => {
        OptionSpec {
            twin_of: Some($of),
            ..spec($name, $kind, $hint, concat!("the same as --", $of))
        }
    };
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
        "sslMode",
        Kind::Value,
        "MODE",
        "disabled|allowSSL|preferSSL|requireSSL (--sslOnNormalPorts = requireSSL)",
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
        "server: let clients with an invalid certificate in, logging why; client tunnel: do not verify the server's certificate",
    ),
    spec(
        "sslAllowInvalidHostnames",
        Kind::Flag,
        "",
        "client tunnel: do not check the server certificate's host names",
    ),
    spec(
        "sslDisabledProtocols",
        Kind::Value,
        "LIST",
        "TLS1_0,TLS1_1,TLS1_2,TLS1_3 or none (TLS 1.0 and 1.1 stay off regardless)",
    ),
    spec(
        "sslCipherConfig",
        Kind::Value,
        "CIPHERS",
        "OpenSSL cipher list for TLS 1.2 (AEAD suites with certificates only)",
    ),
    spec(
        "sslSessionTickets",
        Kind::Value,
        "N",
        "TLS 1.3 session tickets per full handshake, for resumption (default 0)",
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
    twin!(
        "sslAllowConnectionsWithoutCertificates",
        "sslWeakCertificateValidation",
        Kind::Flag,
        "",
    ),
    twin!("tlsMode", "sslMode", Kind::Value, "MODE"),
    twin!(
        "tlsCertificateKeyFile",
        "sslPEMKeyFile",
        Kind::Value,
        "FILE"
    ),
    twin!(
        "tlsCertificateKeyFilePassword",
        "sslPEMKeyPassword",
        Kind::Value,
        "PASS",
    ),
    twin!("tlsCAFile", "sslCAFile", Kind::Value, "FILE"),
    twin!("tlsCRLFile", "sslCRLFile", Kind::Value, "FILE"),
    twin!(
        "tlsAllowConnectionsWithoutCertificates",
        "sslWeakCertificateValidation",
        Kind::Flag,
        "",
    ),
    twin!(
        "tlsAllowInvalidCertificates",
        "sslAllowInvalidCertificates",
        Kind::Flag,
        "",
    ),
    twin!("tlsFIPSMode", "sslFIPSMode", Kind::Flag, ""),
    twin!(
        "tlsDisabledProtocols",
        "sslDisabledProtocols",
        Kind::Value,
        "LIST",
    ),
    twin!("tlsCipherConfig", "sslCipherConfig", Kind::Value, "CIPHERS"),
];

/// Options whose bare form (no value) means "ask for it": the key
/// password, prompted for on a terminal or read from a systemd credential.
const ASKABLE: &[&str] = &["sslPEMKeyPassword", "tlsCertificateKeyFilePassword"];

/// The value an askable option holds when it was given without one.
pub const ASK: &str = "";

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

/// The values given to secret options, as written on the command line
/// (`--opt VALUE` or `--opt=VALUE`), whether or not getopts ends up
/// reading them as that option's value.
fn secret_values(args: &[String]) -> Vec<&str> {
    let mut secrets = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let Some(name) = arg.strip_prefix("--") else {
            continue;
        };
        for secret in ASKABLE {
            if name == *secret {
                // A bare password option (followed by another option)
                // asks for the password: the next argument is no secret.
                if let Some(value) = args.get(i + 1).filter(|v| !v.starts_with('-')) {
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
        .parse(mark_bare_passwords(args))
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
    fold_twins(raw)
}

/// Rewrites a bare `--sslPEMKeyPassword` (last, or followed by another
/// option) as `--sslPEMKeyPassword=`, so getopts sees an empty value that
/// means "ask". getopts' optional-value options cannot do this: they would
/// no longer take `--sslPEMKeyPassword PASS`, mongod's usual spelling.
/// A password that starts with `-` is written `--sslPEMKeyPassword=-...`.
fn mark_bare_passwords(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut rest = args.iter().peekable();
    while let Some(arg) = rest.next() {
        let bare = arg
            .strip_prefix("--")
            .is_some_and(|name| ASKABLE.contains(&name));
        let no_value_follows = rest.peek().is_none_or(|next| next.starts_with('-'));
        if bare && no_value_follows {
            out.push(format!("{arg}="));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// Puts each twin's value under the name it stands for, so validation
/// reads one name. Two names of one option that disagree are an error;
/// `tlsMode`'s values are translated to `sslMode`'s on the way.
pub fn fold_twins(raw: RawOptions) -> Result<RawOptions, Error> {
    let mut folded = RawOptions::new();
    // Which name each folded value came from, for the error message.
    let mut given_as: BTreeMap<&'static str, &'static str> = BTreeMap::new();
    for (name, value) in raw {
        let Some(spec) = find(name) else {
            folded.insert(name, value);
            continue;
        };
        let canonical = spec.twin_of.unwrap_or(spec.name);
        let value = if name == "tlsMode" {
            tls_mode_as_ssl_mode(&value)?
        } else {
            value
        };
        match folded.get(canonical) {
            Some(existing) if *existing != value => {
                let other = given_as.get(canonical).copied().unwrap_or(canonical);
                // Never repeat a key password in an error.
                let values = if ASKABLE.contains(&canonical) {
                    String::new()
                } else {
                    format!(" ('{value}' vs '{existing}')")
                };
                return Err(Error::options(format!(
                    "--{name} and --{other} are two names of one option and disagree{values}: give one"
                )));
            }
            Some(_) => {}
            None => {
                folded.insert(canonical, value);
                given_as.insert(canonical, name);
            }
        }
    }
    Ok(folded)
}

/// mongod 4.2's `tlsMode` spells the modes with TLS; `sslMode` with SSL.
fn tls_mode_as_ssl_mode(value: &str) -> Result<String, Error> {
    let mode = match value {
        "disabled" => "disabled",
        "allowTLS" => "allowSSL",
        "preferTLS" => "preferSSL",
        "requireTLS" => "requireSSL",
        _ => {
            return Err(Error::options(format!(
                "--tlsMode: '{value}' is not one of disabled, allowTLS, preferTLS, requireTLS"
            )));
        }
    };
    Ok(mode.to_string())
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
    fn every_twin_stands_for_an_option_of_its_kind() {
        for o in OPTIONS.iter().filter(|o| o.twin_of.is_some()) {
            let of = o.twin_of.and_then(find).expect("twin of a known option");
            assert_eq!(o.kind, of.kind, "{}", o.name);
            assert!(of.twin_of.is_none(), "{} is a twin of a twin", o.name);
        }
    }

    #[test]
    fn twins_fold_onto_ssl_names() {
        let raw = from_args(&args(&[
            "--tlsCAFile",
            "/ca",
            "--tlsMode",
            "preferTLS",
            "--tlsAllowConnectionsWithoutCertificates",
        ]))
        .expect("valid");
        assert_eq!(raw.get("sslCAFile").map(String::as_str), Some("/ca"));
        assert_eq!(raw.get("sslMode").map(String::as_str), Some("preferSSL"));
        assert_eq!(
            raw.get("sslWeakCertificateValidation").map(String::as_str),
            Some("true")
        );
        assert!(!raw.contains_key("tlsCAFile"));
        // Both names, same value: fine. Different: an error naming both.
        assert!(from_args(&args(&["--tlsCAFile", "/ca", "--sslCAFile", "/ca"])).is_ok());
        assert!(
            from_args(&args(&[
                "--tlsMode",
                "requireTLS",
                "--sslMode",
                "requireSSL"
            ]))
            .is_ok()
        );
        let err =
            from_args(&args(&["--tlsCAFile", "/a", "--sslCAFile", "/b"])).expect_err("differ");
        assert!(
            err.to_string().contains("--tlsCAFile") && err.to_string().contains("--sslCAFile"),
            "{err}"
        );
        let err = from_args(&args(&["--tlsMode", "requireSSL"])).expect_err("ssl spelling");
        assert!(err.to_string().contains("requireTLS"), "{err}");
    }

    #[test]
    fn bare_password_means_ask() {
        for list in [
            &["--sslPEMKeyPassword"][..],
            &["--sslPEMKeyPassword", "--port", "1"][..],
            &["--tlsCertificateKeyFilePassword", "-v"][..],
            &["--sslPEMKeyPassword="][..],
        ] {
            let raw = from_args(&args(list)).expect("valid");
            assert_eq!(
                raw.get("sslPEMKeyPassword").map(String::as_str),
                Some(ASK),
                "{list:?}"
            );
        }
        let raw = from_args(&args(&["--sslPEMKeyPassword", "pw"])).expect("valid");
        assert_eq!(raw.get("sslPEMKeyPassword").map(String::as_str), Some("pw"));
        let raw = from_args(&args(&["--sslPEMKeyPassword=-pw"])).expect("valid");
        assert_eq!(
            raw.get("sslPEMKeyPassword").map(String::as_str),
            Some("-pw")
        );
    }

    #[test]
    fn disagreeing_password_twins_do_not_show_the_passwords() {
        let mut raw = RawOptions::new();
        raw.insert("tlsCertificateKeyFilePassword", "first-secret".to_string());
        raw.insert("sslPEMKeyPassword", "second-secret".to_string());
        let err = fold_twins(raw).expect_err("they disagree");
        let text = err.to_string();
        assert!(text.contains("disagree"), "{text}");
        assert!(!text.contains("secret"), "{text}");
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
            &["--config", "--tlsCertificateKeyFilePassword", "s3cret"][..],
            &["--tlsCertificateKeyFilePassword=s3cret", "s3cret"][..],
        ] {
            let err = from_args(&args(line)).expect_err("refused");
            assert!(!err.to_string().contains("s3cret"), "{line:?}: {err}");
        }
    }
}
