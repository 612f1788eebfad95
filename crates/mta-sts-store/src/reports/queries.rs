//! Reading reports back (lists, summaries, receipt order) and retention, on both backends.

use std::collections::HashMap;

use mta_sts_core::report::{PolicyType, ResultType, Timestamp};
use rusqlite::params;

use super::rows::{postgres_rows, sqlite_rows};
use super::summary::{SummaryRows, day_range};
use super::{
    ListQuery, PRUNE_BATCH, ReceiptCursor, ReportKey, Source, StoredFailure, StoredPolicy,
    StoredReport, SummaryQuery, domain_key,
};
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// A report row before its policies are attached:
/// (id, organisation, report id, start, end, received at, source).
type ReportRow = (i64, String, String, i64, i64, i64, String);

/// A policy row: (report, position, policy type, policy domain, successful, failed).
type PolicyRow = (i64, i64, String, Option<String>, i64, i64);

/// A failure row: (report, policy, result type, count, receiving MX, sending IP).
type FailureRow = (i64, i64, String, i64, Option<String>, Option<String>);

/// The bounds a [`ListQuery`] gives the SQL: (first day, first start, limit, offset).
fn list_bounds(query: &ListQuery) -> (i64, i64, i64, i64) {
    let since = query.since.map_or(i64::MIN, Timestamp::unix_seconds);
    let first_day = query.since.map_or(i64::MIN, Timestamp::day_number);
    let limit = query
        .limit
        .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = query
        .offset
        .map_or(0, |o| i64::try_from(o).unwrap_or(i64::MAX));
    (first_day, since, limit, offset)
}

/// The columns of a [`ReportRow`], from `report r`.
const REPORT_COLUMNS: &str =
    "r.id, r.organization, r.report_id, r.start_at, r.end_at, r.received_at, r.source";

/// The SQL (in SQLite's parameters) choosing the reports of a list: with a domain, parameters
/// (domain, first day, first start, limit, offset), else (first start, limit, offset).
///
/// With a domain, the reports are found through the domain's entries (each report's first one
/// for the domain), read in the (domain, day) index's order, which is the order of their
/// starts: the newest page of a domain with a year of reports reads a page's worth of rows, not
/// the year.
fn list_sql(domain: bool, newest_first: bool) -> String {
    let dir = if newest_first { "DESC" } else { "ASC" };
    let order = format!("r.start_at {dir}, r.organization {dir}, r.report_id {dir}, r.id {dir}");
    if domain {
        format!(
            "SELECT {REPORT_COLUMNS} FROM report_policy p JOIN report r ON r.id = p.report
              WHERE p.domain = ?1 AND p.day >= ?2 AND p.first_for_domain = 1
                AND r.start_at >= ?3
              ORDER BY p.day {dir}, {order} LIMIT ?4 OFFSET ?5"
        )
    } else {
        format!(
            "SELECT {REPORT_COLUMNS} FROM report r WHERE r.start_at >= ?1
              ORDER BY {order} LIMIT ?2 OFFSET ?3"
        )
    }
}

pub(super) async fn list_sqlite(
    store: &SqliteStore,
    query: &ListQuery,
) -> Result<Vec<StoredReport>, StoreError> {
    let error = store.error("listing reports");
    let name = format!("sqlite:{}", store.path().display());
    let domain = query.domain.as_deref().map(domain_key);
    let (first_day, since, limit, offset) = list_bounds(query);
    let sql = list_sql(domain.is_some(), query.newest_first);
    store
        .read("listing reports", move |tx| {
            let reports: Vec<ReportRow> = match &domain {
                Some(domain) => {
                    sqlite_rows(tx, &sql, params![domain, first_day, since, limit, offset])
                }
                None => sqlite_rows(tx, &sql, params![since, limit, offset]),
            }
            .map_err(&error)?;
            attach_sqlite(tx, &name, domain.as_deref(), reports, &error)
        })
        .await
}

