//! The `mta-sts` web checker: a page and a JSON API over the checker engine
//! ([`mta_sts_check`]), with the defences a public service needs.
//!
//! # Routes
//! - `GET /`: a form. `GET /?domain=example.com`: the result, rendered on the server and
//!   streamed as the check proceeds (the records and the policy first, then the MX hosts and the
//!   verdict); complete without JavaScript. The page links to itself as a permalink.
//! - `GET /api/v1/check?domain=`: the checker's [`CheckReport`] as
//!   JSON, the same as `mta-sts check --json`.
//! - `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of the API.
//! - `GET /healthz`: `ok`. `GET /metrics`: Prometheus (OpenMetrics text).
//! - `GET /assets/app.css`, `GET /assets/app.js`: the page's only assets, cached for a year.
//!
//! # Errors
//! Refused requests answer `{"error": {"code": "...", "message": "..."}}` on the API and the
//! form with the message on the page: `domain-missing` and `domain-invalid` (400),
//! `rate-limited` and `busy` (429, with `Retry-After`), `check-timeout` (504; a section of the
//! page, whose status was already sent), `not-found` (404), `internal-error` (500).
//!
//! # Defences
//! - The checker dials only what [`NetSettings::guard`](mta_sts_check::NetSettings::guard)
//!   allows: set [`AddressGuard::PublicOnly`](mta_sts_net::AddressGuard::PublicOnly) on a
//!   public service, or the checker becomes a probe of the operator's own network.
//! - Input is a domain name only: no scheme, path, port, address or IP literal.
//! - A token bucket per client address (per /64 for IPv6) and a global cap on concurrent checks.
//! - A short per-domain result cache; cached answers do not count against the rate limit.
//! - A time limit on each whole check.
//! - A time limit on request headers, which also closes idle keep-alive connections, so a
//!   client sending its headers a byte at a time (slowloris) holds its connection for at most
//!   that long.
//! - A cap on open connections where a newcomer is always let in: at the cap, the connection
//!   that has gone longest without a request is closed to make room (one log line a minute
//!   says so, through [`serve_with_events`]).
//! - All HTML is escaped by maud; a Content-Security-Policy forbids inline script besides.

mod assets;
mod cache;
mod error;
mod input;
mod metrics;
mod openapi;
mod page;
mod routes;
mod server;

use std::sync::Arc;
use std::time::Duration;

use mta_sts_check::{CheckReport, Checker, NetSettings};
use tokio::sync::Semaphore;

pub use error::WebError;
pub use server::WebEvent;

/// How the web checker runs.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// How the checker reaches the network. A public service sets `guard` to
    /// [`AddressGuard::PublicOnly`](mta_sts_net::AddressGuard::PublicOnly).
    pub settings: NetSettings,
    /// Checks each client address may start per minute (a token bucket holding this many);
    /// at least 1. Default 10.
    pub rate_per_minute: u32,
    /// Checks running at once, over all clients; at least 1. Default 8.
    pub max_concurrent_checks: usize,
    /// How long a domain's result is served from the cache; zero turns the cache off.
    /// Default 60 s.
    pub cache_ttl: Duration,
    /// A whole check is cut off after this; more than zero. Default 30 s.
    pub check_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for the per-client rate limit);
    /// empty by default: the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A request's headers must arrive within this, counted from when the server waits for
    /// them: a slow client (slowloris) or an idle keep-alive connection is closed after it. More
    /// than zero. Default 10 s.
    pub header_read_timeout: Duration,
    /// Connections held open at once; at the cap, the one idle longest is closed for a new
    /// one. At least 1; keep it below the open-file limit. Default 1024.
    pub max_connections: usize,
}

impl WebConfig {
    /// The defaults over these network settings.
    pub fn new(settings: NetSettings) -> WebConfig {
        WebConfig {
            settings,
            rate_per_minute: 10,
            max_concurrent_checks: 8,
            cache_ttl: Duration::from_secs(60),
            check_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            // Browsers send a request's headers in one go; ten seconds is ample on any link
            // that can load the page at all.
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// The application, for tests and for embedding. The rate limit is per client address, taken
/// from [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo): serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` (without it, all clients share one
/// bucket).
pub fn router(config: WebConfig) -> Result<axum::Router, WebError> {
    app(config).map(|(router, _)| router)
}

/// The routes and the metrics they count into.
fn app(config: WebConfig) -> Result<(axum::Router, Arc<metrics::Metrics>), WebError> {
    if config.rate_per_minute == 0 {
        return Err(WebError::Config {
            setting: "rate_per_minute",
            reason: "must be at least 1",
        });
    }
    if config.max_concurrent_checks == 0 || config.max_concurrent_checks > Semaphore::MAX_PERMITS {
        return Err(WebError::Config {
            setting: "max_concurrent_checks",
            reason: "must be at least 1 and at most tokio's Semaphore::MAX_PERMITS",
        });
    }
    if config.check_timeout.is_zero() {
        return Err(WebError::Config {
            setting: "check_timeout",
            reason: "must be more than zero",
        });
    }
    if config.header_read_timeout.is_zero() {
        return Err(WebError::Config {
            setting: "header_read_timeout",
            reason: "must be more than zero",
        });
    }
    if config.max_connections == 0 {
        return Err(WebError::Config {
            setting: "max_connections",
            reason: "must be at least 1",
        });
    }
    let metrics = Arc::new(metrics::Metrics::new());
    let state = routes::AppState {
        checker: Checker::from_settings(&config.settings)?,
        limiter: mta_sts_service::RateLimiter::per_minute(config.rate_per_minute),
        permits: Arc::new(Semaphore::new(config.max_concurrent_checks)),
        cache: cache::ResultCache::new(config.cache_ttl),
        metrics: Arc::clone(&metrics),
        check_timeout: config.check_timeout,
        trusted_proxies: config.trusted_proxies,
    };
    Ok((routes::routes(Arc::new(state)), metrics))
}

/// Serves the web checker on `listener` until `shutdown` completes, then lets running requests
/// finish (for up to the check time limit and the header time limit together). What [`serve_with_events`] reports is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    serve_with_events(listener, config, shutdown, |_| {}).await
}

/// [`serve`], handing `on_event` what a log should say (the connection cap reached, at most
/// once a minute).
pub async fn serve_with_events(
    listener: tokio::net::TcpListener,
    config: WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_event: impl Fn(WebEvent) + Send + Sync + 'static,
) -> Result<(), WebError> {
    let header_read_timeout = config.header_read_timeout;
    // A check ends within its time limit; its answer then has as long as a request's headers.
    let drain_timeout = config.check_timeout.saturating_add(header_read_timeout);
    let max_connections = config.max_connections;
    let (app, metrics) = app(config)?;
    let shared = server::Shared {
        app,
        metrics,
        header_read_timeout,
        drain_timeout,
    };
    server::serve(listener, shared, max_connections, shutdown, on_event).await;
    Ok(())
}

/// The result page for a finished report, as one HTML document: what the streamed page of
/// `GET /?domain=` adds up to once the check is done.
pub fn render_page(report: &CheckReport) -> String {
    page::complete(report, None)
}
