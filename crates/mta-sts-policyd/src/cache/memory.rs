//! The in-memory store: a map bounded by entry count, evicting the least recently used entry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, ready};

use super::{CacheEntry, CacheError, PolicyCache};

/// A bounded in-memory [`PolicyCache`]; everything is lost on restart.
#[derive(Debug)]
pub struct MemoryCache {
    capacity: usize,
    state: Mutex<Lru>,
}

#[derive(Debug, Default)]
struct Lru {
    /// Domain → entry and the tick of its last use.
    entries: HashMap<String, (CacheEntry, u64)>,
    /// Tick of last use → domain: the first key is the least recently used.
    order: BTreeMap<u64, String>,
    tick: u64,
}

impl Lru {
    fn touch(&mut self, domain: &str) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, used)) = self.entries.get_mut(domain) {
            self.order.remove(used);
            *used = tick;
            self.order.insert(tick, domain.to_string());
        }
    }
}

impl MemoryCache {
    /// A store holding at most `capacity` domains (at least one).
    pub fn new(capacity: usize) -> MemoryCache {
        MemoryCache {
            capacity: capacity.max(1),
            state: Mutex::new(Lru::default()),
        }
    }

    /// How many domains are held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        // A panic while holding the lock leaves the map consistent (every step is a single map
        // operation), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get_now(&self, domain: &str) -> Option<CacheEntry> {
        let mut lru = self.lock();
        let entry = lru.entries.get(domain).map(|(entry, _)| entry.clone())?;
        lru.touch(domain);
        Some(entry)
    }

    fn put_now(&self, domain: &str, entry: CacheEntry) {
        let mut lru = self.lock();
        lru.tick += 1;
        let tick = lru.tick;
        if let Some((_, used)) = lru.entries.insert(domain.to_string(), (entry, tick)) {
            lru.order.remove(&used);
        }
        lru.order.insert(tick, domain.to_string());
        while lru.entries.len() > self.capacity {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            lru.entries.remove(&oldest);
        }
    }

    fn delete_now(&self, domain: &str) {
        let mut lru = self.lock();
        if let Some((_, used)) = lru.entries.remove(domain) {
            lru.order.remove(&used);
        }
    }
}

impl PolicyCache for MemoryCache {
    fn get<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>, CacheError>> {
        ready(Ok(self.get_now(domain))).boxed()
    }

    fn put<'a>(
        &'a self,
        domain: &'a str,
        entry: CacheEntry,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        self.put_now(domain, entry);
        ready(Ok(())).boxed()
    }

    fn delete<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        self.delete_now(domain);
        ready(Ok(())).boxed()
    }

    fn scan(&self) -> BoxFuture<'_, Result<Vec<(String, CacheEntry)>, CacheError>> {
        let all = self
            .lock()
            .entries
            .iter()
            .map(|(domain, (entry, _))| (domain.clone(), entry.clone()))
            .collect();
        ready(Ok(all)).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mta_sts_core::time::Timestamp;

    fn entry(secs: i64) -> CacheEntry {
        CacheEntry {
            checked_at: Some(Timestamp::from_unix_seconds_saturating(secs)),
            ..CacheEntry::default()
        }
    }

    #[tokio::test]
    async fn get_put_delete() {
        let cache = MemoryCache::new(10);
        assert_eq!(cache.get("a.example").await.ok(), Some(None));
        cache.put("a.example", entry(1)).await.expect("put");
        assert_eq!(cache.get("a.example").await.ok(), Some(Some(entry(1))));
        cache.put("a.example", entry(2)).await.expect("put");
        assert_eq!(cache.get("a.example").await.ok(), Some(Some(entry(2))));
        assert_eq!(cache.len(), 1);
        cache.delete("a.example").await.expect("delete");
        assert!(cache.is_empty());
        assert_eq!(cache.scan().await.ok().map(|v| v.len()), Some(0));
    }

    #[tokio::test]
    async fn dane_facts_are_kept_with_the_policy() {
        use crate::cache::{CachedPolicy, DaneEntry};
        let body = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";
        let facts = DaneEntry {
            mx_validated: true,
            hosts: vec!["mx.example.com".into()],
            failed: Vec::new(),
            mx_error: None,
            checked_at: Timestamp::from_unix_seconds_saturating(7),
        };
        let entry = CacheEntry {
            policy: CachedPolicy::new("1", body, Timestamp::from_unix_seconds_saturating(5))
                .ok()
                .map(|p| p.with_dane(Some(facts.clone()))),
            ..CacheEntry::default()
        };
        let cache = MemoryCache::new(10);
        cache.put("example.com", entry).await.expect("put");
        let back = cache.get("example.com").await.ok().flatten();
        assert_eq!(
            back.and_then(|e| e.policy).and_then(|p| p.dane().cloned()),
            Some(facts)
        );
    }

    #[tokio::test]
    async fn evicts_the_least_recently_used() {
        let cache = MemoryCache::new(2);
        cache.put("a", entry(1)).await.expect("put");
        cache.put("b", entry(2)).await.expect("put");
        // Reading `a` makes `b` the least recently used.
        assert!(cache.get("a").await.ok().flatten().is_some());
        cache.put("c", entry(3)).await.expect("put");
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").await.ok().flatten().is_some());
        assert!(cache.get("b").await.ok().flatten().is_none());
        assert!(cache.get("c").await.ok().flatten().is_some());
    }
}
