//! The collector (`mta-sts tlsrpt collect`): receives the datagrams an MTA sends through
//! libtlsrpt on a unix datagram socket and adds them up per UTC day, recipient domain, TLSRPT
//! record and policy in the [`SenderStore`], the counterpart of tlsrpt-reporter's
//! tlsrpt-collectd.
//!
//! - One thread receives (blocking `recv` into one reused buffer of tlsrpt-collectd's
//!   `TLSRPT_MAX_READ_COLLECTD` bytes), reads each datagram with core's
//!   [`tlsrpt_datagram::parse`] and counts it in memory under the UTC day of the clock at
//!   receipt, as tlsrpt-collectd does. Nothing else happens per datagram: no SQL, no lock.
//! - Every `flush_interval` (or sooner, once the counts take half of `max_keys`) the counts are
//!   handed to a flusher task, which adds them to the store in one transaction. While a flush is under way (the store may be slow), new datagrams are
//!   counted in a fresh aggregate; it is handed over when the flusher is free again. A flush
//!   that fails keeps its counts and is tried again after `flush_interval`.
//! - Memory is bounded: the keys held (count rows and failure rows, in the flusher's batch and
//!   the aggregate together) never pass `max_keys`. A datagram that would need more is lost:
//!   counted as such in the day's figures, and logged once per interval with the number lost.
//! - Malformed datagrams are counted (in the day's figures too) and logged as a sentence with
//!   a bounded prefix of the datagram, the first of each interval in full and the rest as a
//!   count.
//! - On shutdown (SIGTERM, SIGINT), receiving stops, the counts are flushed (tried until
//!   `shutdown_timeout`), and the socket file is removed.

mod aggregate;
mod socket;

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mta_sts_core::Clock;
use mta_sts_core::tlsrpt_datagram::{self, MAX_DATAGRAM_SIZE};
use mta_sts_store::sender_reports::{CountBatch, SenderStore};
use serde::Deserialize;

use crate::TlsRptError;
use aggregate::{Added, Aggregate};

/// Where tlsrpt-reporter's packages put tlsrpt-collectd's socket (tlsrpt-collectd itself has
/// no default): Postfix's `smtp_tlsrpt_socket_name` names this path and need not change.
pub const DEFAULT_SOCKET: &str = "/run/tlsrpt/collectd.sock";

/// How the collector listens and flushes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectSettings {
    /// The socket's path ([`DEFAULT_SOCKET`]; tlsrpt-collectd's `socketname`).
    pub socket: PathBuf,
    /// The socket file's mode, e.g. 0o220 (tlsrpt-collectd's `socketmode`); left as the umask
    /// makes it when `None`, as tlsrpt-collectd does.
    pub socket_mode: Option<u32>,
    /// The socket file's owner, a name or a number (tlsrpt-collectd's `socketuser`).
    pub socket_user: Option<String>,
    /// The socket file's group, a name or a number (tlsrpt-collectd's `socketgroup`).
    pub socket_group: Option<String>,
    /// How often counts are added to the store, and how long after a failed flush it is tried
    /// again (tlsrpt-collectd commits after `sockettimeout`, 5 s).
    #[serde(with = "seconds")]
    pub flush_interval: Duration,
    /// The most distinct keys (count rows plus failure rows) held in memory while the store is
    /// slow; datagrams needing more are lost and counted as such.
    pub max_keys: usize,
    /// The socket's receive buffer (SO_RCVBUF) asked for, in bytes; the kernel caps it at
    /// `net.core.rmem_max`. 0 leaves the system default.
    pub receive_buffer: usize,
    /// How long a shutdown keeps trying to store the last counts.
    #[serde(with = "seconds")]
    pub shutdown_timeout: Duration,
}

