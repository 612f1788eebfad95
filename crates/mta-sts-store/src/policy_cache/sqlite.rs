//! The daemon's persistent cache: one SQLite file, one table, one row per domain.
//!
//! The file is opened in WAL mode with `synchronous=NORMAL`, and every write is one transaction.
//! What that guarantees depends on what fails:
//!
//! - The daemon's process dying (SIGKILL, the OOM killer, an abort) loses nothing that was
//!   committed. A commit appends its pages and a commit frame to the `-wal` file with `write(2)`
//!   before `put` returns, and the kernel keeps written data whatever becomes of the process. The
//!   next open finds the `-wal` and the `-shm` index left behind (no lock holds them any more),
//!   rebuilds the index from the WAL and sees every committed transaction; frames of a
//!   transaction cut short have no valid commit frame and are ignored, so there is never half a
//!   row. A checkpoint cut short only copies pages the WAL still holds and is redone. Once the
//!   last connection closes cleanly, SQLite checkpoints the WAL into the database and removes
//!   both files. `tests/policyd/crash.rs` kills a writer mid-stream, repeatedly, to check this.
//! - A power loss or kernel crash can lose the transactions committed since the WAL was last
//!   synced: `NORMAL` syncs the WAL only before a checkpoint (about every 1000 pages), not at
//!   each commit. What is lost is whole transactions, the latest ones; the file stays consistent.
//!   `FULL` would cost an `fsync` per write; for a cache, a lost write costs one more fetch.
//!
//! - Damage that is not a crash (a disk error, a bad copy, a truncated file, garbage in the
//!   log) is looked for at every open ([`quick_check`] and the `-wal` read frame by frame) and
//!   salvaged: every readable row goes into a new file that replaces the damaged one, which is
//!   kept aside (see [`super::salvage`]). `tests/policyd/damage.rs` damages the header, a middle
//!   page, the log and the file's end.
//!
//! The schema is a [`Schema`] ([`SCHEMA`]): its version lives in `PRAGMA user_version` and the
//! file is marked with an `application_id`, the same values every release wrote, so a file
//! written by a newer mta-sts, or by another program, is refused with a clear error and left
//! untouched, and a version-1 file is migrated in one transaction.
//!
//! SQLite calls block, so each runs on tokio's blocking pool; one connection behind a mutex is
//! enough because the daemon's memory tier in front of the file serves the hits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mta_sts_core::time::{Clock, Timestamp};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OptionalExtension as _, Row, params};

use super::salvage::{self, Salvage};
use super::{BackoffEntry, CacheEntry, CachedPolicy, DaneEntry, NegativeEntry, NegativeReason};
use crate::StoreError;
use crate::schema::{Migration, Schema};
use crate::sqlite::create_parent;
use crate::sqlite_file::{self, damaged_wal, quick_check, sidecar};

/// The schema version this build reads and writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 2;

/// Marks the file as an mta-sts cache (`PRAGMA application_id`): "MTSS".
pub const APPLICATION_ID: i64 = 0x4d54_5353;

/// The cache's schema: version 1 (the table as the first release wrote it), version 2 (the
/// DANE columns). A new file gets both in one transaction, which gives exactly the table that
/// releases with version 2 created in one statement (SQLite appends added columns).
pub static SCHEMA: Schema = Schema {
    name: "policy_cache",
    application_id: APPLICATION_ID,
    migrations: &[
        Migration {
            version: 1,
            description: "the policy_cache table, one row per domain",
            sqlite: TABLE_V1,
            // The policy cache is an SQLite file only (a fleet shares Redis).
            postgres: "",
        },
        Migration {
            version: 2,
            description: "the DANE facts of each domain",
            sqlite: MIGRATE_1_TO_2,
            postgres: "",
        },
    ],
};

/// The table of version 1.
const TABLE_V1: &str = "
CREATE TABLE policy_cache (
    domain           TEXT PRIMARY KEY NOT NULL,
    checked_at       INTEGER,
    policy_id        TEXT,
    policy_body      TEXT,
    fetched_at       INTEGER,
    expires_at       INTEGER,
    negative_kind    TEXT,
    negative_error   TEXT,
    negative_since   INTEGER,
    negative_until   INTEGER,
    backoff_id       TEXT,
    backoff_failures INTEGER,
    backoff_last     INTEGER,
    backoff_until    INTEGER,
    backoff_error    TEXT
);";

