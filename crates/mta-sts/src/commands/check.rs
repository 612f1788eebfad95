//! `mta-sts check DOMAIN...`: the audit, as a report a domain owner reads or JSON a script reads.

use std::fmt::Write as _;

use mta_sts_check::{CheckReport, Checker, NetSettings, Outcome, Section, Verdict};
use mta_sts_core::domain;
use mta_sts_net::AddressGuard;

use super::{CommandError, emit, resolver, runtime, to_json, trust};
use crate::cli::CheckArgs;
use crate::exit::Status;

/// Checks every domain; exit 0 when none has an error, 1 when one has, 3 when none has but a
/// check could not be completed.
pub fn run(args: &CheckArgs, json: bool) -> Result<Status, CommandError> {
    let domains = args
        .domains
        .iter()
        .map(|d| {
            domain::normalize_mail_domain(d)
                .map_err(|e| CommandError::Argument(e.diagnostic().message.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timeout = args.timeout;
    let resolver = resolver(args.resolver.as_deref())?;
    let trust = trust(args.ca_file.as_deref())?;
    let settings = NetSettings {
        resolver,
        trust,
        https_port: args.https_port,
        smtp_port: args.smtp_port,
        timeout,
        // The CLI dials whatever DNS answers; the web checker turns the guard on.
        guard: AddressGuard::AllowAll,
        probe_smtp: !args.no_smtp,
    };
    let checker =
        Checker::from_settings(&settings).map_err(|e| CommandError::Setup(e.to_string()))?;
    let reports = runtime()?.block_on(async {
        // Domains are checked one after another: each check already runs its lookups and probes
        // concurrently, and a long list should not open hundreds of connections at once.
        let mut reports = Vec::new();
        for domain in &domains {
            reports.push(checker.check(domain).await);
        }
        reports
    });
    let text = if json {
        if reports.len() == 1 {
            to_json(&reports[0])?
        } else {
            to_json(&reports)?
        }
    } else {
        reports.iter().map(human).collect::<Vec<_>>().join("\n")
    };
    emit(&text)?;
    // An error found is certain even where other parts could not be learnt, so it decides first.
    Ok(if reports.iter().any(|r| r.verdict == Verdict::Fail) {
        Status::Invalid
    } else if reports.iter().any(|r| r.outcome != Outcome::Complete) {
        Status::Incomplete
    } else {
        Status::Valid
    })
}

/// The report a domain owner reads: the verdict, then each part of the setup with what was seen
/// and its findings, then what to publish.
pub fn human(report: &CheckReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} ({}) in {} ms",
        report.domain,
        report.verdict.as_str().to_uppercase(),
        report.summary(),
        report.timings_ms.total
    );
    if let Some(reason) = &report.incomplete {
        let _ = writeln!(out, "  {reason}");
    }
    if report.outcome == Outcome::NoSuchDomain {
        return out;
    }
    for view in report.sections() {
        let _ = writeln!(out, "\n{} [{}]", view.section.title(), view.status);
        // What was not learnt is said instead of "no usable record" or "not fetched"; the MX
        // hosts are still listed when only a host's address was not learnt.
        if view.not_learnt.is_empty() || view.section == Section::MxHosts {
            for line in seen(report, view.section) {
                let _ = writeln!(out, "  {line}");
            }
        }
        for unknown in &view.not_learnt {
            let _ = writeln!(out, "  {unknown}");
        }
        for finding in &view.findings {
            let _ = writeln!(
                out,
                "  {}[{}]: {}",
                finding.severity.as_str(),
                finding.code,
                finding.message
            );
            let _ = writeln!(out, "      fix: {}", finding.remediation);
        }
    }
    let publish = &report.publish;
    if publish.sts_record.is_some() || publish.policy.is_some() || publish.tlsrpt_record.is_some() {
        let _ = writeln!(out, "\nTo publish");
        if let Some(record) = &publish.sts_record {
            let _ = writeln!(out, "  {record}");
        }
        if let Some(record) = &publish.tlsrpt_record {
            let _ = writeln!(out, "  {record}");
        }
        if let Some(policy) = &publish.policy {
            let _ = writeln!(
                out,
                "  https://mta-sts.{}/.well-known/mta-sts.txt (text/plain):",
                report.domain
            );
            for line in policy.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let _ = writeln!(out, "\n{}", mta_sts_check::CANNOT_PROVE);
    out
}

/// What was seen in one part of the setup, one line each.
fn seen(report: &CheckReport, section: Section) -> Vec<String> {
    match section {
        Section::Records => vec![match &report.sts_record {
            Some(record) => format!("_mta-sts.{}  {record}", report.domain),
            None => format!("_mta-sts.{}  (no usable record)", report.domain),
        }],
        Section::Policy => match (&report.policy, &report.policy_error) {
            (Some(policy), _) => {
                let fetch = &policy.fetch;
                let mut lines = vec![format!(
                    "{} via {} ({}, {})",
                    policy.url, fetch.address, fetch.tls_version, fetch.content_type
                )];
                if let (Some(mode), Some(max_age)) = (policy.mode, policy.max_age) {
                    lines.push(format!(
                        "mode {mode}, max_age {max_age}, mx {}",
                        policy.mx.join(", ")
                    ));
                }
                let id = report.sts_record.as_ref().map_or("none", |r| r.id.as_str());
                // A changed body under an unchanged id is the classic forgotten step.
                lines.push(format!(
                    "sha256 {} beside TXT id {id}: change the id whenever this hash changes",
                    &policy.sha256[..16]
                ));
                lines
            }
            (None, Some(error)) => vec![format!("not fetched: {error}")],
            (None, None) => Vec::new(),
        },
        Section::MxHosts => {
            let mut lines = Vec::new();
            if let Some(mx) = &report.mx {
                if mx.null_mx {
                    lines.push("null MX: the domain accepts no mail".to_string());
                }
                for (preference, host) in &mx.hosts {
                    let probe = report.mx_hosts.iter().find(|p| &p.host == host);
                    lines.push(format!(
                        "{preference} {host}  {}",
                        probe.map_or_else(|| "not probed".to_string(), describe_probe)
                    ));
                }
            }
            lines
        }
        Section::TlsRpt => vec![match &report.tlsrpt_record {
            Some(record) => format!("_smtp._tls.{}  {record}", report.domain),
            None => format!("_smtp._tls.{}  (no usable record)", report.domain),
        }],
    }
}

fn describe_probe(probe: &mta_sts_net::MxProbe) -> String {
    let address = probe
        .address
        .map_or_else(|| "-".to_string(), |a| a.ip().to_string());
    let state = match (&probe.tls, &probe.error, probe.starttls_offered) {
        (Some(tls), _, _) => format!(
            "STARTTLS {}, certificate {}{}",
            tls.version,
            if tls.certificate.is_valid() {
                "valid"
            } else {
                "INVALID"
            },
            tls.certificate
                .days_left
                .map(|d| format!(", {d} days left"))
                .unwrap_or_default()
        ),
        (None, Some(error), _) => error.to_string(),
        (None, None, false) => "no STARTTLS".to_string(),
        (None, None, true) => "STARTTLS offered".to_string(),
    };
    format!("{address}  {state}")
}
