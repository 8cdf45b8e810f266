//! The client side of TLS, one builder for every place mongossl is the
//! client: the tunnel role (`--client`, with the mongo shell's options)
//! and `mongossl check` (with the connection string's `tls*` options).
//! Both get the same protocol floor, FIPS suites when FIPS is on, a client
//! certificate, a CA file (or the system trust store), a CRL, and the
//! "allow invalid certificates" escape; host names are checked per
//! connection (see `handshake::Connecting`).

use std::path::Path;

use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;

use super::ffi;
use super::pem;
use super::server::{apply_protocol_policy, apply_tls13_suites, tls_error, use_identity};
use crate::config::table::{SSL_CA_FILE, SSL_CRL_FILE, SSL_PEM_KEY_FILE, SSL_PEM_KEY_PASSWORD};
use crate::config::{Password, TunnelSettings};
use crate::error::Error;
use crate::fips::FipsDecision;

/// A file given to the client side, with the option that named it (so an
/// error speaks the caller's language: `--sslCAFile` or `tlsCAFile=`).
#[derive(Clone, Copy)]
pub struct Named<'a> {
    pub option: &'static str,
    pub path: &'a Path,
}

/// What a client trusts and presents.
pub struct ClientTrust<'a> {
    /// The client certificate and key, with the option of its password.
    pub key_file: Option<(Named<'a>, Option<&'a Password>, &'static str)>,
    /// CAs the server certificate must chain to; `None`: the system's.
    pub ca_file: Option<Named<'a>>,
    pub crl_file: Option<Named<'a>>,
    /// Finish the handshake whatever the certificate (the result is still
    /// recorded, for a report or a warning).
    pub allow_invalid_certificates: bool,
    /// `tlsUseSystemCA`: the system's CAs besides those of the CA file.
    pub also_system_ca: bool,
    /// `opensslCipherSuiteConfig`: the TLS 1.3 suites to offer.
    pub tls13_suites: Option<&'a str>,
}

/// Builds a client context, after the FIPS decision.
pub fn build(trust: &ClientTrust, fips: &FipsDecision) -> Result<SslContext, Error> {
    let mut builder = SslContextBuilder::new(SslMethod::tls_client())
        .map_err(tls_error("creating the client SSL context"))?;
    apply_protocol_policy(&mut builder, fips.is_fips())?;
    apply_tls13_suites(&mut builder, trust.tls13_suites, fips.is_fips())?;
    if let Some((file, password, password_option)) = trust.key_file {
        let identity = pem::load_key_file(file.option, file.path, password, password_option)?;
        use_identity(&mut builder, &identity)?;
    }
    let mut store = X509StoreBuilder::new().map_err(tls_error("creating the CA store"))?;
    match trust.ca_file {
        Some(file) => {
            for ca in pem::load_ca_file(file.option, file.path)? {
                store
                    .add_cert(ca)
                    .map_err(tls_error("adding a CA certificate"))?;
            }
            if trust.also_system_ca {
                store
                    .set_default_paths()
                    .map_err(tls_error("loading the system trust store"))?;
            }
        }
        // The mongo shell's and the drivers' behaviour: without a CA
        // file, the system's.
        None => store
            .set_default_paths()
            .map_err(tls_error("loading the system trust store"))?,
    }
    if let Some(file) = trust.crl_file {
        let crls = pem::load_crl_file(file.option, file.path)?;
        ffi::add_crls(&mut store, &crls).map_err(tls_error("adding the revocation list"))?;
        store
            .set_flags(X509VerifyFlags::CRL_CHECK)
            .map_err(tls_error("enabling CRL checks"))?;
    }
    builder.set_cert_store(store.build());
    builder.set_verify(if trust.allow_invalid_certificates {
        SslVerifyMode::NONE
    } else {
        SslVerifyMode::PEER
    });
    Ok(builder.build())
}

/// The tunnel role's TLS: the client context and the name to verify.
#[derive(Clone)]
pub struct ClientContext {
    context: SslContext,
    /// The server's host as the operator wrote it (DNS name or IP).
    host: String,
    verify_hostname: bool,
}

impl ClientContext {
    pub fn new(context: SslContext, host: String, verify_hostname: bool) -> ClientContext {
        ClientContext {
            context,
            host,
            verify_hostname,
        }
    }

    pub(super) fn ssl_context(&self) -> &SslContext {
        &self.context
    }

    pub(super) fn host(&self) -> &str {
        &self.host
    }

    pub(super) fn verify_hostname(&self) -> bool {
        self.verify_hostname
    }
}

/// The tunnel's context from its settings (the mongo shell's options).
pub fn tunnel(settings: &TunnelSettings, fips: &FipsDecision) -> Result<ClientContext, Error> {
    fn named<'a>(option: &'static str, path: &'a Option<std::path::PathBuf>) -> Option<Named<'a>> {
        path.as_deref().map(|path| Named { option, path })
    }
    let params = &settings.parameters;
    // tlsWithholdClientCertificate: present none, even with a key file.
    let key_file = if params.withhold_client_certificate {
        &None
    } else {
        &settings.pem_key_file
    };
    let trust = ClientTrust {
        key_file: named(SSL_PEM_KEY_FILE.name, key_file).map(|file| {
            (
                file,
                settings.pem_key_password.as_ref(),
                SSL_PEM_KEY_PASSWORD.name,
            )
        }),
        ca_file: named(SSL_CA_FILE.name, &settings.ca_file),
        crl_file: named(SSL_CRL_FILE.name, &settings.crl_file),
        allow_invalid_certificates: settings.allow_invalid_certificates,
        also_system_ca: params.use_system_ca,
        tls13_suites: params.tls13_suites.as_deref(),
    };
    Ok(ClientContext::new(
        build(&trust, fips)?,
        settings.host.clone(),
        !settings.allow_invalid_hostnames,
    ))
}
