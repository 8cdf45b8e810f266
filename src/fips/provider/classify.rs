//! Names the cause of a failed FIPS provider start from OpenSSL's error text
//! and the self-test record, so the error can say what to fix.

/// What OpenSSL's error text says went wrong while starting the FIPS
/// provider. Recognised from the reason strings, which OpenSSL has kept
/// stable across 3.x releases; the error codes differ between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    ModuleMissing,
    ConfigDataMissing,
    SelfTestFailed,
    Other,
}

/// `openssl` is the error queue text of the failed step; `self_tests_seen`
/// counts the self-test events the module reported and `self_test_failures`
/// lists the failed ones (see `self_test::SelfTestLog`). Both are needed because
/// a provider that fails while OpenSSL loads a config file fails silently
/// (OpenSSL treats it as non-fatal and drops the errors), leaving the
/// module in an error state; asking for it again then only says "invalid
/// state", and the callback's record is what remains of the real cause.
pub(super) fn classify(
    openssl: &str,
    self_tests_seen: usize,
    self_test_failures: &[String],
) -> Cause {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
