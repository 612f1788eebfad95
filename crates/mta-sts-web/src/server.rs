//! The web checker on the shared server ([`mta_sts_service::Server`]): each connection under the
//! connection cap (the longest-idle one makes room for a newcomer), HTTP/1.1 with a time limit
//! on request headers, counted in the metrics, and a graceful shutdown.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mta_sts_service::{HttpOptions, Server};
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Something the server reports while it keeps serving, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebEvent {
    /// The connection cap was reached: to serve new clients, the connections that had gone
    /// longest without a request were closed. Reported at most once a minute, however many
    /// connections are closed meanwhile.
    ConnectionCapReached {
        /// The cap.
        limit: usize,
        /// Connections closed to make room since the previous such event, the one that
        /// prompted this one included.
        evicted: u64,
    },
}

impl WebEvent {
    /// The event's stable name for logs: `connection-cap-reached`.
    pub fn kind(&self) -> &'static str {
        match self {
            WebEvent::ConnectionCapReached { .. } => "connection-cap-reached",
        }
    }
}

impl fmt::Display for WebEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebEvent::ConnectionCapReached { limit, evicted } => write!(
                f,
                "{limit} connections are open, the --max-connections cap: the connection idle \
                 longest is closed for each new one ({evicted} closed since the last message of \
                 this kind, which comes at most once a minute); if these clients are \
                 legitimate, raise --max-connections."
            ),
        }
    }
}

/// What each connection needs besides its socket.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) app: Router,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) header_read_timeout: Duration,
    /// How long the shutdown waits for the requests in progress.
    pub(crate) drain_timeout: Duration,
}

/// Accepts connections until `shutdown`, then lets each finish the request it is answering and
/// waits for them, up to the drain deadline.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Shared,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send,
    on_event: impl Fn(WebEvent) + Send + Sync + 'static,
) {
    let options = HttpOptions {
        header_read_timeout: shared.header_read_timeout,
    };
    // Never refuses: at the cap, the connection idle longest is closed for the new one, so
    // connections held open by some cannot keep everyone else out.
    Server::new(listener)
        .max_connections(max_connections)
        .drain_timeout(shared.drain_timeout)
        .metrics(shared.metrics.connections().clone())
        .on_cap_reached(move |notice| {
            on_event(WebEvent::ConnectionCapReached {
                limit: notice.limit,
                evicted: notice.evicted,
            });
        })
        .serve_http(options, shared.app, shutdown)
        .await;
}
