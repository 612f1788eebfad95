//! The sentences `mta-sts query` and the daemon's log print for origins, problems and `NOTFOUND`
//! reasons: what happened, times in RFC 3339, never a Rust debug shape.

use super::*;

/// A Rust debug value leaves `Name(`, `Name {` or a bare variant name behind; a sentence does not.
fn assert_sentence(text: &str) {
    assert!(!text.contains('{') && !text.contains('}'), "{text}");
    assert!(
        !text
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_alphanumeric() && w[1] == b'('),
        "{text}"
    );
    assert!(!text.contains("Timestamp"), "{text}");
}

#[test]
fn origins_say_how_far_the_lookup_went() {
    for (origin, words) in [
        (Origin::Cache, "the cache alone answered"),
        (Origin::Dns, "no policy was fetched"),
        (Origin::Fetch, "a policy fetch was attempted"),
    ] {
        let text = origin.to_string();
        assert!(text.contains(words), "{text}");
        assert_sentence(&text);
    }
}

#[test]
fn problems_name_the_id_the_error_and_the_time_in_rfc3339() {
    let backing_off = Problem::BackingOff {
        id: "20260101T000000".into(),
        until: Timestamp::from_unix_seconds_saturating(1_796_591_023),
        error: "HTTP status 404".into(),
    };
    assert_eq!(
        backing_off.to_string(),
        "the policy with id 20260101T000000 failed recently (HTTP status 404) and is not fetched \
         again before 2026-12-06T21:03:43Z (RFC 8461 §3.3)"
    );
    let fetch = Problem::FetchFailed {
        id: "abc".into(),
        error: "connection refused".into(),
    };
    assert_eq!(
        fetch.to_string(),
        "the policy with id abc could not be fetched: connection refused"
    );
    let lookup = Problem::LookupFailed {
        error: "the resolver failed to answer (SERVFAIL)".into(),
    };
    assert!(
        lookup
            .to_string()
            .starts_with("the _mta-sts TXT lookup failed: the resolver")
    );
    assert!(
        Problem::NoRecord
            .to_string()
            .contains("no usable v=STSv1 TXT record")
    );
    for problem in [backing_off, fetch, lookup, Problem::NoRecord] {
        assert_sentence(&problem.to_string());
    }
}

#[test]
fn not_found_reasons_say_why() {
    let cases = [
        (
            NotFoundReason::Key(SkipReason::ParentDomain),
            "subdomain never inherits",
        ),
        (
            NotFoundReason::Key(SkipReason::IpLiteral),
            "is an IP address",
        ),
        (NotFoundReason::Key(SkipReason::Empty), "the key is empty"),
        (
            NotFoundReason::Key(SkipReason::InvalidName {
                error: "a label is longer than 63 octets".into(),
            }),
            "not a valid domain name: a label is longer than 63 octets",
        ),
        (
            NotFoundReason::NoPolicy(Problem::NoRecord),
            "no policy applies: the domain publishes no usable",
        ),
        (NotFoundReason::ModeTesting, "testing mode"),
        (NotFoundReason::ModeNone, "mode none"),
    ];
    for (reason, words) in cases {
        let text = reason.to_string();
        assert!(text.contains(words), "{text}");
        assert_sentence(&text);
    }
}
