//! What the dashboard, the rollout advisor and the alerts read: evidence, domains, one report
//! in full, list pages, reports in receipt order, alerts claimed once, per-domain state.

use std::collections::BTreeSet;
use std::io::Write as _;

use mta_sts_core::report::Timestamp;
use mta_sts_store::reports::{
    DomainOverview, DomainsQuery, EvidenceQuery, ListQuery, NewReport, ReceiptCursor, ReportKey,
    ReportStore, Source, StoredReport,
};
use serde_json::{Value, json};

use crate::backend::Backend;
use crate::fixtures::{failure, new_report, november, policy, report_json, shift, simple};

/// `json` as a report whose first policy entry has `policy_string` instead of the fixture's.
fn with_policy_string(mut json: Value, policy_string: &[&str]) -> Value {
    json["policies"][0]["policy"]["policy-string"] = json!(policy_string);
    json
}

/// Reports for example.com on November 1 to 3, and some that the evidence of those days must
/// leave out: one the day before, one of another domain.
fn evidence_reports() -> Vec<NewReport> {
    let g1 = new_report(
        &report_json(
            "google.com",
            "g1",
            november(1),
            vec![policy(
                "sts",
                "example.com",
                100,
                10,
                vec![
                    failure(
                        "starttls-not-supported",
                        6,
                        Some("mx1.example.com"),
                        Some("192.0.2.1"),
                    ),
                    failure(
                        "certificate-host-mismatch",
                        4,
                        Some("mx2.example.com"),
                        Some("192.0.2.2"),
                    ),
                ],
            )],
        ),
        Source::Mail,
    );
    let g2 = new_report(
        &report_json(
            "google.com",
            "g2",
            november(2),
            vec![policy(
                "sts",
                "example.com",
                50,
                5,
                vec![failure(
                    "certificate-host-mismatch",
                    5,
                    Some("mx2.example.com"),
                    Some("192.0.2.3"),
                )],
            )],
        ),
        Source::Mail,
    );
    // Microsoft counts the same sessions under `sts` and `tlsa`, and saw the policy in enforce.
    let m2 = new_report(
        &with_policy_string(
            report_json(
                "Microsoft Corporation",
                "m2",
                november(2),
                vec![
                    policy(
                        "sts",
                        "Example.COM.",
                        200,
                        2,
                        vec![failure(
                            "certificate-host-mismatch",
                            2,
                            Some("mx2.example.com"),
                            None,
                        )],
                    ),
                    policy(
                        "tlsa",
                        "example.com",
                        200,
                        2,
                        vec![failure("tlsa-invalid", 2, Some("mx1.example.com"), None)],
                    ),
                ],
            ),
            &[
                "version: STSv1",
                "mode: enforce",
                "mx: mx.example.com",
                "max_age: 86400",
            ],
        ),
        Source::Https,
    );
    let mut y3 = simple("yahoo.com", "y3", november(3), "example.com", 20);
    y3.received_at = shift(november(3), 3600);
    let mut o3 = simple("outlook.example", "o3", november(3), "example.com", 1);
    o3.received_at = shift(november(4), 12 * 3600);
    let before = simple(
        "google.com",
        "g0",
        shift(november(1), -86_400),
        "example.com",
        1000,
    );
    let other = simple("google.com", "x2", november(2), "Other.Example.", 7);
    vec![g1, g2, m2, y3, o3, before, other]
}

