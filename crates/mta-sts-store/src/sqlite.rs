//! An SQLite file in WAL mode: the embedded default store.
//!
//! Durability: WAL mode with `synchronous=FULL` syncs the log at every commit, so a write that
//! returned Ok survives a crash of the process, the kernel or the power (a report acknowledged
//! is on disk). A commit cut short leaves no commit frame and is ignored on the next open: never
//! half a batch.
//!
//! SQLite calls block, so each runs on tokio's blocking pool. Two connections: one writes (each
//! write one immediate transaction), one reads; in WAL mode readers never wait for the writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::StoreError;
use crate::schema::{Migrated, Schema};

/// How an SQLite store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How long a call waits for another connection's lock before failing with an error that
    /// [`StoreError::is_unavailable`] calls retryable.
    pub busy_timeout: Duration,
    /// `PRAGMA synchronous`.
    pub synchronous: Synchronous,
    /// The page cache of each connection, in KiB (`PRAGMA cache_size`): the indexes a large
    /// store inserts into at random places (content hashes) stay in memory.
    pub cache_kib: u32,
}

impl Default for SqliteOptions {
    /// A 5-second busy timeout, [`Synchronous::Full`] and a 32 MiB cache per connection.
    fn default() -> SqliteOptions {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Full,
            cache_kib: 32 * 1024,
        }
    }
}

/// `PRAGMA synchronous` in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// The log is synced at every commit: what returned Ok survives a power loss.
    Full,
    /// The log is synced only before checkpoints: a power loss may lose the latest commits
    /// (whole transactions), a process crash loses nothing. For caches.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// An SQLite store: cheap to clone, shared by every task.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: Arc<PathBuf>,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    migrated: Migrated,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` and brings it to `schema`'s latest version.
    ///
    /// A missing parent directory is created for its owner alone (mode 0700), as the daemon's
    /// cache directory is, so the default path works on a first start as root. A file that is
    /// not ours, or holds a newer version of the schema, is refused and left untouched.
    pub async fn open(
        path: &Path,
        schema: &'static Schema,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || SqliteStore::open_blocking(&path, schema, options))
            .await
            .map_err(|source| StoreError::Worker {
                operation: "opening the store",
                source,
            })?
    }

    /// [`SqliteStore::open`] on the calling thread (which it blocks).
    pub fn open_blocking(
        path: &Path,
        schema: &Schema,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        create_parent(path)?;
        let error = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            operation: "opening the store",
            source,
        };
        let mut writer = Connection::open(path).map_err(error)?;
        writer.busy_timeout(options.busy_timeout).map_err(error)?;
        // Read the header before writing anything, so a foreign file is never modified.
        schema.check_sqlite(&writer, path)?;
        writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(error)?;
        writer
            .pragma_update(None, "synchronous", options.synchronous.pragma())
            .map_err(error)?;
        // A checkpoint copies every page changed since the last one into the file and syncs it:
        // every 8192 pages (32 MiB of log) rather than SQLite's 1000, so a page that batch after
        // batch of inserts changes (an index's hot end) is copied once, not once per batch.
        writer
            .pragma_update(None, "wal_autocheckpoint", 8192)
            .map_err(error)?;
        // Negative: a size in KiB rather than in pages.
        let cache_size = -i64::from(options.cache_kib);
        writer
            .pragma_update(None, "cache_size", cache_size)
            .map_err(error)?;
        let migrated = schema.migrate_sqlite(&mut writer, path)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(error)?;
        reader.busy_timeout(options.busy_timeout).map_err(error)?;
        reader
            .pragma_update(None, "cache_size", cache_size)
            .map_err(error)?;
        Ok(SqliteStore {
            path: Arc::new(path.to_path_buf()),
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            migrated,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opening did to the schema.
    pub fn migrated(&self) -> Migrated {
        self.migrated
    }

    /// Runs `work` in one immediate transaction on the writer connection, off the async
    /// runtime, and commits it: when this returns Ok, the work is durable (with
    /// [`Synchronous::Full`]). An error rolls everything back.
    pub async fn write<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        let path = Arc::clone(&self.path);
        tokio::task::spawn_blocking(move || {
            // A panic inside a call leaves no transaction open (it is rolled back on drop), so a
            // poisoned connection is still consistent.
            let mut connection = writer.lock().unwrap_or_else(PoisonError::into_inner);
            let error = |source| StoreError::Sqlite {
                path: path.to_path_buf(),
                operation,
                source,
            };
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(error)?;
            let value = work(&tx)?;
            tx.commit().map_err(error)?;
            Ok(value)
        })
        .await
        .map_err(|source| StoreError::Worker { operation, source })?
    }

    /// Runs `work` on the reader connection, off the async runtime, in one read transaction
    /// (one consistent snapshot).
    pub async fn read<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        let path = Arc::clone(&self.path);
        tokio::task::spawn_blocking(move || {
            let mut connection = reader.lock().unwrap_or_else(PoisonError::into_inner);
            let error = |source| StoreError::Sqlite {
                path: path.to_path_buf(),
                operation,
                source,
            };
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(error)?;
            let value = work(&tx)?;
            tx.finish().map_err(error)?;
            Ok(value)
        })
        .await
        .map_err(|source| StoreError::Worker { operation, source })?
    }

    /// A function turning SQLite's errors in `operation` into [`StoreError`]s naming this file.
    pub fn error(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + use<> {
        let path = Arc::clone(&self.path);
        move |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            operation,
            source,
        }
    }
}

/// Creates `path`'s directory when it is missing, for its owner alone: what is stored is nobody
/// else's business (the daemon's cache directory is made the same way).
pub fn create_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|source| StoreError::CreateDirectory {
                path: parent.to_path_buf(),
                source,
            })?;
    }
    Ok(())
}
