//! `--watch`: keep the connection, sleep in IDLE (RFC 2177), take mail as it arrives, and come
//! back after a dropped connection or an unavailable store.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::connect::{self, command_error, within};
use super::{FetchSettings, ImapError, MessageHandler, PassTally, mailbox};

/// Takes the mailbox's mail now and as it arrives, until `shutdown` completes (heeded while
/// idle or waiting, never in the middle of a message: a message taken is also moved). A failed
/// connection is retried with a doubling wait (from `retry_min` to `retry_max`), and each new
/// connection starts with a full pass, so mail that arrived meanwhile is taken. Returns the
/// totals on shutdown; an error only when retrying cannot help (a refused login, a bad setting).
pub async fn watch<H, S>(
    settings: &FetchSettings,
    handler: &H,
    shutdown: S,
) -> Result<PassTally, ImapError>
where
    H: MessageHandler,
    S: Future<Output = ()>,
{
    settings.check()?;
    tokio::pin!(shutdown);
    let mut total = PassTally::default();
    let mut retry_in = settings.retry_min;
    loop {
        match connected(
            settings,
            handler,
            &mut total,
            &mut retry_in,
            shutdown.as_mut(),
        )
        .await
        {
            Ok(Stopped) => return Ok(total),
            Err(error) if error.is_temporary() => {
                handler.connection_trouble(&error, retry_in);
                tokio::select! {
                    () = tokio::time::sleep(retry_in) => {}
                    () = &mut shutdown => return Ok(total),
                }
                retry_in = (retry_in * 2).min(settings.retry_max);
            }
            Err(error) => return Err(error),
        }
    }
}

/// The watch was asked to stop.
struct Stopped;

/// One connection's life: passes and IDLEs until it fails or the watch is stopped.
async fn connected<H: MessageHandler, S: Future<Output = ()>>(
    settings: &FetchSettings,
    handler: &H,
    total: &mut PassTally,
    retry_in: &mut Duration,
    mut shutdown: Pin<&mut S>,
) -> Result<Stopped, ImapError> {
    let mut connection = tokio::select! {
        connection = connect::open(settings) => connection?,
        () = shutdown.as_mut() => return Ok(Stopped),
    };
    if !connection.idle {
        return Err(ImapError::NoIdle {
            server: connect::server_name(settings),
        });
    }
    // Connected: the next failure starts its waits from the shortest again.
    *retry_in = settings.retry_min;
    let mut store_retry = settings.retry_min;
    loop {
        let mut tally = PassTally::default();
        mailbox::pass(&mut connection, settings, handler, &mut tally).await?;
        total.taken += tally.taken;
        total.not_a_report += tally.not_a_report;
        total.too_large += tally.too_large;
        // An unavailable store is asked again after a doubling wait, or sooner if mail arrives.
        let wait = if tally.store_unavailable {
            total.store_unavailable = true;
            let wait = store_retry;
            store_retry = (store_retry * 2).min(settings.retry_max);
            wait.min(settings.idle_reissue)
        } else {
            store_retry = settings.retry_min;
            settings.idle_reissue
        };
        let (back, stop) = idle(connection, settings, wait, shutdown.as_mut()).await?;
        connection = back;
        if stop {
            connection.logout(settings).await;
            return Ok(Stopped);
        }
    }
}

/// One IDLE (RFC 2177): returns when the server reports a change, when `wait` is over (the
/// command is re-issued before the server's 30-minute autologout timer, RFC 2177 §3), or when
/// the watch is stopped (then with `true`).
async fn idle<S: Future<Output = ()>>(
    connection: connect::Connection,
    settings: &FetchSettings,
    wait: Duration,
    shutdown: Pin<&mut S>,
) -> Result<(connect::Connection, bool), ImapError> {
    let connect::Connection {
        session,
        can_move,
        uidplus,
        idle,
    } = connection;
    let mut stop = false;
    let mut handle = session.idle();
    within(settings, "IDLE", handle.init())
        .await?
        .map_err(|e| command_error(settings, "IDLE", e))?;
    {
        // The library's own timeout restarts on every keepalive (`* OK Still here`), so the
        // outer one bounds the whole IDLE. Waiting on the stream is cancel-safe: the reader keeps
        // its buffer in the connection, not in the future.
        let (changed, _stop) = handle.wait_with_timeout(wait);
        tokio::select! {
            outcome = tokio::time::timeout(wait, changed) => {
                if let Ok(Err(e)) = outcome {
                    return Err(command_error(settings, "IDLE", e));
                }
            }
            () = shutdown => stop = true,
        }
    }
    let session = within(settings, "DONE", handle.done())
        .await?
        .map_err(|e| command_error(settings, "DONE (the end of IDLE)", e))?;
    Ok((
        connect::Connection {
            session,
            can_move,
            uidplus,
            idle,
        },
        stop,
    ))
}
