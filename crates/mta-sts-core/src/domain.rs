//! Host names as MTA-STS uses them: RFC 5321 `Domain` in A-label form.
//!
//! RFC 8461 §3.2 defines `mx` patterns over RFC 5321's `Domain` and requires A-labels (punycode)
//! rather than U-labels; senders compare names case-insensitively with any trailing dot ignored
//! (§4.1). This module validates such names and turns user input (possibly Unicode) into the form
//! every other part of the toolkit compares.

use std::fmt;

use crate::{Diagnostic, Error};

/// RFC 1035 §2.3.4: at most 255 octets on the wire, which is 253 characters in text form.
pub const MAX_NAME_LEN: usize = 253;
/// RFC 1035 §2.3.4: a label is at most 63 octets.
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name is not an RFC 5321 `Domain` in A-label form; `offset` is the byte offset of the
/// problem in the checked text, so callers can place a caret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainProblem {
    /// What is wrong.
    pub kind: DomainProblemKind,
    /// Byte offset of the offending part in the checked text.
    pub offset: usize,
    /// Length in bytes of the offending part.
    pub len: usize,
}

/// The ways a name can fail to be an RFC 5321 `Domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainProblemKind {
    /// Nothing to check.
    Empty,
    /// Longer than 253 characters.
    TooLong(usize),
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A label of more than 63 characters.
    LabelTooLong(usize),
    /// A character outside letters, digits and `-` (an underscore, a space, `#`, ...).
    BadChar(char),
    /// A label that starts or ends with `-` (RFC 5321 `Let-dig` at both ends).
    HyphenAtEdge,
    /// An `xn--` label that is not valid punycode for a valid U-label.
    BadALabel,
}

impl fmt::Display for DomainProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainProblemKind::Empty => f.write_str("the name is empty"),
            DomainProblemKind::TooLong(n) => {
                write!(
                    f,
                    "the name is {n} characters long; at most {MAX_NAME_LEN} are allowed"
                )
            }
            DomainProblemKind::EmptyLabel => {
                f.write_str("the name has an empty label (`..` or a leading dot)")
            }
            DomainProblemKind::LabelTooLong(n) => {
                write!(
                    f,
                    "a label is {n} characters long; at most {MAX_LABEL_LEN} are allowed"
                )
            }
            DomainProblemKind::BadChar('_') => f.write_str(
                "`_` is not allowed in a host name (underscore labels name DNS records, not hosts)",
            ),
            DomainProblemKind::BadChar(c) if c.is_whitespace() => {
                f.write_str("a host name cannot contain whitespace")
            }
            DomainProblemKind::BadChar(c) => {
                write!(
                    f,
                    "`{}` is not allowed in a host name (letters, digits, `-` and `.` only)",
                    c.escape_default()
                )
            }
            DomainProblemKind::HyphenAtEdge => f.write_str("a label cannot start or end with `-`"),
            DomainProblemKind::BadALabel => f.write_str("an `xn--` label is not valid punycode"),
        }
    }
}

/// Checks that `name` (without a trailing dot) is an RFC 5321 `Domain` written with A-labels.
pub fn check_a_label_domain(name: &str) -> Result<(), DomainProblem> {
    let problem = |kind, offset, len| Err(DomainProblem { kind, offset, len });
    if name.is_empty() {
        return problem(DomainProblemKind::Empty, 0, 0);
    }
    if name.len() > MAX_NAME_LEN {
        return problem(DomainProblemKind::TooLong(name.len()), 0, name.len());
    }
    let mut offset = 0;
    for label in name.split('.') {
        // RFC 5321 §4.1.2: sub-domain = Let-dig [Ldh-str]; Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
        if label.is_empty() {
            return problem(DomainProblemKind::EmptyLabel, offset, 1);
        }
        if let Some((i, c)) = label
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return problem(DomainProblemKind::BadChar(c), offset + i, c.len_utf8());
        }
        if label.len() > MAX_LABEL_LEN {
            return problem(
                DomainProblemKind::LabelTooLong(label.len()),
                offset,
                label.len(),
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return problem(DomainProblemKind::HyphenAtEdge, offset, label.len());
        }
        // RFC 8461 §3.2 (via RFC 5890): an A-label must decode to a valid U-label.
        if label.len() > 4 && label[..4].eq_ignore_ascii_case("xn--") {
            let (_, result) = idna::domain_to_unicode(label);
            if result.is_err() {
                return problem(DomainProblemKind::BadALabel, offset, label.len());
            }
        }
        offset += label.len() + 1;
    }
    Ok(())
}

