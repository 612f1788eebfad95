//! A short per-domain cache of finished reports, so reloading a permalink or polling the API
//! does not run the check (and dial the domain's hosts) again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mta_sts_check::CheckReport;

/// Reports kept at most. A report holds up to a 64 KiB policy body, so this bounds the cache to
/// a few tens of MiB however many domains are checked.
const MAX_ENTRIES: usize = 256;

/// Finished reports by domain, each kept for the configured time.
#[derive(Debug)]
pub(crate) struct ResultCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    stored: Instant,
    report: Arc<CheckReport>,
}

impl ResultCache {
    /// A cache keeping each report for `ttl` (zero: no caching).
    pub(crate) fn new(ttl: Duration) -> ResultCache {
        ResultCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The report for `domain` and its age, if one younger than the TTL is kept.
    pub(crate) fn get(&self, domain: &str, now: Instant) -> Option<(Arc<CheckReport>, Duration)> {
        // Poisoning only means a panic elsewhere mid-update; every entry is still whole.
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(domain)?;
        let age = now.saturating_duration_since(entry.stored);
        (age < self.ttl).then(|| (Arc::clone(&entry.report), age))
    }

    /// Keeps `report` for its domain.
    pub(crate) fn put(&self, report: Arc<CheckReport>, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&report.domain) {
            entries.retain(|_, e| now.saturating_duration_since(e.stored) < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.stored)
                    .map(|(domain, _)| domain.clone());
                if let Some(domain) = oldest {
                    entries.remove(&domain);
                }
            }
        }
        entries.insert(
            report.domain.clone(),
            Entry {
                stored: now,
                report,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use mta_sts_check::{Outcome, Publish, Timings, Verdict};

    use super::*;

    fn report(domain: &str) -> Arc<CheckReport> {
        Arc::new(CheckReport {
            domain: domain.to_string(),
            verdict: Verdict::Pass,
            findings: Vec::new(),
            sts_record: None,
            policy: None,
            policy_error: None,
            mx: None,
            mx_hosts: Vec::new(),
            tlsrpt_record: None,
            dane: Vec::new(),
            publish: Publish::default(),
            timings_ms: Timings::default(),
            outcome: Outcome::Complete,
            not_learnt: Vec::new(),
            sections: Vec::new(),
            incomplete: None,
        })
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = ResultCache::new(Duration::from_secs(60));
        let t0 = Instant::now();
        cache.put(report("a.test"), t0);
        let (hit, age) = cache
            .get("a.test", t0 + Duration::from_secs(10))
            .expect("fresh");
        assert_eq!(
            (hit.domain.as_str(), age),
            ("a.test", Duration::from_secs(10))
        );
        assert!(cache.get("a.test", t0 + Duration::from_secs(60)).is_none());
        assert!(cache.get("b.test", t0).is_none());
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = ResultCache::new(Duration::ZERO);
        let t0 = Instant::now();
        cache.put(report("a.test"), t0);
        assert!(cache.get("a.test", t0).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ResultCache::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for n in 0..=MAX_ENTRIES {
            cache.put(
                report(&format!("d{n}.test")),
                t0 + Duration::from_millis(u64::try_from(n).expect("small")),
            );
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        // The oldest went first.
        assert!(cache.get("d0.test", t0).is_none());
        assert!(cache.get(&format!("d{MAX_ENTRIES}.test"), t0).is_some());
    }
}