pub async fn evidence_gathers_reporters_failures_and_policies(backend: Backend) {
    let store = backend.open().await;
    store.insert(evidence_reports()).await.expect("insert");
    let evidence = store
        .evidence(&EvidenceQuery {
            domain: "EXAMPLE.com".into(),
            from: november(1),
            to: shift(november(3), 3600),
        })
        .await
        .expect("evidence");
    // The summary is the one `summary` gives for the same days.
    let summary = store
        .summary(
            &EvidenceQuery {
                domain: "example.com".into(),
                from: november(1),
                to: november(3),
            }
            .as_summary(),
        )
        .await
        .expect("summary");
    assert_eq!(evidence.summary, summary);
    assert_eq!(evidence.summary.total.reports, 5);
    // Each reporter's sessions come from each report's first entry for the domain: Microsoft's
    // `tlsa` copy of its `sts` counts is not added.
    assert_eq!(
        serde_json::to_value(&evidence.reporters).expect("json"),
        json!([
            {
                "organization": "Microsoft Corporation", "first_day": "2026-11-02",
                "last_day": "2026-11-02", "days": 1, "reports": 1, "successful": 200, "failed": 2
            },
            {
                "organization": "google.com", "first_day": "2026-11-01",
                "last_day": "2026-11-02", "days": 2, "reports": 2, "successful": 150, "failed": 15
            },
            {
                "organization": "outlook.example", "first_day": "2026-11-03",
                "last_day": "2026-11-03", "days": 1, "reports": 1, "successful": 1, "failed": 0
            },
            {
                "organization": "yahoo.com", "first_day": "2026-11-03",
                "last_day": "2026-11-03", "days": 1, "reports": 1, "successful": 20, "failed": 0
            }
        ])
    );
    // "mx2.example.com failed certificate-host-mismatch in 11 sessions from 2 reporters on
    // Nov 1–2".
    assert_eq!(
        serde_json::to_value(&evidence.failures).expect("json"),
        json!([
            {
                "policy_type": "sts", "result_type": "certificate-host-mismatch",
                "receiving_mx_hostname": "mx2.example.com",
                "organizations": ["Microsoft Corporation", "google.com"],
                "first_day": "2026-11-01", "last_day": "2026-11-02", "days": 2, "sessions": 11
            },
            {
                "policy_type": "sts", "result_type": "starttls-not-supported",
                "receiving_mx_hostname": "mx1.example.com", "organizations": ["google.com"],
                "first_day": "2026-11-01", "last_day": "2026-11-01", "days": 1, "sessions": 6
            },
            {
                "policy_type": "tlsa", "result_type": "tlsa-invalid",
                "receiving_mx_hostname": "mx1.example.com",
                "organizations": ["Microsoft Corporation"],
                "first_day": "2026-11-02", "last_day": "2026-11-02", "days": 1, "sessions": 2
            }
        ])
    );
    let testing = [
        "version: STSv1",
        "mode: testing",
        "mx: mx.example.com",
        "max_age: 86400",
    ];
    let enforce = [
        "version: STSv1",
        "mode: enforce",
        "mx: mx.example.com",
        "max_age: 86400",
    ];
    assert_eq!(
        serde_json::to_value(&evidence.policies_seen).expect("json"),
        json!([
            {
                "policy_type": "sts", "policy_string": testing, "first_day": "2026-11-01",
                "last_day": "2026-11-03", "reports": 4
            },
            {
                "policy_type": "sts", "policy_string": enforce, "first_day": "2026-11-02",
                "last_day": "2026-11-02", "reports": 1
            },
            {
                "policy_type": "tlsa", "policy_string": testing, "first_day": "2026-11-02",
                "last_day": "2026-11-02", "reports": 1
            }
        ])
    );
    // A domain without reports in the range has empty evidence, not an error.
    let empty = store
        .evidence(&EvidenceQuery {
            domain: "example.com".into(),
            from: november(20),
            to: november(25),
        })
        .await
        .expect("evidence");
    assert_eq!(empty.summary.total.reports, 0);
    assert!(empty.reporters.is_empty() && empty.failures.is_empty());
    assert!(empty.policies_seen.is_empty());
}

pub async fn summary_days_count_failures_by_result_type(backend: Backend) {
    let store = backend.open().await;
    store.insert(evidence_reports()).await.expect("insert");
    let summary = store
        .summary(
            &EvidenceQuery {
                domain: "example.com".into(),
                from: november(1),
                to: november(3),
            }
            .as_summary(),
        )
        .await
        .expect("summary");
    let failures: Vec<Value> = summary
        .days
        .iter()
        .map(|day| json!({ "date": day.date, "failures": day.failures }))
        .collect();
    assert_eq!(
        failures,
        [
            json!({"date": "2026-11-01", "failures": [
                {"policy_type": "sts", "result_type": "starttls-not-supported", "count": 6},
                {"policy_type": "sts", "result_type": "certificate-host-mismatch", "count": 4}
            ]}),
            json!({"date": "2026-11-02", "failures": [
                {"policy_type": "sts", "result_type": "certificate-host-mismatch", "count": 7},
                {"policy_type": "tlsa", "result_type": "tlsa-invalid", "count": 2}
            ]}),
            json!({"date": "2026-11-03", "failures": []}),
        ]
    );
}