impl Default for CollectSettings {
    fn default() -> CollectSettings {
        CollectSettings {
            socket: PathBuf::from(DEFAULT_SOCKET),
            socket_mode: None,
            socket_user: None,
            socket_group: None,
            flush_interval: Duration::from_secs(5),
            max_keys: 1_000_000,
            receive_buffer: 8 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Durations written as seconds (an integer or a decimal).
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}

/// The collector's running totals since it started, for metrics and status.
#[derive(Debug, Default)]
pub struct CollectorCounters {
    datagrams: AtomicU64,
    malformed: AtomicU64,
    lost: AtomicU64,
    noted: AtomicU64,
    flushes: AtomicU64,
    flush_failures: AtomicU64,
    held_keys: AtomicUsize,
}

/// A reading of [`CollectorCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorFigures {
    /// Datagrams received.
    pub datagrams: u64,
    /// Of them, unreadable (not counted).
    pub malformed: u64,
    /// Of them, lost because the keys held reached `max_keys` (not counted).
    pub lost: u64,
    /// Of them, counted with a note (a failure count that did not match, an unknown failure
    /// code).
    pub noted: u64,
    /// Flushes that stored their counts.
    pub flushes: u64,
    /// Flushes that failed (their counts kept and tried again).
    pub flush_failures: u64,
    /// Keys held in memory now (the aggregate and a flush under way).
    pub held_keys: usize,
}

impl CollectorCounters {
    /// The totals now.
    pub fn snapshot(&self) -> CollectorFigures {
        CollectorFigures {
            datagrams: self.datagrams.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            noted: self.noted.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            flush_failures: self.flush_failures.load(Ordering::Relaxed),
            held_keys: self.held_keys.load(Ordering::Relaxed),
        }
    }
}

/// A bound collector, ready to [`Collector::run`].
#[derive(Debug)]
pub struct Collector {
    socket: UnixDatagram,
    settings: CollectSettings,
    store: SenderStore,
    clock: Arc<dyn Clock>,
    counters: Arc<CollectorCounters>,
}

/// What the receiving thread and the flusher share.
#[derive(Debug)]
struct Shared {
    settings: CollectSettings,
    clock: Arc<dyn Clock>,
    counters: Arc<CollectorCounters>,
    stop: AtomicBool,
    /// The same, for the flusher to wait on: a retry after a failed flush is not put off by a
    /// whole `flush_interval` once the collector is stopping.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Whether the flusher holds a batch (storing it, or waiting to try again).
    flushing: AtomicBool,
    /// The keys of the flusher's batch.
    flusher_keys: AtomicUsize,
}

impl Collector {
    /// Binds the socket (see the module documentation); counts go to `store`, under the UTC day
    /// `clock` gives at receipt.
    pub fn bind(
        settings: CollectSettings,
        store: SenderStore,
        clock: Arc<dyn Clock>,
    ) -> Result<Collector, TlsRptError> {
        let socket = socket::bind(&settings)?;
        Ok(Collector {
            socket,
            settings,
            store,
            clock,
            counters: Arc::default(),
        })
    }

    /// The running totals (shared: they keep counting while [`Collector::run`] runs).
    pub fn counters(&self) -> Arc<CollectorCounters> {
        Arc::clone(&self.counters)
    }

    /// The socket's path.
    pub fn socket_path(&self) -> &Path {
        &self.settings.socket
    }

