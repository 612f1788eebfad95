//! One Prometheus registry per process, its `/metrics` answer (OpenMetrics text), and the
//! connection metrics every server keeps: open connections, and closed ones by [`CloseReason`].
//!
//! Each server registers its metrics under its own prefix (`mta_sts_daemon_…` for the daemon,
//! `mta_sts_…` for the web checker), so one registry can hold several servers.

use std::convert::Infallible;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The media type of [`MetricsRegistry::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The process's metrics registry. Cheap to clone; clones share the registry.
#[derive(Debug, Clone, Default)]
pub struct MetricsRegistry {
    registry: Arc<RwLock<Registry>>,
}

impl MetricsRegistry {
    /// An empty registry.
    pub fn new() -> MetricsRegistry {
        MetricsRegistry::default()
    }

    /// Registers metrics: `register` gets the registry itself (use
    /// [`Registry::sub_registry_with_prefix`] for a server's prefix) and returns the handles the
    /// server counts with.
    pub fn register<T>(&self, register: impl FnOnce(&mut Registry) -> T) -> T {
        // A poisoned lock only means a registration panicked; the registry is still usable.
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        register(&mut registry)
    }

    /// The OpenMetrics text a scrape reads.
    pub fn encode(&self) -> String {
        let registry = self.registry.read().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::new();
        // Writing into a String cannot fail; a metric that fails to encode is left out.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }

    /// The answer to `GET /metrics`: the text, with its media type.
    pub fn response(&self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(self.encode())));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(CONTENT_TYPE),
        );
        response
    }

    /// A service answering `/metrics` with [`MetricsRegistry::response`] and anything else
    /// with 404, for a listener of its own (see [`Server::serve_http`](crate::Server::serve_http)).
    pub fn service(&self) -> MetricsService {
        MetricsService {
            registry: self.clone(),
        }
    }
}

/// The service of [`MetricsRegistry::service`].
#[derive(Debug, Clone)]
pub struct MetricsService {
    registry: MetricsRegistry,
}

impl<B> tower_service::Service<Request<B>> for MetricsService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response = if request.uri().path() == "/metrics" {
            self.registry.response()
        } else {
            let mut response = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        };
        std::future::ready(Ok(response))
    }
}

/// Why a connection was closed: the `reason` label of `connections_closed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed it, asked for it to be closed, or it broke.
    ClientClosed,
    /// No request came within the idle limit.
    IdleTimeout,
    /// A request was still incomplete when the read limit ran out after its first byte.
    ReadTimeout,
    /// The client did not take a reply within the limit.
    WriteTimeout,
    /// An HTTP request's headers, or the next request on an idle keep-alive connection, did
    /// not arrive in time.
    HeaderTimeout,
    /// Closed at the connection cap to make room for a new connection.
    Evicted,
    /// The protocol was broken: bad framing, an oversize request, not HTTP/1.1.
    BadRequest,
    /// The server stopped.
    Shutdown,
}

impl CloseReason {
    /// The reasons an HTTP connection served by [`Server::serve_http`](crate::Server::serve_http)
    /// closes for.
    pub const HTTP: [CloseReason; 5] = [
        CloseReason::ClientClosed,
        CloseReason::HeaderTimeout,
        CloseReason::Evicted,
        CloseReason::BadRequest,
        CloseReason::Shutdown,
    ];

    /// The metric label, as `idle_timeout`.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::ReadTimeout => "read_timeout",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::Evicted => "evicted",
            CloseReason::BadRequest => "bad_request",
            CloseReason::Shutdown => "shutdown",
        }
    }

    /// The label with what it means, for the metric's help text.
    fn described(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::ReadTimeout => "read_timeout",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::HeaderTimeout => "header_timeout (headers or the next request too slow)",
            CloseReason::Evicted => "evicted (at the connection cap, to make room)",
            CloseReason::BadRequest => "bad_request",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CloseLabel {
    reason: &'static str,
}

/// `connections_open` and `connections_closed_total{reason}` of one server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConnectionMetrics {
    open: Gauge,
    closed: Family<CloseLabel, Counter>,
}

impl ConnectionMetrics {
    /// Registers the two metrics in `registry` (the server's prefixed sub-registry), with the
    /// label of each of `reasons` shown at 0 from the start so that rates and alerts work
    /// before the first close of each kind. `protocol` names the connections in the help text
    /// (`Socketmap`, `HTTP`).
    pub fn register(
        registry: &mut Registry,
        protocol: &str,
        reasons: &[CloseReason],
    ) -> ConnectionMetrics {
        let open = Gauge::default();
        registry.register(
            "connections_open",
            format!("{protocol} connections open"),
            open.clone(),
        );
        let closed = Family::<CloseLabel, Counter>::default();
        for reason in reasons {
            let _ = closed.get_or_create(&CloseLabel {
                reason: reason.label(),
            });
        }
        let described: Vec<&str> = reasons.iter().map(|reason| reason.described()).collect();
        registry.register(
            "connections_closed",
            format!(
                "{protocol} connections closed, by reason: {}",
                described.join(", ")
            ),
            closed.clone(),
        );
        ConnectionMetrics { open, closed }
    }

    /// A connection accepted.
    pub fn opened(&self) {
        self.open.inc();
    }

    /// A connection closed, and why.
    pub fn closed(&self, reason: CloseReason) {
        self.open.dec();
        self.closed
            .get_or_create(&CloseLabel {
                reason: reason.label(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_metrics_keep_their_names_under_each_prefix() {
        let metrics = MetricsRegistry::new();
        let daemon = metrics.register(|registry| {
            ConnectionMetrics::register(
                registry.sub_registry_with_prefix("mta_sts_daemon"),
                "Socketmap",
                &[CloseReason::IdleTimeout, CloseReason::Evicted],
            )
        });
        let web = metrics.register(|registry| {
            ConnectionMetrics::register(
                registry.sub_registry_with_prefix("mta_sts"),
                "HTTP",
                &CloseReason::HTTP,
            )
        });
        daemon.opened();
        daemon.opened();
        daemon.closed(CloseReason::IdleTimeout);
        web.opened();
        let text = metrics.encode();
        for line in [
            "mta_sts_daemon_connections_open 1",
            "mta_sts_daemon_connections_closed_total{reason=\"idle_timeout\"} 1",
            "mta_sts_daemon_connections_closed_total{reason=\"evicted\"} 0",
            "mta_sts_connections_open 1",
            "mta_sts_connections_closed_total{reason=\"header_timeout\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[tokio::test]
    async fn the_metrics_service_answers_only_metrics() {
        use tower_service::Service as _;
        let metrics = MetricsRegistry::new();
        let counter = metrics.register(|registry| {
            let counter = Counter::<u64>::default();
            registry.register("scrapes", "Scrapes", counter.clone());
            counter
        });
        counter.inc();
        let mut service = metrics.service();
        let response = service
            .call(Request::get("/metrics").body(()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers().get(http::header::CONTENT_TYPE),
            Some(&http::HeaderValue::from_static(CONTENT_TYPE))
        );
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        assert!(
            String::from_utf8_lossy(&body).contains("scrapes_total 1"),
            "{body:?}"
        );
        let missing = service
            .call(Request::get("/").body(()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}
