//! What the ACME client keeps in the store, shared by every server of one store: the account
//! per directory URL, the newest certificate per name, and the issuance leases that keep two
//! servers from ordering the same name at once.
//!
//! The private keys (the account's and each certificate's) are kept as they are: whoever can
//! read the store can read them, as whoever can read a certificate directory can. Give the
//! store's file or database role to the servers alone.

use mta_sts_core::report::Timestamp;
use rusqlite::{OptionalExtension as _, params};

use super::queries::postgres_sql;
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// A certificate kept for a name, with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    /// The name it is for, e.g. `mta-sts.example.com` (ASCII lowercase).
    pub name: String,
    /// The chain, leaf first, PEM.
    pub chain_pem: String,
    /// The leaf's private key, PEM (PKCS #8).
    pub key_pem: String,
    /// The leaf's `notBefore`.
    pub not_before: Timestamp,
    /// The leaf's `notAfter`.
    pub not_after: Timestamp,
    /// When it was stored.
    pub issued_at: Timestamp,
}

/// The first account of a directory: inserted, or nothing when one is kept already.
const INSERT_ACCOUNT: &str = "
INSERT INTO acme_account (directory, credentials, created_at) VALUES (?1, ?2, ?3)
ON CONFLICT (directory) DO NOTHING";

const SELECT_ACCOUNT: &str = "SELECT credentials FROM acme_account WHERE directory = ?1";

/// A certificate replaces the one kept only when it lasts at least as long: a server that
/// finishes an older order late never puts back a certificate another has already renewed.
const UPSERT_CERTIFICATE: &str = "
INSERT INTO acme_certificate (name, chain_pem, key_pem, not_before, not_after, issued_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (name) DO UPDATE SET
    chain_pem = excluded.chain_pem, key_pem = excluded.key_pem,
    not_before = excluded.not_before, not_after = excluded.not_after,
    issued_at = excluded.issued_at
WHERE excluded.not_after >= acme_certificate.not_after";

const SELECT_CERTIFICATE: &str = "
SELECT name, chain_pem, key_pem, not_before, not_after, issued_at
  FROM acme_certificate WHERE name = ?1";

/// A lease is taken when there is none, when the one there has expired, or when it is the
/// same holder's (extending it). The row's primary key orders concurrent claims on both
/// backends: exactly one of two claims at once inserts or updates.
const CLAIM_LEASE: &str = "
INSERT INTO acme_lease (name, holder, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE acme_lease.expires_at <= ?4 OR acme_lease.holder = excluded.holder";

const RELEASE_LEASE: &str = "DELETE FROM acme_lease WHERE name = ?1 AND holder = ?2";

type CertificateRow = (String, String, String, i64, i64, i64);

fn certificate(row: CertificateRow, store: &str) -> Result<StoredCertificate, StoreError> {
    let time = |seconds: i64, what: &str| {
        Timestamp::from_unix_seconds(seconds).ok_or_else(|| StoreError::Corrupt {
            store: store.to_string(),
            what: format!("the {what} of the certificate for {} ({seconds})", row.0),
        })
    };
    Ok(StoredCertificate {
        not_before: time(row.3, "notBefore")?,
        not_after: time(row.4, "notAfter")?,
        issued_at: time(row.5, "issue time")?,
        name: row.0,
        chain_pem: row.1,
        key_pem: row.2,
    })
}

pub(super) async fn account_sqlite(
    store: &SqliteStore,
    directory: &str,
) -> Result<Option<String>, StoreError> {
    let error = store.error("reading the ACME account");
    let directory = directory.to_string();
    store
        .read("reading the ACME account", move |tx| {
            tx.prepare_cached(SELECT_ACCOUNT)
                .and_then(|mut statement| {
                    statement
                        .query_row(params![directory], |row| row.get(0))
                        .optional()
                })
                .map_err(&error)
        })
        .await
}

pub(super) async fn account_postgres(
    store: &PostgresStore,
    directory: &str,
) -> Result<Option<String>, StoreError> {
    let error = store.error("reading the ACME account");
    let client = store.client("reading the ACME account").await?;
    client
        .query_opt(&postgres_sql(SELECT_ACCOUNT), &[&directory])
        .await
        .map_err(&error)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(&error)
}

pub(super) async fn keep_account_sqlite(
    store: &SqliteStore,
    directory: &str,
    credentials: &str,
    now: Timestamp,
) -> Result<String, StoreError> {
    let error = store.error("keeping the ACME account");
    let row = (
        directory.to_string(),
        credentials.to_string(),
        now.unix_seconds(),
    );
    store
        .write("keeping the ACME account", move |tx| {
            tx.prepare_cached(INSERT_ACCOUNT)
                .and_then(|mut statement| statement.execute(params![row.0, row.1, row.2]))
                .map_err(&error)?;
            tx.prepare_cached(SELECT_ACCOUNT)
                .and_then(|mut statement| statement.query_row(params![row.0], |r| r.get(0)))
                .map_err(&error)
        })
        .await
}

pub(super) async fn keep_account_postgres(
    store: &PostgresStore,
    directory: &str,
    credentials: &str,
    now: Timestamp,
) -> Result<String, StoreError> {
    let error = store.error("keeping the ACME account");
    let client = store.client("keeping the ACME account").await?;
    // The insert waits for a concurrent insert of the same directory to commit; the select
    // then reads whichever account was kept first.
    client
        .execute(
            &postgres_sql(INSERT_ACCOUNT),
            &[&directory, &credentials, &now.unix_seconds()],
        )
        .await
        .map_err(&error)?;
    client
        .query_one(&postgres_sql(SELECT_ACCOUNT), &[&directory])
        .await
        .map_err(&error)?
        .try_get(0)
        .map_err(&error)
}

pub(super) async fn certificate_sqlite(
    store: &SqliteStore,
    name: &str,
) -> Result<Option<StoredCertificate>, StoreError> {
    let error = store.error("reading a certificate");
    let name = name.to_ascii_lowercase();
    let url = format!("sqlite:{}", store.path().display());
    let row: Option<CertificateRow> = store
        .read("reading a certificate", move |tx| {
            tx.prepare_cached(SELECT_CERTIFICATE)
                .and_then(|mut statement| {
                    statement
                        .query_row(params![name], |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                            ))
                        })
                        .optional()
                })
                .map_err(&error)
        })
        .await?;
    row.map(|row| certificate(row, &url)).transpose()
}

