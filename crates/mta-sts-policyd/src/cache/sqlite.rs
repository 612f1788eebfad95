//! The SQLite cache: the storage crate's [`SqlitePolicyCache`] (one file, WAL, an integrity check
//! and the salvage of a damaged file at every open; see its documentation for the crash
//! guarantees) behind the daemon's [`PolicyCache`] trait.

use std::path::Path;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use mta_sts_net::SystemClock;
use mta_sts_store::StoreError;
use mta_sts_store::policy_cache::{Salvage, SqlitePolicyCache};

use super::{CacheEntry, CacheError, PolicyCache};

/// A [`PolicyCache`] in an SQLite file; survives restarts and crashes.
#[derive(Debug, Clone)]
pub struct SqliteCache(SqlitePolicyCache);

impl SqliteCache {
    /// Opens (or creates) the cache at `path`. Blocking: call it before serving, or from
    /// `spawn_blocking`.
    ///
    /// A missing parent directory is created (owner only). A new file gets the schema, a file
    /// of an older schema version is migrated keeping every row, and a file that is not SQLite,
    /// belongs to another program or has a newer schema is refused and left as it was. A
    /// damaged file is salvaged ([`SqliteCache::salvage`] says what was done, for the log).
    pub fn open(path: &Path) -> Result<SqliteCache, CacheError> {
        SqlitePolicyCache::open(path, &SystemClock)
            .map(SqliteCache)
            .map_err(|error| opening(path, error))
    }

    /// Opens the cache at `path` for reading only (`mta-sts query`): nothing is created,
    /// migrated, salvaged or written (`put` and `delete` fail). A missing file is
    /// [`CacheError::Missing`].
    pub fn open_read_only(path: &Path) -> Result<SqliteCache, CacheError> {
        SqlitePolicyCache::open_read_only(path)
            .map(SqliteCache)
            .map_err(|error| opening(path, error))
    }

    /// What was salvaged when this cache was opened, if its file was damaged: for the log.
    pub fn salvage(&self) -> Option<&Salvage> {
        self.0.salvage()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The refusals of an open in the daemon's words, which name its own flags (`--cache`); every
/// other failure as the store says it.
fn opening(path: &Path, error: StoreError) -> CacheError {
    match error {
        StoreError::Missing { path } => CacheError::Missing { path },
        StoreError::CreateDirectory { path, source } => {
            CacheError::CreateDirectory { path, source }
        }
        StoreError::NotOurs { reason, .. } => CacheError::NotACache {
            path: path.to_path_buf(),
            reason,
        },
        StoreError::NewerSchema {
            found, supported, ..
        } => CacheError::UnknownVersion {
            path: path.to_path_buf(),
            found,
            supported,
        },
        other => CacheError::from(other),
    }
}

impl PolicyCache for SqliteCache {
    fn get<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>, CacheError>> {
        async move { Ok(self.0.get(domain).await?) }.boxed()
    }

    fn put<'a>(
        &'a self,
        domain: &'a str,
        entry: CacheEntry,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move { Ok(self.0.put(domain, entry).await?) }.boxed()
    }

    fn delete<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        async move { Ok(self.0.delete(domain).await?) }.boxed()
    }

    fn scan(&self) -> BoxFuture<'_, Result<Vec<(String, CacheEntry)>, CacheError>> {
        async move { Ok(self.0.scan().await?) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use mta_sts_store::test_support::TempDir;

    use super::*;

    #[test]
    fn refusals_name_the_daemons_own_flag() {
        let dir = TempDir::new("policyd-sqlite-refusals");
        let garbage = dir.path().join("notes.db");
        std::fs::write(&garbage, b"somebody's notes\n".repeat(300)).expect("write");
        let error = SqliteCache::open(&garbage).expect_err("not a cache");
        assert!(matches!(error, CacheError::NotACache { .. }), "{error:?}");
        assert!(error.to_string().contains("--cache sqlite:PATH"), "{error}");

        std::fs::write(dir.path().join("blocked"), b"keep").expect("write");
        let error =
            SqliteCache::open(&dir.path().join("blocked/sub/cache.db")).expect_err("blocked");
        assert!(
            matches!(error, CacheError::CreateDirectory { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("--cache sqlite:PATH"), "{error}");

        let missing = dir.path().join("missing.db");
        let error = SqliteCache::open_read_only(&missing).expect_err("missing");
        assert!(matches!(error, CacheError::Missing { .. }), "{error:?}");
        assert!(!missing.exists());

        let cache = dir.path().join("cache.db");
        drop(SqliteCache::open(&cache).expect("new cache"));
        rusqlite::Connection::open(&cache)
            .and_then(|raw| raw.pragma_update(None, "user_version", 99))
            .expect("pragma");
        let error = SqliteCache::open(&cache).expect_err("newer");
        assert!(
            matches!(error, CacheError::UnknownVersion { found: 99, .. }),
            "{error:?}"
        );
    }
}
