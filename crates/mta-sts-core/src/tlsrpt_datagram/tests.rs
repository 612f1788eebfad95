use proptest::prelude::*;

use super::*;

/// What Postfix 3.10 sends through libtlsrpt for a successful STS delivery.
const STS_SUCCESS: &str = r#"{"dpv": "1","d": "example.com","pr": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":2,"policy-domain": "example.com","policy-string":["version: STSv1","mode: enforce","mx: mail.example.com","max_age: 86400"],"mx-host":["mail.example.com"],"t":0,"f":0}]}"#;

/// libtlsrpt before 0.5: no `dpv`; a failed DANE delivery with one failure.
const TLSA_FAILURE: &str = r#"{"d": "Dane.Example.","pr": "v=TLSRPTv1;rua=https://r.example/x","policies":[{"policy-type":1,"policy-domain": "dane.example","policy-string":["3 1 1 ABCDEF"],"failure-details":[{"c":304,"s": "192.0.2.1","n": "mx.dane.example","h": "mx.dane.example","r": "198.51.100.2","a": "https://info.example/","f": "X509_V_ERR"}],"t":1,"f":1}]}"#;

/// no-policy-found without `policy-domain` (tlsrpt-reporter #51).
const NO_POLICY: &str = r#"{"d": "plain.example","pr": "v=TLSRPTv1; rua=mailto:r@plain.example","policies":[{"policy-type":9,"t":0,"f":0}]}"#;

#[test]
fn reads_what_postfix_sends() {
    let datagram = parse(STS_SUCCESS.as_bytes()).expect("readable");
    assert_eq!(datagram.domain, "example.com");
    assert_eq!(
        datagram.tlsrpt_record,
        "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"
    );
    assert_eq!(datagram.policies.len(), 1);
    let policy = &datagram.policies[0];
    assert_eq!(policy.policy.policy_type, PolicyType::Sts);
    assert_eq!(policy.policy.policy_domain.as_deref(), Some("example.com"));
    assert_eq!(policy.policy.policy_string.len(), 4);
    assert_eq!(policy.policy.mx_host, vec!["mail.example.com".to_string()]);
    assert!(!policy.failed);
    assert!(policy.failures.is_empty());
    assert!(datagram.notes.is_empty());
}

#[test]
fn reads_failures_with_every_field() {
    let datagram = parse(TLSA_FAILURE.as_bytes()).expect("readable");
    // tlsrpt-reporter's normalize_domain_name: lowercase, one trailing dot removed.
    assert_eq!(datagram.domain, "dane.example");
    let policy = &datagram.policies[0];
    assert_eq!(policy.policy.policy_type, PolicyType::Tlsa);
    assert!(policy.failed);
    assert_eq!(
        policy.failures,
        vec![FailureDetail {
            result_type: ResultType::TlsaInvalid,
            sending_mta_ip: Some("192.0.2.1".into()),
            receiving_mx_hostname: Some("mx.dane.example".into()),
            receiving_mx_helo: Some("mx.dane.example".into()),
            receiving_ip: Some("198.51.100.2".into()),
            failed_session_count: 1,
            additional_information: Some("https://info.example/".into()),
            failure_reason_code: Some("X509_V_ERR".into()),
        }]
    );
}

#[test]
fn no_policy_found_keeps_a_missing_policy_domain_missing() {
    let datagram = parse(NO_POLICY.as_bytes()).expect("readable");
    let policy = &datagram.policies[0];
    assert_eq!(policy.policy.policy_type, PolicyType::NoPolicyFound);
    assert_eq!(policy.policy.policy_domain, None);
}

#[test]
fn every_failure_code_maps_both_ways() {
    for code in [201, 202, 203, 204, 205, 301, 302, 303, 304, 305, 306] {
        let result_type = result_type_of_code(code).expect("a libtlsrpt code");
        assert_eq!(code_of_result_type(&result_type), Some(code));
    }
    assert_eq!(result_type_of_code(200), None);
    assert_eq!(result_type_of_code(901), None);
}

