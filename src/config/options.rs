//! The command line: getopts reads it by the option table, `--help` is
//! printed from the same table, and second names (`--tls*`) are folded
//! onto the `ssl*` names they stand for, here and for config files alike.

use std::collections::BTreeMap;

use super::raw::RawOptions;
use super::table::{self, ASKABLE, Kind, OPTIONS, find};
use crate::error::Error;

/// The value an askable option holds when it was given without one.
pub const ASK: &str = "";

/// The getopts description of every option.
pub fn make_opts() -> getopts::Options {
    let mut opts = getopts::Options::new();
    for o in OPTIONS {
        match o.kind {
            Kind::Flag => opts.optflag(o.short, o.name, &o.help_text()),
            Kind::Count => opts.optflagmulti(o.short, o.name, &o.help_text()),
            Kind::Value => opts.optopt(o.short, o.name, &o.help_text(), o.hint),
            Kind::List => opts.optmulti(o.short, o.name, &o.help_text(), o.hint),
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
            Kind::List if matches.opt_present(o.name) => {
                raw.insert(o.name, matches.opt_strs(o.name).join("\n"));
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
        let value = if name == table::TLS_MODE.name {
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
                "--{}: '{value}' is not one of disabled, allowTLS, preferTLS, requireTLS",
                table::TLS_MODE.name
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
