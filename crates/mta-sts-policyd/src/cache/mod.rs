//! What the daemon remembers per domain, and where: [`PolicyCache`] with an in-memory
//! ([`MemoryCache`]), an SQLite ([`SqliteCache`]) and a Redis ([`RedisCache`], shared by several
//! daemons) store, and [`TieredCache`], memory in front of a persistent store so that hits never
//! wait on the disk.
//!
//! The entry types and the SQLite file live in the storage crate
//! ([`mta_sts_store::policy_cache`]), on the same foundation as every other store; they are
//! re-exported here.
//!
//! One [`CacheEntry`] per domain holds everything the resolver decides with: the last good
//! policy (RFC 8461 §5.1: used until `max_age` after its fetch) with the DANE facts of its
//! domain ([`DaneEntry`], see [`crate::policy`]), when the TXT record was last checked, a
//! negative entry ("no STSv1 record", a bounded TTL) and a backoff record (a failed fetch for one
//! policy id is not retried for a while, RFC 8461 §3.3).

mod import;
mod memory;
mod redis;
mod sqlite;
mod tiered;

use std::fmt;
use std::path::PathBuf;

use futures_util::future::BoxFuture;
use mta_sts_store::StoreError;

use crate::config::RedisUrl;
#[cfg(test)]
use mta_sts_core::time::Timestamp;

pub use import::{
    ImportError, ImportReport, OwnCache, PeerImport, UnreadableRow, import_once, import_peer_cache,
};
pub use memory::MemoryCache;
pub use mta_sts_store::policy_cache::{
    BackoffEntry, CacheEntry, CachedPolicy, DaneEntry, NegativeEntry, NegativeReason,
    SCHEMA_VERSION, Salvage,
};
pub use redis::RedisCache;
pub use sqlite::SqliteCache;
pub use tiered::TieredCache;

/// Why the cache could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The SQLite cache could not be opened, read or written (see [`StoreError`]: a file that
    /// is not a cache or of a newer schema is refused and left untouched, a damaged one that
    /// could not be salvaged is named with the way out).
    #[error(transparent)]
    Store(Box<StoreError>),
    /// The directory for a new cache file could not be created (permissions, a file in the way).
    #[error(
        "cannot create the directory {} for the cache: {source} (create it for the daemon's \
         user, or choose another place with --cache sqlite:PATH)",
        path.display()
    )]
    CreateDirectory {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not an mta-sts cache (not SQLite at all, or another program's database). It
    /// is left untouched: point `cache = "sqlite:..."` at another path.
    #[error(
        "{} is not an mta-sts cache: {reason}; it is left untouched: point the daemon at another \
         file (--cache sqlite:PATH, or `cache` in its configuration), or move this one away if \
         it is not needed",
        path.display()
    )]
    NotACache {
        /// The file.
        path: PathBuf,
        /// What it looks like instead.
        reason: String,
    },
    /// The cache was written by a newer version of mta-sts. It is left untouched: run the
    /// version that wrote it, or point the daemon at a new file.
    #[error(
        "the cache {} has schema version {found}; this mta-sts reads version {supported}: run \
         the version that wrote it, or move the file away (the daemon then starts with an empty \
         cache)",
        path.display()
    )]
    UnknownVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: i64,
        /// The version this build reads and writes.
        supported: i64,
    },
    /// The cache file does not exist, and it was to be read only (`mta-sts query`).
    #[error(
        "the cache {} does not exist (mta-sts query only reads the daemon's cache; \
         --update-cache lets it create and write the file)",
        path.display()
    )]
    Missing {
        /// The cache file.
        path: PathBuf,
    },
    /// The Redis server did not answer when the cache was opened (down, unreachable, too
    /// slow) or refused the connection (a wrong password or database number), or the cache was
    /// opened outside a Tokio runtime.
    #[error("cannot use the Redis cache {url}: {source}")]
    RedisOpen {
        /// The server (printed without its password).
        url: RedisUrl,
        /// Why.
        source: ::redis::RedisError,
    },
    /// A Redis command failed or got no answer in time; the daemon carries on as if the entry
    /// were not cached.
    #[error("Redis cache {operation} failed: {source}")]
    Redis {
        /// What was being done (`get`, `put`, ...).
        operation: &'static str,
        /// The Redis client's reason.
        source: ::redis::RedisError,
    },
    /// A value under the cache's key prefix is not an entry this build can read: not JSON,
    /// another schema version, or another program's data. It is left in place.
    #[error(
        "the Redis cache entry {key} cannot be read ({reason}); it is left in place: delete it, \
         or let a lookup of its domain replace it"
    )]
    RedisEntry {
        /// The key.
        key: String,
        /// What is wrong with its value.
        reason: String,
    },
}

impl From<StoreError> for CacheError {
    fn from(error: StoreError) -> CacheError {
        CacheError::Store(Box::new(error))
    }
}

/// A store of [`CacheEntry`]s by domain (lowercase A-labels).
///
/// Calls return boxed futures so that stores are interchangeable behind `Arc<dyn PolicyCache>`;
/// a store that blocks (SQLite) does its work off the async threads.
pub trait PolicyCache: Send + Sync + fmt::Debug {
    /// The entry for `domain`, if any.
    fn get<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>, CacheError>>;

    /// Stores `entry` for `domain`, replacing any earlier one, atomically.
    fn put<'a>(
        &'a self,
        domain: &'a str,
        entry: CacheEntry,
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Forgets `domain`.
    fn delete<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Every entry, for the proactive refresh and for housekeeping.
    fn scan(&self) -> BoxFuture<'_, Result<Vec<(String, CacheEntry)>, CacheError>>;
}

/// DANE facts checked at second 1,000, for the unit tests of the cache and the resolver.
#[cfg(test)]
pub(crate) fn dane_facts_for_tests(
    mx_validated: bool,
    hosts: &[&str],
    failed: &[&str],
) -> DaneEntry {
    DaneEntry {
        mx_validated,
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        failed: failed.iter().map(|h| h.to_string()).collect(),
        mx_error: None,
        checked_at: Timestamp::from_unix_seconds_saturating(1_000),
    }
}
