//! The MTA-STS policy file (RFC 8461 §3.2) and a sender's reading of it.
//!
//! The reading follows the grammar, with the two allowances widely deployed senders make and that
//! [`crate::policy_lint`] reports as warnings: blank lines are skipped and whitespace after a value
//! is trimmed. Everything else outside the grammar refuses the policy. Within the grammar the RFC's
//! own reading rules apply: unknown fields are ignored, a repeated field other than `mx` keeps its
//! first value, every `mx` line counts, and LF and CRLF both end a line.

use std::fmt;

use serde::Serialize;

use crate::{Error, MxPattern, policy_lint};

/// RFC 8461 §3.2: `max_age` is at most 31557600 seconds (about a year).
pub const MAX_MAX_AGE: u32 = 31_557_600;

/// What a sender does when an MX fails validation (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Do not deliver to an MX that fails matching or certificate validation, or lacks STARTTLS.
    Enforce,
    /// Deliver anyway, and report failures with TLS-RPT.
    Testing,
    /// Treat the domain as having no policy (the way to retire MTA-STS).
    None,
}

impl Mode {
    /// The exact policy-file spelling (the field is case-sensitive).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }

    /// RFC 8461 §3.2: `%s"testing" / %s"enforce" / %s"none"`, case-sensitive.
    pub fn from_policy_value(value: &str) -> Option<Mode> {
        match value {
            "enforce" => Some(Mode::Enforce),
            "testing" => Some(Mode::Testing),
            "none" => Some(Mode::None),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy as a sender uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// How long a sender may cache the policy, in seconds (at most [`MAX_MAX_AGE`]).
    pub max_age: u32,
    /// The MX host patterns, in policy order (may be empty only in mode `none`).
    pub mx: Vec<MxPattern>,
    /// Extension fields, in policy order (senders ignore them).
    pub extensions: Vec<(String, String)>,
}

impl Policy {
    /// Reads a policy body as a sender does; the error carries the first problem a sender would
    /// refuse it for (use [`policy_lint::lint`] to see all of them).
    pub fn parse(body: &[u8]) -> Result<Policy, Error> {
        let lint = policy_lint::lint(body);
        let first_error = lint.first_error().cloned();
        match (lint.parsed, first_error) {
            (Some(policy), _) => Ok(policy),
            (None, Some(error)) => Err(Error::InvalidPolicy(error)),
            (None, None) => Err(Error::InvalidPolicy(crate::Diagnostic::error(
                policy_lint::PolicyCode::Empty.as_str(),
                "the policy could not be read",
            ))),
        }
    }

    /// Whether an MX host name matches any of the policy's patterns (RFC 8461 §4.1).
    pub fn matches_mx(&self, host: &str) -> bool {
        self.mx.iter().any(|p| p.matches(host))
    }
}

impl fmt::Display for Policy {
    /// Renders the policy as a file to publish, one field per line with LF line ends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "version: STSv1")?;
        writeln!(f, "mode: {}", self.mode)?;
        for mx in &self.mx {
            writeln!(f, "mx: {mx}")?;
        }
        writeln!(f, "max_age: {}", self.max_age)?;
        for (name, value) in &self.extensions {
            writeln!(f, "{name}: {value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_8461_example_policy() {
        // RFC 8461 §3.2's example, with its CRLF line ends.
        let body = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";
        let policy = Policy::parse(body).expect("RFC example");
        assert_eq!(policy.mode, Mode::Enforce);
        assert_eq!(policy.max_age, 604_800);
        let mx: Vec<&str> = policy.mx.iter().map(MxPattern::as_str).collect();
        assert_eq!(
            mx,
            ["mail.example.com", "*.example.net", "backupmx.example.com"]
        );
        assert!(policy.matches_mx("mx1.example.net"));
        assert!(!policy.matches_mx("example.net"));
    }

    #[test]
    fn first_value_of_a_repeated_field_wins_and_every_mx_counts() {
        let body = b"version: STSv1\nmode: testing\nmode: enforce\nmx: a.example.org\nmax_age: 86400\nmax_age: 1\nmx: b.example.org\n";
        let policy = Policy::parse(body).expect("valid with warnings");
        assert_eq!(policy.mode, Mode::Testing);
        assert_eq!(policy.max_age, 86400);
        assert_eq!(policy.mx.len(), 2);
    }

    #[test]
    fn unknown_fields_are_kept_as_extensions() {
        let body = b"version: STSv1\nmode: none\nmax_age: 86400\nfoo: bar baz\n";
        let policy = Policy::parse(body).expect("valid");
        assert_eq!(
            policy.extensions,
            [("foo".to_string(), "bar baz".to_string())]
        );
        assert!(policy.mx.is_empty());
    }

    #[test]
    fn display_renders_a_policy_that_parses_back() {
        let body = b"version: STSv1\nmode: enforce\nmx: mail.example.org\nmx: *.mx.example.org\nmax_age: 604800\n";
        let policy = Policy::parse(body).expect("valid");
        assert_eq!(policy.to_string().as_bytes(), body);
        assert_eq!(Policy::parse(policy.to_string().as_bytes()), Ok(policy));
    }

    #[test]
    fn errors_carry_the_first_problem() {
        let err =
            Policy::parse(b"version: STSv1\nmode: enforced\nmx: a.example.org\nmax_age: 86400\n")
                .expect_err("bad mode");
        assert_eq!(err.diagnostic().code, "mode-invalid");
        assert_eq!(err.diagnostic().line, Some(2));
        assert!(Policy::parse(b"").is_err());
    }

    #[test]
    fn mode_spellings_are_case_sensitive() {
        assert_eq!(Mode::from_policy_value("enforce"), Some(Mode::Enforce));
        assert_eq!(Mode::from_policy_value("Enforce"), None);
        assert_eq!(Mode::from_policy_value("testing "), None);
    }
}
