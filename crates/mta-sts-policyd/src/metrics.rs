//! Prometheus metrics of the daemon: requests by reply (`ok`, `dane`, `notfound`, ...), lookups
//! by how far they went (cache hits and misses), failed fetches, request latency, open
//! connections and why connections were closed; served over HTTP at `/metrics`.

use std::future::Future;
use std::time::Duration;

use mta_sts_service::{CloseReason, ConnectionMetrics, HttpOptions, MetricsRegistry, Server};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tokio::net::TcpListener;

use crate::policy::{DANE_REPLY, Origin};
use crate::socketmap::Reply;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplyLabel {
    reply: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabel {
    origin: &'static str,
}

/// Why a socketmap connection closes: each label is shown from the start.
const CLOSE_REASONS: [CloseReason; 7] = [
    CloseReason::ClientClosed,
    CloseReason::IdleTimeout,
    CloseReason::ReadTimeout,
    CloseReason::WriteTimeout,
    CloseReason::Evicted,
    CloseReason::BadRequest,
    CloseReason::Shutdown,
];

/// The daemon's counters and histogram, in the process's registry under the `mta_sts_daemon`
/// prefix.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: MetricsRegistry,
    requests: Family<ReplyLabel, Counter>,
    lookups: Family<OriginLabel, Counter>,
    fetch_failures: Counter,
    duration: Histogram,
    connections: ConnectionMetrics,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let requests = Family::<ReplyLabel, Counter>::default();
        let lookups = Family::<OriginLabel, Counter>::default();
        let fetch_failures = Counter::default();
        // 10 µs to ~1.3 s: cache hits live in the first buckets, fetches in the last.
        let duration = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            0.000_01, 4.0, 10,
        ));
        let registry = MetricsRegistry::new();
        let connections = registry.register(|registry| {
            let registry = registry.sub_registry_with_prefix("mta_sts_daemon");
            registry.register(
                "requests",
                "Socketmap requests answered, by reply: ok (an MTA-STS policy), dane (DANE first, RFC 8461 section 2), notfound, temp, perm",
                requests.clone(),
            );
            registry.register(
                "lookups",
                "Domain lookups by how far they went: cache (a hit), dns (TXT id checked), fetch (policy fetched)",
                lookups.clone(),
            );
            registry.register(
                "fetch_failures",
                "Policy fetches that failed",
                fetch_failures.clone(),
            );
            registry.register(
                "request_duration_seconds",
                "Time to answer one request",
                duration.clone(),
            );
            ConnectionMetrics::register(registry, "Socketmap", &CLOSE_REASONS)
        });
        for reply in ["ok", "dane", "notfound", "temp", "perm"] {
            let _ = requests.get_or_create(&ReplyLabel { reply });
        }
        for origin in ["cache", "dns", "fetch"] {
            let _ = lookups.get_or_create(&OriginLabel { origin });
        }
        Metrics {
            registry,
            requests,
            lookups,
            fetch_failures,
            duration,
            connections,
        }
    }

    /// The connection metrics, for the server to count in.
    pub(crate) fn connections(&self) -> &ConnectionMetrics {
        &self.connections
    }

    /// One answered request.
    pub(crate) fn record(&self, reply: &Reply, origin: Option<Origin>, elapsed: Duration) {
        let reply = match reply {
            // DANE first answers apart from MTA-STS policies: how much mail DANE takes over.
            Reply::Ok(data) if data == DANE_REPLY => "dane",
            Reply::Ok(_) => "ok",
            Reply::NotFound => "notfound",
            Reply::Temp(_) => "temp",
            Reply::Perm(_) => "perm",
        };
        self.requests.get_or_create(&ReplyLabel { reply }).inc();
        if let Some(origin) = origin {
            let origin = match origin {
                Origin::Cache => "cache",
                Origin::Dns => "dns",
                Origin::Fetch => "fetch",
            };
            self.lookups.get_or_create(&OriginLabel { origin }).inc();
        }
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// One failed fetch.
    pub(crate) fn fetch_failed(&self) {
        self.fetch_failures.inc();
    }

    /// The OpenMetrics text.
    pub(crate) fn encode(&self) -> String {
        self.registry.encode()
    }
}

/// Scrapers connected at once: one or two Prometheus servers, and a person with curl. A client
/// holding more open only closes its own older ones.
const METRICS_CONNECTIONS: usize = 16;

/// A scrape's request headers must arrive within this, and an idle keep-alive connection is
/// closed after it: a slow client cannot hold descriptors the socketmap server needs.
const METRICS_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub(crate) async fn serve(
    metrics: &Metrics,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    Server::new(listener)
        .max_connections(METRICS_CONNECTIONS)
        // A scrape is answered at once; a keep-alive connection left open is not waited for.
        .drain_timeout(METRICS_HEADER_TIMEOUT)
        .serve_http(
            HttpOptions {
                header_read_timeout: METRICS_HEADER_TIMEOUT,
            },
            metrics.registry.service(),
            shutdown,
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str, reply: &str) -> Option<u64> {
        let prefix = format!("mta_sts_daemon_requests_total{{reply=\"{reply}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .and_then(|n| n.parse().ok())
    }

    #[test]
    fn dane_replies_are_counted_apart_from_policies() {
        let metrics = Metrics::new();
        let elapsed = Duration::from_micros(50);
        metrics.record(&Reply::Ok("dane".into()), Some(Origin::Cache), elapsed);
        metrics.record(&Reply::Ok("dane".into()), Some(Origin::Dns), elapsed);
        metrics.record(
            &Reply::Ok("secure match=mx.example.com".into()),
            Some(Origin::Fetch),
            elapsed,
        );
        metrics.record(&Reply::NotFound, None, elapsed);
        let text = metrics.encode();
        assert_eq!(count(&text, "dane"), Some(2), "{text}");
        assert_eq!(count(&text, "ok"), Some(1), "{text}");
        assert_eq!(count(&text, "notfound"), Some(1), "{text}");
        assert_eq!(count(&text, "temp"), Some(0), "{text}");
    }
}
