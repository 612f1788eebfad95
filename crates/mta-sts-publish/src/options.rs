//! What the owner chooses: mode, max_age, where TLS-RPT reports go, and whether to collapse MX
//! hosts into wildcards.

use mta_sts_core::Mode;
use mta_sts_core::policy::MAX_MAX_AGE;
use serde::Serialize;

use crate::PublishError;

/// One week: the shortest `max_age` our linter accepts without a note (RFC 8461 §3.2 expects
/// weeks or more), short enough to correct a mistake while still testing.
pub const DEFAULT_MAX_AGE: u32 = 604_800;

/// The choices behind a publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishOptions {
    /// The policy mode; `testing` by default, the RFC's first step (RFC 8461 §5).
    pub mode: Mode,
    /// The policy's `max_age` in seconds, at most 31557600 (RFC 8461 §3.2).
    pub max_age: u32,
    /// TLS-RPT reporting addresses (`mailto:` or `https:`), for the `_smtp._tls` record; none:
    /// the record is only suggested in a comment.
    pub rua: Vec<String>,
    /// Collapse MX hosts sharing a parent domain into one `*.parent` pattern.
    pub wildcard: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            mode: Mode::Testing,
            max_age: DEFAULT_MAX_AGE,
            rua: Vec::new(),
            wildcard: false,
        }
    }
}

impl PublishOptions {
    /// Refuses options no policy may carry, before any lookup.
    pub fn validate(&self) -> Result<(), PublishError> {
        // RFC 8461 §3.2: "max_age: ... up to a maximum of 31557600".
        if self.max_age > MAX_MAX_AGE {
            return Err(PublishError::MaxAgeTooLarge {
                max_age: u64::from(self.max_age),
            });
        }
        Ok(())
    }
}
