//! mongod's `disabledProtocols` list read into the TLS versions mongossl
//! offers. mongossl is stricter than mongod: TLS 1.0 and 1.1 stay off
//! whatever the list says, so the list can only narrow TLS 1.2 and 1.3.

/// The TLS versions offered to clients (1.0 and 1.1 never are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocols {
    pub tls1_2: bool,
    pub tls1_3: bool,
}

impl Default for Protocols {
    fn default() -> Protocols {
        Protocols {
            tls1_2: true,
            tls1_3: true,
        }
    }
}

/// What the list asked for, and a warning when it asked for more than
/// mongossl gives.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub protocols: Protocols,
    pub warning: Option<String>,
}

/// Reads mongod's comma-separated list: `TLS1_0`, `TLS1_1`, `TLS1_2`,
/// `TLS1_3`, the older `noTLS1_x` spellings mongod still takes, or `none`
/// alone (mongod's way of turning TLS 1.0 back on, which mongossl does not).
pub fn parse(list: &str) -> Result<Parsed, String> {
    let option = format!("--{}", super::table::SSL_DISABLED_PROTOCOLS.name);
    if list.trim() == "none" {
        return Ok(Parsed {
            protocols: Protocols::default(),
            warning: Some(format!(
                "{option} none: TLS 1.0 and 1.1 stay disabled in mongossl; TLS 1.2 and 1.3 are offered"
            )),
        });
    }
    let mut protocols = Protocols::default();
    for token in list.split(',').map(str::trim) {
        match token.strip_prefix("no").unwrap_or(token) {
            // Always off here; naming them is harmless.
            "TLS1_0" | "TLS1_1" => {}
            "TLS1_2" => protocols.tls1_2 = false,
            "TLS1_3" => protocols.tls1_3 = false,
            _ => {
                return Err(format!(
                    "{option}: unrecognized protocol '{token}' (expected TLS1_0, TLS1_1, TLS1_2, TLS1_3 or none)"
                ));
            }
        }
    }
    if !protocols.tls1_2 && !protocols.tls1_3 {
        return Err(format!(
            "{option} '{list}' disables every protocol mongossl offers (TLS 1.0 and 1.1 are always off)"
        ));
    }
    Ok(Parsed {
        protocols,
        warning: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(list: &str) -> (bool, bool) {
        let p = parse(list).expect("valid").protocols;
        (p.tls1_2, p.tls1_3)
    }

    #[test]
    fn old_protocols_are_always_off_and_may_be_named() {
        assert_eq!(offered("TLS1_0"), (true, true));
        assert_eq!(offered("TLS1_0,TLS1_1"), (true, true));
        assert_eq!(offered("noTLS1_0,noTLS1_1"), (true, true));
    }

    #[test]
    fn narrowing_to_one_version() {
        assert_eq!(offered("TLS1_0,TLS1_1,TLS1_2"), (false, true));
        assert_eq!(offered("TLS1_3"), (true, false));
        assert_eq!(offered(" TLS1_2 "), (false, true));
    }

    #[test]
    fn none_warns_that_old_protocols_stay_off() {
        let parsed = parse("none").expect("valid");
        assert_eq!(parsed.protocols, Protocols::default());
        assert!(parsed.warning.expect("warning").contains("stay disabled"));
    }

    #[test]
    fn refusals() {
        let all = parse("TLS1_2,TLS1_3").expect_err("everything");
        assert!(all.contains("disables every protocol"), "{all}");
        let unknown = parse("TLS1_2,SSL3").expect_err("unknown");
        assert!(unknown.contains("'SSL3'"), "{unknown}");
        assert!(parse("none,TLS1_0").is_err());
        assert!(parse("TLS1_2,").is_err());
        assert!(parse("").is_err());
    }
}
