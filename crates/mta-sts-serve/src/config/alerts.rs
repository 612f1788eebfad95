//! The `[alerts]` table: what the watcher looks for and how often, and where alerts go (the
//! `[alerts.webhook]` and `[alerts.mail]` tables, read by `mta_sts_alerts`). With neither a
//! webhook nor mail, nothing is watched.

use std::time::Duration;

use mta_sts_alerts::{DeliverySettings, MailSettings, WebhookSettings};
use serde::Deserialize;

use crate::error::ServeError;

/// The `[alerts]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Time between two looks for newly received reports.
    #[serde(deserialize_with = "super::seconds")]
    pub poll_interval: Duration,
    /// The period a failure alert stands for: one alert per domain per period.
    pub failure_period: FailurePeriod,
    /// Time between two looks for silent reporters and, with `advisor`, verdict changes (the
    /// first at start).
    #[serde(deserialize_with = "super::seconds")]
    pub check_interval: Duration,
    /// Whole days without a report after which a regular reporter counts as silent.
    pub silent_after_days: u32,
    /// A reporter is regular when it reported on at least this many days of the last
    /// `lookback_days`.
    pub regular_days: u32,
    /// The days looked back over for silent reporters.
    pub lookback_days: u32,
    /// Whether the rollout advisor (the live check of `[check]`, the thresholds of
    /// `[rollout]`) runs for each domain every `check_interval` and a change of its verdict
    /// raises an alert.
    pub advisor: bool,
    /// Alerts waiting per channel at most.
    pub queue: usize,
    /// The webhook, if any.
    pub webhook: Option<WebhookSettings>,
    /// Mail, if any.
    pub mail: Option<MailSettings>,
}

/// How long one failure alert stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePeriod {
    /// The UTC hour (`2026-12-07T04`).
    Hour,
    /// The UTC day (`2026-12-07`).
    #[default]
    Day,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        let delivery = DeliverySettings::default();
        AlertsConfig {
            poll_interval: Duration::from_secs(60),
            failure_period: FailurePeriod::Day,
            check_interval: Duration::from_secs(3600),
            silent_after_days: 3,
            regular_days: 7,
            lookback_days: 30,
            advisor: true,
            queue: delivery.queue,
            webhook: delivery.webhook,
            mail: delivery.mail,
        }
    }
}

/// The longest look-back: the evidence query reads this many days per domain.
const MAX_LOOKBACK_DAYS: u32 = 366;

impl AlertsConfig {
    /// Whether any channel is configured (otherwise nothing is watched).
    pub fn is_enabled(&self) -> bool {
        self.webhook.is_some() || self.mail.is_some()
    }

    /// Where alerts go.
    pub fn delivery(&self) -> DeliverySettings {
        DeliverySettings {
            queue: self.queue,
            webhook: self.webhook.clone(),
            mail: self.mail.clone(),
        }
    }

    /// Checks the values that parse but cannot work (the channels' own settings, secrets and
    /// CA files are checked when the server starts).
    pub(crate) fn validate(&self) -> Result<(), ServeError> {
        let bad = |key: &str, message: String| {
            Err(ServeError::ConfigValue {
                key: format!("alerts.{key}"),
                message,
            })
        };
        if self.poll_interval.is_zero() {
            return bad("poll_interval", "must be at least 1 second".into());
        }
        if self.check_interval < Duration::from_secs(60) {
            return bad(
                "check_interval",
                "must be at least 60 seconds: each look runs a live check per domain".into(),
            );
        }
        if self.queue == 0 {
            return bad("queue", "0 would drop every alert; give at least 1".into());
        }
        if self.lookback_days == 0 || self.lookback_days > MAX_LOOKBACK_DAYS {
            return bad(
                "lookback_days",
                format!("must be from 1 to {MAX_LOOKBACK_DAYS}"),
            );
        }
        if self.regular_days == 0 || self.regular_days > self.lookback_days {
            return bad(
                "regular_days",
                format!(
                    "must be from 1 to lookback_days ({}): a reporter cannot report on more \
                     days than are looked at",
                    self.lookback_days
                ),
            );
        }
        if self.silent_after_days == 0 || self.silent_after_days >= self.lookback_days {
            return bad(
                "silent_after_days",
                format!(
                    "must be from 1 to less than lookback_days ({}), or no silence is ever seen",
                    self.lookback_days
                ),
            );
        }
        Ok(())
    }
}
