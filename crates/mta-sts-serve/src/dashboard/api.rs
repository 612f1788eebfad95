//! The JSON API under `/api/v1`: everything the pages show, for scripts and Grafana. It takes a
//! session cookie or `Authorization: Bearer TOKEN`; its OpenAPI 3.1 document is
//! `/api/v1/openapi.json` (`openapi.json` beside this file; a test holds the two together).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::Dashboard;
use super::view::{self, Window};

/// The OpenAPI document, written by hand (see the test that compares it with the router).
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// The API's routes, as the router mounts them (the test compares them with the document).
pub(crate) const ROUTES: [&str; 4] = [
    "/api/v1/openapi.json",
    "/api/v1/domains",
    "/api/v1/domains/{domain}",
    "/api/v1/domains/{domain}/summary",
];

/// The API's routes (all GET).
pub(crate) fn routes() -> Router<Dashboard> {
    Router::new()
        .route(ROUTES[0], get(openapi))
        .route(ROUTES[1], get(domains))
        .route(ROUTES[2], get(domain))
        .route(ROUTES[3], get(summary))
}

/// `?days=N`.
#[derive(Debug, Deserialize)]
pub(crate) struct DaysQuery {
    days: Option<u32>,
}

#[derive(Serialize)]
struct Problem<'a> {
    error: &'a str,
}

fn problem(status: StatusCode, sentence: &str) -> Response {
    (status, axum::Json(Problem { error: sentence })).into_response()
}

/// 401 for a request without a session or a valid token.
pub(crate) fn unauthorized(has_users: bool) -> Response {
    let sentence = if has_users {
        "This API needs a login session or an Authorization: Bearer token listed in [[tokens]] \
         of the server's configuration."
    } else {
        "No user or token is configured, so this API refuses everyone; add [[tokens]] (or \
         [[users]]) to the server's configuration."
    };
    let mut response = problem(StatusCode::UNAUTHORIZED, sentence);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"mta-sts\""),
    );
    response
}

fn store_failed(error: &mta_sts_store::StoreError) -> Response {
    tracing::warn!(kind = %"dashboard-store-failed", "{error}; the API answered 503.");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("The report store cannot be read now ({error}); try again in a moment."),
    )
}

fn unknown_domain(domain: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        &format!("This server does not take reports for {domain}."),
    )
}

fn window(dashboard: &Dashboard, days: Option<u32>) -> Window {
    Window::ending(dashboard.clock.now(), days.unwrap_or(dashboard.settings().days))
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

#[derive(Serialize)]
struct DomainList {
    window: Window,
    domains: Vec<view::DomainRow>,
}

async fn domains(State(dashboard): State<Dashboard>, Query(query): Query<DaysQuery>) -> Response {
    let window = window(&dashboard, query.days);
    match view::overview(&dashboard, window).await {
        Ok(domains) => axum::Json(DomainList { window, domains }).into_response(),
        Err(error) => store_failed(&error),
    }
}

async fn domain(
    State(dashboard): State<Dashboard>,
    Path(domain): Path<String>,
    Query(query): Query<DaysQuery>,
) -> Response {
    let window = window(&dashboard, query.days);
    let name = mta_sts_core::domain::normalize_mail_domain(&domain).unwrap_or_default();
    match view::domain(&dashboard, &name, window).await {
        Ok(Some(view)) => axum::Json(view).into_response(),
        Ok(None) => unknown_domain(&domain),
        Err(error) => store_failed(&error),
    }
}

async fn summary(
    State(dashboard): State<Dashboard>,
    Path(domain): Path<String>,
    Query(query): Query<DaysQuery>,
) -> Response {
    let window = window(&dashboard, query.days);
    let name = mta_sts_core::domain::normalize_mail_domain(&domain).unwrap_or_default();
    match view::domain(&dashboard, &name, window).await {
        Ok(Some(view)) => axum::Json(view.summary).into_response(),
        Ok(None) => unknown_domain(&domain),
        Err(error) => store_failed(&error),
    }
}
