//! The decision, pure: the live check and the reports' evidence in, [`Advice`] out. No I/O, no
//! clock: `now` is given.

mod evidence;
mod next;
mod text;

use mta_sts_check::{CheckReport, Outcome};
use mta_sts_core::report::PolicyType;
use mta_sts_core::time::UtcDate;
use mta_sts_core::{FindingCode, Mode, Severity, Timestamp};
use mta_sts_store::reports::DomainEvidence;

use crate::advice::{
    Advice, CertificateEvidence, Evidence, FailureEvidence, Reason, ReasonCode, Stage,
};
use crate::thresholds::Thresholds;
use evidence::{SeenPolicy, Window};
use text::{count_noun, percent};

/// Codes of the live check that a condition of its own reports, so the `live-check` reasons do
/// not repeat them.
const COVERED_ELSEWHERE: &[FindingCode] = &[
    FindingCode::MxNotInPolicy,
    FindingCode::MxStarttlsMissing,
    FindingCode::MxTlsFailed,
    FindingCode::MxCertUntrusted,
    FindingCode::MxCertHostname,
    FindingCode::MxCertExpired,
    FindingCode::MxNone,
];

/// Advises on one domain: its stage, whether it is ready for the next one (every reason naming
/// its evidence, failing ones first), and what to publish next.
///
/// `evidence` covers the window of `thresholds` up to `now` (for a retiring domain, as far back
/// as the longest `max_age`; [`Advisor::assess`](crate::Advisor::assess) asks for that).
pub fn advise(
    check: &CheckReport,
    evidence: &DomainEvidence,
    thresholds: &Thresholds,
    now: Timestamp,
) -> Advice {
    let window = Window::new(evidence, thresholds, now);
    let stage = stage_of(check, evidence);
    let mut reasons = live_check(check, stage);
    match stage {
        Stage::None => {
            reasons.push(mx_hosts(check, stage));
            reasons.push(tlsrpt_record(check));
        }
        Stage::Testing => {
            reasons.push(mx_hosts(check, stage));
            reasons.push(tlsrpt_record(check));
            reasons.push(report_days(&window, thresholds));
            reasons.push(reporters(&window, thresholds));
            reasons.extend(sts_failures(check, &window, thresholds));
            reasons.extend(mx_covered(check));
            reasons.extend(mx_certificates(check, thresholds));
        }
        Stage::Enforce => {
            reasons.push(mx_hosts(check, stage));
            reasons.push(tlsrpt_record(check));
            reasons.extend(mx_covered(check));
            reasons.extend(mx_certificates(check, thresholds));
            reasons.extend(regressions(check, &window));
        }
        Stage::Retiring => reasons.push(old_policy_expired(&window, now)),
    }
    // Failing reasons first; within each, the order conditions are checked in.
    reasons.sort_by_key(|reason| reason.ok);
    let ready = reasons.iter().all(|reason| reason.ok);
    let next = next::next(check, stage, ready);
    Advice {
        domain: check.domain.clone(),
        stage,
        ready,
        reasons,
        next,
    }
}

/// The stage, from the live policy a sender would fetch now; when the live check could not
/// read one behind a published record, from the policy the latest reports show senders using.
pub(crate) fn stage_of(check: &CheckReport, evidence: &DomainEvidence) -> Stage {
    let live = check
        .sts_record
        .as_ref()
        .and(check.policy.as_ref())
        .and_then(|policy| policy.mode);
    let missing =
        check.has(FindingCode::StsRecordMissing) || check.outcome == Outcome::NoSuchDomain;
    let mode = match live {
        Some(mode) => Some(mode),
        None if missing => None,
        // A record whose policy cannot be read now: senders keep using the one they cached.
        None => evidence::seen_policies(evidence)
            .into_iter()
            .filter(|seen| seen.mode.is_some())
            .max_by_key(|seen| seen.last_day)
            .and_then(|seen| seen.mode),
    };
    match mode {
        None => Stage::None,
        Some(Mode::Testing) => Stage::Testing,
        Some(Mode::Enforce) => Stage::Enforce,
        Some(Mode::None) => Stage::Retiring,
    }
}