/// From version 1 to 2: the DANE columns, all NULL in existing rows ("not yet checked").
const MIGRATE_1_TO_2: &str = "
ALTER TABLE policy_cache ADD COLUMN dane_checked_at   INTEGER;
ALTER TABLE policy_cache ADD COLUMN dane_mx_validated INTEGER;
ALTER TABLE policy_cache ADD COLUMN dane_hosts        TEXT;
ALTER TABLE policy_cache ADD COLUMN dane_failed       TEXT;
ALTER TABLE policy_cache ADD COLUMN dane_mx_error     TEXT;
";

pub(super) const COLUMNS: &str = "domain, checked_at, policy_id, policy_body, fetched_at, expires_at, \
     negative_kind, negative_error, negative_since, negative_until, \
     backoff_id, backoff_failures, backoff_last, backoff_until, backoff_error, \
     dane_checked_at, dane_mx_validated, dane_hosts, dane_failed, dane_mx_error";

/// [`COLUMNS`] of a version-1 table, which has no DANE columns ("not yet checked"), for reading
/// one without migrating it (a read-only open, a salvage).
pub(super) const COLUMNS_V1: &str = "domain, checked_at, policy_id, policy_body, fetched_at, \
     expires_at, negative_kind, negative_error, negative_since, negative_until, \
     backoff_id, backoff_failures, backoff_last, backoff_until, backoff_error, \
     NULL, NULL, NULL, NULL, NULL";

/// The daemon's policy cache in an SQLite file; survives restarts and crashes.
#[derive(Debug, Clone)]
pub struct SqlitePolicyCache {
    path: PathBuf,
    connection: Arc<Mutex<Connection>>,
    /// The columns read: [`COLUMNS`], or [`COLUMNS_V1`] for a version-1 file opened read-only.
    columns: &'static str,
    salvage: Option<Salvage>,
}

/// What [`SqlitePolicyCache::open_checked`] found.
enum Checked {
    Sound(SqlitePolicyCache),
    /// What is wrong: the file is to be salvaged.
    Damaged(String),
}

impl SqlitePolicyCache {
    /// Opens (or creates) the cache at `path`. Blocking: call it before serving, or from
    /// `spawn_blocking`.
    ///
    /// A missing parent directory is created (owner only: policies are nobody else's business),
    /// so the default cache file works on a first start as root.
    ///
    /// A new or empty file gets the schema; a file of schema version 1 is migrated to
    /// [`SCHEMA_VERSION`], keeping every row. A file that is not SQLite, belongs to another
    /// program or has another schema version is refused and left exactly as it was.
    ///
    /// The file is checked first (`PRAGMA quick_check`, and the `-wal` frame by frame). A
    /// damaged cache is salvaged: every readable row goes into a new file that takes its place,
    /// and the damaged file is kept aside; [`SqlitePolicyCache::salvage`] says what was done, for the
    /// log (see [`Salvage`]). The damaged file is kept under a name with `clock`'s time.
    pub fn open(path: &Path, clock: &dyn Clock) -> Result<SqlitePolicyCache, StoreError> {
        create_parent(path)?;
        // Before SQLite opens the file: it would replay the log up to its first bad frame,
        // checkpoint that into the file and delete the log, and the commits after the damage
        // would be gone without a word.
        if let Some(damage) = damaged_wal(path) {
            return SqlitePolicyCache::open_salvaged(path, damage, clock);
        }
        let wal = sidecar(path, "-wal");
        let shm = sidecar(path, "-shm");
        let found = (wal.exists(), shm.exists());
        match SqlitePolicyCache::open_checked(path)? {
            Checked::Sound(cache) => Ok(cache),
            Checked::Damaged(damage) => {
                // The check's connection made an empty log and index beside a file that had
                // none (it wrote nothing): they are not part of what was found.
                if !found.0 {
                    let _ = std::fs::remove_file(&wal);
                }
                if !found.1 {
                    let _ = std::fs::remove_file(&shm);
                }
                SqlitePolicyCache::open_salvaged(path, damage, clock)
            }
        }
    }

    /// Salvages `path`, then opens the new file.
    fn open_salvaged(
        path: &Path,
        damage: String,
        clock: &dyn Clock,
    ) -> Result<SqlitePolicyCache, StoreError> {
        let report = salvage::salvage(path, damage, clock.now())?;
        match SqlitePolicyCache::open_checked(path)? {
            Checked::Sound(mut cache) => {
                cache.salvage = Some(report);
                Ok(cache)
            }
            // The new file was written and synced a moment ago: the disk itself is failing.
            Checked::Damaged(damage) => Err(StoreError::Salvage {
                path: path.to_path_buf(),
                damage,
                step: "checking the new file",
                source: std::io::Error::other("the salvaged file is damaged too"),
            }),
        }
    }

