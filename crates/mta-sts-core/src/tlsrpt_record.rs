//! The `_smtp._tls` TXT record (RFC 8460 §3): `v=TLSRPTv1; rua=mailto:...,https://...`.

use std::fmt;

use serde::Serialize;

use crate::diagnostic::codes;
use crate::txt_discovery::{self, Discovery, RecordKind, Tokens};
use crate::{Diagnostic, Error, Lint};

const KIND: RecordKind = RecordKind {
    tag: "v=TLSRPTv1",
    owner: "_smtp._tls",
    known_fields: &["rua"],
};

codes! {
    /// Diagnostic codes for the `rua` field of a `_smtp._tls` record (shared record codes are in
    /// [`crate::txt_discovery::RecordCode`]).
    pub enum TlsRptRecordCode {
        /// No `rua=` field.
        RuaMissing = "tlsrpt-rua-missing",
        /// An address without `mailto:` (`rua=reports@example.com`), the most common mistake.
        RuaBareAddress = "tlsrpt-rua-bare-address",
        /// A scheme other than `mailto:` or `https:` (`http:` included).
        RuaScheme = "tlsrpt-rua-scheme",
        /// A `mailto:` or `https:` URI that is malformed (no address, no host, empty item).
        RuaInvalid = "tlsrpt-rua-invalid",
        /// A `!` or `,` inside a URI that should be percent-encoded.
        RuaUnescaped = "tlsrpt-rua-unescaped",
        /// The same URI listed twice.
        RuaDuplicate = "tlsrpt-rua-duplicate",
    }
}

/// Where reports are sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scheme", content = "uri", rename_all = "lowercase")]
pub enum ReportUri {
    /// `mailto:` — reports are mailed (RFC 8460 §5.3).
    Mailto(String),
    /// `https:` — reports are POSTed (RFC 8460 §5.2).
    Https(String),
}

impl fmt::Display for ReportUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportUri::Mailto(uri) | ReportUri::Https(uri) => f.write_str(uri),
        }
    }
}

/// A `_smtp._tls` record as a reporting sender reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsRptRecord {
    /// The report destinations, in record order.
    pub rua: Vec<ReportUri>,
    /// Extension fields, in record order (readers ignore them).
    pub extensions: Vec<(String, String)>,
}

impl TlsRptRecord {
    /// Reads one record as a conforming sender does: the first error refuses it.
    pub fn parse(text: &str) -> Result<TlsRptRecord, Error> {
        let lint = lint(text);
        let first_error = lint.first_error().cloned();
        lint.parsed.ok_or_else(|| {
            Error::InvalidTlsRptRecord(first_error.unwrap_or_else(|| {
                Diagnostic::error(TlsRptRecordCode::RuaMissing.as_str(), "no rua")
            }))
        })
    }
}

impl fmt::Display for TlsRptRecord {
    /// Renders the record as it should be published.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=TLSRPTv1; rua=")?;
        for (i, uri) in self.rua.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{uri}")?;
        }
        for (name, value) in &self.extensions {
            write!(f, "; {name}={value}")?;
        }
        Ok(())
    }
}

/// Lints one `_smtp._tls` TXT record value (its strings already joined).
pub fn lint(text: &str) -> Lint<TlsRptRecord> {
    let (diagnostics, parsed) = read(text);
    Lint::strict(diagnostics, parsed)
}

/// Reads a record the way a reporting sender uses it: tolerantly, where [`lint`] and
/// [`TlsRptRecord::parse`] are strict. A record that does not begin with `v=TLSRPTv1` is
/// refused (RFC 8460 §3: such records are discarded), and so is one without `rua=`; otherwise
/// `parsed` holds every `rua` URI that is a valid `mailto:` or `https:` URI, and the
/// diagnostics say what else was wrong, such as a destination skipped because it is a bare
/// address (`rua=reports@example.com`) or has another scheme. `parsed.rua` may be empty when
/// every destination was skipped.
pub fn read_for_sending(text: &str) -> Lint<TlsRptRecord> {
    let (diagnostics, parsed) = read(text);
    let refused = !text.starts_with(KIND.tag)
        || diagnostics.iter().any(|d| {
            [
                txt_discovery::RecordCode::Empty.as_str(),
                txt_discovery::RecordCode::Quoted.as_str(),
                txt_discovery::RecordCode::VersionMissing.as_str(),
                txt_discovery::RecordCode::VersionNotFirst.as_str(),
                TlsRptRecordCode::RuaMissing.as_str(),
            ]
            .contains(&d.code)
        });
    if refused {
        let mut diagnostics = diagnostics;
        if !diagnostics.iter().any(Diagnostic::is_error) {
            diagnostics.push(Diagnostic::error(
                txt_discovery::RecordCode::VersionMissing.as_str(),
                format!("the record does not begin with `{}`", KIND.tag),
            ));
        }
        return Lint::tolerant(diagnostics, None);
    }
    Lint::tolerant(diagnostics, parsed)
}

