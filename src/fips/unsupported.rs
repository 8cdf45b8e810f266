//! The `none` route: the linked library has no FIPS capability, so a FIPS
//! request is refused with an explanation.

use super::{FipsDecision, FipsError, FipsRequest};

pub(super) const DESCRIPTION: &str =
    "none (this OpenSSL has no FIPS support; sslFIPSMode will be refused)";

pub(super) fn activate(_request: &FipsRequest) -> Result<FipsDecision, FipsError> {
    Err(FipsError::NoRoute {
        library: openssl::version::version().to_owned(),
    })
}

pub(super) fn module_status() -> String {
    "not applicable".to_owned()
}
