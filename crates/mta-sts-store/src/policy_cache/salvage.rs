//! A damaged cache file: every readable row salvaged into a fresh file that takes its place, the
//! damaged one kept aside for a post-mortem, and one report of what was saved and lost.
//!
//! Losing a cached policy is not harmless: its domain is trust-on-first-use again (the next
//! lookup has nothing to check the policy it fetches against, RFC 8461 §5.1), so whatever can
//! still be read is kept. The work is done on a scratch copy, so the damaged file
//! stays byte for byte as it was found:
//!
//! 1. The file (and its `-wal`) is copied to a scratch file beside it. The WAL's intact committed
//!    frames are written into the copy by hand ([`crate::sqlite_file`]), including the commits after a
//!    damaged stretch, which SQLite itself would drop. A header that is not SQLite's any more is
//!    rebuilt, trying each page size, and the copy is accepted only if its schema is the cache's:
//!    another program's file is never taken for ours.
//! 2. The table is read in rowid order; when a page cannot be read, the first readable rowid after
//!    it is found by probing (doubling, then bisecting), so one bad page loses only its own rows.
//!    Each row is checked as [`super::SqlitePolicyCache`] reads it, and its domain must be a domain.
//! 3. The domain index is read the same way: a domain it names whose row was not salvaged is a row
//!    known to be lost, named in the report. Rows whose table page and index page were both
//!    damaged cannot be counted; the report says so.
//! 4. The rows go into a new file in the same directory (one transaction, `synchronous=FULL`),
//!    which is synced; the damaged file is hard-linked to `<name>.damaged-<time>`, its `-wal` and
//!    `-shm` renamed after it (so SQLite's own tools open it with its log), the new file renamed
//!    over the old name, and the directory synced. Each step leaves either the damaged file or
//!    the salvaged one under the cache's name, never neither, and never a new file beside the old
//!    WAL (SQLite would replay the old log into it).

use std::collections::HashMap;
use std::fmt;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension as _};

use super::CacheEntry;
use super::sqlite::{APPLICATION_ID, COLUMNS, COLUMNS_V1, SCHEMA, not_ours, read_row, write_row};
use crate::StoreError;
use crate::sqlite_file::{header_page_size, sidecar, wal};
use mta_sts_core::time::Timestamp;

/// What was done with a damaged cache file: logged once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvage {
    /// The cache file, now holding the salvaged rows.
    pub path: PathBuf,
    /// Where the damaged file was kept (its `-wal` and `-shm`, if any, beside it).
    pub kept_as: PathBuf,
    /// What the integrity check or the log reader found.
    pub damage: String,
    /// Rows read back whole and stored in the new file.
    pub salvaged: u64,
    /// Rows known to be lost (named by the domain index, or unreadable rows): those domains are
    /// looked up again on first use.
    pub lost: u64,
    /// Up to [`Salvage::NAMED`] of the lost domains.
    pub lost_domains: Vec<String>,
    /// Whether more rows may have been lost than `lost` counts: a page of the table and a page of
    /// its index could not be read.
    pub uncounted: bool,
}

impl Salvage {
    /// How many lost domains the report names.
    pub const NAMED: usize = 20;
}

impl fmt::Display for Salvage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the cache {} was damaged ({}): {} rows salvaged into a new file, {}{} rows lost",
            self.path.display(),
            self.damage,
            self.salvaged,
            if self.uncounted { "at least " } else { "" },
            self.lost
        )?;
        if !self.lost_domains.is_empty() {
            let more = self.lost.saturating_sub(self.lost_domains.len() as u64);
            write!(f, " ({}", self.lost_domains.join(", "))?;
            if more > 0 {
                write!(f, " and {more} more")?;
            }
            write!(f, ")")?;
        }
        if self.uncounted {
            write!(
                f,
                "; pages of both the table and its index were lost, so the rows they held cannot \
                 all be counted"
            )?;
        }
        if self.lost > 0 {
            write!(
                f,
                "; the domains lost are looked up again on first use (trust on first use)"
            )?;
        }
        write!(
            f,
            "; the damaged file is kept as {}",
            self.kept_as.display()
        )
    }
}

/// A file beside `path`, hidden, named for this process.
fn scratch_name(path: &Path, purpose: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cache".into());
    path.with_file_name(format!(".{name}.{purpose}-{}", std::process::id()))
}

fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(sidecar(path, suffix));
    }
}

/// Why a salvage could not be done, for [`StoreError::Salvage`].
struct Failed {
    step: &'static str,
    source: std::io::Error,
}

fn step<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    step: &'static str,
) -> impl FnOnce(E) -> Failed {
    move |e| Failed {
        step,
        source: std::io::Error::other(e),
    }
}

/// Salvages the damaged cache `path` (see the module documentation). `damage` says what was
/// found. A file whose copy turns out not to be an mta-sts cache is refused and left alone.
/// `now` names the file the damaged one is kept as.
pub(super) fn salvage(path: &Path, damage: String, now: Timestamp) -> Result<Salvage, StoreError> {
    // Held until the new file is in place: no other process opens the cache meanwhile.
    let _alone = match alone(path) {
        Ok(lock) => lock,
        Err(Alone::InUse) => {
            return Err(StoreError::InUse {
                path: path.to_path_buf(),
                damage,
            });
        }
        Err(Alone::Failed(source)) => {
            return Err(StoreError::Salvage {
                path: path.to_path_buf(),
                damage,
                step: "locking its shared-memory file",
                source,
            });
        }
    };
    let scratch = scratch_name(path, "salvage");
    let fresh = scratch_name(path, "new");
    remove_database(&scratch);
    remove_database(&fresh);
    let result = salvage_into(path, &scratch, &fresh, damage.clone(), now);
    remove_database(&scratch);
    match result {
        Ok(salvage) => Ok(salvage),
        Err(Outcome::NotOurs(reason)) => {
            remove_database(&fresh);
            Err(not_ours(path, reason))
        }
        Err(Outcome::Failed(Failed { step, source })) => {
            remove_database(&fresh);
            Err(StoreError::Salvage {
                path: path.to_path_buf(),
                damage,
                step,
                source,
            })
        }
    }
}

/// Why [`alone`] did not get the file to itself.
enum Alone {
    InUse,
    Failed(std::io::Error),
}

/// Makes sure no other process has the cache open, and keeps it so while the returned file is
/// open: what a damage check cannot tell from damage (a log another process is writing to at
/// that very moment) must never have a live file replaced under it.
///
/// Every connection to a WAL file holds a read lock on one byte of its `-shm` file for as long
/// as it is open, SQLite's "dead man switch" (byte 128, `UNIX_SHM_DMS` in its `os_unix.c`); a
/// write lock on it is granted only when there is none. No `-shm` file means no connection.
fn alone(path: &Path) -> Result<Option<std::fs::File>, Alone> {
    use nix::fcntl::{FcntlArg, fcntl};
    use nix::libc;
    const DEAD_MAN_SWITCH: libc::off_t = 128;
    let shm = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(sidecar(path, "-shm"))
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Alone::Failed(e)),
    };
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: DEAD_MAN_SWITCH,
        l_len: 1,
        l_pid: 0,
    };
    match fcntl(&shm, FcntlArg::F_SETLK(&lock)) {
        Ok(_) => Ok(Some(shm)),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Err(Alone::InUse),
        Err(e) => Err(Alone::Failed(e.into())),
    }
}

enum Outcome {
    NotOurs(String),
    Failed(Failed),
}

impl From<Failed> for Outcome {
    fn from(failed: Failed) -> Outcome {
        Outcome::Failed(failed)
    }
}

