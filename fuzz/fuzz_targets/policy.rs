//! The policy linter and the sender's reading must never panic, and must agree: a policy the
//! linter calls valid is exactly one the reader accepts, and it renders back to itself. Its human
//! rendering never echoes a control character (an escape sequence, a raw byte) to the terminal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_core::lint_text::{self, Source};
use mta_sts_core::{Policy, policy_lint};

fuzz_target!(|data: &[u8]| {
    let lint = policy_lint::lint(data);
    let parsed = Policy::parse(data);
    assert_eq!(lint.valid, parsed.is_ok());
    if let Ok(policy) = parsed {
        let rendered = policy.to_string();
        assert_eq!(Policy::parse(rendered.as_bytes()).as_ref(), Ok(&policy));
    }
    for d in &lint.diagnostics {
        assert!(!d.message.is_empty());
    }
    let source = Source {
        name: "policy",
        bytes: data,
        single_line: false,
        stopped_after: None,
    };
    let text = lint_text::render(&source, &lint, "verdict", false);
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
});
