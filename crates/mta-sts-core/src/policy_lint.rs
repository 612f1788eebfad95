//! The policy linter: every departure from RFC 8461 §3.2, with its line, column and a fix.
//!
//! Errors are what makes a sender refuse the policy ([`crate::Policy::parse`] is this linter with
//! its first error as the answer, so the two never disagree). Warnings parse but hurt, or show the
//! operator probably meant something else. Notes (info) say what the policy does.

use std::collections::HashMap;

use crate::diagnostic::{codes, column_of, width_of};
use crate::mx_pattern::MxPattern;
use crate::policy::{MAX_MAX_AGE, Mode, Policy};
use crate::{Diagnostic, Lint};

/// RFC 8461 §3.3: senders should not read more than 64 KiB of policy.
pub const MAX_POLICY_SIZE: usize = 64 * 1024;

/// RFC 8461 §3.2 / §10: max_age should be "weeks or greater"; below a day is harmful.
const ONE_DAY: u32 = 86_400;
const ONE_WEEK: u32 = 604_800;

codes! {
    /// Diagnostic codes of the policy linter (`mx` values have [`crate::mx_pattern::MxCode`]).
    pub enum PolicyCode {
        /// The body is empty.
        Empty = "policy-empty",
        /// The body is not UTF-8.
        NotUtf8 = "policy-not-utf8",
        /// The body starts with a UTF-8 byte order mark, which becomes part of the first field name.
        Bom = "policy-bom",
        /// The body is an HTML page (an error page, or a site's index), not a policy.
        Html = "policy-html",
        /// The body is a document (RTF) rather than plain text.
        NotPlainText = "policy-not-plain-text",
        /// The body is over 64 KiB, more than senders read.
        TooLarge = "policy-too-large",
        /// A carriage return not followed by a line feed; only LF and CRLF end lines.
        LineEnding = "line-ending-invalid",
        /// A blank line; strict senders refuse it, lenient ones skip it.
        BlankLine = "blank-line",
        /// Whitespace at the end of a line.
        TrailingWhitespace = "trailing-whitespace",
        /// Whitespace before a field name, which the grammar does not allow.
        Indented = "line-indented",
        /// A line that is not `name: value`.
        LineSyntax = "line-syntax",
        /// The DNS TXT record pasted into the policy file.
        TxtRecordInPolicy = "txt-record-in-policy",
        /// MX hosts written as a YAML list (`mx:` then `- host` lines).
        MxListSyntax = "mx-list-syntax",
        /// A field name outside the grammar (space before the colon, bad characters, too long).
        FieldNameInvalid = "field-name-invalid",
        /// A known field written in another case (`Mode:`); names are case-sensitive.
        FieldNameCase = "field-name-case",
        /// A field name one or two letters away from a known one (`nmx:`, `maxage:`).
        FieldNameTypo = "field-name-typo",
        /// An extension field senders ignore.
        FieldUnknown = "field-unknown",
        /// An `id:` line copied from the TXT record.
        IdInPolicy = "id-in-policy",
        /// A field other than `mx` given twice; senders use the first.
        FieldDuplicate = "field-duplicate",
        /// An extension value outside the grammar (empty, control characters, tabs).
        ExtensionValueInvalid = "extension-value-invalid",
        /// No `version:` field.
        VersionMissing = "version-missing",
        /// `version:` is not `STSv1`.
        VersionInvalid = "version-invalid",
        /// No `mode:` field.
        ModeMissing = "mode-missing",
        /// `mode:` is not `testing`, `enforce` or `none`.
        ModeInvalid = "mode-invalid",
        /// No `max_age:` field.
        MaxAgeMissing = "max-age-missing",
        /// `max_age:` is not 1 to 10 digits.
        MaxAgeInvalid = "max-age-invalid",
        /// `max_age:` is over 31557600.
        MaxAgeTooLarge = "max-age-too-large",
        /// `max_age:` is under a day: senders re-fetch constantly and the policy protects little.
        MaxAgeLow = "max-age-low",
        /// `max_age:` is under a week; the RFC expects weeks or more.
        MaxAgeShort = "max-age-short",
        /// Mode `testing` or `enforce` without any `mx:` line.
        MxMissing = "mx-missing",
        /// The same `mx` pattern twice.
        MxDuplicate = "mx-duplicate",
        /// Mode `testing`: failures are reported, not prevented.
        ModeTesting = "mode-testing",
        /// Mode `none`: the policy asks senders to treat the domain as having no policy.
        ModeNone = "mode-none",
    }
}

const KNOWN_FIELDS: [&str; 4] = ["version", "mode", "max_age", "mx"];

/// Common `max_age` values, for spotting one with a digit dropped (`60480` for `604800`).
const COMMON_MAX_AGES: [u32; 7] = [
    86_400, 604_800, 1_209_600, 2_419_200, 2_592_000, 31_536_000, 31_557_600,
];

/// One line of the body: its 1-based number and its text without the line end.
struct Line<'a> {
    number: usize,
    text: &'a str,
}

/// Where one field was first seen, for duplicate detection.
struct Seen {
    line: usize,
    value: String,
}

#[derive(Default)]
struct State {
    version: Option<Seen>,
    mode: Option<Seen>,
    mode_value: Option<Mode>,
    max_age: Option<Seen>,
    max_age_value: Option<u32>,
    mx: Vec<MxPattern>,
    /// Index into `mx` of each (wildcard, base) seen, so a repeat is found without a scan.
    mx_seen: HashMap<(bool, String), usize>,
    mx_lines: usize,
    extensions: Vec<(String, String)>,
    diagnostics: Vec<Diagnostic>,
}