fn salvage_into(
    path: &Path,
    scratch: &Path,
    fresh: &Path,
    damage: String,
    now: Timestamp,
) -> Result<Salvage, Outcome> {
    let original_header = {
        let mut header = [0u8; 100];
        std::fs::File::open(path)
            .and_then(|mut file| file.read_exact(&mut header))
            .ok()
            .map(|()| header)
    };
    let page_size = original_header.as_ref().and_then(header_page_size);
    let damage = match (original_header, page_size) {
        (Some(header), Some(size)) => match truncation(&header, size, path) {
            Some(note) => format!("{damage}; {note}"),
            None => damage,
        },
        _ => damage,
    };
    if page_size.is_none() && !names_the_cache_table(path) {
        // Not SQLite's header, and not our schema where SQLite keeps it (page 1): somebody
        // else's file, refused without copying it (it may be large).
        return Err(Outcome::NotOurs(
            "it is not an SQLite database, and no mta-sts cache table could be found in it".into(),
        ));
    }
    std::fs::copy(path, scratch).map_err(step("copying the damaged file"))?;
    let log = wal::scan(&sidecar(path, "-wal"), page_size.unwrap_or(4096))
        .map_err(step("reading its write-ahead log"))?;
    let connection = open_scratch(scratch, page_size, &log)?;

    let columns = match schema_columns(&connection) {
        Some(columns) => columns,
        None => {
            return Err(Outcome::NotOurs(
                "it is not an SQLite database, and no mta-sts cache table could be found in it"
                    .into(),
            ));
        }
    };
    let rows = read_table(&connection, columns);
    let named = read_index(&connection, &rows.found);
    drop(connection);

    let mut lost_domains: Vec<String> = named
        .domains
        .into_iter()
        .chain(rows.rejected)
        .filter(|domain| !rows.found.contains_key(domain))
        .collect();
    lost_domains.sort();
    lost_domains.dedup();
    let lost = lost_domains.len() as u64 + rows.invalid;
    lost_domains.truncate(Salvage::NAMED);
    let salvaged = rows.found.len() as u64;

    write_fresh(path, fresh, rows.found)?;
    let kept_as = swap(path, fresh, now)?;
    Ok(Salvage {
        path: path.to_path_buf(),
        kept_as,
        damage,
        salvaged,
        lost,
        lost_domains,
        uncounted: rows.gaps && !named.complete,
    })
}

/// How much of the file is missing, if it is shorter than its header says: a truncation loses
/// rows that neither the table nor its index can name any more, so the log says how much is gone.
fn truncation(header: &[u8; 100], page_size: usize, path: &Path) -> Option<String> {
    let word = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    // The in-header size is valid only when the change counter matches "version valid for".
    if word(24) != word(92) {
        return None;
    }
    let pages = u64::from(word(28));
    let length = std::fs::metadata(path).ok()?.len();
    let present = length / page_size as u64;
    (present < pages).then(|| {
        format!("the file holds {present} of the {pages} pages its header counts: it was cut short")
    })
}

/// Whether the first page of `path` (at most 64 KiB, SQLite's largest page) holds the text of
/// the cache table's schema, as page 1 of every cache file does.
fn names_the_cache_table(path: &Path) -> bool {
    let mut start = Vec::new();
    let read = std::fs::File::open(path).and_then(|file| file.take(65_536).read_to_end(&mut start));
    let needle = b"CREATE TABLE policy_cache";
    read.is_ok() && start.windows(needle.len()).any(|window| window == needle)
}

/// Opens the scratch copy for reading: the WAL's frames written in, a lost header rebuilt.
fn open_scratch(
    scratch: &Path,
    page_size: Option<usize>,
    log: &wal::WalScan,
) -> Result<Connection, Outcome> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(scratch)
        .map_err(step("opening the copy"))?;
    // Frames of another page size cannot be the log of this file.
    if page_size.is_none_or(|size| size == log.page_size) {
        for (page, data) in &log.frames {
            let at = u64::from(page.saturating_sub(1)) * log.page_size as u64;
            file.seek(SeekFrom::Start(at))
                .and_then(|_| file.write_all(data))
                .map_err(step("replaying the write-ahead log into the copy"))?;
        }
    }
    let mut header = [0u8; 100];
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut header))
        .map_err(step("reading the copy"))?;
    // A page 1 from the log may have brought the header back.
    let candidates: Vec<usize> = match header_page_size(&header) {
        Some(size) => vec![size],
        // SQLite's default first, then every size it allows.
        None => [4096, 1024, 2048, 8192, 16_384, 32_768, 65_536, 512].to_vec(),
    };
    for size in candidates {
        let rebuilt = if header_page_size(&header).is_some() {
            let mut kept = header;
            patch_header(&mut kept);
            kept
        } else {
            fresh_header(size)
        };
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&rebuilt))
            .and_then(|()| file.flush())
            .map_err(step("rewriting the copy's header"))?;
        if let Ok(connection) = Connection::open(scratch)
            && schema_columns(&connection).is_some()
        {
            return Ok(connection);
        }
    }
    Err(Outcome::NotOurs(
        "it is not an SQLite database, and no mta-sts cache table could be found in it".into(),
    ))
}

