//! Importing postfix-mta-sts-resolver's SQLite cache into ours, once, when switching daemons
//! (`mta-sts daemon --compat-config`, see [`crate::compat_config`]).
//!
//! Without it every domain would be trust-on-first-use again after the switch: RFC 8461 §5.1's
//! protection (a policy learnt before an attack is applied during it) comes only from a cached
//! policy.
//!
//! # The peer's file (postfix-mta-sts-resolver 1.5.1, `sqlite_cache.py`)
//! One table, `sts_policy_cache (domain text, ts integer, pol_id text, pol_body text)`, one row
//! per domain (a unique index), plus `proactive_fetch_ts`, which is not imported:
//! - `domain`: the Postfix key as `utils.filter_domain` left it: lowercased, no port, no trailing
//!   dot, but not converted to A-labels. We normalise it as a request key
//!   ([`crate::socketmap::normalize_key`]).
//! - `pol_id`: the `id=` of the `_mta-sts` TXT record the policy was fetched under.
//! - `pol_body`: **not the policy text** but `json.dumps` of the dict its resolver parsed it into
//!   (`utils.parse_mta_sts_policy`): `{"mx": [...], "version": "STSv1", "mode": ...,
//!   "max_age": <int>, ...}`, `mx` in policy order, plus any other field of the text (extension
//!   fields, and `""` for a blank line). We rebuild a canonical text `version: …\nmode: …\nmx:
//!   …\nmax_age: …\n` from it, in the stored `mx` order, and parse that as a fetched policy
//!   ([`CachedPolicy::new`]): whatever a sender would refuse is refused here too. Extension
//!   fields, which senders ignore (RFC 8461 §3.2), are not kept.
//! - `ts`: `time.time()` when the row was last written, which happens after a fetch **and** each
//!   time a later TXT lookup found the same id (`responder.py`, `STSFetchResult.NOT_CHANGED`;
//!   the proactive fetcher does the same). So `ts` is the time of the last *check*, not of the
//!   fetch: the fetch time itself is not stored anywhere and cannot be recovered.
//!
//! # Lifetimes
//! RFC 8461 §3.2: a sender "SHOULD cache a policy for up to [max_age] from last policy fetch
//! time"; our cache keeps to that (an unchanged id confirms a policy, it does not extend it).
//! The peer does not: it measures `max_age` from `ts`, so every unchanged-id check renews the
//! policy. Taking `ts` as our `fetched_at` therefore lets a policy live until `ts + max_age`,
//! which can be later than `max_age` after its real fetch.
//!
//! The real fetch time is unknowable, and the only lifetime that is certainly within it is none
//! at all, which would make the import useless. The choice made: `fetched_at = ts`. That never
//! gives a policy longer than the peer itself would have applied it had it kept running (so the
//! switch changes nothing for the user), the imported entry records `ts` as its last TXT check,
//! so the first lookup after `check_interval` checks the id again (a changed id is fetched at
//! once), and from then on our own rule holds: the lifetime is never renewed without a fetch.
//! A row whose `ts` lies in the future (a clock that went back) has no trustworthy lifetime and is
//! skipped as unreadable.
//!
//! # Once
//! The import runs when our cache is new ([`OwnCache`]): an SQLite cache whose file did not exist
//! before start-up, a memory cache (new at every start), a Redis cache holding no entry. A cache
//! that has been used holds what this daemon learnt since, which is newer than anything in the
//! peer's file. Within an import, a domain our cache already has an entry for is never
//! overwritten. An import interrupted part-way (the process killed) is not resumed: the file then
//! exists, and the domains not yet imported are fetched on first use, as without an import.
//!
//! # Read-only
//! The peer's file is opened with `SQLITE_OPEN_READ_ONLY` and `PRAGMA query_only`. The peer keeps
//! it in WAL mode, where even a read-only connection creates `-wal` and `-shm` files beside it;
//! when the peer has left no `-wal` file (it stopped cleanly) the file is opened `immutable=1`,
//! so that nothing at all is created next to it. When a `-wal` file exists (the peer runs, or
//! stopped uncleanly) it holds committed rows that are not in the main file yet, so it is read
//! the ordinary way.

use std::cmp::Reverse;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::ErrorCode;
use rusqlite::types::Value as SqlValue;
use serde_json::Value as Json;

use super::{CacheEntry, CacheError, CachedPolicy, PolicyCache};
use crate::config::CacheKind;
use crate::socketmap::{Key, SkipReason, normalize_key};
use mta_sts_core::time::Timestamp;
use mta_sts_store::sqlite_file::open_read_only;

/// The peer's table of policies and the columns read from it.
const TABLE: &str = "sts_policy_cache";
const COLUMNS: [&str; 4] = ["domain", "ts", "pol_id", "pol_body"];
/// Our own SQLite cache's table ([`super::SqliteCache`]), to say so when pointed at one.
const OWN_TABLE: &str = "policy_cache";

/// What an import did: one line for the log ([`fmt::Display`]) and the rows skipped as
/// unreadable, with their reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The peer's file.
    pub path: PathBuf,
    /// Policies written to our cache.
    pub imported: usize,
    /// Policies left out because they had expired (`ts + max_age` passed).
    pub expired: usize,
    /// Policies left out because our cache already had an entry for their domain.
    pub already_cached: usize,
    /// Rows left out because they could not be read as a policy a sender would use.
    pub unreadable: Vec<UnreadableRow>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} {} from {} ({} expired, {} unreadable, {} already cached)",
            self.imported,
            if self.imported == 1 {
                "policy"
            } else {
                "policies"
            },
            self.path.display(),
            self.expired,
            self.unreadable.len(),
            self.already_cached
        )
    }
}

