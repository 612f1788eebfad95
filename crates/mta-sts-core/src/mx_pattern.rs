//! `mx` patterns and MX host matching (RFC 8461 §3.2 `sts-policy-mx`, §4.1).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::diagnostic::{codes, width_of};
use crate::domain::{self, DomainProblemKind};
use crate::{Diagnostic, Error};

codes! {
    /// Diagnostic codes for one `mx` value of a policy.
    pub enum MxCode {
        /// `mx:` with no value.
        Empty = "mx-empty",
        /// A URL (`https://mail.example.com/`) instead of a host name.
        Url = "mx-url",
        /// Several hosts on one `mx:` line; each needs its own line.
        MultipleValues = "mx-multiple-values",
        /// An IP address; patterns match MX host names, never addresses.
        IpAddress = "mx-ip-address",
        /// A host with a port (`mail.example.com:25`).
        Port = "mx-port",
        /// A Unicode (U-label) name; RFC 8461 §3.2 requires A-labels.
        ULabel = "mx-u-label",
        /// `*` anywhere but as the whole left-most label.
        WildcardInvalid = "mx-wildcard-invalid",
        /// `*.` directly over a top-level domain (`*.com`).
        WildcardBroad = "mx-wildcard-broad",
        /// Not an RFC 5321 domain (underscore, empty label, bad character, ...).
        Invalid = "mx-invalid",
        /// A trailing dot; harmless to matching senders, but outside the grammar.
        TrailingDot = "mx-trailing-dot",
        /// A single-label name such as `mail` or `localhost`.
        SingleLabel = "mx-single-label",
        /// A placeholder left from a template (`mail.yourdomain.com`, `example.com`).
        Placeholder = "mx-placeholder",
    }
}

/// One `mx` pattern: a host name, or `*.` followed by a domain to match exactly one more label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxPattern {
    /// The pattern as written in the policy.
    text: String,
    /// Whether the pattern begins with `*.`.
    wildcard: bool,
    /// The domain after any `*.`, lowercase, without a trailing dot.
    base: String,
}

/// A pattern after linting: the pattern, if a sender would accept it, and what the linter saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxLint {
    /// The pattern a sender reads, when no diagnostic is an error.
    pub pattern: Option<MxPattern>,
    /// Findings, with columns relative to the start of the value (1-based).
    pub diagnostics: Vec<Diagnostic>,
}

impl MxPattern {
    /// Reads one pattern as a conforming sender does; refuses anything the linter calls an error.
    pub fn parse(text: &str) -> Result<MxPattern, Error> {
        let lint = Self::lint(text);
        match lint.pattern {
            Some(p) => Ok(p),
            None => Err(Error::InvalidMxPattern(
                lint.diagnostics
                    .into_iter()
                    .find(Diagnostic::is_error)
                    .unwrap_or_else(|| {
                        Diagnostic::error(MxCode::Invalid.as_str(), "invalid mx pattern")
                    }),
            )),
        }
    }

