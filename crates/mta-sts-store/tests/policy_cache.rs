//! The daemon's policy cache after its move into the storage crate: a file written by the
//! release before the move opens with every entry, read-write (as the daemon opens it) and
//! read-only (as `mta-sts query` does).

use std::path::{Path, PathBuf};
use std::time::Duration;

use mta_sts_core::time::{ManualClock, Timestamp};
use mta_sts_store::policy_cache::{
    APPLICATION_ID, BackoffEntry, CacheEntry, CachedPolicy, DaneEntry, NegativeEntry,
    NegativeReason, SCHEMA_VERSION, SqlitePolicyCache,
};
use mta_sts_store::test_support::TempDir;

/// Written by the code at ac1c0ee: see `fixtures/policy-cache-v2-ac1c0ee.md`.
const FIXTURE: &str = "tests/fixtures/policy-cache-v2-ac1c0ee.sqlite3";
/// 2026-12-06T00:00:00Z, the time the fixture's entries count from.
const T0: i64 = 1_796_515_200;

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_unix_seconds_saturating(T0).saturating_add(Duration::from_secs(seconds))
}

fn fixture_copy(dir: &TempDir) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let path = dir.path().join("cache.sqlite3");
    std::fs::copy(source, &path).expect("copy the fixture");
    path
}

/// The entries the fixture's program wrote, built from the same values.
fn expected() -> Vec<(String, CacheEntry)> {
    let body =
        "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.example.net\nmax_age: 604800\n";
    let dane = DaneEntry {
        mx_validated: true,
        hosts: vec!["mx1.example.com".into()],
        failed: vec!["mx2.example.com".into()],
        mx_error: None,
        checked_at: at(30),
    };
    let testing = "version: STSv1\nmode: testing\nmx: mail.xn--bcher-kva.example\nmax_age: 86400\n";
    let mut entries = vec![
        (
            "example.com".to_string(),
            CacheEntry {
                policy: Some(
                    CachedPolicy::new("20261206T000000", body, at(10))
                        .expect("policy")
                        .with_dane(Some(dane)),
                ),
                checked_at: Some(at(60)),
                negative: None,
                backoff: Some(BackoffEntry {
                    id: "20261206T120000".into(),
                    failures: 3,
                    last_failure: at(120),
                    until: at(120 + 1200),
                    error: "HTTP status 404".into(),
                }),
            },
        ),
        (
            "xn--bcher-kva.example".to_string(),
            CacheEntry {
                policy: Some(CachedPolicy::new("abc123", testing, at(200)).expect("policy")),
                checked_at: Some(at(200)),
                ..CacheEntry::default()
            },
        ),
        (
            "no-record.example".to_string(),
            CacheEntry {
                checked_at: Some(at(300)),
                negative: Some(NegativeEntry {
                    reason: NegativeReason::NoRecord,
                    since: at(300),
                    until: at(600),
                }),
                ..CacheEntry::default()
            },
        ),
        (
            "servfail.example".to_string(),
            CacheEntry {
                negative: Some(NegativeEntry {
                    reason: NegativeReason::LookupFailed {
                        error: "SERVFAIL".into(),
                    },
                    since: at(400),
                    // Stored as i64::MAX by a release that counted in u64.
                    until: Timestamp::MAX,
                }),
                ..CacheEntry::default()
            },
        ),
    ];
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

async fn sorted(cache: &SqlitePolicyCache) -> Vec<(String, CacheEntry)> {
    let mut entries = cache.scan().await.expect("scan");
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

fn header(path: &Path) -> (i64, i64) {
    let connection = rusqlite::Connection::open(path).expect("raw");
    connection
        .query_row(
            "SELECT application_id, user_version FROM pragma_application_id, pragma_user_version",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("header")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_written_before_the_move_opens_with_every_entry() {
    let dir = TempDir::new("policy-cache-fixture");
    let path = fixture_copy(&dir);
    let clock = ManualClock::new(at(1_000));
    let cache = SqlitePolicyCache::open(&path, &clock).expect("the old file opens");
    assert_eq!(cache.salvage(), None, "a sound file is not salvaged");
    assert_eq!(sorted(&cache).await, expected());
    assert_eq!(
        cache.get("example.com").await.expect("get"),
        expected()
            .into_iter()
            .find(|(d, _)| d == "example.com")
            .map(|(_, e)| e)
    );
    // It stays writable, and is still the same schema.
    cache
        .put(
            "new.example",
            CacheEntry {
                checked_at: Some(at(2_000)),
                ..CacheEntry::default()
            },
        )
        .await
        .expect("put");
    drop(cache);
    assert_eq!(header(&path), (APPLICATION_ID, SCHEMA_VERSION));
    let reopened = SqlitePolicyCache::open(&path, &clock).expect("reopen");
    assert_eq!(reopened.scan().await.expect("scan").len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_written_before_the_move_reads_read_only_and_is_not_changed() {
    let dir = TempDir::new("policy-cache-fixture-ro");
    let path = fixture_copy(&dir);
    let before = std::fs::read(&path).expect("read");
    let cache = SqlitePolicyCache::open_read_only(&path).expect("the old file opens read-only");
    assert_eq!(sorted(&cache).await, expected());
    assert!(cache.put("x.example", CacheEntry::default()).await.is_err());
    drop(cache);
    assert_eq!(std::fs::read(&path).expect("read"), before);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["cache.sqlite3"], "nothing created beside it");
}
