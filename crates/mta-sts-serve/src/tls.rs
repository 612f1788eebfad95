//! HTTPS certificates, chosen per handshake by the name the client asks for (SNI):
//! - `mta-sts.<hosted domain>`: that host's certificate from [`HostCertificates`] (files or
//!   ACME);
//! - a client offering only the ALPN protocol `acme-tls/1` gets the TLS-ALPN-01 challenge
//!   certificate for its name, if a challenge for that name is pending (RFC 8737 §3), never
//!   anything made for the name it sends;
//! - any other name, or none: the default certificate from files (`cert`/`key`) if configured,
//!   else the handshake is refused.
//!
//! The default certificate's chain and key are read at start and again on SIGHUP (after a
//! renewal); handshakes after a reload get the new certificate, connections already open keep
//! theirs, and a reload that fails keeps the certificate in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use mta_sts_acme::{ACME_TLS_ALPN, Challenges};

use crate::error::ServeError;
use crate::hosting::{HostCertificates, Hosting};

/// The ALPN protocols served, in the server's order of preference: HTTP/2, then HTTP/1.1,
/// then the TLS-ALPN-01 validation protocol (chosen only by a client offering nothing else).
pub(crate) const ALPN_PROTOCOLS: [&[u8]; 3] = [b"h2", b"http/1.1", ACME_TLS_ALPN];

/// The certificate files and the certificate read from them last.
#[derive(Debug)]
pub struct CertificateFiles {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertificateFiles {
    /// Reads the chain and the key, and checks that they belong together.
    pub fn load(cert: &Path, key: &Path) -> Result<CertificateFiles, ServeError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = read(cert, key, &provider)?;
        Ok(CertificateFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// Reads the files again; on error the certificate in use stays.
    pub fn reload(&self) -> Result<(), ServeError> {
        let fresh = read(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }

    /// The certificate read last.
    pub(crate) fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The certificate file, for messages.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }
}

/// A rustls server configuration choosing each handshake's certificate by SNI (see the module
/// documentation), with ALPN `h2`, `http/1.1` and `acme-tls/1`.
pub(crate) fn server_config(
    provider: Arc<CryptoProvider>,
    default: Option<Arc<CertificateFiles>>,
    hosting: &Hosting,
) -> Result<rustls::ServerConfig, ServeError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Certificate(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver {
            default,
            hosts: hosting.certificates.clone(),
            challenges: hosting.challenges.clone(),
        }));
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    // No TLS 1.3 session tickets: a policy is fetched again after its max_age (days), long
    // after an in-memory session would be gone, so the two tickets rustls sends by default
    // would cost every handshake their work and bytes for a resumption that never happens.
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// Chooses the certificate of each handshake by SNI; nothing is made per name.
#[derive(Debug)]
pub(crate) struct SniResolver {
    pub(crate) default: Option<Arc<CertificateFiles>>,
    pub(crate) hosts: Arc<HostCertificates>,
    pub(crate) challenges: Arc<Challenges>,
}

impl SniResolver {
    /// The certificate for a client asking for `name` (`None`: no SNI) and offering the ALPN
    /// protocols `alpn` (`None`: no ALPN extension).
    pub(crate) fn choose<'a>(
        &self,
        name: Option<&str>,
        alpn: Option<impl Iterator<Item = &'a [u8]>>,
    ) -> Option<Arc<CertifiedKey>> {
        let name = name.map(|name| name.trim_end_matches('.').to_ascii_lowercase());
        let mut alpn = alpn.into_iter().flatten().peekable();
        let first = alpn.next();
        // RFC 8737 §3: the validation client offers `acme-tls/1` alone, with SNI; such a
        // handshake gets the challenge certificate or nothing, never a real one.
        if first == Some(ACME_TLS_ALPN) && alpn.peek().is_none() {
            return name.and_then(|name| self.challenges.tls_alpn01(&name));
        }
        if let Some(certificate) = name.as_deref().and_then(|name| self.hosts.get(name)) {
            return Some(certificate);
        }
        self.default.as_ref().map(|files| files.current())
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name(), hello.alpn())
    }
}

pub(crate) fn read(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ServeError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            ServeError::Certificate(format!(
                "{} is not a readable PEM certificate chain ({e})",
                cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(ServeError::Certificate(format!(
            "{} holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks, the server's \
             first)",
            cert.display()
        )));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        ServeError::Certificate(format!(
            "{} is not a readable PEM private key ({e})",
            key.display()
        ))
    })?;
    let certified = CertifiedKey::from_der(chain, private_key, provider).map_err(|e| {
        ServeError::Certificate(format!(
            "the key {} cannot be used with the certificate {}: {e}",
            key.display(),
            cert.display()
        ))
    })?;
    Ok(certified)
}

#[cfg(test)]
mod tests;
