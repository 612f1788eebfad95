//! Turning typed input into a mail domain never panics, and what it accepts is plain: ASCII
//! letters, digits, `-` and `.`, short enough for `_mta-sts.` in front, no control or invisible
//! character in the input, no number as the last label, and stable when normalised again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mta_sts_core::domain;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = domain::normalize(&text);
    if let Ok(name) = domain::normalize_mail_domain(&text) {
        assert!(domain::check_visible_characters(&text).is_ok());
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        );
        assert!(name.len() <= domain::MAX_MAIL_DOMAIN_LEN);
        let last = name.rsplit('.').next().unwrap_or_default();
        assert!(!last.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            domain::normalize_mail_domain(&name).as_deref(),
            Ok(name.as_str())
        );
    }
});
