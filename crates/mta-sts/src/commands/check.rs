//! `mta-sts check DOMAIN...`: the audit, as a report a domain owner reads or JSON a script reads.

use std::fmt::Write as _;
use std::time::Duration;

use mta_sts_check::{CheckReport, Checker, NetSettings, Verdict};
use mta_sts_core::{Severity, domain};
use mta_sts_net::{AddressGuard, Trust};

use super::{CommandError, emit, runtime, to_json};
use crate::cli::CheckArgs;
use crate::exit::Status;

/// Checks every domain; exit 0 when none has an error, 1 when one has.
pub fn run(args: &CheckArgs, json: bool) -> Result<Status, CommandError> {
    let domains = args
        .domains
        .iter()
        .map(|d| {
            domain::normalize(d).map_err(|e| CommandError::Argument(e.diagnostic().message.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 600.0) {
        return Err(CommandError::Argument(format!(
            "--timeout {} is not between 0 and 600 seconds",
            args.timeout
        )));
    }
    let resolver = args
        .resolver
        .as_deref()
        .map(mta_sts_net::dns::parse_upstream)
        .transpose()
        .map_err(|e| CommandError::Argument(e.to_string()))?;
    let trust = match &args.ca_file {
        Some(path) => {
            Trust::web_pki_and_pem_file(path).map_err(|e| CommandError::Setup(e.to_string()))?
        }
        None => Trust::web_pki(),
    };
    let settings = NetSettings {
        resolver,
        trust,
        https_port: args.https_port,
        smtp_port: args.smtp_port,
        timeout: Duration::from_secs_f64(args.timeout),
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
    Ok(if reports.iter().any(|r| r.verdict == Verdict::Fail) {
        Status::Invalid
    } else {
        Status::Valid
    })
}

/// The report a domain owner reads: verdict, findings with fixes, then what was seen.
pub fn human(report: &CheckReport) -> String {
    let mut out = String::new();
    let errors = mta_sts_check::count(&report.findings, Severity::Error);
    let warnings = mta_sts_check::count(&report.findings, Severity::Warning);
    let _ = writeln!(
        out,
        "{}: {} ({errors} error{}, {warnings} warning{}) in {} ms",
        report.domain,
        report.verdict.to_string().to_uppercase(),
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
        report.elapsed_ms
    );
    for finding in &report.findings {
        let _ = writeln!(
            out,
            "  {}[{}]: {}",
            finding.severity.as_str(),
            finding.code,
            finding.message
        );
        let _ = writeln!(out, "      fix: {}", finding.remediation);
    }
    let _ = writeln!(out, "  records");
    match &report.sts_record {
        Some(record) => {
            let _ = writeln!(out, "    _mta-sts    {record}");
        }
        None => {
            let _ = writeln!(out, "    _mta-sts    (none usable)");
        }
    }
    match &report.tlsrpt_record {
        Some(record) => {
            let _ = writeln!(out, "    _smtp._tls  {record}");
        }
        None => {
            let _ = writeln!(out, "    _smtp._tls  (none usable)");
        }
    }
    match (&report.policy, &report.policy_error) {
        (Some(policy), _) => {
            let _ = writeln!(
                out,
                "  policy  {} ({}, sha256 {})",
                policy.fetch.url,
                policy.fetch.tls_version,
                &policy.sha256[..16]
            );
            if let Some(parsed) = &policy.parsed {
                let mx: Vec<&str> = parsed.mx.iter().map(|p| p.as_str()).collect();
                let _ = writeln!(
                    out,
                    "    mode {}, max_age {}, mx {}",
                    parsed.mode,
                    parsed.max_age,
                    mx.join(", ")
                );
            }
        }
        (None, Some(error)) => {
            let _ = writeln!(out, "  policy  not fetched: {error}");
        }
        (None, None) => {}
    }
    if !report.mx_hosts.is_empty() {
        let _ = writeln!(out, "  MX hosts");
    }
    for probe in &report.mx_hosts {
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
        let _ = writeln!(out, "    {}  {address}  {state}", probe.host);
    }
    out
}
