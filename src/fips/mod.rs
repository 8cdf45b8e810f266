//! The one place in mongossl that switches OpenSSL into FIPS mode, proves the
//! switch took effect, and describes the build's FIPS capability for
//! `mongossl --version`.
//!
//! Ordering is enforced by types rather than by convention: TLS contexts are
//! built from a `&FipsDecision`, and only [`decide`] can make one, so no
//! context can exist before FIPS mode is settled (a context built earlier
//! would keep non-FIPS algorithms).
//!
//! How FIPS is switched on depends on the OpenSSL linked, which build.rs
//! reports as the cfg `fips_route`:
//! - `provider` (OpenSSL 3): optionally load the operator's OpenSSL config,
//!   load the `fips` and `base` providers, make `fips=yes` the default
//!   property query, then prove it by fetching SHA-256 (must work) and MD5
//!   (must fail).
//! - `fips_mode_set` (OpenSSL 1.x built with a FIPS object module):
//!   `FIPS_mode_set(1)`.
//! - `none`: a FIPS request is refused with an explanation.
//!
//! Each route lives in its own module (`provider`, `legacy`, `unsupported`),
//! and exactly one is compiled, under the name `route`; each offers
//! `activate`, `DESCRIPTION` and `module_status`.

use std::path::PathBuf;

mod describe;
mod error;
#[cfg(any(fips_route = "provider", fips_route = "fips_mode_set"))]
mod openssl_errors;

#[cfg(fips_route = "provider")]
mod provider;
#[cfg(fips_route = "provider")]
use provider as route;

#[cfg(fips_route = "fips_mode_set")]
mod legacy;
#[cfg(fips_route = "fips_mode_set")]
use legacy as route;

#[cfg(fips_route = "none")]
mod unsupported;
#[cfg(fips_route = "none")]
use unsupported as route;

pub use describe::version_report;
pub use error::FipsError;

/// What the operator asked for: `--sslFIPSMode`, with the optional
/// `--sslFIPSConfig FILE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FipsRequest {
    /// An OpenSSL config file to load before the providers, normally one
    /// that `.include`s the `fipsmodule.cnf` written by `openssl fipsinstall`.
    pub config: Option<PathBuf>,
}

/// Proof that the FIPS decision has been made. Only [`decide`] can create
/// one (the fields are private), and TLS context construction takes
/// `&FipsDecision`, so no context can exist before it.
///
/// Provider handles are deliberately not kept here: the `fips` and `base`
/// providers stay loaded until the process exits, even if this value is
/// dropped, because unloading them while TLS contexts still use their
/// algorithms would leave those contexts pointing at unloaded code, and
/// mongossl never leaves FIPS mode once in it.
#[derive(Debug)]
pub struct FipsDecision {
    enabled: bool,
    /// Who does the cryptography, e.g. "OpenSSL FIPS Provider 3.0.8".
    module: Option<String>,
}

impl FipsDecision {
    /// Whether OpenSSL is in FIPS mode (and this was proven).
    pub fn is_fips(&self) -> bool {
        self.enabled
    }

    /// The log line mongod prints on success, naming the module, e.g.
    /// "FIPS 140-2 mode activated (OpenSSL FIPS Provider 3.0.8)"; `None`
    /// when not in FIPS mode.
    pub fn activation_message(&self) -> Option<String> {
        if !self.enabled {
            return None;
        }
        Some(match &self.module {
            Some(module) => format!("FIPS 140-2 mode activated ({module})"),
            None => "FIPS 140-2 mode activated".to_owned(),
        })
    }
}

/// Settles FIPS mode for the whole process. `None` means FIPS was not
/// requested: the decision is "not FIPS" and OpenSSL is not touched.
///
/// Call it once, before any TLS context exists; OpenSSL's provider state is
/// process-global, so a failed attempt may leave partial state behind and
/// the caller should exit rather than retry.
pub fn decide(request: Option<&FipsRequest>) -> Result<FipsDecision, FipsError> {
    match request {
        None => Ok(FipsDecision {
            enabled: false,
            module: None,
        }),
        Some(request) => route::activate(request),
    }
}

/// File name of the FIPS provider module on this platform; OpenSSL appends
/// the platform's shared-library suffix to the provider name. Shared by the
/// error texts (every route) and the provider route's module search.
#[cfg(target_os = "macos")]
const MODULE_FILE: &str = "fips.dylib";
#[cfg(windows)]
const MODULE_FILE: &str = "fips.dll";
#[cfg(not(any(target_os = "macos", windows)))]
const MODULE_FILE: &str = "fips.so";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_request_gives_a_non_fips_decision() {
        let decision = decide(None).expect("not asking for FIPS cannot fail");
        assert!(!decision.is_fips());
        assert_eq!(decision.activation_message(), None);
    }

    #[test]
    fn fips_decision_names_the_module() {
        let decision = FipsDecision {
            enabled: true,
            module: Some("OpenSSL FIPS Provider 3.0.8".to_owned()),
        };
        assert_eq!(
            decision.activation_message().as_deref(),
            Some("FIPS 140-2 mode activated (OpenSSL FIPS Provider 3.0.8)")
        );
    }
}
