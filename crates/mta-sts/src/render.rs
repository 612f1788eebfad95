//! Human output: diagnostics drawn like a compiler's (by the core's [`lint_text`], which bounds
//! and escapes everything echoed from the input), coloured when standard output is a terminal.

use std::io::IsTerminal;

use mta_sts_core::Lint;
use mta_sts_core::lint_text::{self, Source};

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
}

/// Draws every diagnostic, then the verdict line, then a count of findings.
pub fn lint_report<T>(source: &Source<'_>, lint: &Lint<T>, verdict: &str, style: Style) -> String {
    lint_text::render(source, lint, verdict, style.color)
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
}
