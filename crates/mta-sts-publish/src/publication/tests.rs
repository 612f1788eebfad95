use mta_sts_core::Policy;
use proptest::prelude::*;

use super::*;

fn mx(hosts: &[(u16, &str)]) -> MxSet {
    MxSet {
        hosts: hosts.iter().map(|(p, h)| (*p, (*h).to_string())).collect(),
        null_mx: false,
    }
}

#[test]
fn a_single_mx_makes_a_policy_listing_it_and_a_record_with_its_content_id() {
    let options = PublishOptions {
        mode: Mode::Enforce,
        max_age: 1_209_600,
        ..PublishOptions::default()
    };
    let out = compose("acme.test", &mx(&[(10, "mail.acme.test")]), &options).expect("ok");
    assert_eq!(
        out.policy,
        "version: STSv1\nmode: enforce\nmx: mail.acme.test\nmax_age: 1209600\n"
    );
    assert_eq!(out.id, content_id(&out.policy));
    assert_eq!(out.sts_record, format!("v=STSv1; id={}", out.id));
    assert_eq!(out.tlsrpt_record, None);
    assert!(out.zone.contains(&format!(
        "_mta-sts.acme.test. 3600 IN TXT \"v=STSv1; id={}\"",
        out.id
    )));
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    assert_eq!(out.policy_host(), "mta-sts.acme.test");
}

#[test]
fn the_json_has_the_four_documented_fields() {
    let out = compose(
        "acme.test",
        &mx(&[(10, "mail.acme.test")]),
        &PublishOptions::default(),
    )
    .expect("ok");
    let json = serde_json::to_value(&out).expect("serializes");
    for field in ["policy", "sts_record", "tlsrpt_record", "zone"] {
        assert!(json.get(field).is_some(), "{field}");
    }
    assert_eq!(json["mode"], "testing");
    assert_eq!(json["patterns"][0]["kind"], "host");
}

#[test]
fn rua_makes_the_tlsrpt_record() {
    let options = PublishOptions {
        rua: vec![
            "mailto:tlsrpt@acme.test".to_string(),
            "https://reports.acme.test/v1/tlsrpt".to_string(),
        ],
        ..PublishOptions::default()
    };
    let out = compose("acme.test", &mx(&[(10, "mail.acme.test")]), &options).expect("ok");
    let record = out.tlsrpt_record.expect("record");
    assert_eq!(
        record,
        "v=TLSRPTv1; rua=mailto:tlsrpt@acme.test,https://reports.acme.test/v1/tlsrpt"
    );
    assert!(
        out.zone
            .contains(&format!("_smtp._tls.acme.test. 3600 IN TXT \"{record}\""))
    );
}