pub async fn domains_lists_every_domain_with_its_days_and_recent_counts(backend: Backend) {
    let store = backend.open().await;
    assert!(
        store
            .domains(&DomainsQuery { since: november(1) })
            .await
            .expect("domains")
            .is_empty()
    );
    store.insert(evidence_reports()).await.expect("insert");
    let domains = store
        .domains(&DomainsQuery {
            since: shift(november(2), 3600),
        })
        .await
        .expect("domains");
    assert_eq!(
        domains,
        [
            DomainOverview {
                domain: "example.com".into(),
                first_day: shift(november(1), -86_400).utc_date(),
                last_day: november(3).utc_date(),
                // The later of the two reports of November 3.
                last_received_at: shift(november(4), 12 * 3600),
                // g2, m2 (its `sts` entry only), y3, o3.
                reports: 4,
                successful: 50 + 200 + 20 + 1,
                failed: 5 + 2,
            },
            DomainOverview {
                domain: "other.example".into(),
                first_day: november(2).utc_date(),
                last_day: november(2).utc_date(),
                last_received_at: shift(november(2), 2 * 86_400),
                reports: 1,
                successful: 7,
                failed: 0,
            },
        ]
    );
    // Pruning takes the pruned reports out of the counts.
    assert_eq!(store.prune(november(2)).await.expect("prune"), 2);
    let pruned = store
        .domains(&DomainsQuery { since: november(1) })
        .await
        .expect("domains");
    assert_eq!(pruned[0].first_day, november(2).utc_date());
    assert_eq!(pruned[0].reports, 4);
    assert_eq!(pruned[0].successful, 50 + 200 + 20 + 1);
    // A day pruned in part: its latest receipt is the latest of the reports left. Two more
    // reports of November 5, one covering only its first hour and received last.
    let mut early = simple("google.com", "e5", november(5), "late.example", 3);
    early.report.date_range.end = shift(november(5), 3599);
    early.received_at = shift(november(9), 0);
    let mut whole = simple("yahoo.com", "w5", november(5), "late.example", 4);
    whole.received_at = shift(november(7), 0);
    store.insert(vec![early, whole]).await.expect("insert");
    // e5 and the five reports of November 2 and 3 (the other domains' last).
    assert_eq!(
        store.prune(shift(november(5), 7200)).await.expect("prune"),
        6
    );
    let late = store
        .domains(&DomainsQuery { since: november(1) })
        .await
        .expect("domains");
    assert_eq!(late.len(), 1, "domains without reports left are gone");
    assert_eq!(late[0].domain, "late.example");
    assert_eq!((late[0].reports, late[0].successful), (1, 4));
    assert_eq!(late[0].last_received_at, november(7));
    // A domain with nothing recent is still listed, with zero counts.
    let later = store
        .domains(&DomainsQuery {
            since: november(10),
        })
        .await
        .expect("domains");
    assert_eq!(later.len(), 1);
    assert!(later.iter().all(|d| d.reports == 0 && d.successful == 0));
}

