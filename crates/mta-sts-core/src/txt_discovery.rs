//! What `_mta-sts` (RFC 8461 §3.1) and `_smtp._tls` (RFC 8460 §3) TXT records share: the rule that
//! picks the one record out of everything a TXT query returns, and the `key=value; ...` field list.
//!
//! The two grammars differ only in their version tag and their known fields, so the tokenizer and
//! the structural checks live here once and each record module adds its own fields' rules.

use std::cell::Cell;
use std::collections::HashSet;

use crate::diagnostic::{codes, column_of, width_of};
use crate::{Diagnostic, Lint};

codes! {
    /// Diagnostic codes shared by the `_mta-sts` and `_smtp._tls` records.
    pub enum RecordCode {
        /// The record is empty.
        Empty = "record-empty",
        /// The record is wrapped in quotes, which became part of the value.
        Quoted = "record-quoted",
        /// The record does not begin with its version tag (`v=STSv1` / `v=TLSRPTv1`).
        VersionMissing = "record-version-missing",
        /// The version tag is present, but not first.
        VersionNotFirst = "record-version-not-first",
        /// Fields are not separated by `;`.
        DelimiterMissing = "record-delimiter-missing",
        /// Whitespace where the grammar has none (before the version, or at the end without `;`).
        Whitespace = "record-whitespace",
        /// A field that is not `name=value` with a valid name and value.
        FieldInvalid = "record-field-invalid",
        /// A field given twice; the first value is used.
        FieldDuplicate = "record-field-duplicate",
        /// A field name differing from a known one only in case (names are case-sensitive).
        FieldCase = "record-field-case",
        /// An extension field the reader ignores.
        FieldUnknown = "record-field-unknown",
    }
}

/// Which TXT record is being read: its version tag and the fields it defines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordKind {
    /// `v=STSv1` or `v=TLSRPTv1`.
    pub tag: &'static str,
    /// The DNS owner-name prefix, for messages (`_mta-sts`).
    pub owner: &'static str,
    /// Field names the record defines (besides `v`).
    pub known_fields: &'static [&'static str],
}

/// One `name=value` field with the byte offsets of its parts in the record text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    pub name: &'a str,
    pub name_offset: usize,
    pub value: &'a str,
    pub value_offset: usize,
}

/// The fields of a record, and the structural diagnostics found while splitting it.
pub(crate) struct Tokens<'a> {
    pub text: &'a str,
    pub fields: Vec<Field<'a>>,
    pub diagnostics: Vec<Diagnostic>,
    /// The last (byte offset, column) placed: diagnostics come mostly in text order, so the
    /// next column is counted from there, not from the start (which made long records quadratic).
    last_placed: Cell<(usize, usize)>,
}

impl<'a> Tokens<'a> {
    /// A diagnostic placed on `len` bytes at `offset` of the record text.
    pub fn place(&self, d: Diagnostic, offset: usize, len: usize) -> Diagnostic {
        let width = self.text.get(offset..offset + len).map_or(1, width_of);
        let (from, column) = self.last_placed.get();
        let column = match self.text.get(from..offset) {
            Some(between) if offset >= from => column + between.chars().count(),
            _ => column_of(self.text, offset),
        };
        self.last_placed.set((offset, column));
        d.at_column(column, width)
    }

    /// The first field with this exact name (RFC 8461 §3.2: for a repeated field, the first wins).
    pub fn first(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.name == name)
    }
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 8461 §3.1 / RFC 8460 §3: `ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`.
pub(crate) fn is_ext_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// RFC 8461 §3.1 / RFC 8460 §3: `ext-value = 1*(%x21-3A / %x3C / %x3E-7E)`: printable ASCII
/// except `;` and `=`. Returns the byte offset of the first offending character.
pub(crate) fn bad_ext_value_char(value: &str) -> Option<(usize, char)> {
    value
        .char_indices()
        .find(|(_, c)| !matches!(c, '\x21'..='\x3a' | '\x3c' | '\x3e'..='\x7e'))
}

