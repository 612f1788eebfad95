//! A cap on the connections a server holds open, where the newcomer always gets in: at the cap,
//! the connection that has gone longest without doing anything useful is closed to make room.
//!
//! A plain cap (a semaphore, or a descriptor limit) lets anyone who can connect hold every slot
//! with connections that send nothing, or half a request, and every real client waits behind
//! them. Here a slot is never refused: whoever connects last is served, and what is closed is
//! the connection that made no progress for longest. Progress is whatever the server counts as
//! useful: a whole request received, a reply sent. Bytes trickling in (a header one byte every
//! few seconds, half a netstring) are not progress, so a slow attacker's connections are the
//! first to go. A connection with a request in hand (see [`Activity::start`]) is closed only
//! when every other connection has one too.
//!
//! Nothing here knows a protocol: the servers (the socketmap daemon, the web checker) say when
//! their connections make progress, and close a connection when told it was evicted.
//!
//! ```
//! # async fn example() {
//! use mta_sts_service::connection_cap::ConnectionCap;
//!
//! let cap = ConnectionCap::new(2);
//! let mut first = cap.admit().slot;
//! let _second = cap.admit().slot;
//! // A third client: the first connection, idle longest, is told to close.
//! let third = cap.admit();
//! assert!(third.notice.is_some(), "the first eviction is worth a log line");
//! first.evicted().await;
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The least time between two [`CapNotice`]s: one line a minute says an attack is going on
/// without writing a line per connection of it.
pub const NOTICE_INTERVAL: Duration = Duration::from_secs(60);

/// The connections a server holds open, at most `limit` of them. Cheap to clone; clones share
/// the table.
#[derive(Debug, Clone)]
pub struct ConnectionCap {
    table: Arc<Mutex<Table>>,
    sequence: Arc<AtomicU64>,
}

/// A connection let in by [`ConnectionCap::admit`], and whether that is worth a log line.
#[derive(Debug)]
pub struct Admission {
    /// The new connection's place in the table; dropping it frees the place.
    pub slot: ConnectionSlot,
    /// Set when this admission closed another connection and no notice was given for
    /// [`NOTICE_INTERVAL`]: the server logs one line for it.
    pub notice: Option<CapNotice>,
}

/// The cap was reached and connections are being closed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapNotice {
    /// The cap.
    pub limit: usize,
    /// Connections closed to make room since the previous notice, the one just closed included.
    pub evicted: u64,
}

/// One open connection's place under the cap. Dropping it (when the connection ends) frees the
/// place.
#[derive(Debug)]
pub struct ConnectionSlot {
    activity: Activity,
    eviction: oneshot::Receiver<()>,
    evicted: bool,
}

/// A handle on a connection's place for saying what it does: [`Activity::progress`] when it did
/// something useful, [`Activity::start`] while it has a request in hand. Cheap to clone; does
/// nothing once the connection is gone.
///
/// Saying so takes no lock: a connection makes progress on every request, while the table is
/// only searched when a newcomer finds it full, so the connection's marks are atomics the
/// search reads.
#[derive(Debug, Clone)]
pub struct Activity {
    id: u64,
    marks: Arc<Marks>,
    sequence: Arc<AtomicU64>,
    table: Arc<Mutex<Table>>,
}

/// A request in hand on a connection (from [`Activity::start`]); dropping it ends the request,
/// which counts as progress.
#[derive(Debug)]
#[must_use = "the request counts as in hand only while this is kept"]
pub struct Busy {
    activity: Activity,
}

