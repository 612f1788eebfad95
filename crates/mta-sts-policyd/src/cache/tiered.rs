//! Memory in front of a persistent store.

use std::sync::Arc;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::{CacheEntry, CacheError, MemoryCache, PolicyCache};

/// A [`MemoryCache`] in front of a persistent [`PolicyCache`]: reads are served from memory when
/// they can (a hit never touches the disk), writes go to both, and the persistent store stays the
/// source of truth for [`PolicyCache::scan`] and after a restart.
#[derive(Debug)]
pub struct TieredCache {
    front: MemoryCache,
    back: Arc<dyn PolicyCache>,
    /// Whether writes reach `back` (not for a diagnostic that must leave the store as it is).
    write_through: bool,
}

impl TieredCache {
    /// Puts a memory tier of `capacity` domains in front of `back`.
    pub fn new(capacity: usize, back: Arc<dyn PolicyCache>) -> TieredCache {
        TieredCache {
            front: MemoryCache::new(capacity),
            back,
            write_through: true,
        }
    }

    /// Memory in front of `back` that is only read: writes stay in memory, so a diagnostic
    /// (`mta-sts query`) sees the store as the daemon left it and changes nothing in it. A domain
    /// deleted from memory is read from `back` again; [`PolicyCache::scan`] lists `back` alone.
    pub fn read_only(capacity: usize, back: Arc<dyn PolicyCache>) -> TieredCache {
        TieredCache {
            front: MemoryCache::new(capacity),
            back,
            write_through: false,
        }
    }
}

impl PolicyCache for TieredCache {
    fn get<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>, CacheError>> {
        async move {
            if let Some(entry) = self.front.get(domain).await? {
                return Ok(Some(entry));
            }
            let entry = self.back.get(domain).await?;
            if let Some(entry) = &entry {
                self.front.put(domain, entry.clone()).await?;
            }
            Ok(entry)
        }
        .boxed()
    }

    fn put<'a>(
        &'a self,
        domain: &'a str,
        entry: CacheEntry,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            // Memory first: if the disk fails, the daemon still answers from what it learnt.
            self.front.put(domain, entry.clone()).await?;
            if !self.write_through {
                return Ok(());
            }
            self.back.put(domain, entry).await
        }
        .boxed()
    }

    fn delete<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            self.front.delete(domain).await?;
            if !self.write_through {
                return Ok(());
            }
            self.back.delete(domain).await
        }
        .boxed()
    }

    fn scan(&self) -> BoxFuture<'_, Result<Vec<(String, CacheEntry)>, CacheError>> {
        self.back.scan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mta_sts_core::time::Timestamp;

    #[tokio::test]
    async fn reads_fall_through_and_writes_reach_both() {
        let back = Arc::new(MemoryCache::new(100));
        let entry = CacheEntry {
            checked_at: Some(Timestamp::from_unix_seconds_saturating(9)),
            ..CacheEntry::default()
        };
        back.put("old.example", entry.clone()).await.expect("seed");
        let tiered = TieredCache::new(1, back.clone());
        assert_eq!(
            tiered.get("old.example").await.ok(),
            Some(Some(entry.clone()))
        );
        tiered.put("new.example", entry.clone()).await.expect("put");
        assert_eq!(
            back.get("new.example").await.ok(),
            Some(Some(entry.clone()))
        );
        // The front holds one domain; the back keeps both.
        assert_eq!(tiered.scan().await.ok().map(|all| all.len()), Some(2));
        tiered.delete("old.example").await.expect("delete");
        assert_eq!(back.get("old.example").await.ok(), Some(None));
    }

    #[tokio::test]
    async fn a_read_only_tier_reads_the_store_and_keeps_writes_in_memory() {
        let back = Arc::new(MemoryCache::new(100));
        let entry = CacheEntry {
            checked_at: Some(Timestamp::from_unix_seconds_saturating(9)),
            ..CacheEntry::default()
        };
        back.put("old.example", entry.clone()).await.expect("seed");
        let tiered = TieredCache::read_only(10, back.clone());
        assert_eq!(
            tiered.get("old.example").await.ok(),
            Some(Some(entry.clone()))
        );
        tiered.put("new.example", entry.clone()).await.expect("put");
        assert_eq!(
            tiered.get("new.example").await.ok(),
            Some(Some(entry.clone()))
        );
        assert_eq!(back.get("new.example").await.ok(), Some(None));
        tiered.delete("old.example").await.expect("delete");
        assert_eq!(back.get("old.example").await.ok(), Some(Some(entry)));
        assert_eq!(tiered.scan().await.ok().map(|all| all.len()), Some(1));
    }
}
