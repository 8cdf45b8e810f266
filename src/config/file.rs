//! Config files: tells mongod 2.6+'s YAML from mongod 2.4's format by
//! their content, and reads the 2.4 format itself: one `key = value` per
//! line, `#` comments, keys named as the long options. Unlike mongod 2.4,
//! which silently ignored `flag = false`, `false` here really means off.

use std::path::Path;

use super::options;
use super::raw::{FileOptions, RawOptions, file_value};
use super::table::{self, Kind};
use super::yaml;
use crate::error::Error;

/// Reads and parses a config file of either format; twin names
/// (`tlsCAFile`, `net.tls.CAFile`) are folded onto their `ssl*` names.
pub fn read(path: &Path) -> Result<FileOptions, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        option: table::CONFIG.name,
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |cause: String| Error::file(table::CONFIG.name, path, cause);
    let mut read = parse(&text).map_err(bad)?;
    read.raw = options::fold_twins(read.raw).map_err(|e| bad(e.to_string()))?;
    Ok(read)
}

/// Parses config-file text in the format its content shows.
pub fn parse(text: &str) -> Result<FileOptions, String> {
    if is_yaml(text) {
        yaml::parse(text)
    } else {
        parse_ini(text).map(|raw| FileOptions {
            raw,
            warnings: Vec::new(),
        })
    }
}

/// mongod 2.4's files are `name = value` lines; YAML never starts with
/// one (a YAML key is followed by `:`). The first line that is not blank
/// or a comment decides; an empty file reads the same either way.
pub fn is_yaml(text: &str) -> bool {
    let Some(first) = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return false;
    };
    let Some((key, _)) = first.split_once('=') else {
        return true;
    };
    let key = key.trim();
    let is_option_name = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    !is_option_name
}

/// Parses mongod 2.4's format; the error names the line.
pub fn parse_ini(text: &str) -> Result<RawOptions, String> {
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
        let spec = table::find(key)
            .filter(|s| s.in_file)
            .ok_or_else(|| format!("line {number}: unknown option '{key}'"))?;
        if spec.kind == Kind::Value && value.is_empty() {
            return Err(format!("line {number}: '{key}' needs a value"));
        }
        let value = file_value(spec.kind, value).ok_or_else(|| {
            format!("line {number}: '{key}' must be true or false, found '{value}'")
        })?;
        if spec.kind == Kind::List {
            super::raw::overlay(&mut raw, RawOptions::from([(spec.name, value)]));
        } else if raw.insert(spec.name, value).is_some() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_comments_and_false() {
        let raw = parse_ini(
            "# mongod 2.4 style\nport = 27018\n\nsslOnNormalPorts = true\nsslPEMKeyFile = \"/etc/ssl/mongodb.pem\"\nsslWeakCertificateValidation = false\n",
        )
        .expect("valid");
        for (name, value) in [
            ("port", "27018"),
            ("sslOnNormalPorts", "true"),
            ("sslPEMKeyFile", "/etc/ssl/mongodb.pem"),
            ("sslWeakCertificateValidation", "false"),
        ] {
            assert_eq!(raw.get(name).map(String::as_str), Some(value), "{name}");
        }
        assert_eq!(raw.len(), 4, "{raw:?}");
    }

    #[test]
    fn unknown_key_names_the_line() {
        let err = parse_ini("port = 1\nsslPEMKeyFiel = x\n").expect_err("unknown");
        assert!(
            err.contains("line 2") && err.contains("sslPEMKeyFiel"),
            "{err}"
        );
    }

    #[test]
    fn format_is_told_by_content() {
        assert!(!is_yaml("# comment\n\nport = 27017\n"));
        assert!(!is_yaml("upstream = 127.0.0.1:27018\n"));
        assert!(!is_yaml(""));
        assert!(is_yaml("# mongod.conf\nnet:\n  port: 27017\n"));
        assert!(is_yaml("---\nnet: {port: 1}\n"));
        assert!(is_yaml("systemLog:\n  path: /var/log/a=b.log\n"));
        let ini = parse("sslOnNormalPorts = true\n").expect("ini");
        assert_eq!(
            ini.raw.get("sslOnNormalPorts").map(String::as_str),
            Some("true")
        );
        let yaml = parse("net:\n  port: 1\n").expect("yaml");
        assert_eq!(yaml.raw.get("port").map(String::as_str), Some("1"));
    }

    #[test]
    fn twins_in_a_file_are_folded_or_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("twins.conf");
        std::fs::write(&path, "tlsCAFile = /ca\nsslCAFile = /ca\n").expect("write");
        let folded = read(&path).expect("agreeing twins");
        assert_eq!(folded.raw.get("sslCAFile").map(String::as_str), Some("/ca"));
        assert!(!folded.raw.contains_key("tlsCAFile"));
        std::fs::write(&path, "tlsCAFile = /ca\nsslCAFile = /other\n").expect("write");
        let err = read(&path).expect_err("disagreeing twins");
        assert!(err.to_string().contains("disagree"), "{err}");
    }

    #[test]
    fn malformed_lines_are_refused() {
        for (text, needle) in [
            ("sslOnNormalPorts\n", "line 1"),
            ("sslOnNormalPorts = maybe\n", "true or false"),
            ("verbose = many\n", "true or false"),
            ("port =\n", "needs a value"),
            ("config = x\n", "unknown"),
            ("port = 1\nport = 2\n", "more than once"),
        ] {
            let err = parse_ini(text).expect_err(text);
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
