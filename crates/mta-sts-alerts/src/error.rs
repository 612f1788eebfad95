//! The one error type of the alerts crate.

use std::path::PathBuf;

/// Why alerts cannot be set up, or why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// A setting parses but cannot work (a URL without a host, an address that is not one).
    #[error("the alert setting `{key}` is not usable: {message}")]
    Setting {
        /// The key as written in the configuration.
        key: &'static str,
        /// Why, and what is accepted.
        message: String,
    },
    /// A secret (webhook key, relay password) or CA file could not be read.
    #[error("cannot read {what} from {}: {source}", path.display())]
    ReadFile {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A secret named by an environment variable is not set.
    #[error("the environment variable {name} (the {what}) is not set or not UTF-8")]
    MissingEnv {
        /// What the variable holds.
        what: &'static str,
        /// The variable.
        name: String,
    },
    /// The webhook could not be reached or did not answer in time.
    #[error("the webhook {url} could not be reached: {message}")]
    WebhookUnreachable {
        /// The webhook URL.
        url: String,
        /// What failed: connecting, TLS, the time limit, the HTTP exchange.
        message: String,
    },
    /// The webhook answered with a status other than 2xx.
    #[error("the webhook {url} answered {status}")]
    WebhookStatus {
        /// The webhook URL.
        url: String,
        /// The HTTP status.
        status: http::StatusCode,
        /// Its `Retry-After`, in seconds, when it gave one.
        retry_after: Option<u64>,
    },
    /// The message could not be built (an address that is not one).
    #[error("the alert mail could not be built: {0}")]
    MailMessage(String),
    /// The relay refused the message or could not be reached.
    #[error("the mail relay {relay} did not take the alert: {source}")]
    Smtp {
        /// The relay host and port.
        relay: String,
        /// lettre's reason (it carries the SMTP reply).
        source: lettre::transport::smtp::Error,
    },
    /// The store could not record that an alert was sent (the deduplication claim).
    #[error("cannot record the alert in the store: {0}")]
    Store(#[from] mta_sts_store::StoreError),
}

impl AlertError {
    /// Whether trying again later cannot help: a webhook's redirect or 4xx answer other than
    /// 408 and 429, an SMTP 5xx reply, a setting. Unreachable peers, 5xx answers and time limits are worth
    /// another attempt.
    pub fn is_permanent(&self) -> bool {
        match self {
            AlertError::WebhookUnreachable { .. } | AlertError::Store(_) => false,
            // Redirects are not followed (the URL is the owner's to fix, and a signed body
            // must not be sent on to wherever a redirect points).
            AlertError::WebhookStatus { status, .. } => {
                status.is_redirection()
                    || (status.is_client_error()
                        && *status != http::StatusCode::REQUEST_TIMEOUT
                        && *status != http::StatusCode::TOO_MANY_REQUESTS)
            }
            AlertError::Smtp { source, .. } => source.is_permanent(),
            AlertError::Setting { .. }
            | AlertError::ReadFile { .. }
            | AlertError::MissingEnv { .. }
            | AlertError::MailMessage(_) => true,
        }
    }
}
