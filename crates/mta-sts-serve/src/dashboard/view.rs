//! What the pages and the API show, read from the store once and rendered twice (HTML in
//! `pages`, JSON in `api`), so the two never disagree.

use std::collections::BTreeMap;

use mta_sts_check::CheckReport;
use mta_sts_core::report::{PolicyType, Timestamp};
use mta_sts_core::time::UtcDate;
use mta_sts_rollout::Advice;
use mta_sts_store::StoreError;
use mta_sts_store::reports::{
    DomainEvidence, DomainsQuery, EvidenceQuery, ListQuery, PolicyTypeTotals, Reporter,
    StoredReport,
};
use serde::Serialize;

use super::Dashboard;
use super::chart::{DayRate, DayStack, Series, colour_of, thousands};
use super::live::{Live, Outcome};

/// The most days a page shows.
pub(crate) const MAX_DAYS: u32 = 366;

/// Reports listed on one page of a domain's report table.
pub(crate) const REPORTS_PER_PAGE: u64 = 50;

/// The last page of reports asked for (50 million reports back): beyond, the offset would
/// only make the store skip rows for nothing.
const MAX_PAGE: u64 = 1_000_000;

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
        let first =
            UtcDate::from_day_number(last.day_number() - i64::from(days) + 1).unwrap_or(last);
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
}

/// At a glance: is the domain healthy, from the reports of the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Verdict {
    /// `no-reports`, `failures` or `healthy`.
    pub(crate) code: &'static str,
    /// One sentence saying why.
    pub(crate) message: String,
}

/// The rollout advice in one line, for the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AdviceLine {
    /// `none`, `testing`, `enforce` or `retiring`.
    pub(crate) stage: String,
    /// Ready for the next stage.
    pub(crate) ready: bool,
    /// `ready to enforce`, or what fails.
    pub(crate) verdict: String,
    /// When the live check behind it finished.
    pub(crate) checked_at: Timestamp,
}

/// One row of the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DomainRow {
    /// The policy domain.
    pub(crate) domain: String,
    /// Reports in the window.
    pub(crate) reports: u64,
    /// Successful sessions in the window (each report's first entry for the domain).
    pub(crate) successful: u64,
    /// Failed sessions in the window.
    pub(crate) failed: u64,
    /// The last day a stored report covers (any time, not only in the window).
    pub(crate) last_day: Option<UtcDate>,
    /// When that last day's reports were received.
    pub(crate) last_received_at: Option<Timestamp>,
    /// The verdict of the reports.
    pub(crate) verdict: Verdict,
    /// The rollout advice, once a live check has finished (`null` while the first runs).
    pub(crate) advice: Option<AdviceLine>,
}

/// A reporter with whether it went silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ReporterRow {
    /// The reporter, as the store counts it.
    #[serde(flatten)]
    pub(crate) reporter: Reporter,
    /// It reported on more than one day but not in the last `silent_days` days: a finding
    /// (its reports stopped arriving, or it stopped sending to this domain).
    pub(crate) silent: bool,
}

/// Everything a domain page shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DomainView {
    /// The domain.
    pub(crate) domain: String,
    /// The window.
    pub(crate) window: Window,
    /// The verdict of the reports.
    pub(crate) verdict: Verdict,
    /// The policy type the charts and counts are of (`sts` when reported).
    pub(crate) policy_type: Option<PolicyType>,
    /// The store's evidence over the window.
    pub(crate) evidence: DomainEvidence,
    /// Who reported, with silent ones flagged.
    pub(crate) reporters: Vec<ReporterRow>,
    /// Days without a report after which a regular reporter is flagged silent.
    pub(crate) silent_days: u32,
    /// One page of the reports of the window, newest first.
    pub(crate) reports: ReportPage,
    /// The live check and the advice.
    pub(crate) live: LiveView,
    /// Who fetched the policy this server hosts for the domain, the latest first (empty when
    /// it is not hosted here, or nobody fetched it yet).
    pub(crate) policy_fetchers: Vec<FetcherRow>,
}

/// An organisation that fetched a hosted policy, how often and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FetcherRow {
    /// The organisation (`Google`, a PTR parent domain, or `unknown`).
    pub(crate) organization: String,
    /// Fetches counted.
    pub(crate) fetches: u64,
    /// The first fetch counted.
    pub(crate) first_fetch: Timestamp,
    /// The last fetch counted.
    pub(crate) last_fetch: Timestamp,
    /// The same as a sentence: "Google last fetched your policy 2 hours ago."
    pub(crate) sentence: String,
}

