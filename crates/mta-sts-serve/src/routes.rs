//! The HTTP routes: `POST` a report on the intake path (RFC 8460 §5.3), `/healthz`, `/metrics`,
//! and the dashboard's (see the `dashboard` module).
//!
//! How a POST is answered, in the order the checks run:
//! - 429 (with `Retry-After`) past the client's rate or its POSTs in progress;
//! - 415 for a media type other than `application/tlsrpt+gzip` or `application/tlsrpt+json`;
//! - 413 for a body over `max_body` (never read past it) or a report over 16 MiB decompressed;
//! - 408 for a body that does not arrive within `body_timeout`;
//! - 400 with the reason for what is not a report, or a report that cannot be read;
//! - 403 for a report about domains that are not configured (see [`Answer::RefusedDomain`]);
//! - 503 (with `Retry-After`) when the store cannot take it now: the reporter retries;
//! - 200 once the report is durably stored, or was already.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{HeaderValue, StatusCode, header};
use mta_sts_core::report_lint::ReportCode;
use mta_sts_reports::{Intake, Outcome};
use mta_sts_service::{
    ClientConcurrency, MetricsRegistry, RateLimiter, ServiceError, forwarded_client,
};

use crate::body::{BodyError, read_capped};
use crate::commit::{CommitError, Committer};
use crate::config::ServeConfig;
use crate::dashboard::{self, Dashboard};
use crate::hosting::Hosting;
use crate::media_type::ReportMediaType;
use crate::metrics::{Answer, ServeMetrics};

/// How long a reporter is asked to wait when the store is unavailable. RFC 8460 §5.3.1 leaves
/// retries to the reporter (up to a day); a minute lets a restarted database come back.
const STORE_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Clients whose POSTs in progress are tracked at once; beyond, a new client gets 429 until one
/// finishes (bounded memory under a flood from many addresses).
const MAX_CLIENTS_IN_PROGRESS: usize = 10_000;

/// The settings a SIGHUP can change while the server runs (and the domain list, which the
/// intake holds: [`Intake::set_domains`]).
#[derive(Debug)]
pub(crate) struct LiveSettings {
    pub(crate) max_body: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) trust_proxy: Vec<IpAddr>,
    pub(crate) reports_per_minute: u32,
    pub(crate) max_concurrent_per_client: usize,
    pub(crate) rate: Arc<RateLimiter>,
    pub(crate) concurrency: Arc<ClientConcurrency>,
}

impl LiveSettings {
    /// The settings of `config`; the client tables of `previous` are kept when their limits
    /// did not change, so a reload does not hand every client a fresh allowance.
    pub(crate) fn new(config: &ServeConfig, previous: Option<&LiveSettings>) -> LiveSettings {
        let rate = match previous {
            Some(previous) if previous.reports_per_minute == config.reports_per_minute => {
                previous.rate.clone()
            }
            _ => Arc::new(RateLimiter::per_minute(config.reports_per_minute)),
        };
        let concurrency = match previous {
            Some(previous)
                if previous.max_concurrent_per_client == config.max_concurrent_per_client =>
            {
                previous.concurrency.clone()
            }
            _ => Arc::new(ClientConcurrency::new(
                config.max_concurrent_per_client,
                MAX_CLIENTS_IN_PROGRESS,
            )),
        };
        LiveSettings {
            max_body: config.max_body,
            body_timeout: config.body_timeout,
            trust_proxy: config.trust_proxy.clone(),
            reports_per_minute: config.reports_per_minute,
            max_concurrent_per_client: config.max_concurrent_per_client,
            rate,
            concurrency,
        }
    }
}

/// What every request handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) live: Arc<RwLock<Arc<LiveSettings>>>,
    /// Examines each report against its live domain list; the committer stores them.
    pub(crate) intake: Intake,
    pub(crate) committer: Committer,
    pub(crate) metrics: ServeMetrics,
    pub(crate) registry: MetricsRegistry,
    pub(crate) dashboard: Dashboard,
    /// The hosted policies, the policy hosts' certificates and the pending ACME challenges.
    pub(crate) hosting: Hosting,
}

