//! Where OpenSSL looks for the FIPS provider module, for the activation's
//! error texts, the search beside `--sslFIPSConfig`, and `--version`.

use std::ffi::{CStr, c_char, c_int};
use std::path::Path;
use std::ptr;

use crate::fips::MODULE_FILE;

/// `OpenSSL_version()` selector for the compiled-in modules directory
/// (OPENSSL_MODULES_DIR in <openssl/crypto.h>, OpenSSL 3.0 and later).
const OPENSSL_MODULES_DIR: c_int = 8;

// Declared here because openssl-sys does not export it; the signature is
// that of <openssl/provider.h>.
unsafe extern "C" {
    fn OSSL_PROVIDER_set_default_search_path(
        ctx: *mut openssl_sys::OSSL_LIB_CTX,
        path: *const c_char,
    ) -> c_int;
}

/// The module directory mongossl chose itself (see
/// `look_for_modules_beside`), if it did.
static MODULES_BESIDE_CONFIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A statically linked (vendored) OpenSSL has a built-in module
/// directory inside its build tree, which exists on no server. When
/// OPENSSL_MODULES is unset and the built-in directory has no fips
/// module but the FIPS config's own directory has one (as
/// fips/build-provider.sh lays them out), look there. Must run before
/// the config loads the provider.
pub(super) fn look_for_modules_beside(config: &Path) {
    if std::env::var_os("OPENSSL_MODULES").is_some()
        || Path::new(&compiled_in_modules_dir())
            .join(MODULE_FILE)
            .is_file()
    {
        return;
    }
    let Some(dir) = config.parent().filter(|d| d.join(MODULE_FILE).is_file()) else {
        return;
    };
    let Ok(c_dir) = std::ffi::CString::new(dir.to_string_lossy().as_bytes()) else {
        return;
    };
    // SAFETY: NULL is the default library context; OpenSSL copies the
    // string before returning.
    if unsafe { OSSL_PROVIDER_set_default_search_path(ptr::null_mut(), c_dir.as_ptr()) } == 1 {
        let _ = MODULES_BESIDE_CONFIG.set(dir.to_string_lossy().into_owned());
    }
}

/// Where OpenSSL looks for provider modules, and why there: the
/// OPENSSL_MODULES variable wins over the directory compiled into the
/// library (which is how OpenSSL itself decides).
pub(super) fn module_dir() -> (String, &'static str) {
    if let Some(dir) = std::env::var_os("OPENSSL_MODULES") {
        return (dir.to_string_lossy().into_owned(), "set by OPENSSL_MODULES");
    }
    if let Some(dir) = MODULES_BESIDE_CONFIG.get() {
        return (
            dir.clone(),
            "beside --sslFIPSConfig, since the library's built-in directory has no fips module",
        );
    }
    (
        compiled_in_modules_dir(),
        "the OpenSSL library's built-in modules directory; OPENSSL_MODULES is not set",
    )
}

fn compiled_in_modules_dir() -> String {
    // SAFETY: OpenSSL_version returns a pointer to a static string for
    // any selector (an explanatory one for unknown selectors).
    let raw = unsafe { openssl_sys::OpenSSL_version(OPENSSL_MODULES_DIR) };
    if raw.is_null() {
        return "an unknown directory".to_owned();
    }
    // SAFETY: non-null, static and NUL-terminated (see above).
    let text = unsafe { CStr::from_ptr(raw) }.to_string_lossy();
    // The library answers `MODULESDIR: "/usr/lib/.../ossl-modules"`.
    text.strip_prefix("MODULESDIR:")
        .unwrap_or(&text)
        .trim()
        .trim_matches('"')
        .to_owned()
}

/// The `--version` line for the module: where it is, or where it is not.
pub(in crate::fips) fn module_status() -> String {
    let (dir, origin) = module_dir();
    let module = Path::new(&dir).join(MODULE_FILE);
    if module.is_file() {
        format!("{} ({origin})", module.display())
    } else {
        format!("not found: no {MODULE_FILE} in {dir} ({origin})")
    }
}
