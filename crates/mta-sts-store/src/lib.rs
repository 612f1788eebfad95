//! The storage of mta-sts: migrations with a recorded schema version, SQLite (a file in WAL
//! mode, the embedded default) and PostgreSQL (shared by a fleet) behind one interface, and the
//! stores the engines keep their data in.
//!
//! - [`StoreUrl`] says where a store is: `sqlite:PATH` or `postgres://...`.
//! - [`Schema`] and [`Migration`]: versioned migrations, applied in one transaction at open;
//!   a store written by a newer mta-sts is refused and left untouched.
//! - [`SqliteStore`] and [`PostgresStore`]: the two backends, every call off the async runtime
//!   or through a pool with timeouts.
//! - [`StoreError`], with [`StoreError::is_unavailable`]: retry later, or ask a person.
//! - [`reports`]: the TLS-RPT report store.
//! - [`sender_reports`]: the sending side's counts (`mta-sts tlsrpt`), from which its reports are built.
//! - [`policy_cache`]: the daemon's SQLite policy cache (moved from `mta-sts-policyd`), with
//!   its integrity check and salvage of a damaged file; [`sqlite_file`]: the integrity check
//!   and read-only open any SQLite store can use.
//! - [`scan_queue`]: the PostgreSQL queue of a scan shared by workers on many machines.

mod error;
pub mod policy_cache;
pub mod postgres;
pub mod reports;
pub mod scan_queue;
pub mod schema;
pub mod sender_reports;
pub mod sqlite;
pub mod sqlite_file;
#[cfg(feature = "test-support")]
pub mod test_support;
mod url;

pub use error::StoreError;
pub use postgres::{PostgresOptions, PostgresStore};
pub use schema::{Migrated, Migration, Schema, SqliteState};
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};
pub use url::{DEFAULT_SQLITE_PATH, StoreUrl};

/// How the stores connect, for either backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// For an SQLite store.
    pub sqlite: SqliteOptions,
    /// For a PostgreSQL store.
    pub postgres: PostgresOptions,
}
