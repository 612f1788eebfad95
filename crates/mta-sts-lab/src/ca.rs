//! The lab certificate authority and the SNI-driven certificate choice.
//!
//! One root CA (ECDSA P-256) per lab, name-constrained to `.test` so that a copy of
//! [`Lab::ca_file`](crate::Lab::ca_file) left in some trust store can vouch for nothing real.
//! Leaves are issued lazily, on the first handshake naming a host, and cached: a lab with
//! thousands of generated domains starts without signing anything. All leaves share one key pair,
//! so issuing one costs a single ECDSA signature.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair, KeyUsagePurpose, NameConstraints,
    PublicKeyData, SerialNumber,
};
use rustls::{
    crypto::{CryptoProvider, hash::HashAlgorithm},
    server::{ClientHello, ResolvesServerCert},
    sign::{CertifiedKey, SigningKey},
};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::{error::LabError, scenario::CertKind};

/// Valid leaves last this long; long enough that no checker calls them "expiring soon".
const LEAF_DAYS: i64 = 90;

/// The lab root CA and the one key pair shared by every leaf.
pub(crate) struct LabCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    ca_pem: String,
    leaf_key: KeyPair,
    leaf_signer: Arc<dyn SigningKey>,
    serial: AtomicU64,
}

impl fmt::Debug for LabCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys stay out of debug output.
        f.debug_struct("LabCa").finish_non_exhaustive()
    }
}

impl LabCa {
    /// Generates a fresh root CA and leaf key pair.
    pub(crate) fn generate(provider: &CryptoProvider) -> Result<Self, LabError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "mta-sts lab");
        dn.push(DnType::CommonName, "mta-sts lab root CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        // RFC 5280 §4.2.1.10: a dNSName constraint "test" permits every name under .test.
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("test".to_owned())],
            excluded_subtrees: Vec::new(),
        });
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(365);
        params.serial_number = Some(SerialNumber::from_slice(&[1]));
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let issuer = CertifiedIssuer::self_signed(params, ca_key)?;
        let ca_pem = issuer.pem();

        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let leaf_signer = provider.key_provider.load_private_key(der)?;
        Ok(Self {
            issuer,
            ca_pem,
            leaf_key,
            leaf_signer,
            serial: AtomicU64::new(2),
        })
    }

    /// The root certificate, PEM.
    pub(crate) fn pem(&self) -> &str {
        &self.ca_pem
    }

    /// The SHA-256 digest of the leaf key's SubjectPublicKeyInfo (DER), the data of a
    /// `3 1 1` TLSA record (RFC 6698 §2.1: selector 1, matching type 1) for every leaf. rcgen
    /// writes this same encoding into each certificate it issues for the key.
    pub(crate) fn leaf_spki_sha256(&self) -> Option<Vec<u8>> {
        sha256(&self.leaf_key.subject_public_key_info())
    }

    /// Issues a leaf for `host` of the given kind.
    pub(crate) fn issue(&self, host: &str, kind: &CertKind) -> Result<CertifiedKey, rcgen::Error> {
        let cert = self.certificate(host, kind)?;
        Ok(CertifiedKey::new(
            vec![cert.der().clone()],
            Arc::clone(&self.leaf_signer),
        ))
    }

    /// Issues a valid leaf for `host` as PEM files would hold it: the certificate, then the
    /// (shared) leaf private key.
    pub(crate) fn issue_pem(&self, host: &str) -> Result<(String, String), rcgen::Error> {
        let cert = self.certificate(host, &CertKind::Valid)?;
        Ok((cert.pem(), self.leaf_key.serialize_pem()))
    }

    fn certificate(&self, host: &str, kind: &CertKind) -> Result<rcgen::Certificate, rcgen::Error> {
        let now = OffsetDateTime::now_utc();
        let san = match kind {
            CertKind::OtherName(other) => other.as_str(),
            _ => host,
        };
        let mut params = CertificateParams::new(vec![san.to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, san);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        // Distinct serials: every leaf has the same key, and rcgen would otherwise derive the
        // serial from it, giving different certificates of one issuer the same serial
        // (RFC 5280 §4.1.2.2 forbids that).
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let mut bytes = vec![0x01];
        bytes.extend_from_slice(&serial.to_be_bytes());
        params.serial_number = Some(SerialNumber::from_slice(&bytes));
        // An hour of slack before now, for clients whose clock is a little behind.
        let (not_before, not_after) = match kind {
            CertKind::Expired => (now - Duration::days(LEAF_DAYS), now - Duration::days(1)),
            CertKind::NotYetValid => (
                now + Duration::days(30),
                now + Duration::days(30 + LEAF_DAYS),
            ),
            CertKind::ExpiresInDays(days) => (
                now - Duration::hours(1),
                now + Duration::days(i64::from(*days)),
            ),
            _ => (now - Duration::hours(1), now + Duration::days(LEAF_DAYS)),
        };
        params.not_before = not_before;
        params.not_after = not_after;
        match kind {
            CertKind::SelfSigned => params.self_signed(&self.leaf_key),
            _ => params.signed_by(&self.leaf_key, &self.issuer),
        }
    }
}

/// SHA-256 by the ring provider's TLS 1.3 suite: the lab has no hash dependency of its own, and
/// rustls with ring is already here. `None` only if that suite were built without SHA-256.
pub(crate) fn sha256(data: &[u8]) -> Option<Vec<u8>> {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13()?;
    let hash = suite.common.hash_provider;
    (hash.algorithm() == HashAlgorithm::SHA256).then(|| hash.hash(data).as_ref().to_vec())
}

