//! The SQLite cache survives its process being killed (SIGKILL) in the middle of writing.
//!
//! The writer is this test binary run again with [`WRITER_ENV`] set to the cache file: it runs
//! only [`sqlite_writer`], which stores entries for distinct domains one after another, each in
//! its own transaction, and prints `ACK <n>` once `put` has returned for entry `n` (committed).
//! The parent kills it after a random number of acknowledgements and a random short delay,
//! while it is still writing, then checks the file as the restarted daemon would find it: a
//! `-wal` and a `-shm` left behind, every acknowledged entry intact, nothing torn, `PRAGMA
//! integrity_check` clean, and new writes stored.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mta_sts_policyd::cache::{
    BackoffEntry, CacheEntry, CachedPolicy, NegativeEntry, NegativeReason,
};
use mta_sts_policyd::{PolicyCache as _, SqliteCache, Timestamp};

use crate::support::TempDir;

/// Set (to the cache file) in the writer process only.
const WRITER_ENV: &str = "MTA_STS_POLICYD_CRASH_WRITER";

/// How many entries the writer would store if nobody stopped it; far more than it gets to.
const WRITES: u64 = 100_000;

/// Rounds of write, kill, check.
const ROUNDS: usize = 5;

/// The domain of entry `n`.
fn domain(n: u64) -> String {
    format!("d{n}.crash.example")
}

/// The `n` of [`domain`]`(n)`.
fn index(domain: &str) -> Option<u64> {
    domain
        .strip_prefix('d')?
        .strip_suffix(".crash.example")?
        .parse()
        .ok()
}

/// Entry `n`: every column used on some entries, with values derived from `n` so that a row
/// from another entry, or half of one, cannot pass for it.
fn entry(n: u64) -> CacheEntry {
    let at = Timestamp::from_unix_seconds_saturating(1_800_000_000)
        .saturating_add(Duration::from_secs(n));
    let body = format!(
        "version: STSv1\nmode: enforce\nmx: mx1.d{n}.crash.example\nmx: mx2.d{n}.crash.example\n\
         mx: *.backup.crash.example\nmax_age: {}\n",
        86_400 + n
    );
    CacheEntry {
        policy: Some(CachedPolicy::new(format!("id{n}"), body, at).expect("a valid policy")),
        checked_at: Some(at.saturating_add(Duration::from_secs(60))),
        negative: n.is_multiple_of(3).then(|| NegativeEntry {
            reason: if n.is_multiple_of(2) {
                NegativeReason::NoRecord
            } else {
                NegativeReason::LookupFailed {
                    error: format!("SERVFAIL for entry {n}"),
                }
            },
            since: at,
            until: at.saturating_add(Duration::from_secs(300)),
        }),
        backoff: n.is_multiple_of(5).then(|| BackoffEntry {
            id: format!("next{n}"),
            failures: u32::try_from(n % 7).expect("small"),
            last_failure: at,
            until: at.saturating_add(Duration::from_secs(900)),
            error: format!("HTTP 500 for entry {n}"),
        }),
    }
}

/// The writer: a no-op unless this process was started by
/// [`a_killed_writer_loses_nothing_it_acknowledged`] with [`WRITER_ENV`] set.
#[test]
fn sqlite_writer() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let cache = SqliteCache::open(Path::new(&path)).expect("cache opens");
        for n in 0..WRITES {
            cache.put(&domain(n), entry(n)).await.expect("put");
            // After the commit: every line the parent reads names a stored entry.
            println!("ACK {n}");
        }
    });
}

/// A random number below `bound`, without a random-number crate: `RandomState` is seeded from
/// the operating system's randomness.
fn random_below(bound: u64) -> u64 {
    RandomState::new().hash_one(std::time::SystemTime::now()) % bound
}