/// Makes a header read the copy as a plain file: no WAL expected (the log was replayed by hand),
/// the size taken from the file (a truncated file has fewer pages than the header says).
fn patch_header(header: &mut [u8; 100]) {
    // File format read/write versions: 1, rollback journal.
    header[18] = 1;
    header[19] = 1;
    // In-header database size 0: SQLite computes it from the file's size instead.
    header[28..32].fill(0);
}

/// A header as SQLite writes one for a new file of `page_size` (the fields from the file format
/// documentation, <https://sqlite.org/fileformat2.html#the_database_header>): what a file whose
/// first bytes were overwritten needs to be read again. The free-page list is given up (its pages
/// hold no rows).
fn fresh_header(page_size: usize) -> [u8; 100] {
    let mut header = [0u8; 100];
    header[..16].copy_from_slice(b"SQLite format 3\0");
    let size = if page_size == 65_536 {
        1
    } else {
        u16::try_from(page_size).unwrap_or(4096)
    };
    header[16..18].copy_from_slice(&size.to_be_bytes());
    // Maximum, minimum and leaf payload fractions: fixed by the format.
    header[21] = 64;
    header[22] = 32;
    header[23] = 32;
    // File change counter and schema cookie: any value; schema format 4; UTF-8.
    header[24..28].copy_from_slice(&1u32.to_be_bytes());
    header[40..44].copy_from_slice(&1u32.to_be_bytes());
    header[44..48].copy_from_slice(&4u32.to_be_bytes());
    header[56..60].copy_from_slice(&1u32.to_be_bytes());
    header[68..72].copy_from_slice(&u32::try_from(APPLICATION_ID).unwrap_or(0).to_be_bytes());
    header[92..96].copy_from_slice(&1u32.to_be_bytes());
    patch_header(&mut header);
    header
}

/// The columns to read from the cache table of `connection` (with NULL for the DANE columns of a
/// version-1 table), or `None` if it has no cache table.
fn schema_columns(connection: &Connection) -> Option<&'static str> {
    let names: Vec<String> = connection
        .prepare("SELECT name FROM pragma_table_info('policy_cache')")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect()
        })
        .ok()?;
    let has = |column: &str| names.iter().any(|name| name == column);
    if !(has("domain") && has("policy_body") && has("backoff_error")) {
        return None;
    }
    Some(if has("dane_checked_at") {
        COLUMNS
    } else {
        COLUMNS_V1
    })
}

/// The rows read from the table.
struct TableRows {
    /// By domain: the row's rowid and entry. Of two rows for one domain (a stale page replayed
    /// from the log beside a newer one), the later write (higher rowid) is kept.
    found: HashMap<String, (i64, CacheEntry)>,
    /// Domains of rows read but refused (a column cut short or of the wrong type).
    rejected: Vec<String>,
    /// Rows refused whose domain could not be read either.
    invalid: u64,
    /// Whether some pages could not be read.
    gaps: bool,
}

fn read_table(connection: &Connection, columns: &str) -> TableRows {
    let scan = format!(
        "SELECT {columns}, rowid FROM policy_cache NOT INDEXED WHERE rowid >= ?1 ORDER BY rowid"
    );
    let probe =
        "SELECT rowid FROM policy_cache NOT INDEXED WHERE rowid >= ?1 ORDER BY rowid LIMIT 1";
    let mut rows = TableRows {
        found: HashMap::new(),
        rejected: Vec::new(),
        invalid: 0,
        gaps: false,
    };
    // SQLite gives rows rowids from 1 up.
    let mut from = 0i64;
    loop {
        match scan_table_from(connection, &scan, from, &mut rows) {
            Ok(()) => break,
            Err(failed_at) => {
                rows.gaps = true;
                let readable = |at: i64| {
                    connection
                        .query_row(probe, [at], |row| row.get::<_, i64>(0))
                        .optional()
                        .is_ok()
                };
                match next_readable(failed_at, readable) {
                    Some(next) => from = next,
                    None => break,
                }
            }
        }
    }
    rows
}