pub(super) async fn certificate_postgres(
    store: &PostgresStore,
    name: &str,
) -> Result<Option<StoredCertificate>, StoreError> {
    let error = store.error("reading a certificate");
    let client = store.client("reading a certificate").await?;
    let Some(row) = client
        .query_opt(
            &postgres_sql(SELECT_CERTIFICATE),
            &[&name.to_ascii_lowercase()],
        )
        .await
        .map_err(&error)?
    else {
        return Ok(None);
    };
    let row: CertificateRow = (
        row.try_get(0).map_err(&error)?,
        row.try_get(1).map_err(&error)?,
        row.try_get(2).map_err(&error)?,
        row.try_get(3).map_err(&error)?,
        row.try_get(4).map_err(&error)?,
        row.try_get(5).map_err(&error)?,
    );
    certificate(row, store.url()).map(Some)
}

pub(super) async fn keep_certificate_sqlite(
    store: &SqliteStore,
    kept: &StoredCertificate,
) -> Result<bool, StoreError> {
    let error = store.error("keeping a certificate");
    let kept = kept.clone();
    store
        .write("keeping a certificate", move |tx| {
            let changed = tx
                .prepare_cached(UPSERT_CERTIFICATE)
                .and_then(|mut statement| {
                    statement.execute(params![
                        kept.name.to_ascii_lowercase(),
                        kept.chain_pem,
                        kept.key_pem,
                        kept.not_before.unix_seconds(),
                        kept.not_after.unix_seconds(),
                        kept.issued_at.unix_seconds()
                    ])
                })
                .map_err(&error)?;
            Ok(changed == 1)
        })
        .await
}

pub(super) async fn keep_certificate_postgres(
    store: &PostgresStore,
    kept: &StoredCertificate,
) -> Result<bool, StoreError> {
    let error = store.error("keeping a certificate");
    let client = store.client("keeping a certificate").await?;
    let changed = client
        .execute(
            &postgres_sql(UPSERT_CERTIFICATE),
            &[
                &kept.name.to_ascii_lowercase(),
                &kept.chain_pem,
                &kept.key_pem,
                &kept.not_before.unix_seconds(),
                &kept.not_after.unix_seconds(),
                &kept.issued_at.unix_seconds(),
            ],
        )
        .await
        .map_err(&error)?;
    Ok(changed == 1)
}

pub(super) async fn claim_lease_sqlite(
    store: &SqliteStore,
    name: &str,
    holder: &str,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool, StoreError> {
    let error = store.error("claiming an issuance lease");
    let row = (
        name.to_ascii_lowercase(),
        holder.to_string(),
        until.unix_seconds(),
        now.unix_seconds(),
    );
    store
        .write("claiming an issuance lease", move |tx| {
            let changed = tx
                .prepare_cached(CLAIM_LEASE)
                .and_then(|mut statement| statement.execute(params![row.0, row.1, row.2, row.3]))
                .map_err(&error)?;
            Ok(changed == 1)
        })
        .await
}

pub(super) async fn claim_lease_postgres(
    store: &PostgresStore,
    name: &str,
    holder: &str,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool, StoreError> {
    let error = store.error("claiming an issuance lease");
    let client = store.client("claiming an issuance lease").await?;
    let changed = client
        .execute(
            &postgres_sql(CLAIM_LEASE),
            &[
                &name.to_ascii_lowercase(),
                &holder,
                &until.unix_seconds(),
                &now.unix_seconds(),
            ],
        )
        .await
        .map_err(&error)?;
    Ok(changed == 1)
}

pub(super) async fn release_lease_sqlite(
    store: &SqliteStore,
    name: &str,
    holder: &str,
) -> Result<(), StoreError> {
    let error = store.error("releasing an issuance lease");
    let row = (name.to_ascii_lowercase(), holder.to_string());
    store
        .write("releasing an issuance lease", move |tx| {
            tx.prepare_cached(RELEASE_LEASE)
                .and_then(|mut statement| statement.execute(params![row.0, row.1]))
                .map_err(&error)?;
            Ok(())
        })
        .await
}

pub(super) async fn release_lease_postgres(
    store: &PostgresStore,
    name: &str,
    holder: &str,
) -> Result<(), StoreError> {
    let error = store.error("releasing an issuance lease");
    let client = store.client("releasing an issuance lease").await?;
    client
        .execute(
            &postgres_sql(RELEASE_LEASE),
            &[&name.to_ascii_lowercase(), &holder],
        )
        .await
        .map_err(&error)?;
    Ok(())
}
