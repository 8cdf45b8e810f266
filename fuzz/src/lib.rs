//! Equipment shared by the fuzz targets: a throwaway server identity, the
//! server's real TLS context built from it, and option values made safe
//! to validate (no name resolution) from arbitrary input.

use std::path::PathBuf;
use std::sync::OnceLock;

use mongossl::config::SslSettings;
use mongossl::config::raw::RawOptions;
use mongossl::tls::server::ServerTls;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509Builder, X509NameBuilder};

/// A PEM file with a fresh P-256 key and a self-signed certificate for
/// `localhost`, written once per process into the temp folder.
pub fn identity_pem() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
        let key = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "localhost").expect("cn");
        let name = name.build();
        let mut b = X509Builder::new().expect("builder");
        b.set_version(2).expect("version");
        let serial = BigNum::from_u32(1).and_then(|n| n.to_asn1_integer());
        b.set_serial_number(&serial.expect("serial"))
            .expect("serial");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
            .expect("nb");
        b.set_not_after(&Asn1Time::days_from_now(365).expect("later"))
            .expect("na");
        b.sign(&key, MessageDigest::sha256()).expect("sign");
        let mut pem = key.private_key_to_pem_pkcs8().expect("key pem");
        pem.extend(b.build().to_pem().expect("cert pem"));
        let path = std::env::temp_dir().join(format!("mongossl-fuzz-{}.pem", std::process::id()));
        std::fs::write(&path, pem).expect("write pem");
        // Keep the key private, or mongossl warns about it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    })
    .clone()
}

/// The server's TLS context (one copy), exactly as `mongossl` builds it.
pub fn server_tls() -> ServerTls {
    let settings = SslSettings {
        pem_key_file: identity_pem(),
        pem_key_password: None,
        ca_file: None,
        crl_file: None,
        weak_cert_validation: false,
        allow_invalid_certificates: false,
        protocols: Default::default(),
        cipher_config: None,
        session_tickets: 0,
        allowed_clients: None,
        ocsp_require: false,
        parameters: Default::default(),
    };
    let fips = mongossl::fips::decide(None).expect("no FIPS");
    mongossl::tls::server::build(&settings, &fips, 1).expect("server context")
}

/// Replaces an `upstream` value that would need a name lookup: fuzzing
/// must not wait on DNS. Numeric addresses and socket paths stay.
pub fn without_name_lookups(raw: &mut RawOptions) {
    if let Some(upstream) = raw.get_mut("upstream") {
        let numeric = upstream.parse::<std::net::SocketAddr>().is_ok();
        if !numeric && !upstream.contains('/') {
            *upstream = "127.0.0.1:1".to_string();
        }
    }
}