/// Reads rows from rowid `from` on; `Err(at)` when a page fails, `at` the rowid to go on from.
fn scan_table_from(
    connection: &Connection,
    sql: &str,
    from: i64,
    rows: &mut TableRows,
) -> Result<(), i64> {
    let mut cursor = from;
    let mut statement = connection.prepare(sql).map_err(|_| cursor)?;
    let mut results = statement.query([from]).map_err(|_| cursor)?;
    loop {
        let row = match results.next() {
            Ok(Some(row)) => row,
            Ok(None) => return Ok(()),
            Err(_) => return Err(cursor),
        };
        let Ok(rowid) = row.get::<_, i64>(20) else {
            return Err(cursor);
        };
        match read_row(row) {
            Ok((domain, entry)) if is_domain(&domain) => {
                if !complete(row, &entry) {
                    rows.rejected.push(domain);
                } else {
                    match rows.found.get(&domain) {
                        Some((kept, _)) if *kept > rowid => {}
                        _ => {
                            rows.found.insert(domain, (rowid, entry));
                        }
                    }
                }
            }
            _ => match row.get::<_, String>(0) {
                Ok(domain) if is_domain(&domain) => {
                    rows.rejected.push(domain);
                }
                _ => rows.invalid += 1,
            },
        }
        // A damaged page may hand back a rowid out of order: the cursor only moves forward.
        match rowid.checked_add(1) {
            Some(next) => cursor = cursor.max(next),
            None => return Ok(()),
        }
    }
}

/// Whether `entry` holds everything its row stored. The cache's reader drops a part it cannot
/// read (DANE facts that are not JSON, a policy the parser refuses) and keeps the rest, which is
/// right for a row edited by hand; in a damaged file it means the row was cut short or
/// overwritten (a truncation ends in the middle of a row, and SQLite reads the missing bytes as
/// zeros), and such a row is not salvaged: it would be something that was never written.
fn complete(row: &rusqlite::Row<'_>, entry: &CacheEntry) -> bool {
    let stored = |columns: &[usize]| {
        columns.iter().all(|&column| {
            row.get_ref(column)
                .is_ok_and(|value| value != rusqlite::types::ValueRef::Null)
        })
    };
    let policy_kept = !stored(&[2, 3, 4]) || entry.policy.is_some();
    let expiry_kept = entry
        .policy
        .as_ref()
        .is_none_or(|policy| row.get::<_, i64>(5).ok() == Some(policy.expires_at().unix_seconds()));
    let dane_kept = !stored(&[15, 16])
        || entry
            .policy
            .as_ref()
            .is_none_or(|policy| policy.dane().is_some());
    let negative_kept = !stored(&[6, 8, 9]) || entry.negative.is_some();
    let backoff_kept = !stored(&[10, 11, 12, 13]) || entry.backoff.is_some();
    policy_kept && expiry_kept && dane_kept && negative_kept && backoff_kept
}

/// The smallest start after `failed_at` from which reading works, found by doubling the step,
/// then bisecting; `None` if there is none.
fn next_readable(failed_at: i64, readable: impl Fn(i64) -> bool) -> Option<i64> {
    let mut bad = failed_at;
    let mut step = 1i64;
    let mut good = loop {
        let probe = failed_at.saturating_add(step);
        if readable(probe) {
            break probe;
        }
        if probe == i64::MAX {
            return None;
        }
        bad = probe;
        step = step.saturating_mul(2);
    };
    while good - bad > 1 {
        let middle = bad + (good - bad) / 2;
        if readable(middle) {
            good = middle;
        } else {
            bad = middle;
        }
    }
    Some(good)
}

/// The domains the index names.
struct IndexNames {
    domains: Vec<String>,
    /// Whether every index page was read.
    complete: bool,
}

