//! Invariants of the format core, checked over generated inputs.

use mta_sts_core::{
    Mode, MxPattern, Policy, StsRecord, TlsRptRecord, domain, policy_lint, sts_record,
    tlsrpt_record,
};
use proptest::prelude::*;

/// A valid RFC 5321 label: letter or digit at both ends, hyphens inside; no `xx--` labels, which
/// IDNA reserves (an `xn--` label must be valid punycode).
fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
        .prop_filter("reserved IDNA label", |l| l.get(2..4) != Some("--"))
}

/// A host name of 2 to 4 labels, none of them a documentation placeholder.
fn host() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 2..=4)
        .prop_map(|labels| labels.join("."))
        .prop_filter("an IP address is not a host name", |h| {
            h.parse::<std::net::IpAddr>().is_err()
        })
}

fn pattern() -> impl Strategy<Value = MxPattern> {
    (any::<bool>(), host()).prop_map(|(wildcard, host)| {
        let text = if wildcard { format!("*.{host}") } else { host };
        MxPattern::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Enforce), Just(Mode::Testing), Just(Mode::None)]
}

fn extension() -> impl Strategy<Value = (String, String)> {
    // Names that are not a field of RFC 8461 (nor one edit away); values with inner spaces.
    ("x-[a-z]{3,8}", "[!-~]([ -~]{0,20}[!-~])?")
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        mode(),
        0..=mta_sts_core::policy::MAX_MAX_AGE,
        prop::collection::vec(pattern(), 1..5),
        prop::collection::vec(extension(), 0..3),
    )
        .prop_map(|(mode, max_age, mut mx, extensions)| {
            // Repeated patterns are kept once by the reader (with a warning), so generate distinct ones.
            let mut seen = std::collections::HashSet::new();
            mx.retain(|p| seen.insert(p.as_str().to_ascii_lowercase()));
            Policy {
                mode,
                max_age,
                mx,
                extensions,
            }
        })
}

proptest! {
    #[test]
    fn rendered_policy_reads_back_to_the_same_model(policy in policy()) {
        let text = policy.to_string();
        let parsed = Policy::parse(text.as_bytes());
        prop_assert_eq!(parsed.as_ref(), Ok(&policy), "{}", text);
    }

    #[test]
    fn rendered_policy_reads_back_with_crlf(policy in policy()) {
        let text = policy.to_string().replace('\n', "\r\n");
        prop_assert_eq!(Policy::parse(text.as_bytes()), Ok(policy));
    }

    #[test]
    fn policy_lint_and_reader_agree_on_any_text(text in "(version|mode|mx|max_age|x)?:? ?[ -~\t\r\n]{0,80}") {
        let lint = policy_lint::lint(text.as_bytes());
        prop_assert_eq!(lint.valid, Policy::parse(text.as_bytes()).is_ok());
        prop_assert_eq!(lint.valid, lint.parsed.is_some());
    }

    #[test]
    fn policy_lint_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let lint = policy_lint::lint(&bytes);
        for d in &lint.diagnostics {
            prop_assert!(!d.message.is_empty());
        }
    }

    #[test]
    fn wildcard_matches_exactly_one_more_label(base in host(), extra in label(), deeper in label()) {
        let pattern = MxPattern::parse(&format!("*.{base}")).expect("valid");
        let one = format!("{extra}.{base}");
        let two = format!("{deeper}.{one}");
        prop_assert!(pattern.matches(&one));
        prop_assert!(pattern.matches(&one.to_ascii_uppercase()));
        let with_dot = format!("{one}.");
        prop_assert!(pattern.matches(&with_dot));
        prop_assert!(!pattern.matches(&base));
        prop_assert!(!pattern.matches(&two));
    }

    #[test]
    fn exact_pattern_matches_only_itself(name in host(), other in host()) {
        let pattern = MxPattern::parse(&name).expect("valid");
        prop_assert!(pattern.matches(&name.to_ascii_uppercase()));
        prop_assert_eq!(pattern.matches(&other), name == other);
    }

    #[test]
    fn sts_record_round_trips(id in "[A-Za-z0-9]{1,32}", ext in prop::collection::vec(("x[a-z]{1,5}", "[!-:<>-~]{1,10}"), 0..3)) {
        let record = StsRecord { id, extensions: ext };
        prop_assert_eq!(StsRecord::parse(&record.to_string()), Ok(record));
    }

    #[test]
    fn record_linters_agree_with_readers(text in "v=(STSv1|TLSRPTv1)[ ;]{0,3}[ -~]{0,60}") {
        prop_assert_eq!(sts_record::lint(&text).valid, StsRecord::parse(&text).is_ok());
        prop_assert_eq!(tlsrpt_record::lint(&text).valid, TlsRptRecord::parse(&text).is_ok());
    }

    #[test]
    fn tlsrpt_record_round_trips(hosts in prop::collection::vec(host(), 1..4)) {
        let text = format!(
            "v=TLSRPTv1; rua={}",
            hosts.iter().enumerate().map(|(i, h)| if i % 2 == 0 { format!("mailto:tls@{h}") } else { format!("https://{h}/tlsrpt") }).collect::<Vec<_>>().join(",")
        );
        let record = TlsRptRecord::parse(&text).expect("valid");
        prop_assert_eq!(record.to_string(), text);
    }
}

