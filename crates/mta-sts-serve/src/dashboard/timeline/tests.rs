use super::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a timestamp")
}

fn check(time: &str, verdict: Verdict) -> CheckSeen {
    CheckSeen {
        at: at(time),
        verdict,
        outcome: Outcome::Complete,
    }
}

#[test]
fn the_timeline_lists_verdict_changes_and_events_newest_first() {
    let checks = [
        check("2026-12-07T13:00:00Z", Verdict::Pass),
        check("2026-12-07T12:00:00Z", Verdict::Pass),
        check("2026-12-07T11:00:00Z", Verdict::Fail),
        check("2026-12-07T10:00:00Z", Verdict::Pass),
        check("2026-12-07T09:00:00Z", Verdict::Pass),
    ];
    let events = [StoredEvent {
        domain: "example.com".into(),
        code: "policy-changed-id-unchanged".into(),
        subject: "example.com".into(),
        message: "The policy of example.com changed while its id stayed 1.".into(),
        raised_at: at("2026-12-07T11:00:00Z"),
        cleared_at: Some(at("2026-12-07T12:00:00Z")),
        clear_message: Some("The policy of example.com is in step again.".into()),
    }];
    let entries = timeline(&checks, &events);
    let summary: Vec<(String, &str, &str)> = entries
        .iter()
        .map(|e| (e.at.to_string(), e.kind, e.code.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("2026-12-07T13:00:00Z".to_string(), "checked", "pass"),
            (
                "2026-12-07T12:00:00Z".to_string(),
                "cleared",
                "policy-changed-id-unchanged"
            ),
            ("2026-12-07T12:00:00Z".to_string(), "checked", "pass"),
            (
                "2026-12-07T11:00:00Z".to_string(),
                "raised",
                "policy-changed-id-unchanged"
            ),
            ("2026-12-07T11:00:00Z".to_string(), "checked", "fail"),
            ("2026-12-07T09:00:00Z".to_string(), "checked", "pass"),
        ]
    );
    assert_eq!(
        entries[2].message,
        "The verdict changed from fail to pass at the check of 2026-12-07T12:00:00Z."
    );
    assert_eq!(
        entries[1].message,
        "The policy of example.com is in step again."
    );
    assert!(timeline(&[], &[]).is_empty());
}
