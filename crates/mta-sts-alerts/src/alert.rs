//! What an alert says: the condition found, for which domain and period, rendered as the
//! webhook's JSON body and as a plain-text mail a person reads.

use std::fmt::Write as _;

use mta_sts_core::Timestamp;
use mta_sts_core::time::UtcDate;
use mta_sts_store::reports::StoredPolicy;
use serde::Serialize;

/// The version of the webhook body's shape; a receiver checks it before reading the rest.
pub const BODY_VERSION: u32 = 1;

/// One alert: a condition of one domain in one period. The store records (domain,
/// [`Alert::condition_key`], period) when the alert is raised, so it is raised once per period
/// however often the condition is seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The policy domain (A-label, lowercase).
    pub domain: String,
    /// What was found.
    pub condition: Condition,
    /// The period the alert stands for, e.g. the UTC day `2026-12-07`: one alert per condition
    /// per period.
    pub period: String,
    /// When the condition was found.
    pub raised_at: Timestamp,
}

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Condition {
    /// Reports counting failed sessions for the domain arrived (by any route: HTTPS, mail,
    /// IMAP, import).
    Failures {
        /// Failed sessions in these reports (per policy entry; Microsoft counts the same
        /// sessions under `sts` and `tlsa`, so this is the largest entry of each report, summed).
        failed_sessions: u64,
        /// The reports, with only their entries for the domain that count failures.
        reports: Vec<FailedReport>,
    },
    /// An organisation that reported regularly has sent nothing for a while: its senders may
    /// have stopped reaching the domain, or its reports stopped reaching the owner.
    SilentReporter {
        /// The organisation (`organization-name`).
        organization: String,
        /// The last UTC day it reported on.
        last_day: UtcDate,
        /// Days it reported on before going silent (in the window looked at).
        days_reported: u64,
        /// Whole days since `last_day`.
        silent_days: u64,
    },
    /// The rollout advisor's verdict for the domain changed.
    VerdictChanged {
        /// The verdict before, e.g. `testing, not ready`.
        previous: String,
        /// The verdict now.
        current: String,
        /// The advisor's reasons that do not hold now, each a sentence.
        reasons: Vec<String>,
    },
    /// The certificate of the domain's policy host nears its end and was not renewed (by
    /// ACME): once it expires, senders cannot fetch the policy (RFC 8461 §3.3).
    CertificateExpiring {
        /// The policy host, `mta-sts.<domain>`.
        host: String,
        /// When the certificate expires.
        not_after: Timestamp,
        /// Why the last renewal failed, when it did.
        last_error: Option<String>,
    },
    /// The monitor (`mta-sts serve`'s scheduled check of the domain) raised or cleared an
    /// event: a condition of the domain that began or ended. Raising and clearing are each
    /// their own alert.
    Monitor {
        /// The event's stable code, e.g. `policy-changed-id-unchanged` or `cert-expiring-7d`.
        code: String,
        /// What in the domain the event is about (a host, an organisation), empty when it is
        /// the domain as a whole.
        subject: String,
        /// Whether the condition began or ended.
        state: MonitorState,
        /// The monitor's sentence on what happened, to what, with times in RFC 3339.
        message: String,
    },
}

/// Whether a monitor event began or ended: the webhook's `details.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorState {
    /// The condition holds now and did not before.
    Raised,
    /// The condition held and does not any more.
    Cleared,
}

impl MonitorState {
    /// `raised` or `cleared`, as the webhook and the condition key name it.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorState::Raised => "raised",
            MonitorState::Cleared => "cleared",
        }
    }
}

/// A report counting failures, as an alert names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedReport {
    /// `organization-name`.
    pub organization: String,
    /// `report-id`.
    pub report_id: String,
    /// `date-range.start-datetime`.
    pub start: Timestamp,
    /// `date-range.end-datetime`.
    pub end: Timestamp,
    /// When it was received.
    pub received_at: Timestamp,
    /// How it arrived (`https`, `imap`, `mail`, `file`, `pipe`).
    pub source: String,
    /// Its entries for the domain that count failures, with their failure details.
    pub policies: Vec<StoredPolicy>,
}