/// Lints a policy body (the bytes an HTTPS fetch returned).
pub fn lint(body: &[u8]) -> Lint<Policy> {
    let mut state = State::default();
    if body.is_empty() {
        state.diagnostics.push(
            Diagnostic::error(PolicyCode::Empty.as_str(), "the policy is empty").with_hint(
                "publish at least `version: STSv1`, `mode:`, `mx:` and `max_age:` lines",
            ),
        );
        return Lint::strict(state.diagnostics, None);
    }
    let body = if body.len() > MAX_POLICY_SIZE {
        // RFC 8461 §3.3: senders may limit the body they read; 64 KiB is the suggested limit.
        let head = within_limit(body);
        state.diagnostics.push(
            Diagnostic::error(
                PolicyCode::TooLarge.as_str(),
                format!(
                    "the policy is over {MAX_POLICY_SIZE} bytes, more than senders read; only its first {} bytes are linted",
                    head.len()
                ),
            )
            .with_hint("a policy is a few short lines: version, mode, max_age and one mx line per MX host"),
        );
        head
    } else {
        body
    };
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            let good = &body[..e.valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
            state.diagnostics.push(
                Diagnostic::error(
                    PolicyCode::NotUtf8.as_str(),
                    "the policy is not valid UTF-8 text",
                )
                .on_line(line)
                .at_column(column, 1)
                .with_hint("save the policy as plain ASCII (UTF-8) text"),
            );
            return Lint::strict(state.diagnostics, None);
        }
    };
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            state.diagnostics.push(
                Diagnostic::error(
                    PolicyCode::Bom.as_str(),
                    "the policy starts with a byte order mark, so its first field name is not `version`",
                )
                .on_line(1)
                .at_column(1, 1)
                .with_hint("save the file as UTF-8 without a BOM"),
            );
            rest
        }
        None => text,
    };
    let start = text.trim_start();
    if start.starts_with('<') {
        state.diagnostics.push(
            Diagnostic::error(
                PolicyCode::Html.as_str(),
                "the body is an HTML page, not a policy: the server answers this URL with a web page",
            )
            .on_line(1)
            .with_hint("serve the policy file itself, as text/plain, at /.well-known/mta-sts.txt"),
        );
        return Lint::strict(state.diagnostics, None);
    }
    if start.starts_with("{\\rtf") {
        state.diagnostics.push(
            Diagnostic::error(
                PolicyCode::NotPlainText.as_str(),
                "the body is an RTF document, not plain text",
            )
            .on_line(1)
            .with_hint("save the policy from a plain-text editor"),
        );
        return Lint::strict(state.diagnostics, None);
    }

    let lines = split_lines(text, &mut state.diagnostics);
    for (i, line) in lines.iter().enumerate() {
        lint_line(&mut state, line, lines.get(i + 1));
    }
    finish(state)
}

/// The part of an oversized body worth linting: its first [`MAX_POLICY_SIZE`] bytes, up to the
/// last line end among them (or the last whole character), so that the cut makes no finding.
fn within_limit(body: &[u8]) -> &[u8] {
    let head = body.get(..MAX_POLICY_SIZE).unwrap_or(body);
    if let Some(end) = head.iter().rposition(|b| *b == b'\n') {
        return head.get(..=end).unwrap_or(head);
    }
    match std::str::from_utf8(head) {
        // A character cut in two by the limit (`error_len` is None only for a cut at the end).
        Err(e) if e.error_len().is_none() => head.get(..e.valid_up_to()).unwrap_or(head),
        _ => head,
    }
}

/// Splits on LF, dropping a CR before it (RFC 8461 §3.2: `sts-policy-term = LF / CRLF`).
fn split_lines<'a>(text: &'a str, diagnostics: &mut Vec<Diagnostic>) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    let body = text.strip_suffix('\n').unwrap_or(text);
    for (i, raw) in body.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(cr) = line.find('\r') {
            diagnostics.push(
                Diagnostic::error(
                    PolicyCode::LineEnding.as_str(),
                    "a carriage return without a line feed; lines end with LF or CRLF",
                )
                .on_line(i + 1)
                .at_column(column_of(line, cr), 1)
                .with_hint("save the file with Unix (LF) or Windows (CRLF) line ends"),
            );
        }
        lines.push(Line {
            number: i + 1,
            text: line,
        });
    }
    lines
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn place(d: Diagnostic, line: &Line<'_>, offset: usize, len: usize) -> Diagnostic {
    let width = line.text.get(offset..offset + len).map_or(1, width_of);
    d.on_line(line.number)
        .at_column(column_of(line.text, offset), width)
}

/// A YAML list item (`- host` or `  - host`).
fn list_item<'a>(line: &Line<'a>) -> Option<&'a str> {
    line.text
        .trim_start_matches(is_wsp)
        .strip_prefix('-')
        .map(|rest| rest.trim())
}

fn lint_line(state: &mut State, line: &Line<'_>, next: Option<&Line<'_>>) {
    let text = line.text;
    if text.trim_matches(is_wsp).is_empty() {
        state.diagnostics.push(place(
            Diagnostic::warning(
                PolicyCode::BlankLine.as_str(),
                "a blank line; the grammar has none, and strict senders refuse the policy",
            )
            .with_hint("remove the blank line"),
            line,
            0,
            text.len(),
        ));
        return;
    }
    if let Some(item) = list_item(line)
        && (state.mx_lines > 0 || item.contains('.'))
    {
        state.diagnostics.push(place(
            Diagnostic::error(
                PolicyCode::MxListSyntax.as_str(),
                format!(
                    "`{}` is a YAML list item; each MX pattern needs its own `mx:` line",
                    text.trim()
                ),
            )
            .with_hint(format!("write `mx: {item}`")),
            line,
            0,
            text.len(),
        ));
        return;
    }
    let indent = text.len() - text.trim_start_matches(is_wsp).len();
    if indent > 0 {
        state.diagnostics.push(place(
            Diagnostic::error(
                PolicyCode::Indented.as_str(),
                "the line starts with whitespace, so its field name is not recognised",
            )
            .with_hint("remove the indentation: every line starts with its field name"),
            line,
            0,
            indent,
        ));
    }
    let content = &text[indent..];
    let Some(colon) = content.find(':') else {
        lint_line_without_colon(state, line, indent, content);
        return;
    };
    let name = &content[..colon];
    let name_offset = indent;
    let after = &content[colon + 1..];
    // RFC 8461 §3.2: sts-policy-field-delim = ":" *WSP
    let lead = after.len() - after.trim_start_matches(is_wsp).len();
    let value_offset = indent + colon + 1 + lead;
    let untrimmed = &after[lead..];
    let value = untrimmed.trim_end_matches(is_wsp);
    if value.len() < untrimmed.len() {
        state.diagnostics.push(place(
            Diagnostic::warning(
                PolicyCode::TrailingWhitespace.as_str(),
                "whitespace at the end of the line",
            )
            .with_hint("remove the trailing whitespace; strict senders refuse it"),
            line,
            value_offset + value.len(),
            untrimmed.len() - value.len(),
        ));
    }
    if name.ends_with(is_wsp) {
        state.diagnostics.push(place(
            Diagnostic::error(
                PolicyCode::FieldNameInvalid.as_str(),
                format!("a space before the colon: the field name is `{name}`"),
            )
            .with_hint(format!("write `{}: {value}`", name.trim_end())),
            line,
            name_offset,
            name.len(),
        ));
        return;
    }
    let field = Field {
        name,
        name_offset,
        value,
        value_offset,
    };
    match name {
        "version" => lint_version(state, line, &field),
        "mode" => lint_mode(state, line, &field),
        "max_age" => lint_max_age(state, line, &field),
        "mx" => lint_mx(state, line, &field, next),
        _ => lint_extension(state, line, &field),
    }
}

