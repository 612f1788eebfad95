//! Who fetches a hosted policy: per policy domain and fetching organisation (named by the
//! server, e.g. from the client address's PTR), the number of fetches and the first and last
//! fetch time. The server adds its counts in batches; several servers sharing the store add
//! to the same rows.

use mta_sts_core::report::Timestamp;
use rusqlite::params;

use super::domain_key;
use super::queries::postgres_sql;
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// Fetches of one domain's policy by one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFetches {
    /// The policy domain (lowercase, no final dot once stored).
    pub domain: String,
    /// The fetching organisation (`Google`, `Microsoft`, a PTR parent domain, or `unknown`).
    pub organization: String,
    /// How many fetches.
    pub fetches: u64,
    /// The first fetch counted.
    pub first_fetch: Timestamp,
    /// The last fetch counted.
    pub last_fetch: Timestamp,
}

const ADD_SQLITE: &str = "
INSERT INTO policy_fetch (domain, organization, fetches, first_fetch, last_fetch)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (domain, organization) DO UPDATE SET
    fetches = policy_fetch.fetches + excluded.fetches,
    first_fetch = min(policy_fetch.first_fetch, excluded.first_fetch),
    last_fetch = max(policy_fetch.last_fetch, excluded.last_fetch)";

const ADD_POSTGRES: &str = "
INSERT INTO policy_fetch AS f (domain, organization, fetches, first_fetch, last_fetch)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (domain, organization) DO UPDATE SET
    fetches = f.fetches + EXCLUDED.fetches,
    first_fetch = LEAST(f.first_fetch, EXCLUDED.first_fetch),
    last_fetch = GREATEST(f.last_fetch, EXCLUDED.last_fetch)";

const LIST: &str = "
SELECT domain, organization, fetches, first_fetch, last_fetch FROM policy_fetch
 WHERE domain = ?1 ORDER BY last_fetch DESC, organization";

type Row = (String, String, i64, i64, i64);

fn rows_of(batch: &[PolicyFetches]) -> Vec<Row> {
    let mut rows: Vec<Row> = batch
        .iter()
        .map(|fetches| {
            (
                domain_key(&fetches.domain),
                fetches.organization.clone(),
                i64::try_from(fetches.fetches).unwrap_or(i64::MAX),
                fetches.first_fetch.unix_seconds(),
                fetches.last_fetch.unix_seconds(),
            )
        })
        .collect();
    // Rows locked in key order, so two servers adding batches wait rather than deadlock.
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    rows
}

fn fetches_of(row: Row) -> PolicyFetches {
    PolicyFetches {
        domain: row.0,
        organization: row.1,
        fetches: u64::try_from(row.2).unwrap_or(0),
        first_fetch: Timestamp::from_unix_seconds_saturating(row.3),
        last_fetch: Timestamp::from_unix_seconds_saturating(row.4),
    }
}

pub(super) async fn add_sqlite(
    store: &SqliteStore,
    batch: &[PolicyFetches],
) -> Result<(), StoreError> {
    let error = store.error("counting policy fetches");
    let rows = rows_of(batch);
    store
        .write("counting policy fetches", move |tx| {
            let mut statement = tx.prepare_cached(ADD_SQLITE).map_err(&error)?;
            for row in rows {
                statement
                    .execute(params![row.0, row.1, row.2, row.3, row.4])
                    .map_err(&error)?;
            }
            Ok(())
        })
        .await
}

pub(super) async fn add_postgres(
    store: &PostgresStore,
    batch: &[PolicyFetches],
) -> Result<(), StoreError> {
    let error = store.error("counting policy fetches");
    let rows = rows_of(batch);
    let mut client = store.client("counting policy fetches").await?;
    let tx = client.transaction().await.map_err(&error)?;
    let statement = tx.prepare_cached(ADD_POSTGRES).await.map_err(&error)?;
    for row in rows {
        tx.execute(&statement, &[&row.0, &row.1, &row.2, &row.3, &row.4])
            .await
            .map_err(&error)?;
    }
    tx.commit().await.map_err(&error)
}

pub(super) async fn list_sqlite(
    store: &SqliteStore,
    domain: &str,
) -> Result<Vec<PolicyFetches>, StoreError> {
    let error = store.error("reading policy fetches");
    let domain = domain_key(domain);
    store
        .read("reading policy fetches", move |tx| {
            let mut statement = tx.prepare_cached(LIST).map_err(&error)?;
            let rows = statement
                .query_map(params![domain], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .and_then(|rows| rows.collect::<Result<Vec<Row>, _>>())
                .map_err(&error)?;
            Ok(rows.into_iter().map(fetches_of).collect())
        })
        .await
}

pub(super) async fn list_postgres(
    store: &PostgresStore,
    domain: &str,
) -> Result<Vec<PolicyFetches>, StoreError> {
    let error = store.error("reading policy fetches");
    let client = store.client("reading policy fetches").await?;
    let rows = client
        .query(&postgres_sql(LIST), &[&domain_key(domain)])
        .await
        .map_err(&error)?;
    rows.into_iter()
        .map(|row| {
            Ok(fetches_of((
                row.try_get(0).map_err(&error)?,
                row.try_get(1).map_err(&error)?,
                row.try_get(2).map_err(&error)?,
                row.try_get(3).map_err(&error)?,
                row.try_get(4).map_err(&error)?,
            )))
        })
        .collect()
}
