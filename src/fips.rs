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

use std::fmt;
use std::path::PathBuf;

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

/// Why FIPS mode could not be switched on. Every message starts with
/// "can't activate FIPS mode: " (mongod's wording, which operators search
/// for) and says what to do; `openssl` fields carry OpenSSL's own error
/// queue text so the exact library complaint is not lost.
#[derive(Debug)]
pub enum FipsError {
    /// The OpenSSL this mongossl was built against cannot do FIPS at all.
    // Only constructed when build.rs found no FIPS route.
    #[cfg_attr(not(fips_route = "none"), allow(dead_code))]
    NoRoute { library: String },
    /// `--sslFIPSConfig` names a file that cannot be read.
    // Only constructed on the OpenSSL 3 route, the one that reads it.
    #[cfg_attr(not(fips_route = "provider"), allow(dead_code))]
    ConfigUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `--sslFIPSConfig` was given, but the linked OpenSSL 1.x has its FIPS
    /// module built in and no provider configuration to load.
    // Only constructed on the OpenSSL 1.x route.
    #[cfg_attr(not(fips_route = "fips_mode_set"), allow(dead_code))]
    ConfigUnsupported { path: PathBuf, library: String },
    /// OpenSSL refused the config file for a reason not listed below
    /// (syntax error, unknown section, ...).
    // Only constructed on the OpenSSL 3 route.
    #[cfg_attr(not(fips_route = "provider"), allow(dead_code))]
    ConfigRejected { path: PathBuf, openssl: String },
    /// The FIPS provider module (fips.so) is not where OpenSSL looks.
    // Only constructed on the OpenSSL 3 route.
    #[cfg_attr(not(fips_route = "provider"), allow(dead_code))]
    ModuleMissing {
        /// The directory OpenSSL searched.
        dir: String,
        /// Where that directory came from (OPENSSL_MODULES or built in).
        dir_origin: &'static str,
        openssl: String,
    },
    /// The module loaded but has no configuration: no fipsmodule.cnf is
    /// included by the OpenSSL config in use.
    // Only constructed on the OpenSSL 3 route.
    #[cfg_attr(not(fips_route = "provider"), allow(dead_code))]
    ConfigDataMissing { openssl: String },
    /// The module's power-on self-test failed: its integrity MAC does not
    /// match fipsmodule.cnf, or a known-answer test failed.
    // Only constructed on the OpenSSL 3 route.
    #[cfg_attr(not(fips_route = "provider"), allow(dead_code))]
    SelfTestFailed { openssl: String },
    /// Any other step failed, including the proof that FIPS is in force.
    // Not constructed when there is no FIPS route at all.
    #[cfg_attr(fips_route = "none", allow(dead_code))]
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

/// File name of the FIPS provider module on this platform; OpenSSL appends
/// the platform's shared-library suffix to the provider name.
#[cfg(target_os = "macos")]
const MODULE_FILE: &str = "fips.dylib";
#[cfg(windows)]
const MODULE_FILE: &str = "fips.dll";
#[cfg(not(any(target_os = "macos", windows)))]
const MODULE_FILE: &str = "fips.so";

/// Multi-line text (no final newline) for `mongossl --version`: the OpenSSL
/// linked at run time and built against, the FIPS route chosen at build
/// time, and whether a FIPS provider module is present where the linked
/// OpenSSL looks for it.
pub fn version_report() -> String {
    let built_number = env!("MONGOSSL_OPENSSL_VERSION_NUMBER");
    let built = match parse_version_number(built_number) {
        Some(number) => format!("{}, {built_number}", describe_version_number(number)),
        None => built_number.to_owned(),
    };
    format!(
        "OpenSSL library: {} (built against {built})\nFIPS route: {}\nFIPS provider module: {}",
        openssl::version::version(),
        route::DESCRIPTION,
        route::module_status(),
    )
}

/// Parses build.rs's "0x30000130" form.
fn parse_version_number(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// Turns an OPENSSL_VERSION_NUMBER into "3.0.19" or "1.1.1w": OpenSSL 3
/// uses 0xMNN00PP0, earlier releases 0xMNNFFPPS with the patch as a letter.
fn describe_version_number(number: u64) -> String {
    let major = (number >> 28) & 0xf;
    let minor = (number >> 20) & 0xff;
    if major >= 3 {
        let patch = (number >> 4) & 0xff;
        format!("OpenSSL {major}.{minor}.{patch}")
    } else {
        let fix = (number >> 12) & 0xff;
        let letter = (number >> 4) & 0xff;
        let suffix = match u8::try_from(letter) {
            Ok(n @ 1..=26) => char::from(b'a' + n - 1).to_string(),
            _ => String::new(),
        };
        format!("OpenSSL {major}.{minor}.{fix}{suffix}")
    }
}

/// Drains this thread's OpenSSL error queue into one line. Draining matters
/// as much as reading: stale errors would otherwise be reported by the next,
/// unrelated OpenSSL call (for example the first TLS handshake).
#[cfg_attr(fips_route = "none", allow(dead_code))]
fn take_openssl_errors() -> String {
    openssl::error::ErrorStack::get()
        .errors()
        .iter()
        .map(describe_openssl_error)
        .collect::<Vec<_>>()
        .join("; ")
}

/// OpenSSL's usual "error:CODE:library:function:reason:data" form, without
/// the source file and line: those name OpenSSL's build tree, which helps
/// no operator and makes the message three times longer.
#[cfg_attr(fips_route = "none", allow(dead_code))]
fn describe_openssl_error(error: &openssl::error::Error) -> String {
    let mut text = format!(
        "error:{:08X}:{}:{}:{}",
        error.code(),
        error.library().unwrap_or("unknown library"),
        error.function().unwrap_or("unknown function"),
        error.reason().unwrap_or("unknown reason"),
    );
    if let Some(data) = error.data().map(str::trim).filter(|data| !data.is_empty()) {
        text.push(':');
        text.push_str(data);
    }
    text
}

/// What OpenSSL's error text says went wrong while starting the FIPS
/// provider. Recognised from the reason strings, which OpenSSL has kept
/// stable across 3.x releases; the error codes differ between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(fips_route = "provider"), allow(dead_code))]
enum Cause {
    ModuleMissing,
    ConfigDataMissing,
    SelfTestFailed,
    Other,
}

/// `openssl` is the error queue text of the failed step; `self_tests_seen`
/// counts the self-test events the module reported and `self_test_failures`
/// lists the failed ones (see `route::SelfTestLog`). Both are needed because
/// a provider that fails while OpenSSL loads a config file fails silently
/// (OpenSSL treats it as non-fatal and drops the errors), leaving the
/// module in an error state; asking for it again then only says "invalid
/// state", and the callback's record is what remains of the real cause.
#[cfg_attr(not(fips_route = "provider"), allow(dead_code))]
fn classify(openssl: &str, self_tests_seen: usize, self_test_failures: &[String]) -> Cause {
    let text = openssl.to_ascii_lowercase();
    // Checked first: without config data the module also reports a generic
    // self-test failure, but the missing data is the cause to fix.
    if text.contains("missing config data")
        || (text.contains("provider section error") && text.contains("fips"))
    {
        Cause::ConfigDataMissing
    } else if !self_test_failures.is_empty()
        || text.contains("integrity failure")
        || text.contains("invalid checksum")
    {
        Cause::SelfTestFailed
    } else if text.contains("invalid state") {
        // The module failed earlier in this process (OpenSSL then adds a
        // generic "self test post failure", so this test comes first).
        // Having never reported a single self-test, it stopped before
        // testing: only missing config data does that.
        if self_tests_seen == 0 {
            Cause::ConfigDataMissing
        } else {
            Cause::SelfTestFailed
        }
    } else if text.contains("self test post failure")
        || text.contains("fips module entering error state")
    {
        Cause::SelfTestFailed
    } else if text.contains("could not load the shared library") {
        Cause::ModuleMissing
    } else {
        Cause::Other
    }
}

/// OpenSSL 3: the FIPS provider route.
#[cfg(fips_route = "provider")]
mod route {
    use super::{Cause, FipsDecision, FipsError, FipsRequest, MODULE_FILE};
    use std::ffi::{CStr, CString, c_char, c_int, c_void};
    use std::path::Path;
    use std::ptr;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(super) const DESCRIPTION: &str =
        "provider (OpenSSL 3: the fips provider is loaded at run time)";

    /// `OpenSSL_version()` selector for the compiled-in modules directory
    /// (OPENSSL_MODULES_DIR in <openssl/crypto.h>, OpenSSL 3.0 and later).
    const OPENSSL_MODULES_DIR: c_int = 8;

    // Declared here because openssl-sys does not export them; libcrypto is
    // already linked through openssl-sys, and these signatures are those of
    // <openssl/conf.h>, <openssl/provider.h>, <openssl/params.h> and
    // <openssl/self_test.h>.
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
        fn OSSL_PROVIDER_set_default_search_path(
            ctx: *mut openssl_sys::OSSL_LIB_CTX,
            path: *const c_char,
        ) -> c_int;
        fn OSSL_SELF_TEST_set_callback(
            ctx: *mut openssl_sys::OSSL_LIB_CTX,
            cb: Option<unsafe extern "C" fn(*const openssl_sys::OSSL_PARAM, *mut c_void) -> c_int>,
            cbarg: *mut c_void,
        );
    }

    pub(super) fn activate(request: &FipsRequest) -> Result<FipsDecision, FipsError> {
        // Registered before the library loads any config, because a fips
        // provider activated by a config file fails silently (see
        // `classify`) and this record is then the only trace of why.
        // SAFETY: NULL is the default library context; the callback only
        // touches statics, so it stays valid for as long as OpenSSL keeps it.
        unsafe {
            OSSL_SELF_TEST_set_callback(ptr::null_mut(), Some(record_self_test), ptr::null_mut())
        };

        // Initialise the library now, which loads OPENSSL_CONF (or the
        // system config) once; done later, it could load a config after our
        // providers and change the default properties underneath us.
        openssl_sys::init();
        // Errors from loading that config explain later failures (e.g. an
        // OPENSSL_CONF that activates a fips provider it cannot find).
        let startup = super::take_openssl_errors();
        let failure = |what: &str, step: String| {
            let log = SelfTestLog::snapshot();
            let mut openssl = join(&startup, &step);
            for failed in &log.failures {
                openssl = join(&openssl, &format!("self-test {failed}: Fail"));
            }
            let cause = super::classify(&openssl, log.seen, &log.failures);
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
                super::take_openssl_errors(),
            ));
        }
        prove().map_err(|what| failure(&what, super::take_openssl_errors()))?;

