//! HTTP/1.1 on a [`Server`]: any tower service (an axum `Router`) served by hyper, with a time
//! limit on request headers (which also closes idle keep-alive connections), the connection cap
//! and its eviction, a graceful shutdown that finishes the response in progress, and
//! [`read_body`] for a capped request body. [`serve_connection_http2`] serves HTTP/2 (after TLS
//! ALPN chose `h2`) under the same limits: a bounded number of concurrent streams, a bounded
//! header list, and the connection closed once no request has been in progress for the header
//! time limit.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::connection_cap::Busy;
use crate::error::ServiceError;
use crate::listener::{Accept, Peer};
use crate::metrics::CloseReason;
use crate::server::{Connection, Server};

/// The error type hyper and tower services agree on.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How HTTP connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// A request's headers must arrive within this, counted from when the server waits for
    /// them: a client sending them a byte at a time (slowloris), or a keep-alive connection
    /// idle this long, is closed. Default 10 s.
    pub header_read_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions {
            // Clients send a request's headers in one go; ten seconds is ample on any link.
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

impl<L: Accept> Server<L> {
    /// Serves HTTP/1.1 with `service` until `shutdown` completes (see [`Server::serve`] and
    /// [`serve_connection_http`]).
    pub async fn serve_http<S, B>(
        self,
        options: HttpOptions,
        service: S,
        shutdown: impl Future<Output = ()>,
    ) where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        self.serve(shutdown, move |stream, peer, connection| {
            serve_connection_http(stream, peer, connection, options, service.clone())
        })
        .await;
    }
}

/// Serves HTTP/1.1 with `service` on one connection (for a handler that does more first, such
/// as a TLS handshake) until the client is done, its headers are too slow, the connection is
/// evicted, or the server stops (then the response in progress is finished first).
///
/// Each request carries the client as extensions: [`Peer`], and for TCP the axum
/// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) that `into_make_service_with_connect_info`
/// would add. From a request's headers to its response's last byte the connection counts as
/// busy, and is evicted only if every other one is too.
pub async fn serve_connection_http<I, S, B>(
    io: I,
    peer: Peer,
    connection: Connection,
    options: HttpOptions,
    service: S,
) -> CloseReason
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let Connection {
        mut slot,
        mut stopping,
    } = connection;
    let activity = slot.activity();
    let hyper_service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        if let Some(addr) = peer.addr() {
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        request.extensions_mut().insert(peer);
        let busy = activity.start();
        let mut service = service.clone();
        async move {
            std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
            let response = service.call(request).await?;
            Ok::<_, S::Error>(response.map(|body| Tracked {
                body,
                _busy: busy,
                _in_flight: None,
            }))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // The limit also applies between requests: hyper starts it when it waits for a request's
    // first line, so an idle keep-alive connection is closed after it too.
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let served = http.serve_connection(TokioIo::new(io), hyper_service);
    let mut served = std::pin::pin!(served);
    tokio::select! {
        result = served.as_mut() => return close_reason(result),
        () = slot.evicted() => return CloseReason::Evicted,
        () = stopping.wait() => {}
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

/// Streams one HTTP/2 connection may have open at once: a policy or a report is one request,
/// and browsers open a few for a page; more only multiplies what one client can make the
/// server hold.
pub const MAX_CONCURRENT_STREAMS: u32 = 32;

/// The largest header list an HTTP/2 request may send, in bytes (hyper's HTTP/1.1 reader stops
/// at a similar size).
const MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;

/// Serves HTTP/2 with `service` on one connection (after TLS ALPN chose `h2`) until the client
/// is done, no request has been in progress for `options.header_read_timeout` (an idle
/// connection, or one that trickles a request's headers), the connection is evicted, or the
/// server stops (then the streams in progress are finished first, GOAWAY stops new ones).
///
/// At most [`MAX_CONCURRENT_STREAMS`] streams at once, and a header list of at most 16 KiB;
/// requests carry the client as [`serve_connection_http`] says.
pub async fn serve_connection_http2<I, S, B>(
    io: I,
    peer: Peer,
    connection: Connection,
    options: HttpOptions,
    service: S,
) -> CloseReason
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let Connection {
        mut slot,
        mut stopping,
    } = connection;
    let activity = slot.activity();
    let (in_flight, mut in_flight_changes) = watch::channel(0_usize);
    let in_flight = std::sync::Arc::new(in_flight);
    let hyper_service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        if let Some(addr) = peer.addr() {
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        request.extensions_mut().insert(peer);
        let busy = activity.start();
        let in_flight = InFlight::start(in_flight.clone());
        let mut service = service.clone();
        async move {
            std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
            let response = service.call(request).await?;
            Ok::<_, S::Error>(response.map(|body| Tracked {
                body,
                _busy: busy,
                _in_flight: Some(in_flight),
            }))
        }
    });
    let mut http = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http.timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        // A peer that stops answering pings is gone: its connection is closed.
        .keep_alive_interval(Some(options.header_read_timeout))
        .keep_alive_timeout(options.header_read_timeout);
    let served = http.serve_connection(TokioIo::new(io), hyper_service);
    let mut served = std::pin::pin!(served);
    loop {
        let idle = *in_flight_changes.borrow_and_update() == 0;
        tokio::select! {
            result = served.as_mut() => return close_reason(result),
            () = slot.evicted() => return CloseReason::Evicted,
            () = stopping.wait() => break,
            // A request began or ended: the idle time starts again.
            Ok(()) = in_flight_changes.changed() => {}
            () = tokio::time::sleep(options.header_read_timeout), if idle => {
                served.as_mut().graceful_shutdown();
                let _ = served.await;
                return CloseReason::HeaderTimeout;
            }
        }
    }
    served.as_mut().graceful_shutdown();
    let _ = served.await;
    CloseReason::Shutdown
}

/// A request in progress on an HTTP/2 connection, counted until its response is sent.
struct InFlight(std::sync::Arc<watch::Sender<usize>>);

impl InFlight {
    fn start(count: std::sync::Arc<watch::Sender<usize>>) -> InFlight {
        count.send_modify(|n| *n += 1);
        InFlight(count)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A response body that keeps its connection marked busy until it is sent (or dropped).
struct Tracked<B> {
    body: B,
    _busy: Busy,
    _in_flight: Option<InFlight>,
}

impl<B> Body for Tracked<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The whole of `body`, or [`ServiceError::BodyTooLarge`] as soon as it is known to be over
/// `limit` bytes (from its announced length, or while reading: no more than `limit` bytes are
/// ever held), or [`ServiceError::BodyRead`] if it breaks off.
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, ServiceError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let announced = body.size_hint().lower();
    if usize::try_from(announced).map_or(true, |announced| announced > limit) {
        return Err(ServiceError::BodyTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ServiceError::BodyTooLarge { limit })
        }
        Err(source) => Err(ServiceError::BodyRead { source }),
    }
}

#[cfg(test)]
mod tests;