struct Field<'a> {
    name: &'a str,
    name_offset: usize,
    value: &'a str,
    value_offset: usize,
}

fn lint_line_without_colon(state: &mut State, line: &Line<'_>, indent: usize, content: &str) {
    let d = if content.starts_with("v=STSv1") || content.starts_with("v=TLSRPTv1") {
        Diagnostic::error(
            PolicyCode::TxtRecordInPolicy.as_str(),
            "this is a DNS TXT record, not a policy line",
        )
        .with_hint(
            "publish it in DNS (at _mta-sts or _smtp._tls); the policy has `name: value` lines",
        )
    } else if let Some((name, value)) = content.split_once('=')
        && KNOWN_FIELDS.contains(&name.trim())
    {
        Diagnostic::error(
            PolicyCode::LineSyntax.as_str(),
            format!("`{content}` uses `=`; policy fields use `:`"),
        )
        .with_hint(format!("write `{}: {}`", name.trim(), value.trim()))
    } else {
        Diagnostic::error(
            PolicyCode::LineSyntax.as_str(),
            format!("`{}` is not a `name: value` line", truncate(content)),
        )
        .with_hint(
            "every line of a policy is `version:`, `mode:`, `mx:`, `max_age:` or `name: value`",
        )
    };
    state
        .diagnostics
        .push(place(d, line, indent, content.len()));
}

