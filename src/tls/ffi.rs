//! The few OpenSSL calls and constants that the `openssl` and `openssl-sys`
//! crates do not bind, each wrapped in a safe function with its SAFETY note,
//! so no other file of mongossl declares or calls foreign functions of
//! libssl (the FIPS module keeps its own provider calls: they are its job).

use foreign_types::ForeignTypeRef;
use openssl::asn1::Asn1ObjectRef;
use openssl::error::ErrorStack;
use openssl::ssl::{SslCipher, SslCipherRef, SslContextBuilder, SslRef};
use openssl::stack::StackRef;
use openssl::x509::store::X509StoreBuilderRef;
use openssl::x509::{X509Crl, X509Ref};

/// OpenSSL 3's `SSL_R_UNEXPECTED_EOF_WHILE_READING`: the peer closed the
/// socket without close_notify.
pub const SSL_R_UNEXPECTED_EOF_WHILE_READING: i32 = 294;

/// `SSL_CTRL_SET_TLSEXT_TICKET_KEYS` from <openssl/ssl.h>.
const SSL_CTRL_SET_TLSEXT_TICKET_KEYS: i32 = 59;
/// Name (16), HMAC secret (32) and AES key (32) of the ticket keys.
pub const TICKET_KEYS_LEN: usize = 80;

// All present in OpenSSL 1.1.0 and later.
unsafe extern "C" {
    fn SSL_has_pending(ssl: *const openssl_sys::SSL) -> libc::c_int;
    fn SSL_CTX_set_default_read_buffer_len(ctx: *mut openssl_sys::SSL_CTX, len: usize);
    fn SSL_CTX_get_ciphers(
        ctx: *const openssl_sys::SSL_CTX,
    ) -> *mut openssl_sys::stack_st_SSL_CIPHER;
    fn SSL_CIPHER_is_aead(cipher: *const openssl_sys::SSL_CIPHER) -> libc::c_int;
    fn SSL_CIPHER_get_auth_nid(cipher: *const openssl_sys::SSL_CIPHER) -> libc::c_int;
    fn X509_STORE_add_crl(
        store: *mut openssl_sys::X509_STORE,
        crl: *mut openssl_sys::X509_CRL,
    ) -> libc::c_int;
}

/// Whether OpenSSL holds bytes beyond what the socket has: decrypted
/// plaintext, or records read ahead and not yet processed (which
/// `SSL_pending` does not count).
pub fn has_pending(ssl: &SslRef) -> bool {
    // SAFETY: the SSL object is alive for the call, which only reads it.
    unsafe { SSL_has_pending(ssl.as_ptr()) == 1 }
}

/// Sets the size of the read buffer each connection's SSL gets.
pub fn set_default_read_buffer_len(builder: &mut SslContextBuilder, len: usize) {
    // SAFETY: a valid context under construction; OpenSSL stores the number.
    unsafe { SSL_CTX_set_default_read_buffer_len(builder.as_ptr(), len) };
}

/// Installs the TLS session ticket keys (so every loop's context shares them).
pub fn set_ticket_keys(
    builder: &mut SslContextBuilder,
    keys: &[u8; TICKET_KEYS_LEN],
) -> Result<(), ErrorStack> {
    // SAFETY: a valid context; OpenSSL copies the 80 key bytes and does not
    // write through the pointer.
    let set = unsafe {
        openssl_sys::SSL_CTX_ctrl(
            builder.as_ptr(),
            SSL_CTRL_SET_TLSEXT_TICKET_KEYS,
            TICKET_KEYS_LEN as libc::c_long,
            keys.as_ptr() as *mut libc::c_void,
        )
    };
    if set == 1 {
        Ok(())
    } else {
        Err(ErrorStack::get())
    }
}

/// OpenSSL's security level of the context being built (the crate only
/// offers it on a finished context).
pub fn security_level(builder: &SslContextBuilder) -> i32 {
    // SAFETY: the pointer is the builder's live SSL_CTX; the call reads it.
    unsafe { openssl_sys::SSL_CTX_get_security_level(builder.as_ptr()) }
}

/// The context's suites in preference order (TLS 1.3 ones included).
pub fn ciphers(builder: &SslContextBuilder) -> Vec<&SslCipherRef> {
    // SAFETY: the stack belongs to the context, which `builder` keeps alive
    // for the borrow; OpenSSL returns NULL only for a context without one.
    let stack = unsafe { SSL_CTX_get_ciphers(builder.as_ptr()) };
    if stack.is_null() {
        return Vec::new();
    }
    // SAFETY: a valid STACK_OF(SSL_CIPHER), borrowed as long as `builder`.
    let stack: &StackRef<SslCipher> = unsafe { StackRef::from_ptr(stack) };
    stack.iter().collect()
}

/// Whether a suite encrypts with an AEAD (GCM, CCM, ChaCha20-Poly1305).
pub fn cipher_is_aead(cipher: &SslCipherRef) -> bool {
    // SAFETY: `cipher` is a valid SSL_CIPHER for the call.
    unsafe { SSL_CIPHER_is_aead(cipher.as_ptr()) == 1 }
}

/// The NID of how a suite authenticates the server (`AuthRSA`, `AuthECDSA`, ...).
pub fn cipher_auth_nid(cipher: &SslCipherRef) -> i32 {
    // SAFETY: `cipher` is a valid SSL_CIPHER for the call.
    unsafe { SSL_CIPHER_get_auth_nid(cipher.as_ptr()) }
}

/// Adds revocation lists to a certificate store.
pub fn add_crls(store: &mut X509StoreBuilderRef, crls: &[X509Crl]) -> Result<(), ErrorStack> {
    for crl in crls {
        // SAFETY: both pointers are valid for the call; the store takes
        // its own reference to the CRL (X509_STORE_add_crl up-refs it).
        if unsafe { X509_STORE_add_crl(store.as_ptr(), crl.as_ptr()) } != 1 {
            return Err(ErrorStack::get());
        }
    }
    Ok(())
}

/// The DER contents of a certificate's extension with this OID (the value
/// inside its OCTET STRING), if the certificate has one.
pub fn extension_value(cert: &X509Ref, oid: &Asn1ObjectRef) -> Option<Vec<u8>> {
    // SAFETY: both pointers are valid for the call, which only reads them.
    let index = unsafe { openssl_sys::X509_get_ext_by_OBJ(cert.as_ptr(), oid.as_ptr(), -1) };
    if index < 0 {
        return None;
    }
    // SAFETY: `index` was just found in this certificate; the extension is
    // owned by the certificate, which `cert` keeps alive for the borrow.
    let extension = unsafe { openssl_sys::X509_get_ext(cert.as_ptr(), index) };
    if extension.is_null() {
        return None;
    }
    // SAFETY: a valid extension of the certificate; its data is an
    // ASN1_OCTET_STRING it owns, read (not kept) below.
    let data = unsafe { openssl_sys::X509_EXTENSION_get_data(extension) };
    if data.is_null() {
        return None;
    }
    // SAFETY: `data` is a valid ASN1_STRING: its bytes pointer and length
    // describe memory it owns for as long as the certificate lives.
    unsafe {
        let bytes = openssl_sys::ASN1_STRING_get0_data(data as *const openssl_sys::ASN1_STRING);
        let len = openssl_sys::ASN1_STRING_length(data as *const openssl_sys::ASN1_STRING);
        if bytes.is_null() || len < 0 {
            return None;
        }
        Some(std::slice::from_raw_parts(bytes, len as usize).to_vec())
    }
}
