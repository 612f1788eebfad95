//! The evidence about one domain over a range of days: what the rollout advisor decides from
//! and the dashboard's domain page shows. Besides the [`DomainSummary`]: who reported and on
//! which days, the failures grouped by policy type, result type and receiving MX (with who saw
//! them and when), and the policies the senders applied.

use std::collections::{BTreeMap, BTreeSet};

use mta_sts_core::report::{PolicyType, ResultType, Timestamp};
use mta_sts_core::time::UtcDate;
use rusqlite::params;
use serde::Serialize;

use super::queries::{SUMMARY_POLICIES_SQLITE, postgres_sql, read_snapshot};
use super::rows::{postgres_rows, sqlite_rows};
use super::summary::{DomainSummary, SummaryRows, TypeOrder, day_range};
use super::{SummaryQuery, domain_key};
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// Which evidence [`super::ReportStore::evidence`] gathers: the days are those of a
/// [`SummaryQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceQuery {
    /// The policy domain (case and a final dot ignored).
    pub domain: String,
    /// The first day: reports starting on the UTC day of this instant or later...
    pub from: Timestamp,
    /// ...and before this instant's UTC day ends.
    pub to: Timestamp,
}

impl EvidenceQuery {
    /// The summary over the same days.
    pub fn as_summary(&self) -> SummaryQuery {
        SummaryQuery {
            domain: self.domain.clone(),
            from: self.from,
            to: self.to,
        }
    }
}

/// Everything stored about one domain over a range of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainEvidence {
    /// Sessions per day and in total, failures broken down (as `reports summary` gives them).
    pub summary: DomainSummary,
    /// Every organisation that reported on the domain in the range, by name.
    pub reporters: Vec<Reporter>,
    /// The failures, one group per (policy type, result type, receiving MX), most sessions
    /// first.
    pub failures: Vec<FailureGroup>,
    /// The policies the senders applied (as they wrote them), the most recently seen first.
    pub policies_seen: Vec<PolicySeen>,
}

/// One organisation that reported on the domain in the range.
///
/// Its sessions are those of each report's first policy entry for the domain: a sender that
/// counts the same sessions under `sts` and `tlsa` (Microsoft) is not counted twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reporter {
    /// `organization-name`.
    pub organization: String,
    /// The first day in the range with a report from it.
    pub first_day: UtcDate,
    /// The last day in the range with a report from it: a reporter whose last day is long
    /// past went silent (ask for a longer range to see one silent for longer).
    pub last_day: UtcDate,
    /// On how many distinct days in the range it reported.
    pub days: u64,
    /// How many reports.
    pub reports: u64,
    /// Successful sessions.
    pub successful: u64,
    /// Failed sessions.
    pub failed: u64,
}

/// Failed sessions of one policy type and result type towards one receiving MX.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureGroup {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// `result-type`.
    pub result_type: ResultType,
    /// `receiving-mx-hostname`; null when the details did not say.
    pub receiving_mx_hostname: Option<String>,
    /// The organisations that reported them, by name.
    pub organizations: Vec<String>,
    /// The first day they were reported on.
    pub first_day: UtcDate,
    /// The last day.
    pub last_day: UtcDate,
    /// On how many distinct days.
    pub days: u64,
    /// Failed sessions (`failed-session-count`, summed).
    pub sessions: u64,
}

/// A policy the senders applied, exactly as they wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySeen {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// `policy-string`, one element per line as reported (for `sts`: the policy's lines, so
    /// its `mode` is what the senders saw).
    pub policy_string: Vec<String>,
    /// The first day in the range a report applied it.
    pub first_day: UtcDate,
    /// The last day.
    pub last_day: UtcDate,
    /// How many policy entries applied it.
    pub reports: u64,
}

