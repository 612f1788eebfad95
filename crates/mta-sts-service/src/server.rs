//! [`Server`]: the accept loop every server shares. Connections on an already-bound listener,
//! each under the connection cap (the longest-idle one makes room for a newcomer), counted in
//! the connection metrics, and a shutdown that stops accepting, lets every connection finish
//! what it is doing up to a deadline, then closes the rest.
//!
//! What a connection speaks is the caller's: a handler of its own (the daemon's socketmap, with
//! its read and idle limits), or HTTP/1.1 through [`Server::serve_http`].

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::connection_cap::{Admission, CapNotice, ConnectionCap, ConnectionSlot};
use crate::listener::{Accept, Peer};
use crate::metrics::{CloseReason, ConnectionMetrics};
use crate::shutdown::{Shutdown, Stopping};

/// Connections held open by default; at the cap, the one idle longest is closed for a new one.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// A wait after a failed accept (out of descriptors and the like), rather than a spin on it.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a connection handler gets besides its socket.
#[derive(Debug)]
pub struct Connection {
    /// Its place under the cap: say progress through [`ConnectionSlot::activity`], and close
    /// the connection when [`ConnectionSlot::evicted`] completes.
    pub slot: ConnectionSlot,
    /// Completes when the server stops: finish what was asked, then close.
    pub stopping: Stopping,
}

/// An accept loop over a bound listener, set up with the builder methods then run with
/// [`Server::serve`] or [`Server::serve_http`].
pub struct Server<L> {
    listener: L,
    max_connections: usize,
    drain_timeout: Option<Duration>,
    metrics: Option<ConnectionMetrics>,
    on_cap_reached: Option<Arc<dyn Fn(CapNotice) + Send + Sync>>,
}

impl<L> std::fmt::Debug for Server<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("max_connections", &self.max_connections)
            .field("drain_timeout", &self.drain_timeout)
            .finish_non_exhaustive()
    }
}

impl<L: Accept> Server<L> {
    /// A server on `listener`: [`DEFAULT_MAX_CONNECTIONS`], no connection metrics, and a
    /// shutdown that waits for every connection however long it takes.
    pub fn new(listener: L) -> Server<L> {
        Server {
            listener,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            drain_timeout: None,
            metrics: None,
            on_cap_reached: None,
        }
    }

    /// At most `limit` connections (at least 1); at the cap, the connection that has gone
    /// longest without progress is closed for each new one. Keep it below the open-file limit
    /// (see [`open_files`](crate::open_files)).
    pub fn max_connections(mut self, limit: usize) -> Server<L> {
        self.max_connections = limit.max(1);
        self
    }

    /// On shutdown, connections still open `deadline` after the listener was closed are cut
    /// off (counted as closed by `shutdown`).
    pub fn drain_timeout(mut self, deadline: Duration) -> Server<L> {
        self.drain_timeout = Some(deadline);
        self
    }

    /// Counts connections in `metrics`.
    pub fn metrics(mut self, metrics: ConnectionMetrics) -> Server<L> {
        self.metrics = Some(metrics);
        self
    }

    /// Calls `report` when the cap makes room (the first time, then at most once a minute,
    /// with the count since: see [`CapNotice`]), for a log line.
    pub fn on_cap_reached(
        mut self,
        report: impl Fn(CapNotice) + Send + Sync + 'static,
    ) -> Server<L> {
        self.on_cap_reached = Some(Arc::new(report));
        self
    }

    /// Accepts connections until `shutdown` completes, each served by `handler` in a task of
    /// its own, which returns why the connection closed. Then stops accepting (the listener is
    /// dropped), tells every connection through [`Connection::stopping`], and waits for them
    /// (up to the drain deadline, if one is set).
    pub async fn serve<H, F>(self, shutdown: impl Future<Output = ()>, mut handler: H)
    where
        H: FnMut(L::Stream, Peer, Connection) -> F,
        F: Future<Output = CloseReason> + Send + 'static,
    {
        let Server {
            listener,
            max_connections,
            drain_timeout,
            metrics,
            on_cap_reached,
        } = self;
        // Never refuses: at the cap, the connection idle longest is closed for the new one, so
        // connections held open by some cannot keep everyone else out.
        let cap = ConnectionCap::new(max_connections);
        let stop = Shutdown::new();
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let Admission { slot, notice } = cap.admit();
                    if let (Some(notice), Some(report)) = (notice, &on_cap_reached) {
                        report(notice);
                    }
                    let served = handler(
                        stream,
                        peer,
                        Connection {
                            slot,
                            stopping: stop.stopping(),
                        },
                    );
                    let counted = metrics.clone().map(Counted::open);
                    connections.spawn(async move {
                        let reason = served.await;
                        if let Some(counted) = counted {
                            counted.close(reason);
                        }
                    });
                }
                // The client gave up between connecting and being accepted: nothing to do.
                Err(error) if is_connection_error(&error) => {}
                Err(_) => tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                },
            }
            while connections.try_join_next().is_some() {}
        }
        drop(listener);
        stop.trigger();
        let drain = async { while connections.join_next().await.is_some() {} };
        match drain_timeout {
            Some(deadline) => {
                if tokio::time::timeout(deadline, drain).await.is_err() {
                    // Aborted connections count as closed by the shutdown (see `Counted`).
                    connections.shutdown().await;
                }
            }
            None => drain.await,
        }
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// An open connection in the metrics; closed with its reason, or as `shutdown` if its task
/// was cut off at the drain deadline.
struct Counted {
    metrics: Option<ConnectionMetrics>,
}

impl Counted {
    fn open(metrics: ConnectionMetrics) -> Counted {
        metrics.opened();
        Counted {
            metrics: Some(metrics),
        }
    }

    fn close(mut self, reason: CloseReason) {
        if let Some(metrics) = self.metrics.take() {
            metrics.closed(reason);
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(metrics) = self.metrics.take() {
            metrics.closed(CloseReason::Shutdown);
        }
    }
}
