use mta_sts_core::report::{AppliedPolicy, ResultType, Summary};
use mta_sts_core::report_lint;
use mta_sts_core::{Severity, report};
use proptest::prelude::*;

use super::*;

const RECORD: &str = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1";

fn day() -> UtcDate {
    UtcDate::parse("2026-12-06").expect("date")
}

fn settings() -> BuildSettings {
    BuildSettings {
        organization_name: "Example Sender".into(),
        contact_info: "postmaster@sender.example".into(),
        ..BuildSettings::default()
    }
}

fn sts_policy(domain: &str) -> AppliedPolicy {
    AppliedPolicy {
        policy_type: PolicyType::Sts,
        policy_string: vec![
            "version: STSv1".into(),
            "mode: enforce".into(),
            "mx: mx.example.com".into(),
            "max_age: 86400".into(),
        ],
        policy_domain: Some(domain.into()),
        mx_host: vec!["mx.example.com".into()],
    }
}

fn failure(result_type: ResultType, count: u64) -> FailureDetail {
    FailureDetail {
        result_type,
        sending_mta_ip: Some("192.0.2.1".into()),
        receiving_mx_hostname: Some("mx.example.com".into()),
        receiving_mx_helo: None,
        receiving_ip: Some("198.51.100.7".into()),
        failed_session_count: count,
        additional_information: None,
        failure_reason_code: None,
    }
}

fn counts(
    domain: &str,
    record: &str,
    policy: AppliedPolicy,
    ok: u64,
    failures: Vec<FailureDetail>,
) -> SessionCounts {
    let failed = failures.iter().map(|f| f.failed_session_count).sum();
    SessionCounts {
        domain: domain.into(),
        tlsrpt_record: record.into(),
        result: PolicyResult {
            policy,
            summary: Summary {
                total_successful_session_count: ok,
                total_failure_session_count: failed,
            },
            failure_details: failures,
        },
    }
}

/// The lint's diagnostics that are errors or warnings, by code.
fn lint_codes(report: &BuiltReport) -> Vec<&'static str> {
    report_lint::lint(&report.gzip)
        .diagnostics
        .into_iter()
        .filter(|d| d.severity != Severity::Info)
        .map(|d| d.code)
        .collect()
}

#[test]
fn one_report_per_domain_and_record_with_every_rua() {
    let input = [counts(
        "example.com",
        RECORD,
        sts_policy("example.com"),
        10,
        vec![failure(ResultType::CertificateExpired, 2)],
    )];
    let built = build_day(day(), &input, &settings()).expect("built");
    assert!(built.skipped.is_empty());
    assert_eq!(built.submitter, "sender.example");
    let [report] = built.reports.as_slice() else {
        panic!("one report expected: {built:?}")
    };
    assert_eq!(
        report.destinations,
        [
            ReportUri::Mailto("mailto:tlsrpt@example.com".into()),
            ReportUri::Https("https://reports.example.com/v1".into())
        ]
    );
    assert_eq!(
        report.report.report_id,
        "2026-12-06T00:00:00Z_idx1_example.com"
    );
    assert_eq!(
        report.gzip_file_name(),
        "sender.example!example.com!1796515200!1796601599!1.json.gz"
    );
    assert_eq!(
        report.report.date_range.start.to_string(),
        "2026-12-06T00:00:00Z"
    );
    assert_eq!(
        report.report.date_range.end.to_string(),
        "2026-12-06T23:59:59Z"
    );
    assert_eq!(
        report.report.contact_info.as_deref(),
        Some("postmaster@sender.example")
    );
    assert!(lint_codes(report).is_empty(), "{:?}", lint_codes(report));
    // The gzip and the JSON are the same report, and it reads back as built.
    assert_eq!(report::decode(&report.gzip).expect("gunzip"), report.json);
    assert_eq!(report::read(&report.gzip).expect("read"), report.report);
    assert!(report.notes.is_empty());
}

