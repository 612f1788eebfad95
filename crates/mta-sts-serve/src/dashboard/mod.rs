//! The dashboard of `mta-sts serve`: server-rendered pages (they work with JavaScript off and
//! load nothing from elsewhere), their login, and the JSON API under `/api/v1` that serves
//! everything the pages show.
//!
//! - `access`: users (argon2), sessions, bearer tokens, login rate limits;
//! - `csrf`: the same-origin and form-token checks on every POST;
//! - `chart`: the SVG charts; `view`: what a page shows, read from the store, shared by the
//!   pages and the API (`timeline`: the monitor's checks and events); `pages`: the HTML;
//!   `api`: the JSON and its OpenAPI document.
//!
//! Every route but `/login` and the stylesheet needs a session (pages) or a session or a bearer
//! token (API); see [`router`]. Report contents come from strangers: the pages escape them
//! (maud escapes every interpolation) and forbid scripts outright with a Content Security
//! Policy, so that even a mistake in escaping cannot run one.

mod access;
mod api;
mod chart;
mod csrf;
mod live;
mod pages;
mod timeline;
mod view;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use mta_sts_core::time::Clock;
use mta_sts_service::forwarded_client;
use mta_sts_store::reports::ReportStore;

pub use access::hash_password;
pub(crate) use access::{Access, Viewer};
pub(crate) use view::MAX_DAYS;

use self::live::LiveChecks;
use crate::config::ServeConfig;
use crate::error::ServeError;
use crate::hosting::in_step::IdStatuses;

/// The paths the dashboard answers (exact, or as a prefix ending in `/`): the intake path
/// may not be one of them.
const PATHS: [&str; 7] = [
    "/",
    "/login",
    "/logout",
    "/dashboard.css",
    "/domains/",
    "/reports/",
    "/api/",
];

/// Whether `path` is the dashboard's (the intake cannot be served there).
pub(crate) fn is_dashboard_path(path: &str) -> bool {
    PATHS.iter().any(|reserved| {
        path == *reserved
            || path == reserved.trim_end_matches('/')
            || (reserved.ends_with('/') && reserved.len() > 1 && path.starts_with(reserved))
    })
}

/// Checks a user's password hash (for the configuration's checks).
pub(crate) fn check_password_hash(user: &crate::config::UserConfig) -> Result<(), ServeError> {
    access::parse_password_hash(user).map(drop)
}

/// Checks a token's hash (for the configuration's checks).
pub(crate) fn check_token_hash(token: &crate::config::TokenConfig) -> Result<(), ServeError> {
    access::parse_token_hash(token).map(drop)
}

/// The dashboard's settings that a SIGHUP can change: users, tokens, window, cookie.
pub(crate) struct Settings {
    pub(crate) access: Access,
    pub(crate) secure_cookie: bool,
    pub(crate) days: u32,
    pub(crate) domains: Vec<String>,
    pub(crate) trust_proxy: Vec<IpAddr>,
    pub(crate) metrics_public: bool,
    pub(crate) silent_days: u32,
    pub(crate) check_wait: std::time::Duration,
}

/// What every dashboard handler shares.
#[derive(Clone)]
pub(crate) struct Dashboard {
    settings: Arc<RwLock<Arc<Settings>>>,
    pub(crate) store: ReportStore,
    pub(crate) clock: Arc<dyn Clock>,
    /// The live checks and the advice, kept a while.
    pub(crate) live: Arc<LiveChecks>,
    /// Whether each hosted domain's `_mta-sts` id is in step with its policy (written by the
    /// in-step task).
    pub(crate) ids: Arc<IdStatuses>,
}

impl Dashboard {
    /// The dashboard of a checked configuration (called within the server's runtime: it starts
    /// the first live checks).
    pub(crate) fn new(
        config: &ServeConfig,
        store: ReportStore,
        clock: Arc<dyn Clock>,
    ) -> Result<Dashboard, ServeError> {
        let advisor = config.advisor(store.clone())?;
        let settings = Settings::new(config)?;
        let live = Arc::new(LiveChecks::new(
            advisor,
            config.dashboard.check_cache,
            clock.clone(),
        ));
        if !config.dashboard.secure_cookie {
            tracing::warn!(
                kind = %"insecure-cookie",
                "secure_cookie = false: the dashboard's session cookie is also sent over plain \
                 HTTP, where anyone on the path can read it; keep it so only behind a proxy that \
                 terminates TLS, or in tests."
            );
        } else if config.https.is_none() && settings.access.has_users() {
            tracing::info!(
                kind = %"secure-cookie-behind-proxy",
                "The dashboard's session cookie is Secure: browsers send it back over HTTPS only, \
                 so reach this plain-HTTP listener through a proxy that terminates TLS."
            );
        }
        // When someone can look, the first live checks start now, so the first page shows
        // advice rather than "checking…".
        if settings.access.has_users() || settings.access.has_tokens() {
            for domain in &config.domains {
                live.refresh(domain);
            }
        }
        Ok(Dashboard {
            settings: Arc::new(RwLock::new(Arc::new(settings))),
            live,
            store,
            clock,
            ids: Arc::default(),
        })
    }