/// The A-label form of a name that contains U-labels (`bücher.example` → `xn--bcher-kva.example`),
/// or `None` if it cannot be converted.
pub fn to_a_labels(name: &str) -> Option<String> {
    idna::domain_to_ascii(name).ok().filter(|s| !s.is_empty())
}

/// Turns user input into the form names are compared in: U-labels converted to A-labels,
/// lowercase, without a trailing dot; then checks it is a valid `Domain`.
///
/// IP literals are refused: MTA-STS names hosts, never addresses.
pub fn normalize(input: &str) -> Result<String, Error> {
    let trimmed = input.trim();
    let without_dot = trimmed.strip_suffix('.').unwrap_or(trimmed);
    let invalid =
        |message: String| Error::InvalidDomain(Diagnostic::error("domain-invalid", message));
    if without_dot.parse::<std::net::IpAddr>().is_ok()
        || (without_dot.starts_with('[') && without_dot.ends_with(']'))
    {
        return Err(invalid(format!(
            "`{trimmed}` is an IP address, not a host name"
        )));
    }
    let ascii = if without_dot.is_ascii() {
        without_dot.to_ascii_lowercase()
    } else {
        to_a_labels(without_dot)
            .ok_or_else(|| invalid(format!("`{trimmed}` is not a valid internationalized name")))?
    };
    check_a_label_domain(&ascii).map_err(|p| invalid(format!("`{trimmed}`: {}", p.kind)))?;
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc5321_domains() {
        for ok in [
            "example.com",
            "mx1.example.com",
            "a",
            "xn--bcher-kva.example",
            "a-b.c0.d",
        ] {
            assert_eq!(check_a_label_domain(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_each_problem_with_its_kind() {
        let cases: &[(&str, DomainProblemKind)] = &[
            ("", DomainProblemKind::Empty),
            ("a..b", DomainProblemKind::EmptyLabel),
            (".a", DomainProblemKind::EmptyLabel),
            ("_mta-sts.example.com", DomainProblemKind::BadChar('_')),
            ("mail.example.com#frag", DomainProblemKind::BadChar('#')),
            ("-a.example", DomainProblemKind::HyphenAtEdge),
            ("a-.example", DomainProblemKind::HyphenAtEdge),
            (
                "xn--zz-zzzzzzzzzzzzzzzzzzz.example",
                DomainProblemKind::BadALabel,
            ),
        ];
        for (name, kind) in cases {
            let problem = check_a_label_domain(name).expect_err(name);
            assert_eq!(&problem.kind, kind, "{name}");
        }
        let long_label = "a".repeat(64);
        assert_eq!(
            check_a_label_domain(&long_label).map_err(|p| p.kind),
            Err(DomainProblemKind::LabelTooLong(64))
        );
        let long_name = [
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(60),
            "e".repeat(60),
        ]
        .join(".");
        assert!(matches!(
            check_a_label_domain(&long_name).map_err(|p| p.kind),
            Err(DomainProblemKind::TooLong(_))
        ));
    }

    #[test]
    fn problem_offsets_point_at_the_culprit() {
        let p = check_a_label_domain("mx.under_score.example").expect_err("underscore");
        assert_eq!((p.offset, p.len), (8, 1));
    }

    #[test]
    fn normalize_lowercases_strips_dot_and_converts_idn() {
        assert_eq!(
            normalize("MX1.Example.COM.").ok().as_deref(),
            Some("mx1.example.com")
        );
        assert_eq!(
            normalize("bücher.example").ok().as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            normalize(" example.org ").ok().as_deref(),
            Some("example.org")
        );
    }

    #[test]
    fn normalize_refuses_ip_literals_and_garbage() {
        for bad in [
            "192.0.2.1",
            "2001:db8::1",
            "[192.0.2.1]",
            "",
            "a b.example",
            "exa_mple.com",
            "https://x",
        ] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }
}
