//! The live check of each domain and the rollout advice, kept for `check_cache_seconds`. A page
//! never waits long for a check (DNS, the policy fetch and SMTP probes can take seconds): it
//! starts one when the kept result is old, waits a moment, and otherwise shows the last result
//! with its time, or "checking…".

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mta_sts_core::report::Timestamp;
use mta_sts_core::time::Clock;
use mta_sts_rollout::{Advisor, Assessment};
use tokio::sync::watch;

/// One finished check.
#[derive(Debug)]
pub(crate) struct Checked {
    /// When it finished.
    pub(crate) at: Timestamp,
    /// The assessment, or why there is none (a sentence).
    pub(crate) outcome: Outcome,
}

/// What a check gave.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The live check, the evidence and the advice.
    Assessed(Box<Assessment>),
    /// The advisor could not run (the store failed); the sentence says why.
    Failed(String),
}

/// What a page gets.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    /// The latest finished check, if any.
    pub(crate) last: Option<Arc<Checked>>,
    /// Whether a newer check is running.
    pub(crate) checking: bool,
}

#[derive(Default)]
struct Entry {
    last: Option<Arc<Checked>>,
    /// Set while a check runs: it turns `true` when the check is done.
    running: Option<watch::Receiver<bool>>,
}

/// The kept checks, one per domain.
pub(crate) struct LiveChecks {
    advisor: Advisor,
    keep: Duration,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl LiveChecks {
    pub(crate) fn new(advisor: Advisor, keep: Duration, clock: Arc<dyn Clock>) -> LiveChecks {
        LiveChecks {
            advisor,
            keep,
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a check of `domain` unless a fresh result is kept or one is running; returns
    /// what to wait on, if a check runs.
    pub(crate) fn refresh(self: &Arc<Self>, domain: &str) -> Option<watch::Receiver<bool>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.entry(domain.to_string()).or_default();
        if let Some(running) = &entry.running {
            return Some(running.clone());
        }
        if entry
            .last
            .as_ref()
            .is_some_and(|last| now.duration_since(last.at) < self.keep)
        {
            return None;
        }
        let (done, running) = watch::channel(false);
        entry.running = Some(running.clone());
        let this = self.clone();
        let domain = domain.to_string();
        tokio::spawn(async move {
            let outcome = match this.advisor.assess(&domain, this.clock.now()).await {
                Ok(assessment) => Outcome::Assessed(Box::new(assessment)),
                Err(error) => {
                    tracing::warn!(kind = %"live-check-failed", domain = %domain, "The rollout advice for {domain} could not be made: {error}.");
                    Outcome::Failed(format!("The advice could not be made: {error}."))
                }
            };
            let checked = Arc::new(Checked {
                at: this.clock.now(),
                outcome,
            });
            let mut entries = this.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = entries.entry(domain).or_default();
            entry.last = Some(checked);
            entry.running = None;
            let _ = done.send(true);
        });
        Some(running)
    }

    /// What is known of `domain` now.
    pub(crate) fn current(&self, domain: &str) -> Live {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(domain) {
            Some(entry) => Live {
                last: entry.last.clone(),
                checking: entry.running.is_some(),
            },
            None => Live {
                last: None,
                checking: false,
            },
        }
    }

    /// Refreshes every domain of `domains` that needs it, waits for the checks at most `wait`
    /// (all together), and returns what is known of each then.
    pub(crate) async fn get_all(self: &Arc<Self>, domains: &[String], wait: Duration) -> Vec<Live> {
        let running: Vec<watch::Receiver<bool>> = domains
            .iter()
            .filter_map(|domain| self.refresh(domain))
            .collect();
        let _ = tokio::time::timeout(wait, async {
            for mut receiver in running {
                let _ = receiver.wait_for(|done| *done).await;
            }
        })
        .await;
        domains.iter().map(|domain| self.current(domain)).collect()
    }
}

#[cfg(test)]
mod tests;