    /// Receives and counts until `shutdown` completes, then stores the last counts and removes
    /// the socket. Returns the totals; an error when the socket failed (after storing what was
    /// counted) or when the last counts could not be stored within `shutdown_timeout`.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<CollectorFigures, TlsRptError> {
        let Collector {
            socket,
            settings,
            store,
            clock,
            counters,
        } = self;
        let path = settings.socket.clone();
        let shared = Arc::new(Shared {
            settings,
            clock,
            counters: Arc::clone(&counters),
            stop: AtomicBool::new(false),
            stopping: tokio::sync::watch::Sender::new(false),
            flushing: AtomicBool::new(false),
            flusher_keys: AtomicUsize::new(0),
        });
        let (batches, received) = tokio::sync::mpsc::channel::<(CountBatch, usize)>(1);
        let (finished, receiver_done) = tokio::sync::oneshot::channel();
        let receiver_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("tlsrpt-receive".into())
            .spawn(move || {
                let outcome = receive(&socket, &receiver_shared, &batches);
                let _ = finished.send(outcome);
            });
        if let Err(source) = spawned {
            socket::remove(&path);
            return Err(TlsRptError::Socket {
                path,
                action: "starting its receiving thread",
                source,
            });
        }
        let flusher = tokio::spawn(flush_batches(received, store.clone(), Arc::clone(&shared)));
        tokio::pin!(receiver_done);
        let outcome = tokio::select! {
            outcome = &mut receiver_done => outcome,
            () = shutdown => {
                shared.stop.store(true, Ordering::Relaxed);
                shared.stopping.send_replace(true);
                receiver_done.await
            }
        };
        socket::remove(&path);
        // The thread always answers; a panic in it (dropped sender) leaves nothing to store.
        let (last, socket_error) = outcome.unwrap_or_default();
        let deadline = Instant::now() + shared.settings.shutdown_timeout;
        // The flusher ends once the batch it holds is stored (the receiver dropped its sender).
        if tokio::time::timeout_at(deadline.into(), flusher)
            .await
            .is_err()
        {
            let keys = shared.flusher_keys.load(Ordering::Relaxed);
            tracing::error!(
                "the collector stopped with {keys} counts still unstored after {} seconds of \
                 trying to reach the store {}; they are lost",
                shared.settings.shutdown_timeout.as_secs(),
                store.url()
            );
        }
        if !last.is_empty() {
            let batch = last.to_batch();
            let keys = last.keys();
            let stored = store_until(&store, &batch, keys, &shared, Some(deadline)).await;
            if !stored {
                tracing::error!(
                    "the collector stopped with its last {keys} counts unstored: the store {} \
                     did not answer within {} seconds; they are lost",
                    store.url(),
                    shared.settings.shutdown_timeout.as_secs()
                );
            }
        }
        counters.held_keys.store(0, Ordering::Relaxed);
        match socket_error {
            Some(source) => Err(TlsRptError::Socket {
                path,
                action: "receiving",
                source,
            }),
            None => Ok(counters.snapshot()),
        }
    }
}

/// At most this many bytes of a malformed datagram are logged.
const LOGGED_PREFIX: usize = 200;

/// The first event of a kind in an interval is logged in full; the rest are counted and logged
/// as one line when the interval ends, so a flood of bad datagrams cannot flood the log.
#[derive(Debug, Default)]
struct Throttle {
    logged: bool,
    suppressed: u64,
}

impl Throttle {
    /// Whether to log this one.
    fn first(&mut self) -> bool {
        if self.logged {
            self.suppressed += 1;
            false
        } else {
            self.logged = true;
            true
        }
    }

    /// Ends the interval: how many were not logged.
    fn end(&mut self) -> u64 {
        self.logged = false;
        std::mem::take(&mut self.suppressed)
    }
}

/// The receiving thread's state.
struct Receiver<'a> {
    shared: &'a Shared,
    batches: &'a tokio::sync::mpsc::Sender<(CountBatch, usize)>,
    /// One byte more than the largest datagram read, so a longer one (cut short by `recv`) is
    /// recognised and refused instead of read truncated.
    buffer: Vec<u8>,
    aggregate: Aggregate,
    next_flush: Instant,
    malformed_log: Throttle,
    noted_log: Throttle,
    lost_in_interval: u64,
}