/// `live-check`: one failing reason per error of the live check that no other condition
/// reports (at `none`, the missing record and policy are the point, not errors), or one
/// passing reason; a check that could not be completed fails.
fn live_check(check: &CheckReport, stage: Stage) -> Vec<Reason> {
    let mut reasons: Vec<Reason> = check
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && !COVERED_ELSEWHERE.contains(&f.code))
        .filter(|f| {
            stage != Stage::None
                || !matches!(
                    f.section,
                    mta_sts_core::Section::Records | mta_sts_core::Section::Policy
                )
        })
        .map(|f| Reason {
            code: ReasonCode::LiveCheck,
            ok: false,
            message: format!(
                "the live check of {} found `{}`: {}; fix: {}",
                check.domain, f.code, f.message, f.remediation
            ),
            evidence: Evidence::Finding {
                code: f.code.to_string(),
                message: f.message.clone(),
                remediation: f.remediation.clone(),
            },
        })
        .collect();
    if let Some(incomplete) = &check.incomplete {
        reasons.push(Reason {
            code: ReasonCode::LiveCheck,
            ok: false,
            message: format!(
                "the live check of {} could not be completed: {incomplete}; run it again when \
                 the lookups answer",
                check.domain
            ),
            evidence: Evidence::Incomplete {
                not_learnt: check.not_learnt.iter().map(ToString::to_string).collect(),
            },
        });
    }
    if reasons.is_empty() {
        let warnings = mta_sts_check::count(&check.findings, Severity::Warning) as u64;
        let errors = mta_sts_check::count(&check.findings, Severity::Error) as u64;
        let found = if errors == 0 {
            "no errors".to_string()
        } else {
            format!(
                "no errors besides the {} judged under {}",
                count_noun(errors, "error", "errors"),
                if errors == 1 {
                    "its own condition"
                } else {
                    "their own conditions"
                }
            )
        };
        reasons.push(Reason {
            code: ReasonCode::LiveCheck,
            ok: true,
            message: format!(
                "the live check of {} found {found} ({})",
                check.domain,
                count_noun(warnings, "warning", "warnings")
            ),
            evidence: Evidence::Check {
                verdict: check.verdict.to_string(),
                errors,
                warnings,
            },
        });
    }
    reasons
}

/// `mx-hosts`: the domain has MX hosts to protect.
fn mx_hosts(check: &CheckReport, stage: Stage) -> Reason {
    let hosts = mx_names(check);
    let null_mx = check.mx.as_ref().is_some_and(|mx| mx.null_mx);
    // With a policy published, the way out is retiring it (RFC 8461 §8.3).
    let retire = if stage == Stage::None {
        ""
    } else {
        ", or retire the policy with `mode: none`"
    };
    let (ok, message) = if null_mx {
        (
            false,
            format!(
                "{} publishes a null MX (it accepts no mail): there is nothing for MTA-STS to \
                 protect; publish the MX records of the hosts that receive its mail{retire}",
                check.domain
            ),
        )
    } else if hosts.is_empty() {
        (
            false,
            format!(
                "{} has no MX hosts: publish the MX records of the hosts that receive its \
                 mail{retire}",
                check.domain
            ),
        )
    } else {
        (
            true,
            format!("{} receives mail at {}", check.domain, text::list(&hosts)),
        )
    };
    Reason {
        code: ReasonCode::MxHosts,
        ok,
        message,
        evidence: Evidence::MxHosts { hosts },
    }
}

/// `tlsrpt-record`: without one, senders send no reports and there is no evidence.
fn tlsrpt_record(check: &CheckReport) -> Reason {
    let record = check.tlsrpt_record.as_ref().map(ToString::to_string);
    let (ok, message) = match &record {
        Some(record) => (
            true,
            format!(
                "_smtp._tls.{} asks senders for reports: {record}",
                check.domain
            ),
        ),
        None => {
            let publish = check.publish.tlsrpt_record.clone().unwrap_or_else(|| {
                format!(
                    "_smtp._tls.{0}. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@{0}\"",
                    check.domain
                )
            });
            (
                false,
                format!(
                    "{} has no usable `_smtp._tls` record, so senders send no TLS-RPT reports and \
                     there is no evidence to judge by: publish {publish}",
                    check.domain
                ),
            )
        }
    };
    Reason {
        code: ReasonCode::TlsrptRecord,
        ok,
        message,
        evidence: Evidence::TlsrptRecord { record },
    }
}