pub async fn a_report_is_read_back_in_full(backend: Backend) {
    let store = backend.open().await;
    let json = report_json(
        "mail.example",
        "<full@mail.example>",
        november(5),
        vec![
            policy(
                "sts",
                "example.com",
                9,
                3,
                vec![json!({
                    "result-type": "certificate-expired",
                    "sending-mta-ip": "2001:db8::1",
                    "receiving-mx-hostname": "mx1.example.com",
                    "receiving-mx-helo": "mx1.example.net",
                    "receiving-ip": "192.0.2.25",
                    "failed-session-count": 3,
                    "additional-information": "https://mail.example/tlsrpt?id=1",
                    "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED"
                })],
            ),
            policy("no-policy-found", "other.example", 4, 0, vec![]),
        ],
    );
    let mut report = new_report(&json, Source::Imap);
    // Kept as it arrived, in two gzip members: read back whole.
    let (head, tail) = report.json.split_at(report.json.len() / 3);
    let mut gzip = Vec::new();
    for part in [head, tail] {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(part).expect("gzip");
        gzip.extend(encoder.finish().expect("gzip"));
    }
    report.gzip = Some(gzip);
    let key = store.insert(vec![report.clone()]).await.expect("insert")[0].key();
    let detail = store
        .report(key)
        .await
        .expect("read")
        .expect("the report is there");
    assert_eq!(detail.key, key);
    assert_eq!(detail.raw_json.as_bytes(), report.json.as_slice());
    assert_eq!(detail.findings, report.findings);
    assert_eq!(detail.received_at, report.received_at);
    let mut shown = serde_json::to_value(&detail).expect("json");
    shown["raw_json"] = json!("(checked above)");
    assert_eq!(
        shown,
        json!({
            "key": key.id(),
            "organization": "mail.example",
            "report_id": "<full@mail.example>",
            "start": "2026-11-05T00:00:00Z",
            "end": "2026-11-05T23:59:59Z",
            "contact_info": "tlsrpt@mail.example",
            "received_at": "2026-11-07T00:00:00Z",
            "source": "imap",
            "policies": [
                {
                    "policy_type": "sts",
                    "policy_domain": "example.com",
                    "policy_string": [
                        "version: STSv1", "mode: testing", "mx: mx.example.com", "max_age: 86400"
                    ],
                    "mx_host": ["mx.example.com"],
                    "successful": 9,
                    "failed": 3,
                    "failures": [{
                        "result_type": "certificate-expired",
                        "count": 3,
                        "sending_mta_ip": "2001:db8::1",
                        "receiving_mx_hostname": "mx1.example.com",
                        "receiving_mx_helo": "mx1.example.net",
                        "receiving_ip": "192.0.2.25",
                        "additional_information": "https://mail.example/tlsrpt?id=1",
                        "failure_reason_code": "X509_V_ERR_CERT_HAS_EXPIRED"
                    }]
                },
                {
                    "policy_type": "no-policy-found",
                    "policy_domain": "other.example",
                    "policy_string": [
                        "version: STSv1", "mode: testing", "mx: mx.example.com", "max_age: 86400"
                    ],
                    "mx_host": ["mx.example.com"],
                    "successful": 4,
                    "failed": 0,
                    "failures": []
                }
            ],
            "findings": [{
                "code": "example-finding",
                "severity": "warning",
                "message": "a finding kept with the report"
            }],
            "raw_json": "(checked above)"
        })
    );
    // A key the list gives, and one that no report has.
    let listed = store.list(&ListQuery::default()).await.expect("list");
    assert_eq!(listed[0].key, key);
    assert_eq!(
        serde_json::to_value(listed[0].keyed()).expect("json")["key"],
        json!(key.id())
    );
    assert_eq!(
        store
            .report(ReportKey::from_id(key.id() + 1000))
            .await
            .expect("read"),
        None
    );
}

fn ids(reports: &[StoredReport]) -> Vec<String> {
    reports.iter().map(|r| r.report_id.clone()).collect()
}

pub async fn list_pages_newest_first(backend: Backend) {
    let store = backend.open().await;
    let mut reports: Vec<NewReport> = (1..=5)
        .map(|day| {
            simple(
                "google.com",
                &format!("g{day}"),
                november(day),
                "example.com",
                1,
            )
        })
        .collect();
    // The same start as g5, another organisation: ties go by organisation, reversed too.
    reports.push(simple("yahoo.com", "y5", november(5), "example.com", 1));
    reports.push(simple("google.com", "x3", november(3), "other.example", 1));
    store.insert(reports).await.expect("insert");
    let page = |offset: u64, domain: Option<&str>| {
        let store = &store;
        let query = ListQuery {
            domain: domain.map(str::to_string),
            limit: Some(2),
            offset: Some(offset),
            newest_first: true,
            ..ListQuery::default()
        };
        async move { ids(&store.list(&query).await.expect("list")) }
    };
    assert_eq!(page(0, Some("example.com")).await, ["y5", "g5"]);
    assert_eq!(page(2, Some("example.com")).await, ["g4", "g3"]);
    assert_eq!(page(4, Some("example.com")).await, ["g2", "g1"]);
    assert!(page(6, Some("example.com")).await.is_empty());
    assert_eq!(page(2, None).await, ["g4", "x3"]);
    // Oldest first pages the same way, and `since` still applies.
    let oldest = store
        .list(&ListQuery {
            domain: Some("example.com".into()),
            since: Some(november(2)),
            limit: Some(3),
            offset: Some(1),
            ..ListQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&oldest), ["g3", "g4", "g5"]);
    let newest_since = store
        .list(&ListQuery {
            since: Some(november(4)),
            newest_first: true,
            ..ListQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&newest_since), ["y5", "g5", "g4"]);
}

