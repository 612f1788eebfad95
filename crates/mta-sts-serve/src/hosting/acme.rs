//! Where the ACME keeper's results go in the server: issued certificates into
//! [`HostCertificates`] (new handshakes get them at once) and the gauge
//! `mta_sts_serve_certificate_not_after_seconds{host}`, expiry warnings to the log and, with
//! `[alerts]`, to the owner as a `certificate-expiring` alert (once per certificate, also across
//! servers sharing the store).

use std::sync::Arc;

use mta_sts_acme::{CertificateSink, ExpiryWarning, IssuedCertificate};
use mta_sts_alerts::{Alert, Alerter, Condition};
use mta_sts_core::Clock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::HostCertificates;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HostLabel {
    host: String,
}

/// When each policy host's certificate from ACME expires, for `/metrics`: an alert rule can
/// compare it with `time()`. Cheap to clone; clones share the gauge.
#[derive(Debug, Clone)]
pub(crate) struct CertificateExpiry(Family<HostLabel, Gauge>);

impl CertificateExpiry {
    /// Registers the gauge under `mta_sts_serve_`.
    pub(crate) fn register(registry: &mut Registry) -> CertificateExpiry {
        let expiry = Family::<HostLabel, Gauge>::default();
        registry.sub_registry_with_prefix("mta_sts_serve").register(
            "certificate_not_after_seconds",
            "When the certificate served for each policy host from ACME expires (Unix seconds)",
            expiry.clone(),
        );
        CertificateExpiry(expiry)
    }
}

/// The server's [`CertificateSink`].
pub(crate) struct AcmeSink {
    pub(crate) certificates: Arc<HostCertificates>,
    pub(crate) expiry: CertificateExpiry,
    pub(crate) alerter: Option<Alerter>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl CertificateSink for AcmeSink {
    fn install(&self, certificate: &IssuedCertificate) {
        let name = certificate.name();
        self.certificates.set(name, certificate.certified_key());
        self.expiry
            .0
            .get_or_create(&HostLabel {
                host: name.to_string(),
            })
            .set(certificate.not_after().unix_seconds());
        tracing::info!(
            kind = %"certificate-installed",
            host = %name,
            not_after = %certificate.not_after(),
            "The certificate for {name}, valid until {}, is served from now on.",
            certificate.not_after()
        );
    }

    fn expiring(&self, warning: &ExpiryWarning) {
        // The keeper has logged the warning; this raises it where the owner reads alerts.
        let Some(alerter) = self.alerter.clone() else {
            return;
        };
        let domain = warning
            .name
            .strip_prefix("mta-sts.")
            .unwrap_or(&warning.name)
            .to_string();
        let alert = Alert {
            domain,
            condition: Condition::CertificateExpiring {
                host: warning.name.clone(),
                not_after: warning.not_after,
                last_error: warning.last_error.clone(),
            },
            // One alert per certificate: its expiry time names it.
            period: warning.not_after.to_string(),
            raised_at: self.clock.now(),
        };
        // The keeper does not wait for the store's claim; the alert is raised on its own task.
        tokio::spawn(async move {
            if let Err(error) = alerter.raise(alert).await {
                tracing::warn!(
                    kind = %"alert-failed",
                    "The alert about an expiring certificate could not be raised: {error}."
                );
            }
        });
    }
}
