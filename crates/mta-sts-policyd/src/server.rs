//! The socketmap server: listeners handed in, one task per connection, replies in request order,
//! time limits on idle connections and on slow requests, a cap on connections where the
//! longest-idle one makes room for a newcomer, and a graceful shutdown that answers what was
//! asked before closing.

use std::future::Future;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Buf as _, BytesMut};
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt as _, StreamExt as _};
use mta_sts_service::{CloseReason, Connection, Server, Shutdown, Stopping};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, UnixListener};
use tokio::time::Instant;

use nix::unistd::{Group, User};

use crate::config::{Config, ListenAddr, SocketMode};
use crate::daemon::Daemon;
use crate::error::PolicydError;
use crate::event::Event;
use crate::netstring;

/// Requests read ahead of their replies on one connection. A client pipelining more waits (its
/// requests stay in the socket buffer), so one connection cannot make the daemon buffer without
/// limit.
const PIPELINE_DEPTH: usize = 128;

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP, e.g. `127.0.0.1:8461`.
    Tcp(TcpListener),
    /// A unix socket; the path is removed when the server stops.
    Unix {
        /// The listener.
        listener: UnixListener,
        /// Its path.
        path: PathBuf,
    },
}

impl From<TcpListener> for Listener {
    fn from(listener: TcpListener) -> Listener {
        Listener::Tcp(listener)
    }
}

/// Who may use a unix socket: its file mode, owner and group, applied right after binding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketAccess {
    /// The file mode; `None`: whatever the umask gives.
    pub mode: Option<SocketMode>,
    /// The owner, a user name or a numeric uid; `None`: the daemon's user.
    pub owner: Option<String>,
    /// The group, a group name or a numeric gid; `None`: the daemon's group.
    pub group: Option<String>,
}

impl SocketAccess {
    /// The socket settings of a daemon configuration.
    pub fn from_config(config: &Config) -> SocketAccess {
        SocketAccess {
            mode: config.socket_mode,
            owner: config.socket_owner.clone(),
            group: config.socket_group.clone(),
        }
    }

    /// The uid and gid to give the socket, looked up by name through the system's user database
    /// (NSS: /etc/passwd, LDAP, ...), as chown(1) does.
    fn ids(&self) -> std::io::Result<(Option<u32>, Option<u32>)> {
        let owner = self.owner.as_deref().map(|name| {
            resolve_id(name, "user", "socket_owner", |name| {
                Ok(User::from_name(name)?.map(|user| user.uid.as_raw()))
            })
        });
        let group = self.group.as_deref().map(|name| {
            resolve_id(name, "group", "socket_group", |name| {
                Ok(Group::from_name(name)?.map(|group| group.gid.as_raw()))
            })
        });
        Ok((owner.transpose()?, group.transpose()?))
    }
}

/// A numeric id as written, or the id of the `kind` (user or group) called `name` in the
/// system's database; an unknown name is an error naming the configuration `key`.
fn resolve_id(
    name: &str,
    kind: &str,
    key: &str,
    by_name: impl FnOnce(&str) -> nix::Result<Option<u32>>,
) -> std::io::Result<u32> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    by_name(name).map_err(std::io::Error::from)?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no {kind} named `{name}` ({key})"),
        )
    })
}

impl Listener {
    /// Binds `address`; for a unix socket, `access` is applied right after binding.
    pub async fn bind(
        address: &ListenAddr,
        access: &SocketAccess,
    ) -> Result<Listener, PolicydError> {
        match address {
            ListenAddr::Tcp(addr) => {
                TcpListener::bind(addr)
                    .await
                    .map(Listener::Tcp)
                    .map_err(|source| PolicydError::Listen {
                        address: address.to_string(),
                        source,
                    })
            }
            ListenAddr::Unix(path) => Listener::bind_unix(path, access),
        }
    }

