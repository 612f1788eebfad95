//! The one error type of the crate.

use std::time::Duration;

/// What went wrong in the shared serving machinery, or why a client was turned away.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A signal handler could not be installed; the process would not hear that signal.
    #[error("cannot listen for {signal}: {source}")]
    Signal {
        /// The signal, as `SIGTERM`.
        signal: &'static str,
        /// What the system said.
        source: std::io::Error,
    },
    /// `$NOTIFY_SOCKET` names no usable socket address.
    #[error("NOTIFY_SOCKET={address} is not a usable socket address: {source}")]
    NotifyAddress {
        /// The variable's value.
        address: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A datagram to systemd could not be sent; the service runs on, systemd does not hear
    /// this state.
    #[error("cannot tell systemd {state}: {source}")]
    Notify {
        /// The state that was not told, as `READY=1`.
        state: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A request body was larger than allowed; what was read of it is dropped.
    #[error("the request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A request body could not be read to its end (the client went away or broke the framing).
    #[error("the request body could not be read: {source}")]
    BodyRead {
        /// What hyper said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The client spent its rate: the next request is allowed after `retry_after`.
    #[error("the client made too many requests; the next one is allowed in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// How long until a token is there.
        retry_after: Duration,
    },
    /// The client already has `limit` requests in progress.
    #[error("the client already has {limit} requests in progress")]
    ClientBusy {
        /// The per-client cap.
        limit: usize,
    },
    /// Requests are in progress for `limit` clients already: no room to track another.
    #[error("requests from {limit} clients are in progress already")]
    TooManyClients {
        /// The most clients tracked at once.
        limit: usize,
    },
}
