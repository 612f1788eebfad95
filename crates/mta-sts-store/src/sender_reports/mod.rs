//! The sender side's store (`mta-sts tlsrpt`): what the collector counted per UTC day,
//! recipient domain, TLSRPT record and policy, read back as the [`SessionCounts`] a day's
//! RFC 8460 reports are built from.
//!
//! - [`SenderStore::add`] adds a [`CountBatch`] (the collector's aggregate of many datagrams) in
//!   one transaction: every count is added to what is stored (upserts that add), so collectors
//!   on several machines can share one PostgreSQL database, which replaces tlsrpt-fetcher's
//!   pulls over SSH. A failed call wrote nothing: the caller keeps the batch and tries again.
//! - [`SenderStore::day_counts`] gives a day's counts, [`SenderStore::day_figures`] what the
//!   collectors received that day, [`SenderStore::days`] the days with data.
//! - The outbox ([`outbox`]): [`SenderStore::enqueue`] the reports built for a day (again and
//!   again: nothing is sent twice), [`SenderStore::claim_due`] what is due, then
//!   [`SenderStore::mark_sent`] or [`SenderStore::mark_failed`]; [`SenderStore::day_deliveries`]
//!   for status.
//! - Retention ([`retention`]): [`SenderStore::prune_days`] deletes old days whole (counts,
//!   figures, outbox), keeping a day whose reports are still being delivered.
//! - SQLite keeps this schema in a file of its own ([`DEFAULT_SENDER_SQLITE_PATH`]); PostgreSQL
//!   keeps it beside the other schemas in one database.

pub mod outbox;
pub mod retention;
mod schema;

use std::collections::HashMap;

use mta_sts_core::SessionCounts;
use mta_sts_core::report::{AppliedPolicy, FailureDetail, PolicyResult, PolicyType, ResultType};
use mta_sts_core::time::UtcDate;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{StoreError, StoreOptions, StoreUrl};

pub use outbox::{
    DeliveryState, DeliveryStatus, DueDelivery, Enqueued, NextTry, OutboxEntry, OutboxReport,
};
pub use retention::Pruned;
pub use schema::SCHEMA;

/// The SQLite file of the sender store when none is named: beside the report store's
/// [`crate::DEFAULT_SQLITE_PATH`], a file of its own.
pub const DEFAULT_SENDER_SQLITE_PATH: &str = "/var/lib/mta-sts/tlsrpt-sender.db";

/// The sender store, on SQLite or PostgreSQL: `Send + Sync`, cheap to clone.
#[derive(Debug, Clone)]
pub struct SenderStore {
    backend: Backend,
    url: StoreUrl,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// Counts to add to the store in one transaction: what a collector aggregated since its last
/// flush.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountBatch {
    /// Session counts, each for one day; two entries with the same day, domain, record and
    /// policy are both added.
    pub counts: Vec<DayCounts>,
    /// What the collector received, per day.
    pub figures: Vec<DayFigures>,
}

impl CountBatch {
    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.figures.is_empty()
    }
}

/// One day's counts for one recipient domain, TLSRPT record and policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCounts {
    /// The UTC day the sessions were counted on (the collector's clock at receipt).
    pub day: UtcDate,
    /// The counts: `summary` holds the sessions (successful and failed), `failure_details`
    /// each distinct failure with how often it was seen.
    pub counts: SessionCounts,
}

/// What collectors received on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayFigures {
    /// The day.
    pub day: UtcDate,
    /// Datagrams received (counted, malformed and lost together).
    pub datagrams: u64,
    /// Datagrams that could not be read, so were not counted.
    pub malformed: u64,
    /// Datagrams not counted because the collector's buffer was full while the store was slow.
    pub lost: u64,
}

impl DayFigures {
    /// Nothing received on `day`.
    pub fn zero(day: UtcDate) -> DayFigures {
        DayFigures {
            day,
            datagrams: 0,
            malformed: 0,
            lost: 0,
        }
    }
}

/// The `policy` object as kept in `sender_count.policy` (the RFC 8460 §4.4 keys).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PolicyRow {
    policy_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    policy_string: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mx_host: Vec<String>,
}

