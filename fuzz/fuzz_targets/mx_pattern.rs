//! Pattern parsing and matching never panic; a valid non-wildcard pattern matches its own base,
//! and a wildcard never matches its base.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_core::{MxPattern, domain};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern_text, host) = text.split_once('\n').unwrap_or((&text, "mx.example.com"));
    let _ = domain::normalize(host);
    if let Ok(pattern) = MxPattern::parse(pattern_text) {
        let _ = pattern.matches(host);
        assert_eq!(pattern.matches(pattern.base()), !pattern.is_wildcard());
        if pattern.is_wildcard() {
            assert!(pattern.matches(&format!("x.{}", pattern.base())));
        }
    }
});
