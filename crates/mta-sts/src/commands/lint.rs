//! `mta-sts lint`: a policy file, a TXT record or a TLS-RPT report against its RFC.

use std::io::Read;
use std::path::Path;

use mta_sts_core::{
    Lint, Policy, Report, StsRecord, TlsRptRecord, policy_lint, report, report_lint, sts_record,
    tlsrpt_record,
};

use super::{CommandError, display_path, emit, to_json};
use crate::cli::LintTarget;
use crate::exit::Status;
use crate::render::{self, Source, Style};

/// The most this command reads from a file or standard input. Policies over 64 KiB and reports
/// over 16 MiB decompressed are already errors; this only keeps a wrong path (a disk image, a
/// device) from filling memory.
const MAX_INPUT: u64 = 64 * 1024 * 1024;

/// Lints the target and prints the result; exit 0 when valid, 1 when not.
pub fn run(target: LintTarget, json: bool) -> Result<Status, CommandError> {
    match target {
        LintTarget::Policy { file } => {
            let body = read_input(&file)?;
            let lint = policy_lint::lint(&body);
            let text = String::from_utf8_lossy(&body);
            let name = display_path(&file);
            let source = Source {
                name: &name,
                text: &text,
                single_line: false,
            };
            finish(&source, &lint, policy_verdict(&lint), json)
        }
        LintTarget::StsRecord { text } => {
            let lint = sts_record::lint(&text);
            let source = Source {
                name: "record",
                text: &text,
                single_line: true,
            };
            finish(&source, &lint, sts_verdict(&lint), json)
        }
        LintTarget::TlsrptRecord { text } => {
            let lint = tlsrpt_record::lint(&text);
            let source = Source {
                name: "record",
                text: &text,
                single_line: true,
            };
            finish(&source, &lint, tlsrpt_verdict(&lint), json)
        }
        LintTarget::Report { file } => {
            let bytes = read_input(&file)?;
            let lint = report_lint::lint(&bytes);
            // Diagnostics point into the JSON, so show the decompressed text.
            let json_text = report::decode(&bytes)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let name = display_path(&file);
            let source = Source {
                name: &name,
                text: &json_text,
                single_line: false,
            };
            finish(&source, &lint, report_verdict(&lint), json)
        }
    }
}

fn finish<T: serde::Serialize>(
    source: &Source<'_>,
    lint: &Lint<T>,
    verdict: String,
    json: bool,
) -> Result<Status, CommandError> {
    let text = if json {
        to_json(lint)?
    } else {
        render::lint_report(source, lint, &verdict, Style::for_stdout())
    };
    emit(&text)?;
    Ok(if lint.valid {
        Status::Valid
    } else {
        Status::Invalid
    })
}

fn read_input(path: &Path) -> Result<Vec<u8>, CommandError> {
    let read_error = |source| CommandError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(read_error)?)
    };
    reader
        .take(MAX_INPUT + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(CommandError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_INPUT,
        });
    }
    Ok(bytes)
}

fn policy_verdict(lint: &Lint<Policy>) -> String {
    match &lint.parsed {
        Some(policy) => {
            let mx: Vec<&str> = policy.mx.iter().map(|p| p.as_str()).collect();
            format!(
                "mode {}, max_age {} ({}), mx {}",
                policy.mode,
                policy.max_age,
                render::duration(policy.max_age),
                if mx.is_empty() {
                    "none".to_string()
                } else {
                    mx.join(", ")
                }
            )
        }
        None => "senders would not use this policy (RFC 8461 §3.2)".into(),
    }
}

fn sts_verdict(lint: &Lint<StsRecord>) -> String {
    match &lint.parsed {
        Some(record) => format!("policy id {}", record.id),
        None => "senders would treat the domain as having no MTA-STS policy (RFC 8461 §3.1)".into(),
    }
}

fn tlsrpt_verdict(lint: &Lint<TlsRptRecord>) -> String {
    match &lint.parsed {
        Some(record) => {
            let rua: Vec<String> = record.rua.iter().map(ToString::to_string).collect();
            format!("reports go to {}", rua.join(", "))
        }
        None => "senders would not send TLS reports for the domain (RFC 8460 §3)".into(),
    }
}

fn report_verdict(lint: &Lint<Report>) -> String {
    match &lint.parsed {
        Some(r) => {
            // Per policy, never summed: reporters count the same sessions under `sts` and `tlsa`.
            let policies: Vec<String> = r
                .policies
                .iter()
                .map(|p| {
                    format!(
                        "{} {}: {} successful, {} failed",
                        p.policy.policy_type,
                        p.policy.policy_domain.as_deref().unwrap_or("(no domain)"),
                        p.summary.total_successful_session_count,
                        p.summary.total_failure_session_count
                    )
                })
                .collect();
            format!(
                "report {} from {}; {}",
                r.report_id,
                r.organization_name,
                if policies.is_empty() {
                    "no policies".to_string()
                } else {
                    policies.join("; ")
                }
            )
        }
        None => "the report could not be read (RFC 8460 §4)".into(),
    }
}
