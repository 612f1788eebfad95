//! Migrations with a recorded schema version, the same way on both backends.
//!
//! A [`Schema`] is a list of [`Migration`]s, each with its SQL for SQLite and for PostgreSQL.
//! Opening a store applies the migrations it has not seen yet, in one transaction, and records
//! the version reached; a store at a version newer than this build knows is refused and left
//! untouched, so an older mta-sts never writes into a layout it does not understand.
//!
//! - SQLite: the version is `PRAGMA user_version` and the file is marked with the schema's
//!   `PRAGMA application_id`, the scheme the daemon's policy cache has always used. A file with
//!   another application id, or tables but no id, is another program's and is refused.
//! - PostgreSQL: the table `mta_sts_schema` holds one row per schema (name, version). Migrations
//!   take a transaction-scoped advisory lock first, so several processes starting at once
//!   migrate one after the other, and the later ones find the work done.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::StoreError;

/// The advisory lock every mta-sts migration on PostgreSQL holds ("MTSS").
const POSTGRES_MIGRATION_LOCK: i64 = 0x4d54_5353;

/// A set of tables and the migrations that build them, version by version.
#[derive(Debug)]
pub struct Schema {
    /// Its name, e.g. `reports`: the key of its row in PostgreSQL's `mta_sts_schema`, and how
    /// errors name it.
    pub name: &'static str,
    /// SQLite's `PRAGMA application_id` for a file holding this schema: four ASCII letters read
    /// as a big-endian number, e.g. 0x4d54_5353 ("MTSS").
    pub application_id: i64,
    /// The migrations, versions 1, 2, 3, ... in order.
    pub migrations: &'static [Migration],
}

/// One step from version `version - 1` to `version`.
#[derive(Debug)]
pub struct Migration {
    /// The version this step reaches; the first is 1.
    pub version: i64,
    /// What it does, for people.
    pub description: &'static str,
    /// Its SQL for SQLite (several statements allowed).
    pub sqlite: &'static str,
    /// Its SQL for PostgreSQL (several statements allowed).
    pub postgres: &'static str,
}

/// What opening a store did to its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The version found (0: a new store).
    pub from: i64,
    /// The version now recorded.
    pub to: i64,
}

/// What an SQLite file holds, read from its header without writing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteState {
    /// An empty file (or none yet): the schema is to be created.
    Empty,
    /// This schema, at this version (not newer than this build knows).
    Version(i64),
}

impl Schema {
    /// The newest version: the last migration's (0 without migrations).
    pub fn latest(&self) -> i64 {
        self.migrations.last().map_or(0, |m| m.version)
    }

