//! Build script: decides how this build can switch OpenSSL into FIPS mode
//! (the `fips_route` cfg that src/fips/ compiles against) and records the
//! OpenSSL version it was built against for `mongossl --version`.
//!
//! openssl-sys is a direct dependency with `links = "openssl"`, so cargo hands
//! us what its build script found as `DEP_OPENSSL_*` variables; we never probe
//! for OpenSSL ourselves, which keeps both crates agreeing on one library.

use std::env;
use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};

/// How FIPS mode is switched on with the OpenSSL this build links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// OpenSSL 3.x: load the `fips` provider and make `fips=yes` the default.
    Provider,
    /// OpenSSL 1.x built with a FIPS object module: `FIPS_mode_set(1)`.
    FipsModeSet,
    /// No FIPS capability (plain 1.1.x, LibreSSL, BoringSSL, unknown).
    None,
}

impl Route {
    fn as_str(self) -> &'static str {
        match self {
            Route::Provider => "provider",
            Route::FipsModeSet => "fips_mode_set",
            Route::None => "none",
        }
    }
}

/// The first OpenSSL version number (0xMNN00PP0 layout) with providers.
const OPENSSL_3_0_0: u64 = 0x3000_0000;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for var in [
        "DEP_OPENSSL_VERSION_NUMBER",
        "DEP_OPENSSL_LIBRESSL_VERSION_NUMBER",
        "DEP_OPENSSL_INCLUDE",
        "CC",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!(
        r#"cargo::rustc-check-cfg=cfg(fips_route, values("provider", "fips_mode_set", "none"))"#
    );

    // openssl-sys prints the number in hex without a prefix; LibreSSL,
    // BoringSSL and AWS-LC builds do not set it at all.
    let version = env::var("DEP_OPENSSL_VERSION_NUMBER")
        .ok()
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());

    let route = match version {
        Some(v) if v >= OPENSSL_3_0_0 => Route::Provider,
        Some(_) if headers_define_openssl_fips() => Route::FipsModeSet,
        Some(_) => Route::None,
        None => {
            println!(
                "cargo::warning=openssl-sys reported no OpenSSL version number (LibreSSL/BoringSSL?); mongossl is built without FIPS support"
            );
            Route::None
        }
    };

    println!(r#"cargo::rustc-cfg=fips_route="{}""#, route.as_str());
    println!("cargo::rustc-env=MONGOSSL_FIPS_ROUTE={}", route.as_str());
    let version_text = version.map_or_else(|| "unknown".to_owned(), |v| format!("0x{v:08x}"));
    println!("cargo::rustc-env=MONGOSSL_OPENSSL_VERSION_NUMBER={version_text}");
}

/// Whether the OpenSSL 1.x headers we build against define `OPENSSL_FIPS`,
/// i.e. whether `FIPS_mode_set` exists and does something. Asked of the C
/// preprocessor because the macro lives in a generated header whose location
/// varies (multiarch include dirs, vendored builds); a missing compiler just
/// means "no FIPS route" with a warning, never a failed build.
fn headers_define_openssl_fips() -> bool {
    // A cross build sets CC to its target compiler; "cc" is the host default.
    let compiler = env::var_os("CC").unwrap_or_else(|| OsString::from("cc"));
    let mut command = Command::new(&compiler);
    command.args(["-E", "-P", "-x", "c", "-"]);
    if let Some(dirs) = env::var_os("DEP_OPENSSL_INCLUDE") {
        for dir in env::split_paths(&dirs) {
            command.arg("-I").arg(dir);
        }
    }
    let child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => {
            println!(
                "cargo::warning=cannot run the C preprocessor {compiler:?} to look for OPENSSL_FIPS ({err}); assuming no FIPS support"
            );
            return false;
        }
    };
    // The marker survives preprocessing only when the macro is defined.
    let snippet = b"#include <openssl/opensslconf.h>\n#ifdef OPENSSL_FIPS\nmongossl_openssl_fips_is_defined\n#endif\n";
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(snippet))
        .transpose();
    let output = child.wait_with_output();
    match (written, output) {
        (Ok(_), Ok(output)) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).contains("mongossl_openssl_fips_is_defined")
        }
        (_, Ok(output)) => {
            println!(
                "cargo::warning=the C preprocessor could not read <openssl/opensslconf.h> ({}); assuming no FIPS support",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            false
        }
        (_, Err(err)) => {
            println!(
                "cargo::warning=the C preprocessor {compiler:?} failed ({err}); assuming no FIPS support"
            );
            false
        }
    }
}