    fn open_checked(path: &Path) -> Result<Checked, StoreError> {
        let open_error = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            operation: "opening the cache",
            source,
        };
        let damaged = |e: &rusqlite::Error| {
            matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
            )
        };
        let connection = Connection::open(path).map_err(open_error)?;
        // Until the file is known to be sound, closing must not checkpoint a WAL into it: a
        // damaged file is kept aside as it was found.
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(open_error)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(open_error)?;
        // Read the header before writing anything, so a foreign file is never modified.
        let header = read_header(&connection);
        let (application_id, version) = match header {
            Ok(header) => header,
            // Not SQLite's header: another program's file, or ours with its first bytes
            // overwritten. The salvage tells them apart by the schema, and refuses the former.
            Err(e) if damaged(&e) => return Ok(Checked::Damaged(plain(&e))),
            Err(e) => return Err(open_error(e)),
        };
        let fresh = application_id == 0 && version == 0;
        if fresh {
            let tables = connection.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
                row.get::<_, i64>(0)
            });
            match tables {
                Ok(0) => {}
                Ok(tables) => {
                    return Err(not_ours(
                        path,
                        format!("it is another program's database ({tables} schema objects)"),
                    ));
                }
                Err(e) if damaged(&e) => return Ok(Checked::Damaged(plain(&e))),
                Err(e) => return Err(open_error(e)),
            }
        } else if application_id != APPLICATION_ID {
            return Err(not_ours(
                path,
                format!("its application_id is 0x{application_id:08x}"),
            ));
        } else if let Some(refused) = refuse_version(path, version) {
            return Err(refused);
        } else {
            match quick_check(&connection) {
                Ok(None) => {}
                Ok(Some(problem)) => return Ok(Checked::Damaged(problem)),
                Err(e) if damaged(&e) => return Ok(Checked::Damaged(plain(&e))),
                Err(e) => return Err(open_error(e)),
            }
        }
        // Sound: a clean close checkpoints the WAL and removes it again (see the module
        // documentation).
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)
            .map_err(open_error)?;
        connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(open_error)?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        let mut connection = connection;
        // One transaction (SQLite's ALTER TABLE is transactional): an interrupted first start
        // leaves an empty file, not half a schema, and an interrupted migration leaves the
        // version-1 file as it was, to be migrated at the next start.
        SCHEMA.migrate_sqlite(&mut connection, path)?;
        Ok(Checked::Sound(SqlitePolicyCache {
            path: path.to_path_buf(),
            connection: Arc::new(Mutex::new(connection)),
            columns: COLUMNS,
            salvage: None,
        }))
    }

    /// Opens the cache at `path` for reading only (`mta-sts query`, a diagnostic): nothing is
    /// created beside it when that can be avoided, nothing is migrated, salvaged or written
    /// (`put` and `delete` fail). A missing file is [`StoreError::Missing`], not created.
    pub fn open_read_only(path: &Path) -> Result<SqlitePolicyCache, StoreError> {
        let open_error = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            operation: "opening the cache",
            source,
        };
        // SQLite says only "unable to open database file"; the operating system says why.
        if let Err(source) = std::fs::File::open(path) {
            return Err(if source.kind() == std::io::ErrorKind::NotFound {
                StoreError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                StoreError::Unreadable {
                    path: path.to_path_buf(),
                    source,
                }
            });
        }
        let connection = sqlite_file::open_read_only(path).map_err(open_error)?;
        // Belt and braces: no statement on this connection may write.
        connection
            .pragma_update(None, "query_only", true)
            .map_err(open_error)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(open_error)?;
        let header = read_header(&connection);
        let columns = match header {
            Ok((APPLICATION_ID, SCHEMA_VERSION)) => COLUMNS,
            Ok((APPLICATION_ID, 1)) => COLUMNS_V1,
            Ok((APPLICATION_ID, found)) => {
                return Err(refuse_version(path, found).unwrap_or_else(|| {
                    not_ours(path, format!("its schema version {found} is unknown"))
                }));
            }
            Ok((0, 0)) => {
                return Err(not_ours(
                    path,
                    "it holds no cache yet (the daemon creates its table on its first start)"
                        .into(),
                ));
            }
            Ok((application_id, _)) => {
                return Err(not_ours(
                    path,
                    format!("its application_id is 0x{application_id:08x}"),
                ));
            }
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
                return Err(not_ours(
                    path,
                    "the file is not an SQLite database (or its header is damaged: the daemon \
                     salvages it at its next start)"
                        .into(),
                ));
            }
            Err(e) => return Err(open_error(e)),
        };
        Ok(SqlitePolicyCache {
            path: path.to_path_buf(),
            connection: Arc::new(Mutex::new(connection)),
            columns,
            salvage: None,
        })
    }

    /// What was salvaged when this cache was opened, if its file was damaged: for the log.
    pub fn salvage(&self) -> Option<&Salvage> {
        self.salvage.as_ref()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the blocking pool with the connection.
    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside a call leaves no transaction open (it is rolled back on drop), so a
            // poisoned connection is still consistent.
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut connection).map_err(|source| StoreError::Sqlite {
                path,
                operation,
                source,
            })
        })
        .await
        .map_err(|source| StoreError::Worker { operation, source })?
    }

    /// The entry for `domain`, if any.
    pub async fn get(&self, domain: &str) -> Result<Option<CacheEntry>, StoreError> {
        let domain = domain.to_string();
        let columns = self.columns;
        self.run("reading a cache entry", move |connection| {
            connection
                .query_row(
                    &format!("SELECT {columns} FROM policy_cache WHERE domain = ?1"),
                    [&domain],
                    |row| read_row(row).map(|(_, entry)| entry),
                )
                .optional()
        })
        .await
    }

    /// Stores `entry` for `domain`, replacing any earlier one, in one transaction.
    pub async fn put(&self, domain: &str, entry: CacheEntry) -> Result<(), StoreError> {
        let domain = domain.to_string();
        self.run("writing a cache entry", move |connection| {
            let tx = connection.transaction()?;
            write_row(&tx, &domain, &entry)?;
            tx.commit()
        })
        .await
    }

    /// Forgets `domain`.
    pub async fn delete(&self, domain: &str) -> Result<(), StoreError> {
        let domain = domain.to_string();
        self.run("deleting a cache entry", move |connection| {
            connection
                .execute("DELETE FROM policy_cache WHERE domain = ?1", [&domain])
                .map(drop)
        })
        .await
    }

    /// Every entry, by domain.
    pub async fn scan(&self) -> Result<Vec<(String, CacheEntry)>, StoreError> {
        let columns = self.columns;
        self.run("reading every cache entry", move |connection| {
            let mut statement =
                connection.prepare(&format!("SELECT {columns} FROM policy_cache"))?;
            let rows = statement.query_map([], read_row)?;
            rows.collect()
        })
        .await
    }
}

