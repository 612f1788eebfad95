//! `mta-sts lint`: a policy file, a TXT record or a TLS-RPT report against its RFC.

use std::io::{Read, Write};
use std::path::Path;

use mta_sts_core::lint_text::Source;
use mta_sts_core::policy_lint::MAX_POLICY_SIZE;
use mta_sts_core::report::MAX_REPORT_SIZE;
use mta_sts_core::{
    Lint, Policy, Report, StsRecord, TlsRptRecord, policy_lint, report, report_lint, sts_record,
    tlsrpt_record,
};

use super::{CommandError, display_path, emit};
use crate::cli::LintTarget;
use crate::exit::Status;
use crate::render::{self, Style};

/// Lints the target and prints the result; exit 0 when valid, 1 when not.
pub fn run(target: LintTarget, json: bool) -> Result<Status, CommandError> {
    match target {
        LintTarget::Policy { file } => {
            let input = read_input(&file, MAX_POLICY_SIZE)?;
            let lint = policy_lint::lint(&input.bytes);
            let name = display_path(&file);
            let source = Source {
                name: &name,
                bytes: &input.bytes,
                single_line: false,
                stopped_after: input.stopped_after(),
            };
            finish(&source, &lint, policy_verdict(&lint), json)
        }
        LintTarget::StsRecord { text } => {
            let lint = sts_record::lint(&text);
            finish(&record(&text), &lint, sts_verdict(&lint), json)
        }
        LintTarget::TlsrptRecord { text } => {
            let lint = tlsrpt_record::lint(&text);
            finish(&record(&text), &lint, tlsrpt_verdict(&lint), json)
        }
        LintTarget::Report { file } => {
            let input = read_input(&file, MAX_REPORT_SIZE)?;
            let lint = report_lint::lint(&input.bytes);
            // Diagnostics point into the JSON, so show the decompressed text.
            let json_text = report::decode(&input.bytes).unwrap_or_default();
            let name = display_path(&file);
            let source = Source {
                name: &name,
                bytes: &json_text,
                single_line: false,
                stopped_after: input.stopped_after(),
            };
            finish(&source, &lint, report_verdict(&lint), json)
        }
    }
}

/// A TXT record given on the command line.
fn record(text: &str) -> Source<'_> {
    Source {
        name: "record",
        bytes: text.as_bytes(),
        single_line: true,
        stopped_after: None,
    }
}

fn finish<T: serde::Serialize>(
    source: &Source<'_>,
    lint: &Lint<T>,
    verdict: String,
    json: bool,
) -> Result<Status, CommandError> {
    if json {
        // Streamed: a policy of blank lines has 65,536 diagnostics, 16 MB of JSON, which need
        // not sit in memory as one string first.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, lint)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .map_err(CommandError::Write)?;
    } else {
        emit(&render::lint_report(
            source,
            lint,
            &verdict,
            Style::for_stdout(),
        ))?;
    }
    Ok(if lint.valid {
        Status::Valid
    } else {
        Status::Invalid
    })
}

/// The bytes read from a file or standard input, up to a limit.
struct Input {
    bytes: Vec<u8>,
    /// The limit the input was read up to; `bytes` holds one byte more when the input passes it.
    limit: usize,
}

impl Input {
    /// When reading stopped at the limit, the number of bytes read.
    fn stopped_after(&self) -> Option<usize> {
        (self.bytes.len() > self.limit).then_some(self.bytes.len())
    }
}

/// Reads at most `limit` + 1 bytes: one byte past the limit is enough for the linter to say the
/// input is too large, and a hostile server piped in, a disk image or `/dev/zero` is never read
/// further.
fn read_input(path: &Path, limit: usize) -> Result<Input, CommandError> {
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
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    Ok(Input { bytes, limit })
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
