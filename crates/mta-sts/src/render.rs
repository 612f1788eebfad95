//! Human output: diagnostics drawn like a compiler's, with the offending line and a caret under
//! the column, and a one-line verdict.

use std::fmt::Write as _;
use std::io::IsTerminal;

use mta_sts_core::{Diagnostic, Lint, Severity};

/// Whether to colour the output: only on a terminal, and never when `NO_COLOR` is set.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colour for standard output when it is a terminal and `NO_COLOR` is unset.
    pub fn for_stdout() -> Style {
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(self, severity: Severity, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match severity {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Info => "1;36",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// The input the diagnostics point into.
pub struct Source<'a> {
    /// What to call it in locations (`policy.txt`, `<stdin>`, `record`).
    pub name: &'a str,
    /// Its text (for binary input, a lossy rendering).
    pub text: &'a str,
    /// True for one-line inputs (TXT records), whose diagnostics carry a column but no line.
    pub single_line: bool,
}

impl Source<'_> {
    fn line(&self, number: usize) -> Option<&str> {
        self.text.lines().nth(number.checked_sub(1)?)
    }
}

/// Draws every diagnostic, then the verdict line, then a count of findings.
pub fn lint_report<T>(source: &Source<'_>, lint: &Lint<T>, verdict: &str, style: Style) -> String {
    let mut out = String::new();
    for d in &lint.diagnostics {
        diagnostic(&mut out, source, d, style);
        out.push('\n');
    }
    let (errors, warnings, notes) = (
        lint.count(Severity::Error),
        lint.count(Severity::Warning),
        lint.count(Severity::Info),
    );
    let label = if lint.valid {
        style.paint(Severity::Info, "valid")
    } else {
        style.paint(Severity::Error, "invalid")
    };
    let _ = writeln!(out, "{}: {label}: {verdict}", source.name);
    if errors + warnings + notes > 0 {
        let _ = writeln!(
            out,
            "{} error{}, {} warning{}, {} note{}",
            errors,
            plural(errors),
            warnings,
            plural(warnings),
            notes,
            plural(notes)
        );
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn diagnostic(out: &mut String, source: &Source<'_>, d: &Diagnostic, style: Style) {
    let _ = writeln!(
        out,
        "{}: {}",
        style.paint(d.severity, &format!("{}[{}]", d.severity.as_str(), d.code)),
        d.message
    );
    let (line_number, text) = match (d.line, source.single_line) {
        (_, true) => (None, Some(source.text)),
        (Some(n), false) => (Some(n), source.line(n)),
        (None, false) => (None, None),
    };
    let gutter = line_number.map_or(1, |n| n.to_string().len());
    let pad = " ".repeat(gutter);
    match (line_number, d.column) {
        (Some(n), Some(c)) => {
            let _ = writeln!(out, "{pad}--> {}:{n}:{c}", source.name);
        }
        (Some(n), None) => {
            let _ = writeln!(out, "{pad}--> {}:{n}", source.name);
        }
        (None, Some(c)) if source.single_line => {
            let _ = writeln!(out, "{pad}--> {}, column {c}", source.name);
        }
        _ => {}
    }
    if let (Some(text), Some(column)) = (text, d.column) {
        let shown = printable(text);
        let _ = writeln!(out, "{pad} |");
        match line_number {
            Some(n) => {
                let _ = writeln!(out, "{n} | {shown}");
            }
            None => {
                let _ = writeln!(out, "{pad} | {shown}");
            }
        }
        let caret = style.paint(d.severity, &"^".repeat(d.width.max(1)));
        let _ = writeln!(
            out,
            "{pad} | {}{caret}",
            " ".repeat(column.saturating_sub(1))
        );
    } else if let (Some(n), Some(text)) = (line_number, text) {
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{n} | {}", printable(text));
    }
    if let Some(hint) = &d.hint {
        let _ = writeln!(out, "{pad} = hint: {hint}");
    }
}

/// One character per character, so the caret lines up: tabs and control characters (a stray CR,
/// a BOM) are shown as a visible stand-in.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => ' ',
            '\u{feff}' => '␣',
            c if c.is_control() => '�',
            c => c,
        })
        .collect()
}

/// Seconds as the largest whole units (`604800` → `7 days`).
pub fn duration(seconds: u32) -> String {
    const UNITS: [(u32, &str); 4] = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    if seconds == 0 {
        return "0 seconds".into();
    }
    let mut rest = seconds;
    let mut parts = Vec::new();
    for (size, name) in UNITS {
        let n = rest / size;
        if n > 0 {
            parts.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
            rest %= size;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(604_800), "7 days");
        assert_eq!(duration(86_400), "1 day");
        assert_eq!(duration(31_557_600), "365 days 6 hours");
        assert_eq!(duration(3_661), "1 hour 1 minute 1 second");
        assert_eq!(duration(0), "0 seconds");
    }

    #[test]
    fn caret_sits_under_the_column() {
        let lint = mta_sts_core::policy_lint::lint(
            b"version: STSv1\nmode: report\nmx: a.b.test\nmax_age: 86400\n",
        );
        let source = Source {
            name: "p.txt",
            text: "version: STSv1\nmode: report\nmx: a.b.test\nmax_age: 86400\n",
            single_line: false,
        };
        let out = lint_report(&source, &lint, "x", Style { color: false });
        assert!(out.contains("error[mode-invalid]"), "{out}");
        assert!(out.contains(" --> p.txt:2:7\n"), "{out}");
        assert!(
            out.contains("2 | mode: report\n  |       ^^^^^^\n"),
            "{out}"
        );
    }

    #[test]
    fn record_diagnostics_show_the_record() {
        let text = "v=STSv1; id=a-b";
        let lint = mta_sts_core::sts_record::lint(text);
        let source = Source {
            name: "record",
            text,
            single_line: true,
        };
        let out = lint_report(&source, &lint, "x", Style { color: false });
        let expected = format!("  | v=STSv1; id=a-b\n  | {}^\n", " ".repeat(13));
        assert!(out.contains(&expected), "{out}");
        assert!(out.contains(" --> record, column 14\n"), "{out}");
    }
}