/// Runs the writer on `path`, kills it with SIGKILL after `acks` acknowledgements and
/// `delay`; the highest entry it acknowledged.
fn write_and_kill(path: &Path, stderr: &Path, acks: u64, delay: Duration) -> u64 {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["crash::sqlite_writer", "--exact", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(WRITER_ENV, path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("the writer starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    // Reads to the end: lines still in the pipe when the child dies are read after the kill,
    // and each was printed after its entry was committed.
    let reader = std::thread::spawn(move || {
        let mut last = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness prints "test crash::sqlite_writer ... " with no newline before the
            // test's own output, so the first acknowledgement shares its line.
            if let Some((_, n)) = line.split_once("ACK ") {
                let n: u64 = n.parse().expect("ACK <n>");
                assert_eq!(last.map_or(0, |last| last + 1), n, "acknowledged in order");
                last = Some(n);
                let _ = sender.send(n);
            }
        }
        last
    });
    loop {
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(n) if n + 1 >= acks => break,
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "the writer stopped acknowledging ({e}; {status:?}): {}",
                    std::fs::read_to_string(stderr).unwrap_or_default()
                );
            }
        }
    }
    std::thread::sleep(delay);
    // Child::kill sends SIGKILL on unix: no destructor, no close, no checkpoint runs.
    child.kill().expect("kill");
    let status = child.wait().expect("wait");
    assert_eq!(
        status.signal(),
        Some(9),
        "the writer must die by SIGKILL while writing, not finish: {status:?}"
    );
    reader
        .join()
        .expect("reader")
        .expect("at least one acknowledgement")
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[test]
fn a_killed_writer_loses_nothing_it_acknowledged() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = TempDir::new("crash");
    for round in 0..ROUNDS {
        let path = dir.file(&format!("cache-{round}.db"));
        let stderr = dir.file(&format!("writer-{round}.stderr"));
        // Enough entries that SQLite has checkpointed the WAL into the database several times
        // (every 1000 pages) before the kill, so the kill can land in a commit or a checkpoint.
        let acks = 500 + random_below(3_000);
        let delay = Duration::from_micros(random_below(20_000));
        let last = write_and_kill(&path, &stderr, acks, delay);
        assert!(last + 1 >= acks, "round {round}: {last}");

        // What the kill left: the WAL holds the commits since the last checkpoint, and the
        // shared-memory index of a connection that never closed.
        let wal = sidecar(&path, "-wal");
        let shm = sidecar(&path, "-shm");
        assert!(wal.exists(), "round {round}: no {}", wal.display());
        assert!(shm.exists(), "round {round}: no {}", shm.display());

        runtime.block_on(async {
            let cache = SqliteCache::open(&path).expect("the file opens after the kill");
            // What a kill leaves (a log ending in a transaction cut short) is not damage.
            assert!(
                cache.salvage().is_none(),
                "round {round}: {:?}",
                cache.salvage().map(ToString::to_string)
            );
            let stored: BTreeMap<String, CacheEntry> =
                cache.scan().await.expect("scan").into_iter().collect();
            for n in 0..=last {
                let found = stored.get(&domain(n));
                assert!(
                    found == Some(&entry(n)),
                    "round {round}: entry {n} of {last} acknowledged: {found:?}"
                );
            }
            // At most the one write in flight at the kill, complete if at all: it was
            // committed or it was not.
            let extra: Vec<&String> = stored
                .keys()
                .filter(|d| index(d).is_none_or(|n| n > last))
                .collect();
            assert!(
                extra.is_empty() || extra == [&domain(last + 1)],
                "round {round}: {extra:?}"
            );
            if let Some(found) = stored.get(&domain(last + 1)) {
                assert_eq!(found, &entry(last + 1), "round {round}");
            }
            assert_eq!(
                cache.get(&domain(last)).await.expect("get"),
                Some(entry(last))
            );

            // Another connection's view: the file is consistent.
            let check = rusqlite::Connection::open(&path).expect("plain connection");
            let verdict: String = check
                .query_row("PRAGMA integrity_check", [], |row| row.get(0))
                .expect("integrity_check");
            assert_eq!(verdict, "ok", "round {round}");
            drop(check);

            // And the cache takes new writes, kept across a clean reopen.
            let fresh = domain(WRITES + 1);
            cache.put(&fresh, entry(7)).await.expect("a new write");
            cache.put(&domain(0), entry(9)).await.expect("an overwrite");
            drop(cache);
            let reopened = SqliteCache::open(&path).expect("reopens");
            assert_eq!(reopened.get(&fresh).await.expect("get"), Some(entry(7)));
            assert_eq!(reopened.get(&domain(0)).await.expect("get"), Some(entry(9)));
            assert_eq!(reopened.get(&domain(1)).await.expect("get"), Some(entry(1)));
        });
        // The last connection closed cleanly: SQLite checkpointed the WAL into the database
        // and removed both files, so what the kill left behind is gone for good.
        assert!(!wal.exists(), "round {round}: {} is left", wal.display());
        assert!(!shm.exists(), "round {round}: {} is left", shm.display());
    }
}
