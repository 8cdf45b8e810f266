//! Shared test equipment: the PKI, the mongossl process, and the network
//! peers (backends, a fake mongod, and TLS clients).

pub mod fips;
pub mod hello;
pub mod mongod;
pub mod net;
pub mod ocsp;
pub mod pki;
pub mod process;

use net::Backend;
use pki::Pki;
use process::Server;

/// mongossl with SSL on in front of `backend`, plus extra options.
pub fn tls_server(pki: &Pki, backend: &Backend, extra: &[&str]) -> Server {
    tls_server_with_pem(pki, backend, "server.pem", extra)
}

/// The same with another PEM key file of the PKI.
pub fn tls_server_with_pem(pki: &Pki, backend: &Backend, pem: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "--upstream".to_string(),
        backend.address(),
        "--sslOnNormalPorts".to_string(),
        "--sslPEMKeyFile".to_string(),
        pki.arg(pem),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Server::start(&args)
}