/// A row of the peer's file that was not imported because it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRow {
    /// Its `rowid`.
    pub row: i64,
    /// Its `domain` column, if that is text.
    pub domain: Option<String>,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for UnreadableRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.domain {
            Some(domain) => write!(f, "row {} ({domain}): {}", self.row, self.reason),
            None => write!(f, "row {}: {}", self.row, self.reason),
        }
    }
}

/// Why nothing (or not everything) was imported. None of these stops the daemon: the user may
/// have deleted the file, or pointed `filename` at something else.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file does not exist.
    #[error(
        "postfix-mta-sts-resolver's cache {} does not exist (deleted?)",
        path.display()
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read (permissions, I/O, a locked database).
    #[error("cannot read postfix-mta-sts-resolver's cache {}: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's or SQLite's reason.
        reason: String,
    },
    /// The file is not postfix-mta-sts-resolver's cache: not SQLite, or without its table.
    #[error("{} is not a postfix-mta-sts-resolver cache: {reason}", path.display())]
    NotPeerCache {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// Reading or writing our own cache failed; the policies imported before stay imported.
    #[error(
        "importing postfix-mta-sts-resolver's cache {} stopped after {imported} policies: {source}",
        path.display()
    )]
    Cache {
        /// The peer's file.
        path: PathBuf,
        /// Policies imported before the failure.
        imported: usize,
        /// Our cache's reason.
        source: CacheError,
    },
    /// The thread reading the file died.
    #[error("reading postfix-mta-sts-resolver's cache {} failed: {reason}", path.display())]
    Worker {
        /// The file.
        path: PathBuf,
        /// Why the thread ended.
        reason: String,
    },
}

/// Whether our cache is new, i.e. has never been used, as far as can be told before it is
/// opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnCache {
    /// New: import into it.
    New,
    /// Used before: it knows better than the peer's file; import nothing.
    Used,
    /// Cannot be told before opening (a shared Redis cache): new if it holds no entry.
    Unknown,
}

impl OwnCache {
    /// What is known of the cache `kind` before it is opened. Call it before opening: opening an
    /// SQLite cache creates its file, which is what marks it as used from then on.
    pub fn before_opening(kind: &CacheKind) -> OwnCache {
        match kind {
            // Empty at every start: there is nothing it could know better.
            CacheKind::Memory => OwnCache::New,
            CacheKind::Sqlite(path) => match std::fs::symlink_metadata(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => OwnCache::New,
                // It exists, or cannot be looked at (then opening fails anyway).
                _ => OwnCache::Used,
            },
            CacheKind::Redis(_) => OwnCache::Unknown,
        }
    }
}

/// What [`import_once`] did.
#[derive(Debug)]
pub enum PeerImport {
    /// The import ran.
    Imported(ImportReport),
    /// Our cache had been used before, so nothing was imported.
    Skipped,
    /// The peer's file could not be imported (missing, unreadable, not the peer's format) or
    /// our cache failed.
    Failed(ImportError),
}

/// Imports postfix-mta-sts-resolver's cache `peer` into `cache` if `own` (from
/// [`OwnCache::before_opening`]) says `cache` is new; see the module documentation.
pub async fn import_once(
    peer: &Path,
    cache: &dyn PolicyCache,
    own: OwnCache,
    now: Timestamp,
) -> PeerImport {
    let new = match own {
        OwnCache::New => true,
        OwnCache::Used => false,
        OwnCache::Unknown => match cache.scan().await {
            Ok(entries) => entries.is_empty(),
            Err(source) => {
                return PeerImport::Failed(ImportError::Cache {
                    path: peer.to_path_buf(),
                    imported: 0,
                    source,
                });
            }
        },
    };
    if !new {
        return PeerImport::Skipped;
    }
    match import_peer_cache(peer, cache, now).await {
        Ok(report) => PeerImport::Imported(report),
        Err(error) => PeerImport::Failed(error),
    }
}

/// Imports every unexpired policy of postfix-mta-sts-resolver's SQLite cache `peer` into
/// `cache`, except for domains `cache` already has an entry for. The file is only read. Each
/// policy keeps the lifetime the peer gave it, `max_age` from the peer's `ts` (see the module
/// documentation for why and what that means), and `ts` becomes its last TXT check.
pub async fn import_peer_cache(
    peer: &Path,
    cache: &dyn PolicyCache,
    now: Timestamp,
) -> Result<ImportReport, ImportError> {
    let path = peer.to_path_buf();
    // SQLite blocks; the import runs inside the daemon's runtime.
    let rows = tokio::task::spawn_blocking(move || read_rows(&path))
        .await
        .map_err(|e| ImportError::Worker {
            path: peer.to_path_buf(),
            reason: e.to_string(),
        })??;
    import_rows(peer, rows, cache, now).await
}

/// One row of the peer's table, as stored.
#[derive(Debug)]
struct PeerRow {
    rowid: i64,
    domain: SqlValue,
    ts: SqlValue,
    pol_id: SqlValue,
    pol_body: SqlValue,
}

