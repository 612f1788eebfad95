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
//! use mta_sts_net::connection_cap::ConnectionCap;
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

use std::collections::{BTreeMap, HashMap};
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
#[derive(Debug, Clone)]
pub struct Activity {
    id: u64,
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
        ConnectionCap {
            table: Arc::new(Mutex::new(Table::new(limit.max(1)))),
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
        let (id, eviction, notice) = self.lock().admit(Instant::now());
        Admission {
            slot: ConnectionSlot {
                activity: Activity {
                    id,
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
        lock(&self.table).progress(self.id);
    }

    /// A request is in hand until the returned guard is dropped: meanwhile the connection is
    /// evicted only if every other connection has a request in hand too.
    pub fn start(&self) -> Busy {
        lock(&self.table).start(self.id);
        Busy {
            activity: self.clone(),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        lock(&self.activity.table).finish(self.activity.id);
    }
}

/// The bookkeeping behind a [`ConnectionCap`], with time passed in so that tests choose it.
#[derive(Debug)]
struct Table {
    limit: usize,
    entries: HashMap<u64, Entry>,
    /// Eviction order: connections without a request in hand first (`false` sorts before
    /// `true`), then by the sequence number of their last progress, oldest first.
    order: BTreeMap<(bool, u64), u64>,
    /// Hands out connection ids and progress sequence numbers, both increasing.
    next: u64,
    last_notice: Option<Instant>,
    evicted_since_notice: u64,
}

#[derive(Debug)]
struct Entry {
    /// Requests in hand.
    busy: u32,
    /// The sequence number of the last progress (or of the admission).
    progress: u64,
    /// Told when the connection is chosen to make room.
    evict: oneshot::Sender<()>,
}

impl Entry {
    fn key(&self) -> (bool, u64) {
        (self.busy > 0, self.progress)
    }
}

impl Table {
    fn new(limit: usize) -> Table {
        Table {
            limit,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
            last_notice: None,
            evicted_since_notice: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn admit(&mut self, now: Instant) -> (u64, oneshot::Receiver<()>, Option<CapNotice>) {
        let mut notice = None;
        while self.entries.len() >= self.limit {
            let Some((_, victim)) = self.order.pop_first() else {
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
        let id = self.tick();
        let (evict, eviction) = oneshot::channel();
        let entry = Entry {
            busy: 0,
            progress: id,
            evict,
        };
        self.order.insert(entry.key(), id);
        self.entries.insert(id, entry);
        (id, eviction, notice)
    }

    /// Applies `change` to the entry of `id` (if it still has one) and re-files it.
    fn update(&mut self, id: u64, change: impl FnOnce(&mut Entry, u64)) {
        let seq = self.tick();
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        self.order.remove(&entry.key());
        change(entry, seq);
        self.order.insert(entry.key(), id);
    }

    fn progress(&mut self, id: u64) {
        self.update(id, |entry, seq| entry.progress = seq);
    }

    fn start(&mut self, id: u64) {
        self.update(id, |entry, seq| {
            entry.busy = entry.busy.saturating_add(1);
            entry.progress = seq;
        });
    }

    fn finish(&mut self, id: u64) {
        self.update(id, |entry, seq| {
            entry.busy = entry.busy.saturating_sub(1);
            entry.progress = seq;
        });
    }

    fn remove(&mut self, id: u64) {
        if let Some(entry) = self.entries.remove(&id) {
            self.order.remove(&entry.key());
        }
    }
}

#[cfg(test)]
mod tests;
