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
use mta_sts_store::reports::ReportKey;

use super::timeline;
use super::view::{self, Window};

/// The OpenAPI document, written by hand (see the test that compares it with the router).
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// The API's routes, as the router mounts them (the test compares them with the document).
pub(crate) const ROUTES: [&str; 10] = [
    "/api/v1/openapi.json",
    "/api/v1/domains",
    "/api/v1/domains/{domain}",
    "/api/v1/domains/{domain}/evidence",
    "/api/v1/domains/{domain}/reports",
    "/api/v1/domains/{domain}/advice",
    "/api/v1/domains/{domain}/check",
    "/api/v1/reports/{key}",
    "/api/v1/domains/{domain}/sts-id",
    "/api/v1/domains/{domain}/monitor",
];

/// The API's routes (all GET).
pub(crate) fn routes() -> Router<Dashboard> {
    Router::new()
        .route(ROUTES[0], get(openapi))
        .route(ROUTES[1], get(domains))
        .route(ROUTES[2], get(domain))
        .route(ROUTES[3], get(evidence))
        .route(ROUTES[4], get(reports))
        .route(ROUTES[5], get(advice))
        .route(ROUTES[6], get(check))
        .route(ROUTES[7], get(report))
        .route(ROUTES[8], get(sts_id))
        .route(ROUTES[9], get(monitor))
}

/// `?days=N&page=P`.
#[derive(Debug, Deserialize)]
pub(crate) struct DaysQuery {
    days: Option<u32>,
    page: Option<u64>,
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
    Window::ending(
        dashboard.clock.now(),
        days.unwrap_or(dashboard.settings().days),
    )
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
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

/// The domain of a path, when it is one of this server's.
fn ours(dashboard: &Dashboard, domain: &str) -> Option<String> {
    mta_sts_core::domain::normalize_mail_domain(domain)
        .ok()
        .filter(|name| view::is_ours(dashboard, name))
}

async fn domain(
    State(dashboard): State<Dashboard>,
    Path(domain): Path<String>,
    Query(query): Query<DaysQuery>,
) -> Response {
    let window = window(&dashboard, query.days);
    let Some(name) = ours(&dashboard, &domain) else {
        return unknown_domain(&domain);
    };
    match view::domain(&dashboard, &name, window, query.page.unwrap_or(0)).await {
        Ok(Some(view)) => axum::Json(view).into_response(),
        Ok(None) => unknown_domain(&domain),
        Err(error) => store_failed(&error),
    }
}

async fn evidence(
    State(dashboard): State<Dashboard>,
    Path(domain): Path<String>,
    Query(query): Query<DaysQuery>,
) -> Response {
    let window = window(&dashboard, query.days);
    let Some(name) = ours(&dashboard, &domain) else {
        return unknown_domain(&domain);
    };
    match view::evidence(&dashboard, &name, window).await {
        Ok(evidence) => axum::Json(evidence).into_response(),
        Err(error) => store_failed(&error),
    }
}

async fn reports(
    State(dashboard): State<Dashboard>,
    Path(domain): Path<String>,
    Query(query): Query<DaysQuery>,
) -> Response {
    let window = window(&dashboard, query.days);
    let Some(name) = ours(&dashboard, &domain) else {
        return unknown_domain(&domain);
    };
    match view::reports(&dashboard, &name, window, query.page.unwrap_or(0)).await {
        Ok(page) => axum::Json(page).into_response(),
        Err(error) => store_failed(&error),
    }
}

#[derive(Serialize)]
struct AdviceAnswer {
    checked_at: Option<mta_sts_core::report::Timestamp>,
    checking: bool,
    advice: Option<mta_sts_rollout::Advice>,
    error: Option<String>,
}

async fn advice(State(dashboard): State<Dashboard>, Path(domain): Path<String>) -> Response {
    let Some(name) = ours(&dashboard, &domain) else {
        return unknown_domain(&domain);
    };
    let live = view::live(&dashboard, &name).await;
    axum::Json(AdviceAnswer {
        checked_at: live.checked_at,
        checking: live.checking,
        advice: live.advice,
        error: live.error,
    })
    .into_response()
}

#[derive(Serialize)]
struct CheckAnswer {
    checked_at: Option<mta_sts_core::report::Timestamp>,
    checking: bool,
    check: Option<mta_sts_check::CheckReport>,
    error: Option<String>,
}

async fn check(State(dashboard): State<Dashboard>, Path(domain): Path<String>) -> Response {
    let Some(name) = ours(&dashboard, &domain) else {
        return unknown_domain(&domain);
    };
    let live = view::live(&dashboard, &name).await;
    axum::Json(CheckAnswer {
        checked_at: live.checked_at,
        checking: live.checking,
        check: live.check,
        error: live.error,
    })
    .into_response()
}

async fn report(State(dashboard): State<Dashboard>, Path(key): Path<String>) -> Response {
    let missing = || {
        problem(
            StatusCode::NOT_FOUND,
            &format!("No stored report has the number {key}."),
        )
    };
    let Ok(id) = key.parse::<i64>() else {
        return missing();
    };
    match dashboard.store.report(ReportKey::from_id(id)).await {
        Ok(Some(detail)) => axum::Json(detail).into_response(),
        Ok(None) => missing(),
        Err(error) => store_failed(&error),
    }
}

#[derive(Serialize)]
struct StsIdAnswer {
    domain: String,
    policy_served: bool,
    #[serde(flatten)]
    status: Option<crate::hosting::in_step::IdStatus>,
    message: String,
}

async fn sts_id(State(dashboard): State<Dashboard>, Path(domain): Path<String>) -> Response {
    let Some(name) = ours(&dashboard, &domain) else {
        return unknown_domain(&domain);
    };
    let status = dashboard.ids.get(&name);
    let message = status.as_ref().map_or_else(
        || {
            format!(
                "This server serves no policy for {name} (it is not hosted here, or its auto \
                 policy is not generated yet), so there is no _mta-sts id to keep in step."
            )
        },
        |status| status.sentence(),
    );
    axum::Json(StsIdAnswer {
        domain: name,
        policy_served: status.is_some(),
        status,
        message,
    })
    .into_response()
}

/// `?checks=N`.
#[derive(Debug, Deserialize)]
pub(crate) struct MonitorQuery {
    checks: Option<u32>,
}

async fn monitor(
    State(dashboard): State<Dashboard>,
    Path(domain): Path<String>,
    Query(query): Query<MonitorQuery>,
) -> Response {
    let Some(name) = ours(&dashboard, &domain) else {
        return unknown_domain(&domain);
    };
    let checks = query.checks.unwrap_or(timeline::DEFAULT_CHECKS);
    match timeline::monitor(&dashboard, &name, checks).await {
        Ok(view) => axum::Json(view).into_response(),
        Err(error) => {
            tracing::warn!(kind = %"dashboard-store-failed", "{error}; the API answered 503.");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "The monitor history of {name} cannot be read now ({error}); try again in a \
                     moment."
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_names_exactly_the_routes_of_the_router() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI).expect("JSON");
        assert_eq!(document["openapi"], "3.1.0");
        let mut documented: Vec<&str> = document["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(String::as_str)
            .collect();
        let mut routed: Vec<&str> = ROUTES.to_vec();
        documented.sort_unstable();
        routed.sort_unstable();
        assert_eq!(documented, routed);
        // Every path is a GET with a 200 and a 401 answer.
        for (path, item) in document["paths"].as_object().expect("paths") {
            let responses = &item["get"]["responses"];
            assert!(
                responses["200"].is_object() && responses["401"].is_object(),
                "{path}"
            );
        }
    }
}