impl AppState {
    pub(crate) fn live(&self) -> Arc<LiveSettings> {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The router for `config`'s paths.
pub(crate) fn router(config: &ServeConfig, state: AppState) -> Router {
    let mut router = Router::new().route(
        &config.intake_path,
        any(method_not_allowed).post(post_report),
    );
    if config.healthz {
        router = router.route("/healthz", get(healthz));
    }
    if config.metrics {
        let metrics_route = Router::new().route("/metrics", get(metrics));
        router = router.merge(dashboard::protect_metrics(
            metrics_route,
            state.dashboard.clone(),
        ));
    }
    let dashboard = dashboard::router(state.dashboard.clone());
    router
        .fallback(not_found)
        .with_state(state)
        .merge(dashboard)
}

/// A plain-text answer: one sentence and a line break.
fn sentence(status: StatusCode, text: impl std::fmt::Display) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

/// A wait in whole seconds, rounded up, at least 1: what `Retry-After` says (RFC 9110
/// §10.2.3) and the sentence repeats.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn retry_after(mut response: Response, wait: Duration) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(whole_seconds(wait)));
    response
}

async fn healthz() -> Response {
    sentence(StatusCode::OK, "ok")
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.registry.response().map(Body::new)
}

async fn not_found() -> Response {
    sentence(
        StatusCode::NOT_FOUND,
        "Nothing is served here; reports are POSTed to the intake path of this server's \
         TLS-RPT rua URI.",
    )
}

async fn method_not_allowed() -> Response {
    let mut response = sentence(
        StatusCode::METHOD_NOT_ALLOWED,
        "TLS-RPT reports are sent here with POST (RFC 8460 §5.3); no other method is answered.",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

async fn post_report(State(state): State<AppState>, request: Request) -> Response {
    let (answer, response) = answer_post(&state, request).await;
    state.metrics.answered(answer);
    response
}

async fn answer_post(state: &AppState, request: Request) -> (Answer, Response) {
    let live = state.live();
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    // Without connection information (never the case when served by this crate) every client
    // shares one limit: stricter, never open.
    let peer = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let client = forwarded_client(peer, &parts.headers, &live.trust_proxy);
    if let Err(error) = live.rate.take(client, Instant::now()) {
        let wait = match &error {
            ServiceError::RateLimited { retry_after } => *retry_after,
            _ => Duration::from_secs(1),
        };
        let response = sentence(
            StatusCode::TOO_MANY_REQUESTS,
            format_args!(
                "This client sent more reports than this server takes a minute; send it again \
                 after {} seconds.",
                whole_seconds(wait)
            ),
        );
        return (Answer::RateLimited, retry_after(response, wait));
    }
    let _permit = match live.concurrency.acquire(client) {
        Ok(permit) => permit,
        Err(error) => {
            let text = match error {
                ServiceError::ClientBusy { .. } => {
                    "This client already has as many reports in progress as this server takes \
                     at once; send it again when one is answered."
                }
                _ => {
                    "This server is taking reports from as many clients at once as it tracks; \
                     send it again in a moment."
                }
            };
            let response = sentence(StatusCode::TOO_MANY_REQUESTS, text);
            return (
                Answer::RateLimited,
                retry_after(response, Duration::from_secs(1)),
            );
        }
    };
    let media_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| ReportMediaType::from_content_type(value.as_bytes()));
    if media_type.is_none() {
        return (
            Answer::UnsupportedMediaType,
            sentence(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "A TLS-RPT report is sent as application/tlsrpt+gzip or \
                 application/tlsrpt+json (RFC 8460 §5.3); this request is neither.",
            ),
        );
    }
    let bytes = match read_capped(body, live.max_body, live.body_timeout).await {
        Ok(bytes) => bytes,
        Err(error) => {
            let (answer, status) = match error {
                BodyError::TooLarge { .. } => (Answer::TooLarge, StatusCode::PAYLOAD_TOO_LARGE),
                BodyError::TooSlow { .. } => (Answer::TooSlow, StatusCode::REQUEST_TIMEOUT),
                BodyError::Broken => (Answer::Invalid, StatusCode::BAD_REQUEST),
            };
            return (answer, sentence(status, error));
        }
    };
    // Gzip is undone here, under the 16 MiB cap, so that a report past it is told apart (413)
    // from a broken one (400); the media type does not decide, the content does (some reporters
    // label plain JSON as gzip). Then the intake reads, lints and judges the report against
    // its live domain list; both are CPU work, done off the async workers. The intake's
    // `take_report` would do all of this too, but it neither tells a report over the cap (413)
    // from a broken one (400), nor shares a transaction with the POSTs arriving alongside:
    // the committer stores what is examined here in groups (see `commit`).
    let intake = state.intake.clone();
    let examined = tokio::task::spawn_blocking(move || {
        mta_sts_core::report::decode(&bytes).map(|json| intake.examine_report(&json))
    })
    .await;
    let examined = match examined {
        Ok(Ok(examined)) => examined,
        Ok(Err(mta_sts_core::Error::InvalidReport(diagnostic)))
            if diagnostic.code == ReportCode::TooLarge.as_str() =>
        {
            return (
                Answer::TooLarge,
                sentence(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format_args!("The report is not kept: {}.", diagnostic.message),
                ),
            );
        }
        Ok(Err(error)) => {
            return (
                Answer::Invalid,
                sentence(
                    StatusCode::BAD_REQUEST,
                    format_args!("The report is not kept: {error}."),
                ),
            );
        }
        Err(_) => return failed(),
    };
    // A refused report goes through the intake too: it touches no store there, but is counted
    // (reports by organisation and outcome).
    match state.committer.take(examined).await {
        Ok(outcome) => outcome_answer(outcome),
        Err(CommitError::Unavailable) => {
            let response = sentence(
                StatusCode::SERVICE_UNAVAILABLE,
                format_args!(
                    "The report store cannot take the report now; send it again after {} \
                     seconds.",
                    STORE_RETRY_AFTER.as_secs()
                ),
            );
            (
                Answer::StoreUnavailable,
                retry_after(response, STORE_RETRY_AFTER),
            )
        }
        Err(CommitError::Failed) => failed(),
    }
}

fn failed() -> (Answer, Response) {
    (
        Answer::Failed,
        sentence(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server could not take the report because of a fault on its side; it is not \
             kept, send it again later.",
        ),
    )
}

fn outcome_answer(outcome: Outcome) -> (Answer, Response) {
    match outcome {
        // RFC 8460 §5.3: "the submitter ... considers the report delivered" on any 2xx; it is
        // given only once the store has the report durably.
        Outcome::Imported {
            organization,
            report_id,
            ..
        } => (
            Answer::Stored,
            sentence(
                StatusCode::OK,
                format_args!("The report {report_id} from {organization} is stored."),
            ),
        ),
        Outcome::Duplicate {
            organization,
            report_id,
            ..
        } => (
            Answer::Duplicate,
            sentence(
                StatusCode::OK,
                format_args!("The report {report_id} from {organization} was already stored."),
            ),
        ),
        Outcome::NotAReport { reason } | Outcome::Invalid { reason } => (
            Answer::Invalid,
            sentence(
                StatusCode::BAD_REQUEST,
                format_args!("The report is not kept: {reason}"),
            ),
        ),
        // 403, not 2xx: nothing was stored, and a 2xx would tell the reporter it was; not
        // 400: the report itself is fine, it is this server that does not take reports for
        // these domains. A conforming reporter retries a failure for a while (RFC 8460
        // §5.3.1), which the rate limit keeps cheap, and then gives up.
        Outcome::RefusedDomain {
            organization,
            domains,
            ..
        } => {
            let named = if domains.is_empty() {
                "no policy domain".to_string()
            } else {
                domains.join(", ")
            };
            (
                Answer::RefusedDomain,
                sentence(
                    StatusCode::FORBIDDEN,
                    format_args!(
                        "The report from {organization} is about {named}, which this server \
                         does not take reports for; it is not kept."
                    ),
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests;
