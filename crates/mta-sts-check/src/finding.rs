//! Findings and verdicts: the checker's public vocabulary. Codes are [`FindingCode`]s, whose
//! names are stable and never renamed.

use mta_sts_core::{FindingCode, Section, Severity};
use serde::{Deserialize, Serialize};

/// One thing the checker found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which part of the setup it is about.
    pub section: Section,
    /// The stable code (`mx-not-in-policy`).
    pub code: FindingCode,
    /// How much it matters (the code's severity).
    pub severity: Severity,
    /// What was found, naming the record, host or value.
    pub message: String,
    /// What to change.
    pub remediation: String,
}

/// The one status word of every report: of the whole check (its verdict), of a section, of one
/// MX host. The CLI, the JSON and the web page all say these words, and only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No errors, no warnings, and everything could be learnt.
    Pass,
    /// Warnings only.
    Warn,
    /// At least one error.
    Fail,
    /// No error, but something could not be learnt (a lookup got no answer, or the domain does
    /// not exist): nothing certain can be said.
    Unknown,
}

impl Verdict {
    /// The verdict for a set of findings, everything having been learnt: `fail` with any error,
    /// else `warn` with any warning, else `pass`.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Verdict {
        Verdict::judge(findings, false)
    }

    /// The verdict for findings when some part could not be learnt (`unlearnt`): an error is
    /// still certain (`fail`); anything better is `unknown`.
    pub fn judge<'a>(findings: impl IntoIterator<Item = &'a Finding>, unlearnt: bool) -> Verdict {
        let worst = findings.into_iter().map(|f| f.severity).min();
        match (worst, unlearnt) {
            (Some(Severity::Error), _) => Verdict::Fail,
            (_, true) => Verdict::Unknown,
            (Some(Severity::Warning), false) => Verdict::Warn,
            _ => Verdict::Pass,
        }
    }

    /// The word, as every renderer shows it (`pass`, `warn`, `fail`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: FindingCode) -> Finding {
        Finding {
            section: code.section(),
            code,
            severity: code.severity(),
            message: String::new(),
            remediation: String::new(),
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(Verdict::of(&[]), Verdict::Pass);
        let warning = finding(FindingCode::TlsrptMissing);
        let error = finding(FindingCode::MxNone);
        assert_eq!(Verdict::of([&warning]), Verdict::Warn);
        assert_eq!(Verdict::of([&warning, &error]), Verdict::Fail);
        // What could not be learnt makes anything but a certain error unknown.
        assert_eq!(Verdict::judge(&[], true), Verdict::Unknown);
        assert_eq!(Verdict::judge([&warning], true), Verdict::Unknown);
        assert_eq!(Verdict::judge([&error], true), Verdict::Fail);
    }

    #[test]
    fn the_json_says_the_same_word() {
        for verdict in [
            Verdict::Pass,
            Verdict::Warn,
            Verdict::Fail,
            Verdict::Unknown,
        ] {
            assert_eq!(
                serde_json::to_string(&verdict).expect("serializes"),
                format!("\"{verdict}\"")
            );
        }
    }
}