/// The receiving thread: counts datagrams until told to stop or the socket fails; returns the
/// counts not yet handed to the flusher. On stop, the datagrams already queued on the socket
/// are counted first: an MTA's datagrams sent before the SIGTERM are not lost.
fn receive(
    socket: &UnixDatagram,
    shared: &Shared,
    batches: &tokio::sync::mpsc::Sender<(CountBatch, usize)>,
) -> (Aggregate, Option<std::io::Error>) {
    let settings = &shared.settings;
    let mut receiver = Receiver {
        shared,
        batches,
        buffer: vec![0u8; MAX_DATAGRAM_SIZE + 1],
        aggregate: Aggregate::default(),
        next_flush: Instant::now() + settings.flush_interval,
        malformed_log: Throttle::default(),
        noted_log: Throttle::default(),
        lost_in_interval: 0,
    };
    // Short enough that a shutdown is seen promptly when no datagrams come.
    let tick = settings
        .flush_interval
        .min(Duration::from_millis(200))
        .max(Duration::from_millis(1));
    if let Err(error) = socket.set_read_timeout(Some(tick)) {
        return (receiver.aggregate, Some(error));
    }
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            let error = receiver.drain(socket).err();
            receiver.end_interval();
            return (receiver.aggregate, error);
        }
        match socket.recv(&mut receiver.buffer) {
            Ok(length) => receiver.count(length),
            Err(error) if is_transient(&error) => {}
            Err(error) => return (receiver.aggregate, Some(error)),
        }
        // Reading the monotonic clock costs tens of nanoseconds (vDSO), little beside a recv.
        let handed_over = if Instant::now() >= receiver.next_flush {
            receiver.flush()
        } else if receiver.aggregate.keys() >= settings.max_keys / 2
            && !shared.flushing.load(Ordering::Acquire)
        {
            // Half the room taken before the interval is up (a flood of distinct domains):
            // stored early, so the cap is not reached only because the interval is long.
            receiver.hand_over()
        } else {
            true
        };
        if !handed_over {
            // The flusher is gone (the runtime is shutting down): nothing more can be stored.
            return (receiver.aggregate, None);
        }
    }
}

