//! The mongod 2.4 config-file format: one `key = value` per line, `#`
//! comments, keys named as the long options. Unlike mongod 2.4, which
//! silently ignored `flag = false`, `false` here really means off.

use std::path::Path;

use super::options::{self, Kind, RawOptions};
use crate::error::Error;

/// Reads and parses a config file.
pub fn read(path: &Path) -> Result<RawOptions, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        option: "config",
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|cause| Error::file("config", path, cause))
}

/// Parses config-file text; the error names the line.
pub fn parse(text: &str) -> Result<RawOptions, String> {
    let mut raw = RawOptions::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "line {number}: expected 'key = value', found '{line}'"
            ));
        };
        let (key, value) = (key.trim(), strip_quotes(value.trim()));
        let spec = options::find(key)
            .filter(|s| s.in_file)
            .ok_or_else(|| format!("line {number}: unknown option '{key}'"))?;
        let value = match spec.kind {
            Kind::Value if value.is_empty() => {
                return Err(format!("line {number}: '{key}' needs a value"));
            }
            Kind::Value => value.to_string(),
            Kind::Flag => parse_bool(value)
                .ok_or_else(|| bad_bool(number, key, value))?
                .to_string(),
            Kind::Count => match (parse_bool(value), value.parse::<u8>()) {
                (Some(on), _) => u8::from(on).to_string(),
                (None, Ok(n)) => n.to_string(),
                _ => return Err(bad_bool(number, key, value)),
            },
        };
        if raw.insert(spec.name, value).is_some() {
            return Err(format!("line {number}: '{key}' given more than once"));
        }
    }
    Ok(raw)
}

fn strip_quotes(value: &str) -> &str {
    let quoted = value.len() >= 2
        && ((value.starts_with('"') && value.ends_with('"'))
            || (value.starts_with('\'') && value.ends_with('\'')));
    if quoted {
        &value[1..value.len() - 1]
    } else {
        value
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn bad_bool(number: usize, key: &str, value: &str) -> String {
    format!("line {number}: '{key}' must be true or false, found '{value}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_comments_and_false() {
        let raw = parse(
            "# mongod 2.4 style\nport = 27018\n\nsslOnNormalPorts = true\nsslPEMKeyFile = \"/etc/ssl/mongodb.pem\"\nsslWeakCertificateValidation = false\n",
        )
        .expect("valid");
        assert_eq!(raw.get("port").map(String::as_str), Some("27018"));
        assert_eq!(
            raw.get("sslOnNormalPorts").map(String::as_str),
            Some("true")
        );
        assert_eq!(
            raw.get("sslPEMKeyFile").map(String::as_str),
            Some("/etc/ssl/mongodb.pem")
        );
        assert_eq!(
            raw.get("sslWeakCertificateValidation").map(String::as_str),
            Some("false")
        );
    }

    #[test]
    fn unknown_key_names_the_line() {
        let err = parse("port = 1\nsslPEMKeyFiel = x\n").expect_err("unknown");
        assert!(
            err.contains("line 2") && err.contains("sslPEMKeyFiel"),
            "{err}"
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert!(
            parse("sslOnNormalPorts\n")
                .expect_err("no =")
                .contains("line 1")
        );
        assert!(
            parse("sslOnNormalPorts = maybe\n")
                .expect_err("bad bool")
                .contains("true or false")
        );
        assert!(
            parse("config = x\n")
                .expect_err("not in file")
                .contains("unknown")
        );
        assert!(
            parse("port = 1\nport = 2\n")
                .expect_err("twice")
                .contains("more than once")
        );
    }
}
