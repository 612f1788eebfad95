//! Prometheus metrics, in the OpenMetrics text format prometheus-client writes.

use std::time::Duration;

use mta_sts_check::Verdict;
use mta_sts_service::{CloseReason, ConnectionMetrics, MetricsRegistry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerdictLabel {
    verdict: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Every reason a request is turned away before a check runs.
const REASONS: [&str; 3] = ["invalid", "rate-limited", "busy"];

/// The service's counters and the check-duration histogram, in the process's registry under
/// the `mta_sts` prefix.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: MetricsRegistry,
    checks: Family<VerdictLabel, Counter>,
    duration: Histogram,
    rejected: Family<ReasonLabel, Counter>,
    timeouts: Counter,
    cache_hits: Counter,
    connections: ConnectionMetrics,
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
        let registry = MetricsRegistry::new();
        let connections = registry.register(|registry| {
            let registry = registry.sub_registry_with_prefix("mta_sts");
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
            ConnectionMetrics::register(registry, "HTTP", &CloseReason::HTTP)
        });
        Metrics {
            registry,
            checks,
            duration,
            rejected,
            timeouts,
            cache_hits,
            connections,
        }
    }

    /// The connection metrics, for the server to count in.
    pub(crate) fn connections(&self) -> &ConnectionMetrics {
        &self.connections
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

    /// The registry, for `/metrics`.
    pub(crate) fn registry(&self) -> &MetricsRegistry {
        &self.registry
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
        let text = metrics.registry().encode();
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
