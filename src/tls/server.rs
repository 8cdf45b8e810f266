//! Builds the server-side `SslContext` from mongod's SSL options: the key
//! and chain, the protocol and cipher policy (mongod's defaults or
//! stricter, narrowed by `sslDisabledProtocols` and `sslCipherConfig`), and
//! client-certificate verification against the CA and CRL.

use openssl::dh::Dh;
use openssl::nid::Nid;
use openssl::pkey::Params;
use openssl::ssl::{
    SslCipherRef, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslVerifyMode,
    SslVersion,
};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509Name, X509PurposeId};

use std::sync::Arc;

use super::allow_list::AllowList;
use super::expiry::{ExpiryWatch, unix_time};
use super::ffi::{self, TICKET_KEYS_LEN};
use super::pem::{self, Validity};
use super::policy::PeerPolicy;
use crate::config::SslSettings;
use crate::config::protocols::Protocols;
use crate::config::table::{SSL_CA_FILE, SSL_CRL_FILE, SSL_PEM_KEY_FILE, SSL_PEM_KEY_PASSWORD};
use crate::error::Error;
use crate::fips::FipsDecision;

/// TLS 1.2 suites: ECDHE with AEAD only (no anonymous, NULL, export, RC4,
/// 3DES or CBC), ECDSA before RSA, AES-128 first for speed.
const TLS12_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
/// FIPS 140-2 approves AES-GCM only.
const TLS12_CIPHERS_FIPS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
const TLS13_SUITES: &str =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
const TLS13_SUITES_FIPS: &str = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";
/// X25519 first: the cheapest key exchange on this kind of CPU.
const GROUPS: &str = "X25519:P-256:P-384";
/// OpenSSL 3.0's FIPS provider still offers X25519/X448, which FIPS 140-2
/// does not approve: name the NIST curves only.
const GROUPS_FIPS: &str = "P-256:P-384:P-521";

/// OpenSSL's read buffer with read-ahead: one `recv` takes several
/// records (and a record's header with its body) instead of two per record.
const READ_BUFFER_LEN: usize = 64 * 1024;
/// One event loop's server side: its own context (loops share no OpenSSL
/// locks) and the rules its clients are judged by.
#[derive(Clone)]
pub struct ServerContext {
    context: SslContext,
    /// Shared by every loop's context of one build (and by each
    /// handshake begun with it).
    policy: Arc<PeerPolicy>,
}

impl ServerContext {
    pub(super) fn ssl_context(&self) -> &SslContext {
        &self.context
    }

    /// The client rules; a handshake copies them when it starts, so a
    /// reload never changes the rules under a handshake in progress.
    pub fn policy(&self) -> Arc<PeerPolicy> {
        Arc::clone(&self.policy)
    }
}

/// Ready server contexts (one per event loop) and what the log should say
/// about them.
pub struct ServerTls {
    pub contexts: Vec<ServerContext>,
    pub certificate_subject: String,
    pub certificate_expiry: String,
    /// The certificate's notAfter as Unix time (for the metrics).
    pub certificate_not_after: i64,
    /// Revoked certificates imported from the CRL file, if one was given.
    pub revoked_count: Option<usize>,
    /// Rules in the `--sslAllowedClients` file, if one was given.
    pub allowed_clients: Option<usize>,
    /// The dates of the certificate, CA and CRL files, to warn of.
    pub expiry: ExpiryWatch,
}

/// Wraps an OpenSSL error with what was being done (the tunnel's client
/// context uses it too).
pub(crate) fn tls_error(what: &str) -> impl FnOnce(openssl::error::ErrorStack) -> Error + '_ {
    move |source| Error::Tls {
        what: what.to_string(),
        source,
    }
}