#[test]
fn a_rebuild_gives_the_same_bytes_whatever_the_count_order() {
    let mut input = vec![
        counts(
            "example.com",
            RECORD,
            sts_policy("example.com"),
            5,
            vec![
                failure(ResultType::CertificateExpired, 1),
                failure(ResultType::StarttlsNotSupported, 2),
            ],
        ),
        counts("example.org", RECORD, sts_policy("example.org"), 7, vec![]),
        counts(
            "example.com",
            RECORD,
            sts_policy("example.com"),
            3,
            vec![failure(ResultType::CertificateExpired, 4)],
        ),
    ];
    let first = build_day(day(), &input, &settings()).expect("built");
    input.reverse();
    let second = build_day(day(), &input, &settings()).expect("built");
    assert_eq!(first, second);
    let report = &first.reports[0].report;
    assert_eq!(first.reports.len(), 2);
    // The two counts of one policy are one entry, and equal failures one detail.
    assert_eq!(report.policies.len(), 1);
    let policy = &report.policies[0];
    assert_eq!(policy.summary.total_successful_session_count, 8);
    assert_eq!(policy.summary.total_failure_session_count, 7);
    let expired: Vec<u64> = policy
        .failure_details
        .iter()
        .filter(|d| d.result_type == ResultType::CertificateExpired)
        .map(|d| d.failed_session_count)
        .collect();
    assert_eq!(expired, [5]);
}

#[test]
fn no_policy_found_gets_its_policy_domain() {
    // tlsrpt-reporter #51: `policy-domain` was missing for no-policy-found.
    let policy = AppliedPolicy {
        policy_type: PolicyType::NoPolicyFound,
        policy_string: vec![],
        policy_domain: None,
        mx_host: vec![],
    };
    let built = build_day(
        day(),
        &[counts("example.net", RECORD, policy, 3, vec![])],
        &settings(),
    )
    .expect("built");
    let report = &built.reports[0];
    assert_eq!(
        report.report.policies[0].policy.policy_domain.as_deref(),
        Some("example.net")
    );
    assert!(lint_codes(report).is_empty(), "{:?}", lint_codes(report));
}

#[test]
fn a_bare_address_rua_is_skipped_and_the_others_still_get_the_report() {
    // tlsrpt-reporter #54: a `rua=` without `mailto:` crashed the reporter.
    let record = "v=TLSRPTv1; rua=tlsrpt@example.com,mailto:ok@example.com";
    let built = build_day(
        day(),
        &[counts(
            "example.com",
            record,
            sts_policy("example.com"),
            1,
            vec![],
        )],
        &settings(),
    )
    .expect("built");
    let report = &built.reports[0];
    assert_eq!(
        report.destinations,
        [ReportUri::Mailto("mailto:ok@example.com".into())]
    );
    assert!(matches!(
        report.notes.as_slice(),
        [Note::DestinationSkipped { problem, hint: Some(_) }] if problem.contains("tlsrpt@example.com")
    ));

    // Nothing usable left: skipped, saying why.
    let record = "v=TLSRPTv1; rua=tlsrpt@example.com";
    let built = build_day(
        day(),
        &[counts(
            "example.com",
            record,
            sts_policy("example.com"),
            1,
            vec![],
        )],
        &settings(),
    )
    .expect("built");
    assert!(built.reports.is_empty());
    let [skipped] = built.skipped.as_slice() else {
        panic!("one skip expected")
    };
    assert_eq!(skipped.reason, SkipReason::NoDestinations);
    assert_eq!(skipped.notes.len(), 1);
    let sentence = skipped.to_string();
    assert!(
        sentence.starts_with("no report for example.com"),
        "{sentence}"
    );
}