fn truncate(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

/// A hint for a value that swallowed the next line (`604800version: STSv1`).
fn run_together_hint(value: &str) -> Option<String> {
    KNOWN_FIELDS.iter().find_map(|field| {
        let needle = format!("{field}:");
        value
            .find(&needle)
            .filter(|at| *at > 0)
            .map(|_| format!("a line break seems to be missing before `{needle}`"))
    })
}

/// Records a non-`mx` field; returns false for a repeat (its value is not used).
fn first_occurrence(
    slot: &mut Option<Seen>,
    line: &Line<'_>,
    field: &Field<'_>,
    out: &mut Vec<Diagnostic>,
) -> bool {
    match slot {
        Some(seen) => {
            // RFC 8461 §3.2: "If a field is repeated, the first value MUST be used" (mx excepted).
            let same = seen.value == field.value;
            let message = if field.name == "version" {
                format!(
                    "a second `version:` (first on line {}): two policies seem to be concatenated",
                    seen.line
                )
            } else if same {
                format!("`{}` is repeated (first on line {})", field.name, seen.line)
            } else {
                format!(
                    "`{}: {}` is ignored: senders use the first value, `{}` on line {}",
                    field.name, field.value, seen.value, seen.line
                )
            };
            out.push(place(
                Diagnostic::warning(PolicyCode::FieldDuplicate.as_str(), message)
                    .with_hint("keep one line per field"),
                line,
                field.name_offset,
                field.name.len(),
            ));
            false
        }
        None => {
            *slot = Some(Seen {
                line: line.number,
                value: field.value.to_string(),
            });
            true
        }
    }
}

fn lint_version(state: &mut State, line: &Line<'_>, field: &Field<'_>) {
    if !first_occurrence(&mut state.version, line, field, &mut state.diagnostics) {
        return;
    }
    // RFC 8461 §3.2: sts-policy-version = %s"version" sts-policy-field-delim %s"STSv1"
    if field.value != "STSv1" {
        let mut d = Diagnostic::error(
            PolicyCode::VersionInvalid.as_str(),
            format!("version `{}` is not `STSv1`", field.value),
        );
        d = match run_together_hint(field.value) {
            Some(hint) => d.with_hint(hint),
            None if field.value.eq_ignore_ascii_case("stsv1") => {
                d.with_hint("the version is case-sensitive: write `version: STSv1`")
            }
            None => d.with_hint("write `version: STSv1`"),
        };
        state
            .diagnostics
            .push(place(d, line, field.value_offset, field.value.len()));
    }
}

fn lint_mode(state: &mut State, line: &Line<'_>, field: &Field<'_>) {
    if !first_occurrence(&mut state.mode, line, field, &mut state.diagnostics) {
        return;
    }
    if let Some(mode) = Mode::from_policy_value(field.value) {
        state.mode_value = Some(mode);
        return;
    }
    let mut d = Diagnostic::error(
        PolicyCode::ModeInvalid.as_str(),
        if field.value.is_empty() {
            "`mode:` has no value".to_string()
        } else {
            format!(
                "mode `{}` is not one of testing, enforce, none",
                field.value
            )
        },
    );
    if let Some(hint) = run_together_hint(field.value).or_else(|| mode_hint(field.value)) {
        d = d.with_hint(hint);
    }
    state
        .diagnostics
        .push(place(d, line, field.value_offset, field.value.len()));
}

/// Explains a wrong mode value: template brackets, case, comments, synonyms and typos.
fn mode_hint(value: &str) -> Option<String> {
    if value.contains("testing") && value.contains("enforce") {
        return Some("choose one: `mode: testing` first, then `mode: enforce`".into());
    }
    let without_comment = value.split(" #").next().unwrap_or(value).trim();
    let bare = without_comment.trim_matches(|c: char| "[]<>\"'{}()".contains(c));
    let lower = bare.to_ascii_lowercase();
    let suggestion = match lower.as_str() {
        "testing" | "enforce" | "none" => Some(lower.clone()),
        "test" | "tests" | "report" | "reporting" | "report-only" | "monitor" | "monitoring"
        | "audit" | "observe" | "learning" => Some("testing".into()),
        "enforced" | "enforcing" | "enforcement" | "enforces" | "live" | "on" | "strict"
        | "reject" | "require" | "required" | "production" | "true" => Some("enforce".into()),
        "off" | "disabled" | "disable" | "no" | "false" => Some("none".into()),
        _ => ["testing", "enforce", "none"]
            .into_iter()
            .find(|m| edit_distance(&lower, m) <= 2)
            .map(String::from),
    }?;
    let why = if without_comment != value {
        "comments are not part of the grammar"
    } else if bare != without_comment {
        "remove the brackets left from a template"
    } else if lower == suggestion {
        "the mode is case-sensitive"
    } else {
        return Some(format!(
            "the RFC says `{suggestion}`: write `mode: {suggestion}`"
        ));
    };
    Some(format!("{why}: write `mode: {suggestion}`"))
}

fn lint_max_age(state: &mut State, line: &Line<'_>, field: &Field<'_>) {
    if !first_occurrence(&mut state.max_age, line, field, &mut state.diagnostics) {
        return;
    }
    let value = field.value;
    let place_value = |d: Diagnostic| place(d, line, field.value_offset, value.len());
    // RFC 8461 §3.2: sts-policy-max-age = %s"max_age" sts-policy-field-delim 1*10(DIGIT)
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_digit()) {
        let mut d = Diagnostic::error(
            PolicyCode::MaxAgeInvalid.as_str(),
            if value.is_empty() {
                "`max_age:` has no value".to_string()
            } else {
                format!("max_age `{value}` is not a whole number of seconds")
            },
        );
        if let Some(hint) = run_together_hint(value).or_else(|| max_age_hint(value)) {
            d = d.with_hint(hint);
        }
        state.diagnostics.push(place_value(d));
        return;
    }
    let seconds: u64 = value.parse().unwrap_or(u64::MAX);
    if value.len() > 10 || seconds > u64::from(MAX_MAX_AGE) {
        let mut d = Diagnostic::error(
            PolicyCode::MaxAgeTooLarge.as_str(),
            format!("max_age {value} is over the maximum of {MAX_MAX_AGE} seconds (one year)"),
        )
        .with_hint(format!(
            "write `max_age: {MAX_MAX_AGE}` or less; a week (604800) or more is typical"
        ));
        if value.len() > 10 {
            d.message =
                format!("max_age `{value}` has more than 10 digits; the maximum is {MAX_MAX_AGE}");
        }
        state.diagnostics.push(place_value(d));
        return;
    }
    let seconds = u32::try_from(seconds).unwrap_or(MAX_MAX_AGE);
    state.max_age_value = Some(seconds);
}

/// Explains a `max_age` that is not plain digits: units, separators, decimals, signs.
fn max_age_hint(value: &str) -> Option<String> {
    let write = |n: u64| format!("max_age is plain seconds: write `max_age: {n}`");
    if value.starts_with('-') {
        return Some("max_age cannot be negative; a week is `max_age: 604800`".into());
    }
    if let Some((int, frac)) = value.split_once('.')
        && !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c == '0')
    {
        return int.parse().ok().map(write);
    }
    let digits: String = value
        .chars()
        .filter(|c| !matches!(c, ',' | '_' | ' ' | '\''))
        .collect();
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return digits.parse().ok().map(write);
    }
    let lower = value.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = lower.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "wk" | "week" | "weeks" => 604_800,
        _ => return None,
    };
    number.checked_mul(factor).map(write)
}

/// `60480` → `604800`: a common value with one digit dropped.
fn dropped_digit(value: u32) -> Option<u32> {
    let text = value.to_string();
    COMMON_MAX_AGES.into_iter().find(|common| {
        let common_text = common.to_string();
        common_text.len() == text.len() + 1
            && (0..common_text.len()).any(|i| {
                let mut shorter = common_text.clone();
                shorter.remove(i);
                shorter == text
            })
    })
}

fn lint_mx(state: &mut State, line: &Line<'_>, field: &Field<'_>, next: Option<&Line<'_>>) {
    state.mx_lines += 1;
    if field.value.is_empty() && next.and_then(list_item).is_some() {
        state.diagnostics.push(place(
            Diagnostic::error(
                PolicyCode::MxListSyntax.as_str(),
                "`mx:` followed by a YAML list; each MX pattern needs its own `mx:` line",
            )
            .with_hint("write `mx: host` once per host, without `-`"),
            line,
            field.name_offset,
            field.name.len() + 1,
        ));
        return;
    }
    let lint = MxPattern::lint(field.value);
    let value_column = column_of(line.text, field.value_offset);
    for mut d in lint.diagnostics {
        if let Some(hint) = run_together_hint(field.value) {
            d = d.with_hint(hint);
        }
        d.line = Some(line.number);
        d.column = Some(d.column.map_or(value_column, |c| c + value_column - 1));
        state.diagnostics.push(d);
    }
    if let Some(pattern) = lint.pattern {
        let key = (pattern.is_wildcard(), pattern.base().to_string());
        if let Some(first) = state.mx_seen.get(&key).and_then(|i| state.mx.get(*i)) {
            state.diagnostics.push(place(
                Diagnostic::warning(
                    PolicyCode::MxDuplicate.as_str(),
                    format!("`mx: {}` repeats `{first}`", pattern.as_str()),
                )
                .with_hint("remove the repeated line"),
                line,
                field.value_offset,
                field.value.len(),
            ));
            return;
        }
        state.mx_seen.insert(key, state.mx.len());
        state.mx.push(pattern);
    }
}

