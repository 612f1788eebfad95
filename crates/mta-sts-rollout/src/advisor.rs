//! The runner: the live check and the stored reports' evidence, then [`advise`].

use std::time::Duration;

use mta_sts_check::{CheckReport, Checker};
use mta_sts_core::Timestamp;
use mta_sts_core::time::SECONDS_PER_DAY;
use mta_sts_store::reports::{DomainEvidence, EvidenceQuery, ReportStore};

use crate::{Advice, RolloutError, Stage, Thresholds, advise};

/// How far back a retiring domain's reports are read: the longest `max_age` (RFC 8461 §3.2:
/// 31557600 s, a year and a quarter day) and a day, so the last report showing the policy
/// senders may still hold is found.
const RETIRING_LOOKBACK_DAYS: u32 = 367;

/// Gives advice on any number of domains: the CLI, the dashboard and the alert watcher each own
/// one. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Advisor {
    checker: Checker,
    store: ReportStore,
    thresholds: Thresholds,
}

/// One assessment: the live check, the evidence it was weighed with, and the advice.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Assessment {
    /// The live check of the domain.
    pub check: CheckReport,
    /// The stored reports' evidence over the window (over a year for a retiring domain).
    pub evidence: DomainEvidence,
    /// The advice.
    pub advice: Advice,
}

impl Advisor {
    /// An advisor checking with `checker`, reading reports from `store`, judging by
    /// `thresholds` (refused when they cannot be met).
    pub fn new(
        checker: Checker,
        store: ReportStore,
        thresholds: Thresholds,
    ) -> Result<Advisor, RolloutError> {
        thresholds.validate()?;
        Ok(Advisor {
            checker,
            store,
            thresholds,
        })
    }

    /// The thresholds it judges by.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Checks `domain` live, reads its evidence from the store and advises, as of `now`. The
    /// live check runs while the store is read.
    pub async fn assess(&self, domain: &str, now: Timestamp) -> Result<Assessment, RolloutError> {
        let domain = mta_sts_core::domain::normalize_mail_domain(domain).map_err(|source| {
            RolloutError::Domain {
                input: domain.to_string(),
                source: Box::new(source),
            }
        })?;
        let window = self.query(&domain, now, self.thresholds.window_days);
        let (check, evidence) =
            tokio::join!(self.checker.check(&domain), self.store.evidence(&window));
        let mut evidence = evidence?;
        if crate::advise::stage_of(&check, &evidence) == Stage::Retiring {
            // The policy senders cached before `mode: none` may have been seen long before the
            // window: its expiry needs the reports of up to a year back.
            let long = self.query(
                &domain,
                now,
                RETIRING_LOOKBACK_DAYS.max(self.thresholds.window_days),
            );
            evidence = self.store.evidence(&long).await?;
        }
        let advice = advise(&check, &evidence, &self.thresholds, now);
        Ok(Assessment {
            check,
            evidence,
            advice,
        })
    }

    /// The evidence query over the last `days` UTC days up to `now`, today included.
    fn query(&self, domain: &str, now: Timestamp, days: u32) -> EvidenceQuery {
        let back =
            Duration::from_secs(u64::from(days.saturating_sub(1)) * SECONDS_PER_DAY.unsigned_abs());
        EvidenceQuery {
            domain: domain.to_string(),
            from: now.start_of_day().saturating_sub(back),
            to: now,
        }
    }
}
