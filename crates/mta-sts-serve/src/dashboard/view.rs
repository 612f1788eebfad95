//! What the pages and the API show, read from the store once and rendered twice (HTML in
//! `pages`, JSON in `api`), so the two never disagree.

use mta_sts_core::report::{PolicyType, Timestamp};
use mta_sts_core::time::UtcDate;
use mta_sts_store::StoreError;
use mta_sts_store::reports::{
    DomainSummary, ListQuery, PolicyTypeTotals, StoredReport, SummaryQuery,
};
use serde::Serialize;

use super::Dashboard;
use super::chart::{DayRate, DayStack, Series, colour_of};

/// The most days a page shows.
pub(crate) const MAX_DAYS: u32 = 366;

/// Reports listed on a domain page.
pub(crate) const REPORTS_PER_PAGE: u64 = 50;

/// The days a page covers: whole UTC days, the last one today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Window {
    /// The first day.
    pub(crate) first_day: UtcDate,
    /// The last day (today).
    pub(crate) last_day: UtcDate,
    /// How many days.
    pub(crate) days: u32,
}

impl Window {
    /// The `days` days up to and including the day of `now` (1 to [`MAX_DAYS`]).
    pub(crate) fn ending(now: Timestamp, days: u32) -> Window {
        let days = days.clamp(1, MAX_DAYS);
        let last = now.utc_date();
        let first = UtcDate::from_day_number(last.day_number() - i64::from(days) + 1).unwrap_or(last);
        Window {
            first_day: first,
            last_day: last,
            days,
        }
    }

    /// Every day of the window, oldest first.
    pub(crate) fn dates(&self) -> Vec<UtcDate> {
        (self.first_day.day_number()..=self.last_day.day_number())
            .filter_map(UtcDate::from_day_number)
            .collect()
    }

    fn summary_query(&self, domain: &str) -> SummaryQuery {
        SummaryQuery {
            domain: domain.to_string(),
            from: self.first_day.start(),
            to: self.last_day.last_second(),
        }
    }
}

/// At a glance: is the domain healthy, from the reports of the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Verdict {
    /// `no-reports`, `failures` or `healthy`.
    pub(crate) code: &'static str,
    /// One sentence saying why.
    pub(crate) message: String,
}

/// One row of the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DomainRow {
    /// The policy domain.
    pub(crate) domain: String,
    /// Reports in the window.
    pub(crate) reports: u64,
    /// Days of the window with reports.
    pub(crate) days_reported: usize,
    /// The policy type the counts are of (`sts` when reported, else the first seen).
    pub(crate) policy_type: Option<PolicyType>,
    /// Successful sessions of that policy type.
    pub(crate) successful: u64,
    /// Failed sessions of that policy type.
    pub(crate) failed: u64,
    /// Organisations that reported in the window.
    pub(crate) reporters: usize,
    /// The verdict.
    pub(crate) verdict: Verdict,
}

/// Everything a domain page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DomainView {
    /// The overview row of the domain.
    pub(crate) row: DomainRow,
    /// The window.
    pub(crate) window: Window,
    /// The summary of the window.
    pub(crate) summary: DomainSummary,
    /// The reports of the window, at most [`REPORTS_PER_PAGE`].
    pub(crate) reports: Vec<ReportRow>,
}

/// A stored report with the key that finds it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ReportRow {
    /// The store's number for it (`/reports/{key}`).
    pub(crate) key: i64,
    /// When it was received.
    pub(crate) received_at: Timestamp,
    /// How it arrived.
    pub(crate) source: String,
    /// The report.
    #[serde(flatten)]
    pub(crate) report: StoredReport,
}

/// The policy type a domain's counts are shown for: `sts` when reported (what MTA-STS is
/// about), else the first reported. Counts are never summed across types: a sender may count
/// the same sessions under `sts` and `tlsa`.
pub(crate) fn main_policy(summary: &DomainSummary) -> Option<&PolicyTypeTotals> {
    summary
        .total
        .policies
        .iter()
        .find(|totals| totals.policy_type == PolicyType::Sts)
        .or_else(|| summary.total.policies.first())
}

/// The domains shown: the configured ones, in order.
pub(crate) async fn overview(
    dashboard: &Dashboard,
    window: Window,
) -> Result<Vec<DomainRow>, StoreError> {
    let settings = dashboard.settings();
    let mut rows = Vec::with_capacity(settings.domains.len());
    for domain in &settings.domains {
        let summary = dashboard.store.summary(&window.summary_query(domain)).await?;
        rows.push(row(&summary, window));
    }
    // Domains that need attention first, then by name.
    rows.sort_by(|a, b| {
        rank(a.verdict.code)
            .cmp(&rank(b.verdict.code))
            .then_with(|| a.domain.cmp(&b.domain))
    });
    Ok(rows)
}

