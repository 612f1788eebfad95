//! The routes and what they share: the checker, the limits, the cache and the metrics.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use futures_util::StreamExt as _;
use maud::Markup;
use mta_sts_check::{CheckReport, Checker, PartialCheck};
use mta_sts_service::forwarded_client;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::assets::{self, Asset};
use crate::cache::ResultCache;
use crate::error::RequestError;
use crate::input::parse_domain;
use crate::metrics::Metrics;
use crate::page::{self, Form};

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) checker: Checker,
    pub(crate) limiter: mta_sts_service::RateLimiter,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) cache: ResultCache,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) check_timeout: Duration,
    pub(crate) trusted_proxies: Vec<IpAddr>,
}

/// The application's routes over `state`.
pub(crate) fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/v1/check", get(api_check))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(assets::CSS.path, get(|| async { asset(assets::CSS) }))
        .route(assets::JS.path, get(|| async { asset(assets::JS) }))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The `?domain=` parameter.
#[derive(Debug, Deserialize)]
struct DomainQuery {
    domain: Option<String>,
}

/// The client's address, from the connection. Served without connection info (embedded in
/// another server), every client shares one bucket: stricter, never open.
type Client = Option<Extension<ConnectInfo<SocketAddr>>>;

fn client_ip(state: &AppState, client: Client, headers: &HeaderMap) -> IpAddr {
    let peer = client.map_or(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        |Extension(ConnectInfo(addr))| addr.ip(),
    );
    forwarded_client(peer, headers, &state.trusted_proxies)
}

/// How a request for a check is served.
enum Admission {
    /// From the cache, with the report's age.
    Cached(Arc<CheckReport>, Duration),
    /// By running the check, holding one of the concurrency permits.
    Run(OwnedSemaphorePermit),
}

impl AppState {
    /// Whether and how a check of `domain` for `client` is served.
    fn admit(&self, domain: &str, client: IpAddr) -> Result<Admission, RequestError> {
        let now = Instant::now();
        // Cached answers cost nothing, so they come before (and never spend) the limits.
        if let Some((report, age)) = self.cache.get(domain, now) {
            self.metrics.cache_hit();
            return Ok(Admission::Cached(report, age));
        }
        // The slot first: a client turned away because the server is busy keeps its token.
        let permit = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| RequestError::Busy)?;
        match self.limiter.take(client, now) {
            Ok(()) => {}
            Err(mta_sts_service::ServiceError::RateLimited { retry_after }) => {
                return Err(RequestError::RateLimited { retry_after });
            }
            Err(_) => return Err(RequestError::Internal("the rate limit")),
        }
        Ok(Admission::Run(permit))
    }

    /// Records a finished check, caches it, and hands it out.
    fn completed(&self, report: CheckReport, started: Instant) -> Arc<CheckReport> {
        self.metrics.check_done(report.verdict, started.elapsed());
        let report = Arc::new(report);
        // A check that could not be completed (a lookup got no usable answer) says nothing
        // certain about the domain; caching it would repeat a passing outage.
        if report.incomplete.is_none() {
            self.cache.put(Arc::clone(&report), Instant::now());
        }
        report
    }

    /// Counts a refusal in the metrics, by reason.
    fn count(&self, error: &RequestError) {
        if let Some(reason) = error.rejection_reason() {
            self.metrics.rejected(reason);
        }
    }

    fn timed_out(&self) -> RequestError {
        self.metrics.timed_out();
        RequestError::CheckTimeout {
            limit: self.check_timeout,
        }
    }
}

/// `GET /api/v1/check?domain=`: the report as JSON.
async fn api_check(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<DomainQuery>, QueryRejection>,
) -> Response {
    let ip = client_ip(&state, client, &headers);
    match check_json(&state, ip, query).await {
        Ok(response) => response,
        Err(error) => {
            state.count(&error);
            json_error(&error)
        }
    }
}

async fn check_json(
    state: &AppState,
    client: IpAddr,
    query: Result<Query<DomainQuery>, QueryRejection>,
) -> Result<Response, RequestError> {
    let raw = query
        .map_err(|e| RequestError::DomainInvalid(format!("The query string is malformed: {e}.")))?
        .0
        .domain
        .ok_or(RequestError::DomainMissing)?;
    let domain = parse_domain(&raw)?;
    let (report, age) = match state.admit(&domain, client)? {
        Admission::Cached(report, age) => (report, Some(age)),
        Admission::Run(permit) => {
            let started = Instant::now();
            let report = tokio::time::timeout(state.check_timeout, state.checker.check(&domain))
                .await
                .map_err(|_| state.timed_out())?;
            // The slot is free once the check is; encoding the answer needs none.
            drop(permit);
            (state.completed(report, started), None)
        }
    };
    let body = serde_json::to_vec(&*report).map_err(|_| RequestError::Internal("the report"))?;
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(age) = age {
        response
            .headers_mut()
            .insert(header::AGE, age.as_secs().into());
    }
    Ok(response)
}

/// `{"error": {"code", "message"}}` with the error's status (and `Retry-After`).
fn json_error(error: &RequestError) -> Response {
    let body = serde_json::json!({
        "error": { "code": error.code(), "message": error.message() }
    });
    let mut response = (error.status(), axum::Json(body)).into_response();
    add_retry_after(response.headers_mut(), error);
    response
}