/// [`StoreError::NotOurs`] for the cache file `path`.
pub(super) fn not_ours(path: &Path, reason: String) -> StoreError {
    StoreError::NotOurs {
        store: format!("sqlite:{}", path.display()),
        schema: SCHEMA.name,
        reason,
    }
}

/// The error for a cache file of schema `version`, if this build cannot read it: newer than
/// [`SCHEMA_VERSION`], or not a version any release wrote.
fn refuse_version(path: &Path, version: i64) -> Option<StoreError> {
    if version > SCHEMA.latest() {
        Some(StoreError::NewerSchema {
            store: format!("sqlite:{}", path.display()),
            schema: SCHEMA.name,
            found: version,
            supported: SCHEMA.latest(),
        })
    } else if version < 1 {
        Some(not_ours(
            path,
            format!("its schema version {version} was never written by mta-sts"),
        ))
    } else {
        None
    }
}

/// SQLite's reason, as a phrase for the log.
fn plain(error: &rusqlite::Error) -> String {
    let reason = match error {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    };
    format!("SQLite cannot read it: {reason}")
}

/// The file's `application_id` and `user_version`, read before anything is written so that a
/// foreign file is never modified.
fn read_header(connection: &Connection) -> Result<(i64, i64), rusqlite::Error> {
    let app = connection.pragma_query_value(None, "application_id", |row| row.get::<_, i64>(0))?;
    let version =
        connection.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))?;
    Ok((app, version))
}

fn to_sql(t: Timestamp) -> i64 {
    t.unix_seconds()
}

