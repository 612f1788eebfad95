//! Policy hosting (RFC 8461 §3.3): `https://mta-sts.<domain>/.well-known/mta-sts.txt` for every
//! hosted domain on the HTTPS listener, the certificate chosen by SNI.
//!
//! Two shared tables tie the parts together, each changed while the server serves:
//! - [`HostedPolicies`]: the policy text served per domain, swapped when the configuration is
//!   reloaded or an `auto` policy is regenerated from the live MX set (the `hosting` routes read
//!   it on every request; the in-step updater writes it, then the `_mta-sts` id);
//! - [`HostCertificates`]: the certificate per policy host name (`mta-sts.<domain>`), from
//!   certificate files or from ACME (the SNI resolver reads it on every handshake).

mod acme;
mod fetches;
pub(crate) mod in_step;
mod load;
mod organizations;
mod routes;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use mta_sts_acme::Challenges;
use rustls::sign::CertifiedKey;

pub(crate) use acme::{AcmeSink, CertificateExpiry};
pub(crate) use fetches::FetchLog;
pub(crate) use load::{load_certificates, load_policies};
pub(crate) use organizations::Organizations;
pub(crate) use routes::{HostRouter, Scheme};

/// Everything hosting shares between the listeners, the SNI resolver and the updaters (ACME,
/// `auto` policies, DNS updates): cheap to clone, clones share the tables.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hosting {
    /// The policies served.
    pub(crate) policies: Arc<HostedPolicies>,
    /// The policy hosts' certificates.
    pub(crate) certificates: Arc<HostCertificates>,
    /// The answers to pending ACME challenges (HTTP-01 on plain HTTP, TLS-ALPN-01 at the
    /// handshake).
    pub(crate) challenges: Arc<Challenges>,
    /// The domains configured as hosted, whether or not their policy is served yet (an `auto`
    /// policy before its first generation): their policy host never reaches other routes.
    pub(crate) configured: Arc<ConfiguredDomains>,
}

/// The domains of the `[[hosts]]` tables, replaced on reload.
#[derive(Debug, Default)]
pub(crate) struct ConfiguredDomains(RwLock<std::collections::BTreeSet<String>>);

impl ConfiguredDomains {
    /// The hosted domains are now `domains`.
    pub(crate) fn replace(&self, domains: impl IntoIterator<Item = String>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = domains.into_iter().collect();
    }

    /// Whether `domain` (lowercase) is configured as hosted.
    pub(crate) fn contains(&self, domain: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(domain)
    }
}

/// The policy host name of `domain`: `mta-sts.<domain>` (RFC 8461 §3.3).
pub(crate) fn policy_host(domain: &str) -> String {
    format!("mta-sts.{domain}")
}

/// One hosted domain's policy as served now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostedPolicy {
    /// The policy domain, lowercase A-label, no trailing dot (`example.com`).
    pub(crate) domain: String,
    /// The policy text exactly as served (CRLF or LF line ends as written).
    pub(crate) text: Arc<str>,
    /// The `_mta-sts` id for this text: `mta_sts_core::sts_record::content_id` of it.
    pub(crate) id: String,
}

impl HostedPolicy {
    /// The policy `text` for `domain`, with its content-derived id.
    pub(crate) fn new(domain: &str, text: &str) -> HostedPolicy {
        HostedPolicy {
            domain: domain.to_ascii_lowercase(),
            text: Arc::from(text),
            id: mta_sts_core::sts_record::content_id(text),
        }
    }
}

/// The policies served, by policy domain.
#[derive(Debug, Default)]
pub(crate) struct HostedPolicies {
    by_domain: RwLock<HashMap<String, Arc<HostedPolicy>>>,
}

impl HostedPolicies {
    /// The policy served for `domain` (lowercase, no trailing dot), if it is hosted.
    pub(crate) fn get(&self, domain: &str) -> Option<Arc<HostedPolicy>> {
        self.by_domain
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(domain)
            .cloned()
    }

    /// Serves `policy` from now on; returns the one it replaces.
    pub(crate) fn set(&self, policy: HostedPolicy) -> Option<Arc<HostedPolicy>> {
        self.by_domain
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(policy.domain.clone(), Arc::new(policy))
    }

    /// Stops serving `domain`'s policy (it left the configuration).
    pub(crate) fn remove(&self, domain: &str) -> Option<Arc<HostedPolicy>> {
        self.by_domain
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(domain)
    }

    /// Every hosted domain, sorted.
    pub(crate) fn domains(&self) -> Vec<String> {
        let mut domains: Vec<String> = self
            .by_domain
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        domains.sort();
        domains
    }
}

/// The certificates of the policy hosts, by host name (`mta-sts.example.com`, lowercase).
#[derive(Debug, Default)]
pub(crate) struct HostCertificates {
    by_name: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl HostCertificates {
    /// The certificate for a TLS client asking for `name` by SNI.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Gives new handshakes for `name` this certificate (connections already open keep theirs).
    pub(crate) fn set(&self, name: &str, certificate: Arc<CertifiedKey>) {
        self.by_name
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_ascii_lowercase(), certificate);
    }
}

impl HostCertificates {
    /// Stops giving `name` a certificate (its domain left the configuration).
    pub(crate) fn remove(&self, name: &str) {
        self.by_name
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&name.to_ascii_lowercase());
    }

    /// Every name with a certificate, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }
}
