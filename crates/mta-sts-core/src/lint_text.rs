//! Human text for a lint: every diagnostic drawn like a compiler's (the line it points into, a
//! caret under the column, the hint), then the verdict and a count of findings.
//!
//! The echo is bounded whatever the input, because the input may come from a hostile server or be
//! a binary file given by mistake:
//! - a source line is shown at most [`SNIPPET_WIDTH`] cells wide, cut around the column of the
//!   problem, with `…` where it was cut;
//! - control characters, terminal escapes, invisible format characters (zero-width, bidi
//!   overrides, a byte order mark) and bytes that are not UTF-8 are written as escapes (`\x1b`,
//!   `\u{200b}`, `\xff`), in snippets, messages, hints, the verdict and the input's name;
//! - a long word in a message (a 100 kB domain) is elided in the middle, and a message is at most
//!   [`MESSAGE_WIDTH`] characters;
//! - at most [`SHOWN_PER_CODE`] diagnostics of one code are drawn; the rest are counted.
//!
//! JSON output is not made here: it keeps every diagnostic, with its exact position.
//!
//! Drawing is linear in the size of the input and the number of diagnostics: lines are found
//! through an index of line starts built once, and a column of a long line through checkpoints
//! built once per line, never by scanning from the start for each diagnostic.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::{Diagnostic, Lint, Severity};

/// The most cells of a source line a snippet shows (escapes count their full width).
pub const SNIPPET_WIDTH: usize = 100;

/// The most characters a word of a message keeps; longer words lose their middle.
pub const WORD_WIDTH: usize = 60;

/// The most characters a message, hint or verdict keeps; longer ones lose their middle.
pub const MESSAGE_WIDTH: usize = 400;

/// How many diagnostics of one code are drawn; the rest are counted in one line.
pub const SHOWN_PER_CODE: usize = 20;

/// Source columns shown before the column of the problem when a line is cut.
const CONTEXT_BEFORE: usize = SNIPPET_WIDTH / 2;

/// Lines up to this many bytes are scanned from their start; longer ones get checkpoints.
const SHORT_LINE: usize = 1024;

/// Columns between two checkpoints of a long line.
const CHECKPOINT_EVERY: usize = 256;

/// The input the diagnostics point into.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// What to call it in locations (`policy.txt`, `<stdin>`, `record`).
    pub name: &'a str,
    /// The bytes as read (for a compressed report, the decompressed JSON).
    pub bytes: &'a [u8],
    /// True for one-line inputs (TXT records), whose diagnostics carry a column but no line.
    pub single_line: bool,
    /// When reading stopped at a size limit: how many bytes were read.
    pub stopped_after: Option<usize>,
}