/// A row read as a policy to import.
struct Candidate {
    domain: String,
    policy: CachedPolicy,
    checked_at: Timestamp,
}

/// Why a row is not imported, other than our cache knowing its domain.
enum Skip {
    Expired,
    Unreadable(String),
}

async fn import_rows(
    peer: &Path,
    rows: Vec<PeerRow>,
    cache: &dyn PolicyCache,
    now: Timestamp,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport {
        path: peer.to_path_buf(),
        imported: 0,
        expired: 0,
        already_cached: 0,
        unreadable: Vec::new(),
    };
    let mut candidates = Vec::with_capacity(rows.len());
    for row in rows {
        match candidate(&row, now) {
            Ok(candidate) => candidates.push(candidate),
            Err(Skip::Expired) => report.expired += 1,
            Err(Skip::Unreadable(reason)) => report.unreadable.push(UnreadableRow {
                row: row.rowid,
                domain: match &row.domain {
                    SqlValue::Text(text) => Some(text.clone()),
                    _ => None,
                },
                reason,
            }),
        }
    }
    // Two rows may name one domain once normalised (`bücher.example` and
    // `xn--bcher-kva.example`): the most recently checked one is imported, the other then counts
    // as already cached. The sort is stable, so equal times keep the file's order.
    candidates.sort_by_key(|candidate| Reverse(candidate.checked_at));
    let cache_error = |imported, source| ImportError::Cache {
        path: peer.to_path_buf(),
        imported,
        source,
    };
    for candidate in candidates {
        // Never overwrite: whatever our cache holds was learnt by this daemon, after the peer's
        // file was last written.
        match cache.get(&candidate.domain).await {
            Ok(Some(_)) => {
                report.already_cached += 1;
                continue;
            }
            Ok(None) => {}
            Err(source) => return Err(cache_error(report.imported, source)),
        }
        let entry = CacheEntry {
            policy: Some(candidate.policy),
            // The peer looked the TXT record up at `ts`: the id is checked again once
            // check_interval has passed since then, as if this daemon had made that check.
            checked_at: Some(candidate.checked_at),
            negative: None,
            backoff: None,
        };
        cache
            .put(&candidate.domain, entry)
            .await
            .map_err(|source| cache_error(report.imported, source))?;
        report.imported += 1;
    }
    Ok(report)
}

/// The policy a row holds, or why it is not imported.
fn candidate(row: &PeerRow, now: Timestamp) -> Result<Candidate, Skip> {
    let domain = match &row.domain {
        SqlValue::Text(text) => match normalize_key(text) {
            Key::Domain(domain) => domain,
            Key::Skip(reason) => {
                return Err(Skip::Unreadable(format!(
                    "`domain` is not a domain name to look up: {}",
                    skip_reason(&reason)
                )));
            }
        },
        other => {
            return Err(Skip::Unreadable(format!(
                "`domain` is {}, not a name",
                describe(other)
            )));
        }
    };
    let checked_at = match &row.ts {
        SqlValue::Integer(secs) if *secs < 0 => {
            return Err(Skip::Unreadable(format!("`ts` {secs} is before 1970")));
        }
        SqlValue::Integer(secs) => Timestamp::from_unix_seconds_saturating(*secs),
        other => {
            return Err(Skip::Unreadable(format!(
                "`ts` is {}, not a Unix time",
                describe(other)
            )));
        }
    };
    if checked_at > now {
        // No check was made at a time still to come (a clock set back, a damaged row): max_age
        // counted from it would keep the policy longer than any fetch allows.
        return Err(Skip::Unreadable(format!(
            "`ts` {} is {} s in the future (was the clock set back?); its lifetime cannot be \
             trusted",
            checked_at.unix_seconds(),
            checked_at.duration_since(now).as_secs()
        )));
    }
    let id = match &row.pol_id {
        SqlValue::Text(id) if !id.is_empty() => id.clone(),
        other => {
            return Err(Skip::Unreadable(format!(
                "`pol_id` is {}, not a policy id",
                describe(other)
            )));
        }
    };
    let body = match &row.pol_body {
        SqlValue::Text(json) => policy_text(json).map_err(Skip::Unreadable)?,
        other => {
            return Err(Skip::Unreadable(format!(
                "`pol_body` is {}, not JSON text",
                describe(other)
            )));
        }
    };
    // RFC 8461 §3.2: a policy a sender would refuse is not used; an imported one no more than a
    // fetched one.
    let policy = CachedPolicy::new(id, body, checked_at)
        .map_err(|e| Skip::Unreadable(format!("a sender would refuse the policy: {e}")))?;
    // RFC 8461 §5.1: only a non-expired cached policy is applied.
    if !policy.is_valid_at(now) {
        return Err(Skip::Expired);
    }
    Ok(Candidate {
        domain,
        policy,
        checked_at,
    })
}

