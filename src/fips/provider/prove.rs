//! The proof that FIPS mode took effect: the default property says
//! `fips=yes`, an approved digest can be fetched and a non-approved one not.

use std::ffi::CStr;
use std::ptr;

use crate::fips::openssl_errors::take_openssl_errors;

/// Shows that FIPS is really in force rather than trusting the setter:
/// turning on fips=yes "succeeds" even with no FIPS provider loaded, and
/// then every later fetch fails ("library has no ciphers").
pub(super) fn prove() -> Result<(), String> {
    // SAFETY: NULL is the default library context.
    if unsafe { openssl_sys::EVP_default_properties_is_fips_enabled(ptr::null_mut()) } != 1 {
        return Err("fips=yes is not the default algorithm property after enabling it".to_owned());
    }
    if !can_fetch_digest(c"SHA256") {
        return Err(
            "FIPS mode is on but SHA-256 cannot be fetched: no FIPS provider is active".to_owned(),
        );
    }
    if can_fetch_digest(c"MD5") {
        return Err(
            "MD5 is still available with fips=yes: the provider answering is not enforcing FIPS"
                .to_owned(),
        );
    }
    // The refused MD5 fetch queued an error on purpose; drop it so the
    // next OpenSSL caller does not report it.
    take_openssl_errors();
    Ok(())
}

fn can_fetch_digest(name: &CStr) -> bool {
    // SAFETY: `name` is NUL-terminated and outlives the call; NULL
    // context and properties mean "default context, default query".
    let md = unsafe { openssl_sys::EVP_MD_fetch(ptr::null_mut(), name.as_ptr(), ptr::null()) };
    if md.is_null() {
        return false;
    }
    // SAFETY: `md` came from EVP_MD_fetch, which handed us one reference.
    unsafe { openssl_sys::EVP_MD_free(md) };
    true
}