/// What the backends read for the evidence besides the summary's policy groups.
#[derive(Debug, Default)]
pub(super) struct EvidenceRows {
    /// The summary's rows: its policy groups as they are, its failures from `failures`.
    summary: SummaryRows,
    /// The failures, grouped.
    failures: Vec<OrganizationFailures>,
    /// (policy type, policy string as stored: a JSON list, first day, last day, entries).
    policies: Vec<(String, String, i64, i64, i64)>,
}

/// Failed sessions of one (day, policy type, result type, receiving MX, sending IP,
/// organisation).
type OrganizationFailures = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
);

/// The failure details of a domain's days, grouped finely enough for both the summary (by IP)
/// and the evidence (by organisation): one scan of the covering index serves both.
const FAILURES: &str = "
SELECT day, policy_type, result_type, receiving_mx_hostname, sending_mta_ip, organization,
       CAST(SUM(failed_session_count) AS BIGINT)
  FROM failure_detail WHERE domain = ?1 AND day >= ?2 AND day < ?3
 GROUP BY day, policy_type, result_type, receiving_mx_hostname, sending_mta_ip, organization";

/// The policies applied: `policy_string` is not in the index, so this reads the entries
/// themselves (one lookup per entry of the range).
const POLICIES: &str = "
SELECT policy_type, policy_string, MIN(day), MAX(day), CAST(COUNT(*) AS BIGINT)
  FROM report_policy WHERE domain = ?1 AND day >= ?2 AND day < ?3
 GROUP BY policy_type, policy_string";

pub(super) async fn sqlite(
    store: &SqliteStore,
    query: &EvidenceQuery,
) -> Result<EvidenceRows, StoreError> {
    let error = store.error("gathering the evidence");
    let domain = domain_key(&query.domain);
    let (first, end) = day_range(&query.as_summary());
    store
        .read("gathering the evidence", move |tx| {
            let bounds = params![domain, first, end];
            let mut rows = EvidenceRows::default();
            rows.summary.policies =
                sqlite_rows(tx, SUMMARY_POLICIES_SQLITE, bounds).map_err(&error)?;
            rows.failures = sqlite_rows(tx, FAILURES, bounds).map_err(&error)?;
            rows.policies = sqlite_rows(tx, POLICIES, bounds).map_err(&error)?;
            Ok(rows)
        })
        .await
}

pub(super) async fn postgres(
    store: &PostgresStore,
    query: &EvidenceQuery,
) -> Result<EvidenceRows, StoreError> {
    let error = store.error("gathering the evidence");
    let domain = domain_key(&query.domain);
    let (first, end) = day_range(&query.as_summary());
    let mut client = store.client("gathering the evidence").await?;
    // One snapshot for the three queries, sent together.
    let tx = read_snapshot(&mut client).await.map_err(&error)?;
    let (policy_groups, failures, policies) = (
        postgres_sql(SUMMARY_POLICIES_SQLITE),
        postgres_sql(FAILURES),
        postgres_sql(POLICIES),
    );
    let bounds: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&domain, &first, &end];
    let (policy_groups, failures, policies) = tokio::try_join!(
        tx.query(&policy_groups, &bounds),
        tx.query(&failures, &bounds),
        tx.query(&policies, &bounds),
    )
    .map_err(&error)?;
    let mut rows = EvidenceRows::default();
    rows.summary.policies = postgres_rows(&policy_groups).map_err(&error)?;
    rows.failures = postgres_rows(&failures).map_err(&error)?;
    rows.policies = postgres_rows(&policies).map_err(&error)?;
    tx.commit().await.map_err(&error)?;
    Ok(rows)
}

/// A day number as a date; the days read back are those of stored reports, always in range.
fn date(day: i64, fallback: UtcDate) -> UtcDate {
    UtcDate::from_day_number(day).unwrap_or(fallback)
}

