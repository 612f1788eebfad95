//! The `[monitor]` table: how often the server checks its own domains (the configured
//! `domains` and the hosted `[[hosts]]`), how the checks are spread, and what the monitor
//! engine (`mta_sts_monitor`) counts as an event. The checks use the `[check]` settings.

use std::time::Duration;

use serde::Deserialize;

use crate::error::ServeError;

/// The `[monitor]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Whether the domains are monitored.
    pub enabled: bool,
    /// Time between two checks of one domain.
    #[serde(deserialize_with = "super::seconds")]
    pub interval: Duration,
    /// The spread of the checks: each domain's checks are shifted by a random part of this,
    /// chosen when the domain is first scheduled, so many domains are not all checked at once.
    /// `None`: a tenth of `interval`.
    #[serde(default, deserialize_with = "optional_seconds")]
    pub jitter: Option<Duration>,
    /// Days before a certificate's expiry at which an event is raised (the tightest that
    /// holds), most first after [`validate`](Self::validate).
    pub cert_days: Vec<u32>,
    /// Days an organisation that fetched a hosted policy regularly may stay silent before
    /// `fetcher-stopped` is raised (at least; longer when it fetched less often).
    pub fetcher_silence_days: u32,
    /// Days the history of checks is kept (events are kept); 0 keeps it forever.
    pub keep_days: u32,
    /// Domains checked at once at most.
    pub concurrency: usize,
}

impl Default for MonitorConfig {
    fn default() -> MonitorConfig {
        MonitorConfig {
            enabled: true,
            interval: Duration::from_secs(3600),
            jitter: None,
            cert_days: vec![30, 14, 7, 1],
            fetcher_silence_days: 3,
            keep_days: 90,
            concurrency: 8,
        }
    }
}

/// The longest time between two checks of a domain: a week (policies live for weeks).
const MAX_INTERVAL: Duration = Duration::from_secs(7 * 86_400);

/// The furthest threshold ahead of an expiry: a year (certificates last at most about that).
const MAX_CERT_DAYS: u32 = 366;

/// The longest silence looked for and the longest history kept, in days.
const MAX_DAYS: u32 = 36_500;

/// The most checks at once: each holds a few connections and DNS queries.
const MAX_CONCURRENCY: usize = 256;

impl MonitorConfig {
    /// The spread of each domain's checks.
    pub fn jitter(&self) -> Duration {
        self.jitter.unwrap_or(self.interval / 10)
    }

    /// How long the history of checks is kept, if not forever.
    pub fn retention(&self) -> Option<Duration> {
        (self.keep_days > 0).then(|| Duration::from_secs(u64::from(self.keep_days) * 86_400))
    }

    /// Checks the values that parse but cannot work, and orders `cert_days` most first.
    pub(crate) fn validate(&mut self) -> Result<(), ServeError> {
        let bad = |key: &str, message: String| {
            Err(ServeError::ConfigValue {
                key: format!("monitor.{key}"),
                message,
            })
        };
        // Below a second the schedule would only spin; the checks themselves take longer.
        if self.interval < Duration::from_secs(1) || self.interval > MAX_INTERVAL {
            return bad(
                "interval",
                format!(
                    "must be from 1 to {} seconds (a week)",
                    MAX_INTERVAL.as_secs()
                ),
            );
        }
        if self.jitter() > self.interval {
            return bad(
                "jitter",
                format!(
                    "must be at most interval ({} seconds): a domain's checks would overtake \
                     each other",
                    self.interval.as_secs()
                ),
            );
        }
        if self.cert_days.is_empty() {
            return bad(
                "cert_days",
                "lists no threshold; give at least one number of days, such as [30, 14, 7, 1]"
                    .into(),
            );
        }
        self.cert_days.sort_unstable_by(|a, b| b.cmp(a));
        let before = self.cert_days.len();
        self.cert_days.dedup();
        if self.cert_days.len() != before {
            return bad("cert_days", "lists a number of days twice".into());
        }
        if let Some(days) = self
            .cert_days
            .iter()
            .find(|days| **days == 0 || **days > MAX_CERT_DAYS)
        {
            return bad(
                "cert_days",
                format!(
                    "{days} is not from 1 to {MAX_CERT_DAYS}; an expired certificate is a \
                     finding of the check already"
                ),
            );
        }
        if self.fetcher_silence_days == 0 || self.fetcher_silence_days > MAX_DAYS {
            return bad(
                "fetcher_silence_days",
                format!("must be from 1 to {MAX_DAYS}"),
            );
        }
        if self.keep_days > MAX_DAYS {
            return bad(
                "keep_days",
                format!("must be at most {MAX_DAYS}; write 0 to keep the history forever"),
            );
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return bad(
                "concurrency",
                format!("must be from 1 to {MAX_CONCURRENCY}"),
            );
        }
        Ok(())
    }
}

fn optional_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    u64::deserialize(deserializer).map(|seconds| Some(Duration::from_secs(seconds)))
}
