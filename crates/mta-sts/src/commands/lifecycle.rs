//! What every listening command does around serving: SIGTERM and SIGINT stop it (the requests
//! in flight are finished first), SIGHUP asks for a reload, and systemd (a `Type=notify` or
//! `Type=notify-reload` unit) hears of each step.

use std::sync::Arc;

use mta_sts_service::{Notifier, NotifyState, Shutdown, handle_signals};

use super::CommandError;

/// The process's shutdown switch, wired to the signals, and its systemd notifier.
pub(super) struct Lifecycle {
    shutdown: Shutdown,
    notifier: Option<Arc<Notifier>>,
}

impl Lifecycle {
    /// Installs the signal handlers (inside the runtime, before the server listens): SIGTERM and
    /// SIGINT trigger the shutdown; on SIGHUP, `reload` runs between `RELOADING=1` and
    /// `READY=1` and returns the sentence the log says about it.
    pub(super) fn start(
        reload: impl Fn() -> String + Send + 'static,
    ) -> Result<Lifecycle, CommandError> {
        Lifecycle::start_saying(
            "no new connections are taken, and those open are answered before the process stops",
            reload,
        )
    }

    /// As [`Lifecycle::start`], for a process that is not a server: the log line of a stop
    /// says `on_stop`, what the process finishes before it ends.
    pub(super) fn start_saying(
        on_stop: &'static str,
        reload: impl Fn() -> String + Send + 'static,
    ) -> Result<Lifecycle, CommandError> {
        // The signals trigger `heard`; the task below logs the stop, then triggers `shutdown`,
        // which the server waits on. Otherwise an idle server could stop, and the process end,
        // before the line saying why was written.
        let heard = Shutdown::new();
        let shutdown = Shutdown::new();
        let mut signals =
            handle_signals(heard.clone()).map_err(|e| CommandError::Setup(e.to_string()))?;
        let notifier = match Notifier::from_env() {
            Ok(notifier) => notifier.map(Arc::new),
            Err(error) => {
                tracing::warn!(
                    kind = %"systemd-notify-failed",
                    "{error}; systemd is not told how the service is doing, which serves all \
                     the same"
                );
                None
            }
        };
        let told = notifier.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    // The queued signal first: it names why the process stops.
                    biased;
                    received = signals.recv() => match received {
                        Some(signal) if signal.stops() => {
                            tracing::info!(
                                kind = %"stopping",
                                signal = %signal,
                                "{signal} received: {on_stop}"
                            );
                            stop.trigger();
                        }
                        Some(signal) => {
                            tell(told.as_deref(), &[NotifyState::Reloading]);
                            let said = reload();
                            tracing::info!(
                                kind = %"reload",
                                signal = %signal,
                                "{signal} received: {said}"
                            );
                            tell(told.as_deref(), &[NotifyState::Ready]);
                        }
                        None => return,
                    },
                    () = heard.triggered(), if !stop.is_triggered() => {
                        // A stopping signal that found the queue full of reloads.
                        tracing::info!(
                            kind = %"stopping",
                            "a stop signal was received: {on_stop}"
                        );
                        stop.trigger();
                    }
                }
            }
        });
        Ok(Lifecycle { shutdown, notifier })
    }

    /// Tells systemd the service is ready (it listens).
    pub(super) fn ready(&self) {
        tell(self.notifier.as_deref(), &[NotifyState::Ready]);
    }

    /// Completes when a signal (or anything else) triggered the shutdown, once systemd is told
    /// `STOPPING=1`: what the server's `shutdown` argument takes.
    pub(super) fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let triggered = self.shutdown.triggered();
        let notifier = self.notifier.clone();
        async move {
            triggered.await;
            tell(notifier.as_deref(), &[NotifyState::Stopping]);
        }
    }
}

/// Tells systemd `states`, if it listens; a failure is logged and changes nothing else.
fn tell(notifier: Option<&Notifier>, states: &[NotifyState<'_>]) {
    if let Some(notifier) = notifier
        && let Err(error) = notifier.notify(states)
    {
        tracing::warn!(
            kind = %"systemd-notify-failed",
            "{error}; the service serves all the same"
        );
    }
}
