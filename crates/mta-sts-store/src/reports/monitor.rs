//! What the monitor keeps: one row per check of an owner's domain (its verdict, outcome and
//! the snapshot the next check is compared with) and one per event raised, cleared in place.
//!
//! One event per (domain, code, subject) is open at a time, whichever server raises it: the
//! partial unique index `monitor_event_open` makes a second raise insert nothing, and a clear
//! updates only an open row, so of two servers clearing the same event exactly one does.

use mta_sts_core::report::Timestamp;
use rusqlite::params;
use serde::Serialize;

use super::domain_key;
use super::queries::postgres_sql;
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// A check to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMonitorCheck {
    /// The domain checked (case and a final dot ignored).
    pub domain: String,
    /// When it was checked.
    pub checked_at: Timestamp,
    /// Its verdict word (`pass`, `warn`, `fail`, `unknown`).
    pub verdict: String,
    /// How far it got (`complete`, `incomplete`, `no-such-domain`).
    pub outcome: String,
    /// The monitor's snapshot of it, JSON.
    pub snapshot: String,
}

/// A check kept, as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitorCheck {
    /// The domain checked (lowercase, no final dot).
    pub domain: String,
    /// When it was checked.
    pub checked_at: Timestamp,
    /// Its verdict word.
    pub verdict: String,
    /// How far it got.
    pub outcome: String,
    /// The monitor's snapshot, JSON.
    pub snapshot: String,
}

/// An event kept: open while `cleared_at` is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitorEvent {
    /// The domain (lowercase, no final dot).
    pub domain: String,
    /// The event's stable code (`policy-changed-id-unchanged`).
    pub code: String,
    /// What in the domain it is about (a host, an organisation, or the domain itself).
    pub subject: String,
    /// The sentence written when it was raised.
    pub message: String,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// When it was cleared; `None` while it is open.
    pub cleared_at: Option<Timestamp>,
    /// The sentence written when it was cleared.
    pub clear_message: Option<String>,
}

const INSERT_CHECK: &str = "
INSERT INTO monitor_check (domain, checked_at, verdict, outcome, snapshot)
VALUES (?1, ?2, ?3, ?4, ?5)";

const LATEST_CHECKS: &str = "
SELECT domain, checked_at, verdict, outcome, snapshot FROM monitor_check
 WHERE domain = ?1 ORDER BY checked_at DESC, id DESC LIMIT ?2";

/// The partial unique index decides: of several raises of one open event, one inserts.
const RAISE: &str = "
INSERT INTO monitor_event (domain, code, subject, message, raised_at)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (domain, code, subject) WHERE cleared_at IS NULL DO NOTHING";

const CLEAR: &str = "
UPDATE monitor_event SET cleared_at = ?5, clear_message = ?4
 WHERE domain = ?1 AND code = ?2 AND subject = ?3 AND cleared_at IS NULL";

const OPEN_EVENTS: &str = "
SELECT domain, code, subject, message, raised_at, cleared_at, clear_message FROM monitor_event
 WHERE domain = ?1 AND cleared_at IS NULL ORDER BY raised_at, id";

/// Open events first, then the others, the latest raised first.
const EVENTS: &str = "
SELECT domain, code, subject, message, raised_at, cleared_at, clear_message FROM monitor_event
 WHERE domain = ?1
 ORDER BY CASE WHEN cleared_at IS NULL THEN 0 ELSE 1 END, raised_at DESC, id DESC LIMIT ?2";

const PRUNE_CHECKS: &str = "DELETE FROM monitor_check WHERE checked_at < ?1";

type CheckRow = (String, i64, String, String, String);
type EventRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

fn check_of(row: CheckRow) -> MonitorCheck {
    MonitorCheck {
        domain: row.0,
        checked_at: Timestamp::from_unix_seconds_saturating(row.1),
        verdict: row.2,
        outcome: row.3,
        snapshot: row.4,
    }
}