/// `report-days`: reports on enough distinct days of the window.
fn report_days(window: &Window, thresholds: &Thresholds) -> Reason {
    let days = window.report_days();
    let have = days.len() as u64;
    let need = u64::from(thresholds.min_report_days);
    let span = format!(
        "the last {} ({} to {})",
        count_noun(u64::from(thresholds.window_days), "day", "days"),
        window.from,
        window.to
    );
    let (ok, message) = if have >= need {
        (
            true,
            format!(
                "reports about {} cover {have} of {span}; {need} are needed",
                window.domain
            ),
        )
    } else if have == 0 {
        (
            false,
            format!(
                "no reports about {} are stored for {span}; {need} days with reports are \
                 needed: make sure reports reach the store (`mta-sts serve` for HTTPS, `mta-sts \
                 reports import` or `fetch` for mail) and that the `_smtp._tls` record's rua \
                 reaches you",
                window.domain
            ),
        )
    } else {
        (
            false,
            format!(
                "reports about {} cover only {have} of {span} ({}); {need} are needed: wait for \
                 {} more {} of reports (senders report once a day)",
                window.domain,
                text::day_list(&days),
                need - have,
                if need - have == 1 { "day" } else { "days" },
            ),
        )
    };
    Reason {
        code: ReasonCode::ReportDays,
        ok,
        message,
        evidence: Evidence::ReportDays {
            from: window.from,
            to: window.to,
            days,
            required: thresholds.min_report_days,
        },
    }
}

/// `reporters`: enough organisations report, so one sender's view is not all there is.
fn reporters(window: &Window, thresholds: &Thresholds) -> Reason {
    let reporters = window.reporters();
    let have = reporters.len() as u64;
    let need = u64::from(thresholds.min_reporters);
    let named: Vec<String> = reporters
        .iter()
        .map(|r| {
            format!(
                "{} ({}, last on {})",
                text::clean(&r.organization),
                count_noun(r.days, "day", "days"),
                text::day(r.last_day)
            )
        })
        .collect();
    let (ok, message) = if have >= need {
        (
            true,
            format!(
                "{} reported about {} in the last {}: {}",
                count_noun(have, "organisation", "organisations"),
                window.domain,
                count_noun(u64::from(thresholds.window_days), "day", "days"),
                named.join("; ")
            ),
        )
    } else {
        let who = if named.is_empty() {
            "none".to_string()
        } else {
            format!("only {}", named.join("; "))
        };
        (
            false,
            format!(
                "{} reported about {} in the last {}: {who}; {need} are needed so that one \
                 sender's view is not all you see: wait until another sender reports (large \
                 senders report daily to domains they deliver mail to)",
                if have == 0 {
                    "no organisation".to_string()
                } else {
                    count_noun(have, "organisation", "organisations")
                },
                window.domain,
                count_noun(u64::from(thresholds.window_days), "day", "days"),
            ),
        )
    };
    Reason {
        code: ReasonCode::Reporters,
        ok,
        message,
        evidence: Evidence::Reporters {
            reporters,
            required: thresholds.min_reporters,
        },
    }
}

/// `sts-failures`: no `sts` failure in the window (or a rate under the threshold); else one
/// failing reason per group of failures, naming the MX, the result type, the sessions, the
/// reporters, the days, and what the live check sees of that MX now.
fn sts_failures(check: &CheckReport, window: &Window, thresholds: &Thresholds) -> Vec<Reason> {
    let (successful, failed) = window.sts_sessions();
    let total = successful + failed;
    let rate = if total == 0 {
        0.0
    } else {
        failed as f64 / total as f64
    };
    let sessions = Evidence::StsSessions {
        successful,
        failed,
        failure_rate: rate,
        max_failure_rate: thresholds.max_failure_rate,
    };
    if failed == 0 {
        return vec![Reason {
            code: ReasonCode::StsFailures,
            ok: true,
            message: format!(
                "no sts failures were reported about {} from {} to {} ({})",
                window.domain,
                window.from,
                window.to,
                count_noun(successful, "successful session", "successful sessions")
            ),
            evidence: sessions,
        }];
    }
    if thresholds.max_failure_rate > 0.0 && rate <= thresholds.max_failure_rate {
        return vec![Reason {
            code: ReasonCode::StsFailures,
            ok: true,
            message: format!(
                "{failed} of {total} sts sessions failed from {} to {} ({}), within the \
                 highest rate allowed ({})",
                window.from,
                window.to,
                percent(rate),
                percent(thresholds.max_failure_rate)
            ),
            evidence: sessions,
        }];
    }
    let groups = window.sts_failure_groups(None);
    let allowed = if thresholds.max_failure_rate > 0.0 {
        format!(
            "{failed} of {total} sts sessions failed ({}), over the {} allowed",
            percent(rate),
            percent(thresholds.max_failure_rate)
        )
    } else {
        format!(
            "{failed} of {total} sts sessions failed; none may fail before enforcing, as \
             enforcing senders would not deliver that mail"
        )
    };
    if groups.is_empty() {
        return vec![Reason {
            code: ReasonCode::StsFailures,
            ok: false,
            message: format!(
                "{allowed}; the reports gave no failure details, so which MX failed is not \
                 known: look at the raw reports"
            ),
            evidence: sessions,
        }];
    }
    groups
        .into_iter()
        .map(|group| {
            let wait = window.leaves_window(group.last_day);
            Reason {
                code: ReasonCode::StsFailures,
                ok: false,
                message: format!(
                    "{}{}; fix: {}, then wait until these failures leave the window (after {}); \
                     {allowed}",
                    text::failure(&group),
                    live_state(check, &group),
                    remedy(check, &group),
                    text::day(wait)
                ),
                evidence: Evidence::Failures(group),
            }
        })
        .collect()
}