impl Condition {
    /// The kind of condition, as the webhook's `details.kind` names it: `failures`,
    /// `silent-reporter`, `verdict-changed`, `certificate-expiring` or `monitor`.
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::Failures { .. } => "failures",
            Condition::SilentReporter { .. } => "silent-reporter",
            Condition::VerdictChanged { .. } => "verdict-changed",
            Condition::CertificateExpiring { .. } => "certificate-expiring",
            Condition::Monitor { .. } => "monitor",
        }
    }
}

impl FailedReport {
    /// Failed sessions of the report: its largest entry (entries of several policy types may
    /// count the same sessions).
    pub fn failed_sessions(&self) -> u64 {
        self.policies.iter().map(|p| p.failed).max().unwrap_or(0)
    }
}

/// The webhook's JSON body (documented in the crate's front page).
#[derive(Serialize)]
struct Body<'a> {
    version: u32,
    id: String,
    domain: &'a str,
    condition: String,
    period: &'a str,
    raised_at: Timestamp,
    summary: String,
    details: &'a Condition,
}

impl Alert {
    /// The condition as the store keys it: `failures`, `silent-reporter:ORGANISATION` (one
    /// per organisation), `verdict-changed`, `monitor:CODE:SUBJECT:STATE` (a raise and its
    /// clear are each sent once).
    pub fn condition_key(&self) -> String {
        match &self.condition {
            Condition::SilentReporter { organization, .. } => {
                format!("silent-reporter:{organization}")
            }
            Condition::Monitor {
                code,
                subject,
                state,
                ..
            } => format!("monitor:{code}:{subject}:{}", state.as_str()),
            other => other.kind().to_string(),
        }
    }

