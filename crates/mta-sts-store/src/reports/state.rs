//! Two small tables beside the reports: the alerts sent (one per domain, condition and
//! period, whichever server sends it) and a value per domain and name (e.g. the advisor's last
//! verdict).

use mta_sts_core::report::Timestamp;
use rusqlite::{OptionalExtension as _, params};

use super::domain_key;
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// The primary key decides: of several inserts of one (domain, condition, period), exactly one
/// inserts a row, on either backend, however many processes race.
const CLAIM: &str = "
INSERT INTO alert_sent (domain, condition, period, sent_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (domain, condition, period) DO NOTHING";

/// The first value of a (domain, name): inserted, or nothing when there is one already.
const FIRST_VALUE: &str = "
INSERT INTO domain_state (domain, name, value, updated_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (domain, name) DO NOTHING";

const UPDATE_VALUE: &str = "
UPDATE domain_state SET value = ?3, updated_at = ?4 WHERE domain = ?1 AND name = ?2";

pub(super) async fn claim_alert_sqlite(
    store: &SqliteStore,
    domain: &str,
    condition: &str,
    period: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let error = store.error("recording an alert");
    let row = (
        domain_key(domain),
        condition.to_string(),
        period.to_string(),
        now.unix_seconds(),
    );
    store
        .write("recording an alert", move |tx| {
            let inserted = tx
                .prepare_cached(CLAIM)
                .and_then(|mut statement| statement.execute(params![row.0, row.1, row.2, row.3]))
                .map_err(&error)?;
            Ok(inserted == 1)
        })
        .await
}

pub(super) async fn claim_alert_postgres(
    store: &PostgresStore,
    domain: &str,
    condition: &str,
    period: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let error = store.error("recording an alert");
    let client = store.client("recording an alert").await?;
    let inserted = client
        .execute(
            &super::queries::postgres_sql(CLAIM),
            &[
                &domain_key(domain),
                &condition,
                &period,
                &now.unix_seconds(),
            ],
        )
        .await
        .map_err(&error)?;
    Ok(inserted == 1)
}

pub(super) async fn swap_sqlite(
    store: &SqliteStore,
    domain: &str,
    name: &str,
    value: &str,
    now: Timestamp,
) -> Result<Option<String>, StoreError> {
    let error = store.error("storing a domain's state");
    let row = (
        domain_key(domain),
        name.to_string(),
        value.to_string(),
        now.unix_seconds(),
    );
    // The write transaction is immediate: no other writer runs between the read and the update.
    store
        .write("storing a domain's state", move |tx| {
            let previous: Option<String> = tx
                .prepare_cached("SELECT value FROM domain_state WHERE domain = ?1 AND name = ?2")
                .and_then(|mut statement| {
                    statement
                        .query_row(params![row.0, row.1], |r| r.get(0))
                        .optional()
                })
                .map_err(&error)?;
            let sql = if previous.is_some() {
                UPDATE_VALUE
            } else {
                FIRST_VALUE
            };
            tx.prepare_cached(sql)
                .and_then(|mut statement| statement.execute(params![row.0, row.1, row.2, row.3]))
                .map_err(&error)?;
            Ok(previous)
        })
        .await
}

pub(super) async fn swap_postgres(
    store: &PostgresStore,
    domain: &str,
    name: &str,
    value: &str,
    now: Timestamp,
) -> Result<Option<String>, StoreError> {
    use super::queries::postgres_sql;
    let error = store.error("storing a domain's state");
    let domain = domain_key(domain);
    let now = now.unix_seconds();
    let mut client = store.client("storing a domain's state").await?;
    let tx = client.transaction().await.map_err(&error)?;
    // The insert waits for a concurrent insert of the same key to commit or roll back; when it
    // inserts nothing, the row exists and the lock taken below orders the swaps.
    let inserted = tx
        .execute(&postgres_sql(FIRST_VALUE), &[&domain, &name, &value, &now])
        .await
        .map_err(&error)?;
    let previous = if inserted == 1 {
        None
    } else {
        let previous: String = tx
            .query_one(
                "SELECT value FROM domain_state WHERE domain = $1 AND name = $2 FOR UPDATE",
                &[&domain, &name],
            )
            .await
            .map_err(&error)?
            .try_get(0)
            .map_err(&error)?;
        tx.execute(&postgres_sql(UPDATE_VALUE), &[&domain, &name, &value, &now])
            .await
            .map_err(&error)?;
        Some(previous)
    };
    tx.commit().await.map_err(&error)?;
    Ok(previous)
}
