//! The accept loop: each connection under the connection cap (the longest-idle one makes room
//! for a newcomer), HTTP/1.1 with a time limit on request headers, counted in the metrics, and
//! a graceful shutdown.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use mta_sts_service::connection_cap::{Admission, Busy, ConnectionCap, ConnectionSlot};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::metrics::Metrics;

/// Something the server reports while it keeps serving, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebEvent {
    /// The connection cap was reached: to serve new clients, the connections that had gone
    /// longest without a request were closed. Reported at most once a minute, however many
    /// connections are closed meanwhile.
    ConnectionCapReached {
        /// The cap.
        limit: usize,
        /// Connections closed to make room since the previous such event, the one that
        /// prompted this one included.
        evicted: u64,
    },
}

impl WebEvent {
    /// The event's stable name for logs: `connection-cap-reached`.
    pub fn kind(&self) -> &'static str {
        match self {
            WebEvent::ConnectionCapReached { .. } => "connection-cap-reached",
        }
    }
}

impl fmt::Display for WebEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebEvent::ConnectionCapReached { limit, evicted } => write!(
                f,
                "{limit} connections are open, the --max-connections cap: the connection idle \
                 longest is closed for each new one ({evicted} closed since the last message of \
                 this kind, which comes at most once a minute); if these clients are \
                 legitimate, raise --max-connections."
            ),
        }
    }
}

/// Why a connection was closed: the `reason` label of the closed-connections metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The client closed it, asked for it to be closed, or it broke.
    ClientClosed,
    /// A request's headers, or the next request on an idle connection, did not arrive in
    /// time.
    HeaderTimeout,
    /// Closed at the connection cap to make room for a new connection.
    Evicted,
    /// Not HTTP/1.1 the server could parse.
    BadRequest,
    /// The server stopped.
    Shutdown,
}

impl CloseReason {
    /// Every reason, so that each label is shown from the start.
    pub(crate) const ALL: [CloseReason; 5] = [
        CloseReason::ClientClosed,
        CloseReason::HeaderTimeout,
        CloseReason::Evicted,
        CloseReason::BadRequest,
        CloseReason::Shutdown,
    ];

    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::Evicted => "evicted",
            CloseReason::BadRequest => "bad_request",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// What each connection needs besides its socket.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) app: Router,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) header_read_timeout: Duration,
}

/// Accepts connections until `shutdown`, then lets each finish the request it is answering and
/// waits for them all.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Shared,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send,
    on_event: impl Fn(WebEvent) + Send,
) {
    // Never refuses: at the cap, the connection idle longest is closed for the new one, so
    // connections held open by some cannot keep everyone else out.
    let cap = ConnectionCap::new(max_connections);
    let (stop_tx, stop_rx) = watch::channel(false);
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
                if let Some(notice) = notice {
                    on_event(WebEvent::ConnectionCapReached {
                        limit: notice.limit,
                        evicted: notice.evicted,
                    });
                }
                let shared = shared.clone();
                let stop = stop_rx.clone();
                connections.spawn(async move {
                    shared.metrics.connection_opened();
                    let reason = connection(stream, peer, &shared, slot, stop).await;
                    shared.metrics.connection_closed(reason);
                });
            }
            // The client gave up between connecting and being accepted: nothing to do.
            Err(error) if is_connection_error(&error) => {}
            // Out of descriptors and the like: wait a moment rather than spin on accept.
            Err(_) => tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            },
        }
        while connections.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    drop(listener);
    while connections.join_next().await.is_some() {}
}

fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until the client is done, its headers are too slow, it is evicted,
/// or the server stops (then the request in progress is finished first).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    mut slot: ConnectionSlot,
    mut stop: watch::Receiver<bool>,
) -> CloseReason {
    let _ = stream.set_nodelay(true);
    let activity = slot.activity();
    let app = shared.app.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // What `into_make_service_with_connect_info` would add: the rate limit is per client.
        request.extensions_mut().insert(ConnectInfo(peer));
        // From the request's headers to its body's last byte the connection is in use, and is
        // closed to make room only if every other one is too.
        let busy = activity.start();
        let mut app = app.clone();
        async move {
            let response = tower_service::Service::call(&mut app, request).await?;
            Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // The limit also applies between requests: hyper starts it when it waits for a request's
    // first line, so an idle keep-alive connection is closed after it too.
    http.timer(TokioTimer::new())
        .header_read_timeout(shared.header_read_timeout);
    let served = http.serve_connection(TokioIo::new(stream), service);
    let mut served = std::pin::pin!(served);
    let stopping = async {
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    tokio::select! {
        result = served.as_mut() => return close_reason(result),
        () = slot.evicted() => return CloseReason::Evicted,
        () = stopping => {}
    }
    served.as_mut().graceful_shutdown();
    let _ = served.await;
    CloseReason::Shutdown
}

fn close_reason(result: Result<(), hyper::Error>) -> CloseReason {
    match result {
        Ok(()) => CloseReason::ClientClosed,
        Err(error) if error.is_timeout() => CloseReason::HeaderTimeout,
        Err(error) if error.is_parse() || error.is_parse_too_large() => CloseReason::BadRequest,
        Err(_) => CloseReason::ClientClosed,
    }
}

/// A response body that keeps its connection marked in use until it is sent (or dropped).
struct Tracked {
    body: axum::body::Body,
    _busy: Busy,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