#[test]
fn odd_but_counted() {
    // Each: the datagram, and the note it gets.
    let cases: [(&str, DatagramNote); 4] = [
        // `t` says 2, one listed: counted, as tlsrpt-reporter does.
        (
            r#"{"d":"a.example","pr":"","policies":[{"policy-type":2,"failure-details":[{"c":201}],"t":2,"f":1}]}"#,
            DatagramNote::FailureCountMismatch {
                policy: 0,
                declared: Some(2),
                listed: 1,
            },
        ),
        // `t` missing.
        (
            r#"{"d":"a.example","pr":"","policies":[{"policy-type":2,"f":0}]}"#,
            DatagramNote::FailureCountMismatch {
                policy: 0,
                declared: None,
                listed: 0,
            },
        ),
        // A code libtlsrpt does not define: validation-failure.
        (
            r#"{"d":"a.example","pr":"","policies":[{"policy-type":2,"failure-details":[{"c":299}],"t":1,"f":1}]}"#,
            DatagramNote::UnknownFailureCode {
                policy: 0,
                code: Some(299),
            },
        ),
        // No code at all.
        (
            r#"{"d":"a.example","pr":"","policies":[{"policy-type":2,"failure-details":[{"n":"mx"}],"t":1,"f":1}]}"#,
            DatagramNote::UnknownFailureCode {
                policy: 0,
                code: None,
            },
        ),
    ];
    for (text, note) in cases {
        let datagram = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(datagram.notes, vec![note.clone()], "{text}");
        assert!(!note.to_string().is_empty());
        if matches!(note, DatagramNote::UnknownFailureCode { .. }) {
            let failure = &datagram.policies[0].failures[0];
            assert_eq!(failure.result_type, ResultType::ValidationFailure);
        }
    }
}

#[test]
fn accepted_forms() {
    let cases = [
        // dpv as a number, and `f` as a JSON boolean.
        (
            r#"{"dpv":1,"d":"a.example","pr":"x","policies":[{"policy-type":2,"t":0,"f":false}]}"#,
            "a.example",
        ),
        // U-labels become A-labels; uppercase is lowered.
        (
            r#"{"d":"BÜCHER.example","pr":"x","policies":[{"policy-type":2,"t":0,"f":true}]}"#,
            "xn--bcher-kva.example",
        ),
        // Keys libtlsrpt does not write are ignored.
        (
            r#"{"d":"a.example","pr":"x","extra":[1,2],"policies":[{"policy-type":2,"new":{},"t":0,"f":0}]}"#,
            "a.example",
        ),
        // The newline libtlsrpt 0.5 writes before `,"policies"`.
        (
            "{\"d\": \"a.example\",\"pr\": \"x\"\n,\"policies\":[{\"policy-type\":2,\"t\":0,\"f\":0}]}",
            "a.example",
        ),
    ];
    for (text, domain) in cases {
        let datagram = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(datagram.domain, domain, "{text}");
    }
}

/// Whether an error is the expected kind.
type Expected = fn(&DatagramError) -> bool;

#[test]
fn refused() {
    // Each: the datagram, and why it is refused.
    let cases: [(&[u8], Expected); 14] = [
        // Not JSON at all.
        (b"hello", |e| matches!(e, DatagramError::NotJson(_))),
        // Not UTF-8.
        (b"{\"d\":\"\xff\"}", |e| matches!(e, DatagramError::NotJson(_))),
        // A field of the wrong type.
        (
            br#"{"d":5,"pr":"x","policies":[{"policy-type":2,"t":0,"f":0}]}"#,
            |e| matches!(e, DatagramError::NotJson(_)),
        ),
        // Another protocol version.
        (
            br#"{"dpv":"2","d":"a.example","pr":"x","policies":[{"policy-type":2,"t":0,"f":0}]}"#,
            |e| matches!(e, DatagramError::UnsupportedVersion(_)),
        ),
        (
            br#"{"dpv":2,"d":"a.example","pr":"x","policies":[{"policy-type":2,"t":0,"f":0}]}"#,
            |e| matches!(e, DatagramError::UnsupportedVersion(_)),
        ),
        // No domain.
        (
            br#"{"pr":"x","policies":[{"policy-type":2,"t":0,"f":0}]}"#,
            |e| matches!(e, DatagramError::MissingDomain),
        ),
        // A domain that is no domain: tlsrpt-reporter keeps it, we do not.
        (
            br#"{"d":"a..example","pr":"x","policies":[{"policy-type":2,"t":0,"f":0}]}"#,
            |e| matches!(e, DatagramError::InvalidDomain { .. }),
        ),
        (
            br#"{"d":"192.0.2.1","pr":"x","policies":[{"policy-type":2,"t":0,"f":0}]}"#,
            |e| matches!(e, DatagramError::InvalidDomain { .. }),
        ),
        (
            br#"{"d":"","pr":"x","policies":[{"policy-type":2,"t":0,"f":0}]}"#,
            |e| matches!(e, DatagramError::InvalidDomain { .. }),
        ),
        // No record.
        (
            br#"{"d":"a.example","policies":[{"policy-type":2,"t":0,"f":0}]}"#,
            |e| matches!(e, DatagramError::MissingRecord),
        ),
        // No policies, or an empty list (libtlsrpt never sends either).
        (br#"{"d":"a.example","pr":"x"}"#, |e| {
            matches!(e, DatagramError::NoPolicies)
        }),
        (br#"{"d":"a.example","pr":"x","policies":[]}"#, |e| {
            matches!(e, DatagramError::NoPolicies)
        }),
        // An unknown policy type.
        (
            br#"{"d":"a.example","pr":"x","policies":[{"policy-type":3,"t":0,"f":0}]}"#,
            |e| matches!(e, DatagramError::UnknownPolicyType { value: 3, .. }),
        ),
        // No final result.
        (
            br#"{"d":"a.example","pr":"x","policies":[{"policy-type":2,"t":0,"f":0},{"policy-type":2,"t":0}]}"#,
            |e| matches!(e, DatagramError::MissingResult(1)),
        ),
    ];
    for (bytes, expected) in cases {
        let text = String::from_utf8_lossy(bytes);
        match parse(bytes) {
            Ok(datagram) => panic!("{text} was read: {datagram:?}"),
            Err(error) => {
                assert!(expected(&error), "{text}: {error:?}");
                assert!(
                    error.to_string().starts_with("the datagram")
                        || error.to_string().starts_with("policy")
                );
            }
        }
    }
}