/// Reads the policy entries and failure details of `reports` and puts them together.
fn attach_sqlite(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    domain: Option<&str>,
    reports: Vec<ReportRow>,
    error: &impl Fn(rusqlite::Error) -> StoreError,
) -> Result<Vec<StoredReport>, StoreError> {
    let mut policies_of = tx
        .prepare_cached(
            "SELECT report, position, policy_type, policy_domain, successful, failed
                       FROM report_policy WHERE report = ?1 ORDER BY position",
        )
        .map_err(error)?;
    let mut failures_of = tx
        .prepare_cached(
            "SELECT report, policy, result_type, failed_session_count,
                            receiving_mx_hostname, sending_mta_ip
                       FROM failure_detail WHERE report = ?1 ORDER BY policy, position",
        )
        .map_err(error)?;
    let mut policies: Vec<PolicyRow> = Vec::new();
    let mut failures: Vec<FailureRow> = Vec::new();
    for report in &reports {
        let rows = policies_of
            .query_map([report.0], |row| row.try_into())
            .and_then(Iterator::collect::<rusqlite::Result<Vec<PolicyRow>>>)
            .map_err(error)?;
        policies.extend(rows);
        let rows = failures_of
            .query_map([report.0], |row| row.try_into())
            .and_then(Iterator::collect::<rusqlite::Result<Vec<FailureRow>>>)
            .map_err(error)?;
        failures.extend(rows);
    }
    assemble(name, domain, reports, policies, failures)
}

pub(super) async fn list_postgres(
    store: &PostgresStore,
    query: &ListQuery,
) -> Result<Vec<StoredReport>, StoreError> {
    let error = store.error("listing reports");
    let domain = query.domain.as_deref().map(domain_key);
    let (first_day, since, limit, offset) = list_bounds(query);
    let sql = postgres_sql(&list_sql(domain.is_some(), query.newest_first));
    let mut client = store.client("listing reports").await?;
    let tx = read_snapshot(&mut client).await.map_err(&error)?;
    let rows = match &domain {
        Some(domain) => {
            tx.query(&sql, &[domain, &first_day, &since, &limit, &offset])
                .await
        }
        None => tx.query(&sql, &[&since, &limit, &offset]).await,
    }
    .map_err(&error)?;
    let reports = postgres_rows(&rows).map_err(&error)?;
    let listed = attach_postgres(&tx, store.url(), domain.as_deref(), reports, &error).await?;
    tx.commit().await.map_err(&error)?;
    Ok(listed)
}

/// Reads the policy entries and failure details of `reports` and puts them together.
async fn attach_postgres(
    tx: &deadpool_postgres::Transaction<'_>,
    url: &str,
    domain: Option<&str>,
    reports: Vec<ReportRow>,
    error: &impl Fn(tokio_postgres::Error) -> StoreError,
) -> Result<Vec<StoredReport>, StoreError> {
    let ids: Vec<i64> = reports.iter().map(|r| r.0).collect();
    let by_ids: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&ids];
    let (policy_rows, failure_rows) = tokio::try_join!(
        tx.query(
            "SELECT report, position, policy_type, policy_domain, successful, failed
               FROM report_policy WHERE report = ANY($1) ORDER BY report, position",
            &by_ids,
        ),
        tx.query(
            "SELECT report, policy, result_type, failed_session_count, receiving_mx_hostname,
                    sending_mta_ip
               FROM failure_detail WHERE report = ANY($1) ORDER BY report, policy, position",
            &by_ids,
        ),
    )
    .map_err(error)?;
    let policies = postgres_rows(&policy_rows).map_err(error)?;
    let failures = postgres_rows(&failure_rows).map_err(error)?;
    assemble(url, domain, reports, policies, failures)
}

/// Puts the rows together into reports; with a domain, only its policy entries are kept.
fn assemble(
    store: &str,
    domain: Option<&str>,
    reports: Vec<ReportRow>,
    policies: Vec<PolicyRow>,
    failures: Vec<FailureRow>,
) -> Result<Vec<StoredReport>, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt {
        store: store.to_string(),
        what,
    };
    let time = |seconds: i64, id: i64| {
        Timestamp::from_unix_seconds(seconds)
            .ok_or_else(|| corrupt(format!("report {id} has the time {seconds}, out of range")))
    };
    let count = |value: i64, id: i64| {
        u64::try_from(value)
            .map_err(|_| corrupt(format!("report {id} has the negative count {value}")))
    };
    let mut failures_of: HashMap<(i64, i64), Vec<StoredFailure>> = HashMap::new();
    for (report, policy, result_type, failed, mx, ip) in failures {
        failures_of
            .entry((report, policy))
            .or_default()
            .push(StoredFailure {
                result_type: ResultType::from_wire(&result_type),
                count: count(failed, report)?,
                receiving_mx_hostname: mx,
                sending_mta_ip: ip,
            });
    }
    let mut policies_of: HashMap<i64, Vec<StoredPolicy>> = HashMap::new();
    for (report, position, policy_type, policy_domain, successful, failed) in policies {
        if let Some(domain) = domain
            && policy_domain.as_deref().map(domain_key).as_deref() != Some(domain)
        {
            continue;
        }
        policies_of.entry(report).or_default().push(StoredPolicy {
            policy_type: PolicyType::from_wire(&policy_type),
            policy_domain,
            successful: count(successful, report)?,
            failed: count(failed, report)?,
            failures: failures_of.remove(&(report, position)).unwrap_or_default(),
        });
    }
    reports
        .into_iter()
        .map(
            |(id, organization, report_id, start, end, received_at, source)| {
                Ok(StoredReport {
                    key: ReportKey(id),
                    organization,
                    report_id,
                    start: time(start, id)?,
                    end: time(end, id)?,
                    policies: policies_of.remove(&id).unwrap_or_default(),
                    received_at: time(received_at, id)?,
                    source: Source::from_name(&source).ok_or_else(|| {
                        corrupt(format!("report {id} has the unknown source `{source}`"))
                    })?,
                })
            },
        )
        .collect()
}

