//! Where the ACME keeper's results go in the server: issued certificates into
//! [`HostCertificates`] (new handshakes get them at once), expiry warnings to the log and, with
//! `[alerts]`, to the owner as a `certificate-expiring` alert (once per certificate, also across
//! servers sharing the store).

use std::sync::Arc;

use mta_sts_acme::{CertificateSink, ExpiryWarning, IssuedCertificate};
use mta_sts_alerts::{Alert, Alerter, Condition};
use mta_sts_core::Clock;

use super::HostCertificates;

/// The server's [`CertificateSink`].
pub(crate) struct AcmeSink {
    pub(crate) certificates: Arc<HostCertificates>,
    pub(crate) alerter: Option<Alerter>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl CertificateSink for AcmeSink {
    fn install(&self, certificate: &IssuedCertificate) {
        let name = certificate.name();
        self.certificates.set(name, certificate.certified_key());
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
