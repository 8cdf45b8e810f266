//! `--sslAllowedClients`: the rule file of client identities that may
//! connect, read into indexes (hash sets, never a scan of the rules) and
//! matched against a verified client certificate: its whole subject
//! (with `*` for any value of an attribute), a DNS name, URI prefix or
//! e-mail address of its subjectAltName, or a SHA-256 pin of its public
//! key.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use openssl::x509::X509Ref;

use crate::config::table::SSL_ALLOWED_CLIENTS;
use crate::error::Error;

/// A subject as (attribute, value) pairs in RFC 4514 order (the most
/// specific first, as mongod prints it); attributes upper-cased.
type Subject = Vec<(String, String)>;

/// The shape of wildcard subject rules: their attributes in order, and
/// which of them are `*`.
type Shape = (Vec<String>, Vec<bool>);

/// The rules of one file, indexed by kind.
#[derive(Debug, Default)]
pub struct AllowList {
    file: PathBuf,
    rules: usize,
    subjects: HashSet<Subject>,
    /// Subjects with `*` values, grouped by which attributes they have and
    /// which are `*`: the set holds the rule values with `*`s left empty.
    wildcard_subjects: HashMap<Shape, HashSet<Vec<String>>>,
    dns_names: HashSet<String>,
    /// `*.example.net` rules, as `example.net`.
    dns_parents: HashSet<String>,
    /// URI prefixes, looked up by each length some prefix has.
    uri_prefixes: HashSet<String>,
    uri_prefix_lengths: BTreeSet<usize>,
    emails: HashSet<String>,
    spki_pins: HashSet<[u8; 32]>,
}

impl AllowList {
    /// Reads a rule file; an error names the file and the line.
    pub fn load(path: &Path) -> Result<AllowList, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            option: SSL_ALLOWED_CLIENTS.name,
            path: path.to_path_buf(),
            source,
        })?;
        AllowList::parse(path, &text)
            .map_err(|cause| Error::file(SSL_ALLOWED_CLIENTS.name, path, cause))
    }

    /// Parses rule text (one rule per line, `#` comments).
    pub fn parse(path: &Path, text: &str) -> Result<AllowList, String> {
        let mut list = AllowList {
            file: path.to_path_buf(),
            ..AllowList::default()
        };
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            list.add(line)
                .map_err(|why| format!("line {}: {why}", index + 1))?;
            list.rules += 1;
        }
        Ok(list)
    }

    fn add(&mut self, rule: &str) -> Result<(), String> {
        let Some((kind, value)) = rule.split_once('=') else {
            return Err(format!("expected KIND=VALUE, found '{rule}'"));
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("'{kind}=' needs a value"));
        }
        match kind.trim() {
            "subject" => self.add_subject(value)?,
            "san-dns" => {
                let name = value.to_ascii_lowercase();
                match name.strip_prefix("*.") {
                    Some(parent) if parent.contains('.') && !parent.contains('*') => {
                        self.dns_parents.insert(parent.to_string());
                    }
                    _ if name.contains('*') => {
                        return Err(format!(
                            "'{value}': a wildcard stands only as the whole first label (*.example.net)"
                        ));
                    }
                    _ => {
                        self.dns_names.insert(name);
                    }
                }
            }
            "san-uri" => {
                self.uri_prefix_lengths.insert(value.len());
                self.uri_prefixes.insert(value.to_string());
            }
            "san-email" => {
                if !value.contains('@') {
                    return Err(format!("'{value}' is not an e-mail address"));
                }
                self.emails.insert(value.to_ascii_lowercase());
            }
            "spki-sha256" => {
                let pin = openssl::base64::decode_block(value)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
                    .ok_or_else(|| {
                        format!("'{value}' is not the base64 of a SHA-256 digest (32 bytes)")
                    })?;
                self.spki_pins.insert(pin);
            }
            other => {
                return Err(format!(
                    "unknown rule kind '{other}' (subject, san-dns, san-uri, san-email, spki-sha256)"
                ));
            }
        }
        Ok(())
    }

    fn add_subject(&mut self, dn: &str) -> Result<(), String> {
        let subject = parse_dn(dn)?;
        let wild: Vec<bool> = subject.iter().map(|(_, v)| v == "*").collect();
        if !wild.contains(&true) {
            self.subjects.insert(subject);
            return Ok(());
        }
        let attributes = subject.iter().map(|(a, _)| a.clone()).collect();
        let values = subject
            .into_iter()
            .zip(&wild)
            .map(|((_, v), w)| if *w { String::new() } else { v })
            .collect();
        self.wildcard_subjects
            .entry((attributes, wild))
            .or_default()
            .insert(values);
        Ok(())
    }

    /// How many rules the file holds.
    pub fn len(&self) -> usize {
        self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Whether some rule admits this verified certificate; `Err` says why
    /// not, for the log.
    pub fn admits(&self, cert: &X509Ref) -> Result<(), String> {
        if self.admits_subject(cert) || self.admits_alt_name(cert) || self.admits_key(cert) {
            return Ok(());
        }
        Err(format!(
            "no rule of {} ({}) matches its subject, subjectAltName or public key",
            self.file.display(),
            SSL_ALLOWED_CLIENTS.name
        ))
    }

    fn admits_subject(&self, cert: &X509Ref) -> bool {
        if self.subjects.is_empty() && self.wildcard_subjects.is_empty() {
            return false;
        }
        let subject = certificate_subject(cert);
        if self.subjects.contains(&subject) {
            return true;
        }
        self.wildcard_subjects
            .iter()
            .any(|((attributes, wild), rules)| {
                attributes.len() == subject.len()
                    && attributes.iter().zip(&subject).all(|(a, (b, _))| a == b)
                    && rules.contains(
                        &subject
                            .iter()
                            .zip(wild)
                            .map(|((_, v), w)| if *w { String::new() } else { v.clone() })
                            .collect::<Vec<_>>(),
                    )
            })
    }

    fn admits_alt_name(&self, cert: &X509Ref) -> bool {
        let no_rules = self.dns_names.is_empty()
            && self.dns_parents.is_empty()
            && self.uri_prefixes.is_empty()
            && self.emails.is_empty();
        if no_rules {
            return false;
        }
        let Some(names) = cert.subject_alt_names() else {
            return false;
        };
        names.iter().any(|name| {
            if let Some(dns) = name.dnsname() {
                let dns = dns.to_ascii_lowercase();
                self.dns_names.contains(&dns)
                    || dns.split_once('.').is_some_and(|(label, parent)| {
                        !label.is_empty() && label != "*" && self.dns_parents.contains(parent)
                    })
            } else if let Some(uri) = name.uri() {
                self.uri_prefix_lengths.iter().any(|&len| {
                    uri.get(..len)
                        .is_some_and(|prefix| self.uri_prefixes.contains(prefix))
                })
            } else if let Some(email) = name.email() {
                self.emails.contains(&email.to_ascii_lowercase())
            } else {
                false
            }
        })
    }

    fn admits_key(&self, cert: &X509Ref) -> bool {
        if self.spki_pins.is_empty() {
            return false;
        }
        cert.public_key()
            .and_then(|key| key.public_key_to_der())
            .is_ok_and(|spki| self.spki_pins.contains(&openssl::sha::sha256(&spki)))
    }
}

