//! The HTML pages: server-rendered with maud (every interpolation escaped), no script, one
//! stylesheet served by this binary.

use std::time::Instant;

use axum::extract::{Extension, Form, FromRequest, Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use maud::{DOCTYPE, Markup, html};
use mta_sts_store::reports::{ReportDetail, ReportKey};
use serde::Deserialize;

use super::access::{LoginRefusal, SESSION_COOKIE};
use super::chart::{rate_line, stacked_bars, thousands, verdict_strip};
use super::timeline::{self, MonitorView};
use super::view::{self, DomainView, LiveView, Window, percent};
use super::{Dashboard, Viewer, client_of, csrf, peer_of, session_cookie};
use crate::hosting::in_step::{IdState, IdStatus};

/// The stylesheet: one file, served by the binary (no external assets).
const STYLESHEET: &str = include_str!("dashboard.css");

/// `?days=N&page=P` on the pages.
#[derive(Debug, Deserialize)]
pub(crate) struct DaysQuery {
    days: Option<u32>,
    page: Option<u64>,
}

/// `?next=/path` on the login page.
#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// The login form's fields.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// The logout form's field.
#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

fn page(title: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · mta-sts serve" }
                link rel="stylesheet" href="/dashboard.css";
            }
            body {
                header class="top" {
                    a class="brand" href="/" { "mta-sts · reports" }
                    @if let Some(Viewer::User(session)) = viewer {
                        form class="logout" method="post" action="/logout" {
                            span class="who" { "Logged in as " strong { (session.user) } }
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn store_failed(viewer: Option<&Viewer>, error: &mta_sts_store::StoreError) -> Response {
    tracing::warn!(kind = %"dashboard-store-failed", "{error}; the page was answered with 503.");
    html_response(
        StatusCode::SERVICE_UNAVAILABLE,
        page(
            "Store unavailable",
            viewer,
            html! {
                h1 { "The report store cannot be read now" }
                p { "The server could not read the reports (" (error.to_string()) "). Reload the page in a moment." }
            },
        ),
    )
}

/// Only a path on this server is a place to go after logging in (never `//host`).
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

pub(crate) async fn login_form(
    State(dashboard): State<Dashboard>,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = query.next.as_deref().map_or("/", safe_next);
    login_page(&dashboard, StatusCode::OK, next, None)
}

fn login_page(
    dashboard: &Dashboard,
    status: StatusCode,
    next: &str,
    problem: Option<&str>,
) -> Response {
    let has_users = dashboard.settings().access.has_users();
    let status = if has_users {
        status
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    html_response(
        status,
        page(
            "Log in",
            None,
            html! {
                section class="login" {
                    h1 { "Log in to the reports dashboard" }
                    @if !has_users {
                        div class="notice" id="no-users" {
                            p { strong { "No user is configured, so nobody can log in." } " Reports are private: the dashboard refuses everyone until a user is added." }
                            ol {
                                li { "Make a password hash: " code { "mta-sts serve hash-password" } " (it reads the password from standard input)." }
                                li { "Add it to the configuration file:" pre { "[[users]]\nname = \"owner\"\npassword_hash = \"$argon2id$...\"" } }
                                li { "Reload the server (" code { "kill -HUP" } " or " code { "systemctl reload" } ") or restart it." }
                            }
                        }
                    } @else {
                        @if let Some(problem) = problem {
                            p class="problem" role="alert" { (problem) }
                        }
                        form method="post" action="/login" {
                            input type="hidden" name="next" value=(next);
                            label { "Name" input type="text" name="name" autocomplete="username" required autofocus; }
                            label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                            button type="submit" { "Log in" }
                        }
                    }
                }
            },
        ),
    )
}

pub(crate) async fn login(
    State(dashboard): State<Dashboard>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let settings = dashboard.settings();
    let peer = peer_of(request.extensions());
    if !csrf::same_origin(&headers, request.uri()) {
        return forbidden_cross_site();
    }
    let Form(form) = match Form::<LoginForm>::from_request(request, &()).await {
        Ok(form) => form,
        Err(_) => {
            return login_page(
                &dashboard,
                StatusCode::BAD_REQUEST,
                "/",
                Some("The form was not sent whole; fill in the name and the password again."),
            );
        }
    };
    let client = client_of(&headers, peer, &settings.trust_proxy);
    let next = safe_next(&form.next);
    match settings
        .access
        .login(client, &form.name, &form.password, Instant::now())
        .await
    {
        Ok((id, session)) => {
            tracing::info!(kind = %"dashboard-login", user = %session.user, client = %client, "{} logged in to the dashboard from {client}.", session.user);
            let mut cookie = format!(
                "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                settings.access.lifetime().as_secs()
            );
            if settings.secure_cookie {
                cookie.push_str("; Secure");
            }
            let mut response = StatusCode::SEE_OTHER.into_response();
            // A path that is not a valid header value (raw non-ASCII) goes to the overview.
            let location = HeaderValue::from_str(next).unwrap_or(HeaderValue::from_static("/"));
            response.headers_mut().insert(header::LOCATION, location);
            // The id is hex and the attributes are fixed: always a valid header value.
            if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(LoginRefusal::TooMany(wait)) => {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::warn!(kind = %"dashboard-login-limited", client = %client, "Login attempts from {client} (or for the user `{}`) are over the limit; refused for {seconds} seconds.", form.name.escape_debug());
            let mut response = login_page(
                &dashboard,
                StatusCode::TOO_MANY_REQUESTS,
                next,
                Some(&format!(
                    "Too many login attempts from this address or for this user; try again in {seconds} seconds."
                )),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
        Err(LoginRefusal::Wrong) => {
            tracing::info!(kind = %"dashboard-login-failed", client = %client, "A login from {client} failed: wrong name or password.");
            login_page(
                &dashboard,
                StatusCode::UNAUTHORIZED,
                next,
                Some("The name or the password is wrong."),
            )
        }
        Err(LoginRefusal::NoUsers) => {
            login_page(&dashboard, StatusCode::SERVICE_UNAVAILABLE, next, None)
        }
    }
}

fn forbidden_cross_site() -> Response {
    html_response(
        StatusCode::FORBIDDEN,
        page(
            "Refused",
            None,
            html! {
                h1 { "Refused: this form was not sent from this dashboard" }
                p { "A form is accepted only from a page of this server (its Origin header names another site, or none). Open " a href="/login" { "the login page" } " and send it from there." }
            },
        ),
    )
}

pub(crate) async fn logout(
    State(dashboard): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Viewer::User(session) = &viewer else {
        return forbidden_cross_site();
    };
    if !csrf::same_origin(&headers, &uri) || !csrf::token_matches(session, &form.csrf) {
        return forbidden_cross_site();
    }
    if let Some(id) = session_cookie(&headers) {
        dashboard.settings().access.end_session(id);
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(cookie) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/login"));
    response
}

fn window_of(dashboard: &Dashboard, days: Option<u32>) -> Window {
    Window::ending(
        dashboard.clock.now(),
        days.unwrap_or(dashboard.settings().days),
    )
}

fn window_sentence(window: &Window) -> Markup {
    html! {
        p class="window" {
            "The last " (window.days) " days: " time datetime=(window.first_day.to_string()) { (window.first_day.to_string()) }
            " to " time datetime=(window.last_day.to_string()) { (window.last_day.to_string()) } " (UTC). "
            "Show "
            @for days in [7u32, 14, 30, 90] {
                @if days == window.days { strong { (days) " days" } " " } @else { a href=(format!("?days={days}")) { (days) " days" } " " }
            }
        }
    }
}

fn time(at: mta_sts_core::report::Timestamp) -> Markup {
    html! { time datetime=(at.to_string()) { (at.to_string()) } }
}

pub(crate) async fn overview(
    State(dashboard): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    Query(query): Query<DaysQuery>,
) -> Response {
    let window = window_of(&dashboard, query.days);
    let rows = match view::overview(&dashboard, window).await {
        Ok(rows) => rows,
        Err(error) => return store_failed(Some(&viewer), &error),
    };
    html_response(
        StatusCode::OK,
        page(
            "Domains",
            Some(&viewer),
            html! {
                h1 { "Your domains" }
                (window_sentence(&window))
                table class="domains" id="domains" {
                    caption { "Each domain's TLS reports in the window (domains with failures first) and where its MTA-STS rollout stands by the live check. Sessions count each report's first policy entry for the domain." }
                    thead { tr {
                        th scope="col" { "Domain" } th scope="col" { "Reports say" } th scope="col" { "Rollout" }
                        th scope="col" class="num" { "Reports" } th scope="col" class="num" { "Successful" }
                        th scope="col" class="num" { "Failed" } th scope="col" class="num" { "Failure rate" }
                        th scope="col" { "Last report covers" }
                    } }
                    tbody {
                        @for row in &rows {
                            tr data-domain=(row.domain) data-verdict=(row.verdict.code) {
                                th scope="row" { a href=(format!("/domains/{}", row.domain)) { (row.domain) } }
                                td { span class=(format!("verdict {}", row.verdict.code)) { (verdict_word(row.verdict.code)) } span class="why" { (row.verdict.message) } }
                                td data-stage=[row.advice.as_ref().map(|a| a.stage.as_str())] {
                                    @if let Some(advice) = &row.advice {
                                        span class=(if advice.ready { "verdict healthy" } else { "verdict no-reports" }) { (advice.stage) }
                                        span class="why" { (advice.verdict) " (checked " (time(advice.checked_at)) ")" }
                                    } @else {
                                        span class="empty" { "checking…" }
                                    }
                                }
                                td class="num" { (thousands(row.reports)) }
                                td class="num" { (thousands(row.successful)) }
                                td class="num" { (thousands(row.failed)) }
                                td class="num" { (percent(row.failed, row.successful + row.failed)) }
                                td { @if let Some(day) = row.last_day { time datetime=(day.to_string()) { (day.to_string()) } } @else { span class="empty" { "never" } } }
                            }
                        }
                    }
                }
            },
        ),
    )
}

fn verdict_word(code: &str) -> &'static str {
    match code {
        "healthy" => "healthy",
        "failures" => "failures",
        _ => "no reports",
    }
}

fn unknown_domain(viewer: &Viewer, domain: &str) -> Response {
    html_response(
        StatusCode::NOT_FOUND,
        page(
            "Unknown domain",
            Some(viewer),
            html! {
                h1 { "No such domain here" }
                p { "This server does not take reports for " code { (domain) } "; its domains are listed on " a href="/" { "the overview" } "." }
            },
        ),
    )
}

pub(crate) async fn domain(
    State(dashboard): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    Path(domain): Path<String>,
    Query(query): Query<DaysQuery>,
) -> Response {
    let window = window_of(&dashboard, query.days);
    let name = mta_sts_core::domain::normalize_mail_domain(&domain).unwrap_or_default();
    match view::domain(&dashboard, &name, window, query.page.unwrap_or(0)).await {
        Ok(Some(view)) => {
            let sts_id = dashboard.ids.get(&name);
            let monitor = timeline::monitor(&dashboard, &name, timeline::DEFAULT_CHECKS)
                .await
                .map_err(|error| error.to_string());
            html_response(
                StatusCode::OK,
                domain_page(&view, &viewer, sts_id.as_ref(), &monitor),
            )
        }
        Ok(None) => unknown_domain(&viewer, &domain),
        Err(error) => store_failed(Some(&viewer), &error),
    }
}

fn domain_page(
    view: &DomainView,
    viewer: &Viewer,
    sts_id: Option<&IdStatus>,
    monitor: &Result<MonitorView, String>,
) -> Markup {
    let (series, stacks) = view::session_chart(view);
    let rates = view::rate_chart(&stacks);
    let domain = &view.domain;
    let policy = view
        .policy_type
        .as_ref()
        .map_or("sts".to_string(), |policy| policy.as_str().to_string());
    page(
        domain,
        Some(viewer),
        html! {
            p class="crumbs" { a href="/" { "All domains" } " › " (domain) }
            h1 { (domain) }
            (window_sentence(&view.window))
            section class=(format!("verdict-box {}", view.verdict.code)) id="verdict" data-verdict=(view.verdict.code) {
                h2 { "Reports: " (verdict_word(view.verdict.code)) }
                p { (view.verdict.message) }
            }
            @if let Some(sts_id) = sts_id {
                (sts_id_section(sts_id))
            }
            (live_section(&view.live))
            (monitor_section(domain, monitor))
            @if view.evidence.summary.total.reports > 0 {
                section class="charts" {
                    h2 { "Sessions per day" }
                    p class="note" { "Sessions of policy type " code { (policy) } " that reporters counted, by the day their report starts (UTC); failures stacked by result type." }
                    (stacked_bars("sessions-chart", &format!("Sessions per day for {domain}: successful, and failed by result type"), &series, &stacks))
                    h2 { "Failure rate per day" }
                    (rate_line("rate-chart", &format!("Share of failed sessions per day for {domain}"), &rates))
                }
                (failures_section(view))
                (reporters_section(view))
                (fetchers_section(view))
                (breakdowns(view))
                (reports_table(view))
            }
        },
    )
}

/// Whether the hosted policy's `_mta-sts` id is in step: "id not updated yet" until DNS shows it.
fn sts_id_section(status: &IdStatus) -> Markup {
    let state = match status.state {
        IdState::InStep => "in-step",
        IdState::NotUpdatedYet => "not-updated-yet",
    };
    html! {
        section class=(format!("sts-id {state}")) id="sts-id" data-state=(state) {
            h2 { "Policy id" }
            p { (status.sentence()) }
            @if status.state == IdState::NotUpdatedYet {
                pre { code { (status.record) } }
            }
        }
    }
}

fn live_section(live: &LiveView) -> Markup {
    html! {
        section class="live" id="advice" data-checking=(live.checking) {
            h2 { "Rollout advice and live check" }
            p class="note" {
                @if let Some(at) = live.checked_at { "Checked " (time(at)) "." } @else { "Not checked yet." }
                @if live.checking { " Checking… reload the page in a moment for a fresh result." }
            }
            @if let Some(error) = &live.error { p class="problem" { (error) } }
            @if let Some(advice) = &live.advice {
                div class=(format!("verdict-box {}", if advice.ready { "healthy" } else { "failures" })) data-stage=(advice.stage.to_string()) data-ready=(advice.ready) {
                    h3 { "Stage " (advice.stage.to_string()) ": " (advice.verdict()) }
                }
                table id="reasons" {
                    caption { "Every condition of the next stage, failing ones first" }
                    thead { tr { th scope="col" { "" } th scope="col" { "Condition" } th scope="col" { "Evidence" } } }
                    tbody {
                        @for reason in advice.reasons.iter().filter(|r| !r.ok).chain(advice.reasons.iter().filter(|r| r.ok)) {
                            tr data-code=(reason.code.as_str()) data-ok=(reason.ok) {
                                td { @if reason.ok { span class="verdict healthy" { "ok" } } @else { span class="verdict failures" { "fails" } } }
                                th scope="row" { code { (reason.code.as_str()) } }
                                td { (reason.message) }
                            }
                        }
                    }
                }
                @if let Some(next) = &advice.next {
                    h3 { "What to publish " @if advice.ready { "next" } @else { "once every condition holds" } }
                    p { "The policy at " code { "https://mta-sts." (advice.domain) "/.well-known/mta-sts.txt" } " first, then the record:" }
                    pre id="next-policy" { (next.policy) }
                    pre id="next-record" { (next.sts_record) }
                }
            }
            @if let Some(check) = &live.check {
                @if let Some(incomplete) = &check.incomplete {
                    p class="problem" id="check-incomplete" { (incomplete) }
                }
                @if !check.not_learnt.is_empty() {
                    ul id="not-learnt" {
                        @for unknown in &check.not_learnt { li { "The check " (unknown.to_string()) "." } }
                    }
                }
                table id="findings" {
                    caption { "The live check's findings (verdict " (check.verdict.as_str()) "), errors first" }
                    thead { tr { th scope="col" { "Severity" } th scope="col" { "Code" } th scope="col" { "Finding" } th scope="col" { "What to change" } } }
                    tbody {
                        @if check.findings.is_empty() {
                            tr { td colspan="4" class="empty" {
                                @if check.not_learnt.is_empty() { "Nothing to report: the live check found no problem." }
                                @else { "No problem in what the check could learn." }
                            } }
                        }
                        @for finding in &check.findings {
                            tr data-code=(finding.code.as_str()) {
                                td { (finding.severity.as_str()) }
                                td { code { (finding.code.as_str()) } }
                                td { (finding.message) }
                                td { (finding.remediation) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Timeline rows shown on the page (the API gives more).
const TIMELINE_ROWS: usize = 100;

/// The monitor's verdicts over time and its timeline of events, newest first.
fn monitor_section(domain: &str, monitor: &Result<MonitorView, String>) -> Markup {
    let view = match monitor {
        Ok(view) => view,
        Err(error) => {
            return html! {
                section class="monitor" id="monitor" {
                    h2 { "Monitor" }
                    p class="problem" { "The monitor's history cannot be read now: " (error) "; reload the page in a moment." }
                }
            };
        }
    };
    let open = view
        .events
        .iter()
        .filter(|e| e.cleared_at.is_none())
        .count();
    let strip: Vec<(mta_sts_core::Timestamp, &str)> = view
        .checks
        .iter()
        .rev()
        .map(|check| (check.checked_at, check.verdict.as_str()))
        .collect();
    html! {
        section class="monitor" id="monitor" data-open=(open) data-checks=(view.checks.len()) {
            h2 { "Monitor" }
            @if let Some(latest) = view.checks.first() {
                p class="note" {
                    "Checked on a schedule by this server; the latest check " (time(latest.checked_at))
                    " gave " span class=(format!("verdict {}", verdict_class(latest.verdict.as_str()))) { (latest.verdict.as_str()) }
                    ". " (open) @if open == 1 { " event is" } @else { " events are" } " open."
                }
                (verdict_strip("monitor-strip", &format!("The monitor's verdicts of {domain}, oldest left"), &strip))
            } @else {
                p class="empty" { "The monitor has not checked " (domain) " yet: its first check comes soon after the server starts, then one every interval ([monitor] in the configuration)." }
            }
            @if !view.timeline.is_empty() {
                table id="timeline" {
                    caption { "Events raised and cleared, and the checks that changed the verdict, newest first" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Code" } th scope="col" { "About" } th scope="col" { "Sentence" } } }
                    tbody {
                        @for entry in view.timeline.iter().take(TIMELINE_ROWS) {
                            tr data-kind=(entry.kind) data-code=(entry.code) {
                                td { (time(entry.at)) }
                                td { span class=(format!("verdict {}", kind_class(entry.kind, &entry.code))) { (entry.kind) } }
                                td { code { (entry.code) } }
                                td { (entry.subject) }
                                td { (entry.message) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The badge colour of a check's verdict.
fn verdict_class(verdict: &str) -> &'static str {
    match verdict {
        "pass" => "healthy",
        "fail" => "failures",
        _ => "no-reports",
    }
}

/// The badge colour of a timeline line: a raise is bad news, a clear good news.
fn kind_class(kind: &str, code: &str) -> &'static str {
    match kind {
        "raised" => "failures",
        "cleared" => "healthy",
        _ => verdict_class(code),
    }
}

fn failures_section(view: &DomainView) -> Markup {
    html! {
        section class="failures" {
            h2 { "What failed where" }
            table id="failure-groups" {
                caption { "Failed sessions by policy type, result type and receiving MX, most first" }
                thead { tr {
                    th scope="col" { "Result type" } th scope="col" { "Receiving MX" } th scope="col" class="num" { "Sessions" }
                    th scope="col" { "Days" } th scope="col" { "Reported by" }
                } }
                tbody {
                    @if view.evidence.failures.is_empty() { tr { td colspan="5" class="empty" { "No failure details reported in the window." } } }
                    @for group in &view.evidence.failures {
                        tr {
                            td { code { (group.policy_type.as_str()) " " (group.result_type.as_str()) } }
                            td { @if let Some(mx) = &group.receiving_mx_hostname { (mx) } @else { span class="empty" { "not reported" } } }
                            td class="num" { (thousands(group.sessions)) }
                            td { (group.first_day.to_string()) @if group.first_day != group.last_day { " to " (group.last_day.to_string()) } " (" (group.days) " days)" }
                            td { (group.organizations.join(", ")) }
                        }
                    }
                }
            }
        }
    }
}

fn reporters_section(view: &DomainView) -> Markup {
    html! {
        section class="reporters" {
            h2 { "Who reports" }
            table id="reporters" {
                caption { "Organisations that reported in the window, by name; one that reported on several days but on none of the last " (view.silent_days) " is flagged silent" }
                thead { tr {
                    th scope="col" { "Organisation" } th scope="col" { "First day" } th scope="col" { "Last day" }
                    th scope="col" class="num" { "Days" } th scope="col" class="num" { "Reports" }
                    th scope="col" class="num" { "Successful" } th scope="col" class="num" { "Failed" }
                } }
                tbody {
                    @for row in &view.reporters {
                        tr data-silent=(row.silent) {
                            th scope="row" { (row.reporter.organization) @if row.silent { " " span class="verdict failures" { "silent" } } }
                            td { (row.reporter.first_day.to_string()) }
                            td { (row.reporter.last_day.to_string()) }
                            td class="num" { (row.reporter.days) }
                            td class="num" { (thousands(row.reporter.reports)) }
                            td class="num" { (thousands(row.reporter.successful)) }
                            td class="num" { (thousands(row.reporter.failed)) }
                        }
                    }
                }
            }
        }
    }
}

fn fetchers_section(view: &DomainView) -> Markup {
    if view.policy_fetchers.is_empty() {
        return html! {};
    }
    html! {
        section class="fetchers" {
            h2 { "Who fetches your policy" }
            ul id="policy-fetchers" {
                @for row in &view.policy_fetchers {
                    li data-organization=(row.organization) { (row.sentence) }
                }
            }
        }
    }
}

fn breakdowns(view: &DomainView) -> Markup {
    let Some(main) = view::main_policy(&view.evidence) else {
        return html! {};
    };
    let failures = &main.failures;
    html! {
        section class="breakdowns" {
            h2 { "Failures by organisation, MX host and sending IP" }
            div class="grid" {
                table id="by-organization" {
                    caption { "Sessions by reporting organisation, most failures first" }
                    thead { tr { th scope="col" { "Organisation" } th scope="col" class="num" { "Successful" } th scope="col" class="num" { "Failed" } th scope="col" class="num" { "Failure rate" } } }
                    tbody {
                        @for org in &failures.by_organization {
                            tr { th scope="row" { (org.organization) } td class="num" { (thousands(org.successful)) } td class="num" { (thousands(org.failed)) } td class="num" { (percent(org.failed, org.successful + org.failed)) } }
                        }
                    }
                }
                (count_table("by-mx", "Failed sessions by receiving MX host", "MX host",
                    failures.by_receiving_mx.iter().map(|c| (c.receiving_mx_hostname.clone(), c.count))))
                (count_table("by-ip", "Failed sessions by sending IP", "Sending IP",
                    failures.by_sending_ip.iter().map(|c| (c.sending_mta_ip.clone(), c.count))))
            }
        }
    }
}

fn count_table(
    id: &str,
    caption: &str,
    what: &str,
    rows: impl Iterator<Item = (Option<String>, u64)>,
) -> Markup {
    let rows: Vec<(Option<String>, u64)> = rows.collect();
    html! {
        table id=(id) {
            caption { (caption) ", most first" }
            thead { tr { th scope="col" { (what) } th scope="col" class="num" { "Failed sessions" } } }
            tbody {
                @if rows.is_empty() {
                    tr { td colspan="2" class="empty" { "No failure details reported." } }
                }
                @for (name, count) in &rows {
                    tr { th scope="row" { @if let Some(name) = name { (name) } @else { span class="empty" { "not reported" } } } td class="num" { (thousands(*count)) } }
                }
            }
        }
    }
}

fn reports_table(view: &DomainView) -> Markup {
    let page = &view.reports;
    let days = view.window.days;
    html! {
        section class="reports" {
            h2 { "Reports" }
            table id="reports" {
                caption { "The reports of the window, newest period first (page " (page.page + 1) ", " (page.per_page) " a page); sessions of this domain's policy entries" }
                thead { tr {
                    th scope="col" { "Period start" } th scope="col" { "Organisation" } th scope="col" { "Report id" }
                    th scope="col" class="num" { "Successful" } th scope="col" class="num" { "Failed" } th scope="col" { "Received" }
                } }
                tbody {
                    @for row in &page.reports {
                        @let first = row.report.policies.first();
                        tr data-key=(row.key) {
                            td { (time(row.report.start)) }
                            td { (row.report.organization) }
                            td class="report-id" { a href=(format!("/reports/{}", row.key)) { (row.report.report_id) } }
                            td class="num" { (thousands(first.map_or(0, |p| p.successful))) }
                            td class="num" { (thousands(first.map_or(0, |p| p.failed))) }
                            td { (time(row.received_at)) " (" (row.source) ")" }
                        }
                    }
                }
            }
            p class="pager" {
                @if page.page > 0 { a rel="prev" href=(format!("?days={days}&page={}", page.page - 1)) { "← newer reports" } " " }
                @if page.has_more { a rel="next" href=(format!("?days={days}&page={}", page.page + 1)) { "older reports →" } }
            }
        }
    }
}

pub(crate) async fn report(
    State(dashboard): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    Path(key): Path<String>,
) -> Response {
    let not_found = |viewer: &Viewer| {
        html_response(
            StatusCode::NOT_FOUND,
            page(
                "No such report",
                Some(viewer),
                html! { h1 { "No such report" } p { "No stored report has the number " code { (key) } "; it may have been pruned. See " a href="/" { "the overview" } "." } },
            ),
        )
    };
    let Ok(id) = key.parse::<i64>() else {
        return not_found(&viewer);
    };
    match dashboard.store.report(ReportKey::from_id(id)).await {
        Ok(Some(detail)) => html_response(StatusCode::OK, report_page(&detail, &viewer)),
        Ok(None) => not_found(&viewer),
        Err(error) => store_failed(Some(&viewer), &error),
    }
}

/// The report's JSON indented for reading; as stored when it does not parse (it did once).
fn pretty_json(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| raw.to_string())
}

fn opt(value: Option<&String>) -> Markup {
    html! { @if let Some(value) = value { (value) } @else { span class="empty" { "—" } } }
}

fn report_page(detail: &ReportDetail, viewer: &Viewer) -> Markup {
    page(
        &format!("Report {}", detail.report_id),
        Some(viewer),
        html! {
            p class="crumbs" { a href="/" { "All domains" } " › report" }
            h1 { "Report " span class="report-id" { (detail.report_id) } }
            table id="report-facts" {
                caption { "The report as received" }
                tbody {
                    tr { th scope="row" { "Organisation" } td { (detail.organization) } }
                    tr { th scope="row" { "Contact" } td { (opt(detail.contact_info.as_ref())) } }
                    tr { th scope="row" { "Period" } td { (time(detail.start)) " to " (time(detail.end)) } }
                    tr { th scope="row" { "Received" } td { (time(detail.received_at)) " (" (detail.source.to_string()) ")" } }
                }
            }
            @for policy in &detail.policies {
                section class="policy" {
                    h2 {
                        "Policy " code { (policy.policy_type.as_str()) } " for "
                        @if let Some(domain) = &policy.policy_domain { a href=(format!("/domains/{domain}")) { (domain) } } @else { span class="empty" { "no domain" } }
                        ": " (thousands(policy.successful)) " successful, " (thousands(policy.failed)) " failed"
                    }
                    @if !policy.policy_string.is_empty() { pre class="policy-string" { (policy.policy_string.join("\n")) } }
                    @if !policy.mx_host.is_empty() { p { "MX hosts in the policy: " (policy.mx_host.join(", ")) } }
                    div class="wide" { table class="failure-details" {
                        caption { "Failure details as the reporter wrote them" }
                        thead { tr {
                            th scope="col" { "Result type" } th scope="col" class="num" { "Sessions" } th scope="col" { "Sending IP" }
                            th scope="col" { "Receiving MX" } th scope="col" { "MX HELO" } th scope="col" { "Receiving IP" }
                            th scope="col" { "Reason code" } th scope="col" { "Additional information" }
                        } }
                        tbody {
                            @if policy.failures.is_empty() { tr { td colspan="8" class="empty" { "No failure details." } } }
                            @for failure in &policy.failures {
                                tr {
                                    td { code { (failure.result_type.as_str()) } }
                                    td class="num" { (thousands(failure.count)) }
                                    td { (opt(failure.sending_mta_ip.as_ref())) }
                                    td { (opt(failure.receiving_mx_hostname.as_ref())) }
                                    td { (opt(failure.receiving_mx_helo.as_ref())) }
                                    td { (opt(failure.receiving_ip.as_ref())) }
                                    td { (opt(failure.failure_reason_code.as_ref())) }
                                    td { (opt(failure.additional_information.as_ref())) }
                                }
                            }
                        }
                    } }
                }
            }
            h2 { "What the linter found in it" }
            @if detail.findings.is_empty() {
                p class="empty" { "Nothing: the report follows RFC 8460." }
            } @else {
                ul id="report-findings" {
                    @for finding in &detail.findings {
                        li { code { (finding.code) } " (" (finding.severity.as_str()) "): " (finding.message) }
                    }
                }
            }
            h2 { "Raw JSON" }
            pre id="raw-json" { (pretty_json(&detail.raw_json)) }
        },
    )
}
