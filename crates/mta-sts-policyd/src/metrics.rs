//! Prometheus metrics of the daemon: requests by reply (`ok`, `dane`, `notfound`, ...), lookups
//! by how far they went (cache hits and misses), failed fetches, request latency, open
//! connections and why connections were closed; served over HTTP at `/metrics`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use mta_sts_service::connection_cap::ConnectionCap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::policy::{DANE_REPLY, Origin};
use crate::server::CloseReason;
use crate::socketmap::Reply;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplyLabel {
    reply: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabel {
    origin: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabel {
    reason: &'static str,
}

/// The daemon's counters and histogram, and the registry that encodes them.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<ReplyLabel, Counter>,
    lookups: Family<OriginLabel, Counter>,
    fetch_failures: Counter,
    duration: Histogram,
    connections_open: Gauge,
    connections_closed: Family<CloseLabel, Counter>,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mta_sts_daemon");
        let requests = Family::<ReplyLabel, Counter>::default();
        let lookups = Family::<OriginLabel, Counter>::default();
        let fetch_failures = Counter::default();
        // 10 µs to ~1.3 s: cache hits live in the first buckets, fetches in the last.
        let duration = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            0.000_01, 4.0, 10,
        ));
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
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Socketmap connections open",
            connections_open.clone(),
        );
        let connections_closed = Family::<CloseLabel, Counter>::default();
        registry.register(
            "connections_closed",
            "Socketmap connections closed, by reason: client_closed, idle_timeout, read_timeout, write_timeout, evicted (at max_connections, to make room), bad_request, shutdown",
            connections_closed.clone(),
        );
        for reason in CloseReason::ALL {
            let _ = connections_closed.get_or_create(&CloseLabel {
                reason: reason.label(),
            });
        }
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
        let mut text = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
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
    metrics: Arc<Metrics>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    let cap = ConnectionCap::new(METRICS_CONNECTIONS);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A failed accept (descriptor limit) must not end the daemon's metrics.
                Err(_) => continue,
            },
        };
        let metrics = Arc::clone(&metrics);
        let mut slot = cap.admit().slot;
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let metrics = Arc::clone(&metrics);
                    async move {
                        let response = if request.uri().path() == "/metrics" {
                            Response::builder()
                                .header(
                                    "content-type",
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                )
                                .body(Full::new(Bytes::from(metrics.encode())))
                        } else {
                            Response::builder()
                                .status(StatusCode::NOT_FOUND)
                                .body(Full::new(Bytes::from_static(b"not found\n")))
                        };
                        Ok::<_, Infallible>(
                            response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
                        )
                    }
                });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(METRICS_HEADER_TIMEOUT);
            tokio::select! {
                _ = http.serve_connection(TokioIo::new(stream), service) => {}
                () = slot.evicted() => {}
            }
        });
    }
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
