//! Fuzzes the command-line parser (getopts with mongod's option names)
//! and validation: NUL-separated arguments give options or an error,
//! never a panic, and a refusal never repeats a key password.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret-password";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut args: Vec<String> = text.split('\0').map(str::to_string).collect();
    // A password somewhere in the line: no error may show it.
    args.push("--sslPEMKeyPassword".to_string());
    args.push(SECRET.to_string());
    let raw = match mongossl::config::options::from_args(&args) {
        Ok(raw) => raw,
        Err(e) => {
            assert!(!e.to_string().contains(SECRET), "{e}");
            return;
        }
    };
    let mut raw = raw;
    mongossl_fuzz::without_name_lookups(&mut raw);
    if let Err(e) = mongossl::config::validate(&raw) {
        assert!(!e.to_string().contains(SECRET), "{e}");
    }
});
