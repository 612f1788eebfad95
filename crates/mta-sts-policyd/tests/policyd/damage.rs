//! A damaged SQLite cache: the header overwritten, 32 KB of garbage in the middle, a damaged
//! write-ahead log, a truncated file. Each cache is written through [`SqliteCache`] itself, then
//! damaged, then opened the way the daemon opens it: the daemon starts, every row salvaged reads
//! back exactly as written, salvaged plus lost rows account for every row written (or the report
//! says the count is a lower bound), and the damaged file is kept aside byte for byte.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mta_sts_policyd::cache::{
    BackoffEntry, CacheEntry, CachedPolicy, DaneEntry, NegativeEntry, NegativeReason, Salvage,
};
use mta_sts_policyd::netstring;
use mta_sts_policyd::{CacheKind, Daemon, PolicyCache as _, Reply, SqliteCache, Timestamp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{TempDir, lab_config};

/// Rows written per test: a file of a few thousand pages.
const ROWS: u64 = 20_000;

/// The domain of row `n`. Names go into the cache in an order unrelated to their sort order, as
/// mail traffic puts them there, so a row's table page and its index page are far apart.
fn domain(n: u64) -> String {
    // An odd multiplier is a bijection on 32-bit numbers: distinct rows, distinct names.
    let mixed = (n.wrapping_mul(0x9e37_79b1)) & 0xffff_ffff;
    format!("d{mixed:08x}.damage.example")
}

/// Row `n`, with every kind of column filled on some rows. Fresh at `now` (policy valid, TXT and
/// DANE just checked), so a daemon answers from it without asking DNS.
fn entry(n: u64, now: Timestamp) -> CacheEntry {
    let at = Timestamp::from_unix_seconds_saturating(now.unix_seconds() - 60);
    let body = format!(
        "version: STSv1\nmode: enforce\nmx: mx1.{}\nmx: *.backup.damage.example\nmax_age: {}\n",
        domain(n),
        2_592_000 + n
    );
    CacheEntry {
        policy: Some(
            CachedPolicy::new(format!("id{n}"), body, at)
                .expect("a valid policy")
                .with_dane(Some(DaneEntry {
                    mx_validated: n.is_multiple_of(4),
                    hosts: Vec::new(),
                    failed: Vec::new(),
                    mx_error: None,
                    checked_at: now,
                })),
        ),
        checked_at: Some(now),
        negative: n.is_multiple_of(3).then(|| NegativeEntry {
            reason: NegativeReason::LookupFailed {
                error: format!("SERVFAIL for row {n}"),
            },
            since: at,
            until: at.saturating_add(Duration::from_secs(300)),
        }),
        backoff: n.is_multiple_of(5).then(|| BackoffEntry {
            id: format!("next{n}"),
            failures: 1,
            last_failure: at,
            until: at.saturating_add(Duration::from_secs(900)),
            error: format!("HTTP 500 for row {n}"),
        }),
    }
}

fn now() -> Timestamp {
    mta_sts_policyd::Clock::now(&mta_sts_policyd::SystemClock)
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes rows `range` into the cache at `path` through the cache's own code.
async fn write_rows(cache: &SqliteCache, range: std::ops::Range<u64>, now: Timestamp) {
    for n in range {
        cache.put(&domain(n), entry(n, now)).await.expect("put");
    }
}

/// A cache of [`ROWS`] rows at `path`, closed cleanly (no WAL left).
async fn written_cache(path: &Path, now: Timestamp) {
    let cache = SqliteCache::open(path).expect("a new cache");
    write_rows(&cache, 0..ROWS, now).await;
}

/// Overwrites `len` bytes at `at` with bytes no SQLite structure looks like.
fn garbage(path: &Path, at: u64, len: usize) {
    use std::io::{Seek as _, SeekFrom, Write as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open to damage");
    file.seek(SeekFrom::Start(at)).expect("seek");
    let bytes: Vec<u8> = (0..len)
        .map(|i| u8::try_from((i * 131 + 17) % 251).expect("a byte"))
        .collect();
    file.write_all(&bytes).expect("damage");
}

/// The files in `dir` whose names start with `prefix`, sorted.
fn listing(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Opens the damaged cache the way the daemon does, and checks everything the salvage promises;
/// the report.
async fn open_and_check(path: &Path, now: Timestamp) -> Salvage {
    let dir = path.parent().expect("a directory");
    let damaged = std::fs::read(path).expect("read the damaged file");
    let damaged_wal = std::fs::read(sidecar(path, "-wal")).ok();

    let cache = SqliteCache::open(path).expect("a damaged cache opens");
    let salvage = cache.salvage().cloned().expect("the damage was found");
    assert_eq!(salvage.path, path);

    // Every salvaged row is exactly what was written.
    let by_domain: HashMap<String, u64> = (0..ROWS).map(|n| (domain(n), n)).collect();
    let rows = cache.scan().await.expect("the new file reads");
    assert_eq!(rows.len() as u64, salvage.salvaged, "{salvage}");
    for (name, found) in &rows {
        let n = by_domain
            .get(name)
            .unwrap_or_else(|| panic!("{name} was never written"));
        assert_eq!(found, &entry(*n, now), "row {n} ({name})");
    }
    // Salvaged and lost rows account for every row written; when pages of both the table and
    // its index were lost, the report says its count is a lower bound.
    if salvage.uncounted {
        assert!(salvage.salvaged + salvage.lost <= ROWS, "{salvage}");
        assert!(salvage.to_string().contains("at least"), "{salvage}");
    } else {
        assert_eq!(salvage.salvaged + salvage.lost, ROWS, "{salvage}");
    }
    // The domains named as lost were written, and are not in the new file.
    for name in &salvage.lost_domains {
        assert!(by_domain.contains_key(name), "{name} was never written");
        assert!(
            !rows.iter().any(|(salvaged, _)| salvaged == name),
            "{name} is both"
        );
    }
    assert!(salvage.lost_domains.len() as u64 <= salvage.lost);

    // The damaged file is kept aside as it was, its log beside it under SQLite's naming.
    let kept = &salvage.kept_as;
    assert_eq!(kept.parent(), Some(dir));
    let kept_name = kept.file_name().expect("a name").to_string_lossy();
    let file_name = path.file_name().expect("a name").to_string_lossy();
    let time = kept_name
        .strip_prefix(&format!("{file_name}.damaged-"))
        .unwrap_or_else(|| panic!("{kept_name}"));
    assert!(
        time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{kept_name}"
    );
    assert_eq!(std::fs::read(kept).expect("kept"), damaged);
    assert_eq!(std::fs::read(sidecar(kept, "-wal")).ok(), damaged_wal);
    // One log line, a sentence with the counts and the place of the damaged file.
    let line = salvage.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.contains(&format!("{} rows salvaged", salvage.salvaged))
            && line.contains(&format!("{} rows lost", salvage.lost))
            && line.contains(&kept.display().to_string()),
        "{line}"
    );
    // No scratch file is left behind.
    assert_eq!(
        listing(dir, "."),
        Vec::<String>::new(),
        "temporary files left"
    );
    drop(cache);

    // The new file is sound: the next start salvages nothing and keeps every row.
    let reopened = SqliteCache::open(path).expect("reopens");
    assert!(reopened.salvage().is_none());
    assert_eq!(
        reopened.scan().await.expect("scan").len() as u64,
        salvage.salvaged
    );
    salvage
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_header_is_rebuilt_and_every_row_salvaged() {
    let dir = TempDir::new("damage-header");
    let path = dir.file("cache.sqlite3");
    let now = now();
    written_cache(&path, now).await;
    garbage(&path, 0, 100);
    let salvage = open_and_check(&path, now).await;
    // The pages are intact: nothing is lost.
    assert_eq!((salvage.salvaged, salvage.lost), (ROWS, 0), "{salvage}");
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_in_the_middle_loses_only_its_pages_and_the_daemon_serves_the_rest() {
    let dir = TempDir::new("damage-middle");
    let path = dir.file("cache.sqlite3");
    let now = now();
    written_cache(&path, now).await;
    let len = std::fs::metadata(&path).expect("size").len();
    garbage(&path, len / 2, 32 * 1024);
    let salvage = open_and_check(&path, now).await;
    assert!(salvage.lost > 0, "{salvage}");
    // 32 KB is 8 pages of 4 KB, a few rows each: the rest is salvaged.
    assert!(salvage.salvaged >= ROWS - 500, "{salvage}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_write_ahead_log_keeps_the_commits_after_the_damage() {
    let dir = TempDir::new("damage-wal");
    let live = dir.file("live.sqlite3");
    let path = dir.file("cache.sqlite3");
    let now = now();
    let cache = SqliteCache::open(&live).expect("a new cache");
    write_rows(&cache, 0..ROWS / 2, now).await;
    // A reader holding a snapshot keeps SQLite from checkpointing past it, so every row
    // written from here on stays in the log.
    let mut reader = rusqlite::Connection::open(&live).expect("a reader");
    let snapshot = reader.transaction().expect("a read transaction");
    let _: i64 = snapshot
        .query_row("SELECT count(*) FROM policy_cache", [], |row| row.get(0))
        .expect("read");
    write_rows(&cache, ROWS / 2..ROWS, now).await;
    // What a crash would leave: the file and its log, copied while the writer is idle.
    std::fs::copy(&live, &path).expect("copy the file");
    std::fs::copy(sidecar(&live, "-wal"), sidecar(&path, "-wal")).expect("copy the log");
    drop(snapshot);
    drop(reader);
    drop(cache);
    let wal = sidecar(&path, "-wal");
    let wal_len = std::fs::metadata(&wal).expect("size").len();
    assert!(
        wal_len > 1_000_000,
        "the log holds the second half: {wal_len}"
    );
    garbage(&wal, wal_len / 3, 8 * 1024);

    let salvage = open_and_check(&path, now).await;
    assert!(
        salvage.damage.contains("write-ahead log"),
        "{}",
        salvage.damage
    );
    // SQLite alone would stop at the damage and lose every commit after it (a third of the log);
    // the intact commits after it are replayed.
    assert!(salvage.salvaged > ROWS - ROWS / 10, "{salvage}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_file_keeps_the_rows_before_the_cut() {
    let dir = TempDir::new("damage-truncated");
    let path = dir.file("cache.sqlite3");
    let now = now();
    written_cache(&path, now).await;
    let len = std::fs::metadata(&path).expect("size").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|file| file.set_len(len * 6 / 10))
        .expect("truncate");
    let salvage = open_and_check(&path, now).await;
    assert!(salvage.lost > 0, "{salvage}");
    assert!(salvage.salvaged >= ROWS / 3, "{salvage}");
    // The rows cut off cannot all be named; the log says how much of the file is gone.
    assert!(
        salvage
            .damage
            .contains("pages its header counts: it was cut short"),
        "{salvage}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_starts_on_a_damaged_cache_and_answers_from_what_was_salvaged() {
    let dir = TempDir::new("damage-daemon");
    let path = dir.file("cache.sqlite3");
    let now = now();
    written_cache(&path, now).await;
    let len = std::fs::metadata(&path).expect("size").len();
    garbage(&path, len / 2, 32 * 1024);

    // No network is asked: every domain asked below is answered from the cache; a lab resolver
    // stands by in case one is not.
    let lab = mta_sts_lab::Lab::start_with(Vec::new(), 0)
        .await
        .expect("lab");
    let mut config = lab_config(&lab);
    config.cache = CacheKind::Sqlite(path.clone());
    let daemon = Daemon::new(config).expect("the daemon starts");
    let salvage = daemon.cache_salvage().cloned().expect("a salvage report");
    assert!(salvage.salvaged > 0 && salvage.lost > 0, "{salvage}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let daemon = daemon.clone();
        tokio::spawn(async move {
            daemon
                .serve(listener.into(), async {
                    let _ = stopped.await;
                })
                .await
        })
    };
    let rows: HashMap<String, CacheEntry> = SqliteCache::open(&path)
        .expect("the salvaged file")
        .scan()
        .await
        .expect("scan")
        .into_iter()
        .collect();
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    // Three salvaged domains, over one socketmap connection as Postfix keeps it.
    let asked: Vec<&String> = rows.keys().take(3).collect();
    for name in &asked {
        let request = netstring::encode(format!("postfix {name}").as_bytes());
        stream.write_all(&request).await.expect("send");
        let mut buffer = Vec::new();
        let payload = loop {
            if let Some((payload, used)) =
                netstring::decode_with_limit(&buffer, 1 << 16).expect("a reply netstring")
            {
                let payload = payload.to_vec();
                buffer.drain(..used);
                break payload;
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .expect("answered")
                .expect("read");
            assert!(read > 0, "the daemon closed the connection");
            buffer.extend_from_slice(&chunk[..read]);
        };
        let reply = Reply::parse(&payload).expect("a socketmap reply");
        assert!(
            reply.to_string().starts_with(&format!(
                "OK secure match=mx1.{name}:.backup.damage.example"
            )),
            "{name}: {reply}"
        );
    }
    let _ = stop.send(());
    server
        .await
        .expect("server task")
        .expect("the server stops cleanly");
    lab.shutdown().await;
}

/// Set (to a cache file) in the holder process only.
const HOLDER_ENV: &str = "MTA_STS_POLICYD_DAMAGE_HOLDER";

/// The holder: a no-op unless started by [`a_damaged_cache_another_process_has_open_is_left_alone`]
/// with [`HOLDER_ENV`] set. It keeps a connection to the cache open (as a second daemon would)
/// until its standard input closes.
#[test]
fn cache_holder() {
    let Some(path) = std::env::var_os(HOLDER_ENV) else {
        return;
    };
    let connection = rusqlite::Connection::open(&path).expect("open");
    let _: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .expect("read");
    println!("HOLDING");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut rest);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_cache_another_process_has_open_is_left_alone() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    let dir = TempDir::new("damage-in-use");
    let path = dir.file("cache.sqlite3");
    let now = now();
    let cache = SqliteCache::open(&path).expect("a new cache");
    write_rows(&cache, 0..2_000, now).await;
    drop(cache);
    let mut holder = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["damage::cache_holder", "--exact", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(HOLDER_ENV, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the holder starts");
    let stdout = holder.stdout.take().expect("piped stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let holding = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("HOLDING"));
    assert!(holding, "the holder did not open the cache");

    let len = std::fs::metadata(&path).expect("size").len();
    garbage(&path, len / 2, 32 * 1024);
    let damaged = std::fs::read(&path).expect("read");
    let error = SqliteCache::open(&path).expect_err("another process has it open");
    assert!(
        matches!(error, mta_sts_policyd::cache::CacheError::Store(ref store) if matches!(**store, mta_sts_store::StoreError::InUse { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains("stop that process"), "{error}");
    assert_eq!(std::fs::read(&path).expect("read"), damaged);
    assert_eq!(
        listing(dir.0.as_path(), "cache.sqlite3.damaged"),
        Vec::<String>::new()
    );

    // Once it has gone, the next start salvages.
    drop(holder.stdin.take());
    // Read to the end, so that the holder's harness is not cut off mid-sentence.
    lines.for_each(drop);
    holder.wait().expect("the holder exits");
    let cache = SqliteCache::open(&path).expect("salvaged");
    assert!(cache.salvage().is_some());
}