#[test]
fn an_unusable_record_skips_the_domain_with_a_sentence() {
    for record in [
        "v=TLSRPTv1;",
        "v=STSv1; id=1",
        "garbage",
        " v=TLSRPTv1; rua=mailto:a@b.example",
    ] {
        let built = build_day(
            day(),
            &[counts(
                "example.com",
                record,
                sts_policy("example.com"),
                1,
                vec![],
            )],
            &settings(),
        )
        .expect("built");
        assert!(built.reports.is_empty(), "{record:?}");
        assert!(
            matches!(
                built.skipped.as_slice(),
                [Skipped {
                    reason: SkipReason::RecordUnusable { .. },
                    ..
                }]
            ),
            "{record:?}: {:?}",
            built.skipped
        );
    }
}

#[test]
fn a_domain_without_a_record_asked_for_no_reports() {
    // The collector keeps an empty record for a datagram without `pr`.
    let built = build_day(
        day(),
        &[counts(
            "example.com",
            "",
            sts_policy("example.com"),
            1,
            vec![],
        )],
        &settings(),
    )
    .expect("built");
    assert!(built.reports.is_empty());
    assert_eq!(built.skipped[0].reason, SkipReason::NoRecord);
    assert_eq!(built.skipped[0].reason.code(), "no-record");
}

#[test]
fn several_records_of_a_domain_give_several_reports_numbered_in_turn() {
    let other = "v=TLSRPTv1; rua=mailto:new@example.com";
    let input = [
        counts("example.com", RECORD, sts_policy("example.com"), 1, vec![]),
        counts("example.com", other, sts_policy("example.com"), 2, vec![]),
        counts("example.org", RECORD, sts_policy("example.org"), 1, vec![]),
    ];
    let built = build_day(day(), &input, &settings()).expect("built");
    let ids: Vec<&str> = built
        .reports
        .iter()
        .map(|r| r.report.report_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "2026-12-06T00:00:00Z_idx1_example.com",
            "2026-12-06T00:00:00Z_idx2_example.com",
            "2026-12-06T00:00:00Z_idx1_example.org",
        ]
    );
    assert_eq!(built.reports[1].file_stem.rsplit('!').next(), Some("2"));
}

#[test]
fn only_with_failures_skips_days_without_failures() {
    let settings = BuildSettings {
        only_with_failures: true,
        ..settings()
    };
    let input = [
        counts(
            "clean.example",
            RECORD,
            sts_policy("clean.example"),
            9,
            vec![],
        ),
        counts(
            "broken.example",
            RECORD,
            sts_policy("broken.example"),
            9,
            vec![failure(ResultType::StsPolicyFetchError, 1)],
        ),
    ];
    let built = build_day(day(), &input, &settings).expect("built");
    assert_eq!(built.reports.len(), 1);
    assert_eq!(built.reports[0].domain, "broken.example");
    assert_eq!(built.skipped[0].reason, SkipReason::NoFailures);
    assert_eq!(built.skipped[0].domain, "clean.example");
}