fn is_transient(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

impl Receiver<'_> {
    /// Counts the datagram of `length` bytes in the buffer.
    fn count(&mut self, length: usize) {
        let shared = self.shared;
        let counters = &shared.counters;
        counters.datagrams.fetch_add(1, Ordering::Relaxed);
        let day = shared.clock.now().utc_date();
        let parsed = if length > MAX_DATAGRAM_SIZE {
            Err(None)
        } else {
            tlsrpt_datagram::parse(&self.buffer[..length]).map_err(Some)
        };
        match parsed {
            Ok(datagram) => {
                if !datagram.notes.is_empty() {
                    counters.noted.fetch_add(1, Ordering::Relaxed);
                    if self.noted_log.first() {
                        let notes: Vec<String> =
                            datagram.notes.iter().map(ToString::to_string).collect();
                        tracing::warn!(
                            "a datagram for {} was counted despite this: {}",
                            datagram.domain,
                            notes.join("; ")
                        );
                    }
                }
                let held = shared.flusher_keys.load(Ordering::Relaxed);
                let room = shared.settings.max_keys.saturating_sub(held);
                if self.aggregate.add(day, datagram, room) == Added::Lost {
                    counters.lost.fetch_add(1, Ordering::Relaxed);
                    self.lost_in_interval += 1;
                }
            }
            Err(error) => {
                counters.malformed.fetch_add(1, Ordering::Relaxed);
                self.aggregate.malformed(day);
                if self.malformed_log.first() {
                    let shown = &self.buffer[..length.min(LOGGED_PREFIX)];
                    let reason = match error {
                        Some(error) => error.to_string(),
                        None => format!("the datagram is longer than {MAX_DATAGRAM_SIZE} bytes"),
                    };
                    tracing::warn!(
                        "a malformed datagram of {length} bytes was not counted: {reason}; it \
                         began with {:?}",
                        String::from_utf8_lossy(shown)
                    );
                }
            }
        }
        counters.held_keys.store(
            self.aggregate.keys() + shared.flusher_keys.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }

    /// Counts what is queued on the socket, without waiting for more.
    fn drain(&mut self, socket: &UnixDatagram) -> std::io::Result<()> {
        socket.set_nonblocking(true)?;
        loop {
            match socket.recv(&mut self.buffer) {
                Ok(length) => self.count(length),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if is_transient(&error) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }

    /// Logs what the interval's throttles held back.
    fn end_interval(&mut self) {
        let seconds = self.shared.settings.flush_interval.as_secs_f64();
        let more_malformed = self.malformed_log.end();
        if more_malformed > 0 {
            tracing::warn!(
                "{more_malformed} more malformed datagrams were not counted in the last \
                 {seconds} seconds"
            );
        }
        let more_noted = self.noted_log.end();
        if more_noted > 0 {
            tracing::warn!(
                "{more_noted} more datagrams were counted with notes in the last {seconds} \
                 seconds"
            );
        }
        if self.lost_in_interval > 0 {
            tracing::error!(
                "{} datagrams were lost (not counted) in the last {seconds} seconds: the \
                 collector holds {} keys, its limit (max_keys {}), while the store is slow; \
                 they are counted as lost in the day's figures",
                self.lost_in_interval,
                self.aggregate.keys() + self.shared.flusher_keys.load(Ordering::Relaxed),
                self.shared.settings.max_keys
            );
            self.lost_in_interval = 0;
        }
    }

    /// Ends the interval and hands the counts to the flusher unless it is busy (then they stay
    /// here and keep growing). `false` when the flusher is gone.
    fn flush(&mut self) -> bool {
        self.next_flush = Instant::now() + self.shared.settings.flush_interval;
        self.end_interval();
        self.hand_over()
    }

    /// Hands the counts to the flusher unless it is busy (then they stay here and keep
    /// growing). `false` when the flusher is gone.
    fn hand_over(&mut self) -> bool {
        let shared = self.shared;
        if self.aggregate.is_empty() || shared.flushing.load(Ordering::Acquire) {
            return true;
        }
        let keys = self.aggregate.keys();
        let batch = std::mem::take(&mut self.aggregate).to_batch();
        shared.flusher_keys.store(keys, Ordering::Relaxed);
        shared.flushing.store(true, Ordering::Release);
        match self.batches.try_send((batch, keys)) {
            Ok(()) => true,
            Err(_) => {
                shared.flushing.store(false, Ordering::Release);
                shared.flusher_keys.store(0, Ordering::Relaxed);
                false
            }
        }
    }
}

/// The flusher task: stores each batch handed over, trying again after `flush_interval` until
/// it is stored.
async fn flush_batches(
    mut batches: tokio::sync::mpsc::Receiver<(CountBatch, usize)>,
    store: SenderStore,
    shared: Arc<Shared>,
) {
    while let Some((batch, keys)) = batches.recv().await {
        store_until(&store, &batch, keys, &shared, None).await;
        shared.flusher_keys.store(0, Ordering::Relaxed);
        shared.flushing.store(false, Ordering::Release);
    }
}

/// Adds `batch` to the store, trying again after `flush_interval` while it fails, until it is
/// stored (or `deadline` passes: then `false`).
async fn store_until(
    store: &SenderStore,
    batch: &CountBatch,
    keys: usize,
    shared: &Shared,
    deadline: Option<Instant>,
) -> bool {
    let mut failures: u32 = 0;
    loop {
        let attempt = store.add(batch);
        let outcome = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline.into(), attempt).await {
                Ok(outcome) => outcome,
                Err(_) => return false,
            },
            None => attempt.await,
        };
        match outcome {
            Ok(()) => {
                shared.counters.flushes.fetch_add(1, Ordering::Relaxed);
                if failures > 0 {
                    tracing::info!(
                        "{keys} counts were stored in {} after {failures} failed attempts",
                        store.url()
                    );
                }
                return true;
            }
            Err(error) => {
                failures += 1;
                shared
                    .counters
                    .flush_failures
                    .fetch_add(1, Ordering::Relaxed);
                // Stopping, the last counts are tried again every second (at most) until
                // `shutdown_timeout`.
                let mut stopping = shared.stopping.subscribe();
                let retry = if *stopping.borrow() {
                    shared.settings.flush_interval.min(Duration::from_secs(1))
                } else {
                    shared.settings.flush_interval
                };
                tracing::warn!(
                    "storing {keys} counts failed ({error}); they are kept and tried again in \
                     {} seconds (attempt {failures})",
                    retry.as_secs_f64()
                );
                let wake = Instant::now() + retry;
                if deadline.is_some_and(|deadline| wake > deadline) {
                    return false;
                }
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    _ = stopping.wait_for(|stopping| *stopping) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
