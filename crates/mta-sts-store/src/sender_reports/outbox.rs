//! The outbox of the sender side (migration 2 of [`super::SCHEMA`]): the reports built for
//! a day, kept as they were sent (gzip), and one delivery per destination with its state.
//!
//! - **Idempotent**: a report is keyed by its report-id (stable when a day is built again) and
//!   a delivery by (report-id, destination), and [`enqueue`](SenderStore::enqueue)
//!   inserts only what is not there: building a day twice never sends twice.
//! - **Claimed, not just read**: [`claim_due`](SenderStore::claim_due) moves the next
//!   try of each delivery it returns `lease` ahead in the same statement, so two reporters on
//!   one PostgreSQL (a fleet) never take the same delivery (`FOR UPDATE SKIP LOCKED`), and one
//!   that dies mid-attempt leaves the delivery due again once the lease ends.
//! - **States**: `pending` (with `next_try_at`), `sent` (`sent_at`), `given-up` (after the last
//!   attempt, or at once on a permanent refusal); `last_error` is the last failure's sentence.

use mta_sts_core::report::Timestamp;
use mta_sts_core::time::UtcDate;
use rusqlite::params;
use serde::Serialize;

use super::{Backend, SenderStore};
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// Migration 2 on SQLite.
pub(super) const MIGRATION_SQLITE: &str = "
CREATE TABLE outbox_report (
    report_id     TEXT    PRIMARY KEY,
    day           INTEGER NOT NULL,
    domain        TEXT    NOT NULL,
    tlsrpt_record TEXT    NOT NULL,
    organization  TEXT    NOT NULL,
    submitter     TEXT    NOT NULL,
    file_name     TEXT    NOT NULL,
    report_gzip   BLOB    NOT NULL,
    built_at      INTEGER NOT NULL
);
CREATE INDEX outbox_report_by_day ON outbox_report (day);
CREATE TABLE outbox_delivery (
    report_id   TEXT    NOT NULL REFERENCES outbox_report (report_id),
    destination TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    next_try_at INTEGER,
    last_error  TEXT,
    sent_at     INTEGER,
    PRIMARY KEY (report_id, destination)
);
CREATE INDEX outbox_delivery_due ON outbox_delivery (next_try_at) WHERE state = 'pending';
";

/// Migration 2 on PostgreSQL.
pub(super) const MIGRATION_POSTGRES: &str = "
CREATE TABLE outbox_report (
    report_id     TEXT   PRIMARY KEY,
    day           BIGINT NOT NULL,
    domain        TEXT   NOT NULL,
    tlsrpt_record TEXT   NOT NULL,
    organization  TEXT   NOT NULL,
    submitter     TEXT   NOT NULL,
    file_name     TEXT   NOT NULL,
    report_gzip   BYTEA  NOT NULL,
    built_at      BIGINT NOT NULL
);
CREATE INDEX outbox_report_by_day ON outbox_report (day);
CREATE TABLE outbox_delivery (
    report_id   TEXT   NOT NULL REFERENCES outbox_report (report_id),
    destination TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    attempts    BIGINT NOT NULL,
    next_try_at BIGINT,
    last_error  TEXT,
    sent_at     BIGINT,
    PRIMARY KEY (report_id, destination)
);
CREATE INDEX outbox_delivery_due ON outbox_delivery (next_try_at) WHERE state = 'pending';
";

/// One built report, as it is sent to each of its destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxReport {
    /// The UTC day it covers.
    pub day: UtcDate,
    /// The recipient (policy) domain it is about.
    pub domain: String,
    /// The TLSRPT record its destinations were read from.
    pub tlsrpt_record: String,
    /// Its `report-id`: the key; the same when a day is built again.
    pub report_id: String,
    /// Its `organization-name`.
    pub organization_name: String,
    /// The submitter domain (`TLS-Report-Submitter`).
    pub submitter: String,
    /// The RFC 8460 §5.3.1 file name.
    pub file_name: String,
    /// The report JSON, gzip-compressed.
    pub gzip: Vec<u8>,
}

/// A report and where it goes, for [`enqueue`](SenderStore::enqueue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The report.
    pub report: OutboxReport,
    /// Its destinations (`mailto:…`, `https://…`), each delivered on its own.
    pub destinations: Vec<String>,
}

