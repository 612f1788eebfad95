//! The answers to pending ACME challenges, which the server's listeners give while an order is
//! being validated: the key authorization for an HTTP-01 token (RFC 8555 §8.3) on plain HTTP
//! at `/.well-known/acme-challenge/<token>`, and the self-signed `acme-tls/1` certificate for
//! TLS-ALPN-01 (RFC 8737 §3) to a client that offers only that ALPN protocol.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::sign::CertifiedKey;

/// Pending challenge answers, shared between the ACME client and the listeners.
#[derive(Debug, Default)]
pub struct Challenges {
    http01: RwLock<HashMap<String, String>>,
    tls_alpn01: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl Challenges {
    /// The body to answer `GET /.well-known/acme-challenge/{token}` with (`text/plain`,
    /// or `application/octet-stream`), if `token` is pending.
    pub fn http01(&self, token: &str) -> Option<String> {
        self.http01
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    /// The `acme-tls/1` certificate for `name` (lowercase), if a TLS-ALPN-01 challenge for it
    /// is pending.
    pub fn tls_alpn01(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.tls_alpn01
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Publishes an HTTP-01 answer until [`Challenges::remove_http01`].
    pub fn insert_http01(&self, token: &str, key_authorization: &str) {
        self.http01
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    /// Withdraws an HTTP-01 answer.
    pub fn remove_http01(&self, token: &str) {
        self.http01
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }

    /// Publishes a TLS-ALPN-01 certificate until [`Challenges::remove_tls_alpn01`].
    pub fn insert_tls_alpn01(&self, name: &str, certificate: Arc<CertifiedKey>) {
        self.tls_alpn01
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_ascii_lowercase(), certificate);
    }

    /// Withdraws a TLS-ALPN-01 certificate.
    pub fn remove_tls_alpn01(&self, name: &str) {
        self.tls_alpn01
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&name.to_ascii_lowercase());
    }
}