/// Chooses the certificate by the SNI host name, issuing it on first use.
#[derive(Debug)]
pub(crate) struct SniResolver {
    ca: Arc<LabCa>,
    /// Lower-case host name → the certificate kind declared for it; replaced by
    /// [`SniResolver::set_hosts`] while the lab serves.
    hosts: RwLock<HashMap<String, CertKind>>,
    /// The host whose certificate a client without SNI gets; `None` aborts such handshakes.
    no_sni: Option<String>,
    cache: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl SniResolver {
    pub(crate) fn new(
        ca: Arc<LabCa>,
        hosts: HashMap<String, CertKind>,
        no_sni: Option<String>,
    ) -> Self {
        Self {
            ca,
            hosts: RwLock::new(hosts),
            no_sni,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The certificate for `host`, or `None` if the host is unknown.
    pub(crate) fn certificate(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = host.to_ascii_lowercase();
        // Poisoned locks only mean a panic elsewhere mid-update; the maps are intact. The hosts
        // lock is held until the cache is filled, so `set_hosts` cannot slip in between and
        // leave a certificate of the old kind cached.
        let hosts = self.hosts.read().unwrap_or_else(PoisonError::into_inner);
        let kind = hosts.get(&host)?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(hit) = cache.get(&host) {
            return Some(Arc::clone(hit));
        }
        let issued = Arc::new(self.ca.issue(&host, kind).ok()?);
        cache.insert(host, Arc::clone(&issued));
        Some(issued)
    }

    /// Serves `hosts` from now on; the cached certificates of hosts whose kind changed (or that
    /// are gone) are dropped, so the next handshake naming them gets a fresh one.
    pub(crate) fn set_hosts(&self, hosts: HashMap<String, CertKind>) {
        let mut current = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|host, _| current.get(host) == hosts.get(host));
        *current = hosts;
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // Returning None makes rustls abort the handshake with an alert: unknown names get no
        // certificate at all, like a real server without a matching virtual host.
        match client_hello.server_name() {
            Some(name) => self.certificate(name),
            None => self.certificate(self.no_sni.as_deref()?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> CryptoProvider {
        rustls::crypto::ring::default_provider()
    }

    #[test]
    fn ca_pem_is_a_certificate() {
        let ca = LabCa::generate(&provider()).expect("CA generation works");
        assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn sha256_matches_the_fips_180_example() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        let digest = sha256(b"abc").expect("SHA-256 is available");
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn every_leaf_carries_the_spki_the_tlsa_digest_is_taken_of() {
        let ca = LabCa::generate(&provider()).expect("CA generation works");
        let spki = ca.leaf_key.subject_public_key_info();
        for kind in [CertKind::Valid, CertKind::Expired, CertKind::SelfSigned] {
            let leaf = ca.issue("mx.a.test", &kind).expect("issued");
            let der = leaf.cert[0].as_ref();
            assert!(
                der.windows(spki.len()).any(|w| w == spki.as_slice()),
                "{kind:?}: the certificate holds the SubjectPublicKeyInfo"
            );
        }
        assert_eq!(ca.leaf_spki_sha256(), sha256(&spki));
        assert_eq!(ca.leaf_spki_sha256().map(|d| d.len()), Some(32));
    }

    #[test]
    fn leaves_get_distinct_serials_and_are_cached() {
        let ca = Arc::new(LabCa::generate(&provider()).expect("CA generation works"));
        let hosts = HashMap::from([
            ("a.test".to_owned(), CertKind::Valid),
            ("b.test".to_owned(), CertKind::Expired),
        ]);
        let resolver = SniResolver::new(ca, hosts, None);
        let a1 = resolver.certificate("A.test").expect("known host");
        let a2 = resolver.certificate("a.test").expect("known host");
        let b = resolver.certificate("b.test").expect("known host");
        assert!(
            Arc::ptr_eq(&a1, &a2),
            "second lookup is served from the cache"
        );
        assert_ne!(a1.cert[0], b.cert[0]);
        assert!(resolver.certificate("c.test").is_none());
    }

    #[test]
    fn set_hosts_reissues_only_what_changed() {
        let ca = Arc::new(LabCa::generate(&provider()).expect("CA generation works"));
        let hosts = HashMap::from([
            ("a.test".to_owned(), CertKind::Valid),
            ("b.test".to_owned(), CertKind::Valid),
            ("c.test".to_owned(), CertKind::Valid),
        ]);
        let resolver = SniResolver::new(ca, hosts, None);
        let a = resolver.certificate("a.test").expect("known host");
        let b = resolver.certificate("b.test").expect("known host");
        resolver.certificate("c.test").expect("known host");

        resolver.set_hosts(HashMap::from([
            ("a.test".to_owned(), CertKind::Valid),
            ("b.test".to_owned(), CertKind::ExpiresInDays(3)),
            ("d.test".to_owned(), CertKind::Valid),
        ]));
        let a_after = resolver.certificate("a.test").expect("still known");
        let b_after = resolver.certificate("b.test").expect("still known");
        assert!(Arc::ptr_eq(&a, &a_after), "unchanged kind: the cached leaf");
        assert_ne!(b.cert[0], b_after.cert[0], "changed kind: a fresh leaf");
        assert!(resolver.certificate("c.test").is_none(), "removed host");
        assert!(resolver.certificate("d.test").is_some(), "added host");
    }
}
