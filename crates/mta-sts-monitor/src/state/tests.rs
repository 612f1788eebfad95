//! The comparison on hand-made snapshots.

use super::*;
use crate::snapshot::{CertificateSeen, Previous, SeenFinding};
use mta_sts_check::Verdict;
use mta_sts_core::Timestamp;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(1_800_000_000 + seconds).expect("in range")
}

/// A clean check of example.com: record id 1, policy hash aaa…, one MX, TLS-RPT there.
fn clean() -> Snapshot {
    Snapshot {
        domain: "example.com".into(),
        checked_at: at(0),
        verdict: Verdict::Pass,
        outcome: Outcome::Complete,
        unlearnt: Vec::new(),
        findings: Vec::new(),
        sts_id: Some("1".into()),
        policy_sha256: Some("a".repeat(64)),
        policy_mode: Some("enforce".into()),
        policy_mx: Some(vec!["mx.example.com".into()]),
        mx: Some(vec!["mx.example.com".into()]),
        mx_not_covered: Vec::new(),
        certificates: vec![CertificateSeen {
            host: "mx.example.com".into(),
            role: CertificateRole::Mx,
            not_after: at(90 * 86_400),
            expiring_within_days: None,
        }],
        policy_host_unreachable: None,
        tlsrpt_record: true,
        tlsrpt_seen: true,
        carried_id: Some("1".into()),
        id_policy_sha256: Some("a".repeat(64)),
        last_policy_sha256: Some("a".repeat(64)),
        policy_changed_at: Some(at(0)),
        previous: None,
    }
}

fn keys(map: &BTreeMap<ConditionKey, String>) -> Vec<(&str, &str)> {
    map.keys()
        .map(|(code, subject)| (code.as_str(), subject.as_str()))
        .collect()
}

fn open(pairs: &[(&str, &str)]) -> BTreeSet<ConditionKey> {
    pairs
        .iter()
        .map(|(code, subject)| (code.to_string(), subject.to_string()))
        .collect()
}

#[test]
fn a_clean_check_holds_nothing_and_clears_what_was_open() {
    let snapshot = clean();
    assert!(conditions(&snapshot).is_empty());
    let changes = diff(
        &snapshot,
        &open(&[
            ("policy-host-unreachable", "example.com"),
            ("cert-expiring-7d", "mx.example.com"),
        ]),
    );
    assert!(changes.raise.is_empty());
    let cleared: Vec<&str> = changes.clear.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(cleared, ["cert-expiring-7d", "policy-host-unreachable"]);
    assert!(
        changes.clear[0].message.contains("renewed"),
        "{}",
        changes.clear[0].message
    );
}

#[test]
fn a_policy_edited_without_a_new_id_holds_until_the_id_changes() {
    let mut snapshot = clean();
    snapshot.policy_sha256 = Some("b".repeat(64));
    let holding = conditions(&snapshot);
    assert_eq!(
        keys(&holding),
        [("policy-changed-id-unchanged", "example.com")]
    );
    let message = holding.values().next().expect("one");
    assert!(message.contains("aaaaaaaaaaaa → bbbbbbbbbbbb"), "{message}");
    assert!(message.contains("stayed 1"), "{message}");
    // The id bumped: the new id is first seen with the new policy.
    snapshot.sts_id = Some("2".into());
    snapshot.carried_id = Some("2".into());
    snapshot.id_policy_sha256 = Some("b".repeat(64));
    assert!(conditions(&snapshot).is_empty());
}

#[test]
fn an_id_changed_without_the_policy_holds_for_one_check() {
    let mut snapshot = clean();
    snapshot.sts_id = Some("2".into());
    snapshot.carried_id = Some("2".into());
    snapshot.previous = Some(Previous {
        checked_at: at(-3600),
        sts_id: Some("1".into()),
        policy_sha256: Some("a".repeat(64)),
        id_policy_sha256: Some("a".repeat(64)),
        mx: Some(vec!["mx.example.com".into()]),
    });
    assert_eq!(
        keys(&conditions(&snapshot)),
        [("id-changed-policy-unchanged", "example.com")]
    );
    // The old id announced another policy (edited without an id change): the new id is the fix.
    if let Some(previous) = &mut snapshot.previous {
        previous.id_policy_sha256 = Some("0".repeat(64));
    }
    assert!(conditions(&snapshot).is_empty());
}