/// A failure-details object without its count, as kept in `sender_failure.detail`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FailureRow {
    result_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sending_mta_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receiving_mx_hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receiving_mx_helo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receiving_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    additional_information: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_reason_code: Option<String>,
}

/// One count row ready for the SQL, with its failures.
struct PreparedCount {
    day: i64,
    key: Vec<u8>,
    domain: String,
    tlsrpt_record: String,
    policy: String,
    total: i64,
    failed: i64,
    failures: Vec<PreparedFailure>,
}

struct PreparedFailure {
    detail_key: Vec<u8>,
    detail: String,
    sessions: i64,
}

struct PreparedFigures {
    day: i64,
    datagrams: i64,
    malformed: i64,
    lost: i64,
}

/// One text for both backends: SQLite reads `$1` as a parameter numbered by first appearance,
/// and each appears here in order.
const ADD_COUNT: &str = "
INSERT INTO sender_count (day, key, domain, tlsrpt_record, policy, total, failed)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (day, key) DO UPDATE
   SET total = sender_count.total + excluded.total,
       failed = sender_count.failed + excluded.failed";

const ADD_FAILURE: &str = "
INSERT INTO sender_failure (day, key, detail_key, detail, sessions) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (day, key, detail_key) DO UPDATE
   SET sessions = sender_failure.sessions + excluded.sessions";

const ADD_FIGURES: &str = "
INSERT INTO sender_day (day, datagrams, malformed, lost) VALUES ($1, $2, $3, $4)
ON CONFLICT (day) DO UPDATE
   SET datagrams = sender_day.datagrams + excluded.datagrams,
       malformed = sender_day.malformed + excluded.malformed,
       lost = sender_day.lost + excluded.lost";

const DAY_COUNTS: &str = "
SELECT key, domain, tlsrpt_record, policy, total, failed FROM sender_count WHERE day = $1
 ORDER BY domain, tlsrpt_record, policy";

const DAY_FAILURES: &str = "
SELECT key, detail, sessions FROM sender_failure WHERE day = $1 ORDER BY key, detail";

const DAY_FIGURES: &str = "
SELECT datagrams, malformed, lost FROM sender_day WHERE day = $1";

const DAYS: &str = "
SELECT day FROM sender_count UNION SELECT day FROM sender_day ORDER BY day";

