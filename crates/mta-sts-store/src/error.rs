//! The one error type of the storage crate, and which errors are worth retrying.

use std::io::ErrorKind;
use std::path::PathBuf;

use rusqlite::ErrorCode;
use tokio_postgres::error::SqlState;

/// Why a store could not be opened, read or written.
///
/// [`StoreError::is_unavailable`] sorts them for the caller: a store that is down, locked or
/// out of space is worth retrying later (the CLI exits 75 so the MTA keeps the mail, the server
/// answers 503); everything else needs a person.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store URL is neither `sqlite:PATH` nor a PostgreSQL URL, or is not usable as one.
    #[error("the store `{url}` cannot be used: {reason}")]
    InvalidUrl {
        /// The URL as given, password hidden.
        url: String,
        /// What is wrong, and what to write instead.
        reason: String,
    },
    /// The directory of an SQLite store could not be created.
    #[error(
        "cannot create the directory {} for the store: {source}; create it, or name another \
         file with --store sqlite:PATH",
        path.display()
    )]
    CreateDirectory {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("the store sqlite:{} failed while {operation}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What was being done, e.g. "inserting reports".
        operation: &'static str,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// PostgreSQL failed, or the connection to it did.
    #[error("the store {url} failed while {operation}: {source}")]
    Postgres {
        /// The URL, password hidden.
        url: String,
        /// What was being done.
        operation: &'static str,
        /// What the server or the connection said.
        source: tokio_postgres::Error,
    },
    /// No connection to PostgreSQL could be had from the pool.
    #[error("the store {url} gave no connection while {operation}: {source}")]
    Pool {
        /// The URL, password hidden.
        url: String,
        /// What was being done.
        operation: &'static str,
        /// Why: a timeout, or the server refused.
        source: deadpool_postgres::PoolError,
    },
    /// The connection pool could not be built.
    #[error("the connection pool for {url} could not be built: {source}")]
    PoolBuild {
        /// The URL, password hidden.
        url: String,
        /// Why.
        source: deadpool_postgres::BuildError,
    },
    /// The store was written by a newer mta-sts: it is left untouched.
    #[error(
        "{store} holds the {schema} schema at version {found}, newer than version {supported}, \
         the newest this build of mta-sts knows; it was left untouched: run the newer mta-sts \
         that wrote it, or name another store"
    )]
    NewerSchema {
        /// The store, password hidden.
        store: String,
        /// The schema's name.
        schema: &'static str,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The file or database belongs to something else: it is left untouched.
    #[error(
        "{store} is not an mta-sts {schema} store: {reason}; it was left untouched: name another \
         store with --store"
    )]
    NotOurs {
        /// The store, password hidden.
        store: String,
        /// The schema that was to be opened.
        schema: &'static str,
        /// What gave it away.
        reason: String,
    },
    /// A value read back from the store is not one this crate writes.
    #[error("{store} holds a value that cannot be read back: {what}")]
    Corrupt {
        /// The store, password hidden.
        store: String,
        /// Which value, and why.
        what: String,
    },
    /// A report holds a value the store cannot keep (a session count past 2^63 - 1).
    #[error("the report {report_id} from {organization} cannot be stored: {reason}")]
    Unstorable {
        /// Its `organization-name`.
        organization: String,
        /// Its `report-id`.
        report_id: String,
        /// Which value, and why.
        reason: String,
    },
    /// Compressing a raw report failed.
    #[error("compressing a report for the store failed: {source}")]
    Compress {
        /// What the compressor said.
        source: std::io::Error,
    },
    /// A damaged SQLite file could not be salvaged (the daemon's policy cache salvages what it
    /// can read, see [`crate::policy_cache`]); it is left in place.
    #[error(
        "the store sqlite:{} is damaged ({damage}) and could not be salvaged: {step} failed: \
         {source}; move it away (`mv {} {}.damaged`, with its -wal and -shm files if any) and \
         start again: a new, empty file is then made in its place",
        path.display(),
        path.display(),
        path.display()
    )]
    Salvage {
        /// The file.
        path: PathBuf,
        /// What the integrity check found.
        damage: String,
        /// The step that failed.
        step: &'static str,
        /// The operating system's or SQLite's reason.
        source: std::io::Error,
    },
    /// An SQLite file looks damaged, but another process has it open: it is not salvaged under
    /// that process.
    #[error(
        "the store sqlite:{} looks damaged ({damage}), but another process has it open (a second \
         daemon on the same file?); it is left alone: stop that process, then start again",
        path.display()
    )]
    InUse {
        /// The file.
        path: PathBuf,
        /// What the check found.
        damage: String,
    },
    /// An SQLite file to be opened read-only does not exist (it is not created).
    #[error(
        "the store sqlite:{} does not exist (it was to be read only, so it was not created)",
        path.display()
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// An SQLite file cannot be read (permissions).
    #[error(
        "cannot read the store sqlite:{}: {source} (run as its owner, or name another file)",
        path.display()
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The worker thread running an SQLite call stopped before finishing it (a panic, or the
    /// runtime shutting down).
    #[error("the store's worker stopped before finishing {operation}: {source}")]
    Worker {
        /// What was being done.
        operation: &'static str,
        /// Why it stopped.
        source: tokio::task::JoinError,
    },
}

impl StoreError {
    /// Whether the store is unavailable for now and the same call is worth retrying later:
    /// PostgreSQL unreachable, a connection lost, a statement timed out, the server out of
    /// resources or read-only (a standby after a fail-over); SQLite busy past its timeout, the
    /// file or its directory read-only, the disk full or failing.
    ///
    /// A schema newer than this build, a file that is not ours, a bad URL or bad data are not:
    /// retrying does not change them.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Sqlite { source, .. } => sqlite_unavailable(source),
            StoreError::Postgres { source, .. } => postgres_unavailable(source),
            StoreError::Pool { source, .. } => match source {
                deadpool_postgres::PoolError::Timeout(_) | deadpool_postgres::PoolError::Closed => {
                    true
                }
                deadpool_postgres::PoolError::Backend(source) => postgres_unavailable(source),
                _ => false,
            },
            StoreError::CreateDirectory { source, .. } | StoreError::Unreadable { source, .. } => {
                io_unavailable(source)
            }
            // The other process may be gone by the next try.
            StoreError::InUse { .. } => true,
            StoreError::Worker { source, .. } => source.is_cancelled(),
            _ => false,
        }
    }
}

fn sqlite_unavailable(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::ReadOnly
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
        )
    )
}

fn io_unavailable(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::PermissionDenied
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::Interrupted
    )
}

fn postgres_unavailable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        let code = code.code();
        // Class 08: connection exceptions; 53: insufficient resources (disk full, out of
        // memory, too many connections); 57P01-57P03: the server shutting down or starting;
        // 57014: a statement cancelled by its timeout; 40001/40P01: a serialization failure or
        // deadlock (the transaction was rolled back whole); 55P03: a lock not available;
        // 25006: a read-only transaction (a standby after a fail-over).
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P0")
            || [
                SqlState::QUERY_CANCELED.code(),
                SqlState::T_R_SERIALIZATION_FAILURE.code(),
                SqlState::T_R_DEADLOCK_DETECTED.code(),
                SqlState::LOCK_NOT_AVAILABLE.code(),
                SqlState::READ_ONLY_SQL_TRANSACTION.code(),
            ]
            .contains(&code);
    }
    // No SQLSTATE: the connection itself failed (refused, reset, timed out).
    std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>())
}

#[cfg(test)]
mod tests;