fn event_of(row: EventRow) -> MonitorEvent {
    MonitorEvent {
        domain: row.0,
        code: row.1,
        subject: row.2,
        message: row.3,
        raised_at: Timestamp::from_unix_seconds_saturating(row.4),
        cleared_at: row.5.map(Timestamp::from_unix_seconds_saturating),
        clear_message: row.6,
    }
}

fn limit_of(limit: u32) -> i64 {
    i64::from(limit)
}

fn read_check(r: &rusqlite::Row<'_>) -> rusqlite::Result<CheckRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn read_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn check_of_postgres(
    row: &tokio_postgres::Row,
    error: &impl Fn(tokio_postgres::Error) -> StoreError,
) -> Result<MonitorCheck, StoreError> {
    Ok(check_of((
        row.try_get(0).map_err(error)?,
        row.try_get(1).map_err(error)?,
        row.try_get(2).map_err(error)?,
        row.try_get(3).map_err(error)?,
        row.try_get(4).map_err(error)?,
    )))
}

fn event_of_postgres(
    row: &tokio_postgres::Row,
    error: &impl Fn(tokio_postgres::Error) -> StoreError,
) -> Result<MonitorEvent, StoreError> {
    Ok(event_of((
        row.try_get(0).map_err(error)?,
        row.try_get(1).map_err(error)?,
        row.try_get(2).map_err(error)?,
        row.try_get(3).map_err(error)?,
        row.try_get(4).map_err(error)?,
        row.try_get(5).map_err(error)?,
        row.try_get(6).map_err(error)?,
    )))
}

pub(super) async fn record_check_sqlite(
    store: &SqliteStore,
    check: &NewMonitorCheck,
) -> Result<(), StoreError> {
    let error = store.error("keeping a monitor check");
    let row = (
        domain_key(&check.domain),
        check.checked_at.unix_seconds(),
        check.verdict.clone(),
        check.outcome.clone(),
        check.snapshot.clone(),
    );
    store
        .write("keeping a monitor check", move |tx| {
            tx.prepare_cached(INSERT_CHECK)
                .and_then(|mut statement| {
                    statement.execute(params![row.0, row.1, row.2, row.3, row.4])
                })
                .map_err(&error)?;
            Ok(())
        })
        .await
}

pub(super) async fn record_check_postgres(
    store: &PostgresStore,
    check: &NewMonitorCheck,
) -> Result<(), StoreError> {
    let error = store.error("keeping a monitor check");
    let client = store.client("keeping a monitor check").await?;
    client
        .execute(
            &postgres_sql(INSERT_CHECK),
            &[
                &domain_key(&check.domain),
                &check.checked_at.unix_seconds(),
                &check.verdict,
                &check.outcome,
                &check.snapshot,
            ],
        )
        .await
        .map_err(&error)?;
    Ok(())
}

pub(super) async fn checks_sqlite(
    store: &SqliteStore,
    domain: &str,
    limit: u32,
) -> Result<Vec<MonitorCheck>, StoreError> {
    let error = store.error("reading monitor checks");
    let domain = domain_key(domain);
    store
        .read("reading monitor checks", move |tx| {
            let rows = tx
                .prepare_cached(LATEST_CHECKS)
                .and_then(|mut statement| {
                    statement
                        .query_map(params![domain, limit_of(limit)], read_check)
                        .and_then(|rows| rows.collect::<Result<Vec<CheckRow>, _>>())
                })
                .map_err(&error)?;
            Ok(rows.into_iter().map(check_of).collect())
        })
        .await
}

pub(super) async fn checks_postgres(
    store: &PostgresStore,
    domain: &str,
    limit: u32,
) -> Result<Vec<MonitorCheck>, StoreError> {
    let error = store.error("reading monitor checks");
    let client = store.client("reading monitor checks").await?;
    client
        .query(
            &postgres_sql(LATEST_CHECKS),
            &[&domain_key(domain), &limit_of(limit)],
        )
        .await
        .map_err(&error)?
        .iter()
        .map(|row| check_of_postgres(row, &error))
        .collect()
}

/// What a raise or a clear writes: (domain, code, subject, message, time).
type EventChange = (String, String, String, String, i64);

