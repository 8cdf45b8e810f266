//! The FIPS part of `mongossl --version`: the OpenSSL linked and built
//! against, the route build.rs chose, and the route's view of its module.

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
        super::route::DESCRIPTION,
        super::route::module_status(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
