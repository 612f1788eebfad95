//! The policy linter and the sender's reading must never panic, and must agree: a policy the
//! linter calls valid is exactly one the reader accepts, and it renders back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
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
});