/// Draws every diagnostic (at most [`SHOWN_PER_CODE`] of a code), then the verdict line, then a
/// count of findings. `color` paints severities with ANSI colours.
pub fn render<T>(source: &Source<'_>, lint: &Lint<T>, verdict: &str, color: bool) -> String {
    let mut out = String::new();
    let name = escaped(source.name);
    let mut lines = Lines::new(source.bytes, source.single_line);
    let mut drawn: HashMap<&str, usize> = HashMap::new();
    // Codes past the limit, in order of their first hidden diagnostic.
    let mut hidden: Vec<(&str, Severity, usize)> = Vec::new();
    for d in &lint.diagnostics {
        let count = drawn.entry(d.code).or_insert(0);
        *count += 1;
        if *count > SHOWN_PER_CODE {
            match hidden.iter_mut().find(|(code, ..)| *code == d.code) {
                Some((.., n)) => *n += 1,
                None => hidden.push((d.code, d.severity, 1)),
            }
            continue;
        }
        diagnostic(&mut out, &name, &mut lines, d, color);
        out.push('\n');
    }
    for (code, severity, n) in hidden {
        let _ = writeln!(
            out,
            "{n} more {}[{code}] not shown here; the JSON output lists every diagnostic",
            severity.as_str()
        );
    }
    if let Some(read) = source.stopped_after {
        let _ = writeln!(
            out,
            "{name}: reading stopped after {read} bytes, past the size limit; the rest of the input was not read"
        );
    }
    let (errors, warnings, notes) = (
        lint.count(Severity::Error),
        lint.count(Severity::Warning),
        lint.count(Severity::Info),
    );
    let label = if lint.valid {
        paint(color, Severity::Info, "valid")
    } else {
        paint(color, Severity::Error, "invalid")
    };
    let _ = writeln!(out, "{name}: {label}: {}", message_text(verdict));
    if errors + warnings + notes > 0 {
        let _ = writeln!(
            out,
            "{errors} error{}, {warnings} warning{}, {notes} note{}",
            plural(errors),
            plural(warnings),
            plural(notes)
        );
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn paint(color: bool, severity: Severity, text: &str) -> String {
    if !color {
        return text.to_string();
    }
    let code = match severity {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "1;36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn diagnostic(out: &mut String, name: &str, lines: &mut Lines<'_>, d: &Diagnostic, color: bool) {
    let label = format!("{}[{}]", d.severity.as_str(), d.code);
    let _ = writeln!(
        out,
        "{}: {}",
        paint(color, d.severity, &label),
        message_text(&d.message)
    );
    let line_number = if lines.single_line { None } else { d.line };
    let gutter = line_number.map_or(1, |n| n.to_string().len());
    let pad = " ".repeat(gutter);
    match (line_number, d.column) {
        (Some(n), Some(c)) => {
            let _ = writeln!(out, "{pad}--> {name}:{n}:{c}");
        }
        (Some(n), None) => {
            let _ = writeln!(out, "{pad}--> {name}:{n}");
        }
        (None, Some(c)) if lines.single_line => {
            let _ = writeln!(out, "{pad}--> {name}, column {c}");
        }
        _ => {}
    }
    // One-line inputs show the record only under a column; multi-line inputs show the line.
    let shown = match line_number {
        Some(n) => lines.line(n).map(|text| (n, text)),
        None if lines.single_line && d.column.is_some() => Some((0, lines.bytes)),
        None => None,
    };
    if let Some((key, text)) = shown {
        let snippet = lines.snippet(key, text, d.column, d.width);
        let number = line_number.map_or_else(|| pad.clone(), |n| n.to_string());
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{number} | {}", snippet.text);
        if d.column.is_some() {
            let caret = paint(color, d.severity, &"^".repeat(snippet.caret_width));
            let _ = writeln!(out, "{pad} | {}{caret}", " ".repeat(snippet.caret_at));
        }
    }
    if let Some(hint) = &d.hint {
        let _ = writeln!(out, "{pad} = hint: {}", message_text(hint));
    }
}

/// One source line as drawn: escaped, cut to [`SNIPPET_WIDTH`], and where its caret goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The line as shown, `…` marking each side that was cut.
    pub text: String,
    /// Cells of `text` before the caret.
    pub caret_at: usize,
    /// Cells the caret covers, at least 1.
    pub caret_width: usize,
}

/// The snippet of one line for a diagnostic at a 1-based `column` covering `width` columns
/// (no column: the start of the line). Columns count characters, and each run of bytes that is not
/// UTF-8 as one, as the linters do.
pub fn snippet(line: &[u8], column: Option<usize>, width: usize) -> Snippet {
    Lines::new(line, true).snippet(0, line, column, width)
}

/// One column of a source line: a character, or a run of bytes that is not UTF-8 (one column,
/// as a lossy decoding shows it as one replacement character).
#[derive(Debug, Clone, Copy)]
enum Unit<'a> {
    Char(char),
    Invalid(&'a [u8]),
}

impl Unit<'_> {
    fn len(self) -> usize {
        match self {
            Unit::Char(c) => c.len_utf8(),
            Unit::Invalid(bytes) => bytes.len(),
        }
    }
}

fn units(bytes: &[u8]) -> impl Iterator<Item = Unit<'_>> {
    bytes.utf8_chunks().flat_map(|chunk| {
        let invalid = chunk.invalid();
        chunk
            .valid()
            .chars()
            .map(Unit::Char)
            .chain((!invalid.is_empty()).then_some(Unit::Invalid(invalid)))
    })
}

