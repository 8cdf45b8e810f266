//! Test fixtures: a throwaway PKI made with the openssl crate, and a real
//! `openssl ocsp` responder process serving it (killed on drop).

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use openssl::x509::{X509, X509Builder, X509Extension, X509NameBuilder};
use tempfile::TempDir;

/// A certificate and its key.
pub struct Identity {
    pub cert: X509,
    pub key: PKey<Private>,
}

pub const GOOD_SERIAL: u32 = 0x1001;
pub const REVOKED_SERIAL: u32 = 0x1002;
/// Issued by the CA but absent from the responder's index.
pub const UNKNOWN_SERIAL: u32 = 0x1003;
/// Issued by the intermediate CA, good.
pub const LOWER_SERIAL: u32 = 0x1004;

pub struct Pki {
    pub ca: Identity,
    /// Issued by the CA with extendedKeyUsage OCSPSigning.
    pub delegate: Identity,
    /// Issued by the CA without the OCSP-signing EKU.
    pub no_eku: Identity,
    /// Self-signed, unrelated to the CA.
    pub stranger: Identity,
    /// A CA the root issued, which signs its own OCSP answers.
    pub intermediate: Identity,
    pub good: X509,
    pub revoked: X509,
    pub unknown: X509,
    /// Issued by the intermediate.
    pub lower: X509,
    /// The responder's port, written into the leaves' AIA extension.
    pub port: u16,
    pub dir: TempDir,
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// Builds a certificate for `cn`, signed by `issuer` (self-signed if None).
fn cert(
    cn: &str,
    serial: u32,
    key: &PKey<Private>,
    issuer: Option<&Identity>,
    extensions: Vec<X509Extension>,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let serial = Asn1Integer::from_bn(&BigNum::from_u32(serial).unwrap()).unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    match issuer {
        Some(issuer) => b.set_issuer_name(issuer.cert.subject_name()).unwrap(),
        None => b.set_issuer_name(&name).unwrap(),
    }
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    for extension in extensions {
        b.append_extension(extension).unwrap();
    }
    let signer = issuer.map_or(key, |i| &i.key);
    b.sign(signer, MessageDigest::sha256()).unwrap();
    b.build()
}

fn identity(cn: &str, serial: u32, issuer: Option<&Identity>, ext: Vec<X509Extension>) -> Identity {
    let key = key();
    let cert = cert(cn, serial, &key, issuer, ext);
    Identity { cert, key }
}

/// A port nothing listens on at the moment (bound, read, released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Pki {
    pub fn new() -> Pki {
        let port = free_port();
        let ca_ext = vec![
            BasicConstraints::new().critical().ca().build().unwrap(),
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .digital_signature()
                .build()
                .unwrap(),
        ];
        let ca = identity("Test OCSP CA", 1, None, ca_ext);
        let ocsp_eku = || {
            ExtendedKeyUsage::new()
                .other("OCSPSigning")
                .build()
                .unwrap()
        };
        let delegate = identity("delegate", 0x2001, Some(&ca), vec![ocsp_eku()]);
        let no_eku = identity("no-eku", 0x2002, Some(&ca), Vec::new());
        let stranger = identity("stranger", 0x2003, None, vec![ocsp_eku()]);
        let ca_ext = vec![
            BasicConstraints::new().critical().ca().build().unwrap(),
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .digital_signature()
                .build()
                .unwrap(),
        ];
        let intermediate = identity("Test OCSP Intermediate", 2, Some(&ca), ca_ext);
        let leaf = |cn: &str, serial: u32, issuer: &Identity| {
            #[allow(deprecated)] // new_nid is the crate's way to a config-string AIA.
            let aia = X509Extension::new_nid(
                None,
                None,
                Nid::INFO_ACCESS,
                &format!("OCSP;URI:http://127.0.0.1:{port}/"),
            )
            .unwrap();
            cert(cn, serial, &key(), Some(issuer), vec![aia])
        };
        let good = leaf("good", GOOD_SERIAL, &ca);
        let revoked = leaf("revoked", REVOKED_SERIAL, &ca);
        let unknown = leaf("unknown", UNKNOWN_SERIAL, &ca);
        let lower = leaf("lower", LOWER_SERIAL, &intermediate);
        let dir = tempfile::tempdir().unwrap();
        let index = format!(
            "V\t351231235959Z\t\t{GOOD_SERIAL:04X}\tunknown\t/CN=good\n\
             R\t351231235959Z\t251201000000Z,keyCompromise\t{REVOKED_SERIAL:04X}\tunknown\t/CN=revoked\n\
             V\t351231235959Z\t\t{LOWER_SERIAL:04X}\tunknown\t/CN=lower\n"
        );
        fs::write(dir.path().join("index.txt"), index).unwrap();
        // The responder answers for every CA in its -CA file.
        let mut cas = ca.cert.to_pem().unwrap();
        cas.extend(intermediate.cert.to_pem().unwrap());
        fs::write(dir.path().join("ca.pem"), cas).unwrap();
        Pki {
            ca,
            delegate,
            no_eku,
            stranger,
            intermediate,
            good,
            revoked,
            unknown,
            lower,
            port,
            dir,
        }
    }
}

/// A running `openssl ocsp` responder.
pub struct Responder {
    child: Child,
    pub url: String,
}

impl Responder {
    /// Starts a responder signing with `signer` on the port in the PKI's
    /// leaves when that is free, else on another one (see `url`).
    pub fn start(pki: &Pki, signer: &Identity) -> Responder {
        Self::start_on(pki, signer, pki.port)
            .or_else(|| Self::start_on(pki, signer, free_port()))
            .expect("openssl ocsp did not start")
    }

    /// Starts a responder on a port of its own, not the leaves' AIA port.
    pub fn start_elsewhere(pki: &Pki, signer: &Identity) -> Responder {
        (0..3)
            .find_map(|_| Self::start_on(pki, signer, free_port()))
            .expect("openssl ocsp did not start")
    }

    fn start_on(pki: &Pki, signer: &Identity, port: u16) -> Option<Responder> {
        let dir = pki.dir.path();
        let (cert, key) = write_signer(dir, signer);
        let mut child = Command::new("openssl")
            .arg("ocsp")
            .arg("-index")
            .arg(dir.join("index.txt"))
            .args(["-port", &port.to_string()])
            .arg("-rsigner")
            .arg(cert)
            .arg("-rkey")
            .arg(key)
            .arg("-CA")
            .arg(dir.join("ca.pem"))
            .args(["-nmin", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run the openssl command");
        // Ready once it says so on stderr. (Probing with an empty
        // connection would stall it: it serves one connection at a time
        // and waits on that one for a request.) The thread drains stderr
        // after, so the responder never blocks on a full pipe.
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready, is_ready) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("waiting for OCSP client connections") {
                    let _ = ready.send(());
                }
            }
        });
        let responder = Responder {
            child,
            url: format!("http://127.0.0.1:{port}/"),
        };
        // A dropped sender (the process exited: most likely the port was
        // taken) or no word within 5 s is a failure to start.
        is_ready.recv_timeout(Duration::from_secs(5)).ok()?;
        Some(responder)
    }
}

fn write_signer(dir: &Path, signer: &Identity) -> (std::path::PathBuf, std::path::PathBuf) {
    let name = format!("{}", signer.cert.serial_number().to_bn().unwrap());
    let cert = dir.join(format!("signer-{name}.pem"));
    let key = dir.join(format!("signer-{name}.key"));
    fs::write(&cert, signer.cert.to_pem().unwrap()).unwrap();
    fs::write(&key, signer.key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (cert, key)
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