/// The policy text that `pol_body`, the peer's JSON of its parsed policy, stands for.
fn policy_text(json: &str) -> Result<String, String> {
    let value: Json =
        serde_json::from_str(json).map_err(|e| format!("`pol_body` is not JSON ({e})"))?;
    let Json::Object(fields) = value else {
        return Err(format!(
            "`pol_body` is {}, not a JSON object of policy fields",
            json_kind(&value)
        ));
    };
    let text = |name: &str| -> Result<&str, String> {
        match fields.get(name) {
            Some(Json::String(value)) => one_line(name, value),
            Some(other) => Err(format!(
                "`{name}` in `pol_body` is {}, not text",
                json_kind(other)
            )),
            None => Err(format!("`pol_body` has no `{name}`")),
        }
    };
    let version = text("version")?;
    let mode = text("mode")?;
    // The peer stores max_age as the int it checked (0 to 31557600).
    let max_age = match fields.get("max_age") {
        Some(Json::Number(number)) => number.as_u64().ok_or_else(|| {
            format!("`max_age` in `pol_body` is {number}, not a whole number of seconds")
        })?,
        Some(other) => {
            return Err(format!(
                "`max_age` in `pol_body` is {}, not a number",
                json_kind(other)
            ));
        }
        None => return Err("`pol_body` has no `max_age`".to_string()),
    };
    let mx = match fields.get("mx") {
        Some(Json::Array(items)) => items
            .iter()
            .map(|item| match item {
                Json::String(pattern) => one_line("mx", pattern),
                other => Err(format!(
                    "an `mx` in `pol_body` is {}, not text",
                    json_kind(other)
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(format!(
                "`mx` in `pol_body` is {}, not a list",
                json_kind(other)
            ));
        }
        None => return Err("`pol_body` has no `mx` list".to_string()),
    };
    let mut body = format!("version: {version}\nmode: {mode}\n");
    for pattern in mx {
        body.push_str("mx: ");
        body.push_str(pattern);
        body.push('\n');
    }
    body.push_str(&format!("max_age: {max_age}\n"));
    Ok(body)
}

/// `value`, refused if it holds a line break: the rebuilt text has one field per line, and a
/// line break would add a field the peer never saw (`mode: "enforce\nmx: evil.example"`).
fn one_line<'v>(name: &str, value: &'v str) -> Result<&'v str, String> {
    if value.contains(['\n', '\r']) {
        Err(format!("`{name}` in `pol_body` contains a line break"))
    } else {
        Ok(value)
    }
}

fn skip_reason(reason: &SkipReason) -> String {
    match reason {
        SkipReason::Empty => "it is empty".to_string(),
        SkipReason::ParentDomain => "it starts with a dot".to_string(),
        SkipReason::IpLiteral => "it is an IP address".to_string(),
        SkipReason::InvalidName { error } => error.clone(),
    }
}

/// An SQL value, for a reason: its type and, if short, the value.
fn describe(value: &SqlValue) -> String {
    match value {
        SqlValue::Null => "NULL".to_string(),
        SqlValue::Integer(n) => format!("the integer {n}"),
        SqlValue::Real(x) => format!("the number {x}"),
        SqlValue::Text(text) if text.chars().count() <= 40 => format!("the text {text:?}"),
        SqlValue::Text(text) => format!("a text of {} characters", text.chars().count()),
        SqlValue::Blob(bytes) => format!("a blob of {} bytes", bytes.len()),
    }
}

fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "text",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// Every row of the peer's table, read without writing to the file.
fn read_rows(path: &Path) -> Result<Vec<PeerRow>, ImportError> {
    let unreadable = |reason: String| ImportError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let not_peer = |reason: &str| ImportError::NotPeerCache {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ImportError::Missing {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(unreadable(e.to_string())),
        Ok(meta) if !meta.is_file() => return Err(not_peer("it is not a regular file")),
        Ok(_) => {}
    }
    // SQLite says only "unable to open database file"; the operating system says why.
    std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;

    let connection = open_read_only(path).map_err(|e| unreadable(e.to_string()))?;
    // Belt and braces: no statement on this connection may write.
    connection
        .pragma_update(None, "query_only", true)
        .map_err(|e| unreadable(e.to_string()))?;
    // The peer may be writing (it is still running): wait for its lock rather than fail.
    connection
        .busy_timeout(Duration::from_secs(5))
        .map_err(|e| unreadable(e.to_string()))?;
    let sql_error = |e: rusqlite::Error| {
        if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
            not_peer("it is not an SQLite database")
        } else {
            unreadable(e.to_string())
        }
    };

    let tables = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sql_error)?;
    if !tables.iter().any(|name| name == TABLE) {
        return Err(not_peer(&if tables.iter().any(|name| name == OWN_TABLE) {
            format!("it is an mta-sts cache (table {OWN_TABLE}), not the peer's")
        } else if tables.is_empty() {
            format!(
                "it is an empty SQLite database (postfix-mta-sts-resolver creates its table \
                 {TABLE} when it starts)"
            )
        } else {
            format!(
                "it is an SQLite database without postfix-mta-sts-resolver's table {TABLE} (its \
                 tables: {})",
                tables.join(", ")
            )
        }));
    }
    let columns = connection
        .prepare(&format!("SELECT name FROM pragma_table_info('{TABLE}')"))
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sql_error)?;
    let missing: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .filter(|wanted| !columns.iter().any(|name| name == wanted))
        .collect();
    if !missing.is_empty() {
        return Err(not_peer(&format!(
            "its table {TABLE} has no column {} (postfix-mta-sts-resolver's has {})",
            missing.join(", "),
            COLUMNS.join(", ")
        )));
    }

    let mut statement = connection
        .prepare(&format!(
            "SELECT rowid, {} FROM {TABLE} ORDER BY rowid",
            COLUMNS.join(", ")
        ))
        .map_err(sql_error)?;
    statement
        .query_map([], |row| {
            Ok(PeerRow {
                rowid: row.get(0)?,
                domain: row.get(1)?,
                ts: row.get(2)?,
                pol_id: row.get(3)?,
                pol_body: row.get(4)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sql_error)
}

#[cfg(test)]
mod tests {
    //! The fixtures are postfix-mta-sts-resolver 1.5.1's own files: written by its `SqliteCache`
    //! from the dicts its resolver makes of each policy text, plus a few damaged rows, by
    //! `tests/fixtures/make-pmsr-cache.py` (see there for the rows and how to run it). Their
    //! timestamps are fixed relative to `T0`, the tests' "now".

    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::cache::MemoryCache;
    use rusqlite::Connection;

    /// 2026-01-01T00:00:00Z, the fixture's "now" (`T0` in make-pmsr-cache.py).
    const T0: Timestamp = Timestamp::from_unix_seconds_saturating(1_767_225_600);

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn unit_fixture() -> PathBuf {
        fixture("pmsr-1.5.1-cache.db")
    }

    /// A directory of its own under the temp directory, removed first if it exists.
    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mta-sts-import-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// The directory's file names, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    async fn entries(cache: &MemoryCache) -> HashMap<String, CacheEntry> {
        cache.scan().await.expect("scan").into_iter().collect()
    }

    #[tokio::test]
    async fn the_peers_policies_are_imported_with_the_peers_lifetimes() {
        // A copy, so that the directory can be watched for files SQLite might create.
        let dir = temp_dir("import");
        let peer = dir.join("cache.db");
        std::fs::copy(unit_fixture(), &peer).expect("copy the fixture");
        let before = std::fs::read(&peer).expect("read");
        let modified = std::fs::metadata(&peer).expect("meta").modified().ok();

        let cache = MemoryCache::new(100);
        let report = import_peer_cache(&peer, &cache, T0).await.expect("imports");
        assert_eq!(report.path, peer);
        // ipmx.example's `mx: 192.0.2.25` is a valid policy (RFC 5321 `Domain`): imported, its
        // address left out of replies like any fetched policy's.
        assert_eq!(report.imported, 7, "{report:#?}");
        assert_eq!(report.expired, 1, "{report:#?}");
        assert_eq!(report.already_cached, 0);
        assert_eq!(
            report.to_string(),
            format!(
                "imported 7 policies from {} (1 expired, 5 unreadable, 0 already cached)",
                peer.display()
            )
        );

        let entries = entries(&cache).await;
        let mut domains: Vec<&str> = entries.keys().map(String::as_str).collect();
        domains.sort_unstable();
        assert_eq!(
            domains,
            [
                "cached.example",
                "crlf.example",
                "enforce.example",
                "ipmx.example",
                "none.example",
                "testing.example",
                "xn--bcher-kva.example",
            ]
        );

        // The policy text rebuilt from the peer's dict, mx in the stored order; the peer's ts is
        // both the fetch time and the last check; the lifetime is max_age from it.
        let entry = &entries["enforce.example"];
        let ts = Timestamp::from_unix_seconds_saturating(T0.unix_seconds() - 3600);
        assert_eq!(entry.checked_at, Some(ts));
        assert_eq!(
            (entry.negative.as_ref(), entry.backoff.as_ref()),
            (None, None)
        );
        let policy = entry.policy.as_ref().expect("a policy");
        assert_eq!(policy.id(), "20251201T000000");
        assert_eq!(
            policy.body(),
            "version: STSv1\nmode: enforce\nmx: mx1.enforce.example\n\
             mx: *.backup.enforce.example\nmax_age: 604800\n"
        );
        assert_eq!(policy.fetched_at(), ts);
        assert_eq!(
            policy.expires_at(),
            ts.saturating_add(Duration::from_secs(604_800))
        );

        // mode none has no mx; an extension field and a blank line of the served text are not
        // kept; testing keeps its mode.
        let none = entries["none.example"].policy.as_ref().expect("policy");
        assert_eq!(none.body(), "version: STSv1\nmode: none\nmax_age: 86400\n");
        let crlf = entries["crlf.example"].policy.as_ref().expect("policy");
        assert_eq!(
            crlf.body(),
            "version: STSv1\nmode: enforce\nmx: mx.crlf.example\nmax_age: 86400\n"
        );
        let testing = entries["testing.example"].policy.as_ref().expect("policy");
        assert_eq!(testing.policy().mode, mta_sts_core::Mode::Testing);
        // The peer's U-label key becomes the A-label our keys are.
        let idn = entries["xn--bcher-kva.example"]
            .policy
            .as_ref()
            .expect("policy");
        assert_eq!(idn.id(), "idn1");

        // Each unreadable row, with its reason.
        let reasons: HashMap<&str, &str> = report
            .unreadable
            .iter()
            .map(|row| {
                (
                    row.domain.as_deref().expect("text domains"),
                    row.reason.as_str(),
                )
            })
            .collect();
        let reason = |domain: &str| *reasons.get(domain).unwrap_or_else(|| panic!("{domain}"));
        assert_eq!(reasons.len(), 5, "{reasons:#?}");
        assert!(!reasons.contains_key("ipmx.example"), "{reasons:#?}");
        assert!(reason("badjson.example").starts_with("`pol_body` is not JSON"));
        assert_eq!(reason("nomode.example"), "`pol_body` has no `mode`");
        assert_eq!(
            reason("newline.example"),
            "`mode` in `pol_body` contains a line break"
        );
        assert_eq!(
            reason("textts.example"),
            "`ts` is the text \"yesterday\", not a Unix time"
        );
        assert!(reason("future.example").contains("in the future"));
        let row = report
            .unreadable
            .iter()
            .find(|row| row.domain.as_deref() == Some("nomode.example"))
            .expect("row");
        assert_eq!(
            row.to_string(),
            "row 10 (nomode.example): `pol_body` has no `mode`"
        );

        // The peer's file is exactly as it was, and nothing was created beside it.
        assert_eq!(std::fs::read(&peer).expect("read"), before);
        assert_eq!(
            std::fs::metadata(&peer).expect("meta").modified().ok(),
            modified
        );
        assert_eq!(listing(&dir), ["cache.db"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn expiry_is_max_age_after_the_peers_ts() {
        let cache = MemoryCache::new(100);
        // expired.example: ts = T0 - 8 days, max_age 7 days, so valid until T0 - 1 day
        // (exclusive). Two days before T0 it was still valid.
        let earlier = Timestamp::from_unix_seconds_saturating(T0.unix_seconds() - 2 * 86_400);
        let report = import_peer_cache(&unit_fixture(), &cache, earlier)
            .await
            .expect("imports");
        let imported = entries(&cache).await;
        assert!(imported.contains_key("expired.example"), "{report:#?}");
        // At that time most of the fixture's rows were checked in the future.
        assert!(
            report
                .unreadable
                .iter()
                .any(|row| row.domain.as_deref() == Some("none.example")
                    && row.reason.contains("in the future"))
        );

        // And a year on, every readable row has expired (future.example's ts, T0 + 1 day, is
        // in the past by then).
        let cache = MemoryCache::new(100);
        let later = T0.saturating_add(Duration::from_secs(366 * 86_400));
        let report = import_peer_cache(&unit_fixture(), &cache, later)
            .await
            .expect("imports");
        assert_eq!((report.imported, report.expired), (0, 9), "{report:#?}");
        assert!(entries(&cache).await.is_empty());
    }

    #[tokio::test]
    async fn an_entry_already_in_our_cache_is_never_overwritten() {
        let cache = MemoryCache::new(100);
        let ours = CachedPolicy::new(
            "ours1",
            "version: STSv1\nmode: testing\nmx: mx.ours.cached.example\nmax_age: 86400\n",
            T0,
        )
        .expect("policy");
        let entry = CacheEntry {
            policy: Some(ours),
            checked_at: Some(T0),
            negative: None,
            backoff: None,
        };
        cache
            .put("cached.example", entry.clone())
            .await
            .expect("put");
        // A domain we only know has no policy is knowledge too.
        let negative = CacheEntry {
            negative: Some(crate::cache::NegativeEntry {
                reason: crate::cache::NegativeReason::NoRecord,
                since: T0,
                until: T0.saturating_add(Duration::from_secs(3600)),
            }),
            checked_at: Some(T0),
            ..CacheEntry::default()
        };
        cache
            .put("enforce.example", negative.clone())
            .await
            .expect("put");

        let report = import_peer_cache(&unit_fixture(), &cache, T0)
            .await
            .expect("imports");
        assert_eq!(
            (report.imported, report.already_cached),
            (5, 2),
            "{report:#?}"
        );
        let entries = entries(&cache).await;
        assert_eq!(entries["cached.example"], entry);
        assert_eq!(entries["enforce.example"], negative);
    }

    #[tokio::test]
    async fn import_once_imports_only_into_a_new_cache() {
        let dir = temp_dir("once");
        let own = dir.join("cache.mta-sts.db");
        let kind = CacheKind::Sqlite(own.clone());
        assert_eq!(OwnCache::before_opening(&kind), OwnCache::New);
        assert_eq!(OwnCache::before_opening(&CacheKind::Memory), OwnCache::New);

        let cache = crate::cache::SqliteCache::open(&own).expect("open");
        let outcome = import_once(&unit_fixture(), &cache, OwnCache::New, T0).await;
        let PeerImport::Imported(report) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(report.imported, 7);
        // Written through to the SQLite file.
        assert_eq!(cache.scan().await.expect("scan").len(), 7);
        drop(cache);

        // The file exists now: the next start imports nothing.
        assert_eq!(OwnCache::before_opening(&kind), OwnCache::Used);
        let cache = MemoryCache::new(100);
        assert!(matches!(
            import_once(&unit_fixture(), &cache, OwnCache::Used, T0).await,
            PeerImport::Skipped
        ));
        assert!(entries(&cache).await.is_empty());

        // A shared cache with something in it counts as used; an empty one as new.
        let cache = MemoryCache::new(100);
        let outcome = import_once(&unit_fixture(), &cache, OwnCache::Unknown, T0).await;
        assert!(matches!(outcome, PeerImport::Imported(_)), "{outcome:?}");
        let outcome = import_once(&unit_fixture(), &cache, OwnCache::Unknown, T0).await;
        assert!(matches!(outcome, PeerImport::Skipped), "{outcome:?}");

        // A missing peer file is a failure to report, not a panic.
        let outcome = import_once(
            &dir.join("gone.db"),
            &MemoryCache::new(10),
            OwnCache::New,
            T0,
        )
        .await;
        assert!(
            matches!(outcome, PeerImport::Failed(ImportError::Missing { .. })),
            "{outcome:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn files_that_are_not_the_peers_are_named_with_what_they_are() {
        let dir = temp_dir("foreign");
        let cache = MemoryCache::new(10);
        let import = |path: PathBuf| {
            let cache = &cache;
            async move {
                import_peer_cache(&path, cache, T0)
                    .await
                    .expect_err("not imported")
            }
        };

        let missing = dir.join("missing.db");
        let error = import(missing.clone()).await;
        assert!(matches!(error, ImportError::Missing { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "postfix-mta-sts-resolver's cache {} does not exist (deleted?)",
                missing.display()
            )
        );

        let text = dir.join("text.db");
        std::fs::write(&text, "host: 127.0.0.1\nport: 8461\n".repeat(100)).expect("write");
        let error = import(text.clone()).await;
        assert_eq!(
            error.to_string(),
            format!(
                "{} is not a postfix-mta-sts-resolver cache: it is not an SQLite database",
                text.display()
            )
        );

        let error = import(dir.clone()).await;
        assert!(
            error.to_string().contains("it is not a regular file"),
            "{error}"
        );

        // Another program's SQLite database, and ours.
        let other = dir.join("other.db");
        let connection = Connection::open(&other).expect("create");
        connection
            .execute_batch("CREATE TABLE notes (text TEXT); CREATE TABLE tags (name TEXT);")
            .expect("schema");
        drop(connection);
        let error = import(other.clone()).await;
        assert!(
            matches!(error, ImportError::NotPeerCache { .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .ends_with("without postfix-mta-sts-resolver's table sts_policy_cache (its tables: notes, tags)"),
            "{error}"
        );
        let ours = dir.join("ours.db");
        drop(crate::cache::SqliteCache::open(&ours).expect("our cache"));
        let error = import(ours.clone()).await;
        assert!(
            error.to_string().contains("it is an mta-sts cache"),
            "{error}"
        );
        // An empty file is an empty database to SQLite.
        let empty = dir.join("empty.db");
        std::fs::write(&empty, "").expect("write");
        assert!(
            import(empty)
                .await
                .to_string()
                .contains("empty SQLite database")
        );
        // The table, but not its columns.
        let renamed = dir.join("renamed.db");
        let connection = Connection::open(&renamed).expect("create");
        connection
            .execute_batch("CREATE TABLE sts_policy_cache (domain text, ts integer, body text);")
            .expect("schema");
        drop(connection);
        let error = import(renamed).await;
        assert!(
            error
                .to_string()
                .contains("its table sts_policy_cache has no column pol_id, pol_body"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_peer_that_still_runs_is_read_through_its_wal() {
        // The peer keeps the file in WAL mode; while it runs (or after a crash) new rows may be
        // only in the -wal file.
        let dir = temp_dir("wal");
        let peer = dir.join("cache.db");
        std::fs::copy(unit_fixture(), &peer).expect("copy");
        let writer = Connection::open(&peer).expect("open");
        let mode: String = writer
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal", "the peer's files are in WAL mode");
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .expect("no checkpoint");
        writer
            .execute(
                "INSERT INTO sts_policy_cache (domain, ts, pol_id, pol_body) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![
                    "wal.example",
                    T0.unix_seconds() - 5,
                    "w1",
                    r#"{"mx": ["mx.wal.example"], "version": "STSv1", "mode": "enforce", "max_age": 86400}"#
                ],
            )
            .expect("insert");
        assert!(dir.join("cache.db-wal").exists());

        let cache = MemoryCache::new(100);
        let report = import_peer_cache(&peer, &cache, T0).await.expect("imports");
        assert_eq!(report.imported, 8, "{report:#?}");
        assert!(entries(&cache).await.contains_key("wal.example"));
        drop(writer);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn odd_file_names_are_escaped_in_the_uri() {
        use mta_sts_store::sqlite_file::file_uri;
        assert_eq!(
            file_uri(Path::new("/var/lib/a b?c#d%e.db")),
            "file:///var/lib/a%20b%3Fc%23d%25e.db"
        );
        assert_eq!(file_uri(Path::new("cache.db")), "file:cache.db");
        let dir = temp_dir("odd name?#%");
        let peer = dir.join("cache?.db");
        std::fs::copy(unit_fixture(), &peer).expect("copy");
        let rows = read_rows(&peer).expect("read");
        assert_eq!(rows.len(), 13);
        assert_eq!(listing(&dir), ["cache?.db"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rebuilt_texts_refuse_what_the_peer_would_not_have_stored() {
        let ok = r#"{"mx": ["a.example", "*.b.example"], "version": "STSv1", "mode": "testing", "max_age": 3600, "ext": "x", "": ""}"#;
        assert_eq!(
            policy_text(ok).expect("text"),
            "version: STSv1\nmode: testing\nmx: a.example\nmx: *.b.example\nmax_age: 3600\n"
        );
        for (json, reason) in [
            (
                "[1, 2]",
                "`pol_body` is a list, not a JSON object of policy fields",
            ),
            (
                r#"{"version": "STSv1", "mode": "enforce", "mx": [], "max_age": "86400"}"#,
                "`max_age` in `pol_body` is text, not a number",
            ),
            (
                r#"{"version": "STSv1", "mode": "enforce", "mx": [], "max_age": -1}"#,
                "`max_age` in `pol_body` is -1, not a whole number of seconds",
            ),
            (
                r#"{"version": "STSv1", "mode": "enforce", "mx": "a.example", "max_age": 1}"#,
                "`mx` in `pol_body` is text, not a list",
            ),
            (
                r#"{"version": "STSv1", "mode": "enforce", "mx": [7], "max_age": 1}"#,
                "an `mx` in `pol_body` is a number, not text",
            ),
            (
                r#"{"version": "STSv1", "mode": "enforce", "mx": ["a\r"], "max_age": 1}"#,
                "`mx` in `pol_body` contains a line break",
            ),
            (
                r#"{"version": "STSv1", "mode": "enforce", "max_age": 1}"#,
                "`pol_body` has no `mx` list",
            ),
            (
                r#"{"mode": "enforce", "mx": [], "max_age": 1}"#,
                "`pol_body` has no `version`",
            ),
        ] {
            assert_eq!(policy_text(json).expect_err(json), reason);
        }
        // A version the peer would have refused is left to the policy parser, like any field.
        let text = policy_text(
            r#"{"version": "STSv2", "mode": "enforce", "mx": ["a.example"], "max_age": 1}"#,
        )
        .expect("text");
        assert!(CachedPolicy::new("1", text, T0).is_err());
    }

    #[test]
    fn rows_are_refused_for_what_is_in_their_columns() {
        let body = SqlValue::Text(
            r#"{"mx": ["mx.a.example"], "version": "STSv1", "mode": "enforce", "max_age": 60}"#
                .to_string(),
        );
        let row = |domain: SqlValue, ts: SqlValue, id: SqlValue| PeerRow {
            rowid: 1,
            domain,
            ts,
            pol_id: id,
            pol_body: body.clone(),
        };
        let text = |s: &str| SqlValue::Text(s.to_string());
        let now = SqlValue::Integer(1_000);
        let reason =
            |row: PeerRow| match candidate(&row, Timestamp::from_unix_seconds_saturating(1_000)) {
                Err(Skip::Unreadable(reason)) => reason,
                Err(Skip::Expired) => "expired".to_string(),
                Ok(c) => format!("imported {}", c.domain),
            };
        assert_eq!(
            reason(row(text("A.Example."), now.clone(), text("1"))),
            "imported a.example"
        );
        assert_eq!(
            reason(row(SqlValue::Null, now.clone(), text("1"))),
            "`domain` is NULL, not a name"
        );
        assert_eq!(
            reason(row(text("192.0.2.1"), now.clone(), text("1"))),
            "`domain` is not a domain name to look up: it is an IP address"
        );
        assert_eq!(
            reason(row(text("a.example"), SqlValue::Integer(-5), text("1"))),
            "`ts` -5 is before 1970"
        );
        assert_eq!(
            reason(row(text("a.example"), SqlValue::Real(999.5), text("1"))),
            "`ts` is the number 999.5, not a Unix time"
        );
        assert_eq!(
            reason(row(text("a.example"), now.clone(), text(""))),
            "`pol_id` is the text \"\", not a policy id"
        );
        assert_eq!(
            reason(row(text("a.example"), now, SqlValue::Blob(vec![1, 2]))),
            "`pol_id` is a blob of 2 bytes, not a policy id"
        );
        // max_age 60 from ts 940: valid until 1000, exclusive.
        assert_eq!(
            reason(row(text("a.example"), SqlValue::Integer(940), text("1"))),
            "expired"
        );
        assert_eq!(
            reason(row(text("a.example"), SqlValue::Integer(941), text("1"))),
            "imported a.example"
        );
    }

    #[tokio::test]
    async fn of_two_rows_for_one_domain_the_more_recently_checked_is_imported() {
        let row = |rowid: i64, domain: &str, ts: i64, id: &str| {
            PeerRow {
            rowid,
            domain: SqlValue::Text(domain.to_string()),
            ts: SqlValue::Integer(ts),
            pol_id: SqlValue::Text(id.to_string()),
            pol_body: SqlValue::Text(
                r#"{"mx": ["mx.a.example"], "version": "STSv1", "mode": "enforce", "max_age": 600}"#
                    .to_string(),
            ),
        }
        };
        let cache = MemoryCache::new(10);
        let rows = vec![
            row(1, "bücher.example", 900, "older"),
            row(2, "xn--bcher-kva.example", 950, "newer"),
        ];
        let report = import_rows(
            Path::new("peer.db"),
            rows,
            &cache,
            Timestamp::from_unix_seconds_saturating(1_000),
        )
        .await
        .expect("imports");
        assert_eq!((report.imported, report.already_cached), (1, 1));
        let entry = cache.get("xn--bcher-kva.example").await.expect("get");
        let policy = entry.and_then(|e| e.policy).expect("a policy");
        assert_eq!(policy.id(), "newer");
    }

    #[tokio::test]
    async fn it_works_through_any_policy_cache() {
        // The daemon's SQLite cache is tiered: the import goes through the trait to both tiers.
        let dir = temp_dir("tiered");
        let store = Arc::new(crate::cache::SqliteCache::open(&dir.join("c.db")).expect("open"));
        let tiered = crate::cache::TieredCache::new(10, store.clone());
        let report = import_peer_cache(&unit_fixture(), &tiered, T0)
            .await
            .expect("imports");
        assert_eq!(report.imported, 7);
        assert!(
            store
                .get("enforce.example")
                .await
                .expect("get")
                .is_some_and(|entry| entry.policy.is_some())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
