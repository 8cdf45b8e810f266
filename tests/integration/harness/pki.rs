//! A throwaway PKI made at test time with OpenSSL's builders: CAs, server
//! and client certificates in every state the tests need (valid, expired,
//! not yet valid, revoked, wrong purpose, other CA, self-signed, chained),
//! CRLs, and encrypted keys, written as PEM files into a temporary folder.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::symm::Cipher;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, CrlNumber, ExtendedKeyUsage, KeyUsage,
    SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{
    X509, X509Builder, X509Crl, X509CrlBuilder, X509NameBuilder, X509RevokedBuilder,
};

static SERIAL: AtomicU32 = AtomicU32::new(1000);

/// A key and its certificate.
pub struct Identity {
    pub key: PKey<Private>,
    pub cert: X509,
}

impl Identity {
    /// `key + cert` PEM, the form `--sslPEMKeyFile` takes.
    pub fn key_then_cert(&self) -> Vec<u8> {
        let mut pem = self.key.private_key_to_pem_pkcs8().expect("key pem");
        pem.extend(self.cert.to_pem().expect("cert pem"));
        pem
    }

    pub fn cert_then_key(&self) -> Vec<u8> {
        let mut pem = self.cert.to_pem().expect("cert pem");
        pem.extend(self.key.private_key_to_pem_pkcs8().expect("key pem"));
        pem
    }
}

/// What a certificate is for.
#[derive(Clone, Copy)]
pub enum Purpose {
    Ca,
    Server,
    Client,
}

/// Options of one certificate.
pub struct Spec<'a> {
    pub cn: &'a str,
    pub purpose: Purpose,
    /// Validity relative to now, in days.
    pub not_before_days: i64,
    pub not_after_days: i64,
    /// For a server: its only DNS name (instead of localhost and the
    /// loopback addresses).
    pub only_dns: Option<&'a str>,
    /// The full subject, in certificate order, instead of `O=mongossl tests,CN=cn`.
    pub subject: Option<&'a [(&'a str, &'a str)]>,
    /// A MongoDB roles extension (OID 1.3.6.1.4.1.34601.2.1.1) with this DER.
    pub mongodb_roles: Option<&'a [u8]>,
    /// An OCSP responder URL for the Authority Information Access extension.
    pub ocsp_url: Option<&'a str>,
    /// The TLS Feature extension asking for a stapled OCSP response (RFC 7633).
    pub must_staple: bool,
}

impl<'a> Spec<'a> {
    pub fn new(cn: &'a str, purpose: Purpose) -> Spec<'a> {
        Spec {
            cn,
            purpose,
            not_before_days: -1,
            not_after_days: 365,
            only_dns: None,
            subject: None,
            mongodb_roles: None,
            ocsp_url: None,
            must_staple: false,
        }
    }
}

pub fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
    PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey")
}

fn days(offset: i64) -> Asn1Time {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    Asn1Time::from_unix(now + offset * 86_400).expect("time")
}

pub fn rsa_key() -> PKey<Private> {
    PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa")).expect("pkey")
}

/// Issues a certificate; `issuer` None makes it self-signed.
pub fn issue(spec: &Spec, issuer: Option<&Identity>) -> Identity {
    issue_with_key(spec, issuer, ec_key())
}