fn lint_extension(state: &mut State, line: &Line<'_>, field: &Field<'_>) {
    let name_place = |d: Diagnostic| place(d, line, field.name_offset, field.name.len());
    // RFC 8461 §3.2: sts-policy-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
    if !crate::txt_discovery::is_ext_name(field.name) {
        state.diagnostics.push(name_place(
            Diagnostic::error(
                PolicyCode::FieldNameInvalid.as_str(),
                format!("`{}` is not a valid field name", truncate(field.name)),
            )
            .with_hint(
                "field names are a letter or digit, then up to 31 letters, digits, `_`, `-` or `.`",
            ),
        ));
        return;
    }
    // RFC 8461 §3.2: sts-policy-ext-value = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]
    if field.value.is_empty() || field.value.chars().any(|c| c.is_control()) {
        let d = Diagnostic::error(
            PolicyCode::ExtensionValueInvalid.as_str(),
            if field.value.is_empty() {
                format!("`{}:` has no value", field.name)
            } else {
                format!(
                    "the value of `{}` contains a control character (a tab?)",
                    field.name
                )
            },
        );
        state
            .diagnostics
            .push(place(d, line, field.value_offset, field.value.len()));
    }
    let lower = field.name.to_ascii_lowercase();
    let d = if let Some(known) = KNOWN_FIELDS.iter().find(|k| **k == lower) {
        Diagnostic::warning(
            PolicyCode::FieldNameCase.as_str(),
            format!("`{}` is not `{known}`: field names are case-sensitive, so senders ignore this line", field.name),
        )
        .with_hint(format!("write `{known}: {}`", field.value))
    } else if lower == "id" {
        Diagnostic::warning(
            PolicyCode::IdInPolicy.as_str(),
            "`id:` belongs in the _mta-sts TXT record, not the policy",
        )
        .with_hint("remove this line; change the TXT record's id whenever the policy changes")
    } else if let Some(known) = typo_of(&lower) {
        Diagnostic::warning(
            PolicyCode::FieldNameTypo.as_str(),
            format!("unknown field `{}` is ignored by senders", field.name),
        )
        .with_hint(format!(
            "did you mean `{known}`? write `{known}: {}`",
            field.value
        ))
    } else {
        Diagnostic::info(
            PolicyCode::FieldUnknown.as_str(),
            format!(
                "`{}` is not a field of RFC 8461; senders ignore it",
                field.name
            ),
        )
    };
    state.diagnostics.push(name_place(d));
    state
        .extensions
        .push((field.name.to_string(), field.value.to_string()));
}

/// The known field a misspelt name most likely meant.
fn typo_of(lower: &str) -> Option<&'static str> {
    let squashed: String = lower
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .collect();
    if squashed == "maxage" {
        return Some("max_age");
    }
    KNOWN_FIELDS.into_iter().find(|known| {
        let limit = if known.len() <= 2 { 1 } else { 2 };
        edit_distance(lower, known) <= limit
    })
}

/// Levenshtein distance; written here because the names compared are a few bytes long and no
/// dependency is worth it for that.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn finish(mut state: State) -> Lint<Policy> {
    let out = &mut state.diagnostics;
    // RFC 8461 §3.2: version, mode and max_age are required.
    if state.version.is_none() {
        out.push(
            Diagnostic::error(
                PolicyCode::VersionMissing.as_str(),
                "the policy has no `version:` line",
            )
            .with_hint("add `version: STSv1` as the first line"),
        );
    }
    if state.mode.is_none() {
        out.push(
            Diagnostic::error(
                PolicyCode::ModeMissing.as_str(),
                "the policy has no `mode:` line",
            )
            .with_hint("add `mode: testing` (then `mode: enforce` once TLS-RPT reports are clean)"),
        );
    }
    if state.max_age.is_none() {
        let message = if state.mode_value == Some(Mode::None) {
            "the policy has no `max_age:` line (it is required even with `mode: none`)"
        } else {
            "the policy has no `max_age:` line"
        };
        out.push(
            Diagnostic::error(PolicyCode::MaxAgeMissing.as_str(), message)
                .with_hint("add `max_age: 604800` (one week)"),
        );
    }
    // RFC 8461 §3.2: mx is required unless the mode is none.
    if state.mx_lines == 0 && state.mode_value != Some(Mode::None) {
        out.push(
            Diagnostic::error(
                PolicyCode::MxMissing.as_str(),
                "the policy has no `mx:` line; senders need the MX hosts it allows",
            )
            .with_hint(
                "add one line per MX host, e.g. `mx: mail.example.com` (or `mx: *.example.com`)",
            ),
        );
    }
    match (state.mode_value, state.max_age_value) {
        (Some(Mode::None), _) | (_, None) => {}
        (_, Some(age)) if age < ONE_DAY => {
            let mut d = Diagnostic::warning(
                PolicyCode::MaxAgeLow.as_str(),
                format!(
                    "max_age {age} is under a day: senders re-fetch often and an attacker has frequent chances"
                ),
            );
            d = match dropped_digit(age) {
                Some(common) => d.with_hint(format!(
                    "did you mean `max_age: {common}`? a digit seems to be missing"
                )),
                None => d.with_hint(
                    "use at least 86400 (a day); 604800 (a week) or more is recommended",
                ),
            };
            out.push(place_on_field(d, &state.max_age));
        }
        (_, Some(age)) if age < ONE_WEEK => {
            let d = Diagnostic::info(
                PolicyCode::MaxAgeShort.as_str(),
                format!("max_age {age} is under a week; RFC 8461 expects weeks or more"),
            )
            .with_hint("once the policy is stable, use `max_age: 604800` or more");
            out.push(place_on_field(d, &state.max_age));
        }
        _ => {}
    }
    match state.mode_value {
        Some(Mode::Testing) => out.push(place_on_field(
            Diagnostic::info(
                PolicyCode::ModeTesting.as_str(),
                "mode testing: senders report failures (with TLS-RPT) but still deliver over them",
            )
            .with_hint(
                "move to `mode: enforce` (with a new TXT id) once TLS-RPT reports are clean",
            ),
            &state.mode,
        )),
        Some(Mode::None) => out.push(place_on_field(
            Diagnostic::info(
                PolicyCode::ModeNone.as_str(),
                "mode none: senders treat the domain as having no MTA-STS policy",
            ),
            &state.mode,
        )),
        _ => {}
    }
    let policy = match (state.mode_value, state.max_age_value) {
        (Some(mode), Some(max_age)) if state.version.is_some() => Some(Policy {
            mode,
            max_age,
            mx: state.mx,
            extensions: state.extensions,
        }),
        _ => None,
    };
    Lint::strict(state.diagnostics, policy)
}