    pub(crate) fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Applies a reloaded configuration; sessions of users still configured stay valid.
    pub(crate) fn reload(&self, config: &ServeConfig) -> Result<(), ServeError> {
        let fresh = Settings::new(config)?;
        let mut settings = self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        fresh.access.keep_sessions_of(&settings.access);
        *settings = Arc::new(fresh);
        Ok(())
    }
}

impl Settings {
    fn new(config: &ServeConfig) -> Result<Settings, ServeError> {
        Ok(Settings {
            access: Access::new(config)?,
            secure_cookie: config.dashboard.secure_cookie,
            days: config.dashboard.days,
            domains: config.domains.clone(),
            trust_proxy: config.trust_proxy.clone(),
            metrics_public: config.dashboard.metrics_public,
            silent_days: config.dashboard.silent_days,
            check_wait: config.dashboard.check_wait,
        })
    }
}

/// The dashboard's routes: the login page and the stylesheet open, everything else behind
/// [`require_viewer`].
pub(crate) fn router(dashboard: Dashboard) -> Router {
    let private = Router::new()
        .route("/", get(pages::overview))
        .route("/domains/{domain}", get(pages::domain))
        .route("/reports/{key}", get(pages::report))
        .route("/logout", post(pages::logout))
        .merge(api::routes())
        .route_layer(middleware::from_fn_with_state(
            dashboard.clone(),
            require_viewer,
        ));
    Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/dashboard.css", get(pages::stylesheet))
        .merge(private)
        .layer(middleware::from_fn(security_headers))
        .with_state(dashboard)
}

/// Wraps `/metrics` when it is not public: a session or a bearer token is needed.
pub(crate) fn protect_metrics<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    dashboard: Dashboard,
) -> Router<S> {
    if dashboard.settings().metrics_public {
        router
    } else {
        router.route_layer(middleware::from_fn_with_state(dashboard, require_viewer))
    }
}

/// The client address, as the rate limits count it.
pub(crate) fn client_of(
    request_headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trust: &[IpAddr],
) -> IpAddr {
    let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
    forwarded_client(peer, request_headers, trust)
}

/// The session cookie's value, if the request has one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == access::SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Lets a request through with its [`Viewer`] when it has a live session, or (API and
/// metrics only) a valid bearer token; otherwise a page request is sent to `/login` and an API
/// request gets 401.
async fn require_viewer(
    State(dashboard): State<Dashboard>,
    mut request: Request,
    next: Next,
) -> Response {
    let settings = dashboard.settings();
    let path = request.uri().path().to_string();
    let is_api = path.starts_with("/api/") || path == "/metrics";
    let now = Instant::now();
    let session = session_cookie(request.headers()).and_then(|id| settings.access.session(id, now));
    let viewer = match session {
        Some(session) => Some(Viewer::User(session)),
        None if is_api => request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| settings.access.token(token.trim()))
            .map(|name| {
                tracing::debug!(kind = %"api-token", token = %name, "The token `{name}` read {path}.");
                Viewer::Token
            }),
        None => None,
    };
    match viewer {
        Some(viewer) => {
            request.extensions_mut().insert(viewer);
            next.run(request).await
        }
        None if is_api => api::unauthorized(settings.access.has_users()),
        None => {
            // Only a page worth returning to is remembered: never a POST's target.
            let next_page = if request.method() == http::Method::GET {
                format!("/login?next={}", percent_encode(&path))
            } else {
                "/login".to_string()
            };
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(&next_page) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
    }
}

/// The headers every dashboard answer carries: no scripts, no framing, no caching of private
/// pages, no content sniffing.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Percent-encodes everything but unreserved characters and `/` (for a path in a query).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The peer of a request, as the connection recorded it.
pub(crate) fn peer_of(request_extensions: &http::Extensions) -> Option<SocketAddr> {
    request_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| *address)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn the_dashboards_paths_are_reserved_and_others_are_not() {
        for path in [
            "/",
            "/login",
            "/logout",
            "/dashboard.css",
            "/domains",
            "/domains/example.com",
            "/reports/1",
            "/api",
            "/api/v1/domains",
        ] {
            assert!(is_dashboard_path(path), "{path}");
        }
        for path in ["/tlsrpt", "/report", "/loginx", "/apis", "/domainsx"] {
            assert!(!is_dashboard_path(path), "{path}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; mta-sts-session=abc123; other=1"),
        );
        assert_eq!(session_cookie(&headers), Some("abc123"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xmta-sts-session=abc"),
        );
        assert_eq!(session_cookie(&headers), None);
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn a_path_to_return_to_is_percent_encoded() {
        assert_eq!(
            percent_encode("/domains/example.com"),
            "/domains/example.com"
        );
        assert_eq!(percent_encode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
        assert_eq!(percent_encode("/bücher"), "/b%C3%BCcher");
    }
}