    /// Lints one `mx` value (without the `mx:` and surrounding whitespace).
    pub fn lint(value: &str) -> MxLint {
        let mut diagnostics = Vec::new();
        let pattern = lint_value(value, &mut diagnostics);
        let pattern = if diagnostics.iter().any(Diagnostic::is_error) {
            None
        } else {
            pattern
        };
        MxLint {
            pattern,
            diagnostics,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern begins with `*.`.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The domain after any `*.`, lowercase and without a trailing dot.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether the pattern is shaped like an IPv4 address (`192.0.2.25`: four all-digit labels,
    /// each at most 255). RFC 5321's `Domain` grammar admits it, so a policy listing it is valid,
    /// but it matches no MX host name (RFC 8461 §4.1), and OpenSSL reads such a name as an
    /// address to match against the certificate: a sender leaves it out of what it hands its TLS
    /// library. IPv6 forms are not patterns at all (the grammar has no `:`).
    pub fn is_address_shaped(&self) -> bool {
        !self.wildcard && is_dotted_quad(&self.base)
    }

    /// Whether an MX host name matches this pattern.
    ///
    /// RFC 8461 §4.1: names compare case-insensitively; a trailing dot is ignored; `*.example.com`
    /// matches exactly one additional left-most label (`mx1.example.com`), neither `example.com`
    /// nor `a.b.example.com`.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        if !self.wildcard {
            return host.eq_ignore_ascii_case(&self.base);
        }
        let Some(split) = host.len().checked_sub(self.base.len() + 1) else {
            return false;
        };
        let (label, rest) = (host.get(..split), host.get(split..));
        match (label, rest) {
            (Some(label), Some(rest)) => {
                !label.is_empty()
                    && !label.contains('.')
                    && rest.starts_with('.')
                    && rest[1..].eq_ignore_ascii_case(&self.base)
            }
            _ => false,
        }
    }
}

impl fmt::Display for MxPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for MxPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

fn at(d: Diagnostic, value: &str, byte_offset: usize, byte_len: usize) -> Diagnostic {
    let column = crate::diagnostic::column_of(value, byte_offset);
    let width = value
        .get(byte_offset..byte_offset + byte_len)
        .map_or(1, width_of);
    d.at_column(column, width)
}

fn lint_value(value: &str, out: &mut Vec<Diagnostic>) -> Option<MxPattern> {
    if value.is_empty() {
        out.push(
            Diagnostic::error(MxCode::Empty.as_str(), "`mx:` has no host name")
                .with_hint("write one MX host per line, e.g. `mx: mail.example.com`"),
        );
        return None;
    }
    if let Some(scheme_end) = value.find("://") {
        let host = value[scheme_end + 3..]
            .split(['/', ':', '?', '#'])
            .next()
            .unwrap_or_default();
        let d = Diagnostic::error(
            MxCode::Url.as_str(),
            format!("`{value}` is a URL, not an MX host name"),
        )
        .with_hint(format!("write `mx: {host}`"));
        out.push(at(d, value, 0, value.len()));
        return None;
    }
    if let Some(pos) = value.find(|c: char| c == ',' || c.is_whitespace()) {
        let hosts: Vec<&str> = value
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(|h| h.trim_matches(['[', ']', '"', '\'']))
            .filter(|s| !s.is_empty())
            .collect();
        let d = Diagnostic::error(
            MxCode::MultipleValues.as_str(),
            format!("`{value}` holds several values; an `mx:` line holds one pattern"),
        )
        .with_hint(
            hosts
                .iter()
                .map(|h| format!("mx: {h}"))
                .collect::<Vec<_>>()
                .join(" / one per line: "),
        );
        out.push(at(d, value, pos, 1));
        return None;
    }
    let bare = value.trim_start_matches('[').trim_end_matches(']');
    // A dotted quad (`192.0.2.25`) is an RFC 5321 `Domain` (labels may be all digits), so the
    // policy is valid and is kept: the pattern just matches no MX host name (RFC 8461 §4.1).
    // It is a warning here and in the checker; the daemon leaves it out of its replies
    // ([`MxPattern::is_address_shaped`]). Brackets and IPv6 colons are outside the grammar.
    if bare == value && is_dotted_quad(value.strip_suffix('.').unwrap_or(value)) {
        let d = Diagnostic::warning(
            MxCode::IpAddress.as_str(),
            format!(
                "`{value}` is an IP address; `mx` patterns match MX host names, never addresses, \
                 so this line matches no MX host (senders that pass it to their TLS library as a \
                 name to match may then require the address in every MX certificate)"
            ),
        )
        .with_hint("list the host name your MX record points to");
        out.push(at(d, value, 0, value.len()));
        // Its shape is fully checked (four digit labels): no further name rules apply, so a
        // rule meant for names typed as domains (an all-digit top label) cannot refuse it.
        return Some(MxPattern {
            text: value.to_string(),
            wildcard: false,
            base: value.strip_suffix('.').unwrap_or(value).to_string(),
        });
    }
    if bare.parse::<std::net::IpAddr>().is_ok() {
        let d = Diagnostic::error(
            MxCode::IpAddress.as_str(),
            format!(
                "`{value}` is an IP address; `mx` patterns match MX host names, never addresses"
            ),
        )
        .with_hint("list the host name your MX record points to");
        out.push(at(d, value, 0, value.len()));
        return None;
    }
    if let Some((host, port)) = value.rsplit_once(':')
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
    {
        let d = Diagnostic::error(
            MxCode::Port.as_str(),
            format!("`{value}` has a port; patterns are host names only"),
        )
        .with_hint(format!("write `mx: {host}`"));
        out.push(at(d, value, host.len(), port.len() + 1));
        return None;
    }

    let (wildcard, rest, rest_offset) = match value.strip_prefix("*.") {
        Some(rest) => (true, rest, 2),
        None => (false, value, 0),
    };
    // RFC 8461 §3.2: `*.` may only appear as the whole left-most label.
    if let Some(star) = rest.find('*') {
        let offset = rest_offset + star;
        let d = Diagnostic::error(
            MxCode::WildcardInvalid.as_str(),
            format!(
                "`{value}`: `*` is only allowed as the whole left-most label, as in `*.example.com`"
            ),
        );
        let d = match rest.get(star + 1..).and_then(|after| after.find('.')) {
            Some(dot) if !wildcard => {
                d.with_hint(format!("write `mx: *.{}`", &rest[star + 1 + dot + 1..]))
            }
            _ => d,
        };
        out.push(at(d, value, offset, 1));
        return None;
    }

    let (domain_part, trailing_dot) = match rest.strip_suffix('.') {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if !domain_part.is_ascii() {
        // RFC 8461 §3.2: mx patterns are A-labels (RFC 5890), never U-labels.
        let d = Diagnostic::error(
            MxCode::ULabel.as_str(),
            format!("`{value}` is written with Unicode (U-labels); the policy must use A-labels"),
        );
        let d = match domain::to_a_labels(domain_part) {
            Some(a) => d.with_hint(format!(
                "write `mx: {}{a}`",
                if wildcard { "*." } else { "" }
            )),
            None => d,
        };
        out.push(at(d, value, 0, value.len()));
        return None;
    }
    if let Err(problem) = domain::check_a_label_domain(domain_part) {
        let mut d = Diagnostic::error(
            MxCode::Invalid.as_str(),
            format!("`{value}`: {}", problem.kind),
        );
        if let DomainProblemKind::BadChar('#' | '/' | '?') = problem.kind {
            let host = domain_part[..problem.offset].to_string();
            d = d.with_hint(format!("write `mx: {host}`"));
        }
        out.push(at(
            d,
            value,
            rest_offset + problem.offset,
            problem.len.max(1),
        ));
        return None;
    }

    let base = domain_part.to_ascii_lowercase();
    if trailing_dot {
        let d = Diagnostic::warning(
            MxCode::TrailingDot.as_str(),
            format!("`{value}` ends with a dot; the grammar has none (matching senders ignore it)"),
        )
        .with_hint(format!("write `mx: {}`", &value[..value.len() - 1]));
        out.push(at(d, value, value.len() - 1, 1));
    }
    let labels = base.split('.').count();
    if wildcard && labels == 1 {
        let d = Diagnostic::warning(
            MxCode::WildcardBroad.as_str(),
            format!("`{value}` allows any host under the top-level domain `{base}`"),
        )
        .with_hint("name your own MX domain, e.g. `*.example.com`");
        out.push(at(d, value, 0, value.len()));
    } else if !wildcard && labels == 1 {
        let d = Diagnostic::warning(
            MxCode::SingleLabel.as_str(),
            format!("`{value}` is a single-label name; MX hosts are fully qualified"),
        )
        .with_hint("write the full host name, e.g. `mx: mail.example.com`");
        out.push(at(d, value, 0, value.len()));
    }
    if is_placeholder(&base) {
        let d = Diagnostic::warning(
            MxCode::Placeholder.as_str(),
            format!("`{value}` looks like a placeholder from a template or documentation"),
        )
        .with_hint("list the host names of your real MX records");
        out.push(at(d, value, 0, value.len()));
    }
    Some(MxPattern {
        text: value.to_string(),
        wildcard,
        base,
    })
}

/// Four dot-separated all-digit labels, each at most 255 (leading zeros allowed, as the C
/// library's address parsers read them): a name that OpenSSL takes for an IPv4 address.
fn is_dotted_quad(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() == 4
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_digit())
                && label.trim_start_matches('0').len() <= 3
                && label.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

/// Names that documentation and templates use in place of a real host.
fn is_placeholder(base: &str) -> bool {
    const MARKERS: [&str; 5] = [
        "yourdomain",
        "your-domain",
        "yourprovider",
        "mydomain",
        "domain.tld",
    ];
    const RESERVED: [&str; 3] = ["example.com", "example.net", "example.org"];
    MARKERS.iter().any(|m| base.contains(m))
        || RESERVED
            .iter()
            .any(|r| base == *r || base.strip_suffix(r).is_some_and(|p| p.ends_with('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> MxPattern {
        MxPattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn codes(value: &str) -> Vec<&'static str> {
        MxPattern::lint(value)
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect()
    }

    #[test]
    fn exact_pattern_matches_case_insensitively_and_ignores_trailing_dot() {
        let p = pattern("mail.example.org");
        assert!(p.matches("mail.example.org"));
        assert!(p.matches("MAIL.Example.ORG"));
        assert!(p.matches("mail.example.org."));
        assert!(!p.matches("mail2.example.org"));
        assert!(!p.matches("x.mail.example.org"));
        assert!(!p.matches("example.org"));
    }

    #[test]
    fn wildcard_matches_exactly_one_label() {
        // RFC 8461 §4.1's own example.
        let p = pattern("*.example.com");
        assert!(p.matches("mx1.example.com"));
        assert!(p.matches("MX1.EXAMPLE.COM."));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("a.b.example.com"));
        assert!(!p.matches(".example.com"));
        assert!(!p.matches("mx1example.com"));
        assert!(!p.matches("mx1.example.co"));
        assert!(!p.matches(""));
    }

    #[test]
    fn uppercase_pattern_matches_lowercase_host() {
        assert!(pattern("*.MX.Example.Org").matches("a.mx.example.org"));
        assert_eq!(pattern("*.MX.Example.Org").base(), "mx.example.org");
    }

    #[test]
    fn non_ascii_host_never_panics_or_matches() {
        let p = pattern("*.example.com");
        // The split point falls inside `é`: must answer, not panic on a char boundary.
        assert!(!p.matches("éexample.com"));
        assert!(!pattern("a.example.com").matches("ä.example.com"));
        assert!(!p.matches("éxample.com"));
    }

    #[test]
    fn a_dotted_quad_is_kept_with_a_warning() {
        // RFC 5321's Domain allows all-digit labels: valid, but it matches no MX host name.
        for value in ["192.0.2.25", "192.0.2.25.", "010.000.002.025"] {
            let lint = MxPattern::lint(value);
            let pattern = lint.pattern.as_ref().expect("kept");
            assert!(pattern.is_address_shaped(), "{value}");
            assert!(!pattern.matches("mx.example.com"));
            assert_eq!(lint.diagnostics[0].code, "mx-ip-address", "{value}");
            assert!(!lint.diagnostics[0].is_error(), "{value}");
        }
        // Not four labels, a label over 255, a wildcard: names like any other.
        for value in [
            "1.2.3",
            "1.2.3.4.5",
            "192.0.2.256",
            "*.192.0.2.25",
            "mx1.192.0.2.25",
        ] {
            let pattern = MxPattern::parse(value).expect("valid name");
            assert!(!pattern.is_address_shaped(), "{value}");
        }
        assert!(!pattern("mx.example.com").is_address_shaped());
    }

    #[test]
    fn each_bad_value_has_its_code() {
        let cases: &[(&str, &str)] = &[
            ("", "mx-empty"),                                           // nothing after `mx:`
            ("https://mail.example.com/", "mx-url"),                    // URL pasted
            ("mx1.example.com, mx2.example.com", "mx-multiple-values"), // list on one line
            ("mx1.example.com mx2.example.com", "mx-multiple-values"),
            ("2001:db8::25", "mx-ip-address"),             // IPv6
            ("[192.0.2.25]", "mx-ip-address"),             // address literal
            ("mail.example.com:25", "mx-port"),            // port
            ("mail.bücher.example", "mx-u-label"),         // U-label
            ("mail.*.example.com", "mx-wildcard-invalid"), // star inside
            ("*mail.example.com", "mx-wildcard-invalid"),  // star glued to a label
            ("*.*.example.com", "mx-wildcard-invalid"),    // two stars
            ("*", "mx-wildcard-invalid"),                  // bare star
            ("_mx.example.com", "mx-invalid"),             // underscore label
            ("mail.example.com#main", "mx-invalid"),       // URL fragment
            ("mail..example.com", "mx-invalid"),           // empty label
            ("-mail.example.com", "mx-invalid"),           // leading hyphen
        ];
        for (value, code) in cases {
            let lint = MxPattern::lint(value);
            assert!(lint.pattern.is_none(), "{value:?} should be refused");
            assert_eq!(lint.diagnostics[0].code, *code, "{value:?}");
        }
    }

    #[test]
    fn warnings_keep_the_pattern() {
        let cases: &[(&str, &str)] = &[
            ("mail.example.org.", "mx-trailing-dot"),
            ("*.com", "mx-wildcard-broad"),
            ("mail", "mx-single-label"),
            ("mail.yourdomain.com", "mx-placeholder"),
            ("mx.example.com", "mx-placeholder"),
        ];
        for (value, code) in cases {
            let lint = MxPattern::lint(value);
            assert!(lint.pattern.is_some(), "{value:?} should be kept");
            assert!(codes(value).contains(code), "{value:?}: {:?}", codes(value));
        }
    }

    #[test]
    fn trailing_dot_pattern_still_matches() {
        let p = pattern("mail.example.org.");
        assert!(p.matches("mail.example.org"));
        assert_eq!(p.as_str(), "mail.example.org.");
    }

    #[test]
    fn hints_give_the_fix() {
        let hint = |v: &str| {
            MxPattern::lint(v).diagnostics[0]
                .hint
                .clone()
                .unwrap_or_default()
        };
        assert_eq!(
            hint("mail.bücher.example"),
            "write `mx: mail.xn--bcher-kva.example`"
        );
        assert_eq!(
            hint("*.bücher.example"),
            "write `mx: *.xn--bcher-kva.example`"
        );
        assert_eq!(
            hint("https://mail.example.org:443/x"),
            "write `mx: mail.example.org`"
        );
        assert_eq!(hint("mail.example.org:25"), "write `mx: mail.example.org`");
        assert_eq!(hint("*mail.example.org"), "write `mx: *.example.org`");
        assert_eq!(hint("mail.example.org#x"), "write `mx: mail.example.org`");
        assert_eq!(hint("mail.example.org."), "write `mx: mail.example.org`");
    }

    #[test]
    fn columns_point_into_the_value() {
        let d = &MxPattern::lint("mx.under_score.org").diagnostics[0];
        assert_eq!((d.column, d.width), (Some(9), 1));
        let d = &MxPattern::lint("*.a_b.org").diagnostics[0];
        assert_eq!(d.column, Some(4));
    }

    #[test]
    fn display_and_json_keep_the_text_as_written() {
        let p = pattern("*.MX.example.org");
        assert_eq!(p.to_string(), "*.MX.example.org");
        assert_eq!(
            serde_json::to_string(&p).ok().as_deref(),
            Some("\"*.MX.example.org\"")
        );
        assert!(p.is_wildcard());
    }
}