fn place_on_field(d: Diagnostic, seen: &Option<Seen>) -> Diagnostic {
    match seen {
        Some(seen) => d.on_line(seen.line),
        None => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: STSv1\nmode: enforce\nmx: mail.mail-host.net\nmx: *.mx.mail-host.net\nmax_age: 604800\n";

    fn lint_str(text: &str) -> Lint<Policy> {
        lint(text.as_bytes())
    }

    fn codes(text: &str) -> Vec<&'static str> {
        lint_str(text).diagnostics.iter().map(|d| d.code).collect()
    }

    /// A valid policy with one line replaced.
    fn with_line(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replacen(from, to, 1)
    }

    fn find<'a>(lint: &'a Lint<Policy>, code: &str) -> &'a Diagnostic {
        lint.diagnostics
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("no {code} in {:?}", lint.diagnostics))
    }

    #[test]
    fn a_good_policy_has_no_diagnostics() {
        let lint = lint_str(GOOD);
        assert!(lint.valid);
        assert!(lint.diagnostics.is_empty(), "{:?}", lint.diagnostics);
        assert!(lint.parsed.is_some());
    }

    #[test]
    fn crlf_and_missing_final_newline_are_valid() {
        assert!(lint_str(&GOOD.replace('\n', "\r\n")).diagnostics.is_empty());
        assert!(lint_str(GOOD.trim_end()).diagnostics.is_empty());
        assert!(
            lint_str("version:STSv1\nmode:\tenforce\nmx:mail.mail-host.net\nmax_age:86400").valid
        );
    }

    #[test]
    fn each_error_has_its_code() {
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "policy-empty"),
            ("\u{feff}".to_string() + GOOD, "policy-bom"),
            (
                "<!DOCTYPE html><html><body>Not found</body></html>".into(),
                "policy-html",
            ),
            ("  <html>".into(), "policy-html"),
            (
                "{\\rtf1\\ansi version: STSv1}".into(),
                "policy-not-plain-text",
            ),
            (GOOD.replace('\n', "\r"), "line-ending-invalid"),
            (
                with_line("mode: enforce", "  mode: enforce"),
                "line-indented",
            ),
            (with_line("mode: enforce", "mode enforce"), "line-syntax"),
            (with_line("mode: enforce", "mode=enforce"), "line-syntax"),
            (
                "v=STSv1; id=20240601\n".to_string() + GOOD,
                "txt-record-in-policy",
            ),
            (
                with_line("mx: mail.mail-host.net\n", "mx:\n  - mail.mail-host.net\n"),
                "mx-list-syntax",
            ),
            (
                with_line("mode: enforce", "mode : enforce"),
                "field-name-invalid",
            ),
            (
                with_line("mode: enforce", "mode: enforce\nx y: z"),
                "field-name-invalid",
            ),
            (
                with_line("mode: enforce", "mode: enforce\nfoo:"),
                "extension-value-invalid",
            ),
            (
                with_line("mode: enforce", "mode: enforce\nfoo: a\tb"),
                "extension-value-invalid",
            ),
            (with_line("version: STSv1\n", ""), "version-missing"),
            (
                with_line("version: STSv1", "version: STSv2"),
                "version-invalid",
            ),
            (
                with_line("version: STSv1", "version: stsv1"),
                "version-invalid",
            ),
            (with_line("mode: enforce\n", ""), "mode-missing"),
            (with_line("mode: enforce", "mode: report"), "mode-invalid"),
            (with_line("mode: enforce", "mode: Enforce"), "mode-invalid"),
            (with_line("mode: enforce", "mode:"), "mode-invalid"),
            (with_line("max_age: 604800\n", ""), "max-age-missing"),
            (
                with_line("max_age: 604800", "max_age: 1w"),
                "max-age-invalid",
            ),
            (
                with_line("max_age: 604800", "max_age: -1"),
                "max-age-invalid",
            ),
            (with_line("max_age: 604800", "max_age:"), "max-age-invalid"),
            (
                with_line("max_age: 604800", "max_age: 31557601"),
                "max-age-too-large",
            ),
            (
                with_line("max_age: 604800", "max_age: 99999999999"),
                "max-age-too-large",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 604800\n".into(),
                "mx-missing",
            ),
            (
                "version: STSv1\nmode: testing\nmax_age: 604800\n".into(),
                "mx-missing",
            ),
            (
                // An IPv6 address is outside the `Domain` grammar (an IPv4 one is a warning).
                with_line("mx: mail.mail-host.net", "mx: 2001:db8::25"),
                "mx-ip-address",
            ),
            (
                with_line("mx: mail.mail-host.net", "mx: mail.bücher.example"),
                "mx-u-label",
            ),
            (
                with_line("mx: mail.mail-host.net", "mx: mail.*.mail-host.net"),
                "mx-wildcard-invalid",
            ),
            (
                with_line("mx: mail.mail-host.net", "mx: _mail.mail-host.net"),
                "mx-invalid",
            ),
            (
                with_line("mx: mail.mail-host.net", "mx: mail.mail-host.net#x"),
                "mx-invalid",
            ),
            (
                with_line(
                    "mx: mail.mail-host.net",
                    "mx: a.mail-host.net b.mail-host.net",
                ),
                "mx-multiple-values",
            ),
            (with_line("mx: mail.mail-host.net", "mx:"), "mx-empty"),
        ];
        for (text, code) in &cases {
            let lint = lint_str(text);
            assert!(!lint.valid, "{text:?} should be invalid");
            assert!(lint.parsed.is_none(), "{text:?}");
            assert!(
                codes(text).contains(code),
                "{text:?}: expected {code}, got {:?}",
                codes(text)
            );
        }
    }

    #[test]
    fn warnings_and_notes_keep_the_policy_valid() {
        let cases: Vec<(String, &str)> = vec![
            (
                with_line("mode: enforce", "mode: enforce  "),
                "trailing-whitespace",
            ),
            (with_line("mode: enforce", "mode: enforce\n"), "blank-line"),
            (
                with_line("mode: enforce", "mode: enforce\n   "),
                "blank-line",
            ),
            (
                with_line("mode: enforce", "mode: enforce\nmode: testing"),
                "field-duplicate",
            ),
            (
                with_line("mode: enforce", "mode: enforce\nMode: testing"),
                "field-name-case",
            ),
            (
                with_line("mode: enforce", "mode: enforce\nnmx: b.mail-host.net"),
                "field-name-typo",
            ),
            (
                with_line("mode: enforce", "mode: enforce\nmaxage: 5"),
                "field-name-typo",
            ),
            (
                with_line("mode: enforce", "mode: enforce\nid: 20240601"),
                "id-in-policy",
            ),
            (
                with_line("mode: enforce", "mode: enforce\nfoo: bar"),
                "field-unknown",
            ),
            (with_line("max_age: 604800", "max_age: 3600"), "max-age-low"),
            (
                with_line("max_age: 604800", "max_age: 86400"),
                "max-age-short",
            ),
            (with_line("mode: enforce", "mode: testing"), "mode-testing"),
            (
                with_line("mx: mail.mail-host.net", "mx: mail.mail-host.net."),
                "mx-trailing-dot",
            ),
            (
                with_line("mx: *.mx.mail-host.net", "mx: mail.mail-host.net"),
                "mx-duplicate",
            ),
            (
                with_line("mx: *.mx.mail-host.net", "mx: MAIL.mail-host.net"),
                "mx-duplicate",
            ),
            (
                with_line("mx: mail.mail-host.net", "mx: mail.yourdomain.com"),
                "mx-placeholder",
            ),
            (
                with_line("mx: mail.mail-host.net", "mx: *.com"),
                "mx-wildcard-broad",
            ),
            (
                // RFC 5321's `Domain` admits all-digit labels: valid, matches no MX host name.
                with_line(
                    "mx: mail.mail-host.net",
                    "mx: mail.mail-host.net\nmx: 192.0.2.1",
                ),
                "mx-ip-address",
            ),
            (
                // Every pattern an address: still a valid policy (the daemon decides what to do).
                with_line("mx: mail.mail-host.net", "mx: 192.0.2.1"),
                "mx-ip-address",
            ),
            (
                "version: STSv1\nmode: none\nmax_age: 86400\n".into(),
                "mode-none",
            ),
        ];
        for (text, code) in &cases {
            let lint = lint_str(text);
            assert!(
                lint.valid,
                "{text:?} should stay valid: {:?}",
                lint.diagnostics
            );
            assert!(lint.parsed.is_some());
            assert!(
                codes(text).contains(code),
                "{text:?}: expected {code}, got {:?}",
                codes(text)
            );
            assert!(lint.diagnostics.iter().all(|d| !d.is_error()));
        }
    }

    #[test]
    fn typo_in_the_only_mx_line_is_also_an_error() {
        // `nmx:` is ignored, so enforce has no mx at all.
        let text = "version: STSv1\nmode: enforce\nnmx: mail.mail-host.net\nmax_age: 604800\n";
        let lint = lint_str(text);
        assert!(!lint.valid);
        assert!(lint.has("field-name-typo") && lint.has("mx-missing"));
        assert_eq!(
            find(&lint, "field-name-typo").hint.as_deref(),
            Some("did you mean `mx`? write `mx: mail.mail-host.net`")
        );
    }

    #[test]
    fn mode_none_needs_no_mx_but_needs_max_age() {
        assert!(lint_str("version: STSv1\nmode: none\nmax_age: 86400\n").valid);
        let lint = lint_str("version: STSv1\nmode: none\n");
        assert!(!lint.valid);
        assert!(
            find(&lint, "max-age-missing")
                .message
                .contains("even with `mode: none`")
        );
        assert!(!lint.has("mx-missing"));
    }

    #[test]
    fn mode_hints() {
        let hint = |mode: &str| {
            let lint = lint_str(&with_line("mode: enforce", &format!("mode: {mode}")));
            find(&lint, "mode-invalid").hint.clone().unwrap_or_default()
        };
        assert_eq!(
            hint("report"),
            "the RFC says `testing`: write `mode: testing`"
        );
        assert_eq!(
            hint("test"),
            "the RFC says `testing`: write `mode: testing`"
        );
        assert_eq!(
            hint("enforced"),
            "the RFC says `enforce`: write `mode: enforce`"
        );
        assert_eq!(
            hint("enforcing"),
            "the RFC says `enforce`: write `mode: enforce`"
        );
        assert_eq!(
            hint("live"),
            "the RFC says `enforce`: write `mode: enforce`"
        );
        assert_eq!(
            hint("Testing"),
            "the mode is case-sensitive: write `mode: testing`"
        );
        assert_eq!(
            hint("[testing]"),
            "remove the brackets left from a template: write `mode: testing`"
        );
        assert_eq!(
            hint("testing # for now"),
            "comments are not part of the grammar: write `mode: testing`"
        );
        assert_eq!(
            hint("testng"),
            "the RFC says `testing`: write `mode: testing`"
        );
        assert_eq!(
            hint("testing|enforce|none"),
            "choose one: `mode: testing` first, then `mode: enforce`"
        );
        assert_eq!(hint("off"), "the RFC says `none`: write `mode: none`");
    }

    #[test]
    fn max_age_hints() {
        let hint = |value: &str, code: &str| {
            let lint = lint_str(&with_line("max_age: 604800", &format!("max_age: {value}")));
            find(&lint, code).hint.clone().unwrap_or_default()
        };
        assert_eq!(
            hint("1w", "max-age-invalid"),
            "max_age is plain seconds: write `max_age: 604800`"
        );
        assert_eq!(
            hint("7 days", "max-age-invalid"),
            "max_age is plain seconds: write `max_age: 604800`"
        );
        assert_eq!(
            hint("604,800", "max-age-invalid"),
            "max_age is plain seconds: write `max_age: 604800`"
        );
        assert_eq!(
            hint("86400.0", "max-age-invalid"),
            "max_age is plain seconds: write `max_age: 86400`"
        );
        assert_eq!(
            hint("60480", "max-age-low"),
            "did you mean `max_age: 604800`? a digit seems to be missing"
        );
        assert_eq!(
            hint("8640", "max-age-low"),
            "did you mean `max_age: 86400`? a digit seems to be missing"
        );
        assert!(hint("360", "max-age-low").starts_with("use at least 86400"));
    }

    #[test]
    fn concatenated_lines_are_explained() {
        let text = "version: STSv1\nmode: enforce\nmx: mail.mail-host.net\nmax_age: 604800version: STSv1\n";
        let lint = lint_str(text);
        assert_eq!(
            find(&lint, "max-age-invalid").hint.as_deref(),
            Some("a line break seems to be missing before `version:`")
        );
    }

    #[test]
    fn two_policies_concatenated() {
        let text = format!("{GOOD}{GOOD}");
        let lint = lint_str(&text);
        assert!(
            find(&lint, "field-duplicate")
                .message
                .contains("two policies seem to be concatenated")
        );
        assert!(lint.has("mx-duplicate"));
    }

    #[test]
    fn every_line_indented_is_an_error_per_line() {
        let text: String = GOOD.lines().map(|l| format!("    {l}\n")).collect();
        let lint = lint_str(&text);
        assert_eq!(
            lint.diagnostics
                .iter()
                .filter(|d| d.code == "line-indented")
                .count(),
            5
        );
        assert!(!lint.valid);
    }

    #[test]
    fn yaml_list_points_to_each_item() {
        let text = "version: STSv1\nmode: enforce\nmx:\n  - mx1.mail-host.net\n  - mx2.mail-host.net\nmax_age: 604800\n";
        let lint = lint_str(text);
        let items: Vec<_> = lint
            .diagnostics
            .iter()
            .filter(|d| d.code == "mx-list-syntax")
            .collect();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[1].hint.as_deref(),
            Some("write `mx: mx1.mail-host.net`")
        );
        assert_eq!(items[1].line, Some(4));
    }

    #[test]
    fn positions_are_line_and_character_column() {
        let text = with_line("mode: enforce", "mode:   enforced");
        let lint = lint_str(&text);
        let d = find(&lint, "mode-invalid");
        assert_eq!((d.line, d.column, d.width), (Some(2), Some(9), 8));
        let text = with_line("mx: mail.mail-host.net", "mx: mail.ex_ample.org");
        let d = find(&lint_str(&text), "mx-invalid").clone();
        assert_eq!((d.line, d.column), (Some(3), Some(12)));
    }

    #[test]
    fn not_utf8_is_located() {
        let lint = lint(b"version: STSv1\nmode: \xff\n");
        let d = find(&lint, "policy-not-utf8");
        assert_eq!((d.line, d.column), (Some(2), Some(7)));
    }

    #[test]
    fn over_64_kib_is_an_error_even_if_otherwise_fine() {
        let mut text = GOOD.to_string();
        while text.len() <= MAX_POLICY_SIZE {
            text.push_str(
                "x-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
            );
        }
        let lint = lint_str(&text);
        assert!(lint.has("policy-too-large"));
        assert!(!lint.valid);
    }

    #[test]
    fn over_64_kib_only_the_first_64_kib_are_linted() {
        let mut text = GOOD.to_string();
        while text.len() <= MAX_POLICY_SIZE {
            text.push_str("x-padding: aaaaaaaa\n");
        }
        // Past the limit: a sender never reads this line, so the linter does not either.
        text.push_str("mode: bogus\n");
        let lint = lint_str(&text);
        let too_large = find(&lint, "policy-too-large");
        assert!(
            too_large.message.contains("over 65536 bytes"),
            "{}",
            too_large.message
        );
        assert!(!lint.has("mode-invalid"));
        assert!(!lint.has("line-syntax"));
        // One line longer than the limit, cut inside a two-byte character: no UTF-8 finding.
        let mut long = "x-long: ".to_string();
        long.push_str(&"é".repeat(MAX_POLICY_SIZE));
        let lint = lint_str(&long);
        assert!(lint.has("policy-too-large"));
        assert!(!lint.has("policy-not-utf8"));
    }

    #[test]
    fn many_distinct_mx_lines_and_one_repeat() {
        let mut text = "version: STSv1\nmode: enforce\nmax_age: 604800\n".to_string();
        for i in 0..2_000 {
            text.push_str(&format!("mx: mx{i}.mail-host.net\n"));
        }
        text.push_str("mx: MX7.mail-host.net\n");
        let lint = lint_str(&text);
        let codes: Vec<&str> = lint.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["mx-duplicate"]);
        assert!(
            find(&lint, "mx-duplicate")
                .message
                .contains("repeats `mx7.mail-host.net`")
        );
        assert_eq!(lint.parsed.map(|p| p.mx.len()), Some(2_000));
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("nmx", "mx"), 1);
        assert_eq!(edit_distance("mode", "mode"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("verison", "version"), 2);
    }

    #[test]
    fn dropped_digit_finds_common_values() {
        assert_eq!(dropped_digit(60480), Some(604_800));
        assert_eq!(dropped_digit(3155760), Some(31_557_600));
        assert_eq!(dropped_digit(12345), None);
    }
}
