//! Why FIPS mode could not be switched on: [`FipsError`], its operator-facing
//! wording, and its conversion into the crate's start-up [`Error`].

use std::fmt;
use std::path::PathBuf;

use super::MODULE_FILE;
use crate::error::Error;

/// Why FIPS mode could not be switched on. Every message starts with
/// "can't activate FIPS mode: " (mongod's wording, which operators search
/// for) and says what to do; `openssl` fields carry OpenSSL's own error
/// queue text so the exact library complaint is not lost.
///
/// Each route constructs only the variants that fit its OpenSSL; the enum is
/// the same in every build so that callers and tests do not depend on it.
#[derive(Debug)]
pub enum FipsError {
    /// The OpenSSL this mongossl was built against cannot do FIPS at all.
    NoRoute { library: String },
    /// `--sslFIPSConfig` names a file that cannot be read.
    ConfigUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `--sslFIPSConfig` was given, but the linked OpenSSL 1.x has its FIPS
    /// module built in and no provider configuration to load.
    ConfigUnsupported { path: PathBuf, library: String },
    /// OpenSSL refused the config file for a reason not listed below
    /// (syntax error, unknown section, ...).
    ConfigRejected { path: PathBuf, openssl: String },
    /// The FIPS provider module (fips.so) is not where OpenSSL looks.
    ModuleMissing {
        /// The directory OpenSSL searched.
        dir: String,
        /// Where that directory came from (OPENSSL_MODULES or built in).
        dir_origin: &'static str,
        openssl: String,
    },
    /// The module loaded but has no configuration: no fipsmodule.cnf is
    /// included by the OpenSSL config in use.
    ConfigDataMissing { openssl: String },
    /// The module's power-on self-test failed: its integrity MAC does not
    /// match fipsmodule.cnf, or a known-answer test failed.
    SelfTestFailed { openssl: String },
    /// Any other step failed, including the proof that FIPS is in force.
    NotActivated { what: String, openssl: String },
}

impl fmt::Display for FipsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("can't activate FIPS mode: ")?;
        match self {
            FipsError::NoRoute { library } => write!(
                f,
                "this mongossl was built against {library}, which has no FIPS support; \
                 rebuild it against OpenSSL 3 and install a FIPS provider, \
                 or run without sslFIPSMode"
            ),
            FipsError::ConfigUnreadable { path, source } => write!(
                f,
                "cannot read the FIPS config file {}: {source}; check the sslFIPSConfig path",
                path.display()
            ),
            FipsError::ConfigUnsupported { path, library } => write!(
                f,
                "sslFIPSConfig {} needs OpenSSL 3, but this mongossl uses {library}, \
                 whose FIPS module is built in; remove sslFIPSConfig",
                path.display()
            ),
            FipsError::ConfigRejected { path, openssl } => write!(
                f,
                "OpenSSL rejected the FIPS config file {}; fix the file \
                 (OpenSSL said: {})",
                path.display(),
                or_no_detail(openssl)
            ),
            FipsError::ModuleMissing {
                dir,
                dir_origin,
                openssl,
            } => write!(
                f,
                "the FIPS provider module {MODULE_FILE} was not found in {dir} ({dir_origin}); \
                 install your distribution's FIPS provider, or set OPENSSL_MODULES to the \
                 directory that holds {MODULE_FILE} (fips/build-provider.sh builds one) \
                 (OpenSSL said: {})",
                or_no_detail(openssl)
            ),
            FipsError::ConfigDataMissing { openssl } => write!(
                f,
                "the FIPS provider has no configuration data (missing config data): the OpenSSL \
                 config in use does not include the fipsmodule.cnf that `openssl fipsinstall` \
                 wrote for this module; pass sslFIPSConfig (or set OPENSSL_CONF) to a config \
                 that includes it and activates the fips provider (OpenSSL said: {})",
                or_no_detail(openssl)
            ),
            FipsError::SelfTestFailed { openssl } => write!(
                f,
                "the FIPS provider failed its self-test (module integrity check): the \
                 fipsmodule.cnf does not match this {MODULE_FILE}, or the module file was \
                 modified (prelink does that; disable it); reinstall the provider or rerun \
                 `openssl fipsinstall -out fipsmodule.cnf -module {MODULE_FILE}` \
                 (OpenSSL said: {})",
                or_no_detail(openssl)
            ),
            FipsError::NotActivated { what, openssl } => {
                write!(f, "{what} (OpenSSL said: {})", or_no_detail(openssl))
            }
        }
    }
}

impl std::error::Error for FipsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FipsError::ConfigUnreadable { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// OpenSSL sometimes fails without queueing an error; say so rather than
/// print an empty parenthesis.
fn or_no_detail(openssl: &str) -> &str {
    if openssl.is_empty() {
        "no details"
    } else {
        openssl
    }
}

/// `crate::error` sits below this module and must not name it, so it holds
/// the error boxed; the text and the source chain are the same as before.
impl From<FipsError> for Error {
    fn from(e: FipsError) -> Error {
        Error::Fips(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_starts_with_mongods_prefix() {
        let errors = [
            FipsError::NoRoute {
                library: "LibreSSL 3.8.2".to_owned(),
            },
            FipsError::ConfigUnreadable {
                path: "/nope.cnf".into(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            },
            FipsError::ModuleMissing {
                dir: "/nonexistent".to_owned(),
                dir_origin: "set by OPENSSL_MODULES",
                openssl: String::new(),
            },
            FipsError::ConfigDataMissing {
                openssl: "x".to_owned(),
            },
            FipsError::SelfTestFailed {
                openssl: "x".to_owned(),
            },
        ];
        for error in errors {
            assert!(
                error.to_string().starts_with("can't activate FIPS mode: "),
                "{error}"
            );
        }
    }

    #[test]
    fn module_missing_names_the_directory() {
        let error = FipsError::ModuleMissing {
            dir: "/nonexistent".to_owned(),
            dir_origin: "set by OPENSSL_MODULES",
            openssl: String::new(),
        };
        let text = error.to_string();
        assert!(
            text.contains("not found in /nonexistent (set by OPENSSL_MODULES)"),
            "{text}"
        );
        assert!(text.contains("no details"), "{text}");
    }
}