/// The policy entries of a domain's days, grouped (one scan of the covering index); the last
/// two sums count each report's first entry for the domain only, for per-reporter sessions.
pub(super) const SUMMARY_POLICIES_SQLITE: &str = "
SELECT day, policy_type, organization, CAST(SUM(successful) AS BIGINT),
       CAST(SUM(failed) AS BIGINT), CAST(SUM(first_for_domain) AS BIGINT),
       CAST(SUM(successful * first_for_domain) AS BIGINT),
       CAST(SUM(failed * first_for_domain) AS BIGINT)
  FROM report_policy WHERE domain = ?1 AND day >= ?2 AND day < ?3
 GROUP BY day, policy_type, organization";
const SUMMARY_FAILURES_SQLITE: &str = "
SELECT day, policy_type, result_type, receiving_mx_hostname, sending_mta_ip,
       CAST(SUM(failed_session_count) AS BIGINT)
  FROM failure_detail WHERE domain = ?1 AND day >= ?2 AND day < ?3
 GROUP BY day, policy_type, result_type, receiving_mx_hostname, sending_mta_ip";

pub(super) async fn summary_sqlite(
    store: &SqliteStore,
    query: &SummaryQuery,
) -> Result<SummaryRows, StoreError> {
    let error = store.error("summing reports up");
    let domain = domain_key(&query.domain);
    let (first, end) = day_range(query);
    store
        .read("summing reports up", move |tx| {
            let bounds = params![domain, first, end];
            Ok(SummaryRows {
                policies: sqlite_rows(tx, SUMMARY_POLICIES_SQLITE, bounds).map_err(&error)?,
                failures: sqlite_rows(tx, SUMMARY_FAILURES_SQLITE, bounds).map_err(&error)?,
            })
        })
        .await
}

pub(super) async fn summary_postgres(
    store: &PostgresStore,
    query: &SummaryQuery,
) -> Result<SummaryRows, StoreError> {
    let error = store.error("summing reports up");
    let domain = domain_key(&query.domain);
    let (first, end) = day_range(query);
    let mut client = store.client("summing reports up").await?;
    // One snapshot for the two queries, sent together.
    let tx = read_snapshot(&mut client).await.map_err(&error)?;
    let (policies, failures) = (
        postgres_sql(SUMMARY_POLICIES_SQLITE),
        postgres_sql(SUMMARY_FAILURES_SQLITE),
    );
    let bounds: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&domain, &first, &end];
    let (policies, failures) =
        tokio::try_join!(tx.query(&policies, &bounds), tx.query(&failures, &bounds),)
            .map_err(&error)?;
    let rows = SummaryRows {
        policies: postgres_rows(&policies).map_err(&error)?,
        failures: postgres_rows(&failures).map_err(&error)?,
    };
    tx.commit().await.map_err(&error)?;
    Ok(rows)
}

pub(super) async fn prune_sqlite(
    store: &SqliteStore,
    ended_before: Timestamp,
) -> Result<u64, StoreError> {
    let mut pruned = 0_u64;
    loop {
        let error = store.error("pruning reports");
        let deleted = store
            .write("pruning reports", move |tx| {
                let ids: Vec<i64> = tx
                    .prepare_cached(
                        "SELECT id FROM report WHERE end_at < ?1 ORDER BY end_at LIMIT ?2",
                    )
                    .and_then(|mut statement| {
                        statement
                            .query_map(
                                params![ended_before.unix_seconds(), PRUNE_BATCH as i64],
                                |row| row.get(0),
                            )
                            .and_then(Iterator::collect)
                    })
                    .map_err(&error)?;
                for sql in [
                    "DELETE FROM failure_detail WHERE report = ?1",
                    "DELETE FROM report_policy WHERE report = ?1",
                    "DELETE FROM lint_finding WHERE report = ?1",
                    "DELETE FROM report WHERE id = ?1",
                ] {
                    let mut statement = tx.prepare_cached(sql).map_err(&error)?;
                    for id in &ids {
                        statement.execute([id]).map_err(&error)?;
                    }
                }
                Ok(ids.len())
            })
            .await?;
        pruned += deleted as u64;
        if deleted < PRUNE_BATCH {
            return Ok(pruned);
        }
    }
}

