//! Diagnostics: what a linter says about one place in a record, policy or report.
//!
//! Every linter in this crate returns a [`Lint`]: the diagnostics it found, and the value a
//! conforming reader would take from the input (if it can take one at all). Codes are stable
//! kebab-case strings: they are the public API that the CLI's `--json`, the checker and the web
//! page all expose, so a code is never renamed once released.

use serde::Serialize;

/// How much a diagnostic matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A conforming reader rejects the input (or, for a report, the input breaks the RFC).
    Error,
    /// Accepted, but it hurts: a reader may mis-handle it, or the operator probably meant
    /// something else.
    Warning,
    /// Worth knowing; nothing is wrong.
    Info,
}

impl Severity {
    /// The lowercase name used in output (`error`, `warning`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One finding of a linter, placed at a line and column where it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How much it matters.
    pub severity: Severity,
    /// The stable code, e.g. `mode-invalid`.
    pub code: &'static str,
    /// A specific sentence naming the offending value.
    pub message: String,
    /// 1-based line, for multi-line inputs (policies, reports); `None` where the input is one line
    /// (TXT records) or where the finding is about something missing.
    pub line: Option<usize>,
    /// 1-based column in characters, where the finding has a position.
    pub column: Option<usize>,
    /// What to write instead, where that is obvious.
    pub hint: Option<String>,
    /// How many characters from `column` the finding covers (for carets); not part of the JSON.
    #[serde(skip)]
    pub width: usize,
}

impl Diagnostic {
    /// A diagnostic with no position and no hint.
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            line: None,
            column: None,
            hint: None,
            width: 0,
        }
    }

    /// An error (see [`Severity::Error`]).
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A warning (see [`Severity::Warning`]).
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    /// An informational note (see [`Severity::Info`]).
    pub fn info(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, code, message)
    }

    /// Places the diagnostic on a 1-based line (multi-line inputs).
    pub fn on_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// Places the diagnostic at a 1-based character column covering `width` characters.
    pub fn at_column(mut self, column: usize, width: usize) -> Self {
        self.column = Some(column);
        self.width = width.max(1);
        self
    }

    /// Adds a fix hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The outcome of linting one input: every diagnostic, and what a conforming reader takes from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lint<T> {
    /// True when no diagnostic is an error: a reader following the RFC would use `parsed`.
    pub valid: bool,
    /// Every finding, in input order (findings about missing parts come last).
    pub diagnostics: Vec<Diagnostic>,
    /// The value read from the input; present when `valid`, and for tolerant formats (reports)
    /// whenever the tolerant reader could read it.
    pub parsed: Option<T>,
}

impl<T> Lint<T> {
    /// Builds a lint result; `valid` is derived from the diagnostics, and `parsed` is dropped
    /// when any diagnostic is an error, so a caller cannot use a value a sender would refuse.
    pub fn strict(diagnostics: Vec<Diagnostic>, parsed: Option<T>) -> Self {
        let valid = !diagnostics.iter().any(Diagnostic::is_error);
        Lint {
            valid,
            diagnostics,
            parsed: if valid { parsed } else { None },
        }
    }

    /// Builds a lint result for a tolerant format: `parsed` is kept even when there are errors.
    pub fn tolerant(diagnostics: Vec<Diagnostic>, parsed: Option<T>) -> Self {
        let valid = parsed.is_some() && !diagnostics.iter().any(Diagnostic::is_error);
        Lint {
            valid,
            diagnostics,
            parsed,
        }
    }

    /// The diagnostics of one severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// The first error, if any.
    pub fn first_error(&self) -> Option<&Diagnostic> {
        self.errors().next()
    }

    /// The errors, in order.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Whether any diagnostic has this code (used by tests and by callers that map codes).
    pub fn has(&self, code: &str) -> bool {
        self.diagnostics.iter().any(|d| d.code == code)
    }
}

/// Declares a documented enum of stable diagnostic codes with `as_str` and an `ALL` list.
macro_rules! codes {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every code of this format, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The stable kebab-case code.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use codes;

/// Counts characters (not bytes) up to a byte offset, giving a 1-based column.
pub(crate) fn column_of(line: &str, byte_offset: usize) -> usize {
    line.get(..byte_offset)
        .map_or(line.chars().count(), |prefix| prefix.chars().count())
        + 1
}

/// Width in characters of a piece of text, at least 1 so a caret is always drawn.
pub(crate) fn width_of(text: &str) -> usize {
    text.chars().count().max(1)
}