#[test]
fn only_the_tightest_certificate_threshold_holds_per_host() {
    let mut snapshot = clean();
    snapshot.certificates[0].expiring_within_days = Some(14);
    let changes = diff(&snapshot, &open(&[("cert-expiring-30d", "mx.example.com")]));
    assert_eq!(changes.raise.len(), 1);
    assert_eq!(changes.raise[0].code, "cert-expiring-14d");
    assert_eq!(changes.clear.len(), 1);
    assert_eq!(changes.clear[0].code, "cert-expiring-30d");
    assert!(
        changes.clear[0].message.contains("within 14 days"),
        "{}",
        changes.clear[0].message
    );
}

#[test]
fn a_dedicated_event_stands_in_for_the_findings_it_covers() {
    let mut snapshot = clean();
    snapshot.policy_sha256 = None;
    snapshot.policy_host_unreachable = Some("connection refused".into());
    snapshot.findings = vec![SeenFinding {
        code: "policy-fetch-failed".into(),
        section: Section::Policy,
        message: "fetching the policy failed".into(),
    }];
    assert_eq!(
        keys(&conditions(&snapshot)),
        [("policy-host-unreachable", "example.com")]
    );
    // MX not in the policy: one event per host, not the finding too.
    let mut snapshot = clean();
    snapshot.mx = Some(vec!["mx.example.com".into(), "mx2.example.com".into()]);
    snapshot.mx_not_covered = vec!["mx2.example.com".into()];
    snapshot.findings = vec![SeenFinding {
        code: "mx-not-in-policy".into(),
        section: Section::MxHosts,
        message: "mx2 matches no pattern".into(),
    }];
    snapshot.previous = Some(Previous {
        checked_at: at(-3600),
        sts_id: Some("1".into()),
        policy_sha256: Some("a".repeat(64)),
        id_policy_sha256: Some("a".repeat(64)),
        mx: Some(vec!["mx.example.com".into()]),
    });
    let holding = conditions(&snapshot);
    assert_eq!(keys(&holding), [("mx-not-covered", "mx2.example.com")]);
    let message = holding.values().next().expect("one");
    assert!(
        message.contains("mx.example.com → mx.example.com, mx2.example.com"),
        "{message}"
    );
}

#[test]
fn other_findings_are_events_of_their_own_code() {
    let mut snapshot = clean();
    snapshot.findings = vec![
        SeenFinding {
            code: "policy-mode-testing".into(),
            section: Section::Policy,
            message: "the policy is in mode testing".into(),
        },
        SeenFinding {
            code: "mx-cert-expired".into(),
            section: Section::MxHosts,
            message: "a".into(),
        },
        SeenFinding {
            code: "mx-cert-expired".into(),
            section: Section::MxHosts,
            message: "b".into(),
        },
    ];
    let holding = conditions(&snapshot);
    assert_eq!(
        keys(&holding),
        [
            ("mx-cert-expired", "example.com"),
            ("policy-mode-testing", "example.com")
        ]
    );
}

#[test]
fn an_incomplete_check_raises_nothing_and_clears_only_what_it_learnt() {
    let mut snapshot = clean();
    snapshot.outcome = Outcome::Incomplete;
    snapshot.unlearnt = vec![Section::Policy];
    snapshot.policy_sha256 = None;
    snapshot.tlsrpt_record = false;
    let changes = diff(
        &snapshot,
        &open(&[
            ("policy-host-unreachable", "example.com"),
            ("policy-mode-testing", "example.com"),
            ("mx-unreachable", "example.com"),
        ]),
    );
    assert!(changes.raise.is_empty(), "{changes:?}");
    let cleared: Vec<&str> = changes.clear.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(cleared, ["mx-unreachable"]);
}

#[test]
fn tlsrpt_gone_only_after_it_was_seen() {
    let mut snapshot = clean();
    snapshot.tlsrpt_record = false;
    snapshot.findings = vec![SeenFinding {
        code: "tlsrpt-missing".into(),
        section: Section::TlsRpt,
        message: "no record".into(),
    }];
    assert_eq!(
        keys(&conditions(&snapshot)),
        [("tlsrpt-record-gone", "example.com")]
    );
    snapshot.tlsrpt_seen = false;
    assert_eq!(
        keys(&conditions(&snapshot)),
        [("tlsrpt-missing", "example.com")]
    );
}