pub(super) fn event_change(
    domain: &str,
    code: &str,
    subject: &str,
    message: &str,
    at: Timestamp,
) -> EventChange {
    (
        domain_key(domain),
        code.to_string(),
        subject.to_string(),
        message.to_string(),
        at.unix_seconds(),
    )
}

pub(super) async fn change_event_sqlite(
    store: &SqliteStore,
    raise: bool,
    change: EventChange,
) -> Result<bool, StoreError> {
    let operation = if raise {
        "raising a monitor event"
    } else {
        "clearing a monitor event"
    };
    let error = store.error(operation);
    let sql = if raise { RAISE } else { CLEAR };
    store
        .write(operation, move |tx| {
            let changed = tx
                .prepare_cached(sql)
                .and_then(|mut statement| {
                    statement.execute(params![change.0, change.1, change.2, change.3, change.4])
                })
                .map_err(&error)?;
            Ok(changed == 1)
        })
        .await
}

pub(super) async fn change_event_postgres(
    store: &PostgresStore,
    raise: bool,
    change: EventChange,
) -> Result<bool, StoreError> {
    let operation = if raise {
        "raising a monitor event"
    } else {
        "clearing a monitor event"
    };
    let error = store.error(operation);
    let client = store.client(operation).await?;
    let changed = client
        .execute(
            &postgres_sql(if raise { RAISE } else { CLEAR }),
            &[&change.0, &change.1, &change.2, &change.3, &change.4],
        )
        .await
        .map_err(&error)?;
    Ok(changed == 1)
}

pub(super) async fn events_sqlite(
    store: &SqliteStore,
    domain: &str,
    limit: Option<u32>,
) -> Result<Vec<MonitorEvent>, StoreError> {
    let error = store.error("reading monitor events");
    let domain = domain_key(domain);
    store
        .read("reading monitor events", move |tx| {
            let rows = match limit {
                None => tx.prepare_cached(OPEN_EVENTS).and_then(|mut statement| {
                    statement
                        .query_map(params![domain], read_event)
                        .and_then(|rows| rows.collect::<Result<Vec<EventRow>, _>>())
                }),
                Some(limit) => tx.prepare_cached(EVENTS).and_then(|mut statement| {
                    statement
                        .query_map(params![domain, limit_of(limit)], read_event)
                        .and_then(|rows| rows.collect::<Result<Vec<EventRow>, _>>())
                }),
            }
            .map_err(&error)?;
            Ok(rows.into_iter().map(event_of).collect())
        })
        .await
}

pub(super) async fn events_postgres(
    store: &PostgresStore,
    domain: &str,
    limit: Option<u32>,
) -> Result<Vec<MonitorEvent>, StoreError> {
    let error = store.error("reading monitor events");
    let client = store.client("reading monitor events").await?;
    let domain = domain_key(domain);
    let rows = match limit {
        None => client.query(&postgres_sql(OPEN_EVENTS), &[&domain]).await,
        Some(limit) => {
            client
                .query(&postgres_sql(EVENTS), &[&domain, &limit_of(limit)])
                .await
        }
    }
    .map_err(&error)?;
    rows.iter()
        .map(|row| event_of_postgres(row, &error))
        .collect()
}

pub(super) async fn prune_checks_sqlite(
    store: &SqliteStore,
    before: Timestamp,
) -> Result<u64, StoreError> {
    let error = store.error("pruning monitor checks");
    let before = before.unix_seconds();
    store
        .write("pruning monitor checks", move |tx| {
            let deleted = tx
                .prepare_cached(PRUNE_CHECKS)
                .and_then(|mut statement| statement.execute(params![before]))
                .map_err(&error)?;
            Ok(deleted as u64)
        })
        .await
}

pub(super) async fn prune_checks_postgres(
    store: &PostgresStore,
    before: Timestamp,
) -> Result<u64, StoreError> {
    let error = store.error("pruning monitor checks");
    let client = store.client("pruning monitor checks").await?;
    client
        .execute(&postgres_sql(PRUNE_CHECKS), &[&before.unix_seconds()])
        .await
        .map_err(&error)
}