/// Puts the evidence of `query` together from the rows.
pub(super) fn build(query: &EvidenceQuery, mut rows: EvidenceRows) -> DomainEvidence {
    let fallback = query.from.utc_date();
    let count = |value: i64| u64::try_from(value).unwrap_or(0);

    #[derive(Default)]
    struct ReporterCounts {
        days: BTreeSet<i64>,
        reports: u64,
        successful: u64,
        failed: u64,
    }
    let mut reporters: BTreeMap<String, ReporterCounts> = BTreeMap::new();
    for (day, _, organization, _, _, reports, successful, failed) in &rows.summary.policies {
        let counts = reporters.entry(organization.clone()).or_default();
        counts.days.insert(*day);
        counts.reports += count(*reports);
        counts.successful += count(*successful);
        counts.failed += count(*failed);
    }
    let reporters = reporters
        .into_iter()
        .filter_map(|(organization, counts)| {
            Some(Reporter {
                organization,
                first_day: date(*counts.days.first()?, fallback),
                last_day: date(*counts.days.last()?, fallback),
                days: counts.days.len() as u64,
                reports: counts.reports,
                successful: counts.successful,
                failed: counts.failed,
            })
        })
        .collect();

    #[derive(Default)]
    struct FailureCounts {
        organizations: BTreeSet<String>,
        days: BTreeSet<i64>,
        sessions: u64,
    }
    let mut failures: BTreeMap<(TypeOrder, String, Option<String>), FailureCounts> =
        BTreeMap::new();
    for (day, policy_type, result_type, mx, ip, organization, sessions) in rows.failures {
        // The summary's failures are these without the organisation (it sums equal keys).
        rows.summary.failures.push((
            day,
            policy_type.clone(),
            result_type.clone(),
            mx.clone(),
            ip,
            sessions,
        ));
        let counts = failures
            .entry((TypeOrder::of(&policy_type), result_type, mx))
            .or_default();
        counts.organizations.insert(organization);
        counts.days.insert(day);
        counts.sessions += count(sessions);
    }
    let mut failures: Vec<FailureGroup> = failures
        .into_iter()
        .filter_map(|((policy_type, result_type, mx), counts)| {
            Some(FailureGroup {
                policy_type: policy_type.policy_type(),
                result_type: ResultType::from_wire(&result_type),
                receiving_mx_hostname: mx,
                first_day: date(*counts.days.first()?, fallback),
                last_day: date(*counts.days.last()?, fallback),
                days: counts.days.len() as u64,
                organizations: counts.organizations.into_iter().collect(),
                sessions: counts.sessions,
            })
        })
        .collect();
    // Most sessions first; ties keep the (policy type, result type, MX) order (a stable sort).
    failures.sort_by_key(|group| std::cmp::Reverse(group.sessions));

    let mut policies_seen: Vec<(TypeOrder, PolicySeen)> = rows
        .policies
        .into_iter()
        .map(|(policy_type, policy_string, first, last, entries)| {
            let key = TypeOrder::of(&policy_type);
            (
                key.clone(),
                PolicySeen {
                    policy_type: key.policy_type(),
                    // Stored as the JSON list the insert wrote; a value that is not one is
                    // shown whole rather than dropped.
                    policy_string: serde_json::from_str(&policy_string)
                        .unwrap_or_else(|_| vec![policy_string]),
                    first_day: date(first, fallback),
                    last_day: date(last, fallback),
                    reports: count(entries),
                },
            )
        })
        .collect();
    // Policy types in their order; within one, the most recently seen first, then the most
    // applied, then by text, so the order never depends on the backend.
    policies_seen.sort_by(|(a_type, a), (b_type, b)| {
        a_type
            .cmp(b_type)
            .then(b.last_day.cmp(&a.last_day))
            .then(b.reports.cmp(&a.reports))
            .then(a.policy_string.cmp(&b.policy_string))
    });
    DomainEvidence {
        summary: super::summary::build(&query.as_summary(), rows.summary),
        reporters,
        failures,
        policies_seen: policies_seen.into_iter().map(|(_, seen)| seen).collect(),
    }
}
