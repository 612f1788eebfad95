//! Every policy domain with stored reports, for an overview page. Domains are found by
//! skipping through an index from one domain to the next (one probe per domain), so the cost
//! grows with the number of domains and of recent reports, not with every report stored.
//!
//! - SQLite sums each domain's recent policy entries from the covering (domain, day, ...)
//!   index, without visiting the rows.
//! - PostgreSQL reads `domain_day` (per domain and day: reports, sessions, latest receipt; kept
//!   by statement triggers as reports are stored and pruned): summing the entries there would
//!   visit the table for each one until VACUUM has set the visibility map.

use mta_sts_core::report::Timestamp;
use mta_sts_core::time::UtcDate;
use serde::Serialize;

use super::rows::{postgres_rows, sqlite_rows};
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// What [`super::ReportStore::domains`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainsQuery {
    /// Count the reports and sessions of the days from this instant's UTC day on.
    pub since: Timestamp,
}

/// One policy domain with stored reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainOverview {
    /// The policy domain (lowercase, no final dot).
    pub domain: String,
    /// The first day a stored report covers.
    pub first_day: UtcDate,
    /// The last day a stored report covers.
    pub last_day: UtcDate,
    /// When the reports of that last day were received (the latest of them).
    pub last_received_at: Timestamp,
    /// Reports since the query's day.
    pub reports: u64,
    /// Successful sessions since then (each report's first entry for the domain: a sender
    /// counting the same sessions under `sts` and `tlsa` is counted once).
    pub successful: u64,
    /// Failed sessions since then (counted the same way).
    pub failed: u64,
}

/// A row: (domain, first day, last day, last received at, reports, successful, failed).
type OverviewRow = (String, i64, i64, i64, i64, i64, i64);

/// Every domain with its first and last day, on SQLite. The recursive part finds the next
/// domain after the last with one index probe; `MIN` and `MAX` of one domain's `day` are one
/// probe each into the same index.
const DOMAINS_SQLITE: &str = "
WITH RECURSIVE domains (domain) AS (
    SELECT MIN(domain) FROM report_policy
    UNION ALL
    SELECT (SELECT MIN(domain) FROM report_policy WHERE domain > d.domain)
      FROM domains d WHERE d.domain IS NOT NULL
)
SELECT domain,
       (SELECT MIN(day) FROM report_policy WHERE domain = d.domain),
       (SELECT MAX(day) FROM report_policy WHERE domain = d.domain)
  FROM domains d WHERE d.domain IS NOT NULL
 ORDER BY d.domain";

/// One domain's counts since a day (each report's first entry for the domain) and the latest
/// receipt of its last day's reports, on SQLite (parameters: domain, first day, last day).
const COUNTS_SQLITE: &str = "
SELECT CAST(COALESCE(SUM(first_for_domain), 0) AS BIGINT),
       CAST(COALESCE(SUM(successful * first_for_domain), 0) AS BIGINT),
       CAST(COALESCE(SUM(failed * first_for_domain), 0) AS BIGINT),
       (SELECT MAX(r.received_at) FROM report_policy p JOIN report r ON r.id = p.report
         WHERE p.domain = ?1 AND p.day = ?3 AND p.first_for_domain = 1)
  FROM report_policy WHERE domain = ?1 AND day >= ?2";

/// All of it in one statement on PostgreSQL, from `domain_day` (parameter: the first day
/// counted), each domain's recent days read once.
const DOMAINS_POSTGRES: &str = "
WITH RECURSIVE domains (domain) AS (
    SELECT MIN(domain) FROM domain_day
    UNION ALL
    SELECT (SELECT MIN(domain) FROM domain_day WHERE domain > d.domain)
      FROM domains d WHERE d.domain IS NOT NULL
)
SELECT d.domain, span.first_day, span.last_day, latest.last_received_at,
       recent.reports, recent.successful, recent.failed
  FROM domains d
 CROSS JOIN LATERAL (
       SELECT (SELECT MIN(day) FROM domain_day WHERE domain = d.domain) AS first_day,
              (SELECT MAX(day) FROM domain_day WHERE domain = d.domain) AS last_day
 ) span
 CROSS JOIN LATERAL (
       SELECT last_received_at FROM domain_day
        WHERE domain = d.domain AND day = span.last_day
 ) latest
 CROSS JOIN LATERAL (
       SELECT CAST(COALESCE(SUM(reports), 0) AS BIGINT) AS reports,
              CAST(COALESCE(SUM(successful), 0) AS BIGINT) AS successful,
              CAST(COALESCE(SUM(failed), 0) AS BIGINT) AS failed
         FROM domain_day WHERE domain = d.domain AND day >= $1
 ) recent
 WHERE d.domain IS NOT NULL
 ORDER BY d.domain";

pub(super) async fn sqlite(
    store: &SqliteStore,
    query: &DomainsQuery,
) -> Result<Vec<DomainOverview>, StoreError> {
    let error = store.error("listing the domains");
    let name = format!("sqlite:{}", store.path().display());
    let first_day = query.since.day_number();
    let rows = store
        .read("listing the domains", move |tx| {
            let spans: Vec<(String, i64, i64)> =
                sqlite_rows(tx, DOMAINS_SQLITE, []).map_err(&error)?;
            let mut counts = tx.prepare_cached(COUNTS_SQLITE).map_err(&error)?;
            let mut rows = Vec::with_capacity(spans.len());
            for (domain, first, last) in spans {
                let (reports, successful, failed, received_at) = counts
                    .query_row(rusqlite::params![domain, first_day, last], |row| {
                        row.try_into()
                    })
                    .map_err(&error)?;
                rows.push((
                    domain,
                    first,
                    last,
                    received_at,
                    reports,
                    successful,
                    failed,
                ));
            }
            Ok(rows)
        })
        .await?;
    build(&name, rows)
}

pub(super) async fn postgres(
    store: &PostgresStore,
    query: &DomainsQuery,
) -> Result<Vec<DomainOverview>, StoreError> {
    let error = store.error("listing the domains");
    let first_day = query.since.day_number();
    let client = store.client("listing the domains").await?;
    let rows = client
        .query(DOMAINS_POSTGRES, &[&first_day])
        .await
        .map_err(&error)?;
    let rows: Vec<OverviewRow> = postgres_rows(&rows).map_err(&error)?;
    build(store.url(), rows)
}

fn build(store: &str, rows: Vec<OverviewRow>) -> Result<Vec<DomainOverview>, StoreError> {
    rows.into_iter()
        .map(
            |(domain, first, last, received_at, reports, successful, failed)| {
                let corrupt = |what: String| StoreError::Corrupt {
                    store: store.to_string(),
                    what: format!("the reports of {domain} {what}"),
                };
                let day = |n: i64| {
                    UtcDate::from_day_number(n)
                        .ok_or_else(|| corrupt(format!("have the day number {n}, out of range")))
                };
                let count = |n: i64| {
                    u64::try_from(n).map_err(|_| corrupt(format!("have the negative count {n}")))
                };
                Ok(DomainOverview {
                    first_day: day(first)?,
                    last_day: day(last)?,
                    last_received_at: Timestamp::from_unix_seconds(received_at).ok_or_else(
                        || corrupt(format!("have the time {received_at}, out of range")),
                    )?,
                    reports: count(reports)?,
                    successful: count(successful)?,
                    failed: count(failed)?,
                    domain,
                })
            },
        )
        .collect()
}