#[test]
fn fetcher_events_are_left_to_the_fetcher_comparison() {
    let changes = diff(&clean(), &open(&[("fetcher-stopped", "Google")]));
    assert_eq!(changes, Changes::default());
}

#[test]
fn cert_expiring_codes_are_recognised() {
    assert!(codes::is_cert_expiring("cert-expiring-30d"));
    assert!(!codes::is_cert_expiring("cert-expiring-soon"));
    assert!(!codes::is_cert_expiring("cert-expiring-d"));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn snapshot() -> impl Strategy<Value = Snapshot> {
        (
            prop_oneof![
                Just(Outcome::Complete),
                Just(Outcome::Incomplete),
                Just(Outcome::NoSuchDomain)
            ],
            proptest::option::of(0_u8..3),
            proptest::option::of(0_u8..3),
            proptest::option::of(prop_oneof![Just(30_u32), Just(14), Just(7), Just(1)]),
            any::<bool>(),
            any::<(bool, bool)>(),
            proptest::collection::vec(0_u8..3, 0..3),
            any::<bool>(),
        )
            .prop_map(
                |(
                    outcome,
                    sha,
                    first,
                    cert,
                    unreachable,
                    (tlsrpt, seen),
                    extra_mx,
                    policy_unlearnt,
                )| {
                    let mut s = clean();
                    s.outcome = outcome;
                    s.policy_sha256 = sha.map(|n| n.to_string().repeat(64));
                    s.id_policy_sha256 = first.map(|n| n.to_string().repeat(64));
                    s.certificates[0].expiring_within_days = cert;
                    s.policy_host_unreachable = unreachable.then(|| "refused".to_string());
                    s.tlsrpt_record = tlsrpt;
                    s.tlsrpt_seen = seen || tlsrpt;
                    s.mx_not_covered = extra_mx
                        .iter()
                        .map(|n| format!("mx{n}.example.com"))
                        .collect();
                    if policy_unlearnt {
                        s.unlearnt = vec![Section::Policy];
                    }
                    s
                },
            )
    }

    proptest! {
        /// Applying a diff and diffing again the same snapshot changes nothing: raising and
        /// clearing are idempotent, and no condition is both raised and cleared.
        #[test]
        fn a_second_diff_of_the_same_snapshot_changes_nothing(
            snapshot in snapshot(),
            before in proptest::collection::btree_set(
                (prop_oneof![
                    Just("policy-host-unreachable"), Just("cert-expiring-30d"),
                    Just("cert-expiring-7d"), Just("tlsrpt-record-gone"),
                    Just("mx-not-covered"), Just("policy-mode-testing"),
                ], prop_oneof![Just("example.com"), Just("mx.example.com"), Just("mx1.example.com")])
                    .prop_map(|(c, s)| (c.to_string(), s.to_string())),
                0..5,
            ),
        ) {
            let first = diff(&snapshot, &before);
            let mut after = before.clone();
            for change in &first.raise {
                prop_assert!(after.insert((change.code.clone(), change.subject.clone())));
            }
            for change in &first.clear {
                prop_assert!(after.remove(&(change.code.clone(), change.subject.clone())));
            }
            prop_assert_eq!(diff(&snapshot, &after), Changes::default());
        }
    }
}

#[test]
fn a_snapshot_reads_back_as_written_and_with_fields_missing() {
    let mut snapshot = clean();
    snapshot.previous = Some(Previous {
        checked_at: at(-3600),
        sts_id: Some("1".into()),
        policy_sha256: None,
        id_policy_sha256: None,
        mx: None,
    });
    let json = serde_json::to_string(&snapshot).expect("json");
    assert_eq!(
        serde_json::from_str::<Snapshot>(&json).expect("reads"),
        snapshot
    );
    // Only the check's identity is required.
    let minimal: Snapshot = serde_json::from_str(
        r#"{"domain":"example.com","checked_at":"2027-01-15T08:00:00Z","verdict":"pass","outcome":"complete"}"#,
    )
    .expect("reads");
    assert!(conditions(&minimal).is_empty());
}
