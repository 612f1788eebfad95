//! The monitor's Prometheus gauges, per domain, so an existing Alertmanager can page on them:
//!
//! - `mta_sts_monitor_verdict{domain, verdict}`: 1 for the last check's verdict (`pass`,
//!   `warn`, `fail`, `unknown`), 0 for the others;
//! - `mta_sts_monitor_certificate_expiry_days{domain, host}`: days until the certificate of
//!   the policy host and of each MX host expires (negative once expired), as last seen;
//! - `mta_sts_monitor_policy_age_seconds{domain}`: since the served policy's content last
//!   changed (as far as the monitor has seen it);
//! - `mta_sts_monitor_seconds_since_success{domain}`: since the last check that learnt
//!   everything (outcome `complete`);
//! - `mta_sts_monitor_open_events{domain}`: the domain's events raised and not cleared.
//!
//! Ages are computed when `/metrics` is read, so they grow between checks; hence a collector
//! over the domains' last state rather than gauges set at each check.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use mta_sts_check::{Outcome, Verdict};
use mta_sts_core::Timestamp;
use mta_sts_core::time::{Clock, SECONDS_PER_DAY};
use mta_sts_monitor::Snapshot;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Every verdict a check gives, as the `verdict` label names it.
const VERDICTS: [Verdict; 4] = [
    Verdict::Pass,
    Verdict::Warn,
    Verdict::Fail,
    Verdict::Unknown,
];

/// What the gauges show of one domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DomainState {
    /// The last check's verdict.
    pub(crate) verdict: Option<Verdict>,
    /// The end of validity of each host's certificate (policy host, MX hosts), as last seen.
    pub(crate) certificates: BTreeMap<String, Timestamp>,
    /// Since when the served policy has been the same.
    pub(crate) policy_changed_at: Option<Timestamp>,
    /// When a check last learnt everything.
    pub(crate) last_success: Option<Timestamp>,
    /// Events raised and not cleared.
    pub(crate) open_events: u64,
}

impl DomainState {
    /// Takes in a check.
    pub(crate) fn record(&mut self, snapshot: &Snapshot) {
        self.verdict = Some(snapshot.verdict);
        if snapshot.outcome == Outcome::Complete {
            self.last_success = Some(snapshot.checked_at);
        }
        if snapshot.policy_changed_at.is_some() {
            self.policy_changed_at = snapshot.policy_changed_at;
        }
        for seen in &snapshot.certificates {
            self.certificates.insert(seen.host.clone(), seen.not_after);
        }
        // An MX host no longer in the set is no longer the domain's: its gauge goes.
        if let Some(mx) = &snapshot.mx {
            let policy_host = format!("mta-sts.{}", snapshot.domain);
            self.certificates
                .retain(|host, _| *host == policy_host || mx.contains(host));
        }
    }
}

/// The domains' last state, shared by the monitor (which writes it) and `/metrics`.
#[derive(Debug, Clone)]
pub(crate) struct MonitorGauges {
    domains: Arc<Mutex<BTreeMap<String, DomainState>>>,
    clock: Arc<dyn Clock>,
}

impl MonitorGauges {
    /// Registers the gauges in `registry` (at its root: the names are `mta_sts_monitor_*`).
    pub(crate) fn register(registry: &mut Registry, clock: Arc<dyn Clock>) -> MonitorGauges {
        let gauges = MonitorGauges {
            domains: Arc::default(),
            clock,
        };
        registry.register_collector(Box::new(gauges.clone()));
        gauges
    }

    /// Changes the state of `domain`.
    pub(crate) fn update(&self, domain: &str, change: impl FnOnce(&mut DomainState)) {
        let mut domains = self.domains.lock().unwrap_or_else(PoisonError::into_inner);
        change(domains.entry(domain.to_string()).or_default());
    }

    /// Keeps only the domains of `monitored` (a reload may have dropped some).
    pub(crate) fn retain(&self, monitored: &[String]) {
        self.domains
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|domain, _| monitored.contains(domain));
    }
}

impl Collector for MonitorGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = self.clock.now();
        let domains = self
            .domains
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let seconds = |since: Timestamp| now.unix_seconds().saturating_sub(since.unix_seconds());
        {
            let mut metric = encoder.encode_descriptor(
                "mta_sts_monitor_verdict",
                "The last monitor check's verdict of each domain: 1 for the current one (pass, \
                 warn, fail, unknown), 0 for the others",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (domain, state) in &domains {
                let Some(current) = state.verdict else {
                    continue;
                };
                for verdict in VERDICTS {
                    let label = [("domain", domain.as_str()), ("verdict", verdict.as_str())];
                    ConstGauge::new(i64::from(verdict == current))
                        .encode(metric.encode_family(&label)?)?;
                }
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "mta_sts_monitor_certificate_expiry_days",
                "Days until the certificate of each domain's policy host and MX hosts expires \
                 (negative once expired), as the monitor last saw it",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (domain, state) in &domains {
                for (host, not_after) in &state.certificates {
                    let days = (not_after.unix_seconds() - now.unix_seconds()) as f64
                        / SECONDS_PER_DAY as f64;
                    ConstGauge::new(days).encode(metric.encode_family(&[
                        ("domain", domain.as_str()),
                        ("host", host.as_str()),
                    ])?)?;
                }
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "mta_sts_monitor_policy_age_seconds",
                "Seconds since the served MTA-STS policy of each domain last changed, as far \
                 as the monitor has seen it",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (domain, state) in &domains {
                if let Some(since) = state.policy_changed_at {
                    ConstGauge::new(seconds(since))
                        .encode(metric.encode_family(&[("domain", domain.as_str())])?)?;
                }
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "mta_sts_monitor_seconds_since_success",
                "Seconds since the monitor's last check of each domain that learnt everything \
                 (outcome complete)",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (domain, state) in &domains {
                if let Some(at) = state.last_success {
                    ConstGauge::new(seconds(at))
                        .encode(metric.encode_family(&[("domain", domain.as_str())])?)?;
                }
            }
        }
        let mut metric = encoder.encode_descriptor(
            "mta_sts_monitor_open_events",
            "The monitor's events of each domain raised and not yet cleared",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (domain, state) in &domains {
            if state.verdict.is_some() {
                ConstGauge::new(state.open_events as i64)
                    .encode(metric.encode_family(&[("domain", domain.as_str())])?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
