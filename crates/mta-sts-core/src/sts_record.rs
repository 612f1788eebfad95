//! The `_mta-sts` TXT record (RFC 8461 §3.1): `v=STSv1; id=...`.

use std::fmt;

use serde::Serialize;

use crate::diagnostic::codes;
use crate::txt_discovery::{self, Discovery, RecordKind};
use crate::{Diagnostic, Error, Lint};

const KIND: RecordKind = RecordKind {
    tag: "v=STSv1",
    owner: "_mta-sts",
    known_fields: &["id"],
};

/// RFC 8461 §3.1: `sts-id = %s"id=" 1*32(ALPHA / DIGIT)`.
pub const MAX_ID_LEN: usize = 32;

codes! {
    /// Diagnostic codes for the `id` field of an `_mta-sts` record (shared record codes are in
    /// [`crate::txt_discovery::RecordCode`]).
    pub enum StsRecordCode {
        /// No `id=` field.
        IdMissing = "sts-id-missing",
        /// The id has a character other than letters and digits (`-`, `.`, `:`, `_`, ...).
        IdInvalid = "sts-id-invalid",
        /// The id is longer than 32 characters.
        IdTooLong = "sts-id-too-long",
    }
}

/// An `_mta-sts` record as a sender reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StsRecord {
    /// The policy id: 1 to 32 letters and digits, changed at every policy change.
    pub id: String,
    /// Extension fields, in record order (readers ignore them).
    pub extensions: Vec<(String, String)>,
}

impl StsRecord {
    /// Reads one record as a conforming sender does: the first error refuses it.
    pub fn parse(text: &str) -> Result<StsRecord, Error> {
        let lint = lint(text);
        let first_error = lint.first_error().cloned();
        lint.parsed.ok_or_else(|| {
            Error::InvalidStsRecord(
                first_error.unwrap_or_else(|| {
                    Diagnostic::error(StsRecordCode::IdMissing.as_str(), "no id")
                }),
            )
        })
    }
}

impl fmt::Display for StsRecord {
    /// Renders the record as it should be published: `v=STSv1; id=...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v=STSv1; id={}", self.id)?;
        for (name, value) in &self.extensions {
            write!(f, "; {name}={value}")?;
        }
        Ok(())
    }
}

/// Lints one `_mta-sts` TXT record value (its strings already joined).
pub fn lint(text: &str) -> Lint<StsRecord> {
    let mut tokens = txt_discovery::tokenize(KIND, text);
    txt_discovery::check_known_fields(KIND, &mut tokens);
    let id = tokens.first("id").map(|f| (f.value, f.value_offset));
    let mut diagnostics = std::mem::take(&mut tokens.diagnostics);
    match id {
        None => diagnostics.push(
            // RFC 8461 §3.1: "id: (plain-text, required)".
            Diagnostic::error(StsRecordCode::IdMissing.as_str(), "the record has no `id=` field")
                .with_hint("add an id that changes with every policy change, e.g. `v=STSv1; id=20260101T000000`"),
        ),
        Some((value, offset)) => diagnostics.extend(check_id(&tokens, value, offset)),
    }
    let parsed = id.map(|(value, _)| StsRecord {
        id: value.to_string(),
        extensions: tokens
            .fields
            .iter()
            .filter(|f| f.name != "id")
            .map(|f| (f.name.to_string(), f.value.to_string()))
            .collect(),
    });
    Lint::strict(diagnostics, parsed)
}

fn check_id(tokens: &txt_discovery::Tokens<'_>, id: &str, offset: usize) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if id.is_empty() {
        return out; // Reported as an empty value by the tokenizer.
    }
    let letters_and_digits: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    // RFC 8461 §3.1: 1*32(ALPHA / DIGIT) — no `-`, `.`, `:` or `_`, which timestamps often carry.
    if let Some((at, c)) = id.char_indices().find(|(_, c)| !c.is_ascii_alphanumeric()) {
        let mut d = Diagnostic::error(
            StsRecordCode::IdInvalid.as_str(),
            format!(
                "the id `{id}` contains `{}`; an id is letters and digits only",
                c.escape_default()
            ),
        );
        if !letters_and_digits.is_empty() && letters_and_digits.len() <= MAX_ID_LEN {
            d = d.with_hint(format!("write `id={letters_and_digits}`"));
        }
        out.push(tokens.place(d, offset + at, c.len_utf8()));
    }
    if id.chars().count() > MAX_ID_LEN {
        let d = Diagnostic::error(
            StsRecordCode::IdTooLong.as_str(),
            format!(
                "the id is {} characters long; at most {MAX_ID_LEN} are allowed",
                id.chars().count()
            ),
        )
        .with_hint("use a short id such as a UTC timestamp, e.g. `id=20260101T000000`");
        out.push(tokens.place(d, offset, id.len()));
    }
    out
}

