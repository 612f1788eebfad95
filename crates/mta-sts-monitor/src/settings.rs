//! What the operator tunes: certificate thresholds and the fetcher-silence rule.

use std::time::Duration;

use crate::MonitorError;

/// The monitor's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorSettings {
    cert_days: Vec<u32>,
    /// An organisation counts as a regular fetcher after at least this many fetches...
    pub fetcher_min_fetches: u64,
    /// ...spread over at least this long.
    pub fetcher_min_span: Duration,
    /// A regular fetcher has stopped when silent for this many times its usual interval...
    pub fetcher_interval_factor: u32,
    /// ...and for at least this long (default 3 days).
    pub fetcher_silence: Duration,
}

impl Default for MonitorSettings {
    fn default() -> MonitorSettings {
        MonitorSettings {
            // The tightest first: `cert_threshold` takes the first that fits.
            cert_days: vec![1, 7, 14, 30],
            fetcher_min_fetches: 3,
            fetcher_min_span: Duration::from_secs(2 * 86_400),
            fetcher_interval_factor: 3,
            fetcher_silence: Duration::from_secs(3 * 86_400),
        }
    }
}

impl MonitorSettings {
    /// The default settings with these certificate thresholds in days (any order; duplicates
    /// ignored): each gives an event `cert-expiring-<N>d`.
    pub fn with_cert_days(days: &[u32]) -> Result<MonitorSettings, MonitorError> {
        let mut settings = MonitorSettings::default();
        settings.set_cert_days(days)?;
        Ok(settings)
    }

    /// Replaces the certificate thresholds.
    pub fn set_cert_days(&mut self, days: &[u32]) -> Result<(), MonitorError> {
        if days.is_empty() || days.contains(&0) {
            return Err(MonitorError::CertDays);
        }
        let mut days = days.to_vec();
        days.sort_unstable();
        days.dedup();
        self.cert_days = days;
        Ok(())
    }

    /// The certificate thresholds in days, the tightest first.
    pub fn cert_days(&self) -> &[u32] {
        &self.cert_days
    }

    /// The tightest threshold a certificate with `seconds_left` falls within, if any; `None`
    /// for one already expired (the checker's finding) or far from expiry.
    pub fn cert_threshold(&self, seconds_left: i64) -> Option<u32> {
        if seconds_left <= 0 {
            return None;
        }
        self.cert_days
            .iter()
            .copied()
            .find(|days| seconds_left <= i64::from(*days) * 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_falls_within_the_tightest_threshold_only() {
        let settings = MonitorSettings::default();
        let day = 86_400;
        assert_eq!(settings.cert_threshold(90 * day), None);
        assert_eq!(settings.cert_threshold(30 * day), Some(30));
        assert_eq!(settings.cert_threshold(14 * day + 1), Some(30));
        assert_eq!(settings.cert_threshold(7 * day - 3600), Some(7));
        assert_eq!(settings.cert_threshold(60), Some(1));
        // Expired: the checker's finding, no threshold.
        assert_eq!(settings.cert_threshold(0), None);
        assert_eq!(settings.cert_threshold(-day), None);
        let custom = MonitorSettings::with_cert_days(&[10, 3, 10]).expect("valid");
        assert_eq!(custom.cert_days(), [3, 10]);
        assert_eq!(custom.cert_threshold(5 * day), Some(10));
        assert!(MonitorSettings::with_cert_days(&[]).is_err());
        assert!(MonitorSettings::with_cert_days(&[7, 0]).is_err());
    }
}