/// Splits a record into fields, checking the version tag and delimiters.
pub(crate) fn tokenize<'a>(kind: RecordKind, text: &'a str) -> Tokens<'a> {
    let mut tokens = Tokens {
        text,
        fields: Vec::new(),
        diagnostics: Vec::new(),
        last_placed: Cell::new((0, 1)),
    };
    if text.trim().is_empty() {
        tokens.diagnostics.push(
            Diagnostic::error(
                RecordCode::Empty.as_str(),
                format!("the {} record is empty", kind.owner),
            )
            .with_hint(format!("publish `{}; ...`", kind.tag)),
        );
        return tokens;
    }
    let mut pos = 0;
    // Quotes pasted from a zone file end up inside the TXT value on some DNS hosting panels.
    if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        let d = Diagnostic::error(
            RecordCode::Quoted.as_str(),
            "the record is wrapped in quotes, so the quotes are part of its text",
        )
        .with_hint(format!(
            "publish the text without the quotes: {}",
            &text[1..text.len() - 1]
        ));
        let d = tokens.place(d, 0, 1);
        tokens.diagnostics.push(d);
        pos = 1;
    }
    let end = if pos == 1 { text.len() - 1 } else { text.len() };
    let leading = text[pos..end].len() - text[pos..end].trim_start_matches(is_wsp).len();
    if leading > 0 {
        let d = Diagnostic::error(
            RecordCode::Whitespace.as_str(),
            format!(
                "the record starts with whitespace, so it does not begin with `{}`",
                kind.tag
            ),
        )
        .with_hint("remove the leading whitespace");
        let d = tokens.place(d, pos, leading);
        tokens.diagnostics.push(d);
        pos += leading;
    }
    let body = &text[pos..end];

    // RFC 8461 §3.1 / RFC 8460 §3: the version field comes first and is case-sensitive (%s).
    let version_len = kind.tag.len();
    let tag_found = body
        .get(..version_len)
        .map(|head| (head == kind.tag, head.eq_ignore_ascii_case(kind.tag)));
    match tag_found {
        Some((true, _)) => pos += version_len,
        Some((false, true)) => {
            let d = Diagnostic::error(
                RecordCode::VersionMissing.as_str(),
                format!(
                    "`{}` must be written exactly so (the version is case-sensitive)",
                    kind.tag
                ),
            )
            .with_hint(format!("write `{}`", kind.tag));
            let d = tokens.place(d, pos, version_len);
            tokens.diagnostics.push(d);
            pos += version_len;
        }
        _ => {
            let d = if let Some(at) = body.find(kind.tag) {
                let d = Diagnostic::error(
                    RecordCode::VersionNotFirst.as_str(),
                    format!("`{}` must be the first field of the record", kind.tag),
                )
                .with_hint(format!(
                    "move `{}` to the start: `{}; ...`",
                    kind.tag, kind.tag
                ));
                tokens.place(d, pos + at, version_len)
            } else if body.starts_with("v=") {
                let version = body.split([';', ' ', '\t']).next().unwrap_or(body);
                let d = Diagnostic::error(
                    RecordCode::VersionMissing.as_str(),
                    format!(
                        "`{version}` is not a supported version; the record must begin with `{}`",
                        kind.tag
                    ),
                )
                .with_hint(format!("write `{}`", kind.tag));
                tokens.place(d, pos, version.len())
            } else {
                let d = Diagnostic::error(
                    RecordCode::VersionMissing.as_str(),
                    format!(
                        "the record does not begin with `{}`, so readers ignore it",
                        kind.tag
                    ),
                )
                .with_hint(format!("start the record with `{}; `", kind.tag));
                tokens.place(d, pos, 1)
            };
            tokens.diagnostics.push(d);
            // Still read the fields, so every other problem is reported too; skip a `v=` field.
            tokenize_fields(kind, &mut tokens, pos, end, true);
            return tokens;
        }
    }
    tokenize_fields(kind, &mut tokens, pos, end, false);
    tokens
}

