//! Loading the PEM files mongod's SSL options name (key file, CA file,
//! CRL file), with an error for each way they can be wrong that names the
//! option, the file and the cause.

use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509Crl};

use crate::config::Password;
use crate::error::{Error, describe_openssl};

/// The server's identity from `--sslPEMKeyFile`.
pub struct KeyAndChain {
    pub key: PKey<Private>,
    /// The certificate that matches the key.
    pub cert: X509,
    /// The other certificates of the file, sent to clients as the chain.
    pub chain: Vec<X509>,
}

/// Days before expiry at which `mongossl check` warns (mongod's default
/// `tlsX509ExpirationWarningThresholdDays`; the server takes the parameter).
pub const EXPIRY_WARNING_DAYS: u32 = 30;

fn read(option: &'static str, path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        option,
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::file(option, path, "the file is empty"));
    }
    Ok(bytes)
}

fn certificates(option: &'static str, path: &Path, pem: &[u8]) -> Result<Vec<X509>, Error> {
    let certs = X509::stack_from_pem(pem).map_err(|e| {
        Error::file(
            option,
            path,
            format!("malformed certificate: {}", describe_openssl(&e)),
        )
    })?;
    if certs.is_empty() {
        return Err(Error::file(
            option,
            path,
            "no certificate found (expected a '-----BEGIN CERTIFICATE-----' block)",
        ));
    }
    Ok(certs)
}

/// Whether the PEM text holds an encrypted private key, in the PKCS#8 or
/// the traditional `Proc-Type: 4,ENCRYPTED` form.
fn key_is_encrypted(text: &str) -> bool {
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

/// Loads key and certificates, in either order, from one PEM file.
pub fn load_key_file(
    option: &'static str,
    path: &Path,
    password: Option<&Password>,
    password_option: &'static str,
) -> Result<KeyAndChain, Error> {
    let pem = read(option, path)?;
    let text = String::from_utf8_lossy(&pem);
    if !text.contains("PRIVATE KEY-----") {
        return Err(Error::file(
            option,
            path,
            "no private key found (the file must hold the private key and the certificate, e.g. 'cat server.key server.crt > server.pem')",
        ));
    }
    let encrypted = key_is_encrypted(&text);
    if encrypted && password.is_none() {
        return Err(Error::file(
            option,
            path,
            format!("the private key is encrypted: give its password with --{password_option}"),
        ));
    }
    // The callback form never falls back to OpenSSL's terminal prompt.
    let key = PKey::private_key_from_pem_callback(&pem, |buf| {
        let secret = password.map(Password::as_bytes).unwrap_or_default();
        if secret.len() > buf.len() {
            return Ok(0);
        }
        buf[..secret.len()].copy_from_slice(secret);
        Ok(secret.len())
    })
    .map_err(|e| {
        let text_reasons = describe_openssl(&e);
        let traditional = text.contains("Proc-Type: 4,ENCRYPTED");
        let cause = if traditional && text_reasons.contains("unsupported") {
            // FIPS mode has no MD5, which the traditional form's key
            // derivation needs: the password is not the problem.
            format!(
                "the private key uses traditional PEM encryption (an MD5-based key derivation), which FIPS mode does not allow; convert it to PKCS#8: openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 ({text_reasons})"
            )
        } else if encrypted {
            format!(
                "cannot decrypt the private key: wrong --{password_option}? ({})",
                describe_openssl(&e)
            )
        } else {
            format!("malformed private key: {}", describe_openssl(&e))
        };
        Error::file(option, path, cause)
    })?;
    let mut certs = certificates(option, path, &pem)?;
    let leaf_index = certs
        .iter()
        .position(|c| c.public_key().is_ok_and(|pk| pk.public_eq(&key)))
        .ok_or_else(|| {
            Error::file(
                option,
                path,
                "the private key does not match the certificate",
            )
        })?;
    let cert = certs.remove(leaf_index);
    Ok(KeyAndChain {
        key,
        cert,
        chain: certs,
    })
}

/// How a certificate's validity period stands today.
#[derive(Debug, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Expired,
    NotYetValid,
}

