//! What can stop the advisor: a name that is not a mail domain, thresholds that contradict
//! each other, a store that cannot answer. A live check never fails: what it could not learn is
//! part of the advice.

use mta_sts_store::StoreError;

/// Why the advisor could not give advice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RolloutError {
    /// The name given is not a mail domain (caller misuse: fix the argument).
    #[error("{input:?} is not a mail domain: {source}")]
    Domain {
        /// The name as given.
        input: String,
        /// Why, in the core's words (boxed: its diagnostic is large).
        source: Box<mta_sts_core::Error>,
    },
    /// A threshold is out of range or contradicts another (caller misuse: fix the setting).
    #[error("the rollout thresholds do not work: {0}")]
    Thresholds(#[from] crate::ThresholdError),
    /// The report store could not answer; [`StoreError::is_unavailable`] says whether trying
    /// again later may help.
    #[error("the report store could not answer: {0}")]
    Store(#[from] StoreError),
}

impl RolloutError {
    /// Whether trying again later may help (the store is down or busy).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RolloutError::Store(error) if error.is_unavailable())
    }
}
