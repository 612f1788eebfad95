//! Retention of the sender store: a day's counts, collector figures and outbox deleted
//! together once the day is old enough (tlsrpt-reportd's `db_clean_up`, `keep_days`).
//!
//! A day goes whole, in one transaction: its counts (`sender_count`, `sender_failure`), its
//! collector figures (`sender_day`) and its built reports with their deliveries. A day with a
//! delivery still pending (neither sent nor given up) stays whole, counts included, until the
//! delivery ends: deleting its outbox would drop a report not yet sent, and keeping the outbox
//! while deleting the counts would leave `status` showing deliveries of a day without figures.
//! Deleting counts and outbox together also means a day is never rebuilt from counts whose
//! reports are gone, which would send them a second time.

use mta_sts_core::time::UtcDate;
use rusqlite::params;
use serde::Serialize;

use super::{Backend, SenderStore, corrupt};
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// What [`SenderStore::prune_days`] deleted, and what it kept for pending deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Days deleted (with counts, figures or reports).
    pub days: u64,
    /// Count rows deleted (one per day, domain, TLSRPT record and policy).
    pub counts: u64,
    /// Built reports deleted, with their deliveries.
    pub reports: u64,
    /// Days old enough that were kept because a delivery of theirs is still pending, oldest
    /// first.
    pub kept_pending: Vec<UtcDate>,
}

/// The days with a delivery neither sent nor given up. One text for both backends: SQLite
/// reads `$1` as one parameter wherever it appears.
const PENDING_DAYS: &str = "
SELECT r.day FROM outbox_report r JOIN outbox_delivery d ON d.report_id = r.report_id
 WHERE d.state = 'pending'";

fn kept_pending_sql() -> String {
    format!("SELECT DISTINCT day FROM ({PENDING_DAYS}) p WHERE day < $1 ORDER BY day")
}

fn days_sql() -> String {
    format!(
        "SELECT COUNT(*) FROM (
             SELECT day FROM sender_count WHERE day < $1
             UNION SELECT day FROM sender_day WHERE day < $1
             UNION SELECT day FROM outbox_report WHERE day < $1) d
          WHERE day NOT IN ({PENDING_DAYS})"
    )
}

/// The deletions, in order (failures before their counts, deliveries before their reports);
/// the second and fifth give the figures returned.
fn delete_sql() -> [String; 5] {
    let old = format!("day < $1 AND day NOT IN ({PENDING_DAYS})");
    [
        format!("DELETE FROM sender_failure WHERE {old}"),
        format!("DELETE FROM sender_count WHERE {old}"),
        format!("DELETE FROM sender_day WHERE {old}"),
        format!(
            "DELETE FROM outbox_delivery
              WHERE report_id IN (SELECT report_id FROM outbox_report WHERE {old})"
        ),
        format!("DELETE FROM outbox_report WHERE {old}"),
    ]
}

async fn prune_sqlite(
    store: &SqliteStore,
    before: i64,
) -> Result<(u64, u64, u64, Vec<i64>), StoreError> {
    let error = store.error("deleting old days");
    store
        .write("deleting old days", move |tx| {
            let kept: Vec<i64> = tx
                .prepare(&kept_pending_sql())
                .and_then(|mut s| s.query_map(params![before], |r| r.get(0))?.collect())
                .map_err(&error)?;
            let days: i64 = tx
                .query_row(&days_sql(), params![before], |r| r.get(0))
                .map_err(&error)?;
            let mut deleted = [0u64; 5];
            for (n, sql) in delete_sql().iter().enumerate() {
                deleted[n] = tx.execute(sql, params![before]).map_err(&error)? as u64;
            }
            Ok((super::read_count(days), deleted[1], deleted[4], kept))
        })
        .await
}

async fn prune_postgres(
    store: &PostgresStore,
    before: i64,
) -> Result<(u64, u64, u64, Vec<i64>), StoreError> {
    let error = store.error("deleting old days");
    let mut client = store.client("deleting old days").await?;
    let tx = client.transaction().await.map_err(&error)?;
    let kept = tx
        .query(&kept_pending_sql(), &[&before])
        .await
        .map_err(&error)?
        .into_iter()
        .map(|r| r.try_get(0))
        .collect::<Result<Vec<i64>, _>>()
        .map_err(&error)?;
    let days: i64 = tx
        .query_one(&days_sql(), &[&before])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(&error)?;
    let mut deleted = [0u64; 5];
    for (n, sql) in delete_sql().iter().enumerate() {
        deleted[n] = tx.execute(sql, &[&before]).await.map_err(&error)?;
    }
    tx.commit().await.map_err(&error)?;
    Ok((super::read_count(days), deleted[1], deleted[4], kept))
}

impl SenderStore {
    /// Deletes every day before `before` — its counts, collector figures, built reports and
    /// deliveries — in one transaction, except a day with a delivery still pending, which is
    /// kept whole (see the module documentation for why). Pruning again deletes nothing more.
    pub async fn prune_days(&self, before: UtcDate) -> Result<Pruned, StoreError> {
        let number = before.day_number();
        let (days, counts, reports, kept) = match &self.backend {
            Backend::Sqlite(store) => prune_sqlite(store, number).await?,
            Backend::Postgres(store) => prune_postgres(store, number).await?,
        };
        let kept_pending = kept
            .into_iter()
            .map(|n| {
                UtcDate::from_day_number(n).ok_or_else(|| corrupt(&self.url, "a day number", n))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pruned {
            days,
            counts,
            reports,
            kept_pending,
        })
    }
}

#[cfg(test)]
mod tests;