#[test]
fn the_suppression_list_stops_domains_subdomains_and_destinations() {
    let list = SuppressionList::read(
        "# never these\nquiet.example\n.sub.example  # subdomains only\n\
         TLSRPT@Example.com\nhttps://reports.example.com/v1\n",
    )
    .expect("list");
    let settings = BuildSettings {
        suppress: list,
        ..settings()
    };
    let input = [
        counts(
            "quiet.example",
            RECORD,
            sts_policy("quiet.example"),
            1,
            vec![],
        ),
        counts(
            "a.sub.example",
            RECORD,
            sts_policy("a.sub.example"),
            1,
            vec![],
        ),
        counts(
            "sub.example",
            "v=TLSRPTv1; rua=mailto:sub@example.com",
            sts_policy("sub.example"),
            1,
            vec![],
        ),
        counts(
            "example.com",
            "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,mailto:other@example.com",
            sts_policy("example.com"),
            1,
            vec![],
        ),
        counts("example.net", RECORD, sts_policy("example.net"), 1, vec![]),
    ];
    let built = build_day(day(), &input, &settings).expect("built");
    let reported: Vec<(&str, Vec<String>)> = built
        .reports
        .iter()
        .map(|r| {
            (
                r.domain.as_str(),
                r.destinations.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    assert_eq!(
        reported,
        [
            ("example.com", vec!["mailto:other@example.com".to_owned()]),
            ("sub.example", vec!["mailto:sub@example.com".to_owned()]),
        ]
    );
    let skipped: Vec<(&str, &SkipReason)> = built
        .skipped
        .iter()
        .map(|s| (s.domain.as_str(), &s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            ("a.sub.example", &SkipReason::DomainSuppressed),
            ("example.net", &SkipReason::NoDestinations),
            ("quiet.example", &SkipReason::DomainSuppressed),
        ]
    );
}

#[test]
fn a_bad_suppression_entry_refuses_the_list_naming_the_line() {
    for (text, line) in [
        ("ok.example\nftp://x.example\n", 2),
        ("bad..example\n", 1),
        ("mailto:nobody\n", 1),
        ("# c\n\n@example.com\n", 3),
    ] {
        match SuppressionList::read(text) {
            Err(BuildSettingsError::SuppressionEntry { line: found, .. }) => {
                assert_eq!(found, line, "{text:?}");
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
    // A configured list (TOML array) is read the same way.
    let list: Result<SuppressionList, _> =
        SuppressionList::try_from(vec!["example.com".to_owned(), "x y".to_owned()]);
    assert!(matches!(
        list,
        Err(BuildSettingsError::SuppressionEntry { line: 2, .. })
    ));
}

#[test]
fn settings_that_cannot_give_valid_reports_are_refused() {
    let refused = |settings: BuildSettings| match build_day(day(), &[], &settings) {
        Err(TlsRptError::BuildSettings(error)) => error,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(BuildSettings {
            organization_name: " ".into(),
            ..settings()
        }),
        BuildSettingsError::OrganizationNameMissing
    );
    assert_eq!(
        refused(BuildSettings {
            contact_info: String::new(),
            ..settings()
        }),
        BuildSettingsError::ContactInfoMissing
    );
    assert!(matches!(
        refused(BuildSettings {
            contact_info: "https://sender.example/contact".into(),
            ..settings()
        }),
        BuildSettingsError::SubmitterMissing { .. }
    ));
    assert!(matches!(
        refused(BuildSettings {
            submitter: Some("not a domain".into()),
            ..settings()
        }),
        BuildSettingsError::SubmitterInvalid { .. }
    ));
    assert!(matches!(
        refused(BuildSettings {
            max_size: Some(100),
            ..settings()
        }),
        BuildSettingsError::MaxSizeTooSmall { max_size: 100 }
    ));
    // The submitter: configured, or the contact's domain (with or without `mailto:`).
    let with = |contact: &str, submitter: Option<&str>| BuildSettings {
        contact_info: contact.into(),
        submitter: submitter.map(Into::into),
        ..settings()
    };
    assert_eq!(
        with("mailto:TLS@Sender.Example.", None).submitter_domain(),
        Ok("sender.example".into())
    );
    assert_eq!(
        with("https://x.example", Some("Bücher.example")).submitter_domain(),
        Ok("xn--bcher-kva.example".into())
    );
}

#[test]
fn settings_read_from_toml_with_defaults() {
    let settings: BuildSettings = toml_like(
        r#"{"organization_name": "Org", "contact_info": "a@b.example",
            "suppress": [".example.net", "mailto:x@y.example"], "max_size": 4096}"#,
    );
    assert_eq!(settings.max_size, Some(4096));
    assert!(!settings.only_with_failures);
    assert!(settings.suppress.suppresses_domain("a.example.net"));
    assert!(!settings.suppress.suppresses_domain("example.net"));
    let empty: BuildSettings = toml_like("{}");
    assert_eq!(empty, BuildSettings::default());
}

/// Settings deserialize from any serde format; JSON stands in for the configuration file.
fn toml_like(json: &str) -> BuildSettings {
    serde_json::from_str(json).expect("settings")
}

#[test]
fn an_unknown_policy_type_is_left_out_with_a_note() {
    let mut odd = sts_policy("example.com");
    odd.policy_type = PolicyType::Other("weird".into());
    let input = [
        counts("example.com", RECORD, odd.clone(), 1, vec![]),
        counts("example.com", RECORD, sts_policy("example.com"), 1, vec![]),
    ];
    let built = build_day(day(), &input, &settings()).expect("built");
    assert_eq!(built.reports[0].report.policies.len(), 1);
    assert_eq!(
        built.reports[0].notes,
        [Note::PolicyTypeUnknown {
            policy_type: "weird".into()
        }]
    );
    let built = build_day(day(), &input[..1], &settings()).expect("built");
    assert_eq!(built.skipped[0].reason, SkipReason::NoPolicies);
}

#[test]
fn a_domain_that_is_not_a_host_name_is_skipped() {
    for domain in ["", "exa mple.com", "../etc", "a!b.example"] {
        let built = build_day(
            day(),
            &[counts(domain, RECORD, sts_policy(domain), 1, vec![])],
            &settings(),
        )
        .expect("built");
        assert!(built.reports.is_empty(), "{domain:?}");
        assert!(matches!(
            built.skipped[0].reason,
            SkipReason::DomainInvalid { .. }
        ));
    }
    // Case and a trailing dot are not problems: the domain is normalised.
    let built = build_day(
        day(),
        &[counts(
            "Example.COM.",
            RECORD,
            sts_policy("example.com"),
            1,
            vec![],
        )],
        &settings(),
    )
    .expect("built");
    assert_eq!(built.reports[0].domain, "example.com");
}

/// `policies` STS policies for one domain, each with `details` distinct failures.
fn many_policies(policies: usize, details: usize) -> Vec<SessionCounts> {
    (0..policies)
        .map(|p| {
            let mut policy = sts_policy("big.example");
            policy.mx_host = vec![format!("mx{p}.big.example")];
            let failures = (0..details)
                .map(|d| {
                    let mut detail = failure(ResultType::CertificateNotTrusted, 1);
                    detail.receiving_ip = Some(format!("198.51.100.{}", d % 250));
                    detail.receiving_mx_hostname = Some(format!("mx{p}-{d}.big.example"));
                    detail
                })
                .collect();
            counts("big.example", RECORD, policy, 100, failures)
        })
        .collect()
}

#[test]
fn a_report_over_max_size_is_split_into_valid_parts() {
    let input = many_policies(40, 20);
    let max_size = 16 * 1024;
    let settings = BuildSettings {
        max_size: Some(max_size),
        ..settings()
    };
    let whole = build_day(day(), &input, &self::settings()).expect("built");
    assert_eq!(whole.reports.len(), 1);
    assert!(whole.reports[0].json.len() > max_size);

    let built = build_day(day(), &input, &settings).expect("built");
    assert!(built.reports.len() > 1);
    let of = built.reports.len();
    let mut ids = std::collections::HashSet::new();
    let mut entries = 0;
    for (n, part) in built.reports.iter().enumerate() {
        assert!(part.json.len() <= max_size, "part {n}: {}", part.json.len());
        assert!(lint_codes(part).is_empty(), "{:?}", lint_codes(part));
        assert_eq!(part.part, Some(Part { number: n + 1, of }));
        assert!(ids.insert(part.report.report_id.clone()));
        assert_eq!(part.index as usize, n + 1);
        entries += part.report.policies.len();
    }
    assert_eq!(entries, 40);
}

#[test]
fn one_policy_over_max_size_is_sent_alone_and_noted() {
    let mut input = many_policies(1, 200);
    input.extend(many_policies(3, 1).into_iter().map(|mut c| {
        c.result.policy.mx_host = vec![format!("small-{}", c.result.policy.mx_host[0])];
        c
    }));
    let max_size = 4096;
    let built = build_day(
        day(),
        &input,
        &BuildSettings {
            max_size: Some(max_size),
            ..settings()
        },
    )
    .expect("built");
    let over: Vec<&BuiltReport> = built
        .reports
        .iter()
        .filter(|r| r.json.len() > max_size)
        .collect();
    let [alone] = over.as_slice() else {
        panic!("one oversize part expected")
    };
    assert_eq!(alone.report.policies.len(), 1);
    assert!(
        alone
            .notes
            .iter()
            .any(|n| matches!(n, Note::OverMaxSize { .. }))
    );
    let total: usize = built.reports.iter().map(|r| r.report.policies.len()).sum();
    assert_eq!(total, 4);
}

// ---------------------------------------------------------------------------------------------
// Every built report passes the strict lint, whatever the counts.

/// Warnings that say something about the counts themselves (what the MTA saw), which the
/// builder reports faithfully rather than repairs.
const DATA_WARNINGS: &[&str] = &[
    "report-policy-string-missing",
    "report-mx-host-missing",
    "report-count-mismatch",
    "report-result-type-unknown",
    "report-ip-invalid",
    "report-field-empty",
];

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9.-]{1,20}",
        "\\PC{0,12}",
        Just("\"quoted\\\\\u{0}\u{7f}".to_owned()),
    ]
}

fn arb_detail() -> impl Strategy<Value = FailureDetail> {
    (
        prop_oneof![
            Just(ResultType::StarttlsNotSupported),
            Just(ResultType::CertificateExpired),
            Just(ResultType::DaneRequired),
            Just(ResultType::StsWebpkiInvalid),
            "[a-z-]{1,12}".prop_map(|t| ResultType::from_wire(&t)),
        ],
        proptest::option::of(prop_oneof![Just("192.0.2.1".to_owned()), arb_text()]),
        proptest::option::of(arb_text()),
        proptest::option::of(arb_text()),
        proptest::option::of(prop_oneof![Just("2001:db8::1".to_owned()), arb_text()]),
        prop_oneof![0..1_000u64, Just(u64::MAX)],
        proptest::option::of(arb_text()),
        proptest::option::of(arb_text()),
    )
        .prop_map(
            |(result_type, sending, name, helo, ip, count, info, code)| FailureDetail {
                result_type,
                sending_mta_ip: sending,
                receiving_mx_hostname: name,
                receiving_mx_helo: helo,
                receiving_ip: ip,
                failed_session_count: count,
                additional_information: info,
                failure_reason_code: code,
            },
        )
}

fn arb_counts() -> impl Strategy<Value = SessionCounts> {
    (
        prop_oneof![
            Just("example.com".to_owned()),
            Just("Example.NET.".to_owned()),
            Just("xn--bcher-kva.example".to_owned()),
            "[a-z]{1,5}\\.example",
            arb_text(),
        ],
        prop_oneof![
            Just(RECORD.to_owned()),
            Just("v=TLSRPTv1; rua=bare@example.com,mailto:a@example.com".to_owned()),
            Just("v=TLSRPTv1;rua=https://r.example/x".to_owned()),
            arb_text(),
        ],
        prop_oneof![
            Just(PolicyType::Sts),
            Just(PolicyType::Tlsa),
            Just(PolicyType::NoPolicyFound),
            Just(PolicyType::Other("x".into())),
        ],
        proptest::collection::vec(arb_text(), 0..3),
        proptest::option::of(arb_text()),
        proptest::collection::vec(arb_text(), 0..3),
        prop_oneof![0..10_000u64, Just(u64::MAX)],
        prop_oneof![0..10_000u64, Just(u64::MAX)],
        proptest::collection::vec(arb_detail(), 0..4),
    )
        .prop_map(
            |(domain, record, policy_type, strings, policy_domain, mx, ok, failed, details)| {
                SessionCounts {
                    domain,
                    tlsrpt_record: record,
                    result: PolicyResult {
                        policy: AppliedPolicy {
                            policy_type,
                            policy_string: strings,
                            policy_domain,
                            mx_host: mx,
                        },
                        summary: Summary {
                            total_successful_session_count: ok,
                            total_failure_session_count: failed,
                        },
                        failure_details: details,
                    },
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_built_report_passes_the_strict_lint(
        input in proptest::collection::vec(arb_counts(), 0..12),
        max_size in prop_oneof![Just(None), (1024usize..8192).prop_map(Some)],
        only_with_failures in any::<bool>(),
    ) {
        let settings = BuildSettings { max_size, only_with_failures, ..settings() };
        let built = build_day(day(), &input, &settings).expect("built");
        let mut ids = std::collections::HashSet::new();
        for report in &built.reports {
            let lint = report_lint::lint(&report.gzip);
            prop_assert!(lint.valid, "{:?}", lint.diagnostics);
            for d in &lint.diagnostics {
                prop_assert!(
                    d.severity != Severity::Warning || DATA_WARNINGS.contains(&d.code),
                    "{d:?}"
                );
            }
            prop_assert_eq!(lint.parsed.as_ref(), Some(&report.report));
            prop_assert!(!report.destinations.is_empty());
            prop_assert!(ids.insert(report.report.report_id.clone()));
            prop_assert!(!report.file_stem.contains('/'));
            let over = report.json.len() > max_size.unwrap_or(MAX_REPORT_SIZE);
            prop_assert_eq!(
                over,
                report.notes.iter().any(|n| matches!(n, Note::OverMaxSize { .. }))
            );
        }
        // Nothing is lost silently: every domain and record is reported on or skipped.
        for count in &input {
            let domain = count.domain.trim_end_matches('.').to_ascii_lowercase();
            let reported = built.reports.iter().any(|r| {
                r.domain == domain && r.tlsrpt_record == count.tlsrpt_record
            });
            let skipped = built.skipped.iter().any(|s| {
                s.domain == domain && s.tlsrpt_record == count.tlsrpt_record
            });
            prop_assert!(reported != skipped, "{count:?}");
        }
    }

    #[test]
    fn sessions_are_counted_once_across_the_parts(
        input in proptest::collection::vec(arb_counts(), 0..12),
        max_size in (1024usize..8192),
    ) {
        let split = build_day(day(), &input, &BuildSettings { max_size: Some(max_size), ..settings() })
            .expect("built");
        let whole = build_day(day(), &input, &settings()).expect("built");
        // In u128: counts near u64::MAX add up past it.
        let total = |reports: &DayReports| -> (u128, u128, usize) {
            reports.reports.iter().flat_map(|r| &r.report.policies).fold((0, 0, 0), |acc, p| {
                (
                    acc.0 + u128::from(p.summary.total_successful_session_count),
                    acc.1 + u128::from(p.summary.total_failure_session_count),
                    acc.2 + p.failure_details.len(),
                )
            })
        };
        prop_assert_eq!(total(&split), total(&whole));
    }
}

proptest! {
    #[test]
    fn a_listed_domain_is_suppressed_and_its_neighbours_are_not(
        labels in proptest::collection::vec("[a-z][a-z0-9]{0,5}", 1..4),
        child in "[a-z][a-z0-9]{0,5}",
        sibling in "[a-z][a-z0-9]{0,5}",
    ) {
        let domain = format!("{}.example", labels.join("."));
        let exact = SuppressionList::read(&format!("{}\n", domain.to_uppercase())).expect("list");
        let below = SuppressionList::read(&format!(".{domain}.\n")).expect("list");
        let subdomain = format!("{child}.{domain}");
        let lookalike = format!("{sibling}{domain}");
        prop_assert!(exact.suppresses_domain(&domain));
        prop_assert!(!exact.suppresses_domain(&subdomain));
        prop_assert!(!below.suppresses_domain(&domain));
        prop_assert!(below.suppresses_domain(&subdomain));
        // `x.example` must not suppress `ax.example`: subdomains end in `.x.example`.
        prop_assert!(!exact.suppresses_domain(&lookalike));
        prop_assert!(!below.suppresses_domain(&lookalike));
    }
}