/// A count as SQL stores it: counts past `i64::MAX` (never reached) stay at the maximum.
fn sql_count(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A count read back: a negative one (never written) reads as 0.
fn read_count(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

fn sha256(parts: &[&str]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().to_vec()
}

// Serializing a struct of strings cannot fail (serde_json fails only on maps with non-string
// keys and on custom serializers that fail): the empty fallbacks are never taken.
fn policy_json(policy: &AppliedPolicy) -> String {
    let row = PolicyRow {
        policy_type: policy.policy_type.as_str().to_string(),
        policy_string: policy.policy_string.clone(),
        policy_domain: policy.policy_domain.clone(),
        mx_host: policy.mx_host.clone(),
    };
    serde_json::to_string(&row).unwrap_or_default()
}

fn failure_json(failure: &FailureDetail) -> String {
    let row = FailureRow {
        result_type: failure.result_type.as_str().to_string(),
        sending_mta_ip: failure.sending_mta_ip.clone(),
        receiving_mx_hostname: failure.receiving_mx_hostname.clone(),
        receiving_mx_helo: failure.receiving_mx_helo.clone(),
        receiving_ip: failure.receiving_ip.clone(),
        additional_information: failure.additional_information.clone(),
        failure_reason_code: failure.failure_reason_code.clone(),
    };
    serde_json::to_string(&row).unwrap_or_default()
}

/// The batch's rows, in (day, key) order, so two collectors adding to the same rows lock them
/// in the same order (PostgreSQL): they wait for each other instead of deadlocking.
fn prepare(batch: &CountBatch) -> (Vec<PreparedCount>, Vec<PreparedFigures>) {
    let mut counts: Vec<PreparedCount> = Vec::with_capacity(batch.counts.len());
    for entry in &batch.counts {
        let counts_of = &entry.counts;
        let policy = policy_json(&counts_of.result.policy);
        let key = sha256(&[&counts_of.domain, &counts_of.tlsrpt_record, &policy]);
        let summary = counts_of.result.summary;
        let mut failures = Vec::with_capacity(counts_of.result.failure_details.len());
        for failure in &counts_of.result.failure_details {
            let detail = failure_json(failure);
            failures.push(PreparedFailure {
                detail_key: sha256(&[&detail]),
                detail,
                sessions: sql_count(failure.failed_session_count),
            });
        }
        failures.sort_by(|a, b| a.detail_key.cmp(&b.detail_key));
        counts.push(PreparedCount {
            day: entry.day.day_number(),
            key,
            domain: counts_of.domain.clone(),
            tlsrpt_record: counts_of.tlsrpt_record.clone(),
            policy,
            total: sql_count(
                summary
                    .total_successful_session_count
                    .saturating_add(summary.total_failure_session_count),
            ),
            failed: sql_count(summary.total_failure_session_count),
            failures,
        });
    }
    counts.sort_by(|a, b| (a.day, &a.key).cmp(&(b.day, &b.key)));
    let mut figures: Vec<PreparedFigures> = batch
        .figures
        .iter()
        .map(|f| PreparedFigures {
            day: f.day.day_number(),
            datagrams: sql_count(f.datagrams),
            malformed: sql_count(f.malformed),
            lost: sql_count(f.lost),
        })
        .collect();
    figures.sort_by_key(|f| f.day);
    (counts, figures)
}

/// A stored row read back as [`SessionCounts`].
struct CountRow {
    key: Vec<u8>,
    domain: String,
    tlsrpt_record: String,
    policy: String,
    total: i64,
    failed: i64,
}

fn corrupt(store: &StoreUrl, what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        store: store.to_string(),
        what: format!("{what} of the sender store ({reason})"),
    }
}

fn assemble(
    store: &StoreUrl,
    rows: Vec<CountRow>,
    failures: Vec<(Vec<u8>, String, i64)>,
) -> Result<Vec<SessionCounts>, StoreError> {
    let mut by_key: HashMap<Vec<u8>, Vec<FailureDetail>> = HashMap::new();
    for (key, detail, sessions) in failures {
        let row: FailureRow =
            serde_json::from_str(&detail).map_err(|e| corrupt(store, "a failure detail", e))?;
        by_key.entry(key).or_default().push(FailureDetail {
            result_type: ResultType::from_wire(&row.result_type),
            sending_mta_ip: row.sending_mta_ip,
            receiving_mx_hostname: row.receiving_mx_hostname,
            receiving_mx_helo: row.receiving_mx_helo,
            receiving_ip: row.receiving_ip,
            failed_session_count: read_count(sessions),
            additional_information: row.additional_information,
            failure_reason_code: row.failure_reason_code,
        });
    }
    rows.into_iter()
        .map(|row| {
            let policy: PolicyRow =
                serde_json::from_str(&row.policy).map_err(|e| corrupt(store, "a policy", e))?;
            let total = read_count(row.total);
            let failed = read_count(row.failed);
            Ok(SessionCounts {
                domain: row.domain,
                tlsrpt_record: row.tlsrpt_record,
                result: PolicyResult {
                    policy: AppliedPolicy {
                        policy_type: PolicyType::from_wire(&policy.policy_type),
                        policy_string: policy.policy_string,
                        policy_domain: policy.policy_domain,
                        mx_host: policy.mx_host,
                    },
                    summary: mta_sts_core::report::Summary {
                        total_successful_session_count: total.saturating_sub(failed),
                        total_failure_session_count: failed,
                    },
                    failure_details: by_key.remove(&row.key).unwrap_or_default(),
                },
            })
        })
        .collect()
}

impl SenderStore {
    /// Opens (or creates) the store at `url` and brings it to the latest schema version.
    pub async fn open(url: &StoreUrl) -> Result<SenderStore, StoreError> {
        SenderStore::open_with(url, StoreOptions::default()).await
    }

    /// Opens the store at `url` with `options` (timeouts, pool size).
    pub async fn open_with(
        url: &StoreUrl,
        options: StoreOptions,
    ) -> Result<SenderStore, StoreError> {
        let backend = match url {
            StoreUrl::Sqlite(path) => {
                Backend::Sqlite(SqliteStore::open(path, &SCHEMA, options.sqlite).await?)
            }
            StoreUrl::Postgres(text) => {
                Backend::Postgres(PostgresStore::open(text, &SCHEMA, options.postgres).await?)
            }
        };
        Ok(SenderStore {
            backend,
            url: url.clone(),
        })
    }

    /// The default store: `sqlite:` [`DEFAULT_SENDER_SQLITE_PATH`].
    pub fn default_url() -> StoreUrl {
        StoreUrl::Sqlite(DEFAULT_SENDER_SQLITE_PATH.into())
    }

    /// Where the store is.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// Adds `batch` to the stored counts in one transaction. When this returns Ok, all of it is
    /// stored (durably, with SQLite's default synchronous mode); when it fails, none of it is,
    /// and the caller may add the same batch again later without counting anything twice.
    pub async fn add(&self, batch: &CountBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (counts, figures) = prepare(batch);
        match &self.backend {
            Backend::Sqlite(store) => {
                let error = store.error("adding session counts");
                store
                    .write("adding session counts", move |tx| {
                        let mut add_count = tx.prepare_cached(ADD_COUNT).map_err(&error)?;
                        let mut add_failure = tx.prepare_cached(ADD_FAILURE).map_err(&error)?;
                        for c in &counts {
                            add_count
                                .execute(params![
                                    c.day,
                                    c.key,
                                    c.domain,
                                    c.tlsrpt_record,
                                    c.policy,
                                    c.total,
                                    c.failed
                                ])
                                .map_err(&error)?;
                            for f in &c.failures {
                                add_failure
                                    .execute(params![
                                        c.day,
                                        c.key,
                                        f.detail_key,
                                        f.detail,
                                        f.sessions
                                    ])
                                    .map_err(&error)?;
                            }
                        }
                        let mut add_figures = tx.prepare_cached(ADD_FIGURES).map_err(&error)?;
                        for f in &figures {
                            add_figures
                                .execute(params![f.day, f.datagrams, f.malformed, f.lost])
                                .map_err(&error)?;
                        }
                        Ok(())
                    })
                    .await
            }
            Backend::Postgres(store) => {
                let error = store.error("adding session counts");
                let mut client = store.client("adding session counts").await?;
                let tx = client.transaction().await.map_err(&error)?;
                let add_count = tx.prepare(ADD_COUNT).await.map_err(&error)?;
                let add_failure = tx.prepare(ADD_FAILURE).await.map_err(&error)?;
                let add_figures = tx.prepare(ADD_FIGURES).await.map_err(&error)?;
                for c in &counts {
                    tx.execute(
                        &add_count,
                        &[
                            &c.day,
                            &c.key,
                            &c.domain,
                            &c.tlsrpt_record,
                            &c.policy,
                            &c.total,
                            &c.failed,
                        ],
                    )
                    .await
                    .map_err(&error)?;
                    for f in &c.failures {
                        tx.execute(
                            &add_failure,
                            &[&c.day, &c.key, &f.detail_key, &f.detail, &f.sessions],
                        )
                        .await
                        .map_err(&error)?;
                    }
                }
                for f in &figures {
                    tx.execute(&add_figures, &[&f.day, &f.datagrams, &f.malformed, &f.lost])
                        .await
                        .map_err(&error)?;
                }
                tx.commit().await.map_err(&error)
            }
        }
    }

    /// The counts of `day`, one [`SessionCounts`] per (domain, TLSRPT record, policy), ordered
    /// by domain, record and policy; each one's failures ordered by their stored form.
    pub async fn day_counts(&self, day: UtcDate) -> Result<Vec<SessionCounts>, StoreError> {
        let day = day.day_number();
        let (rows, failures) = match &self.backend {
            Backend::Sqlite(store) => {
                let error = store.error("reading a day's session counts");
                store
                    .read("reading a day's session counts", move |tx| {
                        let rows = tx
                            .prepare_cached(DAY_COUNTS)
                            .and_then(|mut statement| {
                                statement
                                    .query_map([day], |r| {
                                        Ok(CountRow {
                                            key: r.get(0)?,
                                            domain: r.get(1)?,
                                            tlsrpt_record: r.get(2)?,
                                            policy: r.get(3)?,
                                            total: r.get(4)?,
                                            failed: r.get(5)?,
                                        })
                                    })?
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .map_err(&error)?;
                        let failures = tx
                            .prepare_cached(DAY_FAILURES)
                            .and_then(|mut statement| {
                                statement
                                    .query_map([day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .map_err(&error)?;
                        Ok((rows, failures))
                    })
                    .await?
            }
            Backend::Postgres(store) => {
                let error = store.error("reading a day's session counts");
                let mut client = store.client("reading a day's session counts").await?;
                // One snapshot for both reads: a flush between them cannot split a count from
                // its failures.
                let tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await
                    .map_err(&error)?;
                let rows = tx
                    .query(DAY_COUNTS, &[&day])
                    .await
                    .map_err(&error)?
                    .into_iter()
                    .map(|r| {
                        Ok(CountRow {
                            key: r.try_get(0)?,
                            domain: r.try_get(1)?,
                            tlsrpt_record: r.try_get(2)?,
                            policy: r.try_get(3)?,
                            total: r.try_get(4)?,
                            failed: r.try_get(5)?,
                        })
                    })
                    .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                    .map_err(&error)?;
                let failures = tx
                    .query(DAY_FAILURES, &[&day])
                    .await
                    .map_err(&error)?
                    .into_iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                    .map_err(&error)?;
                tx.commit().await.map_err(&error)?;
                (rows, failures)
            }
        };
        assemble(&self.url, rows, failures)
    }

    /// What the collectors received on `day` (zeros for a day without any).
    pub async fn day_figures(&self, day: UtcDate) -> Result<DayFigures, StoreError> {
        let number = day.day_number();
        let row: Option<(i64, i64, i64)> = match &self.backend {
            Backend::Sqlite(store) => {
                let error = store.error("reading a day's collector figures");
                store
                    .read("reading a day's collector figures", move |tx| {
                        use rusqlite::OptionalExtension as _;
                        tx.prepare_cached(DAY_FIGURES)
                            .and_then(|mut statement| {
                                statement
                                    .query_row([number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                                    .optional()
                            })
                            .map_err(&error)
                    })
                    .await?
            }
            Backend::Postgres(store) => {
                let error = store.error("reading a day's collector figures");
                let client = store.client("reading a day's collector figures").await?;
                match client
                    .query_opt(DAY_FIGURES, &[&number])
                    .await
                    .map_err(&error)?
                {
                    Some(r) => Some((
                        r.try_get(0).map_err(&error)?,
                        r.try_get(1).map_err(&error)?,
                        r.try_get(2).map_err(&error)?,
                    )),
                    None => None,
                }
            }
        };
        Ok(match row {
            Some((datagrams, malformed, lost)) => DayFigures {
                day,
                datagrams: read_count(datagrams),
                malformed: read_count(malformed),
                lost: read_count(lost),
            },
            None => DayFigures::zero(day),
        })
    }

    /// The days with counts or collector figures, oldest first.
    pub async fn days(&self) -> Result<Vec<UtcDate>, StoreError> {
        let numbers: Vec<i64> = match &self.backend {
            Backend::Sqlite(store) => {
                let error = store.error("listing the days with session counts");
                store
                    .read("listing the days with session counts", move |tx| {
                        tx.prepare_cached(DAYS)
                            .and_then(|mut statement| {
                                statement
                                    .query_map([], |r| r.get(0))?
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .map_err(&error)
                    })
                    .await?
            }
            Backend::Postgres(store) => {
                let error = store.error("listing the days with session counts");
                let client = store.client("listing the days with session counts").await?;
                client
                    .query(DAYS, &[])
                    .await
                    .map_err(&error)?
                    .into_iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(&error)?
            }
        };
        numbers
            .into_iter()
            .map(|n| {
                UtcDate::from_day_number(n).ok_or_else(|| corrupt(&self.url, "a day number", n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
