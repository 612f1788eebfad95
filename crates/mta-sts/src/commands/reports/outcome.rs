//! What `reports import` and `reports fetch` print about each report they take: with `--json`,
//! one JSON object per line (the outcome and the input it came from); otherwise a sentence on
//! standard output for a stored report. An input that was not taken is also named on standard
//! error, as a sentence, either way: an MTA or a cron job shows a person standard error.

use std::io::Write;

use mta_sts_reports::Outcome;

/// Prints outcomes, the same way for every intake command.
pub(super) struct OutcomePrinter {
    json: bool,
    /// The domains reports are kept for, as a person reads them (`example.com, example.net`).
    domains: String,
    /// Where those domains were given (`--domain`, or the configuration file's `domains`).
    domains_origin: String,
}

impl OutcomePrinter {
    pub(super) fn new(json: bool, domains: String, domains_origin: String) -> OutcomePrinter {
        OutcomePrinter {
            json,
            domains,
            domains_origin,
        }
    }

    /// Whether results are JSON lines.
    pub(super) fn json(&self) -> bool {
        self.json
    }

    /// One outcome of the input `label`: the JSON line or the sentence to `out`, the sentence
    /// about a report not taken to standard error.
    pub(super) fn outcome(
        &self,
        out: &mut impl Write,
        label: &str,
        outcome: &Outcome,
    ) -> std::io::Result<()> {
        if self.json {
            let mut value = serde_json::to_value(outcome).map_err(std::io::Error::other)?;
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "input".to_string(),
                    serde_json::Value::String(label.to_string()),
                );
            }
            writeln!(out, "{value}")?;
        }
        match outcome {
            Outcome::Imported {
                organization,
                report_id,
                start,
                end,
            } if !self.json => writeln!(
                out,
                "{label}: stored the report {report_id:?} from {organization} ({start} to {end})."
            ),
            Outcome::Duplicate {
                organization,
                report_id,
                ..
            } if !self.json => writeln!(
                out,
                "{label}: the report {report_id:?} from {organization} was already stored."
            ),
            Outcome::Imported { .. } | Outcome::Duplicate { .. } => Ok(()),
            Outcome::NotAReport { reason } => {
                eprintln!("mta-sts: {label} is not a TLS-RPT report: {reason}");
                Ok(())
            }
            Outcome::Invalid { reason } => {
                eprintln!("mta-sts: {label} holds an unreadable TLS-RPT report: {reason}");
                Ok(())
            }
            Outcome::RefusedDomain {
                organization,
                report_id,
                domains,
            } => {
                let about = if domains.is_empty() {
                    "names no policy domain".to_string()
                } else {
                    format!("is about {}", domains.join(", "))
                };
                eprintln!(
                    "mta-sts: {label}: the report {report_id:?} from {organization} {about}, not \
                     one of the domains given with {} ({}); it was not stored.",
                    self.domains_origin, self.domains
                );
                Ok(())
            }
        }
    }

    /// An input that was not read as a report at all (unreadable, too large): with `--json` a
    /// line `{"input", "result", "reason"}` to `out`; `sentence` to standard error either way.
    pub(super) fn untaken_input(
        &self,
        out: &mut impl Write,
        label: &str,
        result: &str,
        reason: &str,
        sentence: &str,
    ) -> std::io::Result<()> {
        if self.json {
            let value = serde_json::json!({
                "input": label,
                "result": result,
                "reason": reason,
            });
            writeln!(out, "{value}")?;
        }
        eprintln!("mta-sts: {sentence}");
        Ok(())
    }
}
