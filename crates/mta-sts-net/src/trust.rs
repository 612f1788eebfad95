//! Trust roots and certificate verdicts.
//!
//! MTA-STS trusts the Web PKI (RFC 8461 §3.3 for the policy host, §4.2 for MX hosts). The roots
//! are the Web PKI's (webpki-roots) plus any extra roots from a PEM file, so the lab's private CA
//! can be trusted without touching the system store.
//!
//! Both the policy fetch and the SMTP probe keep the peer's whole chain and judge it on each
//! count separately (trusted? valid for the name? in its validity period?), so a report can say
//! everything that is wrong, not just the first thing a TLS library stopped at.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::RootCertStore;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor, verify_server_name,
};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;

use crate::Error;

/// The roots certificates are checked against, and the crypto provider every connection uses.
#[derive(Debug, Clone)]
pub struct Trust {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl Trust {
    /// The Web PKI roots (Mozilla's list, as shipped by webpki-roots).
    pub fn web_pki() -> Trust {
        Trust::with_roots(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
    }

    /// The Web PKI roots plus every certificate in a PEM file (`--ca-file`).
    pub fn web_pki_and_pem_file(path: &Path) -> Result<Trust, Error> {
        let pem = std::fs::read(path)
            .map_err(|e| Error::Config(format!("cannot read CA file {}: {e}", path.display())))?;
        let mut trust = Trust::web_pki();
        trust
            .add_pem(&pem)
            .map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))?;
        Ok(trust)
    }

    /// Only the certificates in this PEM text (tests and the lab, where nothing else should pass).
    pub fn only_pem(pem: &str) -> Result<Trust, Error> {
        let mut trust = Trust::with_roots(RootCertStore::empty());
        trust
            .add_pem(pem.as_bytes())
            .map_err(|e| Error::Config(format!("CA PEM: {e}")))?;
        Ok(trust)
    }

