//! A certificate issued for a hosted name, as kept in the store and as served.

use std::sync::Arc;

use mta_sts_core::time::Timestamp;
use mta_sts_store::reports::StoredCertificate;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

use crate::AcmeError;

/// A certificate and its key for one name, checked: the chain parses, the leaf names the
/// name, and rustls takes the key.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    stored: StoredCertificate,
    served: Arc<CertifiedKey>,
}

impl IssuedCertificate {
    /// Checks a certificate kept in the store (or just issued) and makes it servable.
    pub fn from_stored(stored: StoredCertificate) -> Result<IssuedCertificate, AcmeError> {
        let name = stored.name.clone();
        let bad = |reason: String| AcmeError::BadCertificate {
            name: name.clone(),
            reason,
        };
        let chain = CertificateDer::pem_slice_iter(stored.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("its chain is not PEM: {e}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| bad("its chain holds no certificate".into()))?;
        let (_, parsed) = X509Certificate::from_der(leaf)
            .map_err(|e| bad(format!("its leaf certificate cannot be parsed: {e}")))?;
        let names_it = parsed
            .subject_alternative_name()
            .ok()
            .flatten()
            .is_some_and(|san| {
                san.value.general_names.iter().any(
                    |n| matches!(n, GeneralName::DNSName(dns) if dns.eq_ignore_ascii_case(&name)),
                )
            });
        if !names_it {
            return Err(bad(format!(
                "its leaf certificate does not name {name} in its subjectAltName"
            )));
        }
        let validity = parsed.validity();
        let not_before = Timestamp::from_unix_seconds(validity.not_before.timestamp());
        let not_after = Timestamp::from_unix_seconds(validity.not_after.timestamp());
        let (Some(not_before), Some(not_after)) = (not_before, not_after) else {
            return Err(bad("its validity is out of range".into()));
        };
        let key = PrivateKeyDer::from_pem_slice(stored.key_pem.as_bytes())
            .map_err(|e| bad(format!("its key is not a PEM private key: {e}")))?;
        let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| bad(format!("rustls does not take its key: {e}")))?;
        let served = CertifiedKey::new(chain, signing_key);
        served
            .keys_match()
            .map_err(|e| bad(format!("its key does not match its leaf certificate: {e}")))?;
        Ok(IssuedCertificate {
            stored: StoredCertificate {
                not_before,
                not_after,
                ..stored
            },
            served: Arc::new(served),
        })
    }

    /// The name it is for.
    pub fn name(&self) -> &str {
        &self.stored.name
    }

    /// The leaf's `notBefore`.
    pub fn not_before(&self) -> Timestamp {
        self.stored.not_before
    }

    /// The leaf's `notAfter`.
    pub fn not_after(&self) -> Timestamp {
        self.stored.not_after
    }

    /// As kept in the store.
    pub fn stored(&self) -> &StoredCertificate {
        &self.stored
    }

    /// The chain and key, for a TLS listener's certificate resolver.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.served)
    }
}

#[cfg(test)]
mod tests;