#[test]
fn bad_rua_is_refused_with_the_address_named() {
    for bad in [
        "tlsrpt@acme.test",
        "http://acme.test/r",
        "mailto:a@b.org,mailto:c@d.org",
        "",
    ] {
        let options = PublishOptions {
            rua: vec![bad.to_string()],
            ..PublishOptions::default()
        };
        match compose("acme.test", &mx(&[(10, "mail.acme.test")]), &options) {
            Err(PublishError::InvalidRua { uri, .. }) => assert_eq!(uri, bad),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn null_mx_and_no_mx_are_refused_with_a_reason() {
    let null = MxSet {
        hosts: Vec::new(),
        null_mx: true,
    };
    let err = compose("acme.test", &null, &PublishOptions::default()).expect_err("null MX");
    assert!(matches!(err, PublishError::NullMx { .. }));
    assert!(err.to_string().contains("RFC 7505"), "{err}");
    let err = compose("acme.test", &mx(&[]), &PublishOptions::default()).expect_err("no MX");
    assert!(matches!(err, PublishError::NoMx { .. }));
    assert!(err.to_string().contains("implicit MX"), "{err}");
}

#[test]
fn max_age_over_the_rfc_limit_is_refused() {
    let options = PublishOptions {
        max_age: 31_557_601,
        ..PublishOptions::default()
    };
    let err =
        compose("acme.test", &mx(&[(10, "mail.acme.test")]), &options).expect_err("too large");
    assert!(matches!(
        err,
        PublishError::MaxAgeTooLarge {
            max_age: 31_557_601
        }
    ));
    let options = PublishOptions {
        max_age: 31_557_600,
        ..PublishOptions::default()
    };
    assert!(compose("acme.test", &mx(&[(10, "mail.acme.test")]), &options).is_ok());
}

#[test]
fn a_short_max_age_is_published_with_the_linters_note() {
    let options = PublishOptions {
        max_age: 3600,
        ..PublishOptions::default()
    };
    let out = compose("acme.test", &mx(&[(10, "mail.acme.test")]), &options).expect("ok");
    assert!(
        out.notes.iter().any(|d| d.code == "max-age-low"),
        "{:?}",
        out.notes
    );
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9]{0,8}\\.[a-z]{1,6}\\.(org|net|test)",
        // One hyphen at most, never two in a row: `xn--` labels must be valid punycode, and
        // compose refuses those that are not.
        "[a-z][a-z0-9]{0,4}(-[a-z0-9]{1,4})?\\.mail\\.protection\\.outlook\\.com",
        "alt[1-4]\\.aspmx\\.l\\.google\\.com",
        Just("aspmx.l.google.com".to_string()),
    ]
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Enforce), Just(Mode::Testing), Just(Mode::None)]
}

proptest! {
    #[test]
    fn output_always_passes_our_linters_and_covers_every_mx(
        hosts in proptest::collection::vec(host(), 1..6),
        mode in mode(),
        max_age in 0u32..=31_557_600,
        wildcard in any::<bool>(),
    ) {
        let set = MxSet {
            hosts: hosts.iter().enumerate().map(|(i, h)| (u16::try_from(i).unwrap_or(0), h.clone())).collect(),
            null_mx: false,
        };
        let options = PublishOptions { mode, max_age, rua: vec!["mailto:r@acme.test".into()], wildcard };
        let out = compose("acme.test", &set, &options).expect("valid input publishes");
        prop_assert!(policy_lint::lint(out.policy.as_bytes()).first_error().is_none());
        prop_assert!(sts_record::lint(&out.sts_record).first_error().is_none());
        let tlsrpt = out.tlsrpt_record.clone().unwrap_or_default();
        prop_assert!(tlsrpt_record::lint(&tlsrpt).first_error().is_none());
        let policy = Policy::parse(out.policy.as_bytes()).expect("a sender reads it");
        prop_assert_eq!(policy.mode, mode);
        prop_assert_eq!(policy.max_age, max_age);
        for host in &hosts {
            prop_assert!(policy.matches_mx(host), "{} not covered", host);
        }
        // Same input, same publication and id.
        let again = compose("acme.test", &set, &options).expect("again");
        prop_assert_eq!(&again, &out);
    }

    #[test]
    fn any_change_of_the_policy_changes_the_id(
        hosts in proptest::collection::vec(host(), 1..4),
        other in host(),
        max_age in 1u32..=31_557_599,
    ) {
        let set = |hosts: &[String]| MxSet {
            hosts: hosts.iter().map(|h| (10, h.clone())).collect(),
            null_mx: false,
        };
        let options = PublishOptions { max_age, ..PublishOptions::default() };
        let base = compose("acme.test", &set(&hosts), &options).expect("base");
        let mut more = hosts.clone();
        more.push(other);
        let grown = compose("acme.test", &set(&more), &options).expect("grown");
        prop_assert_eq!(grown.policy == base.policy, grown.id == base.id);
        let older = PublishOptions { max_age: max_age + 1, ..options.clone() };
        let aged = compose("acme.test", &set(&hosts), &older).expect("aged");
        prop_assert_ne!(&aged.id, &base.id);
        let enforced = PublishOptions { mode: Mode::Enforce, ..options };
        let enforce = compose("acme.test", &set(&hosts), &enforced).expect("enforce");
        prop_assert_ne!(&enforce.id, &base.id);
    }
}