pub async fn received_since_follows_receipt_order(backend: Backend) {
    let store = backend.open().await;
    let t = november(10);
    let received = |mut report: NewReport, at: Timestamp| {
        report.received_at = at;
        report
    };
    // Two reports received in the same second, one later, and one stamped earlier but stored
    // last (a slow batch).
    let a = received(simple("google.com", "a", november(8), "example.com", 1), t);
    let b = received(
        new_report(
            &report_json(
                "yahoo.com",
                "b",
                november(7),
                vec![
                    policy(
                        "sts",
                        "example.com",
                        1,
                        1,
                        vec![failure("validation-failure", 1, None, None)],
                    ),
                    policy("sts", "other.example", 2, 0, vec![]),
                ],
            ),
            Source::Https,
        ),
        t,
    );
    let c = received(
        simple("google.com", "c", november(9), "example.com", 1),
        shift(t, 10),
    );
    let late = received(
        simple("google.com", "late", november(9), "other.example", 1),
        shift(t, -5),
    );
    store.insert(vec![a, b]).await.expect("insert");
    store.insert(vec![c]).await.expect("insert");
    store.insert(vec![late]).await.expect("insert");

    let first = store
        .received_since(&ReceiptCursor::since(t), 2)
        .await
        .expect("received");
    assert_eq!(ids(&first), ["a", "b"]);
    // Every entry of every domain, with its failures: what an alert needs.
    assert_eq!(first[1].policies.len(), 2);
    assert_eq!(first[1].policies[0].failures.len(), 1);
    let next = store
        .received_since(&ReceiptCursor::after(&first[1]), 2)
        .await
        .expect("received");
    assert_eq!(ids(&next), ["c"]);
    let after_a = store
        .received_since(&ReceiptCursor::after(&first[0]), 10)
        .await
        .expect("received");
    assert_eq!(ids(&after_a), ["b", "c"], "ties in one second go by key");
    assert!(
        store
            .received_since(&ReceiptCursor::after(&next[0]), 10)
            .await
            .expect("received")
            .is_empty()
    );
    // Starting a little earlier finds the report of the slow batch.
    let all = store
        .received_since(&ReceiptCursor::since(shift(t, -60)), 10)
        .await
        .expect("received");
    assert_eq!(ids(&all), ["late", "a", "b", "c"]);
}

/// `n` claims of one alert at once through each of two stores (two servers sharing the store).
async fn race_claims(first: &ReportStore, second: &ReportStore, n: usize) -> usize {
    let mut tasks = Vec::new();
    for store in [first, second] {
        for _ in 0..n {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .claim_alert("example.com", "failures", "2026-11-02", november(3))
                    .await
            }));
        }
    }
    let mut claimed = 0;
    for task in tasks {
        if task.await.expect("task").expect("claim") {
            claimed += 1;
        }
    }
    claimed
}

pub async fn an_alert_is_claimed_once_per_condition_and_period(backend: Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    assert_eq!(race_claims(&first, &second, 8).await, 1);
    assert_eq!(race_claims(&first, &second, 8).await, 0, "already sent");
    // The same domain written otherwise is the same alert.
    assert!(
        !first
            .claim_alert("EXAMPLE.com.", "failures", "2026-11-02", november(4))
            .await
            .expect("claim")
    );
    // Another period, condition or domain is another alert.
    for (domain, condition, period) in [
        ("example.com", "failures", "2026-11-03"),
        ("example.com", "silent-reporter", "2026-11-02"),
        ("other.example", "failures", "2026-11-02"),
    ] {
        assert!(
            second
                .claim_alert(domain, condition, period, november(4))
                .await
                .expect("claim"),
            "{domain} {condition} {period}"
        );
    }
    assert_eq!(
        backend.query_i64("SELECT count(*) FROM alert_sent").await,
        4
    );
    assert_eq!(
        backend
            .query_i64(
                "SELECT sent_at FROM alert_sent WHERE domain = 'example.com' \
                 AND condition = 'failures' AND period = '2026-11-02'"
            )
            .await,
        november(3).unix_seconds()
    );
}

