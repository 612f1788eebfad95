//! Every policy domain with stored reports, for an overview page, from `domain_day` (per domain
//! and day: reports, sessions, latest receipt; kept by triggers as reports are stored and
//! pruned): found by skipping through its primary key from one domain to the next, so the cost
//! grows with the number of domains and of days asked for, not with the reports stored.

use mta_sts_core::report::Timestamp;
use mta_sts_core::time::UtcDate;
use serde::Serialize;

use super::queries::postgres_sql;
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

/// Every domain (SQLite's parameters: the first day counted). The recursive part finds the next
/// domain after the last with one probe of the primary key, so 500 domains cost 500 probes;
/// `MIN` and `MAX` of one domain's `day` are one probe each, and the sums read one row per day
/// asked for.
const DOMAINS: &str = "
WITH RECURSIVE domains (domain) AS (
    SELECT MIN(domain) FROM domain_day
    UNION ALL
    SELECT (SELECT MIN(domain) FROM domain_day WHERE domain > d.domain)
      FROM domains d WHERE d.domain IS NOT NULL
), spans (domain, first_day, last_day) AS (
    SELECT d.domain,
           (SELECT MIN(day) FROM domain_day WHERE domain = d.domain),
           (SELECT MAX(day) FROM domain_day WHERE domain = d.domain)
      FROM domains d WHERE d.domain IS NOT NULL
)
SELECT s.domain, s.first_day, s.last_day,
       (SELECT last_received_at FROM domain_day WHERE domain = s.domain AND day = s.last_day),
       (SELECT CAST(COALESCE(SUM(reports), 0) AS BIGINT) FROM domain_day
         WHERE domain = s.domain AND day >= ?1),
       (SELECT CAST(COALESCE(SUM(successful), 0) AS BIGINT) FROM domain_day
         WHERE domain = s.domain AND day >= ?1),
       (SELECT CAST(COALESCE(SUM(failed), 0) AS BIGINT) FROM domain_day
         WHERE domain = s.domain AND day >= ?1)
  FROM spans s
 ORDER BY s.domain";

pub(super) async fn sqlite(
    store: &SqliteStore,
    query: &DomainsQuery,
) -> Result<Vec<DomainOverview>, StoreError> {
    let error = store.error("listing the domains");
    let name = format!("sqlite:{}", store.path().display());
    let first_day = query.since.day_number();
    let rows = store
        .read("listing the domains", move |tx| {
            tx.prepare_cached(DOMAINS)
                .and_then(|mut statement| {
                    statement
                        .query_map([first_day], |row| {
                            Ok((
                                row.get(0)?,
                                row.get(1)?,
                                row.get(2)?,
                                row.get(3)?,
                                row.get(4)?,
                                row.get(5)?,
                                row.get(6)?,
                            ))
                        })
                        .and_then(Iterator::collect)
                })
                .map_err(&error)
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
        .query(&postgres_sql(DOMAINS), &[&first_day])
        .await
        .map_err(&error)?
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
                row.try_get(4)?,
                row.try_get(5)?,
                row.try_get(6)?,
            ))
        })
        .collect::<Result<Vec<OverviewRow>, tokio_postgres::Error>>()
        .map_err(&error)?;
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
