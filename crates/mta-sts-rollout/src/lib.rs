//! The rollout advisor: from the live check of a domain and the TLS-RPT reports (RFC 8460) its
//! senders sent, where its MTA-STS rollout (RFC 8461) stands — `none`, `testing`, `enforce` or
//! `retiring` — whether it is ready for the next stage, every reason naming its evidence, and the
//! exact policy and `_mta-sts` record to publish next.
//!
//! [`advise`] is the decision, pure: a [`CheckReport`](mta_sts_check::CheckReport), the stored
//! [`DomainEvidence`](mta_sts_store::reports::DomainEvidence), the [`Thresholds`] and the time
//! in, [`Advice`] out. [`Advisor::assess`] runs it: the live check and the store's evidence,
//! then the decision; `mta-sts rollout`, the dashboard and the alert watcher call it.

mod advice;
mod advise;
mod advisor;
mod error;
mod thresholds;

pub use advice::{
    Advice, CertificateEvidence, Evidence, FailureEvidence, Next, Reason, ReasonCode,
    ReporterEvidence, Stage,
};
pub use advise::advise;
pub use advisor::{Advisor, Assessment};
pub use error::RolloutError;
pub use thresholds::{MAX_WINDOW_DAYS, ThresholdError, Thresholds};
