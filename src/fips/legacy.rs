//! The `fips_mode_set` route: OpenSSL 1.x built with a FIPS object module,
//! switched on by `FIPS_mode_set(1)`.

use super::openssl_errors::take_openssl_errors;
use super::{FipsDecision, FipsError, FipsRequest};
use std::ffi::c_int;

pub(super) const DESCRIPTION: &str =
    "fips_mode_set (OpenSSL 1.x with a built-in FIPS object module)";

// Declared here rather than taken from openssl-sys so that this route
// does not depend on which OpenSSL 1.x variants openssl-sys exports
// them for; <openssl/crypto.h> declares both with these signatures.
unsafe extern "C" {
    fn FIPS_mode_set(onoff: c_int) -> c_int;
    fn FIPS_mode() -> c_int;
}

pub(super) fn activate(request: &FipsRequest) -> Result<FipsDecision, FipsError> {
    if let Some(path) = &request.config {
        return Err(FipsError::ConfigUnsupported {
            path: path.clone(),
            library: openssl::version::version().to_owned(),
        });
    }
    openssl_sys::init();
    take_openssl_errors();
    // SAFETY: plain integer call; the library runs its self-tests and
    // reports failure through the return value and the error queue.
    if unsafe { FIPS_mode_set(1) } != 1 {
        return Err(FipsError::NotActivated {
            what: "FIPS_mode_set(1) failed (the FIPS module's self-test or integrity check did not pass)"
                .to_owned(),
            openssl: take_openssl_errors(),
        });
    }
    // SAFETY: plain integer query.
    if unsafe { FIPS_mode() } == 0 {
        return Err(FipsError::NotActivated {
            what: "FIPS_mode_set(1) returned success but FIPS_mode() reports it off".to_owned(),
            openssl: take_openssl_errors(),
        });
    }
    Ok(FipsDecision {
        enabled: true,
        module: Some(openssl::version::version().to_owned()),
    })
}

pub(super) fn module_status() -> String {
    "built into the OpenSSL library (no separate module)".to_owned()
}
