//! The audit log's options and mongod's rules between them: where the
//! events go, in which format, which of them, and what happens when the
//! writer falls behind. The filter's text is kept as written: it is
//! compiled (and refused when invalid) where the audit starts.

use std::path::PathBuf;

use super::raw::Values;
use super::table::*;
use crate::error::Error;

/// Where audit events go (`--auditDestination`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditDestination {
    File(PathBuf),
    /// The local syslog daemon (`/dev/log`), facility user.
    Syslog,
    /// Standard output.
    Console,
}

/// How each event is written (`--auditFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    /// One relaxed extended JSON document per line, as mongod writes it.
    Json,
    /// BSON documents back to back (files only, as mongod).
    Bson,
}

/// A validated `auditLog` configuration.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub destination: AuditDestination,
    pub format: AuditFormat,
    /// `--auditFilter` as written; `None` records every event.
    pub filter: Option<String>,
    /// Replace values in audited commands' documents (default true).
    pub redact: bool,
    /// Wait for the writer when its queue is full (default); else drop.
    pub block_when_full: bool,
}

/// mongod's rules for the audit options; `None` without
/// `--auditDestination`.
pub fn audit_settings(values: Values) -> Result<Option<AuditSettings>, Error> {
    let Some(destination) = values.text(&AUDIT_DESTINATION) else {
        return every_audit_option_needs_a_destination(values).map(|()| None);
    };
    let format = match values.text(&AUDIT_FORMAT).map(String::as_str) {
        None | Some("JSON") => AuditFormat::Json,
        Some("BSON") => AuditFormat::Bson,
        Some(other) => {
            return Err(Error::options(format!(
                "--{}: '{other}' is not one of JSON, BSON",
                AUDIT_FORMAT.name
            )));
        }
    };
    let destination = match destination.as_str() {
        "file" => AuditDestination::File(values.path(&AUDIT_PATH).ok_or_else(|| {
            Error::options(format!(
                "--{} file needs --{}: the file the events are written to",
                AUDIT_DESTINATION.name, AUDIT_PATH.name
            ))
        })?),
        "syslog" => AuditDestination::Syslog,
        "console" => AuditDestination::Console,
        other => {
            return Err(Error::options(format!(
                "--{}: '{other}' is not one of file, syslog, console",
                AUDIT_DESTINATION.name
            )));
        }
    };
    if !matches!(destination, AuditDestination::File(_)) {
        if values.written(&AUDIT_PATH) {
            return Err(Error::options(format!(
                "--{} is only used with --{} file",
                AUDIT_PATH.name, AUDIT_DESTINATION.name
            )));
        }
        if format == AuditFormat::Bson {
            return Err(Error::options(format!(
                "--{} BSON is only possible with --{} file",
                AUDIT_FORMAT.name, AUDIT_DESTINATION.name
            )));
        }
    }
    Ok(Some(AuditSettings {
        destination,
        format,
        filter: values.text(&AUDIT_FILTER).cloned(),
        redact: true_or_false(values, &AUDIT_REDACT)?.unwrap_or(true),
        block_when_full: match values.text(&AUDIT_ON_FULL_QUEUE).map(String::as_str) {
            None | Some("block") => true,
            Some("drop") => false,
            Some(other) => {
                return Err(Error::options(format!(
                    "--{}: '{other}' is not one of block, drop",
                    AUDIT_ON_FULL_QUEUE.name
                )));
            }
        },
    }))
}

/// The other audit options say how to audit; without a destination there
/// is no audit, and mongod refuses them.
fn every_audit_option_needs_a_destination(values: Values) -> Result<(), Error> {
    let needing = [
        AUDIT_FORMAT,
        AUDIT_PATH,
        AUDIT_FILTER,
        AUDIT_REDACT,
        AUDIT_ON_FULL_QUEUE,
    ];
    match needing.iter().find(|o| values.written(o)) {
        Some(option) => Err(Error::options(format!(
            "--{} needs --{}",
            option.name, AUDIT_DESTINATION.name
        ))),
        None => Ok(()),
    }
}

fn true_or_false(values: Values, option: &OptionSpec) -> Result<Option<bool>, Error> {
    match values.text(option).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(Error::options(format!(
            "--{}: '{other}' is not one of true, false",
            option.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawOptions, from_pairs};

    fn settings(pairs: &[(&'static str, &str)]) -> Result<Option<AuditSettings>, String> {
        let raw: RawOptions = from_pairs(pairs);
        audit_settings(Values(&raw)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_file_destination_needs_a_path_and_defaults_to_json() {
        let s = settings(&[("auditDestination", "file"), ("auditPath", "/tmp/a.json")])
            .unwrap()
            .unwrap();
        assert_eq!(s.destination, AuditDestination::File("/tmp/a.json".into()));
        assert_eq!(s.format, AuditFormat::Json);
        assert!(s.redact && s.block_when_full && s.filter.is_none());
        let e = settings(&[("auditDestination", "file")]).unwrap_err();
        assert!(e.contains("--auditPath"), "{e}");
    }

    #[test]
    fn bson_and_paths_belong_to_files() {
        let e = settings(&[("auditDestination", "console"), ("auditFormat", "BSON")]).unwrap_err();
        assert!(e.contains("BSON is only possible"), "{e}");
        let e = settings(&[("auditDestination", "syslog"), ("auditPath", "/x")]).unwrap_err();
        assert!(e.contains("--auditPath is only used"), "{e}");
    }

    #[test]
    fn options_without_a_destination_are_refused() {
        assert!(settings(&[]).unwrap().is_none());
        let e = settings(&[("auditFilter", "{}")]).unwrap_err();
        assert_eq!(e, "--auditFilter needs --auditDestination");
    }

    #[test]
    fn words_are_checked() {
        for (key, value) in [
            ("auditDestination", "disk"),
            ("auditFormat", "json"),
            ("auditRedact", "yes"),
            ("auditOnFullQueue", "wait"),
        ] {
            let mut pairs = vec![("auditDestination", "console"), (key, value)];
            if key == "auditDestination" {
                pairs.remove(0);
            }
            let e = settings(&pairs).unwrap_err();
            assert!(e.contains(value) && e.contains(key), "{e}");
        }
        let s = settings(&[
            ("auditDestination", "console"),
            ("auditRedact", "false"),
            ("auditOnFullQueue", "drop"),
        ])
        .unwrap()
        .unwrap();
        assert!(!s.redact && !s.block_when_full);
    }
}