fn tokenize_fields(
    kind: RecordKind,
    tokens: &mut Tokens<'_>,
    mut pos: usize,
    end: usize,
    first_is_field: bool,
) {
    let text = tokens.text;
    let mut expect_delimiter = !first_is_field;
    // The next `;` at or after `pos`, found again only once `pos` passes it.
    let mut next_semicolon: Option<usize> = None;
    loop {
        let before_wsp = pos;
        while text[pos..end].starts_with(is_wsp) {
            pos += 1;
        }
        if pos >= end {
            if pos > before_wsp && expect_delimiter {
                // field-delim = *WSP ";" *WSP: whitespace at the end is only allowed after `;`.
                let d = Diagnostic::error(
                    RecordCode::Whitespace.as_str(),
                    "the record ends with whitespace that is not after a `;`",
                )
                .with_hint("remove the trailing whitespace (or end the record with `;`)");
                let d = tokens.place(d, before_wsp, pos - before_wsp);
                tokens.diagnostics.push(d);
            }
            return;
        }
        if expect_delimiter {
            if text[pos..end].starts_with(';') {
                pos += 1;
                while text[pos..end].starts_with(is_wsp) {
                    pos += 1;
                }
                if pos >= end {
                    return; // A trailing delimiter is allowed.
                }
            } else {
                let d = Diagnostic::error(
                    RecordCode::DelimiterMissing.as_str(),
                    "fields must be separated by `;`",
                )
                .with_hint({
                    // The fields on both sides only: a record of many run-together fields would
                    // otherwise repeat itself whole in every hint (quadratic output).
                    let head = text[..before_wsp].trim_end();
                    let head = &head[head.rfind([';', ' ', '\t']).map_or(0, |i| i + 1)..];
                    let next = text[pos..end].trim();
                    let next = &next[..next.find([';', ' ', '\t']).unwrap_or(next.len())];
                    format!("write `{head}; {next}`")
                });
                let d = tokens.place(d, before_wsp, (pos - before_wsp).max(1));
                tokens.diagnostics.push(d);
            }
        }
        expect_delimiter = true;
        // A field runs to the next `;`; its value may not contain whitespace, so whitespace that
        // is followed by more text is a missing delimiter, reported on the next round.
        let field_end = match next_semicolon {
            Some(at) if at >= pos => at,
            _ => {
                let at = text[pos..end].find(';').map_or(end, |i| pos + i);
                next_semicolon = Some(at);
                at
            }
        };
        let raw = &text[pos..field_end];
        let chunk_len = match raw.find(|c: char| is_wsp(c)) {
            Some(i)
                if !raw[i..].trim_matches(is_wsp).is_empty()
                    && !field_allows_inner_space(kind, raw) =>
            {
                i
            }
            _ => raw.trim_end_matches(is_wsp).len(),
        };
        let chunk = &raw[..chunk_len];
        match chunk.split_once('=') {
            Some((name, value)) => {
                if first_is_field && tokens.fields.is_empty() && name == "v" {
                    // The (wrong) version field already reported above.
                } else {
                    check_field_syntax(tokens, name, pos, value);
                    tokens.fields.push(Field {
                        name,
                        name_offset: pos,
                        value,
                        value_offset: pos + name.len() + 1,
                    });
                }
            }
            None => {
                let d = Diagnostic::error(
                    RecordCode::FieldInvalid.as_str(),
                    format!("`{chunk}` is not a `name=value` field"),
                );
                let d = tokens.place(d, pos, chunk.len());
                tokens.diagnostics.push(d);
            }
        }
        pos += chunk_len;
    }
}

/// `rua` lists URIs separated by `,` with optional whitespace around each comma (RFC 8460 §3).
fn field_allows_inner_space(kind: RecordKind, raw: &str) -> bool {
    kind.tag == "v=TLSRPTv1" && raw.starts_with("rua=")
}

fn check_field_syntax(tokens: &mut Tokens<'_>, name: &str, name_offset: usize, value: &str) {
    if !is_ext_name(name) {
        let d = Diagnostic::error(
            RecordCode::FieldInvalid.as_str(),
            format!(
                "`{name}` is not a valid field name (a letter or digit, then up to 31 letters, digits, `_`, `-`, `.`)"
            ),
        );
        let d = tokens.place(d, name_offset, name.len());
        tokens.diagnostics.push(d);
    }
    if value.is_empty() {
        let d = Diagnostic::error(
            RecordCode::FieldInvalid.as_str(),
            format!("`{name}=` has an empty value"),
        );
        let d = tokens.place(d, name_offset, name.len() + 1);
        tokens.diagnostics.push(d);
    }
}

/// Reports fields given twice (the first wins) and fields the record does not define.
pub(crate) fn check_known_fields(kind: RecordKind, tokens: &mut Tokens<'_>) {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for field in &tokens.fields {
        let d = if !seen.insert(field.name) {
            // RFC 8461 §3.2 (which mox and this reader apply to the TXT record too): the first
            // value of a repeated field is used.
            Diagnostic::warning(
                RecordCode::FieldDuplicate.as_str(),
                format!(
                    "`{}` is given more than once; the first value is used",
                    field.name
                ),
            )
            .with_hint(format!("remove the second `{}=`", field.name))
        } else if kind.known_fields.contains(&field.name) {
            continue;
        } else if let Some(known) = kind
            .known_fields
            .iter()
            .find(|k| k.eq_ignore_ascii_case(field.name))
        {
            Diagnostic::warning(
                RecordCode::FieldCase.as_str(),
                format!(
                    "`{}` is not `{known}`: field names are case-sensitive, so this one is ignored",
                    field.name
                ),
            )
            .with_hint(format!("write `{known}=`"))
        } else {
            Diagnostic::info(
                RecordCode::FieldUnknown.as_str(),
                format!(
                    "`{}` is not a field of {} records; readers ignore it",
                    field.name, kind.owner
                ),
            )
        };
        found.push(tokens.place(d, field.name_offset, field.name.len()));
    }
    tokens.diagnostics.extend(found);
    // Known fields' values have their own rules, checked by each record's module.
    let mut bad_values = Vec::new();
    for field in tokens
        .fields
        .iter()
        .filter(|f| !kind.known_fields.contains(&f.name))
    {
        if let Some((at, c)) = bad_ext_value_char(field.value) {
            let d = Diagnostic::error(
                RecordCode::FieldInvalid.as_str(),
                format!(
                    "`{}` is not allowed in the value of `{}`",
                    c.escape_default(),
                    field.name
                ),
            );
            bad_values.push(tokens.place(d, field.value_offset + at, c.len_utf8()));
        }
    }
    tokens.diagnostics.extend(bad_values);
}