/// What [`enqueue`](SenderStore::enqueue) added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    /// Reports not in the outbox before.
    pub reports: u64,
    /// Deliveries not in the outbox before.
    pub deliveries: u64,
}

/// A delivery whose time has come, claimed by [`claim_due`](SenderStore::claim_due).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The report.
    pub report: OutboxReport,
    /// Where it goes.
    pub destination: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    /// Not delivered yet; tried again at `next_try_at`.
    Pending,
    /// Delivered.
    Sent,
    /// No more attempts.
    GivenUp,
}

impl DeliveryState {
    /// The stored name: `pending`, `sent`, `given-up`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sent => "sent",
            DeliveryState::GivenUp => "given-up",
        }
    }

    fn from_name(name: &str) -> DeliveryState {
        match name {
            "sent" => DeliveryState::Sent,
            "given-up" => DeliveryState::GivenUp,
            _ => DeliveryState::Pending,
        }
    }
}

/// What follows a failed attempt, for [`mark_failed`](SenderStore::mark_failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextTry {
    /// Try again at this time.
    At(Timestamp),
    /// Give up: the last attempt, or a permanent refusal.
    GiveUp,
}

/// One delivery as [`day_deliveries`](SenderStore::day_deliveries) shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryStatus {
    /// The report's id.
    pub report_id: String,
    /// The recipient domain it is about.
    pub domain: String,
    /// Where it goes.
    pub destination: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When it is tried next (pending only).
    pub next_try_at: Option<Timestamp>,
    /// Why the last attempt failed, a sentence.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub sent_at: Option<Timestamp>,
}

