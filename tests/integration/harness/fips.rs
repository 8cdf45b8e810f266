//! Finds (or builds, once per test run) the real OpenSSL 3.0.8 FIPS
//! provider that `fips/build-provider.sh` caches, so the FIPS tests run
//! against a real module. Where it cannot be built the tests say so
//! loudly; with `MONGOSSL_REQUIRE_FIPS=1` (CI) that is a failure instead.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The folder with `fips.so`, `fipsmodule.cnf` and `openssl-fips.cnf`.
pub fn provider_dir() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        if let Ok(dir) = std::env::var("MONGOSSL_FIPS_DIR") {
            return Some(PathBuf::from(dir));
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fips/build-provider.sh");
        let output = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run fips/build-provider.sh");
        match output.status.code() {
            Some(0) => String::from_utf8_lossy(&output.stdout)
                .lines()
                .last()
                .map(|l| PathBuf::from(l.trim())),
            Some(3) => None,
            other => panic!("fips/build-provider.sh failed ({other:?})"),
        }
    });
    match dir {
        Some(dir) => Some(dir.clone()),
        None if std::env::var("MONGOSSL_REQUIRE_FIPS").is_ok_and(|v| v == "1") => {
            panic!("MONGOSSL_REQUIRE_FIPS=1 but the FIPS provider cannot be built here")
        }
        None => {
            eprintln!(
                "\n***** SKIPPED: FIPS test — no FIPS provider could be built on this machine (see fips/README.md) *****\n"
            );
            None
        }
    }
}