    /// The alert's identity, the same on every delivery attempt, for receivers that must not
    /// act twice: `DOMAIN/CONDITION/PERIOD`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.domain, self.condition_key(), self.period)
    }

    /// One sentence saying what happened to which domain.
    pub fn summary(&self) -> String {
        match &self.condition {
            Condition::Failures {
                failed_sessions,
                reports,
            } => {
                let organizations = organizations(reports);
                format!(
                    "{} {} from {} counted {failed_sessions} failed TLS {} with {}.",
                    reports.len(),
                    plural(reports.len() as u64, "report", "reports"),
                    one_line(&organizations.join(", ")),
                    plural(*failed_sessions, "session", "sessions"),
                    self.domain
                )
            }
            Condition::SilentReporter {
                organization,
                last_day,
                silent_days,
                ..
            } => format!(
                "{} has sent no TLS report for {} for {silent_days} {} (its last report covers \
                 {last_day}), after reporting regularly.",
                one_line(organization),
                self.domain,
                plural(*silent_days, "day", "days"),
            ),
            Condition::VerdictChanged {
                previous, current, ..
            } => format!(
                "The rollout advisor's verdict for {} changed from \"{previous}\" to \
                 \"{current}\".",
                self.domain
            ),
            Condition::CertificateExpiring {
                host, not_after, ..
            } => format!(
                "The certificate of {} expires at {not_after} and has not been renewed.",
                one_line(host)
            ),
            Condition::Monitor { message, .. } => one_line(message),
        }
    }

    /// The mail's subject line.
    pub fn subject(&self) -> String {
        let what = match &self.condition {
            Condition::Failures {
                failed_sessions, ..
            } => format!(
                "{failed_sessions} failed TLS {} reported",
                plural(*failed_sessions, "session", "sessions")
            ),
            Condition::SilentReporter { organization, .. } => {
                format!("{} stopped reporting", one_line(organization))
            }
            Condition::VerdictChanged { current, .. } => format!("rollout verdict now {current}"),
            Condition::CertificateExpiring {
                host, not_after, ..
            } => {
                format!("certificate of {host} expires {not_after}")
            }
            Condition::Monitor {
                code,
                subject,
                state,
                ..
            } => {
                let what = if subject.is_empty() {
                    code.clone()
                } else {
                    format!("{code} ({subject})")
                };
                match state {
                    MonitorState::Raised => format!("monitor raised {what}"),
                    MonitorState::Cleared => format!("monitor cleared {what}"),
                }
            }
        };
        format!("[mta-sts] {}: {}", self.domain, one_line(&what))
    }

    /// The mail's plain-text body: the summary, the evidence line by line, and what follows.
    pub fn text(&self) -> String {
        let mut text = format!(
            "MTA-STS alert for {}, raised {}.\n\n{}\n",
            self.domain,
            self.raised_at,
            self.summary()
        );
        match &self.condition {
            Condition::Failures { reports, .. } => {
                text.push('\n');
                for report in reports {
                    let _ = writeln!(
                        text,
                        "- {} (report {}, {} to {}), received {} by {}:",
                        one_line(&report.organization),
                        one_line(&report.report_id),
                        report.start,
                        report.end,
                        report.received_at,
                        report.source
                    );
                    for policy in &report.policies {
                        let _ = writeln!(
                            text,
                            "  {} policy: {} failed, {} successful sessions.",
                            policy.policy_type, policy.failed, policy.successful
                        );
                        for failure in &policy.failures {
                            let _ = writeln!(
                                text,
                                "    {} in {} {}{}{}.",
                                failure.result_type,
                                failure.count,
                                plural(failure.count, "session", "sessions"),
                                failure
                                    .receiving_mx_hostname
                                    .as_deref()
                                    .map(|mx| format!(" to {}", one_line(mx)))
                                    .unwrap_or_default(),
                                failure
                                    .sending_mta_ip
                                    .as_deref()
                                    .map(|ip| format!(" from {}", one_line(ip)))
                                    .unwrap_or_default(),
                            );
                        }
                    }
                }
                let _ = write!(
                    text,
                    "\nFurther failure reports for {} in the period {} raise no other alert; \
                     the dashboard and `mta-sts reports summary` show them all.\n",
                    self.domain, self.period
                );
            }
            Condition::SilentReporter { organization, .. } => {
                let _ = write!(
                    text,
                    "\nCheck that the _smtp._tls record of {} still names your report address \
                     and that reports from {} are not refused or filtered; no other alert is \
                     raised for this silence.\n",
                    self.domain,
                    one_line(organization)
                );
            }
            Condition::VerdictChanged { reasons, .. } => {
                if !reasons.is_empty() {
                    text.push_str("\nWhat does not hold now:\n");
                    for reason in reasons {
                        let _ = writeln!(text, "- {}", one_line(reason));
                    }
                }
                let _ = write!(
                    text,
                    "\n`mta-sts rollout {}` shows the whole advice and what to publish next.\n",
                    self.domain
                );
            }
            Condition::CertificateExpiring {
                host, last_error, ..
            } => {
                match last_error {
                    Some(error) => {
                        let _ = writeln!(text, "\nThe last renewal failed: {}", one_line(error));
                    }
                    None => text.push_str("\nRenewal is still being attempted.\n"),
                }
                let _ = write!(
                    text,
                    "\nOnce it expires, senders cannot fetch the MTA-STS policy of {} from {} \
                     (RFC 8461 §3.3). Check that {} resolves to this server and that the ACME \
                     challenge reaches it; the server's log names each attempt.\n",
                    self.domain,
                    one_line(host),
                    one_line(host)
                );
            }
            Condition::Monitor { code, state, .. } => {
                let follows = match state {
                    MonitorState::Raised => format!(
                        "\nThe monitor checks {} again at its next pass and sends one more alert \
                         when `{code}` no longer holds; the dashboard's page of {} shows the \
                         timeline.\n",
                        self.domain, self.domain
                    ),
                    MonitorState::Cleared => format!(
                        "\n`{code}` no longer holds for {}; nothing more is needed.\n",
                        self.domain
                    ),
                };
                text.push_str(&follows);
            }
        }
        text
    }

    /// The webhook's JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        let body = Body {
            version: BODY_VERSION,
            id: self.id(),
            domain: &self.domain,
            condition: self.condition_key(),
            period: &self.period,
            raised_at: self.raised_at,
            summary: self.summary(),
            details: &self.condition,
        };
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// `text` on one line: report fields come from strangers, and a line break in one must not
/// start a mail header or a line of its own in the alert.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn organizations(reports: &[FailedReport]) -> Vec<&str> {
    let mut names: Vec<&str> = reports.iter().map(|r| r.organization.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn plural<'a>(count: u64, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

#[cfg(test)]
mod tests;