/// `regressions`: `sts` failures since enforcing began, mail enforcing senders refused.
fn regressions(check: &CheckReport, window: &Window) -> Vec<Reason> {
    let since = window.enforcing_since();
    let since_text = match since {
        // Enforcing before the evidence begins: when it began is not known, only that it
        // lasted the whole window.
        Some(day) if day <= window.from => format!(
            "while enforcing (throughout the window, since {})",
            text::day(window.from)
        ),
        Some(day) => format!("since enforcing began on {}", text::day(day)),
        None => format!(
            "from {} to {} (no report shows when enforcing began)",
            window.from, window.to
        ),
    };
    let groups = window.sts_failure_groups(since);
    if groups.is_empty() {
        let (successful, _) = window.sts_sessions();
        return vec![Reason {
            code: ReasonCode::Regressions,
            ok: true,
            message: format!(
                "no sts failures were reported about {} {since_text} ({} in the window)",
                window.domain,
                count_noun(successful, "successful session", "successful sessions")
            ),
            evidence: Evidence::StsSessions {
                successful,
                failed: 0,
                failure_rate: 0.0,
                max_failure_rate: 0.0,
            },
        }];
    }
    groups
        .into_iter()
        .map(|group| Reason {
            code: ReasonCode::Regressions,
            ok: false,
            message: format!(
                "{} {since_text}: enforcing senders did not deliver those {}{}; fix: {}",
                text::failure(&group),
                count_noun(group.sessions, "message", "messages"),
                live_state(check, &group),
                remedy(check, &group)
            ),
            evidence: Evidence::Failures(group),
        })
        .collect()
}

/// `mx-covered`: one reason per current MX host, whether a policy pattern matches it
/// (RFC 8461 §4.1). Nothing when there is no readable policy (the live check says why).
fn mx_covered(check: &CheckReport) -> Vec<Reason> {
    let Some(policy) = check.policy.as_ref().and_then(|p| p.parsed.as_ref()) else {
        return Vec::new();
    };
    let patterns: Vec<String> = policy.mx.iter().map(ToString::to_string).collect();
    mx_names(check)
        .into_iter()
        .map(|host| {
            // RFC 8461 §4.1: an MX host matching no pattern fails validation; an enforcing
            // sender does not deliver to it.
            let matched = policy.matches_mx(&host);
            let message = if matched {
                format!("the MX host {host} matches the policy's `mx` patterns")
            } else {
                format!(
                    "the MX host {host} matches no `mx` pattern of the policy ({}): an enforcing \
                     sender would not deliver to it; publish the policy below, which lists it, \
                     with its new id",
                    text::list(&patterns)
                )
            };
            Reason {
                code: ReasonCode::MxCovered,
                ok: matched,
                message,
                evidence: Evidence::MxCoverage {
                    host,
                    matched,
                    patterns: patterns.clone(),
                },
            }
        })
        .collect()
}

