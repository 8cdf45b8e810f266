//! OCSP for the tests: certificates of the test CA that name a responder
//! (good, revoked, unknown to it, pointing at a responder that is down or
//! one that never answers), and a real `openssl ocsp` responder serving
//! the CA's index, killed on drop.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use openssl::x509::X509;

use super::pki::{Identity, Pki, Purpose, Spec, issue};

/// A port nothing listens on at the moment (bound, read, released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The OCSP side of a test PKI, its PEM files written into `pki`'s folder:
/// `ocsp-good.pem`, `ocsp-revoked.pem`, `ocsp-unknown.pem` (clients whose
/// responder is `port`), `ocsp-down.pem` (a responder port where nothing
/// listens), `ocsp-stall.pem` (a listener that never answers), and `ocsp-server.pem` / `ocsp-must-staple.pem` (server
/// identities for stapling).
pub struct OcspPki {
    /// Where the leaves' responder listens.
    port: u16,
    index: String,
}

/// The index line of one certificate: `V`alid, or `R`evoked since 2025.
fn index_line(cert: &X509, revoked: bool) -> String {
    let serial = cert.serial_number().to_bn().expect("bn");
    let serial = serial.to_hex_str().expect("hex");
    // The index refuses two lines with one subject.
    let subject = format!("/CN={serial}");
    if revoked {
        format!("R\t351231235959Z\t251201000000Z,keyCompromise\t{serial}\tunknown\t{subject}\n")
    } else {
        format!("V\t351231235959Z\t\t{serial}\tunknown\t{subject}\n")
    }
}

impl OcspPki {
    pub fn new(pki: &Pki) -> OcspPki {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/");
        let down = format!("http://127.0.0.1:{}/", free_port());
        let stall = TcpListener::bind("127.0.0.1:0").expect("bind");
        let stall_port = stall.local_addr().expect("addr").port();
        hold_connections(stall);
        let stall_url = format!("http://127.0.0.1:{stall_port}/");
        let leaf = |cn: &str, purpose: Purpose, url: &str, must_staple: bool| -> Identity {
            let spec = Spec {
                ocsp_url: Some(url),
                must_staple,
                ..Spec::new(cn, purpose)
            };
            issue(&spec, Some(&pki.ca))
        };
        let good = leaf("ocsp-good", Purpose::Client, &url, false);
        let revoked = leaf("ocsp-revoked", Purpose::Client, &url, false);
        let unknown = leaf("ocsp-unknown", Purpose::Client, &url, false);
        let down_client = leaf("ocsp-down", Purpose::Client, &down, false);
        let stall_client = leaf("ocsp-stall", Purpose::Client, &stall_url, false);
        let server = leaf("localhost", Purpose::Server, &url, false);
        let must_staple = leaf("localhost", Purpose::Server, &url, true);
        let must_staple_down = leaf("localhost", Purpose::Server, &down, true);
        for (name, identity) in [
            ("ocsp-good.pem", &good),
            ("ocsp-revoked.pem", &revoked),
            ("ocsp-unknown.pem", &unknown),
            ("ocsp-down.pem", &down_client),
            ("ocsp-stall.pem", &stall_client),
            ("ocsp-server.pem", &server),
            ("ocsp-must-staple.pem", &must_staple),
            ("ocsp-must-staple-down.pem", &must_staple_down),
        ] {
            pki.write(name, &identity.key_then_cert());
        }
        pki.write("ocsp-signer.pem", &pki.ca.key_then_cert());
        let mut index = String::new();
        for (cert, revoked) in [
            (&good.cert, false),
            (&revoked.cert, true),
            (&server.cert, false),
            (&must_staple.cert, false),
        ] {
            index.push_str(&index_line(cert, revoked));
        }
        OcspPki { port, index }
    }

    /// Starts the responder on `port`, signing with the CA itself.
    pub fn start_responder(&self, pki: &Pki) -> Responder {
        pki.write("ocsp-index.txt", self.index.as_bytes());
        Responder::start(pki, self.port).expect("openssl ocsp did not start")
    }
}

/// Accepts connections and keeps them open, unanswered, for a minute: a
/// responder that hangs.
fn hold_connections(listener: TcpListener) {
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            match stream {
                Ok(stream) => held.push(stream),
                Err(_) => break,
            }
        }
        thread::sleep(Duration::from_secs(60));
    });
}

/// A running `openssl ocsp` responder.
pub struct Responder {
    child: Child,
}

impl Responder {
    fn start(pki: &Pki, port: u16) -> Option<Responder> {
        let mut child = Command::new("openssl")
            .arg("ocsp")
            .arg("-index")
            .arg(pki.path("ocsp-index.txt"))
            .args(["-port", &port.to_string()])
            .arg("-rsigner")
            .arg(pki.path("ocsp-signer.pem"))
            .arg("-rkey")
            .arg(pki.path("ocsp-signer.pem"))
            .arg("-CA")
            .arg(pki.path("ca.pem"))
            .args(["-nmin", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run the openssl command");
        // Ready once it says so on stderr (it serves one connection at a
        // time, so probing with a connection could stall it). The thread
        // drains stderr after, so the responder never blocks on a pipe.
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready, is_ready) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("waiting for OCSP client connections") {
                    let _ = ready.send(());
                }
            }
        });
        let responder = Responder { child };
        is_ready.recv_timeout(Duration::from_secs(5)).ok()?;
        Some(responder)
    }

    /// Stops it (a responder that went down); dropping it does the work.
    pub fn stop(self) {}
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