pub async fn domain_state_swaps_return_the_previous_value(backend: Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    let swap = |store: &ReportStore, domain: &'static str, value: &'static str| {
        let store = store.clone();
        async move {
            store
                .swap_domain_state(domain, "verdict", value, november(5))
                .await
                .expect("swap")
        }
    };
    assert_eq!(swap(&first, "example.com", "testing").await, None);
    assert_eq!(
        swap(&second, "Example.COM.", "ready").await.as_deref(),
        Some("testing")
    );
    assert_eq!(swap(&first, "other.example", "none").await, None);
    assert_eq!(
        first
            .swap_domain_state("example.com", "another-name", "x", november(5))
            .await
            .expect("swap"),
        None
    );
    assert_eq!(
        swap(&first, "example.com", "ready").await.as_deref(),
        Some("ready")
    );
    // Many swaps at once through two stores are ordered: each value is returned exactly once,
    // by the swap that replaced it, and one swap got the value from before them all.
    let values: Vec<String> = (0..16).map(|n| format!("v{n}")).collect();
    let mut tasks = Vec::new();
    for (n, value) in values.iter().enumerate() {
        let store = if n % 2 == 0 { &first } else { &second }.clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            store
                .swap_domain_state("race.example", "verdict", &value, november(6))
                .await
                .expect("swap")
        }));
    }
    let mut returned = Vec::new();
    for task in tasks {
        returned.push(task.await.expect("task"));
    }
    returned.push(swap(&first, "race.example", "last").await);
    assert_eq!(returned.iter().filter(|r| r.is_none()).count(), 1);
    let replaced: BTreeSet<String> = returned.into_iter().flatten().collect();
    assert_eq!(replaced, values.into_iter().collect::<BTreeSet<_>>());
    assert_eq!(
        backend
            .query_text(
                "SELECT value FROM domain_state WHERE domain = 'race.example' AND name = 'verdict'"
            )
            .await,
        "last"
    );
}

pub async fn domains_counts_hold_under_concurrent_writers(backend: Backend) {
    // 5 domains × 3 days × 4 organisations, each report for one domain and day.
    let reports: Vec<NewReport> = (0..60_u64)
        .map(|n| {
            let domain = format!("d{}.example", n % 5);
            let day = november(1 + (n / 5 % 3) as u32);
            let organization =
                ["google.com", "yahoo.com", "mail.ru", "outlook.example"][(n / 15) as usize];
            simple(organization, &format!("r{n}"), day, &domain, n + 1)
        })
        .collect();
    // Four writers, each through a store of its own (four servers), with the same reports in
    // different orders and batches: every (domain, day) row is contended.
    let mut writers = Vec::new();
    for writer in 0..4_usize {
        let store = backend.open().await;
        let mut batch = reports.clone();
        batch.rotate_left(writer * 15);
        if writer % 2 == 1 {
            batch.reverse();
        }
        writers.push(tokio::spawn(async move {
            for chunk in batch.chunks(7 + writer) {
                store.insert(chunk.to_vec()).await.expect("insert");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let store = backend.open().await;
    let domains = store
        .domains(&DomainsQuery { since: november(1) })
        .await
        .expect("domains");
    assert_eq!(domains.len(), 5);
    for (index, overview) in domains.iter().enumerate() {
        let index = index as u64;
        let successful: u64 = (0..60_u64).filter(|n| n % 5 == index).map(|n| n + 1).sum();
        assert_eq!(overview.domain, format!("d{index}.example"));
        assert_eq!(overview.reports, 12, "{}", overview.domain);
        assert_eq!(overview.successful, successful, "{}", overview.domain);
        assert_eq!(overview.first_day, november(1).utc_date());
        assert_eq!(overview.last_day, november(3).utc_date());
    }
}