/// Characters that cannot be seen, which a name must never be accepted with.
const INVISIBLE: &[char] = &[
    '\u{00AD}',
    '\u{034F}',
    '\u{180E}',
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{200E}',
    '\u{2060}',
    '\u{2064}',
    '\u{FE0F}',
    '\u{FEFF}',
    '\u{E0001}',
];

/// Text of letters, digits, dots and hyphens, with now and then a Unicode letter, a digit-only
/// label, a control or an invisible character: the inputs people (and attackers) type.
fn typed_domain() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => "[a-z0-9]{1,12}",
            1 => "[0-9]{1,4}",
            1 => "0x[0-9a-f]{1,8}",
            1 => "[äöüßé]{1,3}",
            1 => prop::sample::select(INVISIBLE).prop_map(String::from),
            1 => "[\u{0}-\u{1f}\u{7f}]",
            1 => "[\u{2000}-\u{206f}\u{fe00}-\u{feff}]",
        ],
        1..24,
    )
    .prop_map(|parts| parts.join("."))
}

proptest! {
    #[test]
    fn an_accepted_mail_domain_is_plain_short_and_no_address(input in typed_domain()) {
        if let Ok(name) = domain::normalize_mail_domain(&input) {
            // Nothing hidden got through to be dropped on the way.
            let hidden = |c: char| {
                INVISIBLE.contains(&c)
                    || c.is_control()
                    || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}')
            };
            prop_assert!(!input.chars().any(hidden), "{:?}", input);
            prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
            // RFC 8461 §3.1 with RFC 1035 §2.3.4: the record name fits DNS.
            let record_name = format!("_mta-sts.{name}");
            prop_assert!(record_name.len() <= domain::MAX_NAME_LEN, "{}", record_name);
            // The last label is not a number: the name is no IPv4 address in disguise.
            let last = name.rsplit('.').next().unwrap_or_default();
            prop_assert!(!last.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(!last.starts_with("0x") || !last[2..].bytes().all(|b| b.is_ascii_hexdigit()));
            // Normalising again changes nothing.
            prop_assert_eq!(domain::normalize_mail_domain(&name), Ok(name.clone()));
        }
    }

    #[test]
    fn an_invisible_character_anywhere_is_refused(name in host(), at in any::<prop::sample::Index>(), c in prop::sample::select(INVISIBLE)) {
        let at = at.index(name.len() + 1);
        let mut input = name.clone();
        input.insert(at, c);
        let error = domain::normalize_mail_domain(&input).expect_err("refused");
        prop_assert_eq!(error.diagnostic().code, "domain-invisible-character");
    }
}
