//! Process signals: SIGTERM and SIGINT trigger the [`Shutdown`], SIGHUP is handed to the
//! application as a reload request.
//!
//! Every signal is also handed over (as a [`Signal`]) so the application can log what it heard.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::error::ServiceError;
use crate::shutdown::Shutdown;

/// A signal the process heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// SIGTERM (systemd's stop, `kill`): the shutdown was triggered.
    Terminate,
    /// SIGINT (Ctrl-C): the shutdown was triggered.
    Interrupt,
    /// SIGHUP: reload what can be reloaded. Nothing is stopped.
    Hangup,
}

impl Signal {
    /// The signal's name, as `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Terminate => "SIGTERM",
            Signal::Interrupt => "SIGINT",
            Signal::Hangup => "SIGHUP",
        }
    }

    /// Whether it stops the process (SIGTERM, SIGINT) rather than asking for a reload.
    pub fn stops(self) -> bool {
        !matches!(self, Signal::Hangup)
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The signals heard, in order (see [`handle_signals`]).
#[derive(Debug)]
pub struct Signals {
    receiver: mpsc::Receiver<Signal>,
}

/// Signals heard but not yet taken by the application. SIGHUPs beyond this while a reload is
/// pending add nothing: one reload after the last change covers them all.
const PENDING: usize = 8;

impl Signals {
    /// The next signal heard; `None` once the listening task is gone (the runtime is ending).
    pub async fn recv(&mut self) -> Option<Signal> {
        self.receiver.recv().await
    }
}

/// Installs the handlers for SIGTERM, SIGINT and SIGHUP now (so that none of them kills the
/// process from here on), and hears them in a task on the current tokio runtime: SIGTERM and
/// SIGINT trigger `shutdown`; every signal is then handed over through the returned
/// [`Signals`].
pub fn handle_signals(shutdown: Shutdown) -> Result<Signals, ServiceError> {
    let install = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|source| ServiceError::Signal {
            signal: name,
            source,
        })
    };
    let mut terminate = install(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT")?;
    let mut hangup = install(SignalKind::hangup(), "SIGHUP")?;
    let (sender, receiver) = mpsc::channel(PENDING);
    tokio::spawn(async move {
        loop {
            let heard = tokio::select! {
                Some(()) = terminate.recv() => Signal::Terminate,
                Some(()) = interrupt.recv() => Signal::Interrupt,
                Some(()) = hangup.recv() => Signal::Hangup,
                else => return,
            };
            dispatch(heard, &shutdown, &sender);
        }
    });
    Ok(Signals { receiver })
}

/// What hearing `heard` does: the signal is handed to the application unless it has [`PENDING`]
/// not yet taken (or stopped listening); then a stopping signal triggers the shutdown, whether or
/// not it fit in the queue. Handed over first, so that an application woken by the shutdown
/// finds the signal that caused it already queued.
fn dispatch(heard: Signal, shutdown: &Shutdown, sender: &mpsc::Sender<Signal>) {
    let _ = sender.try_send(heard);
    if heard.stops() {
        shutdown.trigger();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sighup_is_a_reload_and_sigterm_a_shutdown() {
        let shutdown = Shutdown::new();
        let (sender, receiver) = mpsc::channel(PENDING);
        let mut signals = Signals { receiver };
        dispatch(Signal::Hangup, &shutdown, &sender);
        assert_eq!(signals.recv().await, Some(Signal::Hangup));
        assert!(!shutdown.is_triggered(), "SIGHUP stops nothing");
        dispatch(Signal::Terminate, &shutdown, &sender);
        assert_eq!(signals.recv().await, Some(Signal::Terminate));
        assert!(shutdown.is_triggered());
    }

    #[tokio::test]
    async fn a_flood_of_sighup_costs_bounded_memory_and_still_stops() {
        let shutdown = Shutdown::new();
        let (sender, receiver) = mpsc::channel(PENDING);
        let mut signals = Signals { receiver };
        for _ in 0..1000 {
            dispatch(Signal::Hangup, &shutdown, &sender);
        }
        // The queue is full of reloads: SIGINT is dropped from it, yet the shutdown happens.
        dispatch(Signal::Interrupt, &shutdown, &sender);
        assert!(shutdown.is_triggered());
        drop(sender);
        let mut heard = 0;
        while signals.recv().await.is_some() {
            heard += 1;
        }
        assert_eq!(heard, PENDING);
    }
}