/// Applies RFC 8461 §3.1's rule to every TXT record at `_mta-sts.<domain>` (each record given as
/// its character-strings): records not beginning with `v=STSv1;` are discarded; exactly one must
/// remain, and it must be valid, or the domain has no available policy.
pub fn discover<S: AsRef<[u8]>>(records: &[Vec<S>]) -> Discovery<StsRecord> {
    txt_discovery::discover(KIND, records, lint)
}

/// The id of a policy, derived from its text: the first 32 hexadecimal digits of the SHA-256 of
/// the policy file exactly as it is served (RFC 8461 §3.1: `1*32(ALPHA / DIGIT)`).
///
/// The id must change whenever the policy does (RFC 8461 §3.1), and a derived id always does: two
/// policies share an id only if their texts are byte for byte the same. It also means publishing
/// the same text twice yields the same record, so a tool that publishes can tell there is nothing
/// to change. 128 bits of the digest leave no practical chance of two policies colliding.
pub fn content_id(policy_text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(policy_text.as_bytes());
    let mut id = String::with_capacity(MAX_ID_LEN);
    for byte in &digest[..MAX_ID_LEN / 2] {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl StsRecord {
    /// The record announcing the policy `policy_text`, with its [`content_id`] as the id.
    pub fn for_policy(policy_text: &str) -> StsRecord {
        StsRecord {
            id: content_id(policy_text),
            extensions: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        lint(text).diagnostics.iter().map(|d| d.code).collect()
    }

    #[test]
    fn rfc_8461_examples_are_valid() {
        // RFC 8461 §3.1's example record.
        let record = StsRecord::parse("v=STSv1; id=20160831085700Z;").expect("RFC example");
        assert_eq!(record.id, "20160831085700Z");
        assert!(record.extensions.is_empty());
        assert!(lint("v=STSv1; id=20160831085700Z;").diagnostics.is_empty());
    }

    #[test]
    fn valid_variants() {
        for text in [
            "v=STSv1; id=1",
            "v=STSv1;id=abc",
            "v=STSv1\t;\tid=abc\t;\t",
            "v=STSv1; id=abc; ",
            "v=STSv1; id=12345678901234567890123456789012",
        ] {
            let lint = lint(text);
            assert!(lint.valid, "{text:?}: {:?}", lint.diagnostics);
        }
    }

    #[test]
    fn extensions_are_kept_and_noted() {
        let lint = lint("v=STSv1; id=1; foo=bar.baz");
        assert!(lint.valid);
        assert_eq!(
            lint.parsed.map(|r| r.extensions),
            Some(vec![("foo".into(), "bar.baz".into())])
        );
        assert!(
            lint.diagnostics
                .iter()
                .any(|d| d.code == "record-field-unknown")
        );
    }

    #[test]
    fn each_bad_record_has_its_code() {
        let cases: &[(&str, &str)] = &[
            ("", "record-empty"),
            ("v=STSv1;", "sts-id-missing"),               // no id
            ("v=STSv1; id=", "record-field-invalid"),     // empty id
            ("v=STSv1; id=2026-01-01", "sts-id-invalid"), // `-` in id
            ("v=STSv1; id=2026.01", "sts-id-invalid"),    // `.` in id
            ("v=STSv1; id=12:00", "sts-id-invalid"),      // `:` in id
            (
                "v=STSv1; id=123456789012345678901234567890123",
                "sts-id-too-long",
            ),
            ("v=stsv1; id=1", "record-version-missing"), // wrong case
            ("V=STSv1; id=1", "record-version-missing"),
            ("v=STSv2; id=1", "record-version-missing"), // unknown version
            ("id=1; v=STSv1", "record-version-not-first"),
            (" v=STSv1; id=1", "record-whitespace"), // leading space
            ("v=STSv1; id=1 ", "record-whitespace"), // trailing space without `;`
            ("v=STSv1 id=1", "record-delimiter-missing"), // space instead of `;`
            ("v=STSv1; id=1 foo=bar", "record-delimiter-missing"),
            ("v=STSv1id=1", "record-delimiter-missing"),
            ("\"v=STSv1; id=1\"", "record-quoted"), // quotes pasted
            ("v=STSv1; id", "record-field-invalid"), // no `=`
            ("v=STSv1; id=1; _x=1", "record-field-invalid"), // bad extension name
            ("v=STSv1; ID=1", "sts-id-missing"),    // ID is not id
            ("v=STSv1; id=é", "sts-id-invalid"),
        ];
        for (text, code) in cases {
            let lint = lint(text);
            assert!(!lint.valid, "{text:?} should be invalid");
            assert!(lint.parsed.is_none());
            assert!(
                codes(text).contains(code),
                "{text:?}: expected {code}, got {:?}",
                codes(text)
            );
        }
    }

    #[test]
    fn case_variant_of_id_is_pointed_out() {
        assert!(codes("v=STSv1; ID=1").contains(&"record-field-case"));
    }

    #[test]
    fn duplicate_id_keeps_the_first() {
        let lint = lint("v=STSv1; id=first; id=second");
        assert!(lint.valid);
        assert!(lint.has("record-field-duplicate"));
        assert_eq!(lint.parsed.map(|r| r.id).as_deref(), Some("first"));
    }

    #[test]
    fn many_run_together_fields_get_local_hints_and_true_columns() {
        let record = format!("v=STSv1; id=1 {}", "é=b ".repeat(5_000));
        let lint = super::lint(record.trim_end());
        let missing: Vec<&Diagnostic> = lint
            .diagnostics
            .iter()
            .filter(|d| d.code == "record-delimiter-missing")
            .collect();
        assert_eq!(missing.len(), 5_000);
        assert_eq!(missing[0].hint.as_deref(), Some("write `id=1; é=b`"));
        assert_eq!(missing[1].hint.as_deref(), Some("write `é=b; é=b`"));
        // Columns count characters: each `é=b ` is four.
        assert_eq!(missing[4_999].column, Some(14 + 4 * 4_999));
        let repeated = lint
            .diagnostics
            .iter()
            .filter(|d| d.code == "record-field-duplicate")
            .count();
        assert_eq!(repeated, 4_999);
    }

    #[test]
    fn hints_and_columns() {
        let lint = lint("v=STSv1; id=2026-01-01T00:00:00Z");
        let d = lint.first_error().expect("error");
        assert_eq!(d.column, Some(17));
        assert_eq!(d.hint.as_deref(), Some("write `id=20260101T000000Z`"));
        let lint = super::lint("v=STSv1 id=1");
        assert_eq!(
            lint.first_error().and_then(|d| d.hint.as_deref()),
            Some("write `v=STSv1; id=1`")
        );
        let lint = super::lint("\"v=STSv1; id=1\"");
        assert_eq!(
            lint.first_error().and_then(|d| d.hint.as_deref()),
            Some("publish the text without the quotes: v=STSv1; id=1")
        );
    }

    #[test]
    fn display_renders_a_publishable_record() {
        let record = StsRecord {
            id: "20260101T000000".into(),
            extensions: vec![],
        };
        assert_eq!(record.to_string(), "v=STSv1; id=20260101T000000");
        assert_eq!(StsRecord::parse(&record.to_string()), Ok(record));
    }

    #[test]
    fn discovery_finds_the_one_record_among_others() {
        let records = vec![
            vec!["v=spf1 -all".to_string()],
            vec!["v=STSv1; id=20260101T000000;".to_string()],
        ];
        assert_eq!(
            discover(&records).record().map(|r| r.id.as_str()),
            Some("20260101T000000")
        );
    }

    #[test]
    fn discovery_joins_multi_string_records() {
        let records = vec![vec!["v=STSv1; ", "id=2026", "0101"]];
        assert_eq!(
            discover(&records).record().map(|r| r.id.as_str()),
            Some("20260101")
        );
    }

    #[test]
    fn discovery_two_records_means_no_policy() {
        let records = vec![vec!["v=STSv1; id=1"], vec!["v=STSv1; id=2"]];
        assert!(
            matches!(discover(&records), Discovery::Multiple { records } if records.len() == 2)
        );
    }

    #[test]
    fn discovery_none_and_near_misses() {
        let records = vec![
            vec!["v=stsv1; id=1"],
            vec!["unrelated"],
            vec![" v=STSv1; id=2"],
        ];
        match discover(&records) {
            Discovery::Absent { near_misses } => {
                assert_eq!(near_misses, ["v=stsv1; id=1", " v=STSv1; id=2"])
            }
            other => panic!("expected Absent, got {other:?}"),
        }
        assert!(
            matches!(discover::<&str>(&[]), Discovery::Absent { near_misses } if near_misses.is_empty())
        );
    }

    #[test]
    fn discovery_discards_records_without_semicolon_after_version() {
        // "v=STSv1 id=1" does not begin with `v=STSv1;`, so it is discarded and the valid one counts.
        let records = vec![vec!["v=STSv1 id=1"], vec!["v=STSv1 ; id=2"]];
        assert_eq!(
            discover(&records).record().map(|r| r.id.as_str()),
            Some("2")
        );
    }

    #[test]
    fn discovery_single_invalid_record() {
        let records = vec![vec!["v=STSv1; id=a-b"]];
        match discover(&records) {
            Discovery::Invalid { record, lint } => {
                assert_eq!(record, "v=STSv1; id=a-b");
                assert!(lint.has("sts-id-invalid"));
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn content_id_is_a_valid_id_that_follows_the_text() {
        let enforce = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n";
        let testing = enforce.replace("enforce", "testing");
        let id = content_id(enforce);
        assert_eq!(id.len(), MAX_ID_LEN);
        // A sender reads the record it makes.
        let record = StsRecord::for_policy(enforce);
        assert_eq!(StsRecord::parse(&record.to_string()), Ok(record.clone()));
        assert_eq!(record.id, id);
        // The same text, the same id; another text, another id.
        assert_eq!(content_id(enforce), id);
        assert_ne!(content_id(&testing), id);
        // SHA-256 of the empty string starts e3b0c442 98fc1c14 9afbf4c8 996fb924.
        assert_eq!(content_id(""), "e3b0c44298fc1c149afbf4c8996fb924");
    }
}