/// The diagnostics of a record and what a sender reads from it, before the strict or the
/// tolerant rule decides whether it is used.
fn read(text: &str) -> (Vec<Diagnostic>, Option<TlsRptRecord>) {
    let mut tokens = txt_discovery::tokenize(KIND, text);
    txt_discovery::check_known_fields(KIND, &mut tokens);
    let rua = tokens.first("rua").map(|f| (f.value, f.value_offset));
    let mut diagnostics = std::mem::take(&mut tokens.diagnostics);
    let uris = match rua {
        None => {
            // RFC 8460 §3: `rua` is required.
            diagnostics.push(
                Diagnostic::error(
                    TlsRptRecordCode::RuaMissing.as_str(),
                    "the record has no `rua=` field",
                )
                .with_hint(
                    "add where reports go, e.g. `v=TLSRPTv1; rua=mailto:tlsrpt@example.com`",
                ),
            );
            None
        }
        Some((value, offset)) => Some(check_rua(&tokens, value, offset, &mut diagnostics)),
    };
    let parsed = uris.map(|rua| TlsRptRecord {
        rua,
        extensions: tokens
            .fields
            .iter()
            .filter(|f| f.name != "rua")
            .map(|f| (f.name.to_string(), f.value.to_string()))
            .collect(),
    });
    (diagnostics, parsed)
}

/// RFC 8460 §3: `tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)`, each URI
/// `mailto:` or `https:`.
fn check_rua(
    tokens: &Tokens<'_>,
    value: &str,
    offset: usize,
    out: &mut Vec<Diagnostic>,
) -> Vec<ReportUri> {
    let mut uris: Vec<ReportUri> = Vec::new();
    if value.is_empty() {
        return uris; // Reported as an empty value by the tokenizer.
    }
    let mut item_start = 0;
    for item in value.split(',') {
        let lead = item.len() - item.trim_start_matches([' ', '\t']).len();
        let uri = item.trim_matches([' ', '\t']);
        let at = offset + item_start + lead;
        item_start += item.len() + 1;
        let place = |d: Diagnostic, len: usize| tokens.place(d, at, len);
        if uri.is_empty() {
            out.push(place(
                Diagnostic::error(
                    TlsRptRecordCode::RuaInvalid.as_str(),
                    "`rua` has an empty item (two commas, or a trailing comma)",
                )
                .with_hint("remove the extra comma"),
                1,
            ));
            continue;
        }
        let lower = uri.to_ascii_lowercase();
        let parsed = if uri.contains([' ', '\t']) {
            // RFC 8460 §3: whitespace is allowed only around the commas that separate URIs.
            let parts: Vec<&str> = uri.split([' ', '\t']).filter(|p| !p.is_empty()).collect();
            Err(Diagnostic::error(
                TlsRptRecordCode::RuaInvalid.as_str(),
                format!("`{uri}` contains whitespace; destinations are separated by commas"),
            )
            .with_hint(format!("write `rua={}`", parts.join(","))))
        } else if let Some(address) = lower.strip_prefix("mailto:").map(|_| &uri[7..]) {
            check_mailto(uri, address).map(|()| ReportUri::Mailto(uri.to_string()))
        } else if lower.starts_with("https://") {
            check_https(uri).map(|()| ReportUri::Https(uri.to_string()))
        } else if !uri.contains(':') && uri.contains('@') {
            Err(Diagnostic::error(
                TlsRptRecordCode::RuaBareAddress.as_str(),
                format!("`{uri}` is an address, not a URI: reporters need `mailto:`"),
            )
            .with_hint(format!("write `rua=mailto:{uri}`")))
        } else {
            let d = Diagnostic::error(
                TlsRptRecordCode::RuaScheme.as_str(),
                format!("`{uri}`: reports go only to `mailto:` or `https:` URIs"),
            );
            Err(match uri.split_once(':') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => {
                    d.with_hint(format!("write `https:{rest}`"))
                }
                _ => d,
            })
        };
        match parsed {
            Ok(report_uri) if uris.contains(&report_uri) => out.push(place(
                Diagnostic::warning(
                    TlsRptRecordCode::RuaDuplicate.as_str(),
                    format!("`{uri}` is listed twice"),
                )
                .with_hint("list each destination once"),
                uri.len(),
            )),
            Ok(report_uri) => uris.push(report_uri),
            Err(d) => out.push(place(d, uri.len())),
        }
    }
    uris
}