/// "2 hours ago": the time from `then` to `now` in its largest whole unit.
pub(crate) fn ago(now: Timestamp, then: Timestamp) -> String {
    let seconds = (now.unix_seconds() - then.unix_seconds()).max(0);
    let (count, unit) = match seconds {
        0..60 => return "just now".to_string(),
        60..3_600 => (seconds / 60, "minute"),
        3_600..86_400 => (seconds / 3_600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    format!("{count} {unit}{} ago", if count == 1 { "" } else { "s" })
}

/// The fetchers of `domain`'s hosted policy, as rows with their sentence.
pub(crate) async fn fetchers(
    dashboard: &Dashboard,
    domain: &str,
) -> Result<Vec<FetcherRow>, StoreError> {
    let now = dashboard.clock.now();
    Ok(dashboard
        .store
        .policy_fetches(domain)
        .await?
        .into_iter()
        .map(|row| {
            let who = if row.organization == "unknown" {
                "A sender with no confirmed host name".to_string()
            } else {
                row.organization.clone()
            };
            FetcherRow {
                sentence: format!(
                    "{who} last fetched your policy {} ({} fetch{} since {}).",
                    ago(now, row.last_fetch),
                    row.fetches,
                    if row.fetches == 1 { "" } else { "es" },
                    row.first_fetch
                ),
                organization: row.organization,
                fetches: row.fetches,
                first_fetch: row.first_fetch,
                last_fetch: row.last_fetch,
            }
        })
        .collect())
}

/// One page of a domain's reports, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ReportPage {
    /// Which page (0 is the newest).
    pub(crate) page: u64,
    /// Reports a page.
    pub(crate) per_page: u64,
    /// Whether an older page follows.
    pub(crate) has_more: bool,
    /// The reports.
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

/// The live check and the advice as a page shows them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LiveView {
    /// When the check shown finished (`null`: none has yet).
    pub(crate) checked_at: Option<Timestamp>,
    /// Whether a newer check is running now.
    pub(crate) checking: bool,
    /// The advice.
    pub(crate) advice: Option<Advice>,
    /// The live check.
    pub(crate) check: Option<CheckReport>,
    /// Why there is no advice, when the advisor failed.
    pub(crate) error: Option<String>,
}

impl LiveView {
    fn of(live: &Live) -> LiveView {
        let mut view = LiveView {
            checked_at: live.last.as_ref().map(|last| last.at),
            checking: live.checking,
            advice: None,
            check: None,
            error: None,
        };
        if let Some(last) = &live.last {
            match &last.outcome {
                Outcome::Assessed(assessment) => {
                    view.advice = Some(assessment.advice.clone());
                    view.check = Some(assessment.check.clone());
                }
                Outcome::Failed(sentence) => view.error = Some(sentence.clone()),
            }
        }
        view
    }
}

fn advice_line(live: &Live) -> Option<AdviceLine> {
    let last = live.last.as_ref()?;
    match &last.outcome {
        Outcome::Assessed(assessment) => Some(AdviceLine {
            stage: assessment.advice.stage.to_string(),
            ready: assessment.advice.ready,
            verdict: assessment.advice.verdict(),
            checked_at: last.at,
        }),
        Outcome::Failed(_) => None,
    }
}

/// The policy type a domain's counts are shown for: `sts` when reported (what MTA-STS is
/// about), else the first reported. Counts are never summed across types: a sender may count
/// the same sessions under `sts` and `tlsa`.
pub(crate) fn main_policy(evidence: &DomainEvidence) -> Option<&PolicyTypeTotals> {
    let policies = &evidence.summary.total.policies;
    policies
        .iter()
        .find(|totals| totals.policy_type == PolicyType::Sts)
        .or_else(|| policies.first())
}

/// The configured domains, each with its counts, its verdict and its advice; domains that need
/// attention first.
pub(crate) async fn overview(
    dashboard: &Dashboard,
    window: Window,
) -> Result<Vec<DomainRow>, StoreError> {
    let settings = dashboard.settings();
    let stored = dashboard
        .store
        .domains(&DomainsQuery {
            since: window.first_day.start(),
        })
        .await?;
    let live = dashboard
        .live
        .get_all(&settings.domains, settings.check_wait)
        .await;
    let mut rows: Vec<DomainRow> = settings
        .domains
        .iter()
        .zip(&live)
        .map(|(domain, live)| {
            let stored = stored.iter().find(|overview| &overview.domain == domain);
            let (reports, successful, failed) = stored.map_or((0, 0, 0), |overview| {
                (overview.reports, overview.successful, overview.failed)
            });
            DomainRow {
                domain: domain.clone(),
                reports,
                successful,
                failed,
                last_day: stored.map(|overview| overview.last_day),
                last_received_at: stored.map(|overview| overview.last_received_at),
                verdict: verdict(domain, window, reports, successful, failed, None),
                advice: advice_line(live),
            }
        })
        .collect();
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

/// Whether `domain` is one of this server's.
pub(crate) fn is_ours(dashboard: &Dashboard, domain: &str) -> bool {
    dashboard.settings().domains.iter().any(|d| d == domain)
}

/// One domain's evidence over the window.
pub(crate) async fn evidence(
    dashboard: &Dashboard,
    domain: &str,
    window: Window,
) -> Result<DomainEvidence, StoreError> {
    dashboard
        .store
        .evidence(&EvidenceQuery {
            domain: domain.to_string(),
            from: window.first_day.start(),
            to: window.last_day.last_second(),
        })
        .await
}

/// One page of a domain's reports in the window, newest first.
pub(crate) async fn reports(
    dashboard: &Dashboard,
    domain: &str,
    window: Window,
    page: u64,
) -> Result<ReportPage, StoreError> {
    let mut reports = dashboard
        .store
        .list(&ListQuery {
            domain: Some(domain.to_string()),
            since: Some(window.first_day.start()),
            // One more than shown: whether an older page follows.
            limit: Some(REPORTS_PER_PAGE + 1),
            newest_first: true,
            offset: Some(page.min(MAX_PAGE).saturating_mul(REPORTS_PER_PAGE)),
        })
        .await?;
    let has_more = reports.len() as u64 > REPORTS_PER_PAGE;
    reports.truncate(usize::try_from(REPORTS_PER_PAGE).unwrap_or(usize::MAX));
    Ok(ReportPage {
        page: page.min(MAX_PAGE),
        per_page: REPORTS_PER_PAGE,
        has_more,
        reports: reports.into_iter().map(report_row).collect(),
    })
}

/// The live check and the advice of `domain`, waiting a moment for a fresh one.
pub(crate) async fn live(dashboard: &Dashboard, domain: &str) -> LiveView {
    let wait = dashboard.settings().check_wait;
    let live = dashboard.live.get_all(&[domain.to_string()], wait).await;
    live.first().map_or(
        LiveView {
            checked_at: None,
            checking: true,
            advice: None,
            check: None,
            error: None,
        },
        LiveView::of,
    )
}

/// One domain's page, or `None` when the domain is not one of this server's.
pub(crate) async fn domain(
    dashboard: &Dashboard,
    domain: &str,
    window: Window,
    page: u64,
) -> Result<Option<DomainView>, StoreError> {
    if !is_ours(dashboard, domain) {
        return Ok(None);
    }
    let (evidence, reports, live, policy_fetchers) = tokio::join!(
        evidence(dashboard, domain, window),
        reports(dashboard, domain, window, page),
        live(dashboard, domain),
        fetchers(dashboard, domain)
    );
    let (evidence, reports, policy_fetchers) = (evidence?, reports?, policy_fetchers?);
    let main = main_policy(&evidence);
    let (successful, failed) = main.map_or((0, 0), |totals| (totals.successful, totals.failed));
    let silent_days = dashboard.settings().silent_days;
    let reporters = evidence
        .reporters
        .iter()
        .map(|reporter| ReporterRow {
            reporter: reporter.clone(),
            silent: reporter.days > 1
                && window.last_day.day_number() - reporter.last_day.day_number()
                    >= i64::from(silent_days),
        })
        .collect();
    Ok(Some(DomainView {
        domain: domain.to_string(),
        window,
        verdict: verdict(
            domain,
            window,
            evidence.summary.total.reports,
            successful,
            failed,
            Some(evidence.reporters.len()),
        ),
        policy_type: main.map(|totals| totals.policy_type.clone()),
        reporters,
        silent_days,
        evidence,
        reports,
        live,
        policy_fetchers,
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

fn verdict(
    domain: &str,
    window: Window,
    reports: u64,
    successful: u64,
    failed: u64,
    reporters: Option<usize>,
) -> Verdict {
    let from = match reporters {
        Some(1) => " from 1 organisation".to_string(),
        Some(count) => format!(" from {count} organisations"),
        None => String::new(),
    };
    if reports == 0 {
        Verdict {
            code: "no-reports",
            message: format!(
                "No reports yet for {domain} from {} to {}: reports arrive daily once its \
                 _smtp._tls record is published with this server's rua.",
                window.first_day, window.last_day
            ),
        }
    } else if failed > 0 {
        Verdict {
            code: "failures",
            message: format!(
                "{} of {} sessions failed ({}) in {} reports{from}.",
                thousands(failed),
                thousands(successful + failed),
                percent(failed, successful + failed),
                thousands(reports),
            ),
        }
    } else {
        Verdict {
            code: "healthy",
            message: format!(
                "All {} sessions succeeded in {} reports{from}.",
                thousands(successful),
                thousands(reports)
            ),
        }
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

/// The key of the series of failures that `failure-details` do not account for.
const UNSPECIFIED: &str = "unspecified";

/// The series and the bars of the sessions chart of the main policy type: successful, then
/// failed by result type (most sessions first), then failures the details do not account for;
/// one bar for every day of the window.
pub(crate) fn session_chart(view: &DomainView) -> (Vec<Series>, Vec<DayStack>) {
    let policy = view.policy_type.as_ref();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    for day in &view.evidence.summary.days {
        for failure in &day.failures {
            if Some(&failure.policy_type) == policy {
                *by_type
                    .entry(failure.result_type.as_str().to_string())
                    .or_default() += failure.count;
            }
        }
    }
    let mut types: Vec<(String, u64)> = by_type.into_iter().collect();
    types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut series = vec![Series {
        key: "successful".into(),
        label: "successful".into(),
        colour: colour_of("successful"),
    }];
    series.extend(types.iter().map(|(name, _)| Series {
        key: name.clone(),
        label: name.clone(),
        colour: colour_of(name),
    }));
    let mut days: Vec<DayStack> = view
        .window
        .dates()
        .into_iter()
        .map(|date| {
            let text = date.to_string();
            let day = view
                .evidence
                .summary
                .days
                .iter()
                .find(|day| day.date == text);
            let counts = day.and_then(|day| {
                day.policies
                    .iter()
                    .find(|counts| Some(&counts.policy_type) == policy)
            });
            let mut values = vec![counts.map_or(0, |counts| counts.successful)];
            for (name, _) in &types {
                values.push(day.map_or(0, |day| {
                    day.failures
                        .iter()
                        .filter(|f| {
                            Some(&f.policy_type) == policy && f.result_type.as_str() == name
                        })
                        .map(|f| f.count)
                        .sum()
                }));
            }
            let detailed: u64 = values.iter().skip(1).sum();
            values.push(counts.map_or(0, |counts| counts.failed.saturating_sub(detailed)));
            DayStack {
                day: date,
                values,
                reported: day.is_some_and(|day| day.reports > 0),
            }
        })
        .collect();
    if days
        .iter()
        .any(|day| day.values.last().is_some_and(|v| *v > 0))
    {
        series.push(Series {
            key: UNSPECIFIED.into(),
            label: "failed, no details".into(),
            colour: colour_of(UNSPECIFIED),
        });
    } else {
        for day in &mut days {
            day.values.pop();
        }
    }
    (series, days)
}

/// The failure rate per day of the window.
pub(crate) fn rate_chart(stacks: &[DayStack]) -> Vec<DayRate> {
    stacks
        .iter()
        .map(|stack| DayRate {
            day: stack.day,
            failed: stack.values.iter().skip(1).sum(),
            total: stack.values.iter().sum(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_says_the_largest_whole_unit() {
        let now = Timestamp::from_unix_seconds_saturating(1_000_000);
        let ago = |seconds: i64| {
            ago(
                now,
                Timestamp::from_unix_seconds_saturating(1_000_000 - seconds),
            )
        };
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(-30), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(2 * 3_600 + 59), "2 hours ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(ago(40 * 86_400), "40 days ago");
    }
}