/// Writes one column as shown; returns its width in cells.
fn write_unit(out: &mut String, unit: Unit<'_>) -> usize {
    match unit {
        Unit::Char(c) => write_char(out, c),
        Unit::Invalid(bytes) => {
            for byte in bytes {
                let _ = write!(out, "\\x{byte:02x}");
            }
            4 * bytes.len()
        }
    }
}

/// Writes a character, or its escape when it would act on the terminal or be invisible.
fn write_char(out: &mut String, c: char) -> usize {
    let start = out.len();
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if c.is_ascii_control() => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c if c.is_control() || is_invisible(c) => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => {
            out.push(c);
            return 1;
        }
    }
    // Escapes are ASCII: one cell per byte.
    out.len() - start
}

/// Format characters and separators that draw nothing, reorder text or end a line in some
/// terminals: shown as escapes so what is on screen is what is in the input. Unicode's
/// default-ignorable set (the one domain input refuses), plus the line and paragraph separators
/// and the interlinear annotation marks, which are visible to no one but can break a line.
fn is_invisible(c: char) -> bool {
    crate::domain::is_default_ignorable(c)
        || matches!(u32::from(c), 0x2028 | 0x2029 | 0xfff9..=0xfffb)
}

/// Text from the input for one line of output: every character escaped as in snippets.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        write_char(&mut out, c);
    }
    out
}

/// A message, hint or verdict for one line of output: escaped, each word longer than
/// [`WORD_WIDTH`] characters elided in the middle, and the whole cut to [`MESSAGE_WIDTH`].
pub fn message_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MESSAGE_WIDTH));
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let length = word.chars().count();
        if length <= WORD_WIDTH {
            for c in word.chars() {
                write_char(&mut out, c);
            }
            continue;
        }
        // Keep both ends: a domain's tail names its zone.
        let head = WORD_WIDTH / 2;
        let tail = WORD_WIDTH - head - 1;
        for c in word.chars().take(head) {
            write_char(&mut out, c);
        }
        out.push('…');
        for c in word.chars().skip(length - tail) {
            write_char(&mut out, c);
        }
    }
    let length = out.chars().count();
    if length <= MESSAGE_WIDTH {
        return out;
    }
    let head = MESSAGE_WIDTH * 2 / 3;
    let tail = MESSAGE_WIDTH - head - 3;
    let mut cut: String = out.chars().take(head).collect();
    cut.push_str(" … ");
    cut.extend(out.chars().skip(length - tail));
    cut
}

/// Where each column of a long line starts: every byte is one column, or every
/// [`CHECKPOINT_EVERY`]th column's byte offset.
enum Columns {
    Ascii,
    Checkpoints(Vec<usize>),
}