/// Checks a certificate's dates against the clock.
pub fn validity(cert: &X509) -> Result<Validity, openssl::error::ErrorStack> {
    let now = Asn1Time::days_from_now(0)?;
    if cert.not_before() > now {
        return Ok(Validity::NotYetValid);
    }
    if cert.not_after() < now {
        return Ok(Validity::Expired);
    }
    Ok(Validity::Valid)
}

/// Loads the CA certificates of `--sslCAFile`.
pub fn load_ca_file(option: &'static str, path: &Path) -> Result<Vec<X509>, Error> {
    let pem = read(option, path)?;
    certificates(option, path, &pem)
}

/// Loads every CRL of `--sslCRLFile`.
pub fn load_crl_file(option: &'static str, path: &Path) -> Result<Vec<X509Crl>, Error> {
    let pem = read(option, path)?;
    let text = String::from_utf8_lossy(&pem);
    const BEGIN: &str = "-----BEGIN X509 CRL-----";
    let blocks: Vec<&str> = text.split(BEGIN).skip(1).collect();
    if blocks.is_empty() {
        return Err(Error::file(
            option,
            path,
            "no revocation list found (expected a '-----BEGIN X509 CRL-----' block)",
        ));
    }
    blocks
        .iter()
        .map(|block| {
            X509Crl::from_pem(format!("{BEGIN}{block}").as_bytes()).map_err(|e| {
                Error::file(
                    option,
                    path,
                    format!("malformed revocation list: {}", describe_openssl(&e)),
                )
            })
        })
        .collect()
}

/// A distinguished name in RFC 2253 order, as mongod logs subjects.
pub fn describe_name(name: &openssl::x509::X509NameRef) -> String {
    let parts: Vec<String> = name
        .entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_else(|_| "?".to_string());
            format!("{key}={value}")
        })
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// A throwaway P-256 key and self-signed certificate named by `entries`
/// (`[("O", "Test"), ("CN", "client")]`), for unit tests.
#[cfg(test)]
pub(crate) fn self_signed(entries: &[(&str, &str)]) -> (PKey<Private>, X509) {
    self_signed_with(entries, &[])
}

/// A test certificate named by `entries`, with these subjectAltNames
/// (`"DNS:a.example.net"`, `"URI:spiffe://..."`, `"email:a@b"`).
#[cfg(test)]
pub(crate) fn test_certificate(entries: &[(&str, &str)], sans: &[&str]) -> X509 {
    self_signed_with(entries, sans).1
}

#[cfg(test)]
fn self_signed_with(entries: &[(&str, &str)], sans: &[&str]) -> (PKey<Private>, X509) {
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::x509::X509NameBuilder;
    use openssl::x509::extension::SubjectAlternativeName;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    for (field, value) in entries {
        name.append_entry_by_text(field, value).expect("name entry");
    }
    let name = name.build();
    let mut cert = X509::builder().expect("builder");
    cert.set_subject_name(&name).expect("subject");
    cert.set_issuer_name(&name).expect("issuer");
    cert.set_pubkey(&key).expect("pubkey");
    cert.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("not before");
    cert.set_not_after(&Asn1Time::days_from_now(30).expect("later"))
        .expect("not after");
    if !sans.is_empty() {
        let mut alt = SubjectAlternativeName::new();
        for san in sans {
            match san.split_once(':') {
                Some(("DNS", v)) => alt.dns(v),
                Some(("URI", v)) => alt.uri(v),
                Some(("email", v)) => alt.email(v),
                _ => panic!("unknown SAN {san}"),
            };
        }
        let ext = alt.build(&cert.x509v3_context(None, None)).expect("SAN");
        cert.append_extension(ext).expect("append SAN");
    }
    cert.sign(&key, MessageDigest::sha256()).expect("sign");
    (key, cert.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_both_encrypted_forms() {
        assert!(key_is_encrypted("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        assert!(key_is_encrypted(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        ));
        assert!(!key_is_encrypted("-----BEGIN PRIVATE KEY-----\n"));
    }
}
