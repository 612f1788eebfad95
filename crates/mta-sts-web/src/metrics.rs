//! Prometheus metrics, in the OpenMetrics text format prometheus-client writes.

use std::time::Duration;

use mta_sts_check::Verdict;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::server::CloseReason;

/// The media type of [`Metrics::encode`]'s output.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerdictLabel {
    verdict: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CloseLabel {
    reason: &'static str,
}

/// Every reason a request is turned away before a check runs.
const REASONS: [&str; 3] = ["invalid", "rate-limited", "busy"];

/// The service's counters and the check-duration histogram.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    checks: Family<VerdictLabel, Counter>,
    duration: Histogram,
    rejected: Family<ReasonLabel, Counter>,
    timeouts: Counter,
    cache_hits: Counter,
    connections_open: Gauge,
    connections_closed: Family<CloseLabel, Counter>,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let checks = Family::<VerdictLabel, Counter>::default();
        // 50 ms to ~50 s: a check is DNS plus one HTTPS fetch plus SMTP probes.
        let duration = Histogram::new(exponential_buckets(0.05, 2.0, 11));
        let rejected = Family::<ReasonLabel, Counter>::default();
        let timeouts = Counter::default();
        let cache_hits = Counter::default();
        // Every label value appears from the start at 0, so rates and alerts work before the
        // first event of each kind.
        for verdict in [
            Verdict::Pass,
            Verdict::Warn,
            Verdict::Fail,
            Verdict::Unknown,
        ] {
            drop(checks.get_or_create(&VerdictLabel {
                verdict: verdict_label(verdict),
            }));
        }
        for reason in REASONS {
            drop(rejected.get_or_create(&ReasonLabel { reason }));
        }
        let mut registry = Registry::with_prefix("mta_sts");
        registry.register(
            "checks",
            "Checks run to the end, by verdict (cached answers are not counted)",
            checks.clone(),
        );
        registry.register(
            "check_duration_seconds",
            "Time a check took, start to verdict",
            duration.clone(),
        );
        registry.register(
            "rejected_requests",
            "Requests turned away before a check ran, by reason",
            rejected.clone(),
        );
        registry.register(
            "check_timeouts",
            "Checks cut off by the time limit",
            timeouts.clone(),
        );
        registry.register(
            "cache_hits",
            "Answers served from the result cache",
            cache_hits.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "HTTP connections open",
            connections_open.clone(),
        );
        let connections_closed = Family::<CloseLabel, Counter>::default();
        for reason in CloseReason::ALL {
            drop(connections_closed.get_or_create(&CloseLabel {
                reason: reason.label(),
            }));
        }
        registry.register(
            "connections_closed",
            "HTTP connections closed, by reason: client_closed, header_timeout (headers or the next request too slow), evicted (at the connection cap, to make room), bad_request, shutdown",
            connections_closed.clone(),
        );
        Metrics {
            registry,
            checks,
            duration,
            rejected,
            timeouts,
            cache_hits,
            connections_open,
            connections_closed,
        }
    }

    /// A connection accepted.
    pub(crate) fn connection_opened(&self) {
        self.connections_open.inc();
    }

    /// A connection closed, and why.
    pub(crate) fn connection_closed(&self, reason: CloseReason) {
        self.connections_open.dec();
        self.connections_closed
            .get_or_create(&CloseLabel {
                reason: reason.label(),
            })
            .inc();
    }

    /// A check that ran to its verdict.
    pub(crate) fn check_done(&self, verdict: Verdict, took: Duration) {
        self.checks
            .get_or_create(&VerdictLabel {
                verdict: verdict_label(verdict),
            })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// A request refused before a check ran; `reason` is one of [`REASONS`].
    pub(crate) fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// A check cut off by the time limit.
    pub(crate) fn timed_out(&self) {
        self.timeouts.inc();
    }

    /// An answer from the cache.
    pub(crate) fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    /// The text a Prometheus scrape reads.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

fn verdict_label(verdict: Verdict) -> &'static str {
    verdict.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_as_documented() {
        let metrics = Metrics::new();
        metrics.check_done(Verdict::Fail, Duration::from_millis(300));
        metrics.rejected("busy");
        let text = metrics.encode().expect("encodes");
        for line in [
            "mta_sts_checks_total{verdict=\"fail\"} 1",
            "mta_sts_checks_total{verdict=\"pass\"} 0",
            "mta_sts_rejected_requests_total{reason=\"busy\"} 1",
            "mta_sts_rejected_requests_total{reason=\"rate-limited\"} 0",
            "mta_sts_check_duration_seconds_count 1",
            "mta_sts_check_timeouts_total 0",
            "mta_sts_connections_open 0",
            "mta_sts_connections_closed_total{reason=\"evicted\"} 0",
            "mta_sts_connections_closed_total{reason=\"header_timeout\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
