//! The `provider` route (OpenSSL 3): loads the operator's config and the
//! `fips` and `base` providers, makes `fips=yes` the default, and has it
//! proven before any TLS context is built.

mod classify;
mod modules;
mod prove;
mod self_test;

use std::ffi::{CStr, CString, c_char, c_int};
use std::path::Path;
use std::ptr;

use super::openssl_errors::take_openssl_errors;
use super::{FipsDecision, FipsError, FipsRequest};
use classify::{Cause, classify};
pub(super) use modules::module_status;
use modules::{look_for_modules_beside, module_dir};
use prove::prove;
use self_test::SelfTestLog;

pub(super) const DESCRIPTION: &str =
    "provider (OpenSSL 3: the fips provider is loaded at run time)";

// Declared here because openssl-sys does not export them; libcrypto is
// already linked through openssl-sys, and these signatures are those of
// <openssl/conf.h>, <openssl/provider.h> and <openssl/params.h>.
unsafe extern "C" {
    fn OSSL_LIB_CTX_load_config(
        ctx: *mut openssl_sys::OSSL_LIB_CTX,
        config_file: *const c_char,
    ) -> c_int;
    fn OSSL_PROVIDER_get_params(
        prov: *const openssl_sys::OSSL_PROVIDER,
        params: *mut openssl_sys::OSSL_PARAM,
    ) -> c_int;
    fn OSSL_PARAM_construct_utf8_ptr(
        key: *const c_char,
        buf: *mut *mut c_char,
        bsize: usize,
    ) -> openssl_sys::OSSL_PARAM;
}

pub(super) fn activate(request: &FipsRequest) -> Result<FipsDecision, FipsError> {
    // Registered before the library loads any config, because a fips
    // provider activated by a config file fails silently (see
    // `classify`) and this record is then the only trace of why.
    self_test::start_recording();

    // Initialise the library now, which loads OPENSSL_CONF (or the
    // system config) once; done later, it could load a config after our
    // providers and change the default properties underneath us.
    openssl_sys::init();
    // Errors from loading that config explain later failures (e.g. an
    // OPENSSL_CONF that activates a fips provider it cannot find).
    let startup = take_openssl_errors();
    let failure = |what: &str, step: String| {
        let log = SelfTestLog::snapshot();
        let mut openssl = join(&startup, &step);
        for failed in &log.failures {
            openssl = join(&openssl, &format!("self-test {failed}: Fail"));
        }
        let cause = classify(&openssl, log.seen, &log.failures);
        error_for(cause, what, openssl)
    };

    if let Some(path) = &request.config {
        look_for_modules_beside(path);
        load_config(path).map_err(|problem| match problem {
            ConfigFailure::Unreadable(source) => FipsError::ConfigUnreadable {
                path: path.clone(),
                source,
            },
            ConfigFailure::Rejected(openssl) => match failure("", openssl) {
                FipsError::NotActivated { openssl, .. } => FipsError::ConfigRejected {
                    path: path.clone(),
                    openssl,
                },
                classified => classified,
            },
        })?;
    }

    // Loading a provider that the config already activated just returns
    // it. The handles are never unloaded: see FipsDecision.
    let fips = load_provider(c"fips")
        .map_err(|openssl| failure("OpenSSL could not load the fips provider", openssl))?;
    // base supplies the encoders/decoders that read PEM keys and
    // certificates; the fips provider has none.
    load_provider(c"base")
        .map_err(|openssl| failure("OpenSSL could not load the base provider", openssl))?;

    // SAFETY: NULL selects the default library context, which lives for
    // the whole process; the call only sets a property query string.
    if unsafe { openssl_sys::EVP_default_properties_enable_fips(ptr::null_mut(), 1) } != 1 {
        return Err(failure(
            "OpenSSL refused to make fips=yes the default algorithm property",
            take_openssl_errors(),
        ));
    }
    prove().map_err(|what| failure(&what, take_openssl_errors()))?;

    // The power-on self-test is over; later (conditional) self-tests
    // need no observer, so leave OpenSSL's callback as we found it.
    self_test::stop_recording();

    Ok(FipsDecision {
        enabled: true,
        module: describe_provider(fips),
    })
}