/// Reads the domain index (`domain` is the table's primary key), going past damaged pages by
/// seeking to the salvaged domains after them.
fn read_index(connection: &Connection, found: &HashMap<String, (i64, CacheEntry)>) -> IndexNames {
    const INDEX: &str = "sqlite_autoindex_policy_cache_1";
    let scan = |from: &str, inclusive: bool, out: &mut Vec<String>| -> Result<(), ()> {
        let sql = format!(
            "SELECT domain FROM policy_cache INDEXED BY {INDEX} WHERE domain {} ?1 ORDER BY domain",
            if inclusive { ">=" } else { ">" }
        );
        let mut statement = connection.prepare(&sql).map_err(drop)?;
        let mut rows = statement.query([from]).map_err(drop)?;
        while let Some(row) = rows.next().map_err(drop)? {
            // A damaged entry that is not text is passed over.
            if let Ok(domain) = row.get::<_, String>(0) {
                out.push(domain);
            }
        }
        Ok(())
    };
    let mut probes: Vec<&str> = found.keys().map(String::as_str).collect();
    probes.sort_unstable();
    let mut names = IndexNames {
        domains: Vec::new(),
        complete: true,
    };
    let mut from = String::new();
    let mut inclusive = false;
    loop {
        match scan(&from, inclusive, &mut names.domains) {
            Ok(()) => break,
            Err(()) => {
                names.complete = false;
                let last = names.domains.last().cloned().unwrap_or_default();
                let last = if last.as_str() > from.as_str() {
                    last
                } else {
                    from.clone()
                };
                let readable = |probe: &str| {
                    connection
                        .query_row(
                            &format!(
                                "SELECT domain FROM policy_cache INDEXED BY {INDEX} \
                                 WHERE domain >= ?1 ORDER BY domain LIMIT 1"
                            ),
                            [probe],
                            |row| row.get::<_, String>(0),
                        )
                        .optional()
                        .is_ok()
                };
                // The salvaged domains after the failure, bisected for the first that reads.
                let after = probes.partition_point(|probe| *probe <= last.as_str());
                let rest = &probes[after..];
                let mut low = 0;
                let mut high = rest.len();
                while low < high {
                    let middle = low + (high - low) / 2;
                    if readable(rest[middle]) {
                        high = middle;
                    } else {
                        low = middle + 1;
                    }
                }
                match rest.get(low) {
                    Some(probe) => {
                        from = (*probe).to_string();
                        inclusive = true;
                    }
                    None => break,
                }
            }
        }
    }
    names.domains.sort_unstable();
    names.domains.dedup();
    names
}

