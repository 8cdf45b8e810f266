//! The client-side context of the tunnel role (`--client`): mongossl
//! connects with TLS to a remote SSL mongod or mongossl, with the mongo
//! shell's options — a client certificate, a CA (or the system trust
//! store), a CRL, and the two "allow invalid" escapes.

use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;

use super::pem;
use super::server::{apply_protocol_policy, tls_error};
use crate::config::TunnelSettings;
use crate::error::Error;
use crate::fips::FipsDecision;

/// Builds the tunnel's client context, after the FIPS decision.
pub fn build(settings: &TunnelSettings, fips: &FipsDecision) -> Result<SslContext, Error> {
    let mut builder = SslContextBuilder::new(SslMethod::tls_client())
        .map_err(tls_error("creating the client SSL context"))?;
    apply_protocol_policy(&mut builder, fips.is_fips())?;
    if let Some(path) = &settings.pem_key_file {
        let identity = pem::load_key_file(
            "sslPEMKeyFile",
            path,
            settings.pem_key_password.as_ref(),
            "sslPEMKeyPassword",
        )?;
        builder
            .set_private_key(&identity.key)
            .map_err(tls_error("using the client key"))?;
        builder
            .set_certificate(&identity.cert)
            .map_err(tls_error("using the client certificate"))?;
        for extra in identity.chain {
            builder
                .add_extra_chain_cert(extra)
                .map_err(tls_error("adding a chain certificate"))?;
        }
    }
    let mut store = X509StoreBuilder::new().map_err(tls_error("creating the CA store"))?;
    match &settings.ca_file {
        Some(path) => {
            for ca in pem::load_ca_file("sslCAFile", path)? {
                store
                    .add_cert(ca)
                    .map_err(tls_error("adding a CA certificate"))?;
            }
        }
        // The mongo shell's behaviour: without a CA file, the system's.
        None => store
            .set_default_paths()
            .map_err(tls_error("loading the system trust store"))?,
    }
    if let Some(path) = &settings.crl_file {
        let crls = pem::load_crl_file("sslCRLFile", path)?;
        pem::add_crls(&mut store, &crls).map_err(tls_error("adding the revocation list"))?;
        store
            .set_flags(X509VerifyFlags::CRL_CHECK)
            .map_err(tls_error("enabling CRL checks"))?;
    }
    builder.set_cert_store(store.build());
    builder.set_verify(if settings.allow_invalid_certificates {
        SslVerifyMode::NONE
    } else {
        SslVerifyMode::PEER
    });
    Ok(builder.build())
}