    /// Binds a unix socket at `path` and sets its owner, group and file mode.
    ///
    /// A socket file left by a daemon that is gone is replaced; a live one (something accepts
    /// connections on it) or a file that is not a socket is an error, never deleted. An unknown
    /// owner or group is an error before anything is bound.
    pub fn bind_unix(path: &Path, access: &SocketAccess) -> Result<Listener, PolicydError> {
        let fail = |source: std::io::Error| PolicydError::Listen {
            address: format!("unix:{}", path.display()),
            source,
        };
        let (owner, group) = access.ids().map_err(fail)?;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(fail(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is in the way",
                )));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(fail(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another process is listening on it",
                )));
            }
            std::fs::remove_file(path).map_err(fail)?;
        }
        let listener = UnixListener::bind(path).map_err(fail)?;
        // A chrooted Postfix connects as its own user: owner, group and mode decide whether it
        // may. Ownership first, so the mode is never briefly granted to the wrong group.
        let applied = (|| {
            if owner.is_some() || group.is_some() {
                std::os::unix::fs::chown(path, owner, group)?;
            }
            if let Some(mode) = access.mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode.bits()))?;
            }
            Ok(())
        })();
        if let Err(error) = applied {
            remove_socket(path);
            return Err(fail(error));
        }
        Ok(Listener::Unix {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Where it listens, as `IP:PORT` or `unix:PATH`.
    pub fn local_addr(&self) -> String {
        match self {
            Listener::Tcp(listener) => listener
                .local_addr()
                .map_or_else(|e| format!("(unknown: {e})"), |a| a.to_string()),
            Listener::Unix { path, .. } => format!("unix:{}", path.display()),
        }
    }

    /// The listener to serve on, and the socket file to remove when the server stops.
    fn into_parts(self) -> (mta_sts_service::Listener, Option<PathBuf>) {
        match self {
            Listener::Tcp(listener) => (mta_sts_service::Listener::Tcp(listener), None),
            Listener::Unix { listener, path } => {
                (mta_sts_service::Listener::Unix(listener), Some(path))
            }
        }
    }
}

/// Serves until `shutdown` completes, then stops accepting, lets every connection answer what it
/// has read (for up to the configured shutdown timeout) and returns.
pub(crate) async fn serve(
    daemon: &Daemon,
    listener: Listener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), PolicydError> {
    let config = daemon.config();
    let stop = Shutdown::new();
    let counter = tokio::spawn(count_fetch_failures(daemon.clone(), stop.stopping()));
    let refresher = config.refresh.enabled.then(|| {
        tokio::spawn(refresh_loop(
            daemon.clone(),
            config.refresh.interval,
            stop.stopping(),
        ))
    });
    let (listener, socket) = listener.into_parts();
    let events = daemon.clone();
    // Never refuses: at the cap, the connection idle longest is closed for the new one, so
    // connections held open by anyone else cannot keep Postfix out.
    Server::new(listener)
        .max_connections(config.max_connections)
        .drain_timeout(config.shutdown_timeout)
        .metrics(daemon.metrics().connections().clone())
        .on_cap_reached(move |notice| {
            events.resolver().emit(Event::ConnectionCapReached {
                limit: notice.limit,
                evicted: notice.evicted,
            });
        })
        .serve(
            async {
                shutdown.await;
                // No new client finds the socket from now on.
                if let Some(path) = &socket {
                    remove_socket(path);
                }
            },
            |stream, _peer, connection| serve_connection(stream, daemon.clone(), connection),
        )
        .await;
    stop.trigger();
    if let Some(refresher) = refresher {
        refresher.abort();
        let _ = refresher.await;
    }
    let _ = counter.await;
    Ok(())
}

/// Removes our socket file (and only a socket: the path may have been reused meanwhile).
fn remove_socket(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Refresh passes every `interval`, the first at once, until told to stop.
async fn refresh_loop(daemon: Daemon, interval: Duration, mut stop: Stopping) {
    loop {
        if stop.is_stopping() {
            return;
        }
        // Failures are reported as events by the resolver.
        let _ = daemon.refresh_due().await;
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.wait() => return,
        }
    }
}

/// Serves one connection: decodes pipelined requests, answers them concurrently and writes the
/// replies in request order. Bad framing or an oversize request ends the reading; the replies
/// already owed are still written, then the connection is closed.
///
/// Most requests are cache hits whose answer is ready at once: with nothing queued ahead of it,
/// such a reply goes straight into the write buffer, and only a request that must wait (a lookup
/// in flight) is queued. Replies are written before more is read, so the stream needs no split
/// into halves (and no lock between them).
///
/// Time limits: with nothing asked and nothing owed, the connection is closed after
/// `idle_timeout`; a request still incomplete `read_timeout` after its first byte ends the
/// reading, as does a reply the client does not take within `read_timeout`. Told by the cap
/// that it must make room, the connection closes at once, dropping what it owed.
async fn serve_connection<S>(mut stream: S, daemon: Daemon, connection: Connection) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Connection {
        mut slot,
        mut stopping,
    } = connection;
    let read_timeout = daemon.config().read_timeout;
    let idle_timeout = daemon.config().idle_timeout;
    let activity = slot.activity();
    let mut buffer = BytesMut::with_capacity(4096);
    let mut pending = FuturesOrdered::new();
    let mut reading = !stopping.is_stopping();
    let mut reason = if reading {
        CloseReason::ClientClosed
    } else {
        CloseReason::Shutdown
    };
    let mut out = Vec::new();
    let stopped = stopping.wait();
    let mut stopped = std::pin::pin!(stopped);
    // Since when nothing was asked or answered (for the idle limit), and since when the
    // incomplete request at the front of `buffer` has been arriving (for the read limit).
    let mut quiet_since = Instant::now();
    let mut request_since: Option<Instant> = None;
    // One timer, set no later than the deadline and moved lazily: each request pushes the idle
    // deadline back, and moving the timer every time cost more than the request. The timer is
    // set again only when the deadline comes before it, or when it fires and the deadline has
    // moved on meanwhile.
    let mut timer_at = quiet_since + idle_timeout;
    let timer = tokio::time::sleep_until(timer_at);
    let mut timer = std::pin::pin!(timer);
    let mut armed: Option<(Instant, CloseReason)>;
    loop {
        let mut decoded = false;
        while reading && pending.len() < PIPELINE_DEPTH {
            match netstring::decode(&buffer) {
                Ok(Some((payload, used))) => {
                    decoded = true;
                    let payload = payload.to_vec();
                    buffer.advance(used);
                    let daemon = daemon.clone();
                    let mut answer = async move { daemon.answer(&payload).await }.boxed();
                    if pending.is_empty() {
                        // Replies must leave in request order: only a request with none queued
                        // ahead of it may be answered out of the queue.
                        if let Some(reply) = (&mut answer).now_or_never() {
                            reply.encode_into(&mut out);
                            continue;
                        }
                    }
                    // A lookup in flight: the connection is among the last to be evicted.
                    let busy = activity.start();
                    pending.push_back(
                        async move {
                            let _busy = busy;
                            answer.await
                        }
                        .boxed(),
                    );
                }
                Ok(None) => break,
                Err(error) => {
                    daemon.resolver().emit(Event::BadRequest { error });
                    reading = false;
                    reason = CloseReason::BadRequest;
                }
            }
        }
        let now = Instant::now();
        if decoded {
            // A whole request is progress; bytes trickling in are not.
            activity.progress();
            quiet_since = now;
            request_since = None;
        }
        if buffer.is_empty() {
            request_since = None;
        } else if request_since.is_none() {
            request_since = Some(now);
        }
        if !out.is_empty() {
            // Replies almost always fit the socket buffer at once: only what is left after one
            // try waits, under a time limit (a timer per write cost as much as the request).
            let sent = match stream.write(&out).now_or_never() {
                Some(Ok(sent)) => sent,
                Some(Err(_)) => return CloseReason::ClientClosed,
                None => 0,
            };
            if sent < out.len() {
                let rest = &out[sent..];
                let written = tokio::select! {
                    written = tokio::time::timeout(read_timeout, stream.write_all(rest)) => written,
                    () = slot.evicted() => return CloseReason::Evicted,
                };
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return CloseReason::ClientClosed,
                    Err(_) => return CloseReason::WriteTimeout,
                }
            }
            out.clear();
            quiet_since = Instant::now();
        }
        if !reading && pending.is_empty() {
            break;
        }
        let deadline = match (reading, request_since) {
            (false, _) => None,
            // Waiting on our own lookups, the client's next bytes stay in the socket: no limit
            // on the client meanwhile (the lookups have theirs).
            _ if pending.len() >= PIPELINE_DEPTH => None,
            (true, Some(since)) => Some((since + read_timeout, CloseReason::ReadTimeout)),
            (true, None) if pending.is_empty() => {
                Some((quiet_since + idle_timeout, CloseReason::IdleTimeout))
            }
            (true, None) => None,
        };
        if let Some((at, _)) = deadline
            && at < timer_at
        {
            timer.as_mut().reset(at);
            timer_at = at;
        }
        armed = deadline;
        tokio::select! {
            Some(reply) = pending.next(), if !pending.is_empty() => {
                reply.encode_into(&mut out);
                // Replies that are ready too go out in the same write.
                while let Some(Some(reply)) = pending.next().now_or_never() {
                    reply.encode_into(&mut out);
                }
            }
            read = stream.read_buf(&mut buffer), if reading && pending.len() < PIPELINE_DEPTH => {
                match read {
                    // End of input: answer what was asked, then close.
                    Ok(0) | Err(_) => reading = false,
                    Ok(_) => {}
                }
            }
            _ = &mut stopped, if reading => {
                reading = false;
                reason = CloseReason::Shutdown;
            }
            () = slot.evicted() => return CloseReason::Evicted,
            () = &mut timer, if armed.is_some() => match armed {
                // Early: the deadline moved on since the timer was set.
                Some((at, _)) if Instant::now() < at => {
                    timer.as_mut().reset(at);
                    timer_at = at;
                }
                // A half-sent request is dropped; replies already owed are still written.
                Some((_, why)) => {
                    reading = false;
                    reason = why;
                }
                None => {}
            },
        }
    }
    let _ = stream.shutdown().await;
    reason
}

/// Feeds the fetch-failure counter from the event stream until shutdown.
async fn count_fetch_failures(daemon: Daemon, mut stop: Stopping) {
    let mut events = daemon.subscribe();
    loop {
        tokio::select! {
            () = stop.wait() => return,
            event = events.recv() => match event {
                Ok(crate::event::Event::FetchFailed { .. }) => daemon.count_fetch_failure(),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
