//! The self-signed certificate a TLS-ALPN-01 challenge is answered with (RFC 8737 §3).

use std::sync::Arc;

use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::AcmeError;

/// The `acme-tls/1` certificate for `name` proving `key_authorization_sha256`, the SHA-256
/// digest of the challenge's key authorization.
pub fn tls_alpn01_certificate(
    name: &str,
    key_authorization_sha256: [u8; 32],
) -> Result<Arc<CertifiedKey>, AcmeError> {
    let error = |source| AcmeError::ChallengeCertificate {
        name: name.to_string(),
        source,
    };
    // RFC 8737 §3: a self-signed certificate whose only subjectAltName is the dNSName being
    // validated, with the critical acmeIdentifier extension holding the key authorization's
    // SHA-256 digest as an OCTET STRING.
    let mut params = CertificateParams::new(vec![name.to_string()]).map_err(error)?;
    params.distinguished_name = DistinguishedName::new();
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(
        &key_authorization_sha256,
    )];
    let key = KeyPair::generate().map_err(error)?;
    let certificate = params.self_signed(&key).map_err(error)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|e| {
        AcmeError::BadCertificate {
            name: name.to_string(),
            reason: format!("rustls does not take the challenge certificate's key: {e}"),
        }
    })?;
    Ok(Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(certificate.der().to_vec())],
        signing_key,
    )))
}

#[cfg(test)]
mod tests;