fn add_retry_after(headers: &mut HeaderMap, error: &RequestError) {
    if let Some(seconds) = error.retry_after() {
        headers.insert(header::RETRY_AFTER, seconds.into());
    }
}

/// `GET /` and `GET /?domain=`: the form, or the result streamed as the check proceeds.
async fn page(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<DomainQuery>, QueryRejection>,
) -> Response {
    let raw = match query {
        Ok(Query(DomainQuery { domain: Some(raw) })) => raw,
        Ok(Query(DomainQuery { domain: None })) => {
            return html(StatusCode::OK, page::form_page(Form::default()));
        }
        Err(e) => {
            let error = RequestError::DomainInvalid(format!("The query string is malformed: {e}."));
            return page_error(&state, &error, "");
        }
    };
    let domain = match parse_domain(&raw) {
        Ok(domain) => domain,
        Err(error) => return page_error(&state, &error, raw.trim()),
    };
    match state.admit(&domain, client_ip(&state, client, &headers)) {
        Err(error) => page_error(&state, &error, &domain),
        Ok(Admission::Cached(report, age)) => {
            let mut response = html(StatusCode::OK, page::complete(&report, Some(age)));
            response
                .headers_mut()
                .insert(header::AGE, age.as_secs().into());
            response
        }
        Ok(Admission::Run(permit)) => streamed(state, domain, permit),
    }
}

/// The form again, with the refusal's message under the input and the refusal's status.
fn page_error(state: &AppState, error: &RequestError, value: &str) -> Response {
    state.count(error);
    let message = error.message();
    let mut response = html(
        error.status(),
        page::form_page(Form {
            value,
            error: Some(&message),
        }),
    );
    add_retry_after(response.headers_mut(), error);
    response
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// A check in progress on a streamed page.
struct Streaming {
    state: Arc<AppState>,
    domain: String,
    started: Instant,
    deadline: tokio::time::Instant,
    stage: Stage,
    /// Held until the last chunk is produced; dropped with the stream if the client leaves,
    /// which also cancels the check.
    _permit: OwnedSemaphorePermit,
}

enum Stage {
    Start,
    Finish(Box<PartialCheck>),
}

impl Streaming {
    /// The next chunk of the page, and what comes after it (nothing once the page is whole).
    async fn next(mut self) -> (Markup, Option<Streaming>) {
        match std::mem::replace(&mut self.stage, Stage::Start) {
            Stage::Start => {
                let start = self.state.checker.start(&self.domain);
                match tokio::time::timeout_at(self.deadline, start).await {
                    Ok(partial) => {
                        let chunk = page::first_stage(&partial.snapshot(), true);
                        self.stage = Stage::Finish(Box::new(partial));
                        (chunk, Some(self))
                    }
                    Err(_) => (self.cut_off(), None),
                }
            }
            Stage::Finish(partial) => {
                let finish = self.state.checker.finish(*partial);
                match tokio::time::timeout_at(self.deadline, finish).await {
                    Ok(report) => {
                        let report = self.state.completed(report, self.started);
                        let chunk = maud::html! {
                            (page::second_stage(&report, None))
                            (page::result_end())
                        };
                        (chunk, None)
                    }
                    Err(_) => (self.cut_off(), None),
                }
            }
        }
    }

    fn cut_off(&self) -> Markup {
        self.state.metrics.timed_out();
        maud::html! {
            (page::timed_out(self.state.check_timeout))
            (page::result_end())
        }
    }
}

/// The result page as one chunked response: the head and form at once, then each stage of the
/// check as it completes. The status is sent first, so a time-out shows as a section, not a 504.
fn streamed(state: Arc<AppState>, domain: String, permit: OwnedSemaphorePermit) -> Response {
    let head = page::result_head(&domain, true).into_string();
    let started = Instant::now();
    let run = Streaming {
        deadline: tokio::time::Instant::now() + state.check_timeout,
        state,
        domain,
        started,
        stage: Stage::Start,
        _permit: permit,
    };
    let rest = futures_util::stream::unfold(Some(run), |run| async move {
        let (chunk, next) = run?.next().await;
        Some((chunk.into_string(), next))
    });
    let chunks = futures_util::stream::once(async move { head })
        .chain(rest)
        .map(|chunk| Ok::<_, Infallible>(Bytes::from(chunk)));
    let mut response = html(StatusCode::OK, String::new());
    *response.body_mut() = Body::from_stream(chunks);
    // Proxies that buffer responses (nginx does by default) would hold the page until the end.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.registry().response().into_response()
}

fn asset(asset: Asset) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            // Safe for a year: the pages link to each asset by a URL that carries its hash.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

/// Unknown paths: JSON under `/api/`, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    let error = RequestError::NotFound;
    if uri.path().starts_with("/api/") {
        json_error(&error)
    } else {
        html(
            error.status(),
            page::message_page("Not found", &error.message()),
        )
    }
}

/// Defence in depth behind the escaping: no inline script or style runs, nothing loads from
/// elsewhere, and the page cannot be framed.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