impl ConnectionCap {
    /// A cap of `limit` connections (at least 1).
    pub fn new(limit: usize) -> ConnectionCap {
        let sequence = Arc::new(AtomicU64::new(0));
        ConnectionCap {
            table: Arc::new(Mutex::new(Table::new(limit.max(1), Arc::clone(&sequence)))),
            sequence,
        }
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Connections holding a place (not counting those told to close that have not yet).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no connection holds a place.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lets a new connection in. At the cap, the connection that has gone longest without
    /// progress (one without a request in hand, if there is any) is told to close first; its
    /// [`ConnectionSlot::evicted`] completes.
    pub fn admit(&self) -> Admission {
        let (id, marks, eviction, notice) = self.lock().admit(Instant::now());
        Admission {
            slot: ConnectionSlot {
                activity: Activity {
                    id,
                    marks,
                    sequence: Arc::clone(&self.sequence),
                    table: Arc::clone(&self.table),
                },
                eviction,
                evicted: false,
            },
            notice,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        lock(&self.table)
    }
}

/// A poisoned table only means a thread panicked mid-update; every update leaves the table
/// consistent before it can panic, so keep using it.
fn lock(table: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ConnectionSlot {
    /// Completes when the connection was chosen to make room for a newer one: close it then.
    /// Once evicted, it completes at once every time.
    pub async fn evicted(&mut self) {
        if self.evicted {
            return;
        }
        // An error would mean the sender is gone without sending: the slot's entry was
        // removed, which only an eviction does while the slot lives.
        let _ = (&mut self.eviction).await;
        self.evicted = true;
    }

    /// The handle for saying what the connection does.
    pub fn activity(&self) -> Activity {
        self.activity.clone()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        lock(&self.activity.table).remove(self.activity.id);
    }
}

impl Activity {
    /// The connection did something useful (a request received whole, a reply sent): it goes
    /// to the back of the eviction order.
    pub fn progress(&self) {
        self.marks.progress(&self.sequence);
    }

    /// A request is in hand until the returned guard is dropped: meanwhile the connection is
    /// evicted only if every other connection has a request in hand too.
    pub fn start(&self) -> Busy {
        self.marks.start(&self.sequence);
        Busy {
            activity: self.clone(),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.activity.marks.finish(&self.activity.sequence);
    }
}

/// The next number of `sequence`, which hands out connection ids and progress sequence numbers,
/// both increasing.
fn tick(sequence: &AtomicU64) -> u64 {
    sequence.fetch_add(1, Ordering::Relaxed) + 1
}

/// What a connection last did, read by the search for a connection to close. Each field is
/// written only by its own connection; the search may see one updated and not yet the other,
/// which at worst closes a connection that became useful a moment before.
#[derive(Debug)]
struct Marks {
    /// Requests in hand.
    busy: AtomicU32,
    /// The sequence number of the last progress (or of the admission).
    progress: AtomicU64,
}

impl Marks {
    fn progress(&self, sequence: &AtomicU64) {
        self.progress.store(tick(sequence), Ordering::Relaxed);
    }

    fn start(&self, sequence: &AtomicU64) {
        // Saturating: a u32 of requests in hand is far past any pipeline depth.
        let _ = self
            .busy
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(1))
            });
        self.progress(sequence);
    }

    fn finish(&self, sequence: &AtomicU64) {
        let _ = self
            .busy
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
        self.progress(sequence);
    }

    /// Eviction order: connections without a request in hand first (`false` sorts before
    /// `true`), then by the sequence number of their last progress, oldest first.
    fn key(&self) -> (bool, u64) {
        (
            self.busy.load(Ordering::Relaxed) > 0,
            self.progress.load(Ordering::Relaxed),
        )
    }
}

/// The bookkeeping behind a [`ConnectionCap`], with time passed in so that tests choose it.
#[derive(Debug)]
struct Table {
    limit: usize,
    entries: HashMap<u64, Entry>,
    sequence: Arc<AtomicU64>,
    last_notice: Option<Instant>,
    evicted_since_notice: u64,
}

#[derive(Debug)]
struct Entry {
    marks: Arc<Marks>,
    /// Told when the connection is chosen to make room.
    evict: oneshot::Sender<()>,
}

impl Table {
    fn new(limit: usize, sequence: Arc<AtomicU64>) -> Table {
        Table {
            limit,
            entries: HashMap::new(),
            sequence,
            last_notice: None,
            evicted_since_notice: 0,
        }
    }

    /// The connection to close first: a search of every entry, done only when a newcomer finds
    /// the table full (at most `limit` entries, and cheaper than keeping an order up to date on
    /// every request).
    fn victim(&self) -> Option<u64> {
        self.entries
            .iter()
            .min_by_key(|(_, entry)| entry.marks.key())
            .map(|(id, _)| *id)
    }

    fn admit(
        &mut self,
        now: Instant,
    ) -> (u64, Arc<Marks>, oneshot::Receiver<()>, Option<CapNotice>) {
        let mut notice = None;
        while self.entries.len() >= self.limit {
            let Some(victim) = self.victim() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&victim) {
                // The connection may be gone already (its receiver dropped): nothing to tell.
                let _ = entry.evict.send(());
            }
            self.evicted_since_notice += 1;
            let due = self
                .last_notice
                .is_none_or(|at| now.saturating_duration_since(at) >= NOTICE_INTERVAL);
            if due {
                notice = Some(CapNotice {
                    limit: self.limit,
                    evicted: self.evicted_since_notice,
                });
                self.last_notice = Some(now);
                self.evicted_since_notice = 0;
            }
        }
        let id = tick(&self.sequence);
        let (evict, eviction) = oneshot::channel();
        let marks = Arc::new(Marks {
            busy: AtomicU32::new(0),
            progress: AtomicU64::new(id),
        });
        self.entries.insert(
            id,
            Entry {
                marks: Arc::clone(&marks),
                evict,
            },
        );
        (id, marks, eviction, notice)
    }

    fn remove(&mut self, id: u64) {
        self.entries.remove(&id);
    }
}

#[cfg(test)]
mod tests;
