//! The intake's metrics: reports taken by reporting organisation and outcome, sessions by policy
//! domain and result.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use mta_sts_core::report::{Report, ResultType};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::Outcome;

/// How many reporting organisations get a label of their own; the rest share `other`. Anyone can
/// send a report, so the label set must not grow with what strangers write.
const MAX_ORGANIZATIONS: usize = 200;

/// How long an organisation label may be.
const MAX_ORGANIZATION_LABEL: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReportLabels {
    organization: String,
    outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SessionLabels {
    policy_domain: String,
    result: String,
}

/// The intake's counters, registered in the caller's registry.
#[derive(Clone)]
pub(crate) struct Metrics {
    reports: Family<ReportLabels, Counter>,
    sessions: Family<SessionLabels, Counter>,
    organizations: Arc<Mutex<HashSet<String>>>,
}

impl Metrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let metrics = Metrics {
            reports: Family::default(),
            sessions: Family::default(),
            organizations: Arc::default(),
        };
        registry.register(
            "mta_sts_reports_taken",
            "TLS-RPT reports (and inputs holding none) by reporting organisation and outcome",
            metrics.reports.clone(),
        );
        registry.register(
            "mta_sts_report_sessions",
            "Sessions counted by newly stored TLS-RPT reports, by policy domain and result \
             (success, or the failure's result type); never summed across policy types by the \
             reader, so a session reported under sts and tlsa counts under both",
            metrics.sessions.clone(),
        );
        metrics
    }

    /// Counts one outcome; for a newly stored report, also its sessions.
    pub(crate) fn record(&self, outcome: &Outcome, report: Option<&Report>) {
        let organization = match outcome {
            Outcome::Imported { organization, .. }
            | Outcome::Duplicate { organization, .. }
            | Outcome::RefusedDomain { organization, .. } => self.organization_label(organization),
            Outcome::NotAReport { .. } | Outcome::Invalid { .. } => String::new(),
        };
        self.reports
            .get_or_create(&ReportLabels {
                organization,
                outcome: outcome.name().to_string(),
            })
            .inc();
        let (Outcome::Imported { .. }, Some(report)) = (outcome, report) else {
            return;
        };
        for entry in &report.policies {
            let policy_domain = entry.policy.policy_domain.clone().unwrap_or_default();
            let successful = entry.summary.total_successful_session_count;
            if successful > 0 {
                self.sessions
                    .get_or_create(&SessionLabels {
                        policy_domain: policy_domain.clone(),
                        result: "success".to_string(),
                    })
                    .inc_by(successful);
            }
            for detail in &entry.failure_details {
                self.sessions
                    .get_or_create(&SessionLabels {
                        policy_domain: policy_domain.clone(),
                        result: result_label(&detail.result_type).to_string(),
                    })
                    .inc_by(detail.failed_session_count);
            }
        }
    }

    /// The organisation's label: its name (shortened), or `other` past [`MAX_ORGANIZATIONS`].
    fn organization_label(&self, name: &str) -> String {
        let label: String = name.chars().take(MAX_ORGANIZATION_LABEL).collect();
        let mut known = match self.organizations.lock() {
            Ok(known) => known,
            Err(poisoned) => poisoned.into_inner(),
        };
        if known.contains(&label) {
            return label;
        }
        if known.len() < MAX_ORGANIZATIONS {
            known.insert(label.clone());
            return label;
        }
        "other".to_string()
    }
}

/// A result type's label: the registered names as they are, anything else `other` (a sender may
/// write any text there).
fn result_label(result_type: &ResultType) -> &str {
    match result_type {
        ResultType::Other(_) => "other",
        known => known.as_str(),
    }
}

#[cfg(test)]
mod tests;
