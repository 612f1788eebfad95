//! The crate's error type, and the errors a request can meet (which become HTTP answers, never
//! Rust errors for the caller).

use std::time::Duration;

use http::StatusCode;

/// Why the web checker could not be set up or could not keep serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The checker could not be built from the network settings (the DNS resolver
    /// configuration): fix the settings; nothing was served.
    #[error("cannot set up the checker: {0}")]
    Checker(#[from] mta_sts_net::Error),
    /// A [`WebConfig`](crate::WebConfig) value is out of range: fix the configuration; nothing
    /// was served.
    #[error("invalid web setting {setting}: {reason}")]
    Config {
        /// The field of [`WebConfig`](crate::WebConfig).
        setting: &'static str,
        /// What it must be.
        reason: &'static str,
    },
}

/// Why one request was not answered with a result. Each maps to an HTTP status and a stable code
/// that the JSON API returns as `{"error": {"code", "message"}}`; the page shows the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestError {
    /// No domain given, or only whitespace.
    DomainMissing,
    /// The input is not a domain name to check; the message says why, for a person.
    DomainInvalid(String),
    /// This client used up its checks for now.
    RateLimited {
        /// Until the next check is allowed.
        retry_after: Duration,
    },
    /// Every check slot is taken.
    Busy,
    /// The check ran past its time limit.
    CheckTimeout {
        /// The limit.
        limit: Duration,
    },
    /// No such route.
    NotFound,
    /// The server could not encode its answer; says what it was encoding.
    Internal(&'static str),
}

/// Retry-After for `busy`: checks take seconds, so a slot is usually free again soon.
const BUSY_RETRY: Duration = Duration::from_secs(5);

impl RequestError {
    /// The stable code of the JSON API.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            RequestError::DomainMissing => "domain-missing",
            RequestError::DomainInvalid(_) => "domain-invalid",
            RequestError::RateLimited { .. } => "rate-limited",
            RequestError::Busy => "busy",
            RequestError::CheckTimeout { .. } => "check-timeout",
            RequestError::NotFound => "not-found",
            RequestError::Internal(_) => "internal-error",
        }
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            RequestError::DomainMissing | RequestError::DomainInvalid(_) => StatusCode::BAD_REQUEST,
            RequestError::RateLimited { .. } | RequestError::Busy => StatusCode::TOO_MANY_REQUESTS,
            RequestError::CheckTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            RequestError::NotFound => StatusCode::NOT_FOUND,
            RequestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What a person reads.
    pub(crate) fn message(&self) -> String {
        match self {
            RequestError::DomainMissing => "Enter a domain name, such as example.com.".to_string(),
            RequestError::DomainInvalid(why) => why.clone(),
            RequestError::RateLimited { retry_after } => format!(
                "Too many checks from your address: try again in {} s.",
                whole_seconds(*retry_after)
            ),
            RequestError::Busy => {
                "The checker is busy with other checks: try again in a few seconds.".to_string()
            }
            RequestError::CheckTimeout { limit } => format!(
                "The check did not finish within {} s: a host answered too slowly or not at all. \
                 Try again later.",
                whole_seconds(*limit)
            ),
            RequestError::NotFound => "There is nothing at this address.".to_string(),
            RequestError::Internal(what) => format!("The server could not encode {what}."),
        }
    }

    /// Seconds for a `Retry-After` header, for the refusals that have one.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            RequestError::RateLimited { retry_after } => Some(whole_seconds(*retry_after)),
            RequestError::Busy => Some(whole_seconds(BUSY_RETRY)),
            _ => None,
        }
    }

    /// The `reason` label of the rejected-requests metric, for refusals before a check ran.
    pub(crate) fn rejection_reason(&self) -> Option<&'static str> {
        match self {
            RequestError::DomainMissing | RequestError::DomainInvalid(_) => Some("invalid"),
            RequestError::RateLimited { .. } => Some("rate-limited"),
            RequestError::Busy => Some("busy"),
            _ => None,
        }
    }
}

/// Rounded up, and at least 1: `Retry-After: 0` would invite an immediate retry.
pub(crate) fn whole_seconds(duration: Duration) -> u64 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(29_001)), 30);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        let limited = RequestError::RateLimited {
            retry_after: Duration::from_millis(2_500),
        };
        assert_eq!(limited.retry_after(), Some(3));
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(RequestError::NotFound.retry_after(), None);
    }
}
