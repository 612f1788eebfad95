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
//! - All HTML is escaped by maud; a Content-Security-Policy forbids inline script besides.

mod assets;
mod cache;
mod error;
mod input;
mod limits;
mod metrics;
mod openapi;
mod page;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mta_sts_check::{CheckReport, Checker, NetSettings};
use tokio::sync::Semaphore;

pub use error::WebError;

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
        }
    }
}

/// The application, for tests and for embedding. The rate limit is per client address, taken
/// from [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo): serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` (without it, all clients share one
/// bucket).
pub fn router(config: WebConfig) -> Result<axum::Router, WebError> {
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
    let state = routes::AppState {
        checker: Checker::from_settings(&config.settings)?,
        limiter: limits::RateLimiter::new(config.rate_per_minute),
        permits: Arc::new(Semaphore::new(config.max_concurrent_checks)),
        cache: cache::ResultCache::new(config.cache_ttl),
        metrics: metrics::Metrics::new(),
        check_timeout: config.check_timeout,
        trusted_proxies: config.trusted_proxies,
    };
    Ok(routes::routes(Arc::new(state)))
}

/// Serves the web checker on `listener` until `shutdown` completes, then lets running requests
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let app = router(config)?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(WebError::Serve)
}

/// The result page for a finished report, as one HTML document: what the streamed page of
/// `GET /?domain=` adds up to once the check is done.
pub fn render_page(report: &CheckReport) -> String {
    page::complete(report, None)
}