    /// Reads what `connection`'s file holds, without writing anything: a new file, or this
    /// schema at a version this build can migrate from. Another program's file and a newer
    /// version are refused.
    pub fn check_sqlite(
        &self,
        connection: &Connection,
        path: &Path,
    ) -> Result<SqliteState, StoreError> {
        let store = || format!("sqlite:{}", path.display());
        let header = connection.query_row(
            "SELECT application_id, user_version FROM pragma_application_id, pragma_user_version",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
        );
        let (application_id, version) = match header {
            Ok(header) => header,
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
                return Err(StoreError::NotOurs {
                    store: store(),
                    schema: self.name,
                    reason: "the file is not an SQLite database".into(),
                });
            }
            Err(source) => {
                return Err(self.sqlite_error(path, "reading the schema version", source));
            }
        };
        if application_id == 0 && version == 0 {
            let objects: i64 = connection
                .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
                .map_err(|source| self.sqlite_error(path, "reading the schema", source))?;
            if objects > 0 {
                return Err(StoreError::NotOurs {
                    store: store(),
                    schema: self.name,
                    reason: format!("it is another program's database ({objects} schema objects)"),
                });
            }
            return Ok(SqliteState::Empty);
        }
        if application_id != self.application_id {
            return Err(StoreError::NotOurs {
                store: store(),
                schema: self.name,
                reason: format!(
                    "its application_id is 0x{application_id:08x}, not 0x{:08x}",
                    self.application_id
                ),
            });
        }
        if version > self.latest() {
            return Err(StoreError::NewerSchema {
                store: store(),
                schema: self.name,
                found: version,
                supported: self.latest(),
            });
        }
        Ok(SqliteState::Version(version))
    }

    /// Brings `connection`'s file to [`Schema::latest`]: checks it ([`Schema::check_sqlite`]),
    /// then applies the missing migrations and records the version in one immediate
    /// transaction, so an interrupted migration leaves the file as it was and two processes
    /// opening a new file at once migrate it once.
    pub fn migrate_sqlite(
        &self,
        connection: &mut Connection,
        path: &Path,
    ) -> Result<Migrated, StoreError> {
        if self.check_sqlite(connection, path)? == SqliteState::Version(self.latest()) {
            return Ok(Migrated {
                from: self.latest(),
                to: self.latest(),
            });
        }
        let error = |source| self.sqlite_error(path, "migrating the schema", source);
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        // Read again under the write lock: another process may have migrated meanwhile.
        let from = match self.check_sqlite(&tx, path)? {
            SqliteState::Empty => 0,
            SqliteState::Version(version) => version,
        };
        for migration in self.migrations.iter().filter(|m| m.version > from) {
            tx.execute_batch(migration.sqlite).map_err(error)?;
        }
        if from == 0 {
            tx.pragma_update(None, "application_id", self.application_id)
                .map_err(error)?;
        }
        tx.pragma_update(None, "user_version", self.latest())
            .map_err(error)?;
        tx.commit().map_err(error)?;
        Ok(Migrated {
            from,
            to: self.latest(),
        })
    }

    /// Brings the PostgreSQL database behind `client` to [`Schema::latest`], in one
    /// transaction holding the migration lock; `store` names it in errors (password hidden).
    pub async fn migrate_postgres(
        &self,
        client: &mut tokio_postgres::Client,
        store: &str,
    ) -> Result<Migrated, StoreError> {
        let error = |source| StoreError::Postgres {
            url: store.to_string(),
            operation: "migrating the schema",
            source,
        };
        let tx = client.transaction().await.map_err(error)?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({POSTGRES_MIGRATION_LOCK});
             CREATE TABLE IF NOT EXISTS mta_sts_schema (
                 name        TEXT PRIMARY KEY,
                 version     BIGINT NOT NULL,
                 migrated_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );"
        ))
        .await
        .map_err(error)?;
        let from: i64 = tx
            .query_opt(
                "SELECT version FROM mta_sts_schema WHERE name = $1",
                &[&self.name],
            )
            .await
            .map_err(error)?
            .map_or(Ok(0), |row| row.try_get(0))
            .map_err(error)?;
        if from > self.latest() {
            return Err(StoreError::NewerSchema {
                store: store.to_string(),
                schema: self.name,
                found: from,
                supported: self.latest(),
            });
        }
        if from == self.latest() {
            return Ok(Migrated { from, to: from });
        }
        for migration in self.migrations.iter().filter(|m| m.version > from) {
            if let Err(source) = tx.batch_execute(migration.postgres).await {
                // A table of ours already there, but no version recorded: somebody else's.
                if from == 0
                    && source.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_TABLE)
                {
                    return Err(StoreError::NotOurs {
                        store: store.to_string(),
                        schema: self.name,
                        reason: format!(
                            "it already has tables of the same names that no mta-sts migration \
                             recorded ({source})"
                        ),
                    });
                }
                return Err(error(source));
            }
        }
        tx.execute(
            "INSERT INTO mta_sts_schema (name, version) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, migrated_at = now()",
            &[&self.name, &self.latest()],
        )
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)?;
        Ok(Migrated {
            from,
            to: self.latest(),
        })
    }

    fn sqlite_error(
        &self,
        path: &Path,
        operation: &'static str,
        source: rusqlite::Error,
    ) -> StoreError {
        StoreError::Sqlite {
            path: path.to_path_buf(),
            operation,
            source,
        }
    }
}