/// Builds `copies` identical server contexts (one per event loop, so the
/// loops share no OpenSSL locks) from files read once, so a reload never
/// mixes old and new files. Taking the FIPS decision by reference is the
/// ordering contract: no context can exist before FIPS was decided, and
/// only `fips::decide` can make a decision; it cannot be forged:
///
/// ```compile_fail
/// let forged = mongossl::fips::FipsDecision { enabled: true, module: None };
/// ```
pub fn build(
    settings: &SslSettings,
    fips: &FipsDecision,
    copies: usize,
) -> Result<ServerTls, Error> {
    let identity = pem::load_key_file(
        SSL_PEM_KEY_FILE.name,
        &settings.pem_key_file,
        settings.pem_key_password.as_ref(),
        SSL_PEM_KEY_PASSWORD.name,
    )?;
    warn_if_readable_by_others(&settings.pem_key_file);
    let subject = pem::describe_name(identity.cert.subject_name());
    let expiry = identity.cert.not_after().to_string();
    let not_after = unix_time(identity.cert.not_after());
    match pem::validity(&identity.cert).map_err(tls_error("checking the certificate dates"))? {
        Validity::Expired => {
            return Err(Error::file(
                SSL_PEM_KEY_FILE.name,
                &settings.pem_key_file,
                format!("the server certificate ({subject}) expired on {expiry}"),
            ));
        }
        Validity::NotYetValid => {
            return Err(Error::file(
                SSL_PEM_KEY_FILE.name,
                &settings.pem_key_file,
                format!(
                    "the server certificate ({subject}) is not valid until {}",
                    identity.cert.not_before()
                ),
            ));
        }
        Validity::Valid => {}
    }
    let mut watch = ExpiryWatch::new(settings.parameters.expiry_warning_days);
    watch.server_certificate(
        format!(
            "the server certificate ({subject}) in {}",
            settings.pem_key_file.display()
        ),
        identity.cert.not_after(),
    );
    let cas = match &settings.ca_file {
        Some(path) => Some(pem::load_ca_file(SSL_CA_FILE.name, path)?),
        None => None,
    };
    if let (Some(cas), Some(path)) = (&cas, &settings.ca_file) {
        for ca in cas {
            watch.ca_certificate(
                format!(
                    "the CA certificate ({}) in {}",
                    pem::describe_name(ca.subject_name()),
                    path.display()
                ),
                ca.not_after(),
            );
        }
    }
    let crls = match (&settings.crl_file, &cas) {
        (Some(path), Some(_)) => Some(pem::load_crl_file(SSL_CRL_FILE.name, path)?),
        _ => None,
    };
    for crl in crls.iter().flatten() {
        if let Some(next) = crl.next_update() {
            watch.crl(
                format!(
                    "the CRL of {} in {}",
                    pem::describe_name(crl.issuer_name()),
                    settings
                        .crl_file
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
                next,
            );
        }
    }
    let allow_list = settings
        .allowed_clients
        .as_deref()
        .map(AllowList::load)
        .transpose()?;
    let allowed_clients = allow_list.as_ref().map(AllowList::len);
    let dh = settings
        .parameters
        .dh_parameters
        .as_deref()
        .map(load_dh_parameters)
        .transpose()?;
    let material = Material {
        identity,
        cas,
        crls,
        dh,
    };
    // One set of ticket keys for every loop's context, so a client can
    // resume on any loop; new keys at every start and reload.
    let mut ticket_keys = [0u8; TICKET_KEYS_LEN];
    openssl::rand::rand_bytes(&mut ticket_keys).map_err(tls_error("making session ticket keys"))?;
    let policy = Arc::new(PeerPolicy::new(settings, allow_list));
    let contexts = (0..copies.max(1))
        .map(|_| {
            make_context(&material, settings, fips, &ticket_keys).map(|context| ServerContext {
                context,
                policy: Arc::clone(&policy),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServerTls {
        contexts,
        certificate_subject: subject,
        certificate_expiry: expiry,
        certificate_not_after: not_after,
        revoked_count: material.crls.as_ref().map(|crls| {
            crls.iter()
                .map(|c| c.get_revoked().map_or(0, |r| r.len()))
                .sum()
        }),
        allowed_clients,
        expiry: watch,
    })
}

/// The parsed files a context is made from.
struct Material {
    identity: pem::KeyAndChain,
    cas: Option<Vec<openssl::x509::X509>>,
    crls: Option<Vec<openssl::x509::X509Crl>>,
    /// `opensslDiffieHellmanParameters`, for DHE suites.
    dh: Option<Dh<Params>>,
}

fn make_context(
    material: &Material,
    settings: &SslSettings,
    fips: &FipsDecision,
    ticket_keys: &[u8; TICKET_KEYS_LEN],
) -> Result<SslContext, Error> {
    let identity = &material.identity;
    let mut builder = SslContextBuilder::new(SslMethod::tls_server())
        .map_err(tls_error("creating the SSL context"))?;
    apply_protocol_policy(&mut builder, fips.is_fips())?;
    apply_operator_policy(
        &mut builder,
        fips.is_fips(),
        settings.protocols,
        settings.cipher_config.as_deref(),
    )?;
    apply_tls13_suites(
        &mut builder,
        settings.parameters.tls13_suites.as_deref(),
        fips.is_fips(),
    )?;
    if let Some(dh) = &material.dh {
        builder
            .set_tmp_dh(dh)
            .map_err(tls_error("using the Diffie-Hellman parameters"))?;
    }
    use_identity(&mut builder, identity)?;
    builder.check_private_key().map_err(|e| {
        Error::file(
            SSL_PEM_KEY_FILE.name,
            &settings.pem_key_file,
            format!(
                "the private key does not match the certificate ({})",
                crate::error::describe_openssl(&e)
            ),
        )
    })?;

    if let Some(cas) = &material.cas {
        let mut store = X509StoreBuilder::new().map_err(tls_error("creating the CA store"))?;
        let mut names = Stack::<X509Name>::new().map_err(tls_error("listing CA names"))?;
        for ca in cas {
            names
                .push(
                    ca.subject_name()
                        .to_owned()
                        .map_err(tls_error("listing CA names"))?,
                )
                .map_err(tls_error("listing CA names"))?;
            store
                .add_cert(ca.clone())
                .map_err(tls_error("adding a CA certificate"))?;
        }
        if settings.parameters.use_system_ca {
            store
                .set_default_paths()
                .map_err(tls_error("loading the system trust store (tlsUseSystemCA)"))?;
        }
        // A client certificate must be fit for client authentication.
        store
            .set_purpose(X509PurposeId::SSL_CLIENT)
            .map_err(tls_error("setting the certificate purpose"))?;
        if let Some(crls) = &material.crls {
            ffi::add_crls(&mut store, crls).map_err(tls_error("adding the revocation list"))?;
            // mongod checks the leaf against the CRL.
            store
                .set_flags(X509VerifyFlags::CRL_CHECK)
                .map_err(tls_error("enabling CRL checks"))?;
        }
        builder.set_cert_store(store.build());
        builder.set_client_ca_list(names);
        // mongod's way: let the handshake finish whatever the certificate,
        // then judge the peer (see `policy`), so refusals get mongod's
        // words in the log rather than a bare TLS alert.
        builder.set_verify_callback(SslVerifyMode::PEER, |_preverified, _ctx| true);
    }
    builder
        .set_session_id_context(b"mongossl")
        .map_err(tls_error("setting the session id context"))?;
    // MongoDB drivers rarely resume, and each TLS 1.3 ticket costs ~12 %
    // of a full handshake's server CPU (docs/performance.md): none unless
    // the operator asks.
    builder
        .set_num_tickets(settings.session_tickets)
        .map_err(tls_error("setting the number of session tickets"))?;
    ffi::set_ticket_keys(&mut builder, ticket_keys)
        .map_err(tls_error("setting the session ticket keys"))?;
    Ok(builder.build())
}

/// A private key that other users can read is as good as published: say
/// so at start-up, naming the file, as ssh does for its keys. Group read
/// stays quiet (Debian's ssl-cert group is the usual way to share keys).
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o004 != 0 {
            log::warn!(
                "the private key file {} (sslPEMKeyFile) is readable by other users (mode {mode:03o}): chmod o-r (0600 or 0640) it",
                path.display()
            );
        }
    }
}

/// Presents this key, its certificate and the rest of the chain (every
/// context that has an identity: the server's, a client's).
pub(crate) fn use_identity(
    builder: &mut SslContextBuilder,
    identity: &pem::KeyAndChain,
) -> Result<(), Error> {
    builder
        .set_private_key(&identity.key)
        .map_err(tls_error("using the private key"))?;
    builder
        .set_certificate(&identity.cert)
        .map_err(tls_error("using the certificate"))?;
    for extra in &identity.chain {
        builder
            .add_extra_chain_cert(extra.clone())
            .map_err(tls_error("adding a chain certificate"))?;
    }
    Ok(())
}

/// Protocol versions, suites, groups and modes shared by every context
/// (the client tunnel uses it too).
pub(crate) fn apply_protocol_policy(
    builder: &mut SslContextBuilder,
    fips: bool,
) -> Result<(), Error> {
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(tls_error("setting the minimum TLS version"))?;
    let (ciphers, suites, groups) = if fips {
        (TLS12_CIPHERS_FIPS, TLS13_SUITES_FIPS, GROUPS_FIPS)
    } else {
        (TLS12_CIPHERS, TLS13_SUITES, GROUPS)
    };
    builder
        .set_cipher_list(ciphers)
        .map_err(tls_error("setting the TLS 1.2 cipher list"))?;
    builder
        .set_ciphersuites(suites)
        .map_err(tls_error("setting the TLS 1.3 cipher suites"))?;
    builder
        .set_groups_list(groups)
        .map_err(tls_error("setting the key exchange groups"))?;
    builder.set_options(
        SslOptions::CIPHER_SERVER_PREFERENCE
            | SslOptions::NO_COMPRESSION
            | SslOptions::NO_RENEGOTIATION
            | SslOptions::NO_SESSION_RESUMPTION_ON_RENEGOTIATION,
    );
    // Release OpenSSL's record buffers while a connection idles (drivers
    // keep pools of idle connections); partial writes and a moving write
    // buffer let the relay hand OpenSSL whatever its buffer holds now.
    builder.set_mode(
        SslMode::RELEASE_BUFFERS
            | SslMode::ENABLE_PARTIAL_WRITE
            | SslMode::ACCEPT_MOVING_WRITE_BUFFER,
    );
    // Read-ahead: fewer `recv` calls per record and per message
    // (docs/performance.md); the relay asks SSL_has_pending, which sees
    // bytes read ahead, not only decrypted ones.
    builder.set_read_ahead(true);
    ffi::set_default_read_buffer_len(builder, READ_BUFFER_LEN);
    Ok(())
}

/// The TLS 1.3 suites of `opensslCipherSuiteConfig`, replacing mongossl's:
/// each must be a suite this OpenSSL knows, and in FIPS mode AES-GCM.
/// (Every TLS 1.3 suite is AEAD; CCM_8's 64-bit tag is refused as short.)
pub(crate) fn apply_tls13_suites(
    builder: &mut SslContextBuilder,
    suites: Option<&str>,
    fips: bool,
) -> Result<(), Error> {
    let Some(list) = suites else {
        return Ok(());
    };
    let refused = |cause: String| {
        Error::options(format!(
            "--setParameter opensslCipherSuiteConfig='{list}': {cause}"
        ))
    };
    for suite in list.split(':').map(str::trim) {
        let allowed: &[&str] = if fips {
            &["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]
        } else {
            &[
                "TLS_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_CCM_SHA256",
            ]
        };
        if !allowed.contains(&suite) {
            let why = if fips {
                "FIPS mode allows TLS_AES_128_GCM_SHA256 and TLS_AES_256_GCM_SHA384"
            } else {
                "not a TLS 1.3 suite mongossl offers (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, TLS_AES_128_CCM_SHA256)"
            };
            return Err(refused(format!("'{suite}' is {why}")));
        }
    }
    builder
        .set_ciphersuites(list)
        .map_err(|e| refused(crate::error::describe_openssl(&e)))
}

/// Reads `opensslDiffieHellmanParameters`' PEM file; an error names it.
fn load_dh_parameters(path: &std::path::Path) -> Result<Dh<Params>, Error> {
    const PARAMETER: &str = "setParameter opensslDiffieHellmanParameters";
    let pem = std::fs::read(path).map_err(|source| Error::Io {
        option: PARAMETER,
        path: path.to_path_buf(),
        source,
    })?;
    let dh = Dh::params_from_pem(&pem).map_err(|e| {
        Error::file(
            PARAMETER,
            path,
            format!(
                "not PEM Diffie-Hellman parameters ({})",
                crate::error::describe_openssl(&e)
            ),
        )
    })?;
    if dh.prime_p().num_bits() < 2048 {
        return Err(Error::file(
            PARAMETER,
            path,
            format!(
                "the prime has {} bits: 2048 or more are needed",
                dh.prime_p().num_bits()
            ),
        ));
    }
    Ok(dh)
}

/// The server's narrowing of that policy by mongod's options (the client
/// tunnel keeps the defaults): `protocols` from `sslDisabledProtocols`
/// (TLS 1.0 and 1.1 are never offered anyway), and `cipher_config`, which
/// replaces the TLS 1.2 list and is refused unless every suite it yields
/// passes `check_tls12_cipher`.
fn apply_operator_policy(
    builder: &mut SslContextBuilder,
    fips: bool,
    protocols: Protocols,
    cipher_config: Option<&str>,
) -> Result<(), Error> {
    if !protocols.tls1_2 {
        builder
            .set_min_proto_version(Some(SslVersion::TLS1_3))
            .map_err(tls_error("setting the minimum TLS version"))?;
    }
    if !protocols.tls1_3 {
        builder
            .set_max_proto_version(Some(SslVersion::TLS1_2))
            .map_err(tls_error("setting the maximum TLS version"))?;
    }
    let Some(list) = cipher_config else {
        return Ok(());
    };
    let refused = |cause: String| Error::options(format!("--sslCipherConfig '{list}': {cause}"));
    let level = ffi::security_level(builder);
    builder.set_cipher_list(list).map_err(|e| {
        refused(format!(
            "OpenSSL takes no suite from it ({})",
            crate::error::describe_openssl(&e)
        ))
    })?;
    // `@SECLEVEL=0` in a list would quietly accept weak keys and
    // signatures in certificates too.
    let now = ffi::security_level(builder);
    if now < level {
        return Err(refused(format!(
            "it lowers OpenSSL's security level (from {level} to {now})"
        )));
    }
    // What OpenSSL made of the list, not the text: `HIGH` or
    // `ALL:!aNULL` are only judged by the suites they expand to.
    let offered = tls12_ciphers(builder);
    for cipher in &offered {
        check_tls12_cipher(cipher, fips).map_err(refused)?;
    }
    // OpenSSL skips a suite name it does not know or cannot offer
    // (a typo; ChaCha20 in FIPS mode) as long as anything else
    // matched: a suite the operator named must really be there.
    if let Some(missing) = named_suites(list).find(|n| !offered.iter().any(|c| c.name() == *n)) {
        let why = if fips {
            "FIPS mode offers FIPS 140-2 approved suites only"
        } else {
            "a misspelt or unknown name?"
        };
        return Err(refused(format!(
            "it names {missing}, which OpenSSL does not offer here ({why})"
        )));
    }
    Ok(())
}

/// The context's TLS 1.2-and-earlier suites, in preference order. (OpenSSL
/// lists the TLS 1.3 suites too; those are set apart, by `set_ciphersuites`.)
fn tls12_ciphers(builder: &SslContextBuilder) -> Vec<&SslCipherRef> {
    let mut ciphers = ffi::ciphers(builder);
    ciphers.retain(|c| c.version() != "TLSv1.3");
    ciphers
}

/// The single suites a cipher list names, as opposed to OpenSSL's
/// categories (`HIGH`, `ECDHE+AESGCM`, `!aNULL`, `@STRENGTH`): every
/// TLS 1.2 suite name has a dash, no category does.
fn named_suites(list: &str) -> impl Iterator<Item = &str> {
    list.split([':', ',', ' '])
        .filter(|t| t.contains('-') && !t.contains('+'))
        .filter(|t| !t.starts_with(['!', '-', '+', '@']))
}

/// mongossl's floor for a suite an operator configured: authenticated
/// encryption (AEAD: no CBC, RC4 or NULL), a server that proves itself
/// with its RSA or ECDSA certificate (no anonymous, PSK or SRP suites),
/// and in FIPS mode AES-GCM only, the FIPS 140-2 approved AEAD.
fn check_tls12_cipher(cipher: &SslCipherRef, fips: bool) -> Result<(), String> {
    let name = cipher.name();
    if !ffi::cipher_is_aead(cipher) {
        return Err(format!(
            "it allows {name}, which is not an AEAD suite (CBC, RC4 or NULL encryption)"
        ));
    }
    let auth = Nid::from_raw(ffi::cipher_auth_nid(cipher))
        .short_name()
        .unwrap_or("unknown");
    if !matches!(auth, "AuthRSA" | "AuthECDSA") {
        return Err(format!(
            "it allows {name}, whose server is not authenticated by a certificate ({auth})"
        ));
    }
    let gcm = matches!(
        cipher.cipher_nid(),
        Some(Nid::AES_128_GCM) | Some(Nid::AES_256_GCM)
    );
    if fips && !gcm {
        return Err(format!(
            "it allows {name}, which FIPS 140-2 does not approve (AES-GCM only)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(list: Option<&str>, protocols: Protocols) -> Result<SslContext, Error> {
        let mut builder = SslContextBuilder::new(SslMethod::tls_server()).expect("builder");
        apply_protocol_policy(&mut builder, false)?;
        apply_operator_policy(&mut builder, false, protocols, list)?;
        Ok(builder.build())
    }

    #[test]
    fn named_suites_are_told_from_categories() {
        let names: Vec<&str> = named_suites(
            "HIGH:!aNULL:ECDHE+AESGCM:ECDHE-RSA-AES128-GCM-SHA256 AES128-SHA,@STRENGTH:-AES256-SHA",
        )
        .collect();
        assert_eq!(names, ["ECDHE-RSA-AES128-GCM-SHA256", "AES128-SHA"]);
    }

    #[test]
    fn cipher_config_floor() {
        let all = Protocols::default();
        policy(
            Some("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"),
            all,
        )
        .expect("AEAD with certificates");
        policy(Some("ECDHE+AESGCM:!aNULL"), all).expect("a category of AEAD suites");
        for (list, needle) in [
            ("ECDHE-RSA-AES128-SHA256", "not an AEAD suite"),
            ("AECDH-AES128-SHA", "not an AEAD suite"),
            (
                "ADH-AES256-GCM-SHA384",
                "not authenticated by a certificate",
            ),
            (
                "PSK-AES128-GCM-SHA256",
                "not authenticated by a certificate",
            ),
            (
                "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA265",
                "does not offer",
            ),
            (
                "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0",
                "security level",
            ),
            ("nothing-at-all", "takes no suite"),
        ] {
            let err = policy(Some(list), all)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains(needle) && err.contains("--sslCipherConfig"),
                "{list}: {err}"
            );
        }
    }
}
