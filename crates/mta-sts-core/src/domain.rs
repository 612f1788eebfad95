//! Host names as MTA-STS uses them: RFC 5321 `Domain` in A-label form.
//!
//! RFC 8461 §3.2 defines `mx` patterns over RFC 5321's `Domain` and requires A-labels (punycode)
//! rather than U-labels; senders compare names case-insensitively with any trailing dot ignored
//! (§4.1). This module validates such names and turns user input (possibly Unicode) into the form
//! every other part of the toolkit compares.

use std::fmt;

use crate::{Diagnostic, Error};

mod input;

pub(crate) use input::is_default_ignorable;

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

/// RFC 8461 §3.1: the policy record of `<domain>` is the TXT record at `_mta-sts.<domain>`.
const STS_RECORD_PREFIX: &str = "_mta-sts.";

/// The longest mail domain (in A-labels, without the root dot) that can have an MTA-STS record:
/// `_mta-sts.` plus the name must still fit RFC 1035's 253 characters.
pub const MAX_MAIL_DOMAIN_LEN: usize = MAX_NAME_LEN - STS_RECORD_PREFIX.len();

/// Turns a host name a person typed (an MX host) into the form names are compared in: U-labels
/// converted to A-labels, lowercase, without a trailing dot; then checks it is a valid `Domain`.
///
/// Refused with a sentence naming the problem: IP addresses in any spelling (MTA-STS names
/// hosts, never addresses), control characters, and invisible characters (which IDNA would
/// drop, so the name checked would not be the one shown).
pub fn normalize(input: &str) -> Result<String, Error> {
    normalize_as(input, NameRole::Host)
}

/// Like [`normalize`], for the domain a policy is looked up for (the part after the `@`): also
/// refused when `_mta-sts.` plus the name is longer than DNS allows, as no such record can exist.
pub fn normalize_mail_domain(input: &str) -> Result<String, Error> {
    normalize_as(input, NameRole::MailDomain)
}

/// Refuses input with a control character (a line break, a tab, NUL, ...) or an invisible one
/// (zero-width space, joiners, soft hyphen, byte order mark, ...), naming the character by code
/// point. [`normalize`] does this first; front ends that look for URLs, ports and addresses in
/// the input call it before their own checks, so a line break is called a line break.
pub fn check_visible_characters(input: &str) -> Result<(), Error> {
    let Some(hidden) = input::first_hidden_char(input) else {
        return Ok(());
    };
    let character = input::describe(hidden.char);
    let position = hidden.position;
    Err(if hidden.control {
        Error::InvalidDomain(Diagnostic::error(
            "domain-control-character",
            format!(
                "the input has the control character {character} at character {position}, \
                 and a domain name is one line of letters, digits, `-` and `.`"
            ),
        ))
    } else {
        Error::InvalidDomain(Diagnostic::error(
            "domain-invisible-character",
            format!(
                "the input has the invisible character {character} at character {position}: \
                 it would be dropped or refused when the name is looked up, so the name checked \
                 would not be the one you see; type the name again without it"
            ),
        ))
    })
}

/// What a name is for, which decides the words of a refusal and the length limit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameRole {
    /// An MX host (`mta-sts match`).
    Host,
    /// A mail domain whose MTA-STS record is looked up (`check`, the web checker, the daemon).
    MailDomain,
}

impl NameRole {
    fn noun(self) -> &'static str {
        match self {
            NameRole::Host => "a host name",
            NameRole::MailDomain => "a mail domain",
        }
    }
}

fn normalize_as(input: &str, role: NameRole) -> Result<String, Error> {
    check_visible_characters(input)?;
    let trimmed = input.trim();
    let without_dot = trimmed.strip_suffix('.').unwrap_or(trimmed);
    let shown = input::Shown(trimmed);
    let noun = role.noun();
    let invalid = |code: &'static str, message: String| {
        Error::InvalidDomain(Diagnostic::error(code, message))
    };
    if without_dot.parse::<std::net::IpAddr>().is_ok()
        || (without_dot.starts_with('[') && without_dot.ends_with(']'))
    {
        return Err(invalid(
            "domain-ip-address",
            format!("{shown} is an IP address, not {noun}"),
        ));
    }
    let ascii = if without_dot.is_ascii() {
        without_dot.to_ascii_lowercase()
    } else {
        to_a_labels(without_dot).ok_or_else(|| {
            invalid(
                "domain-invalid",
                format!("{shown} is not a valid internationalized name"),
            )
        })?
    };
    // Judged on the A-label form, so full-width digits (`１２７.１`) are caught as well.
    if input::ends_in_a_number(&ascii) {
        let message = match input::legacy_ipv4(&ascii) {
            Some(ip) => format!(
                "{shown} is the IPv4 address {ip} written another way (browsers and the system \
                 resolver read it so); an IP address is not {noun}"
            ),
            None => format!(
                "{shown} ends in a number, so browsers and resolvers take it for an IPv4 \
                 address (no top-level domain is all digits); an IP address is not {noun}"
            ),
        };
        return Err(invalid("domain-ip-address", message));
    }
    // RFC 8461 §3.1 with RFC 1035 §2.3.4: the record `_mta-sts.<domain>` must fit 253 octets.
    if role == NameRole::MailDomain && ascii.len() > MAX_MAIL_DOMAIN_LEN {
        // The typed length is in the echo; a Unicode name is longer once in A-labels.
        let converted = if trimmed.is_ascii() {
            String::new()
        } else {
            format!(" written in A-labels it is {} characters, and", ascii.len())
        };
        return Err(invalid(
            "domain-too-long",
            format!(
                "{shown} is too long for a mail domain:{converted} with `{STS_RECORD_PREFIX}` in \
                 front its MTA-STS record name would be {} characters, over DNS's limit of \
                 {MAX_NAME_LEN}; a mail domain has at most {MAX_MAIL_DOMAIN_LEN}",
                ascii.len() + STS_RECORD_PREFIX.len()
            ),
        ));
    }
    check_a_label_domain(&ascii)
        .map_err(|p| invalid("domain-invalid", format!("{shown}: {}", p.kind)))?;
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
