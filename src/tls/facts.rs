//! What a finished server-side handshake tells about the client, for
//! whoever passes it on to mongod (the PROXY v2 header): protocol, suite,
//! SNI, ALPN, and the client certificate's subject in mongod's spelling,
//! its common name, algorithms and MongoDB roles extension.

use openssl::asn1::Asn1Object;
use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::ssl::{NameType, SslRef};
use openssl::x509::{X509NameRef, X509Ref};

use super::ffi;

/// MongoDB's X.509 roles extension (mongod's `mongoRolesOID`).
pub const MONGODB_ROLES_OID: &str = "1.3.6.1.4.1.34601.2.1.1";

/// The TLS side of one client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFacts {
    /// `TLSv1.3`, as OpenSSL names it.
    pub version: &'static str,
    pub cipher: &'static str,
    /// The host name the client asked for (SNI).
    pub server_name: Option<String>,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    pub certificate: Option<ClientCertificate>,
}

/// The certificate a client presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// OpenSSL's verification result: 0 when it was verified, else why not
    /// (a client let in under `sslAllowInvalidCertificates`).
    pub verify_result: u32,
    pub common_name: Option<String>,
    /// The subject as an RFC 4514 string in mongod's order (the X.509 user
    /// name: `CN=client,OU=Kernel,O=MongoDB,...,C=US`).
    pub subject: String,
    /// The issuer, spelt as the subject is (for the audit log).
    pub issuer: String,
    /// The serial number in hex, as OpenSSL prints it.
    pub serial: String,
    /// `ecdsa-with-SHA256`, `RSA-SHA256`: OpenSSL's short name.
    pub signature_algorithm: String,
    /// `RSA2048`, `EC256`, `ED25519`.
    pub key_algorithm: String,
    /// The DER of the MongoDB roles extension, when it has one.
    pub mongodb_roles: Option<Vec<u8>>,
}

/// Reads the facts off a finished handshake.
pub fn of(ssl: &SslRef) -> TlsFacts {
    TlsFacts {
        version: ssl.version_str(),
        cipher: ssl.current_cipher().map_or("unknown", |c| c.name()),
        server_name: ssl.servername(NameType::HOST_NAME).map(str::to_string),
        alpn: ssl.selected_alpn_protocol().map(<[u8]>::to_vec),
        certificate: ssl.peer_certificate().map(|cert| ClientCertificate {
            verify_result: ssl.verify_result().as_raw() as u32,
            ..certificate(&cert)
        }),
    }
}

/// A certificate's names and algorithms (its verification is the caller's).
pub fn certificate(cert: &X509Ref) -> ClientCertificate {
    let common_name = cert
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok());
    let signature_algorithm = cert
        .signature_algorithm()
        .object()
        .nid()
        .short_name()
        .unwrap_or("unknown")
        .to_string();
    let key_algorithm = match cert.public_key() {
        Ok(key) => match key.id() {
            Id::RSA => format!("RSA{}", key.bits()),
            Id::EC => format!("EC{}", key.bits()),
            Id::DSA => format!("DSA{}", key.bits()),
            Id::ED25519 => "ED25519".to_string(),
            Id::ED448 => "ED448".to_string(),
            _ => format!("unknown{}", key.bits()),
        },
        Err(_) => "unknown".to_string(),
    };
    let mongodb_roles = Asn1Object::from_str(MONGODB_ROLES_OID)
        .ok()
        .and_then(|oid| ffi::extension_value(cert, &oid));
    ClientCertificate {
        verify_result: 0,
        common_name,
        subject: rfc4514(cert.subject_name()),
        issuer: rfc4514(cert.issuer_name()),
        serial: cert
            .serial_number()
            .to_bn()
            .and_then(|n| n.to_hex_str().map(|h| h.to_string()))
            .unwrap_or_default(),
        signature_algorithm,
        key_algorithm,
        mongodb_roles,
    }
}

/// A name as RFC 4514 writes it, last RDN first, as mongod spells the
/// X.509 user name; OpenSSL's short names for the attribute types.
pub fn rfc4514(name: &X509NameRef) -> String {
    let parts: Vec<String> = name
        .entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_default();
            format!("{key}={}", escape_value(&value))
        })
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// RFC 4514 section 2.4: the special characters get a backslash, a
/// leading `#` or space and a trailing space too, NUL becomes `\00`.
fn escape_value(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_in_mongods_order_and_escaping() {
        let (_, cert) = super::super::pem::self_signed(&[
            ("C", "US"),
            ("ST", "New York"),
            ("L", "New York City"),
            ("O", "MongoDB"),
            ("OU", "Kernel"),
            ("CN", "client"),
        ]);
        let facts = certificate(&cert);
        assert_eq!(
            facts.subject,
            "CN=client,OU=Kernel,O=MongoDB,L=New York City,ST=New York,C=US"
        );
        assert_eq!(facts.common_name.as_deref(), Some("client"));
        assert_eq!(facts.key_algorithm, "EC256");
        assert_eq!(facts.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(facts.mongodb_roles, None);
        let (_, odd) = super::super::pem::self_signed(&[("O", "A, B+C"), ("CN", " #x\\ ")]);
        assert_eq!(certificate(&odd).subject, "CN=\\ #x\\\\\\ ,O=A\\, B\\+C");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_value("#a#"), "\\#a#");
        assert_eq!(escape_value("a;b<c>\"d\""), "a\\;b\\<c\\>\\\"d\\\"");
        assert_eq!(escape_value("a\0b"), "a\\00b");
        assert_eq!(escape_value(""), "");
    }
}