/// The lines of a source, found once.
struct Lines<'a> {
    bytes: &'a [u8],
    single_line: bool,
    /// Byte offset of each line's start, built on first use.
    starts: Option<Vec<usize>>,
    /// Column checkpoints of the long lines drawn so far, by line number (0: a one-line source).
    columns: HashMap<usize, Columns>,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8], single_line: bool) -> Self {
        Lines {
            bytes,
            single_line,
            starts: None,
            columns: HashMap::new(),
        }
    }

    /// Line `number` (1-based) without its LF or CRLF.
    fn line(&mut self, number: usize) -> Option<&'a [u8]> {
        let bytes = self.bytes;
        let starts = self.starts.get_or_insert_with(|| {
            std::iter::once(0)
                .chain(
                    bytes
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| **b == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .collect()
        });
        let start = *starts.get(number.checked_sub(1)?)?;
        let end = starts.get(number).map_or(bytes.len(), |next| next - 1);
        let line = bytes.get(start..end)?;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    /// The byte offset of 1-based `column` in `line`, or the line's end and the column there when
    /// the line is shorter.
    fn seek(&mut self, key: usize, line: &[u8], column: usize) -> (usize, usize) {
        let (mut offset, mut at) = (0, 1);
        if line.len() > SHORT_LINE {
            let columns = self.columns.entry(key).or_insert_with(|| {
                if line.is_ascii() {
                    return Columns::Ascii;
                }
                let mut checkpoints = Vec::with_capacity(line.len() / CHECKPOINT_EVERY + 1);
                let mut offset = 0;
                for (i, unit) in units(line).enumerate() {
                    if i % CHECKPOINT_EVERY == 0 {
                        checkpoints.push(offset);
                    }
                    offset += unit.len();
                }
                Columns::Checkpoints(checkpoints)
            });
            match columns {
                Columns::Ascii => {
                    let offset = (column - 1).min(line.len());
                    return (offset, offset + 1);
                }
                Columns::Checkpoints(checkpoints) => {
                    let index = ((column - 1) / CHECKPOINT_EVERY).min(checkpoints.len() - 1);
                    offset = checkpoints[index];
                    at = index * CHECKPOINT_EVERY + 1;
                }
            }
        }
        for unit in units(&line[offset..]) {
            if at == column {
                break;
            }
            offset += unit.len();
            at += 1;
        }
        (offset, at)
    }

    fn snippet(&mut self, key: usize, line: &[u8], column: Option<usize>, width: usize) -> Snippet {
        let target = column.unwrap_or(1).max(1);
        let last = target + width.max(1) - 1;
        if let Some(whole) = whole_line(line, target, last) {
            return whole;
        }
        let (offset, first) = self.seek(key, line, target.saturating_sub(CONTEXT_BEFORE).max(1));
        let mut units = units(&line[offset..]);
        // The columns before the target, each with the end of its text and the cells so far.
        let mut before = String::new();
        let mut ends: Vec<(usize, usize)> = Vec::new();
        let mut cells = 0;
        let mut at = first;
        while at < target {
            let Some(unit) = units.next() else { break };
            cells += write_unit(&mut before, unit);
            ends.push((before.len(), cells));
            at += 1;
        }
        // Keep at most half the width before the target.
        let dropped = if cells <= CONTEXT_BEFORE {
            0
        } else {
            ends.iter()
                .position(|(_, upto)| cells - upto <= CONTEXT_BEFORE)
                .map_or(ends.len(), |i| i + 1)
        };
        let (cut_bytes, cut_cells) = match dropped.checked_sub(1) {
            Some(i) => ends[i],
            None => (0, 0),
        };
        let left_cut = first > 1 || dropped > 0;
        let lead = usize::from(left_cut);
        let mut text = String::with_capacity(SNIPPET_WIDTH + 16);
        if left_cut {
            text.push('…');
        }
        text.push_str(&before[cut_bytes..]);
        let mut shown = cells - cut_cells;
        let caret_at = lead + shown;
        let mut caret_end = None;
        let mut right_cut = false;
        for unit in units {
            let mark = text.len();
            let cells = write_unit(&mut text, unit);
            if shown + cells > SNIPPET_WIDTH {
                text.truncate(mark);
                right_cut = true;
                break;
            }
            shown += cells;
            if at == last {
                caret_end = Some(lead + shown);
            }
            at += 1;
        }
        if right_cut {
            text.push('…');
        }
        // A finding running past the cut covers the `…` too.
        let caret_end = caret_end.unwrap_or(lead + shown + usize::from(right_cut));
        Snippet {
            text,
            caret_at,
            caret_width: caret_end.saturating_sub(caret_at).max(1),
        }
    }
}

/// The whole line, when it fits in [`SNIPPET_WIDTH`] cells.
fn whole_line(line: &[u8], target: usize, last: usize) -> Option<Snippet> {
    // Every column takes at least one cell and at most four bytes.
    if line.len() > 4 * SNIPPET_WIDTH {
        return None;
    }
    let mut text = String::with_capacity(line.len());
    let mut cells = 0;
    let (mut caret_at, mut caret_end) = (None, None);
    for (i, unit) in units(line).enumerate() {
        if i + 1 == target {
            caret_at = Some(cells);
        }
        cells += write_unit(&mut text, unit);
        if cells > SNIPPET_WIDTH {
            return None;
        }
        if i + 1 == last {
            caret_end = Some(cells);
        }
    }
    // A column past the end (a missing value) points just after the line.
    let caret_at = caret_at.unwrap_or(cells);
    let caret_end = caret_end.unwrap_or(cells);
    Some(Snippet {
        text,
        caret_at,
        caret_width: caret_end.saturating_sub(caret_at).max(1),
    })
}

#[cfg(test)]
mod tests;