/// `mx-certificates`: one reason per current MX host, whether it offers STARTTLS with a
/// certificate a sender accepts (RFC 8461 §4.2) for more than the days required.
fn mx_certificates(check: &CheckReport, thresholds: &Thresholds) -> Vec<Reason> {
    let need = i64::from(thresholds.min_certificate_days);
    mx_names(check)
        .into_iter()
        .map(|host| {
            let probe = check.mx_hosts.iter().find(|p| p.host == host);
            let tls = probe.and_then(|p| p.tls.as_ref());
            let names = tls
                .and_then(|t| t.certificate.chain.first())
                .map(|leaf| leaf.dns_names.clone())
                .unwrap_or_default();
            let problem = match (probe, tls) {
                (None, _) => Some("it was not probed".to_string()),
                (Some(probe), None) => Some(match &probe.error {
                    Some(error) => error.to_string(),
                    None if !probe.starttls_offered => "it does not offer STARTTLS".to_string(),
                    None => "its TLS session did not start".to_string(),
                }),
                _ => None,
            };
            let certificate = tls.map(|t| &t.certificate);
            let valid = certificate.is_some_and(|c| c.is_valid());
            let days_left = certificate.and_then(|c| c.days_left);
            let (ok, message) = match (certificate, &problem) {
                (_, Some(problem)) => (
                    false,
                    format!(
                        "the certificate of the MX host {host} could not be seen: {problem}; \
                         fix: offer STARTTLS on {host} with a certificate for {host} from a \
                         public CA"
                    ),
                ),
                (Some(cert), None) if !cert.is_valid() => (
                    false,
                    format!(
                        "the MX host {host} presents a certificate senders refuse: {}; fix: {}",
                        text::certificate_fault(cert, &host),
                        text::certificate_fix(cert, &host)
                    ),
                ),
                (Some(_), None) => match days_left {
                    Some(days) if days <= need => (
                        false,
                        format!(
                            "the certificate of the MX host {host} expires in {}; more than {} \
                             are needed: renew it now, and automate renewal",
                            count_noun(days.max(0).unsigned_abs(), "day", "days"),
                            count_noun(need.unsigned_abs(), "day", "days")
                        ),
                    ),
                    Some(days) => (
                        true,
                        format!(
                            "the MX host {host} presents a valid certificate for {}, with {} \
                             left",
                            text::list(&text::clean_all(&names)),
                            count_noun(days.unsigned_abs(), "day", "days")
                        ),
                    ),
                    None => (
                        false,
                        format!(
                            "the expiry date of the certificate of the MX host {host} could not \
                             be read"
                        ),
                    ),
                },
                (None, None) => (
                    false,
                    format!("the certificate of the MX host {host} could not be seen"),
                ),
            };
            Reason {
                code: ReasonCode::MxCertificates,
                ok,
                message,
                evidence: Evidence::Certificate(CertificateEvidence {
                    host,
                    valid,
                    days_left,
                    names,
                    problem,
                }),
            }
        })
        .collect()
}

/// `old-policy-expired`: every sender's copy of the policies before `mode: none` has expired,
/// so the records can go. RFC 8461 §8.3: publish `mode: none` with a new id, keep serving it
/// until the old max_age has run out, and only then remove the records; removed earlier, a
/// sender keeps applying its cached policy until it expires.
fn old_policy_expired(window: &Window, now: Timestamp) -> Reason {
    let today = now.utc_date();
    // A sender that used a policy on its last day fetched it then at the latest, so its copy
    // expires max_age after that day ends; the latest such expiry decides.
    let expiry = |seen: &SeenPolicy| {
        seen.max_age.map(|age| {
            UtcDate::from_day_number(
                seen.last_day.day_number() + 1 + (i64::from(age) + 86_399).div_euclid(86_400),
            )
            .unwrap_or(seen.last_day)
        })
    };
    let last = window
        .seen
        .iter()
        .filter(|seen| seen.mode.is_some_and(|mode| mode != Mode::None))
        // An unknown max_age may be the longest: it sorts last.
        .max_by_key(|seen| (expiry(seen).is_none(), expiry(seen), seen.last_day));
    let Some(
        seen @ SeenPolicy {
            mode,
            max_age,
            last_day,
            ..
        },
    ) = last
    else {
        return Reason {
            code: ReasonCode::OldPolicyExpired,
            ok: true,
            message: format!(
                "no report since {} shows senders using a policy of {} other than `mode: none`: \
                 remove the `_mta-sts` record first, then the policy file and the mta-sts host",
                window.from, window.domain
            ),
            evidence: Evidence::PolicyExpiry {
                mode: None,
                max_age: None,
                last_seen: None,
                expires: None,
            },
        };
    };
    let expires = expiry(seen);
    let mode_text = mode.map_or("earlier", Mode::as_str);
    let ok = expires.is_some_and(|day| today >= day);
    let message = match (max_age, expires) {
        (Some(age), Some(day)) if ok => format!(
            "senders last reported using the {mode_text} policy (max_age {age} s) on {}; every \
             copy expired by {}: remove the `_mta-sts` record first, then the policy file and \
             the mta-sts host",
            text::day(*last_day),
            text::day(day)
        ),
        (Some(age), Some(day)) => format!(
            "senders reported using the {mode_text} policy (max_age {age} s) on {}; a sender \
             that fetched it then may keep it until {}: keep serving `mode: none` (with its new \
             id) until then, and only then remove the `_mta-sts` record, then the policy file",
            text::day(*last_day),
            text::day(day)
        ),
        _ => format!(
            "senders reported using the {mode_text} policy on {}, whose max_age the reports do \
             not show: keep serving `mode: none` for the old policy's max_age after that day, \
             then remove the `_mta-sts` record, then the policy file",
            text::day(*last_day)
        ),
    };
    Reason {
        code: ReasonCode::OldPolicyExpired,
        ok,
        message,
        evidence: Evidence::PolicyExpiry {
            mode: mode.map(|m| m.as_str().to_string()),
            max_age: *max_age,
            last_seen: Some(*last_day),
            expires,
        },
    }
}