pub(super) async fn prune_postgres(
    store: &PostgresStore,
    ended_before: Timestamp,
) -> Result<u64, StoreError> {
    let error = store.error("pruning reports");
    let mut pruned = 0_u64;
    loop {
        let mut client = store.client("pruning reports").await?;
        let tx = client.transaction().await.map_err(&error)?;
        // SKIP LOCKED: a report another pruner is deleting is left to it.
        let ids: Vec<i64> = tx
            .query(
                "SELECT id FROM report WHERE end_at < $1 ORDER BY end_at LIMIT $2
                 FOR UPDATE SKIP LOCKED",
                &[&ended_before.unix_seconds(), &(PRUNE_BATCH as i64)],
            )
            .await
            .map_err(&error)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(&error)?;
        for sql in [
            "DELETE FROM failure_detail WHERE report = ANY($1)",
            "DELETE FROM report_policy WHERE report = ANY($1)",
            "DELETE FROM lint_finding WHERE report = ANY($1)",
            "DELETE FROM report WHERE id = ANY($1)",
        ] {
            tx.execute(sql, &[&ids]).await.map_err(&error)?;
        }
        tx.commit().await.map_err(&error)?;
        pruned += ids.len() as u64;
        if ids.len() < PRUNE_BATCH {
            return Ok(pruned);
        }
    }
}

/// A read-only transaction on one snapshot (repeatable read), so that the several queries of
/// one read (a page of reports and their entries, a summary's two groupings) agree with each
/// other while reports are being stored or pruned.
pub(super) async fn read_snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}

/// `sql` written with SQLite's numbered parameters (`?1`) in PostgreSQL's (`$1`): one text
/// for both backends wherever the SQL is the same.
pub(super) fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// Reports in receipt order from a cursor, in SQLite's parameters (received at, after key,
/// limit). The row value comparison reads the `received_at` index (which holds the id) from
/// the cursor on.
const RECEIVED_SQL: &str = "
SELECT r.id, r.organization, r.report_id, r.start_at, r.end_at, r.received_at, r.source
  FROM report r WHERE (r.received_at, r.id) > (?1, ?2)
 ORDER BY r.received_at, r.id LIMIT ?3";

/// The bounds a [`ReceiptCursor`] gives the SQL: (received at, after key, limit).
fn received_bounds(cursor: &ReceiptCursor, limit: u64) -> (i64, i64, i64) {
    (
        cursor.received_at.unix_seconds(),
        cursor.after.map_or(i64::MIN, ReportKey::id),
        i64::try_from(limit).unwrap_or(i64::MAX),
    )
}

pub(super) async fn received_sqlite(
    store: &SqliteStore,
    cursor: &ReceiptCursor,
    limit: u64,
) -> Result<Vec<StoredReport>, StoreError> {
    let error = store.error("reading newly received reports");
    let name = format!("sqlite:{}", store.path().display());
    let (received_at, after, limit) = received_bounds(cursor, limit);
    store
        .read("reading newly received reports", move |tx| {
            let reports: Vec<ReportRow> =
                sqlite_rows(tx, RECEIVED_SQL, params![received_at, after, limit])
                    .map_err(&error)?;
            attach_sqlite(tx, &name, None, reports, &error)
        })
        .await
}

pub(super) async fn received_postgres(
    store: &PostgresStore,
    cursor: &ReceiptCursor,
    limit: u64,
) -> Result<Vec<StoredReport>, StoreError> {
    let error = store.error("reading newly received reports");
    let (received_at, after, limit) = received_bounds(cursor, limit);
    let mut client = store.client("reading newly received reports").await?;
    let tx = read_snapshot(&mut client).await.map_err(&error)?;
    let rows = tx
        .query(&postgres_sql(RECEIVED_SQL), &[&received_at, &after, &limit])
        .await
        .map_err(&error)?;
    let reports = postgres_rows(&rows).map_err(&error)?;
    let listed = attach_postgres(&tx, store.url(), None, reports, &error).await?;
    tx.commit().await.map_err(&error)?;
    Ok(listed)
}

#[cfg(test)]
mod tests;