#[test]
fn writes_what_it_reads() {
    let no_policy_with_version = NO_POLICY.replacen("{", "{\"dpv\": \"1\",", 1);
    for text in [STS_SUCCESS, &no_policy_with_version] {
        let datagram = parse(text.as_bytes()).expect("readable");
        assert_eq!(write(&datagram), text);
    }
}

fn text() -> impl Strategy<Value = String> {
    // Quotes, backslashes, control characters and non-ASCII, as libtlsrpt escapes them.
    "[a-z0-9 .:;=\"\\\\\u{1}\u{1f}é✓-]{0,20}"
}

fn domain_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){1,3}"
}

fn result_type() -> impl Strategy<Value = ResultType> {
    prop::sample::select(vec![201, 202, 203, 204, 205, 301, 302, 303, 304, 305, 306])
        .prop_map(|code| result_type_of_code(code).unwrap_or(ResultType::ValidationFailure))
}

fn failure() -> impl Strategy<Value = FailureDetail> {
    (
        result_type(),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
    )
        .prop_map(|(result_type, s, n, h, r, a, f)| FailureDetail {
            result_type,
            sending_mta_ip: s,
            receiving_mx_hostname: n,
            receiving_mx_helo: h,
            receiving_ip: r,
            failed_session_count: 1,
            additional_information: a,
            failure_reason_code: f,
        })
}

fn policy() -> impl Strategy<Value = DatagramPolicy> {
    (
        prop::sample::select(vec![
            PolicyType::Tlsa,
            PolicyType::Sts,
            PolicyType::NoPolicyFound,
        ]),
        prop::option::of(text()),
        prop::collection::vec(text(), 0..4),
        prop::collection::vec(text(), 0..3),
        any::<bool>(),
        prop::collection::vec(failure(), 0..4),
    )
        .prop_map(
            |(policy_type, policy_domain, policy_string, mx_host, failed, failures)| {
                DatagramPolicy {
                    policy: AppliedPolicy {
                        policy_type,
                        policy_string,
                        policy_domain,
                        mx_host,
                    },
                    failed,
                    failures,
                }
            },
        )
}

proptest! {
    /// parse(write(x)) == x for every datagram libtlsrpt can write.
    #[test]
    fn parse_reads_back_what_write_wrote(
        domain in domain_name(),
        tlsrpt_record in text(),
        policies in prop::collection::vec(policy(), 1..4),
    ) {
        let datagram = Datagram { domain, tlsrpt_record, policies, notes: Vec::new() };
        let written = write(&datagram);
        prop_assert_eq!(parse(written.as_bytes()), Ok(datagram));
    }

    /// No input panics the reader.
    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&bytes);
    }
}