/// The outcome of the discovery rule over every TXT record at a name.
#[derive(Debug, Clone, PartialEq)]
pub enum Discovery<T> {
    /// No record begins with the version tag: the domain does not use the mechanism.
    /// `near_misses` are records that look like failed attempts (wrong case, quoted, version not
    /// first, leading space), worth reporting to the domain's owner.
    Absent {
        /// Records that were discarded but look like attempts at one.
        near_misses: Vec<String>,
    },
    /// More than one record begins with the version tag: readers treat the domain as having none.
    Multiple {
        /// Each of the records.
        records: Vec<String>,
    },
    /// Exactly one record, and it is invalid: readers treat the domain as having none.
    Invalid {
        /// The record's text.
        record: String,
        /// Its lint, with at least one error.
        lint: Lint<T>,
    },
    /// Exactly one valid record.
    Found {
        /// The record's text.
        record: String,
        /// Its lint (warnings and notes only) with the parsed value.
        lint: Lint<T>,
    },
}

impl<T> Discovery<T> {
    /// The record a reader uses, if there is exactly one valid record.
    pub fn record(&self) -> Option<&T> {
        match self {
            Discovery::Found { lint, .. } => lint.parsed.as_ref(),
            _ => None,
        }
    }
}

/// RFC 8461 §3.1: "the TXT record is a single string ... the strings of a record with several
/// strings are concatenated without spaces". Bytes that are not UTF-8 become U+FFFD, which no
/// grammar allows, so such a record is reported invalid rather than silently repaired.
pub fn join_strings<S: AsRef<[u8]>>(strings: &[S]) -> String {
    let bytes: Vec<u8> = strings
        .iter()
        .flat_map(|s| s.as_ref().iter().copied())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Applies the discovery rule: keep the records that begin with `tag` then `;` (with optional
/// whitespace before it); exactly one must remain.
pub(crate) fn discover<T, S: AsRef<[u8]>>(
    kind: RecordKind,
    records: &[Vec<S>],
    lint: impl Fn(&str) -> Lint<T>,
) -> Discovery<T> {
    let texts: Vec<String> = records.iter().map(|r| join_strings(r)).collect();
    // RFC 8461 §3.1 / RFC 8460 §3: records that do not begin with the version and a `;` are discarded.
    let (candidates, others): (Vec<String>, Vec<String>) = texts.into_iter().partition(|t| {
        t.strip_prefix(kind.tag)
            .is_some_and(|rest| rest.trim_start_matches(is_wsp).starts_with(';'))
    });
    match candidates.len() {
        0 => Discovery::Absent {
            near_misses: others
                .into_iter()
                .filter(|t| {
                    t.to_ascii_lowercase()
                        .contains(&kind.tag.to_ascii_lowercase())
                })
                .collect(),
        },
        1 => {
            let record = candidates.into_iter().next().unwrap_or_default();
            let lint = lint(&record);
            if lint.valid {
                Discovery::Found { record, lint }
            } else {
                Discovery::Invalid { record, lint }
            }
        }
        _ => Discovery::Multiple {
            records: candidates,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_concatenates_without_spaces() {
        assert_eq!(
            join_strings(&["v=STSv1; id=2026", "0101T000000"]),
            "v=STSv1; id=20260101T000000"
        );
        assert_eq!(join_strings::<&str>(&[]), "");
        assert_eq!(join_strings(&[b"v=\xff".as_slice()]), "v=\u{fffd}");
    }

    #[test]
    fn ext_name_grammar() {
        assert!(is_ext_name("id"));
        assert!(is_ext_name("a_b-c.d"));
        assert!(is_ext_name(&"a".repeat(32)));
        assert!(!is_ext_name(&"a".repeat(33)));
        assert!(!is_ext_name("_a"));
        assert!(!is_ext_name(""));
        assert!(!is_ext_name("a b"));
    }

    #[test]
    fn ext_value_grammar() {
        assert_eq!(bad_ext_value_char("abc:/?"), None);
        assert_eq!(bad_ext_value_char("a=b"), Some((1, '=')));
        assert_eq!(bad_ext_value_char("a b"), Some((1, ' ')));
        assert_eq!(bad_ext_value_char("é"), Some((0, 'é')));
    }
}
