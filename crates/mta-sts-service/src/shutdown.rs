//! [`Shutdown`]: the process-wide "stop now" that signals, tests and applications trigger, and
//! that every server waits on.

use std::sync::Arc;

use tokio::sync::watch;

/// A switch that turns once: when triggered, every server started with it stops accepting and
/// drains (see [`Server`](crate::Server)). Cheap to clone; clones share the switch.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

/// One waiter on a [`Shutdown`] (or on a server's own stop): completes once it is triggered.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Stopping {
    receiver: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Shutdown {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A switch not yet triggered.
    pub fn new() -> Shutdown {
        Shutdown {
            sender: Arc::new(watch::channel(false).0),
        }
    }

    /// Stops everything waiting on this switch. Triggering again changes nothing.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// Whether [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// A waiter for the trigger.
    pub fn stopping(&self) -> Stopping {
        Stopping {
            receiver: self.sender.subscribe(),
        }
    }

    /// A future that completes when triggered: what the `shutdown` argument of the servers
    /// takes.
    pub fn triggered(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopping = self.stopping();
        async move { stopping.wait().await }
    }
}

impl Stopping {
    /// Completes once the switch is triggered (at once if it was already).
    pub async fn wait(&mut self) {
        if self.receiver.wait_for(|stopped| *stopped).await.is_err() {
            // Every switch is gone without being triggered: nothing can stop us any more.
            std::future::pending::<()>().await;
        }
    }

    /// Whether the switch is triggered.
    pub fn is_stopping(&self) -> bool {
        *self.receiver.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_waiter_hears_the_trigger() {
        let shutdown = Shutdown::new();
        let mut first = shutdown.stopping();
        let second = shutdown.triggered();
        assert!(!first.is_stopping() && !shutdown.is_triggered());
        let waiting = tokio::spawn(async move { first.wait().await });
        shutdown.clone().trigger();
        waiting.await.expect("the waiter ends");
        second.await;
        assert!(shutdown.is_triggered());
        // A waiter made after the trigger completes at once.
        shutdown.stopping().wait().await;
    }
}