/// Writes the salvaged rows into a new cache file `fresh`, synced, with the damaged file's
/// permissions.
fn write_fresh(
    path: &Path,
    fresh: &Path,
    rows: HashMap<String, (i64, CacheEntry)>,
) -> Result<(), Failed> {
    let mut connection = Connection::open(fresh).map_err(step("creating the new file"))?;
    // A rollback journal and FULL sync while it is written: the file is renamed into place only
    // after it is complete and synced. The normal open switches it to WAL.
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(step("creating the new file"))?;
    let tx = connection
        .transaction()
        .map_err(step("writing the new file"))?;
    // Every migration, as a new cache gets them (the same table as the file had).
    for migration in SCHEMA.migrations {
        tx.execute_batch(migration.sqlite)
            .map_err(step("writing the new file"))?;
    }
    // In write order, so that the new rowids keep the old order.
    let mut rows: Vec<(i64, String, CacheEntry)> = rows
        .into_iter()
        .map(|(domain, (rowid, entry))| (rowid, domain, entry))
        .collect();
    rows.sort_unstable_by_key(|(rowid, _, _)| *rowid);
    for (_, domain, entry) in &rows {
        write_row(&tx, domain, entry).map_err(step("writing the new file"))?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(step("writing the new file"))?;
    tx.pragma_update(None, "user_version", SCHEMA.latest())
        .map_err(step("writing the new file"))?;
    tx.commit().map_err(step("writing the new file"))?;
    connection
        .close()
        .map_err(|(_, e)| e)
        .map_err(step("writing the new file"))?;
    let permissions = std::fs::metadata(path)
        .map_err(step("reading the damaged file's permissions"))?
        .permissions();
    std::fs::set_permissions(fresh, permissions).map_err(step("setting the new file's mode"))?;
    std::fs::File::open(fresh)
        .and_then(|file| file.sync_all())
        .map_err(step("syncing the new file"))?;
    Ok(())
}

/// Keeps the damaged file aside and puts `fresh` in its place; the name it is kept under.
fn swap(path: &Path, fresh: &Path, now: Timestamp) -> Result<PathBuf, Failed> {
    let kept = kept_name(path, now);
    // A hard link first: until the rename below, the cache's name still holds the damaged file,
    // so a crash in between finds it there and salvages it again.
    if std::fs::hard_link(path, &kept).is_err() {
        std::fs::copy(path, &kept).map_err(step("keeping the damaged file aside"))?;
    }
    // The log and its index go with the damaged file, before the new file takes the name: a new
    // file beside the old log would have the old log replayed into it.
    for suffix in ["-wal", "-shm"] {
        match std::fs::rename(sidecar(path, suffix), sidecar(&kept, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(step("moving the write-ahead log aside")(e)),
        }
    }
    std::fs::rename(fresh, path).map_err(step("putting the new file in place"))?;
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(directory)
        .and_then(|dir| dir.sync_all())
        .map_err(step("syncing the directory"))?;
    Ok(kept)
}

/// `<path>.damaged-<UTC time>`, RFC 3339 with `-` for `:` (a colon in a file name trips up
/// `scp` and friends), and a counter if that name is taken.
fn kept_name(path: &Path, now: Timestamp) -> PathBuf {
    let time = now.to_string().replace(':', "-");
    let base = sidecar(path, &format!(".damaged-{time}"));
    let mut candidate = base.clone();
    let mut n = 1;
    while candidate.exists() || sidecar(&candidate, "-wal").exists() {
        candidate = sidecar(&base, &format!(".{n}"));
        n += 1;
    }
    candidate
}

/// Whether `domain` is what the daemon keys its cache by: a mail domain in lowercase A-labels,
/// without a port, brackets or trailing dot (its socketmap key normalisation gives the same).
fn is_domain(domain: &str) -> bool {
    mta_sts_core::domain::normalize_mail_domain(domain).is_ok_and(|normal| normal == domain)
}

#[cfg(test)]
mod tests {
    use mta_sts_core::time::ManualClock;

    use super::*;
    use crate::policy_cache::SqlitePolicyCache;

    fn open(path: &Path) -> Result<SqlitePolicyCache, StoreError> {
        SqlitePolicyCache::open(path, &ManualClock::default())
    }

    #[test]
    fn probing_finds_the_first_readable_start_after_a_bad_range() {
        // Rowids 100..=350 sit on unreadable pages.
        let readable = |at: i64| !(100..=350).contains(&at);
        assert_eq!(next_readable(100, readable), Some(351));
        assert_eq!(next_readable(349, readable), Some(351));
        // Nothing readable after the failure.
        assert_eq!(next_readable(5, |at| at < 5), None);
        assert_eq!(next_readable(i64::MAX - 1, |_| false), None);
    }

    #[test]
    fn a_rebuilt_header_is_sqlites() {
        let header = fresh_header(4096);
        assert_eq!(header_page_size(&header), Some(4096));
        assert_eq!(header_page_size(&fresh_header(65_536)), Some(65_536));
        let mut garbage = header;
        garbage[..16].fill(b'x');
        assert_eq!(header_page_size(&garbage), None);
    }

    #[test]
    fn a_salvage_that_fails_leaves_the_file_and_names_the_way_out() {
        let dir = std::env::temp_dir().join(format!(
            "mta-sts-store-salvage-fails-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("cache.sqlite3");
        drop(open(&path).expect("a new cache"));
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[..100].fill(0x5a);
        std::fs::write(&path, &bytes).expect("damage");
        // A directory where the scratch copy goes: the copy fails.
        std::fs::create_dir(scratch_name(&path, "salvage")).expect("block");
        let error = open(&path).expect_err("cannot salvage");
        assert!(matches!(error, StoreError::Salvage { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("copying the damaged file failed")
                && message.contains(&format!("mv {} {}.damaged", path.display(), path.display())),
            "{message}"
        );
        assert_eq!(std::fs::read(&path).expect("kept"), bytes);
        std::fs::remove_dir(scratch_name(&path, "salvage")).expect("unblock");
        let cache = open(&path).expect("salvaged");
        assert_eq!(cache.salvage().map(|s| (s.salvaged, s.lost)), Some((0, 0)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_kept_name_is_the_time_in_rfc_3339_without_colons() {
        let now = Timestamp::parse("2026-12-06T22:10:00Z").expect("valid");
        let name = kept_name(Path::new("/nonexistent/cache.sqlite3"), now);
        assert_eq!(
            name,
            Path::new("/nonexistent/cache.sqlite3.damaged-2026-12-06T22-10-00Z")
        );
    }
}