const INSERT_REPORT: &str = "
INSERT INTO outbox_report
    (report_id, day, domain, tlsrpt_record, organization, submitter, file_name, report_gzip, built_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (report_id) DO NOTHING";

const INSERT_DELIVERY: &str = "
INSERT INTO outbox_delivery (report_id, destination, state, attempts, next_try_at)
VALUES (?1, ?2, 'pending', 0, ?3)
ON CONFLICT (report_id, destination) DO NOTHING";

/// Takes the due deliveries, oldest first, and moves their next try a lease ahead. On
/// PostgreSQL the rows are locked and skipped by another reporter doing the same.
const CLAIM_SQLITE: &str = "
UPDATE outbox_delivery SET next_try_at = ?2
WHERE rowid IN (
    SELECT rowid FROM outbox_delivery
    WHERE state = 'pending' AND next_try_at <= ?1
    ORDER BY next_try_at LIMIT ?3)
RETURNING report_id, destination, attempts";

const CLAIM_POSTGRES: &str = "
UPDATE outbox_delivery SET next_try_at = $2
WHERE (report_id, destination) IN (
    SELECT report_id, destination FROM outbox_delivery
    WHERE state = 'pending' AND next_try_at <= $1
    ORDER BY next_try_at LIMIT $3
    FOR UPDATE SKIP LOCKED)
RETURNING report_id, destination, attempts";

const SELECT_REPORT: &str = "
SELECT day, domain, tlsrpt_record, organization, submitter, file_name, report_gzip
FROM outbox_report WHERE report_id = ?1";

const MARK_SENT: &str = "
UPDATE outbox_delivery
SET state = 'sent', attempts = attempts + 1, next_try_at = NULL, sent_at = ?3, last_error = NULL
WHERE report_id = ?1 AND destination = ?2";

const MARK_RETRY: &str = "
UPDATE outbox_delivery
SET attempts = attempts + 1, next_try_at = ?3, last_error = ?4
WHERE report_id = ?1 AND destination = ?2";

const MARK_GIVEN_UP: &str = "
UPDATE outbox_delivery
SET state = 'given-up', attempts = attempts + 1, next_try_at = NULL, last_error = ?3
WHERE report_id = ?1 AND destination = ?2";

const DAY_DELIVERIES: &str = "
SELECT d.report_id, r.domain, d.destination, d.state, d.attempts, d.next_try_at, d.last_error,
       d.sent_at
FROM outbox_delivery d JOIN outbox_report r ON r.report_id = d.report_id
WHERE r.day = ?1
ORDER BY r.domain, d.report_id, d.destination";

/// `?N` placeholders as PostgreSQL's `$N`.
fn postgres_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

fn report_from(
    store: &str,
    report_id: String,
    day: i64,
    fields: (String, String, String, String, String, Vec<u8>),
) -> Result<OutboxReport, StoreError> {
    let (domain, tlsrpt_record, organization_name, submitter, file_name, gzip) = fields;
    Ok(OutboxReport {
        day: UtcDate::from_day_number(day).ok_or_else(|| StoreError::Corrupt {
            store: store.to_string(),
            what: format!("the outbox report {report_id} has day number {day}, out of range"),
        })?,
        domain,
        tlsrpt_record,
        report_id,
        organization_name,
        submitter,
        file_name,
        gzip,
    })
}

fn timestamp(seconds: Option<i64>) -> Option<Timestamp> {
    seconds.and_then(Timestamp::from_unix_seconds)
}

fn attempts(count: i64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

async fn enqueue_sqlite(
    store: &SqliteStore,
    entries: &[OutboxEntry],
    now: Timestamp,
) -> Result<Enqueued, StoreError> {
    let error = store.error("queueing reports for delivery");
    let entries = entries.to_vec();
    store
        .write("queueing reports for delivery", move |tx| {
            let mut added = Enqueued::default();
            for entry in &entries {
                let r = &entry.report;
                added.reports += tx
                    .prepare_cached(INSERT_REPORT)
                    .and_then(|mut s| {
                        s.execute(params![
                            r.report_id,
                            r.day.day_number(),
                            r.domain,
                            r.tlsrpt_record,
                            r.organization_name,
                            r.submitter,
                            r.file_name,
                            r.gzip,
                            now.unix_seconds()
                        ])
                    })
                    .map_err(&error)? as u64;
                for destination in &entry.destinations {
                    added.deliveries += tx
                        .prepare_cached(INSERT_DELIVERY)
                        .and_then(|mut s| {
                            s.execute(params![r.report_id, destination, now.unix_seconds()])
                        })
                        .map_err(&error)? as u64;
                }
            }
            Ok(added)
        })
        .await
}

async fn enqueue_postgres(
    store: &PostgresStore,
    entries: &[OutboxEntry],
    now: Timestamp,
) -> Result<Enqueued, StoreError> {
    let error = store.error("queueing reports for delivery");
    let mut client = store.client("queueing reports for delivery").await?;
    let tx = client.transaction().await.map_err(&error)?;
    let insert_report = tx
        .prepare(&postgres_sql(INSERT_REPORT))
        .await
        .map_err(&error)?;
    let insert_delivery = tx
        .prepare(&postgres_sql(INSERT_DELIVERY))
        .await
        .map_err(&error)?;
    let mut added = Enqueued::default();
    for entry in entries {
        let r = &entry.report;
        added.reports += tx
            .execute(
                &insert_report,
                &[
                    &r.report_id,
                    &r.day.day_number(),
                    &r.domain,
                    &r.tlsrpt_record,
                    &r.organization_name,
                    &r.submitter,
                    &r.file_name,
                    &r.gzip,
                    &now.unix_seconds(),
                ],
            )
            .await
            .map_err(&error)?;
        for destination in &entry.destinations {
            added.deliveries += tx
                .execute(
                    &insert_delivery,
                    &[&r.report_id, destination, &now.unix_seconds()],
                )
                .await
                .map_err(&error)?;
        }
    }
    tx.commit().await.map_err(&error)?;
    Ok(added)
}

async fn claim_due_sqlite(
    store: &SqliteStore,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<DueDelivery>, StoreError> {
    let error = store.error("taking the due deliveries");
    let name = store.path().display().to_string();
    store
        .write("taking the due deliveries", move |tx| {
            let claimed: Vec<(String, String, i64)> = tx
                .prepare_cached(CLAIM_SQLITE)
                .and_then(|mut s| {
                    s.query_map(
                        params![now.unix_seconds(), lease_until.unix_seconds(), limit],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                    )?
                    .collect()
                })
                .map_err(&error)?;
            let mut due = Vec::with_capacity(claimed.len());
            for (report_id, destination, tried) in claimed {
                let (day, fields) = tx
                    .prepare_cached(SELECT_REPORT)
                    .and_then(|mut s| {
                        s.query_row(params![report_id], |row| {
                            Ok((
                                row.get::<_, i64>(0)?,
                                (
                                    row.get(1)?,
                                    row.get(2)?,
                                    row.get(3)?,
                                    row.get(4)?,
                                    row.get(5)?,
                                    row.get(6)?,
                                ),
                            ))
                        })
                    })
                    .map_err(&error)?;
                due.push(DueDelivery {
                    report: report_from(&name, report_id, day, fields)?,
                    destination,
                    attempts: attempts(tried),
                });
            }
            Ok(due)
        })
        .await
}

async fn claim_due_postgres(
    store: &PostgresStore,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<DueDelivery>, StoreError> {
    let error = store.error("taking the due deliveries");
    let mut client = store.client("taking the due deliveries").await?;
    let tx = client.transaction().await.map_err(&error)?;
    let claimed = tx
        .query(
            CLAIM_POSTGRES,
            &[
                &now.unix_seconds(),
                &lease_until.unix_seconds(),
                &i64::from(limit),
            ],
        )
        .await
        .map_err(&error)?;
    let select = tx
        .prepare(&postgres_sql(SELECT_REPORT))
        .await
        .map_err(&error)?;
    let mut due = Vec::with_capacity(claimed.len());
    for row in claimed {
        let report_id: String = row.try_get(0).map_err(&error)?;
        let destination: String = row.try_get(1).map_err(&error)?;
        let tried: i64 = row.try_get(2).map_err(&error)?;
        let r = tx.query_one(&select, &[&report_id]).await.map_err(&error)?;
        let fields = (
            r.try_get(1).map_err(&error)?,
            r.try_get(2).map_err(&error)?,
            r.try_get(3).map_err(&error)?,
            r.try_get(4).map_err(&error)?,
            r.try_get(5).map_err(&error)?,
            r.try_get(6).map_err(&error)?,
        );
        due.push(DueDelivery {
            report: report_from(
                store.url(),
                report_id,
                r.try_get(0).map_err(&error)?,
                fields,
            )?,
            destination,
            attempts: attempts(tried),
        });
    }
    tx.commit().await.map_err(&error)?;
    Ok(due)
}

/// How one delivery ended: sent at a time, retried at a time, or given up; with the error.
enum Outcome {
    Sent(Timestamp),
    Failed(NextTry, String),
}

async fn mark_sqlite(
    store: &SqliteStore,
    report_id: &str,
    destination: &str,
    outcome: Outcome,
) -> Result<(), StoreError> {
    let error = store.error("recording a delivery");
    let (report_id, destination) = (report_id.to_string(), destination.to_string());
    store
        .write("recording a delivery", move |tx| {
            match outcome {
                Outcome::Sent(at) => tx.prepare_cached(MARK_SENT).and_then(|mut s| {
                    s.execute(params![report_id, destination, at.unix_seconds()])
                }),
                Outcome::Failed(NextTry::At(at), message) => {
                    tx.prepare_cached(MARK_RETRY).and_then(|mut s| {
                        s.execute(params![report_id, destination, at.unix_seconds(), message])
                    })
                }
                Outcome::Failed(NextTry::GiveUp, message) => tx
                    .prepare_cached(MARK_GIVEN_UP)
                    .and_then(|mut s| s.execute(params![report_id, destination, message])),
            }
            .map_err(&error)?;
            Ok(())
        })
        .await
}

async fn mark_postgres(
    store: &PostgresStore,
    report_id: &str,
    destination: &str,
    outcome: Outcome,
) -> Result<(), StoreError> {
    let error = store.error("recording a delivery");
    let client = store.client("recording a delivery").await?;
    match outcome {
        Outcome::Sent(at) => {
            client
                .execute(
                    &postgres_sql(MARK_SENT),
                    &[&report_id, &destination, &at.unix_seconds()],
                )
                .await
        }
        Outcome::Failed(NextTry::At(at), message) => {
            client
                .execute(
                    &postgres_sql(MARK_RETRY),
                    &[&report_id, &destination, &at.unix_seconds(), &message],
                )
                .await
        }
        Outcome::Failed(NextTry::GiveUp, message) => {
            client
                .execute(
                    &postgres_sql(MARK_GIVEN_UP),
                    &[&report_id, &destination, &message],
                )
                .await
        }
    }
    .map_err(&error)?;
    Ok(())
}

type StatusRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

fn status_from(row: StatusRow) -> DeliveryStatus {
    let (report_id, domain, destination, state, tried, next_try_at, last_error, sent_at) = row;
    DeliveryStatus {
        report_id,
        domain,
        destination,
        state: DeliveryState::from_name(&state),
        attempts: attempts(tried),
        next_try_at: timestamp(next_try_at),
        last_error,
        sent_at: timestamp(sent_at),
    }
}

async fn day_deliveries_sqlite(
    store: &SqliteStore,
    day: UtcDate,
) -> Result<Vec<DeliveryStatus>, StoreError> {
    let error = store.error("reading a day's deliveries");
    store
        .read("reading a day's deliveries", move |tx| {
            tx.prepare_cached(DAY_DELIVERIES)
                .and_then(|mut s| {
                    s.query_map(params![day.day_number()], |row| {
                        Ok(status_from((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                            row.get(6)?,
                            row.get(7)?,
                        )))
                    })?
                    .collect()
                })
                .map_err(&error)
        })
        .await
}

async fn day_deliveries_postgres(
    store: &PostgresStore,
    day: UtcDate,
) -> Result<Vec<DeliveryStatus>, StoreError> {
    let error = store.error("reading a day's deliveries");
    let client = store.client("reading a day's deliveries").await?;
    let rows = client
        .query(&postgres_sql(DAY_DELIVERIES), &[&day.day_number()])
        .await
        .map_err(&error)?;
    rows.iter()
        .map(|row| {
            Ok(status_from((
                row.try_get(0).map_err(&error)?,
                row.try_get(1).map_err(&error)?,
                row.try_get(2).map_err(&error)?,
                row.try_get(3).map_err(&error)?,
                row.try_get(4).map_err(&error)?,
                row.try_get(5).map_err(&error)?,
                row.try_get(6).map_err(&error)?,
                row.try_get(7).map_err(&error)?,
            )))
        })
        .collect()
}

impl SenderStore {
    /// Puts built reports and their destinations in the outbox, all in one transaction, each
    /// delivery due at once. What is there already (the same report-id, the same report-id and
    /// destination) is left as it is, whatever its state: building a day again sends nothing
    /// twice.
    pub async fn enqueue(
        &self,
        entries: &[OutboxEntry],
        now: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => enqueue_sqlite(store, entries, now).await,
            Backend::Postgres(store) => enqueue_postgres(store, entries, now).await,
        }
    }

    /// Takes up to `limit` deliveries due at `now` (oldest first) and moves each one's next
    /// try to `lease_until`: another reporter sharing the store does not take them, and if
    /// this one stops before recording the outcome, they are due again then.
    pub async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => claim_due_sqlite(store, now, lease_until, limit).await,
            Backend::Postgres(store) => claim_due_postgres(store, now, lease_until, limit).await,
        }
    }

    /// Records that the report reached `destination` at `at` (one more attempt).
    pub async fn mark_sent(
        &self,
        report_id: &str,
        destination: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.mark(report_id, destination, Outcome::Sent(at)).await
    }

    /// Records a failed attempt with its sentence, and what follows: another try at a time,
    /// or giving up.
    pub async fn mark_failed(
        &self,
        report_id: &str,
        destination: &str,
        next: NextTry,
        error: &str,
    ) -> Result<(), StoreError> {
        self.mark(
            report_id,
            destination,
            Outcome::Failed(next, error.to_string()),
        )
        .await
    }

    async fn mark(
        &self,
        report_id: &str,
        destination: &str,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => mark_sqlite(store, report_id, destination, outcome).await,
            Backend::Postgres(store) => mark_postgres(store, report_id, destination, outcome).await,
        }
    }

    /// Every delivery of the reports built for `day`, by domain, report and destination.
    pub async fn day_deliveries(&self, day: UtcDate) -> Result<Vec<DeliveryStatus>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => day_deliveries_sqlite(store, day).await,
            Backend::Postgres(store) => day_deliveries_postgres(store, day).await,
        }
    }
}

#[cfg(test)]
mod tests;