/// Issues a certificate for a given key.
pub fn issue_with_key(spec: &Spec, issuer: Option<&Identity>, key: PKey<Private>) -> Identity {
    let mut name = X509NameBuilder::new().expect("name");
    let default = [("O", "mongossl tests"), ("CN", spec.cn)];
    for (field, value) in spec.subject.unwrap_or(&default) {
        name.append_entry_by_text(field, value).expect("name entry");
    }
    let name = name.build();
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("v3");
    let serial = BigNum::from_u32(SERIAL.fetch_add(1, Ordering::Relaxed)).expect("bn");
    let serial = Asn1Integer::from_bn(&serial).expect("serial");
    b.set_serial_number(&serial).expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&days(spec.not_before_days)).expect("nb");
    b.set_not_after(&days(spec.not_after_days)).expect("na");
    if let Some(der) = spec.mongodb_roles {
        let oid = openssl::asn1::Asn1Object::from_str("1.3.6.1.4.1.34601.2.1.1").expect("oid");
        let value = openssl::asn1::Asn1OctetString::new_from_bytes(der).expect("octets");
        let roles = openssl::x509::X509Extension::new_from_der(&oid, false, &value).expect("roles");
        b.append_extension(roles).expect("ext");
    }
    if let Some(url) = spec.ocsp_url {
        #[allow(deprecated)] // new_nid is the crate's way to a config-string AIA.
        let aia = openssl::x509::X509Extension::new_nid(
            None,
            None,
            Nid::INFO_ACCESS,
            &format!("OCSP;URI:{url}"),
        )
        .expect("aia");
        b.append_extension(aia).expect("ext");
    }
    if spec.must_staple {
        #[allow(deprecated)] // The crate has no Nid for it: its config name.
        let feature = openssl::x509::X509Extension::new(None, None, "tlsfeature", "status_request")
            .expect("tls feature");
        b.append_extension(feature).expect("ext");
    }
    match spec.purpose {
        Purpose::Ca => {
            b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
                .expect("ext");
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .expect("ku"),
            )
            .expect("ext");
        }
        Purpose::Server => {
            b.append_extension(BasicConstraints::new().build().expect("bc"))
                .expect("ext");
            b.append_extension(ExtendedKeyUsage::new().server_auth().build().expect("eku"))
                .expect("ext");
            let ctx = b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None);
            let san = match spec.only_dns {
                Some(name) => SubjectAlternativeName::new().dns(name).build(&ctx),
                None => SubjectAlternativeName::new()
                    .dns("localhost")
                    .ip("127.0.0.1")
                    .ip("::1")
                    .build(&ctx),
            }
            .expect("san");
            b.append_extension(san).expect("ext");
        }
        Purpose::Client => {
            b.append_extension(BasicConstraints::new().build().expect("bc"))
                .expect("ext");
            b.append_extension(ExtendedKeyUsage::new().client_auth().build().expect("eku"))
                .expect("ext");
        }
    }
    let ctx = b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None);
    let ski = SubjectKeyIdentifier::new().build(&ctx).expect("ski");
    b.append_extension(ski).expect("ext");
    if issuer.is_some() {
        let ctx = b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None);
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&ctx)
            .expect("aki");
        b.append_extension(aki).expect("ext");
    }
    let (issuer_name, signing_key) = match issuer {
        Some(i) => (i.cert.subject_name().to_owned().expect("name"), &i.key),
        None => (name.as_ref().to_owned().expect("name"), &key),
    };
    b.set_issuer_name(&issuer_name).expect("issuer");
    b.sign(signing_key, MessageDigest::sha256()).expect("sign");
    Identity {
        cert: b.build(),
        key,
    }
}

/// A CRL from `ca` revoking `revoked`, valid from/to the given day offsets.
pub fn crl(
    ca: &Identity,
    revoked: &[&X509],
    last_update_days: i64,
    next_update_days: i64,
) -> X509Crl {
    let mut b = X509CrlBuilder::new().expect("crl");
    b.set_issuer_name(ca.cert.subject_name()).expect("issuer");
    b.set_last_update(&days(last_update_days)).expect("last");
    b.set_next_update(&days(next_update_days)).expect("next");
    // A CRL names its issuer's key, as OpenSSL-made CRLs do.
    let scratch = X509Builder::new().expect("builder");
    let ctx = scratch.x509v3_context(Some(&ca.cert), None);
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&ctx)
        .expect("aki");
    b.append_extension(aki).expect("ext");
    let number = CrlNumber::new(BigNum::from_u32(1).expect("bn")).expect("crl number");
    b.append_extension(number.build().expect("ext"))
        .expect("ext");
    for cert in revoked {
        let mut r = X509RevokedBuilder::new().expect("revoked");
        r.set_serial_number(cert.serial_number()).expect("serial");
        r.set_revocation_date(&days(-1)).expect("date");
        b.add_revoked(r.build()).expect("add");
    }
    b.sign(&ca.key, MessageDigest::sha256()).expect("sign crl");
    b.build().expect("crl")
}

/// Every file the tests use, in one temporary folder.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: Identity,
    pub server: Identity,
    pub client: Identity,
}