fn check_mailto(uri: &str, address: &str) -> Result<(), Diagnostic> {
    let invalid = |why: &str| {
        Diagnostic::error(
            TlsRptRecordCode::RuaInvalid.as_str(),
            format!("`{uri}`: {why}"),
        )
    };
    let addr = address.split('?').next().unwrap_or(address);
    if let Some(c) = addr.chars().find(|c| *c == '!') {
        // RFC 8460 §3: "!" and "," inside a URI must be percent-encoded (%21, %2C).
        return Err(Diagnostic::error(
            TlsRptRecordCode::RuaUnescaped.as_str(),
            format!("`{uri}`: `{c}` must be percent-encoded inside a URI"),
        )
        .with_hint(format!("write `mailto:{}`", address.replace('!', "%21"))));
    }
    match addr.rsplit_once('@') {
        None => Err(invalid("a `mailto:` URI needs an address with `@`")),
        Some(("", _)) => Err(invalid("the address has no local part before `@`")),
        Some((_, domain)) if crate::domain::check_a_label_domain(domain).is_err() => {
            Err(invalid("the address's domain is not a valid host name"))
        }
        Some(_) => Ok(()),
    }
}

fn check_https(uri: &str) -> Result<(), Diagnostic> {
    let rest = &uri["https://".len()..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    if rest.contains('!') {
        return Err(Diagnostic::error(
            TlsRptRecordCode::RuaUnescaped.as_str(),
            format!("`{uri}`: `!` must be percent-encoded inside a URI"),
        )
        .with_hint(format!("write `{}`", uri.replace('!', "%21"))));
    }
    if host.is_empty() || crate::domain::check_a_label_domain(host).is_err() {
        return Err(Diagnostic::error(
            TlsRptRecordCode::RuaInvalid.as_str(),
            format!("`{uri}` has no valid host name"),
        ));
    }
    Ok(())
}

/// Applies RFC 8460 §3's rule to every TXT record at `_smtp._tls.<domain>`: records not beginning
/// with `v=TLSRPTv1;` are discarded; exactly one must remain, or the domain does not want reports.
pub fn discover<S: AsRef<[u8]>>(records: &[Vec<S>]) -> Discovery<TlsRptRecord> {
    txt_discovery::discover(KIND, records, lint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        lint(text).diagnostics.iter().map(|d| d.code).collect()
    }

    #[test]
    fn a_sender_skips_bad_destinations_and_keeps_the_good_ones() {
        // tlsrpt-reporter #54: a `rua=` without `mailto:` crashed the reporter.
        let read = read_for_sending(
            "v=TLSRPTv1; rua=reports@example.com,mailto:tlsrpt@example.com,ftp://x.example",
        );
        assert!(!read.valid);
        assert!(read.has("tlsrpt-rua-bare-address"));
        assert!(read.has("tlsrpt-rua-scheme"));
        assert_eq!(
            read.parsed.map(|r| r.rua),
            Some(vec![ReportUri::Mailto("mailto:tlsrpt@example.com".into())])
        );
        // Only bad destinations: read, with nowhere to send.
        let read = read_for_sending("v=TLSRPTv1; rua=reports@example.com");
        assert_eq!(read.parsed.map(|r| r.rua.len()), Some(0));
    }

    #[test]
    fn a_sender_refuses_records_without_version_or_rua() {
        for text in [
            "",
            "v=TLSRPTv2; rua=mailto:a@example.com",
            " v=TLSRPTv1; rua=mailto:a@example.com",
            "rua=mailto:a@example.com; v=TLSRPTv1",
            "\"v=TLSRPTv1; rua=mailto:a@example.com\"",
            "v=TLSRPTv1;",
            "v=tlsrptv1; rua=mailto:a@example.com",
        ] {
            let read = read_for_sending(text);
            assert!(read.parsed.is_none(), "{text:?} was read");
            assert!(read.first_error().is_some(), "{text:?} has no error");
        }
        let read = read_for_sending("v=TLSRPTv1;rua=https://r.example/x");
        assert!(read.valid);
    }

    #[test]
    fn rfc_8460_examples_are_valid() {
        // RFC 8460 §3.1's examples.
        let mail = TlsRptRecord::parse("v=TLSRPTv1;rua=mailto:reports@example.com")
            .expect("mailto example");
        assert_eq!(
            mail.rua,
            [ReportUri::Mailto("mailto:reports@example.com".into())]
        );
        let web = TlsRptRecord::parse("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt")
            .expect("https example");
        assert_eq!(
            web.rua,
            [ReportUri::Https(
                "https://reporting.example.com/v1/tlsrpt".into()
            )]
        );
    }

    #[test]
    fn several_destinations_with_spaces_around_commas() {
        let lint = lint("v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com/x;");
        assert!(lint.valid, "{:?}", lint.diagnostics);
        assert_eq!(lint.parsed.map(|r| r.rua.len()), Some(2));
    }

    #[test]
    fn each_bad_record_has_its_code() {
        let cases: &[(&str, &str)] = &[
            ("v=TLSRPTv1;", "tlsrpt-rua-missing"),
            (
                "v=TLSRPTv1; rua=reports@example.com",
                "tlsrpt-rua-bare-address",
            ), // the classic
            ("v=TLSRPTv1; rua=http://r.example.com/", "tlsrpt-rua-scheme"),
            ("v=TLSRPTv1; rua=ftp://r.example.com/", "tlsrpt-rua-scheme"),
            ("v=TLSRPTv1; rua=http", "tlsrpt-rua-scheme"), // found by fuzzing: a scheme-less `http`
            ("v=TLSRPTv1; rua=example.com", "tlsrpt-rua-scheme"),
            (
                "v=TLSRPTv1; rua=mailto:a@example.com mailto:b@example.com",
                "tlsrpt-rua-invalid",
            ),
            ("v=TLSRPTv1; rua=mailto:", "tlsrpt-rua-invalid"),
            ("v=TLSRPTv1; rua=mailto:@example.com", "tlsrpt-rua-invalid"),
            ("v=TLSRPTv1; rua=mailto:a@", "tlsrpt-rua-invalid"),
            ("v=TLSRPTv1; rua=https://", "tlsrpt-rua-invalid"),
            (
                "v=TLSRPTv1; rua=mailto:a@example.com,,mailto:b@example.com",
                "tlsrpt-rua-invalid",
            ),
            (
                "v=TLSRPTv1; rua=mailto:a@example.com,",
                "tlsrpt-rua-invalid",
            ),
            (
                "v=TLSRPTv1; rua=mailto:a!b@example.com",
                "tlsrpt-rua-unescaped",
            ),
            ("v=TLSRPTv1; rua=", "record-field-invalid"),
            (
                "v=tlsrptv1; rua=mailto:a@example.com",
                "record-version-missing",
            ),
            (
                "v=TLSRPTv2; rua=mailto:a@example.com",
                "record-version-missing",
            ),
            (
                "rua=mailto:a@example.com; v=TLSRPTv1",
                "record-version-not-first",
            ),
            (
                "v=TLSRPTv1 rua=mailto:a@example.com",
                "record-delimiter-missing",
            ),
            ("v=STSv1; id=1", "record-version-missing"), // the MTA-STS record in the wrong place
        ];
        for (text, code) in cases {
            let lint = lint(text);
            assert!(!lint.valid, "{text:?} should be invalid");
            assert!(
                codes(text).contains(code),
                "{text:?}: expected {code}, got {:?}",
                codes(text)
            );
        }
    }

    #[test]
    fn warnings_keep_the_record() {
        let lint = lint("v=TLSRPTv1; rua=mailto:a@example.com,mailto:a@example.com");
        assert!(lint.valid);
        assert!(lint.has("tlsrpt-rua-duplicate"));
        assert_eq!(lint.parsed.map(|r| r.rua.len()), Some(1));
    }

    #[test]
    fn hints_give_the_fix() {
        let hint = |t: &str| {
            lint(t)
                .first_error()
                .and_then(|d| d.hint.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            hint("v=TLSRPTv1; rua=tls@example.com"),
            "write `rua=mailto:tls@example.com`"
        );
        assert_eq!(
            hint("v=TLSRPTv1; rua=http://r.example.com/x"),
            "write `https://r.example.com/x`"
        );
        assert_eq!(
            hint("v=TLSRPTv1; rua=mailto:a!b@example.com"),
            "write `mailto:a%21b@example.com`"
        );
    }

    #[test]
    fn bare_address_column_points_at_the_address() {
        let lint = lint("v=TLSRPTv1; rua=mailto:a@example.com, tls@example.com");
        let d = lint.first_error().expect("error");
        assert_eq!(d.column, Some(39));
    }

    #[test]
    fn display_round_trips() {
        let text = "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/v1";
        let record = TlsRptRecord::parse(text).expect("valid");
        assert_eq!(record.to_string(), text);
    }

    #[test]
    fn discovery_rule() {
        let one = vec![
            vec!["v=TLSRPTv1; rua=mailto:a@example.com"],
            vec!["v=spf1 -all"],
        ];
        assert!(discover(&one).record().is_some());
        let two = vec![
            vec!["v=TLSRPTv1; rua=mailto:a@example.com"],
            vec!["v=TLSRPTv1; rua=mailto:b@example.com"],
        ];
        assert!(matches!(discover(&two), Discovery::Multiple { .. }));
        let bare = vec![vec!["v=TLSRPTv1; rua=a@example.com"]];
        assert!(matches!(discover(&bare), Discovery::Invalid { .. }));
    }
}