        // The power-on self-test is over; later (conditional) self-tests
        // need no observer, so leave OpenSSL's callback as we found it.
        // SAFETY: as above; a NULL callback unregisters ours.
        unsafe { OSSL_SELF_TEST_set_callback(ptr::null_mut(), None, ptr::null_mut()) };

        Ok(FipsDecision {
            enabled: true,
            module: describe_provider(fips),
        })
    }

    /// Self-test events reported by the FIPS module through OpenSSL's
    /// callback. Statics rather than a pointer passed as the callback's
    /// argument, so that a callback OpenSSL makes at any later time can
    /// never reach freed memory.
    static SELF_TESTS_SEEN: AtomicUsize = AtomicUsize::new(0);
    static SELF_TEST_FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());
    /// Enough to name the cause; a broken module fails one test and stops.
    const MAX_RECORDED_FAILURES: usize = 8;

    struct SelfTestLog {
        seen: usize,
        failures: Vec<String>,
    }

    impl SelfTestLog {
        fn snapshot() -> SelfTestLog {
            SelfTestLog {
                seen: SELF_TESTS_SEEN.load(Ordering::Relaxed),
                failures: SELF_TEST_FAILURES
                    .lock()
                    .map(|failures| failures.clone())
                    .unwrap_or_default(),
            }
        }
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

    /// Shows that FIPS is really in force rather than trusting the setter:
    /// turning on fips=yes "succeeds" even with no FIPS provider loaded, and
    /// then every later fetch fails ("library has no ciphers").
    fn prove() -> Result<(), String> {
        // SAFETY: NULL is the default library context.
        if unsafe { openssl_sys::EVP_default_properties_is_fips_enabled(ptr::null_mut()) } != 1 {
            return Err(
                "fips=yes is not the default algorithm property after enabling it".to_owned(),
            );
        }
        if !can_fetch_digest(c"SHA256") {
            return Err(
                "FIPS mode is on but SHA-256 cannot be fetched: no FIPS provider is active"
                    .to_owned(),
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
        super::take_openssl_errors();
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
            return Err(ConfigFailure::Rejected(super::take_openssl_errors()));
        }
        Ok(())
    }

    fn load_provider(name: &CStr) -> Result<*mut openssl_sys::OSSL_PROVIDER, String> {
        // SAFETY: NULL is the default library context; `name` is
        // NUL-terminated. The returned handle is intentionally never
        // unloaded (see FipsDecision).
        let provider = unsafe { openssl_sys::OSSL_PROVIDER_load(ptr::null_mut(), name.as_ptr()) };
        if provider.is_null() {
            Err(super::take_openssl_errors())
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
            super::take_openssl_errors();
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

    /// The module directory mongossl chose itself (see
    /// `look_for_modules_beside`), if it did.
    static MODULES_BESIDE_CONFIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

    /// A statically linked (vendored) OpenSSL has a built-in module
    /// directory inside its build tree, which exists on no server. When
    /// OPENSSL_MODULES is unset and the built-in directory has no fips
    /// module but the FIPS config's own directory has one (as
    /// fips/build-provider.sh lays them out), look there. Must run before
    /// the config loads the provider.
    fn look_for_modules_beside(config: &Path) {
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
    fn module_dir() -> (String, &'static str) {
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

    pub(super) fn module_status() -> String {
        let (dir, origin) = module_dir();
        let module = Path::new(&dir).join(MODULE_FILE);
        if module.is_file() {
            format!("{} ({origin})", module.display())
        } else {
            format!("not found: no {MODULE_FILE} in {dir} ({origin})")
        }
    }
}

/// OpenSSL 1.x built with a FIPS object module.
#[cfg(fips_route = "fips_mode_set")]
mod route {
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
        super::take_openssl_errors();
        // SAFETY: plain integer call; the library runs its self-tests and
        // reports failure through the return value and the error queue.
        if unsafe { FIPS_mode_set(1) } != 1 {
            return Err(FipsError::NotActivated {
                what: "FIPS_mode_set(1) failed (the FIPS module's self-test or integrity check did not pass)"
                    .to_owned(),
                openssl: super::take_openssl_errors(),
            });
        }
        // SAFETY: plain integer query.
        if unsafe { FIPS_mode() } == 0 {
            return Err(FipsError::NotActivated {
                what: "FIPS_mode_set(1) returned success but FIPS_mode() reports it off".to_owned(),
                openssl: super::take_openssl_errors(),
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
}

/// No FIPS capability in the linked library.
#[cfg(fips_route = "none")]
mod route {
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
}

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

    // The texts below are what OpenSSL 3.0.19 with the 3.0.8 FIPS provider
    // actually queued in each situation (file names shortened).
    #[test]
    fn classifies_openssl_error_text() {
        let none: &[String] = &[];
        assert_eq!(
            classify(
                "error:12800067:DSO support routines:dlfcn_load:could not load the shared library:\
                 ../crypto/dso/dso_dlfcn.c:115:filename(/nonexistent/fips.so): \
                 /nonexistent/fips.so: cannot open shared object file: No such file or directory; \
                 error:07880025:common libcrypto routines:provider_init:reason(524325):\
                 ../crypto/provider_core.c:923:name=fips",
                0,
                none
            ),
            Cause::ModuleMissing
        );
        assert_eq!(
            classify(
                "error:1C8000D5:Provider routines:SELF_TEST_post:missing config data:self_test.c:290:; \
                 error:1C8000E0:Provider routines:ossl_set_error_state:fips module entering error state",
                0,
                none
            ),
            Cause::ConfigDataMissing
        );
        assert_eq!(
            classify(
                "error:07800069:common libcrypto routines:provider_conf_load:provider section error:\
                 ../crypto/provider_conf.c:218:section=fips_sect not found",
                0,
                none
            ),
            Cause::ConfigDataMissing
        );
        // A config-activated module that failed silently, then asked again.
        let invalid_state = "error:1C8000D4:Provider routines:SELF_TEST_post:invalid state:\
                             self_test.c:262:; error:1C8000D8:Provider routines:\
                             OSSL_provider_init_int:self test post failure";
        assert_eq!(classify(invalid_state, 0, none), Cause::ConfigDataMissing);
        assert_eq!(classify(invalid_state, 5, none), Cause::SelfTestFailed);
        assert_eq!(
            classify(
                "error:1C8000D4:Provider routines:SELF_TEST_post:invalid state",
                1,
                &["Module_Integrity (HMAC)".to_owned()]
            ),
            Cause::SelfTestFailed
        );
        assert_eq!(classify("error:something else", 0, none), Cause::Other);
    }

    #[test]
    fn describes_version_numbers() {
        assert_eq!(describe_version_number(0x3000_0130), "OpenSSL 3.0.19");
        assert_eq!(describe_version_number(0x3020_0010), "OpenSSL 3.2.1");
        assert_eq!(describe_version_number(0x1010_117f), "OpenSSL 1.1.1w");
        assert_eq!(describe_version_number(0x1000_20bf), "OpenSSL 1.0.2k");
        assert_eq!(parse_version_number("0x30000130"), Some(0x3000_0130));
        assert_eq!(parse_version_number("unknown"), None);
    }

    #[test]
    fn version_report_names_the_route() {
        let report = version_report();
        assert!(report.contains("FIPS route: "), "{report}");
        assert!(report.contains("FIPS provider module: "), "{report}");
        assert!(report.contains(env!("MONGOSSL_FIPS_ROUTE")), "{report}");
    }
}
