//! Fuzzes the config-file parser (mongod 2.4's `key = value` format) and
//! the validation of what it yields: any text gives options or an error
//! naming a line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match mongossl::config::file::parse(&text) {
        Ok(mut raw) => {
            mongossl_fuzz::without_name_lookups(&mut raw);
            let _ = mongossl::config::validate(&raw);
        }
        Err(message) => assert!(message.starts_with("line "), "{message}"),
    }
});
