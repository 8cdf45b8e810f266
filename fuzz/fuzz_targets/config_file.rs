//! Fuzzes the config-file parsers (mongod 2.4's `key = value` lines and
//! mongod's YAML, chosen by content as at start-up), the folding of twin
//! names, and validation: any text gives options or an error, never a
//! panic; an error of the line format names the line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mongossl::config::{file, options, validate};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match file::parse(&text) {
        Ok(read) => {
            if let Ok(mut raw) = options::fold_twins(read.raw) {
                mongossl_fuzz::without_name_lookups(&mut raw);
                let _ = validate(&raw);
            }
        }
        Err(message) if !file::is_yaml(&text) => {
            assert!(message.starts_with("line "), "{message}")
        }
        Err(_) => {}
    }
});