/// A certificate's subject in RFC 4514 order.
fn certificate_subject(cert: &X509Ref) -> Subject {
    let mut subject: Subject = cert
        .subject_name()
        .entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_default();
            (key.to_ascii_uppercase(), value)
        })
        .collect();
    subject.reverse();
    subject
}

/// An RFC 4514 distinguished name (`CN=a\,b,O=MongoDB`): attributes split
/// at unescaped `,` (and `+`, a multi-valued part), values unescaped
/// (`\,`, `\+`, `\"`, `\\`, `\=`, and hex pairs such as `\2C`).
fn parse_dn(dn: &str) -> Result<Subject, String> {
    let mut parts = Vec::new();
    let mut current = Vec::<u8>::new();
    let mut bytes = dn.bytes().peekable();
    let mut split = |current: &mut Vec<u8>| -> Result<(), String> {
        let text = String::from_utf8(std::mem::take(current))
            .map_err(|_| format!("'{dn}' is not UTF-8 once unescaped"))?;
        parts.push(text);
        Ok(())
    };
    // An escaped `=` must not split an attribute from its value: mark it.
    const ESCAPED_EQUALS: u8 = 0;
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => match bytes.next() {
                Some(h)
                    if h.is_ascii_hexdigit() && bytes.peek().is_some_and(u8::is_ascii_hexdigit) =>
                {
                    let l = bytes.next().unwrap_or(b'0');
                    let pair = [h, l];
                    let text = std::str::from_utf8(&pair).unwrap_or("00");
                    current.push(u8::from_str_radix(text, 16).unwrap_or(0));
                }
                Some(b'=') => current.push(ESCAPED_EQUALS),
                Some(c) => current.push(c),
                None => return Err(format!("'{dn}' ends with a lone backslash")),
            },
            b',' | b'+' => split(&mut current)?,
            _ => current.push(b),
        }
    }
    split(&mut current)?;
    parts
        .into_iter()
        .map(|part| {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!("'{part}' in '{dn}' is not ATTRIBUTE=VALUE"));
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("'{part}' in '{dn}' has no attribute name"));
            }
            let value = value.trim().replace(char::from(ESCAPED_EQUALS), "=");
            Ok((key.to_ascii_uppercase(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::x509::X509;

    fn list(text: &str) -> AllowList {
        AllowList::parse(Path::new("allowed.txt"), text).expect("valid rules")
    }

    fn client(entries: &[(&str, &str)], sans: &[&str]) -> X509 {
        crate::tls::pem::test_certificate(entries, sans)
    }

    const KERNEL: &[(&str, &str)] = &[
        ("C", "US"),
        ("ST", "New York"),
        ("L", "New York City"),
        ("O", "MongoDB"),
        ("OU", "Kernel"),
        ("CN", "client1"),
    ];

    #[test]
    fn subjects_whole_and_with_wildcards() {
        let cert = client(KERNEL, &[]);
        let exact = list("subject=CN=client1,OU=Kernel,O=MongoDB,L=New York City,ST=New York,C=US");
        assert!(exact.admits(&cert).is_ok());
        let wild = list(
            "# any CN of Kernel\nsubject=CN=*,OU=Kernel,O=MongoDB,L=New York City,ST=New York,C=US",
        );
        assert!(wild.admits(&cert).is_ok());
        // A wildcard stands for a value, never for a missing attribute.
        let shorter = list("subject=CN=*,OU=Kernel,O=MongoDB");
        assert!(shorter.admits(&cert).is_err());
        let other_ou = list("subject=CN=*,OU=Drivers,O=MongoDB,L=New York City,ST=New York,C=US");
        let err = other_ou.admits(&cert).expect_err("other OU");
        assert!(err.contains("allowed.txt"), "{err}");
        // Attribute names are compared without case; order matters.
        assert!(
            list("subject=cn=client1,ou=Kernel,o=MongoDB,l=New York City,st=New York,c=US")
                .admits(&cert)
                .is_ok()
        );
        assert!(
            list("subject=OU=Kernel,CN=client1,O=MongoDB,L=New York City,ST=New York,C=US")
                .admits(&cert)
                .is_err()
        );
    }

    #[test]
    fn escaped_values() {
        let cert = client(&[("O", "Acme, Inc."), ("CN", "a+b=c")], &[]);
        assert!(
            list(r"subject=CN=a\+b\=c,O=Acme\, Inc.")
                .admits(&cert)
                .is_ok()
        );
        assert!(
            list(r"subject=CN=a\2Bb\3Dc,O=Acme\2C Inc.")
                .admits(&cert)
                .is_ok()
        );
    }

    #[test]
    fn alt_names() {
        let cert = client(
            &[("CN", "x")],
            &[
                "DNS:app1.prod.example.net",
                "URI:spiffe://example.net/ns/prod/sa/app1",
                "email:App1@Example.net",
            ],
        );
        for rule in [
            "san-dns=app1.prod.example.net",
            "san-dns=APP1.prod.example.net",
            "san-dns=*.prod.example.net",
            "san-uri=spiffe://example.net/ns/prod/",
            "san-uri=spiffe://example.net/ns/prod/sa/app1",
            "san-email=app1@example.net",
        ] {
            assert!(list(rule).admits(&cert).is_ok(), "{rule}");
        }
        for rule in [
            "san-dns=prod.example.net",
            // One label only.
            "san-dns=*.example.net",
            "san-uri=spiffe://example.net/ns/test/",
            "san-uri=spiffe://example.net/ns/prod/sa/app10",
            "san-email=app2@example.net",
        ] {
            assert!(list(rule).admits(&cert).is_err(), "{rule}");
        }
    }

    #[test]
    fn public_key_pins() {
        let cert = client(&[("CN", "pinned")], &[]);
        let spki = cert
            .public_key()
            .and_then(|k| k.public_key_to_der())
            .expect("spki");
        let pin = openssl::base64::encode_block(&openssl::sha::sha256(&spki));
        assert!(list(&format!("spki-sha256={pin}")).admits(&cert).is_ok());
        let other = client(&[("CN", "pinned")], &[]);
        assert!(list(&format!("spki-sha256={pin}")).admits(&other).is_err());
    }

    #[test]
    fn a_thousand_rules_are_indexed() {
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&format!(
                "subject=CN=client{i},O=MongoDB\nsan-dns=host{i}.example.net\n"
            ));
        }
        let rules = list(&text);
        assert_eq!(rules.len(), 2000);
        assert_eq!(rules.subjects.len(), 1000);
        assert!(
            rules
                .admits(&client(&[("O", "MongoDB"), ("CN", "client999")], &[]))
                .is_ok()
        );
        assert!(
            rules
                .admits(&client(&[("O", "MongoDB"), ("CN", "client1000")], &[]))
                .is_err()
        );
    }

    #[test]
    fn malformed_rules_name_the_line() {
        for (text, needle) in [
            ("# ok\n\nsubject", "line 3: expected KIND=VALUE"),
            ("san-dns=", "line 1: 'san-dns=' needs a value"),
            ("san-dns=a.*.example.net", "line 1: 'a.*.example.net'"),
            ("san-dns=*.net", "line 1: '*.net'"),
            ("san-email=nobody", "not an e-mail address"),
            ("spki-sha256=AAAA", "32 bytes"),
            ("subject=CN", "'CN' in 'CN' is not ATTRIBUTE=VALUE"),
            ("subject=CN=x\\", "lone backslash"),
            ("san-ip=127.0.0.1", "unknown rule kind 'san-ip'"),
        ] {
            let err = AllowList::parse(Path::new("a.txt"), text).expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
