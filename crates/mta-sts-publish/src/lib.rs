//! Publishing MTA-STS (RFC 8461 §3): from a domain's live MX set, the policy, the `_mta-sts`
//! TXT record with an id derived from the policy's content, and the `_smtp._tls` record
//! (RFC 8460 §3); and the safe order of steps for changing MX hosts under an enforce policy.
//!
//! The building is pure: [`compose`] turns an MX set and the owner's [`PublishOptions`] into a
//! [`Publication`] (patterns from [`patterns`], with the [`providers`] table; records and the
//! [`zone`] snippet), every output linted by the core's linters before it is returned.
//! [`plan_mx_change`] orders an MX change so that no sender holding the current policy is refused.
//! [`Publisher`] is the engine over live DNS; `mta-sts publish` and the `auto` hosting of
//! `mta-sts serve` call it.

mod error;
pub mod mx_change;
mod options;
pub mod patterns;
pub mod providers;
mod publication;
mod publisher;
pub mod zone;

pub use error::PublishError;
pub use mx_change::{MxChangeOptions, MxChangePlan, Step, StepKind, plan_mx_change};
pub use options::{DEFAULT_MAX_AGE, PublishOptions};
pub use patterns::{PatternReason, PolicyPattern};
pub use publication::{MxRecord, Publication, compose};
pub use publisher::Publisher;