/// The names of the live MX hosts, in preference order.
fn mx_names(check: &CheckReport) -> Vec<String> {
    check
        .mx
        .as_ref()
        .filter(|mx| !mx.null_mx)
        .map(|mx| mx.hosts.iter().map(|(_, host)| host.clone()).collect())
        .unwrap_or_default()
}

/// What the live check sees now of the MX a failure group names: `: its certificate names
/// mail.example.net`.
fn live_state(check: &CheckReport, group: &FailureEvidence) -> String {
    let Some(host) = &group.receiving_mx_hostname else {
        return String::new();
    };
    let host = text::clean(&host.trim_end_matches('.').to_ascii_lowercase());
    if !mx_names(check).contains(&host) {
        return format!(": {host} is no longer an MX host of {}", check.domain);
    }
    let Some(probe) = check.mx_hosts.iter().find(|p| p.host == host) else {
        return String::new();
    };
    match &probe.tls {
        Some(tls) if tls.certificate.is_valid() => {
            format!(": the live check now finds a valid certificate on {host}")
        }
        Some(tls) => format!(": {}", text::certificate_fault(&tls.certificate, &host)),
        None => match &probe.error {
            Some(error) => format!(": the live check cannot start TLS with {host} ({error})"),
            None => format!(": {host} does not offer STARTTLS"),
        },
    }
}

/// What fixes a failure group, by result type (RFC 8460 §4.3).
fn remedy(check: &CheckReport, group: &FailureEvidence) -> String {
    let host = group
        .receiving_mx_hostname
        .as_deref()
        .map_or_else(|| "the MX host".to_string(), text::clean);
    let policy_host = format!("mta-sts.{}", check.domain);
    match group.result_type.as_str() {
        "certificate-host-mismatch" => {
            format!("install on {host} a certificate whose subjectAltName includes {host}")
        }
        "certificate-expired" => format!("renew the certificate of {host}, and automate renewal"),
        "certificate-not-trusted" => format!(
            "install on {host} a certificate from a public CA, with its intermediate certificates"
        ),
        "starttls-not-supported" => format!("enable STARTTLS on {host}"),
        "sts-policy-fetch-error" => {
            format!("make https://{policy_host}/.well-known/mta-sts.txt answer 200 with the policy")
        }
        "sts-policy-invalid" => "correct the policy file (`mta-sts lint policy`)".to_string(),
        "sts-webpki-invalid" => {
            format!("install on {policy_host} a certificate for it from a public CA")
        }
        "validation-failure" => format!(
            "check that {host} matches an `mx` pattern and presents a valid certificate; the \
             reports' failure details say more"
        ),
        _ => format!("look at the failure details of the reports about {host}"),
    }
}

#[cfg(test)]
mod tests;

/// Whether a policy type is `sts`.
fn is_sts(policy_type: &PolicyType) -> bool {
    *policy_type == PolicyType::Sts
}
