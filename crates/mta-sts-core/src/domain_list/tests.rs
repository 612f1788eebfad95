use super::*;
use crate::Severity;

fn domains(list: &DomainList) -> Vec<(&str, usize)> {
    list.domains
        .iter()
        .map(|d| (d.domain.as_str(), d.line))
        .collect()
}

#[test]
fn good_lines_are_kept_normalised_with_their_line() {
    let list = read(
        "# customers\n\
         \n\
         Example.COM\n\
         \texample.org.  # trailing comment\n\
         bücher.example\r\n\
         mail-1.example.net\n",
    );
    assert_eq!(
        domains(&list),
        vec![
            ("example.com", 3),
            ("example.org", 4),
            ("xn--bcher-kva.example", 5),
            ("mail-1.example.net", 6),
        ]
    );
    assert!(list.problems.is_empty(), "{:?}", list.problems);
}

#[test]
fn a_domain_listed_again_in_any_spelling_is_kept_once_with_a_note() {
    let list = read("bücher.example\nXN--BCHER-KVA.example.\nexample.com\nEXAMPLE.com\n");
    assert_eq!(
        domains(&list),
        vec![("xn--bcher-kva.example", 1), ("example.com", 3)]
    );
    let notes: Vec<_> = list
        .problems
        .iter()
        .map(|p| (p.code, p.line, p.severity))
        .collect();
    assert_eq!(
        notes,
        vec![
            ("list-duplicate", Some(2), Severity::Info),
            ("list-duplicate", Some(4), Severity::Info),
        ]
    );
    assert!(list.problems[0].message.contains("line 1"));
}

#[test]
fn bad_lines_are_refused_with_their_line_and_reason() {
    let long_name = format!("{}.example", vec!["a".repeat(60); 5].join("."));
    let long_label = format!("{}.example", "a".repeat(64));
    let cases: &[(&str, &str)] = &[
        // A URL: which part is the mail domain is a guess.
        ("https://example.com/x", "list-url"),
        // An address: the domain is after the `@`, but the author may have meant another list.
        ("postmaster@example.com", "list-email-address"),
        // Two names on a line (a CSV pasted with spaces).
        ("example.com example.org", "list-several-words"),
        // Over DNS's limit once `_mta-sts.` is in front.
        (&long_name, "domain-too-long"),
        // A label over 63 characters.
        (&long_label, "domain-invalid"),
        // `xn--` that is not valid punycode.
        ("xn--zz-zzzzzzzzzzzzzzzzzzz.example", "domain-invalid"),
        // An IP address is not a mail domain.
        ("192.0.2.1", "domain-ip-address"),
        // An underscore label names a record, not a domain.
        ("_mta-sts.example.com", "domain-invalid"),
        // A zero-width space would be dropped by IDNA.
        ("exa\u{200b}mple.com", "domain-invisible-character"),
    ];
    for (entry, code) in cases {
        let list = read(&format!("ok.example\n{entry}\n"));
        assert_eq!(domains(&list), vec![("ok.example", 1)], "{entry}");
        assert_eq!(list.problems.len(), 1, "{entry}");
        let problem = &list.problems[0];
        assert_eq!(
            (problem.code, problem.line, problem.severity),
            (*code, Some(2), Severity::Error),
            "{entry}: {}",
            problem.message
        );
    }
}

#[test]
fn a_long_entry_is_echoed_short() {
    let list = read(&format!("https://{}\n", "a".repeat(300)));
    let message = &list.problems[0].message;
    assert!(message.contains("(308 characters)"), "{message}");
    assert!(message.len() < 200, "{message}");
}

#[test]
fn a_top_list_and_a_byte_order_mark_are_read() {
    let list = read("\u{feff}1,example.com\n2,Example.org\n3,\n");
    assert_eq!(domains(&list), vec![("example.com", 1), ("example.org", 2)]);
    // A rank with no domain is an empty name, said so.
    assert_eq!(list.problems.len(), 1);
    assert_eq!(list.problems[0].line, Some(3));
    // A comma elsewhere is not a rank.
    let list = read("example.com,1\n");
    assert!(list.domains.is_empty());
    assert_eq!(list.problems[0].code, "domain-invalid");
}

#[test]
fn a_hash_inside_a_word_is_not_a_comment() {
    let list = read("example.com#frag\n");
    assert!(list.domains.is_empty());
    assert_eq!(list.problems[0].code, "domain-invalid");
}
