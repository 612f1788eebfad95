//! HTTPS from certificate files: the chain and key are read at start and again on SIGHUP (after
//! a renewal); handshakes after a reload get the new certificate, connections already open keep
//! theirs, and a reload that fails keeps the certificate in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::ServeError;

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

    /// The certificate file, for messages.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// A rustls server configuration that serves the current certificate to every handshake
    /// (HTTP/1.1 only: hyper serves it here).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, ServeError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ServeError::Certificate(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Hands rustls the certificate read last.
#[derive(Debug)]
struct Resolver(Arc<CertificateFiles>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

fn read(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, ServeError> {
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