fn rank(code: &str) -> u8 {
    match code {
        "failures" => 0,
        "no-reports" => 1,
        _ => 2,
    }
}

/// One domain's page, or `None` when the domain is not one of this server's.
pub(crate) async fn domain(
    dashboard: &Dashboard,
    domain: &str,
    window: Window,
) -> Result<Option<DomainView>, StoreError> {
    if !dashboard.settings().domains.iter().any(|d| d == domain) {
        return Ok(None);
    }
    let summary = dashboard.store.summary(&window.summary_query(domain)).await?;
    let reports = dashboard
        .store
        .list(&ListQuery {
            domain: Some(domain.to_string()),
            since: Some(window.first_day.start()),
            limit: Some(REPORTS_PER_PAGE),
        })
        .await?
        .into_iter()
        .map(report_row)
        .collect();
    Ok(Some(DomainView {
        row: row(&summary, window),
        window,
        summary,
        reports,
    }))
}

fn report_row(report: StoredReport) -> ReportRow {
    ReportRow {
        key: report.key.id(),
        received_at: report.received_at,
        source: report.source.to_string(),
        report,
    }
}

fn row(summary: &DomainSummary, window: Window) -> DomainRow {
    let main = main_policy(summary);
    let (successful, failed) = main.map_or((0, 0), |totals| (totals.successful, totals.failed));
    let reporters = main.map_or(0, |totals| totals.failures.by_organization.len());
    let days_reported = summary.days.iter().filter(|day| day.reports > 0).count();
    let verdict = if summary.total.reports == 0 {
        Verdict {
            code: "no-reports",
            message: format!(
                "No reports yet for {} from {} to {}: reports arrive daily once its _smtp._tls \
                 record is published with this server's rua.",
                summary.domain, window.first_day, window.last_day
            ),
        }
    } else if failed > 0 {
        Verdict {
            code: "failures",
            message: format!(
                "{} of {} sessions failed ({}) in the reports of {} days from {} organisations.",
                failed,
                successful + failed,
                percent(failed, successful + failed),
                days_reported,
                reporters
            ),
        }
    } else {
        Verdict {
            code: "healthy",
            message: format!(
                "All {} sessions succeeded in the reports of {} days from {} organisations.",
                successful, days_reported, reporters
            ),
        }
    };
    DomainRow {
        domain: summary.domain.clone(),
        reports: summary.total.reports,
        days_reported,
        policy_type: main.map(|totals| totals.policy_type.clone()),
        successful,
        failed,
        reporters,
        verdict,
    }
}

/// `part` of `whole` as a percentage with one decimal ("0.0 %" when `whole` is 0).
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0.0 %".to_string()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

/// The series and the bars of the sessions chart: successful, then failed, of the main policy
/// type, one bar for every day of the window.
pub(crate) fn session_chart(view: &DomainView) -> (Vec<Series>, Vec<DayStack>) {
    let policy = view.row.policy_type.clone();
    let series: Vec<Series> = ["successful", "failed"]
        .into_iter()
        .map(|key| Series {
            key: key.to_string(),
            label: format!("{key} sessions"),
            colour: colour_of(key),
        })
        .collect();
    let days = view
        .window
        .dates()
        .into_iter()
        .map(|date| {
            let text = date.to_string();
            let day = view.summary.days.iter().find(|day| day.date == text);
            let counts = day.and_then(|day| {
                day.policies
                    .iter()
                    .find(|counts| Some(&counts.policy_type) == policy.as_ref())
            });
            DayStack {
                day: date,
                values: vec![
                    counts.map_or(0, |counts| counts.successful),
                    counts.map_or(0, |counts| counts.failed),
                ],
                reported: day.is_some_and(|day| day.reports > 0),
            }
        })
        .collect();
    (series, days)
}

/// The failure rate per day of the window.
pub(crate) fn rate_chart(stacks: &[DayStack]) -> Vec<DayRate> {
    stacks
        .iter()
        .map(|stack| {
            let failed = stack.values.iter().skip(1).sum::<u64>();
            DayRate {
                day: stack.day,
                failed,
                total: stack.values.iter().sum(),
            }
        })
        .collect()
}