pub const KEY_PASSWORD: &str = "correct horse battery staple";

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = issue(&Spec::new("Test CA", Purpose::Ca), None);
        let server = issue(&Spec::new("localhost", Purpose::Server), Some(&ca));
        let client = issue(&Spec::new("client", Purpose::Client), Some(&ca));
        let other_ca = issue(&Spec::new("Other CA", Purpose::Ca), None);
        let other_client = issue(&Spec::new("other-client", Purpose::Client), Some(&other_ca));
        let self_signed = issue(&Spec::new("self-signed-client", Purpose::Client), None);
        let expired = issue(
            &Spec {
                not_before_days: -30,
                not_after_days: -1,
                ..Spec::new("expired-client", Purpose::Client)
            },
            Some(&ca),
        );
        let not_yet_valid = issue(
            &Spec {
                not_before_days: 10,
                not_after_days: 100,
                ..Spec::new("future-client", Purpose::Client)
            },
            Some(&ca),
        );
        let revoked = issue(&Spec::new("revoked-client", Purpose::Client), Some(&ca));
        let server_as_client = issue(&Spec::new("server-only", Purpose::Server), Some(&ca));
        let intermediate = issue(&Spec::new("Intermediate CA", Purpose::Ca), Some(&ca));
        let intermediate_client = issue(
            &Spec::new("intermediate-client", Purpose::Client),
            Some(&intermediate),
        );
        let chained_server = issue(
            &Spec::new("localhost", Purpose::Server),
            Some(&intermediate),
        );
        let expired_server = issue(
            &Spec {
                not_before_days: -30,
                not_after_days: -1,
                ..Spec::new("localhost", Purpose::Server)
            },
            Some(&ca),
        );
        let future_server = issue(
            &Spec {
                not_before_days: 5,
                not_after_days: 100,
                ..Spec::new("localhost", Purpose::Server)
            },
            Some(&ca),
        );
        let expiring_server = issue(
            &Spec {
                not_after_days: 10,
                ..Spec::new("localhost", Purpose::Server)
            },
            Some(&ca),
        );

        let pki = Pki {
            dir,
            ca,
            server,
            client,
        };
        pki.write("ca.pem", &pki.ca.cert.to_pem().expect("pem"));
        pki.write("server.pem", &pki.server.key_then_cert());
        pki.write("server-cert-first.pem", &pki.server.cert_then_key());
        pki.write("client.pem", &pki.client.key_then_cert());
        pki.write("other-ca.pem", &other_ca.cert.to_pem().expect("pem"));
        pki.write("other-client.pem", &other_client.key_then_cert());
        pki.write("self-signed-client.pem", &self_signed.key_then_cert());
        pki.write("expired-client.pem", &expired.key_then_cert());
        pki.write("future-client.pem", &not_yet_valid.key_then_cert());
        pki.write("revoked-client.pem", &revoked.key_then_cert());
        pki.write("server-as-client.pem", &server_as_client.key_then_cert());
        let mut chain = chained_server.key_then_cert();
        chain.extend(intermediate.cert.to_pem().expect("pem"));
        pki.write("server-chain.pem", &chain);
        // A client certificate issued by the intermediate: the leaf alone,
        // and the intermediate for clients that send it along.
        pki.write(
            "intermediate-client.pem",
            &intermediate_client.key_then_cert(),
        );
        pki.write(
            "intermediate-ca.pem",
            &intermediate.cert.to_pem().expect("pem"),
        );
        let rsa_server = issue_with_key(
            &Spec::new("localhost", Purpose::Server),
            Some(&pki.ca),
            rsa_key(),
        );
        pki.write("server-rsa.pem", &rsa_server.key_then_cert());
        pki.write("expired-server.pem", &expired_server.key_then_cert());
        pki.write("future-server.pem", &future_server.key_then_cert());
        pki.write("expiring-server.pem", &expiring_server.key_then_cert());
        // Key of one certificate with another certificate.
        let mut mismatch = other_client.key.private_key_to_pem_pkcs8().expect("pem");
        mismatch.extend(pki.server.cert.to_pem().expect("pem"));
        pki.write("mismatch.pem", &mismatch);
        pki.write("cert-only.pem", &pki.server.cert.to_pem().expect("pem"));
        pki.write(
            "key-only.pem",
            &pki.server.key.private_key_to_pem_pkcs8().expect("pem"),
        );
        pki.write("empty.pem", b"");
        pki.write("garbage.pem", b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n");
        // Encrypted server keys: PKCS#8 and the traditional Proc-Type form.
        let mut pkcs8 = pki
            .server
            .key
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), KEY_PASSWORD.as_bytes())
            .expect("pkcs8");
        pkcs8.extend(pki.server.cert.to_pem().expect("pem"));
        pki.write("server-pkcs8-encrypted.pem", &pkcs8);
        let ec = pki.server.key.ec_key().expect("ec");
        let mut traditional = ec
            .private_key_to_pem_passphrase(Cipher::aes_256_cbc(), KEY_PASSWORD.as_bytes())
            .expect("traditional");
        traditional.extend(pki.server.cert.to_pem().expect("pem"));
        pki.write("server-traditional-encrypted.pem", &traditional);
        // CRLs: one revoking `revoked`, one that has expired.
        let good_crl = crl(&pki.ca, &[&revoked.cert], -1, 30);
        pki.write("crl.pem", &good_crl.to_pem().expect("pem"));
        let expired_crl = crl(&pki.ca, &[&revoked.cert], -10, -1);
        pki.write("expired-crl.pem", &expired_crl.to_pem().expect("pem"));
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).expect("write pem");
    }
}