/// Unix seconds as every release stored them: a negative value (never written) reads as the
/// epoch, and a saturated far future (`i64::MAX` from releases that counted in `u64`) as
/// [`Timestamp::MAX`].
fn from_sql(secs: i64) -> Timestamp {
    Timestamp::from_unix_seconds_saturating(secs.max(0))
}

pub(super) fn write_row(
    tx: &rusqlite::Transaction<'_>,
    domain: &str,
    entry: &CacheEntry,
) -> rusqlite::Result<()> {
    let policy = entry.policy.as_ref();
    let negative = entry.negative.as_ref();
    let backoff = entry.backoff.as_ref();
    let dane = policy.and_then(CachedPolicy::dane);
    let dane_hosts = dane.map(|d| host_list(&d.hosts)).transpose()?;
    let dane_failed = dane.map(|d| host_list(&d.failed)).transpose()?;
    let (negative_kind, negative_error) = match negative.map(|n| &n.reason) {
        None => (None, None),
        Some(NegativeReason::NoRecord) => (Some("no-record"), None),
        Some(NegativeReason::LookupFailed { error }) => {
            (Some("lookup-failed"), Some(error.as_str()))
        }
    };
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO policy_cache ({COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
             ?16, ?17, ?18, ?19, ?20)"
        ),
        params![
            domain,
            entry.checked_at.map(to_sql),
            policy.map(CachedPolicy::id),
            policy.map(CachedPolicy::body),
            policy.map(|p| to_sql(p.fetched_at())),
            policy.map(|p| to_sql(p.expires_at())),
            negative_kind,
            negative_error,
            negative.map(|n| to_sql(n.since)),
            negative.map(|n| to_sql(n.until)),
            backoff.map(|b| b.id.as_str()),
            backoff.map(|b| b.failures),
            backoff.map(|b| to_sql(b.last_failure)),
            backoff.map(|b| to_sql(b.until)),
            backoff.map(|b| b.error.as_str()),
            dane.map(|d| to_sql(d.checked_at)),
            dane.map(|d| d.mx_validated),
            dane_hosts,
            dane_failed,
            dane.and_then(|d| d.mx_error.as_deref()),
        ],
    )?;
    Ok(())
}

