//! Prometheus metrics of `mta-sts tlsrpt run`: what the collectors received (from the store's
//! day figures, so they cover every collector sharing the store), reports built, and deliveries
//! by outcome; served over HTTP at `/metrics`.

use std::future::Future;
use std::time::Duration;

use mta_sts_service::{HttpOptions, MetricsRegistry, Server};
use mta_sts_store::sender_reports::DayFigures;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::TcpListener;

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered.
    Sent,
    /// Failed; tried again later.
    Retry,
    /// Failed for the last time (or refused for good): given up.
    GivenUp,
}

impl AttemptOutcome {
    fn label(self) -> &'static str {
        match self {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::GivenUp => "given-up",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DatagramLabel {
    day: &'static str,
    kind: &'static str,
}

/// The reporter's metrics, under the `mta_sts_tlsrpt` prefix.
#[derive(Debug)]
pub struct ReporterMetrics {
    registry: MetricsRegistry,
    datagrams: Family<DatagramLabel, Gauge>,
    reports_built: Counter,
    deliveries: Family<OutcomeLabel, Counter>,
    pruned_days: Counter,
    prune_failures: Counter,
}

impl Default for ReporterMetrics {
    fn default() -> ReporterMetrics {
        ReporterMetrics::new()
    }
}

impl ReporterMetrics {
    /// A new registry with every series present from the start (at zero).
    pub fn new() -> ReporterMetrics {
        let datagrams = Family::<DatagramLabel, Gauge>::default();
        let reports_built = Counter::default();
        let deliveries = Family::<OutcomeLabel, Counter>::default();
        let pruned_days = Counter::default();
        let prune_failures = Counter::default();
        let registry = MetricsRegistry::new();
        registry.register(|registry| {
            let registry = registry.sub_registry_with_prefix("mta_sts_tlsrpt");
            registry.register(
                "datagrams",
                "Datagrams the collectors received today and yesterday (UTC), by kind: received (all), malformed, lost (buffer full while the store was slow); from the store, so every collector sharing it counts",
                datagrams.clone(),
            );
            registry.register(
                "reports_built",
                "RFC 8460 reports built and put in the outbox",
                reports_built.clone(),
            );
            registry.register(
                "deliveries",
                "Delivery attempts by outcome: sent, retry (failed, tried again later), given-up (the last attempt failed, or a permanent refusal)",
                deliveries.clone(),
            );
            registry.register(
                "pruned_days",
                "Days deleted from the store (counts, collector figures and outbox) for being older than keep_days",
                pruned_days.clone(),
            );
            registry.register(
                "prune_failures",
                "Daily deletions of old days that failed (tried again the next day)",
                prune_failures.clone(),
            );
        });
        for day in ["today", "yesterday"] {
            for kind in ["received", "malformed", "lost"] {
                let _ = datagrams.get_or_create(&DatagramLabel { day, kind });
            }
        }
        for outcome in [
            AttemptOutcome::Sent,
            AttemptOutcome::Retry,
            AttemptOutcome::GivenUp,
        ] {
            let _ = deliveries.get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            });
        }
        ReporterMetrics {
            registry,
            datagrams,
            reports_built,
            deliveries,
            pruned_days,
            prune_failures,
        }
    }

    /// Sets the collection gauges from the store's figures for today and yesterday.
    pub fn collected(&self, today: &DayFigures, yesterday: &DayFigures) {
        for (day, figures) in [("today", today), ("yesterday", yesterday)] {
            for (kind, value) in [
                ("received", figures.datagrams),
                ("malformed", figures.malformed),
                ("lost", figures.lost),
            ] {
                self.datagrams
                    .get_or_create(&DatagramLabel { day, kind })
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            }
        }
    }

    /// `count` more reports built and enqueued.
    pub fn built(&self, count: u64) {
        self.reports_built.inc_by(count);
    }

    /// `days` more days deleted as too old.
    pub fn pruned(&self, days: u64) {
        self.pruned_days.inc_by(days);
    }

    /// A daily deletion of old days failed.
    pub fn prune_failed(&self) {
        self.prune_failures.inc();
    }

    /// One delivery attempt ended so.
    pub fn attempt(&self, outcome: AttemptOutcome) {
        self.deliveries
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .inc();
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        self.registry.encode()
    }

    /// Serves `GET /metrics` on `listener` until `shutdown`.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        Server::new(listener)
            .max_connections(METRICS_CONNECTIONS)
            .drain_timeout(METRICS_HEADER_TIMEOUT)
            .serve_http(
                HttpOptions {
                    header_read_timeout: METRICS_HEADER_TIMEOUT,
                },
                self.registry.service(),
                shutdown,
            )
            .await;
    }
}

/// Scrapers connected at once: a Prometheus server or two and a person with curl.
const METRICS_CONNECTIONS: usize = 16;

/// A scrape's headers must arrive within this; an idle keep-alive connection is closed after.
const METRICS_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use mta_sts_core::time::UtcDate;

    use super::*;

    fn value(text: &str, series: &str) -> Option<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|n| n.parse().ok())
    }

    #[test]
    fn every_series_shows_and_counts() {
        let metrics = ReporterMetrics::new();
        let day = UtcDate::parse("2026-12-07").expect("a day");
        metrics.collected(
            &DayFigures {
                day,
                datagrams: 10,
                malformed: 1,
                lost: 2,
            },
            &DayFigures::zero(day),
        );
        metrics.built(3);
        metrics.attempt(AttemptOutcome::Sent);
        metrics.attempt(AttemptOutcome::GivenUp);
        let text = metrics.encode();
        for (series, expected) in [
            (
                "mta_sts_tlsrpt_datagrams{day=\"today\",kind=\"received\"}",
                10,
            ),
            ("mta_sts_tlsrpt_datagrams{day=\"today\",kind=\"lost\"}", 2),
            (
                "mta_sts_tlsrpt_datagrams{day=\"yesterday\",kind=\"malformed\"}",
                0,
            ),
            ("mta_sts_tlsrpt_reports_built_total", 3),
            ("mta_sts_tlsrpt_deliveries_total{outcome=\"sent\"}", 1),
            ("mta_sts_tlsrpt_deliveries_total{outcome=\"retry\"}", 0),
            ("mta_sts_tlsrpt_deliveries_total{outcome=\"given-up\"}", 1),
        ] {
            assert_eq!(value(&text, series), Some(expected), "{series} in {text}");
        }
    }
}
