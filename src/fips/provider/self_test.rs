//! Records the FIPS module's self-test events while the provider starts, the
//! only trace of why a provider activated by a config file failed.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Self-test events reported by the FIPS module through OpenSSL's
/// callback. Statics rather than a pointer passed as the callback's
/// argument, so that a callback OpenSSL makes at any later time can
/// never reach freed memory.
static SELF_TESTS_SEEN: AtomicUsize = AtomicUsize::new(0);
static SELF_TEST_FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Enough to name the cause; a broken module fails one test and stops.
const MAX_RECORDED_FAILURES: usize = 8;

/// What the module reported so far, for `classify`.
pub(super) struct SelfTestLog {
    /// How many self-test events the module reported.
    pub(super) seen: usize,
    /// The failed ones, as "Module_Integrity (HMAC)".
    pub(super) failures: Vec<String>,
}

impl SelfTestLog {
    pub(super) fn snapshot() -> SelfTestLog {
        SelfTestLog {
            seen: SELF_TESTS_SEEN.load(Ordering::Relaxed),
            failures: SELF_TEST_FAILURES
                .lock()
                .map(|failures| failures.clone())
                .unwrap_or_default(),
        }
    }
}

// Declared here because openssl-sys does not export it; the signature is
// that of <openssl/self_test.h>.
unsafe extern "C" {
    fn OSSL_SELF_TEST_set_callback(
        ctx: *mut openssl_sys::OSSL_LIB_CTX,
        cb: Option<unsafe extern "C" fn(*const openssl_sys::OSSL_PARAM, *mut c_void) -> c_int>,
        cbarg: *mut c_void,
    );
}

/// Makes OpenSSL report every self-test event of the default library
/// context to `record_self_test`.
pub(super) fn start_recording() {
    // SAFETY: NULL is the default library context; the callback only
    // touches statics, so it stays valid for as long as OpenSSL keeps it.
    unsafe {
        OSSL_SELF_TEST_set_callback(ptr::null_mut(), Some(record_self_test), ptr::null_mut())
    };
}

/// Unregisters `record_self_test`, leaving OpenSSL's callback as it was.
pub(super) fn stop_recording() {
    // SAFETY: NULL is the default library context; a NULL callback
    // unregisters ours.
    unsafe { OSSL_SELF_TEST_set_callback(ptr::null_mut(), None, ptr::null_mut()) };
}

/// OSSL_CALLBACK for self-test events: counts them and records the
/// failed ones as "Module_Integrity (HMAC)".
unsafe extern "C" fn record_self_test(
    params: *const openssl_sys::OSSL_PARAM,
    _arg: *mut c_void,
) -> c_int {
    SELF_TESTS_SEEN.fetch_add(1, Ordering::Relaxed);
    // SAFETY: OpenSSL passes an END-terminated parameter array that is
    // valid for the duration of this call.
    let text = |key: &CStr| unsafe { param_text(params, key) };
    if text(c"st-phase").as_deref() == Some("Fail") {
        let failed = format!(
            "{} ({})",
            text(c"st-type").unwrap_or_default(),
            text(c"st-desc").unwrap_or_default()
        );
        if let Ok(mut failures) = SELF_TEST_FAILURES.lock()
            && failures.len() < MAX_RECORDED_FAILURES
        {
            failures.push(failed);
        }
    }
    // 1 means "carry on"; 0 in the "Corrupt" phase would ask OpenSSL to
    // corrupt the test data on purpose.
    1
}

/// Reads a UTF-8 parameter as an owned string.
///
/// # Safety
/// `params` must be NULL or an END-terminated OSSL_PARAM array valid for
/// the duration of the call.
unsafe fn param_text(params: *const openssl_sys::OSSL_PARAM, key: &CStr) -> Option<String> {
    if params.is_null() {
        return None;
    }
    // SAFETY: per this function's contract, and `key` is NUL-terminated.
    let param = unsafe { openssl_sys::OSSL_PARAM_locate_const(params, key.as_ptr()) };
    if param.is_null() {
        return None;
    }
    let mut value: *const c_char = ptr::null();
    // SAFETY: `param` points into the live array; `value` is a local.
    if unsafe { openssl_sys::OSSL_PARAM_get_utf8_string_ptr(param, &mut value) } != 1
        || value.is_null()
    {
        return None;
    }
    // SAFETY: OpenSSL returned a NUL-terminated string inside `param`.
    Some(
        unsafe { CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned(),
    )
}