    fn with_roots(roots: RootCertStore) -> Trust {
        Trust {
            roots: Arc::new(roots),
            // One explicit provider (ring) for every connection: no process-wide default needed.
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    fn add_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        let mut roots = (*self.roots).clone();
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("not PEM certificates: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("unusable root certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("no certificate found".into());
        }
        self.roots = Arc::new(roots);
        Ok(())
    }

    /// How many roots are trusted.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// A plain TLS client configuration that refuses any certificate these roots do not
    /// vouch for (report uploads, webhooks: a client that only needs to trust its peer).
    pub fn verifying_client_config(&self) -> Result<rustls::ClientConfig, Error> {
        Ok(
            rustls::ClientConfig::builder_with_provider(self.provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Config(format!("TLS configuration: {e}")))?
                .with_root_certificates(self.roots.clone())
                .with_no_client_auth(),
        )
    }

    fn algorithms(&self) -> WebPkiSupportedAlgorithms {
        self.provider.signature_verification_algorithms
    }

    /// A TLS client configuration whose verifier records the peer chain and its verdict.
    /// With `enforce`, an invalid certificate fails the handshake (the policy fetch, RFC 8461
    /// §3.3); without, the handshake completes so the chain can be reported (the SMTP probe).
    pub(crate) fn client_config(
        &self,
        enforce: bool,
        alpn: &[&[u8]],
    ) -> Result<(rustls::ClientConfig, Arc<RecordingVerifier>), Error> {
        let inner =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
                .build()
                .map_err(|e| Error::Config(format!("certificate verifier: {e}")))?;
        let verifier = Arc::new(RecordingVerifier {
            inner,
            enforce,
            seen: Mutex::new(None),
            accepted: AtomicBool::new(false),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok((config, verifier))
    }

    /// Judges a chain for a host name on each count separately.
    pub fn assess(
        &self,
        chain: &[CertificateDer<'static>],
        host: &str,
        now: UnixTime,
    ) -> CertVerdict {
        assess_chain(chain, host, &self.roots, self.algorithms(), now, false)
    }
}

/// A verifier that delegates to the Web PKI verifier and remembers what it saw.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    enforce: bool,
    seen: Mutex<Option<Vec<CertificateDer<'static>>>>,
    /// The Web PKI verifier accepted the chain: trusted, valid for the name, in its validity
    /// period.
    accepted: AtomicBool,
}

impl RecordingVerifier {
    /// The chain the peer presented, judged as [`Trust::assess`] judges it. When the Web PKI
    /// verifier accepted it during the handshake, the path to a trust anchor is not verified a
    /// second time: that is one signature check less per connection, the costliest part of
    /// judging a chain again, with the same verdict (BENCHMARKS.md, "Scan: 10,000 lab domains").
    pub(crate) fn assess(&self, trust: &Trust, host: &str, now: UnixTime) -> CertVerdict {
        assess_chain(
            &self.chain(),
            host,
            &trust.roots,
            trust.algorithms(),
            now,
            self.accepted.load(Ordering::Acquire),
        )
    }

    /// The chain the peer presented (leaf first), once the handshake reached verification.
    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.seen
            .lock()
            .map(|seen| seen.clone().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(chain);
        }
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        self.accepted.store(verdict.is_ok(), Ordering::Release);
        if self.enforce {
            verdict
        } else {
            Ok(ServerCertVerified::assertion())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The handshake signature is checked even when the chain is not: it proves the peer holds
        // the key of the certificate being reported.
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What one certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// DNS names from the subjectAltName extension.
    pub dns_names: Vec<String>,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertInfo {
    /// Reads a DER certificate; `None` if it is not X.509.
    pub fn parse(der: &[u8]) -> Option<CertInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let dns_names = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|name| match name {
                        x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(CertInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            dns_names,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Whole days until `not_after` (negative once expired).
    pub fn days_left(&self, now: UnixTime) -> i64 {
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        (self.not_after - now).div_euclid(86_400)
    }
}

/// A chain judged on each count. `trusted`, `name_matches` and `in_validity` are independent:
/// an expired certificate for the wrong name from an unknown CA is reported as all three.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertVerdict {
    /// The chain leads to a trusted root (judged at a moment inside the leaf's validity period,
    /// so expiry does not hide an untrusted issuer).
    pub trusted: bool,
    /// The leaf is valid for the host name (RFC 6125 DNS-ID; wildcard only as a whole left label).
    pub name_matches: bool,
    /// The leaf's validity period has ended.
    pub expired: bool,
    /// The leaf's validity period has not begun.
    pub not_yet_valid: bool,
    /// Whole days until the leaf expires (negative once expired); `None` if it could not be read.
    pub days_left: Option<i64>,
    /// The leaf, then the rest of the chain as sent.
    pub chain: Vec<CertInfo>,
    /// Why the chain is not trusted, in the TLS library's words.
    pub trust_error: Option<String>,
}

impl CertVerdict {
    /// True when a sender would accept this certificate for the host (RFC 8461 §4.2).
    pub fn is_valid(&self) -> bool {
        self.trusted && self.name_matches && !self.expired && !self.not_yet_valid
    }
}

fn assess_chain(
    chain: &[CertificateDer<'static>],
    host: &str,
    roots: &RootCertStore,
    algorithms: WebPkiSupportedAlgorithms,
    now: UnixTime,
    trusted_in_handshake: bool,
) -> CertVerdict {
    let infos: Vec<CertInfo> = chain.iter().filter_map(|c| CertInfo::parse(c)).collect();
    let mut verdict = CertVerdict {
        trusted: false,
        name_matches: false,
        expired: false,
        not_yet_valid: false,
        days_left: None,
        chain: infos,
        trust_error: None,
    };
    let Some((leaf_der, intermediates)) = chain.split_first() else {
        verdict.trust_error = Some("the peer sent no certificate".into());
        return verdict;
    };
    let Ok(leaf) = ParsedCertificate::try_from(leaf_der) else {
        verdict.trust_error = Some("the certificate cannot be parsed".into());
        return verdict;
    };
    if let Some(info) = verdict.chain.first() {
        let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        verdict.expired = now_secs > info.not_after;
        verdict.not_yet_valid = now_secs < info.not_before;
        verdict.days_left = Some(info.days_left(now));
    }
    verdict.name_matches = ServerName::try_from(host.to_string())
        .map(|name| verify_server_name(&leaf, &name).is_ok())
        .unwrap_or(false);
    // Judge trust at a moment the leaf is valid, so an expired leaf from a trusted CA still
    // counts as trusted (expiry is reported on its own).
    let judged_at = match verdict.chain.first() {
        Some(info) if verdict.expired || verdict.not_yet_valid => {
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                u64::try_from(info.not_before + (info.not_after - info.not_before) / 2)
                    .unwrap_or(0),
            ))
        }
        _ => now,
    };
    if trusted_in_handshake {
        // The Web PKI verifier checked this same chain against the same roots, moments ago.
        verdict.trusted = true;
        return verdict;
    }
    match verify_server_cert_signed_by_trust_anchor(
        &leaf,
        roots,
        intermediates,
        judged_at,
        algorithms.all,
    ) {
        Ok(()) => verdict.trusted = true,
        Err(e) => verdict.trust_error = Some(e.to_string()),
    }
    verdict
}
