//! Reading a list of domains never panics; every domain kept is a valid mail domain listed once,
//! with a line number inside the text, and every line skipped is named with its line number.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use mta_sts_core::{domain, domain_list};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    let list = domain_list::read(&text);
    let mut seen = HashSet::new();
    for listed in &list.domains {
        assert!(seen.insert(listed.domain.clone()), "{} twice", listed.domain);
        assert!((1..=lines).contains(&listed.line));
        assert_eq!(
            domain::normalize_mail_domain(&listed.domain).as_deref(),
            Ok(listed.domain.as_str())
        );
    }
    for problem in &list.problems {
        assert!(problem.line.is_some_and(|line| (1..=lines).contains(&line)));
    }
});