enum ConfigFailure {
    Unreadable(std::io::Error),
    Rejected(String),
}

/// Loads `path` into the default library context, adding to (not
/// replacing) whatever OPENSSL_CONF already configured.
fn load_config(path: &Path) -> Result<(), ConfigFailure> {
    // OpenSSL's own message for a missing file is a bare "system lib";
    // checking first lets the error name the file and the OS reason.
    std::fs::File::open(path).map_err(ConfigFailure::Unreadable)?;
    let c_path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
        ConfigFailure::Unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path contains a NUL byte",
        ))
    })?;
    // SAFETY: NULL is the default library context; `c_path` is a
    // NUL-terminated string that outlives the call.
    if unsafe { OSSL_LIB_CTX_load_config(ptr::null_mut(), c_path.as_ptr()) } != 1 {
        return Err(ConfigFailure::Rejected(take_openssl_errors()));
    }
    Ok(())
}

fn load_provider(name: &CStr) -> Result<*mut openssl_sys::OSSL_PROVIDER, String> {
    // SAFETY: NULL is the default library context; `name` is
    // NUL-terminated. The returned handle is intentionally never
    // unloaded (see FipsDecision).
    let provider = unsafe { openssl_sys::OSSL_PROVIDER_load(ptr::null_mut(), name.as_ptr()) };
    if provider.is_null() {
        Err(take_openssl_errors())
    } else {
        Ok(provider)
    }
}

/// "OpenSSL FIPS Provider 3.0.8", from the provider's own parameters,
/// so the log names the module actually running, not the one expected.
fn describe_provider(provider: *mut openssl_sys::OSSL_PROVIDER) -> Option<String> {
    let mut name: *mut c_char = ptr::null_mut();
    let mut version: *mut c_char = ptr::null_mut();
    // SAFETY: the keys are static NUL-terminated strings, and the out
    // pointers are locals that outlive the get_params call below.
    let mut params = unsafe {
        [
            OSSL_PARAM_construct_utf8_ptr(c"name".as_ptr(), &mut name, 0),
            OSSL_PARAM_construct_utf8_ptr(c"version".as_ptr(), &mut version, 0),
            openssl_sys::OSSL_PARAM_construct_end(),
        ]
    };
    // SAFETY: `provider` is a live handle from OSSL_PROVIDER_load and
    // `params` is an END-terminated array as the API requires.
    if unsafe { OSSL_PROVIDER_get_params(provider, params.as_mut_ptr()) } != 1 {
        take_openssl_errors();
        return None;
    }
    let text = |p: *mut c_char| {
        // SAFETY: when set, the provider points it at a NUL-terminated
        // string it owns for as long as it is loaded, which is the rest
        // of the process; we copy it out immediately anyway.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    match (text(name), text(version)) {
        (Some(name), Some(version)) => Some(format!("{name} {version}")),
        (Some(name), None) => Some(name),
        _ => None,
    }
}

fn error_for(cause: Cause, what: &str, openssl: String) -> FipsError {
    match cause {
        Cause::ModuleMissing => {
            let (dir, dir_origin) = module_dir();
            FipsError::ModuleMissing {
                dir,
                dir_origin,
                openssl,
            }
        }
        Cause::ConfigDataMissing => FipsError::ConfigDataMissing { openssl },
        Cause::SelfTestFailed => FipsError::SelfTestFailed { openssl },
        Cause::Other => FipsError::NotActivated {
            what: what.to_owned(),
            openssl,
        },
    }
}

fn join(first: &str, second: &str) -> String {
    match (first.is_empty(), second.is_empty()) {
        (true, _) => second.to_owned(),
        (_, true) => first.to_owned(),
        _ => format!("{first}; {second}"),
    }
}