/// A list of host names as a JSON array (names are kept exactly, whatever they hold).
fn host_list(hosts: &[String]) -> rusqlite::Result<String> {
    serde_json::to_string(hosts).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

pub(super) fn read_row(row: &Row<'_>) -> rusqlite::Result<(String, CacheEntry)> {
    let domain: String = row.get(0)?;
    let checked_at: Option<i64> = row.get(1)?;
    let policy_id: Option<String> = row.get(2)?;
    let policy_body: Option<String> = row.get(3)?;
    let fetched_at: Option<i64> = row.get(4)?;
    // Column 5 (expires_at) is derived from the body and fetched_at on load; it is stored for
    // people inspecting the file.
    let negative_kind: Option<String> = row.get(6)?;
    let negative_error: Option<String> = row.get(7)?;
    let negative_since: Option<i64> = row.get(8)?;
    let negative_until: Option<i64> = row.get(9)?;
    let backoff_id: Option<String> = row.get(10)?;
    let backoff_failures: Option<u32> = row.get(11)?;
    let backoff_last: Option<i64> = row.get(12)?;
    let backoff_until: Option<i64> = row.get(13)?;
    let backoff_error: Option<String> = row.get(14)?;
    let dane_checked_at: Option<i64> = row.get(15)?;
    let dane_mx_validated: Option<bool> = row.get(16)?;
    let dane_hosts: Option<String> = row.get(17)?;
    let dane_failed: Option<String> = row.get(18)?;
    let dane_mx_error: Option<String> = row.get(19)?;

    // DANE facts that cannot be read (edited by hand) are dropped, not the row: they are
    // looked up again, as for a row written before version 2 (all NULL).
    let dane = match (dane_checked_at, dane_mx_validated) {
        (Some(checked_at), Some(mx_validated)) => {
            let list = |text: Option<String>| -> Option<Vec<String>> {
                text.map_or(Some(Vec::new()), |t| serde_json::from_str(&t).ok())
            };
            list(dane_hosts)
                .zip(list(dane_failed))
                .map(|(hosts, failed)| DaneEntry {
                    mx_validated,
                    hosts,
                    failed,
                    mx_error: dane_mx_error,
                    checked_at: from_sql(checked_at),
                })
        }
        _ => None,
    };
    // A stored body the current parser refuses (it was accepted when fetched) is dropped rather
    // than failing the whole row: the domain is simply looked up again.
    let policy = match (policy_id, policy_body, fetched_at) {
        (Some(id), Some(body), Some(fetched)) => CachedPolicy::new(id, body, from_sql(fetched))
            .ok()
            .map(|policy| policy.with_dane(dane)),
        _ => None,
    };
    let negative = match (negative_kind.as_deref(), negative_since, negative_until) {
        (Some(kind), Some(since), Some(until)) => {
            let reason = match kind {
                "no-record" => Some(NegativeReason::NoRecord),
                "lookup-failed" => Some(NegativeReason::LookupFailed {
                    error: negative_error.unwrap_or_default(),
                }),
                _ => None,
            };
            reason.map(|reason| NegativeEntry {
                reason,
                since: from_sql(since),
                until: from_sql(until),
            })
        }
        _ => None,
    };
    let backoff = match (backoff_id, backoff_failures, backoff_last, backoff_until) {
        (Some(id), Some(failures), Some(last), Some(until)) => Some(BackoffEntry {
            id,
            failures,
            last_failure: from_sql(last),
            until: from_sql(until),
            error: backoff_error.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok((
        domain,
        CacheEntry {
            policy,
            checked_at: checked_at.map(from_sql),
            negative,
            backoff,
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mta_sts_core::time::ManualClock;

    use super::*;

    /// Opens as the daemon does, with a clock for the name a damaged file is kept under.
    fn open(path: &Path) -> Result<SqlitePolicyCache, StoreError> {
        SqlitePolicyCache::open(
            path,
            &ManualClock::new(Timestamp::from_unix_seconds_saturating(1_796_515_200)),
        )
    }

    const BODY: &str =
        "version: STSv1\nmode: enforce\nmx: mx.example.com\nmx: *.example.net\nmax_age: 604800\n";

    /// A private directory removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "mta-sts-store-policy-cache-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_missing_directory_is_created_for_the_owner_alone() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new();
        let path = dir.file("var/lib/mta-sts-policyd/cache.sqlite3");
        let cache = open(&path).expect("opens in a new directory");
        drop(cache);
        let parent = dir.file("var/lib/mta-sts-policyd");
        let mode = std::fs::metadata(&parent)
            .expect("created")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);

        // A file where the directory should be: an error naming it, and the file kept.
        std::fs::write(dir.file("blocked"), b"keep").expect("write");
        let error = open(&dir.file("blocked/sub/cache.db")).expect_err("blocked");
        assert!(
            matches!(&error, StoreError::CreateDirectory { path, .. } if path.ends_with("blocked/sub")),
            "{error:?}"
        );
        assert_eq!(std::fs::read(dir.file("blocked")).expect("kept"), b"keep");
    }

    fn dane_facts(t: Timestamp) -> DaneEntry {
        DaneEntry {
            mx_validated: true,
            hosts: vec!["mx.example.com".into()],
            failed: vec!["mx2.example.net".into()],
            mx_error: None,
            checked_at: t.saturating_add(Duration::from_secs(61)),
        }
    }

    fn full_entry() -> CacheEntry {
        let t = Timestamp::from_unix_seconds_saturating(1_700_000_000);
        CacheEntry {
            policy: CachedPolicy::new("20260101T000000", BODY, t)
                .ok()
                .map(|p| p.with_dane(Some(dane_facts(t)))),
            checked_at: Some(t.saturating_add(Duration::from_secs(60))),
            negative: Some(NegativeEntry {
                reason: NegativeReason::LookupFailed {
                    error: "SERVFAIL".into(),
                },
                since: t,
                until: t.saturating_add(Duration::from_secs(300)),
            }),
            backoff: Some(BackoffEntry {
                id: "20260201T000000".into(),
                failures: 2,
                last_failure: t,
                until: t.saturating_add(Duration::from_secs(600)),
                error: "HTTP 404".into(),
            }),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn entries_round_trip_and_survive_a_restart() {
        let dir = TempDir::new();
        let path = dir.file("cache.db");
        {
            let cache = open(&path).expect("new cache");
            cache.put("example.com", full_entry()).await.expect("put");
            let negative_only = CacheEntry {
                negative: Some(NegativeEntry {
                    reason: NegativeReason::NoRecord,
                    since: Timestamp::from_unix_seconds_saturating(5),
                    until: Timestamp::from_unix_seconds_saturating(305),
                }),
                ..CacheEntry::default()
            };
            cache.put("none.example", negative_only).await.expect("put");
            let unsigned = CacheEntry {
                policy: CachedPolicy::new("1", BODY, Timestamp::from_unix_seconds_saturating(9))
                    .ok()
                    .map(|p| {
                        p.with_dane(Some(DaneEntry {
                            mx_validated: false,
                            hosts: Vec::new(),
                            failed: Vec::new(),
                            mx_error: Some("the resolver failed to answer (SERVFAIL)".into()),
                            checked_at: Timestamp::from_unix_seconds_saturating(10),
                        }))
                    }),
                ..CacheEntry::default()
            };
            cache
                .put("unsigned.example", unsigned.clone())
                .await
                .expect("put");
            assert_eq!(
                cache.get("unsigned.example").await.expect("get"),
                Some(unsigned)
            );
            cache
                .put("gone.example", CacheEntry::default())
                .await
                .expect("put");
            cache.delete("gone.example").await.expect("delete");
        }
        let reopened = open(&path).expect("existing cache");
        assert_eq!(
            reopened.get("example.com").await.expect("get"),
            Some(full_entry())
        );
        assert_eq!(reopened.get("gone.example").await.expect("get"), None);
        let mut domains: Vec<String> = reopened
            .scan()
            .await
            .expect("scan")
            .into_iter()
            .map(|(domain, _)| domain)
            .collect();
        domains.sort();
        assert_eq!(domains, ["example.com", "none.example", "unsigned.example"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_version_1_file_is_migrated_and_keeps_every_entry() {
        let dir = TempDir::new();
        let path = dir.file("cache.db");
        {
            // What version 1 wrote: its schema, its pragmas, two rows.
            let raw = Connection::open(&path).expect("raw");
            // Version 1's table, exactly as that release created it.
            raw.execute_batch(TABLE_V1).expect("v1 schema");
            raw.pragma_update(None, "application_id", APPLICATION_ID)
                .expect("pragma");
            raw.pragma_update(None, "user_version", 1).expect("pragma");
            raw.execute(
                "INSERT INTO policy_cache (domain, checked_at, policy_id, policy_body, \
                 fetched_at, expires_at, backoff_id, backoff_failures, backoff_last, \
                 backoff_until, backoff_error) \
                 VALUES ('example.com', 1700000060, '20260101T000000', ?1, 1700000000, \
                 1700604800, '2', 1, 1700000000, 1700000300, 'HTTP 404')",
                [BODY],
            )
            .expect("policy row");
            raw.execute(
                "INSERT INTO policy_cache (domain, checked_at, negative_kind, negative_since, \
                 negative_until) VALUES ('none.example', 5, 'no-record', 5, 305)",
                [],
            )
            .expect("negative row");
        }
        let cache = open(&path).expect("a version-1 file opens");
        let t = Timestamp::from_unix_seconds_saturating(1_700_000_000);
        let migrated = cache.get("example.com").await.expect("get").expect("kept");
        let policy = migrated.policy.clone().expect("the policy is kept");
        assert_eq!(policy.id(), "20260101T000000");
        assert_eq!(policy.body(), BODY);
        assert_eq!(policy.fetched_at(), t);
        assert_eq!(policy.dane(), None, "DANE not yet checked");
        assert_eq!(
            migrated.checked_at,
            Some(t.saturating_add(Duration::from_secs(60)))
        );
        assert_eq!(
            migrated
                .backoff
                .as_ref()
                .map(|b| (b.id.as_str(), b.failures)),
            Some(("2", 1))
        );
        let negative = cache.get("none.example").await.expect("get").expect("kept");
        assert_eq!(
            negative.negative.map(|n| (n.reason, n.until)),
            Some((
                NegativeReason::NoRecord,
                Timestamp::from_unix_seconds_saturating(305)
            ))
        );
        // The migrated file takes DANE facts like a new one, and is version 2 from now on.
        let with_dane = CacheEntry {
            policy: Some(policy.with_dane(Some(dane_facts(t)))),
            ..migrated
        };
        cache
            .put("example.com", with_dane.clone())
            .await
            .expect("put");
        drop(cache);
        let reopened = open(&path).expect("reopen");
        assert_eq!(
            reopened.get("example.com").await.expect("get"),
            Some(with_dane)
        );
        assert_eq!(reopened.scan().await.expect("scan").len(), 2);
        let raw = Connection::open(&path).expect("raw");
        let version: i64 = raw
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unreadable_dane_columns_drop_only_the_dane_facts() {
        let dir = TempDir::new();
        let path = dir.file("cache.db");
        let cache = open(&path).expect("new cache");
        cache.put("example.com", full_entry()).await.expect("put");
        {
            let raw = Connection::open(&path).expect("raw");
            raw.execute("UPDATE policy_cache SET dane_hosts = 'not json'", [])
                .expect("update");
        }
        let entry = cache.get("example.com").await.expect("get").expect("row");
        let policy = entry.policy.expect("the policy stays");
        assert_eq!(policy.dane(), None);
        assert_eq!(policy.id(), "20260101T000000");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_interrupted_write_leaves_the_previous_entry() {
        let dir = TempDir::new();
        let path = dir.file("cache.db");
        let cache = open(&path).expect("new cache");
        cache.put("example.com", full_entry()).await.expect("put");
        {
            // Another writer dies halfway through a transaction: its change is rolled back.
            let mut raw = Connection::open(&path).expect("raw connection");
            let tx = raw.transaction().expect("transaction");
            tx.execute(
                "UPDATE policy_cache SET policy_body = 'garbage', policy_id = NULL",
                [],
            )
            .expect("update");
            drop(tx);
        }
        drop(cache);
        let reopened = open(&path).expect("reopen");
        assert_eq!(
            reopened.get("example.com").await.expect("get"),
            Some(full_entry())
        );
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_refused_and_kept() {
        let dir = TempDir::new();
        let path = dir.file("cache.db");
        let garbage = b"this is not a database, it is somebody's notes\n".repeat(200);
        std::fs::write(&path, &garbage).expect("write");
        let error = open(&path).expect_err("garbage");
        assert!(matches!(error, StoreError::NotOurs { .. }), "{error:?}");
        // The refusal says the file was kept.
        assert!(error.to_string().contains("left untouched"), "{error}");
        assert_eq!(std::fs::read(&path).expect("still there"), garbage);
        // Nothing was left beside it by the attempt to read it as a damaged cache.
        assert_eq!(std::fs::read_dir(&dir.0).expect("dir").count(), 1);
    }

    #[test]
    fn another_programs_database_is_refused_and_kept() {
        let dir = TempDir::new();
        let path = dir.file("other.db");
        {
            let other = Connection::open(&path).expect("other db");
            other
                .execute_batch(
                    "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me');",
                )
                .expect("schema");
        }
        let before = std::fs::read(&path).expect("read");
        let error = open(&path).expect_err("foreign");
        assert!(matches!(error, StoreError::NotOurs { .. }), "{error:?}");
        assert_eq!(std::fs::read(&path).expect("still there"), before);
        {
            let marked = Connection::open(&path).expect("other db");
            marked
                .pragma_update(None, "application_id", 42)
                .expect("pragma");
        }
        let error = open(&path).expect_err("foreign");
        assert!(matches!(error, StoreError::NotOurs { .. }), "{error:?}");
    }

    #[test]
    fn a_newer_schema_is_refused_and_kept() {
        let dir = TempDir::new();
        let path = dir.file("cache.db");
        drop(open(&path).expect("new cache"));
        {
            let raw = Connection::open(&path).expect("raw");
            raw.pragma_update(None, "user_version", 99).expect("pragma");
        }
        let error = open(&path).expect_err("newer schema");
        assert!(
            matches!(
                error,
                StoreError::NewerSchema {
                    found: 99,
                    supported: SCHEMA_VERSION,
                    ..
                }
            ),
            "{error:?}"
        );
        let raw = Connection::open(&path).expect("raw");
        let tables: i64 = raw
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'policy_cache'",
                [],
                |row| row.get(0),
            )
            .expect("query");
        assert_eq!(tables, 1);
    }

    #[test]
    fn a_directory_is_an_open_error() {
        let dir = TempDir::new();
        let error = open(&dir.0).expect_err("a directory");
        assert!(matches!(error, StoreError::Sqlite { .. }), "{error:?}");
    }

    #[test]
    fn an_empty_file_becomes_a_cache_in_wal_mode() {
        let dir = TempDir::new();
        let path = dir.file("cache.db");
        std::fs::write(&path, b"").expect("touch");
        let cache = open(&path).expect("empty file");
        assert_eq!(cache.path(), path);
        let raw = Connection::open(&path).expect("raw");
        let mode: String = raw
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
    }
}
