//! Option values as text, before validation: the map that the command line
//! and both config-file formats fill, the command line's form of a config
//! file's flag or count, and the typed reading of the map that the rules use.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::table::{Kind, OptionSpec};
use crate::error::Error;

/// Option values as text, keyed by long name, before validation. Flags hold
/// `"true"` or `"false"`, counts a number, lists one value per line.
pub type RawOptions = BTreeMap<&'static str, String>;

/// A config file's options, and what deserves a warning once logging is up.
#[derive(Debug, Default)]
pub struct FileOptions {
    pub raw: RawOptions,
    pub warnings: Vec<String>,
}

/// The words a config file may use for a flag.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A config file's text for an option of this kind, in the command line's
/// form: a flag as `true`/`false`, a count as a number (`true` is 1).
/// `None` when the text is not a word of that kind.
pub fn file_value(kind: Kind, text: &str) -> Option<String> {
    match kind {
        Kind::Value | Kind::List => Some(text.to_string()),
        Kind::Flag => parse_bool(text).map(|on| on.to_string()),
        Kind::Count => parse_bool(text)
            .map(u8::from)
            .or_else(|| text.parse::<u8>().ok())
            .map(|n| n.to_string()),
    }
}

/// Typed reading of raw values, for the rules between options.
#[derive(Clone, Copy)]
pub struct Values<'a>(pub &'a RawOptions);

impl<'a> Values<'a> {
    pub fn text(self, option: &OptionSpec) -> Option<&'a String> {
        self.0.get(option.name)
    }

    pub fn path(self, option: &OptionSpec) -> Option<PathBuf> {
        self.text(option).map(PathBuf::from)
    }

    /// Whether a flag is on.
    pub fn flag(self, option: &OptionSpec) -> bool {
        self.text(option).is_some_and(|v| v == "true")
    }

    /// Whether an option was given with any value but `false`.
    pub fn given(self, option: &OptionSpec) -> bool {
        self.text(option).is_some_and(|v| v != "false")
    }

    /// Whether an option was written at all, even as `false`.
    pub fn written(self, option: &OptionSpec) -> bool {
        self.0.contains_key(option.name)
    }

    /// A number, or an error naming the option.
    pub fn number<T: std::str::FromStr>(self, option: &OptionSpec) -> Result<Option<T>, Error> {
        self.text(option)
            .map(|v| {
                v.parse::<T>().map_err(|_| {
                    Error::options(format!("--{}: '{v}' is not a valid number", option.name))
                })
            })
            .transpose()
    }
}

/// Raw values from `(name, value)` pairs, for the rules' unit tests.
/// Puts `later`'s values over `earlier`'s, as the command line's over a
/// config file's; a list keeps both, `earlier`'s lines first, so that a
/// reader taking the last line for each name lets `later` win.
pub fn overlay(earlier: &mut RawOptions, later: RawOptions) {
    for (name, value) in later {
        let is_list = super::table::find(name).is_some_and(|o| o.kind == Kind::List);
        match earlier.get_mut(name) {
            Some(old) if is_list => {
                old.push('\n');
                old.push_str(&value);
            }
            _ => {
                earlier.insert(name, value);
            }
        }
    }
}

#[cfg(test)]
pub fn from_pairs(pairs: &[(&'static str, &str)]) -> RawOptions {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_words_become_the_command_line_form() {
        assert_eq!(file_value(Kind::Flag, "yes").as_deref(), Some("true"));
        assert_eq!(file_value(Kind::Flag, "off").as_deref(), Some("false"));
        assert_eq!(file_value(Kind::Flag, "2"), None);
        assert_eq!(file_value(Kind::Count, "true").as_deref(), Some("1"));
        assert_eq!(file_value(Kind::Count, "3").as_deref(), Some("3"));
        assert_eq!(file_value(Kind::Count, "many"), None);
        assert_eq!(file_value(Kind::Value, "x").as_deref(), Some("x"));
    }
}
