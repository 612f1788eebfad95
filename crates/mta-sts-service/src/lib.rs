//! What every mta-sts server shares: serving on an already-bound listener, graceful shutdown
//! that drains in-flight work, SIGTERM and SIGHUP, systemd notify, one Prometheus registry,
//! per-client rate limits and connection caps.
//!
//! - [`Server`]: the accept loop over a bound [`Accept`] listener (TCP, unix, or either as a
//!   [`Listener`]), each connection under the [`connection_cap`] and counted in
//!   [`ConnectionMetrics`], with a shutdown that stops accepting and drains up to a deadline;
//!   [`Server::serve_http`] serves HTTP/1.1 with any tower service (an axum `Router`) and a
//!   header time limit; [`read_body`] reads a body under a size cap.
//! - [`Shutdown`] and [`handle_signals`]: SIGTERM and SIGINT trigger the shutdown, SIGHUP is
//!   handed to the application as a reload.
//! - [`Notifier`]: systemd's `READY=1`, `RELOADING=1`, `STOPPING=1` and `STATUS=`.
//! - [`MetricsRegistry`]: the process's one Prometheus registry and its `/metrics` answer.
//! - [`RateLimiter`] and [`ClientConcurrency`]: per-client limits (an IPv6 client is its /64),
//!   in bounded tables; [`forwarded_client`]: the client behind trusted reverse proxies.
//! - [`open_files`]: the open-file limit raised to the hard limit, the connection cap kept
//!   below it.
//!
//! Nothing here knows a protocol beyond HTTP serving: the servers say what their connections
//! do and which of their metrics exist.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use mta_sts_service::{
//!     CloseReason, ConnectionMetrics, HttpOptions, MetricsRegistry, Server, Shutdown,
//!     handle_signals,
//! };
//!
//! let metrics = MetricsRegistry::new();
//! let connections = metrics.register(|registry| {
//!     ConnectionMetrics::register(
//!         registry.sub_registry_with_prefix("mta_sts_example"),
//!         "HTTP",
//!         &CloseReason::HTTP,
//!     )
//! });
//! let shutdown = Shutdown::new();
//! let _signals = handle_signals(shutdown.clone())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! Server::new(listener)
//!     .max_connections(1024)
//!     .drain_timeout(std::time::Duration::from_secs(10))
//!     .metrics(connections)
//!     .serve_http(HttpOptions::default(), metrics.service(), shutdown.triggered())
//!     .await;
//! # Ok(())
//! # }
//! ```

pub mod client_limits;
pub mod connection_cap;
mod error;
mod forwarded;
mod http;
mod listener;
pub mod metrics;
pub mod open_files;
mod server;
mod shutdown;
mod signals;
mod systemd;

pub use client_limits::{ClientConcurrency, ClientPermit, RateLimiter, client_key};
pub use connection_cap::{CapNotice, ConnectionCap};
pub use error::ServiceError;
pub use forwarded::forwarded_client;
pub use http::{
    BoxError, HttpOptions, MAX_CONCURRENT_STREAMS, read_body, serve_connection_http,
    serve_connection_http2,
};
pub use listener::{Accept, Listener, Peer, Stream};
pub use metrics::{CloseReason, ConnectionMetrics, MetricsRegistry};
pub use server::{Connection, DEFAULT_MAX_CONNECTIONS, Server};
pub use shutdown::{Shutdown, Stopping};
pub use signals::{Signal, Signals, handle_signals};
pub use systemd::{Notifier, NotifyState};
