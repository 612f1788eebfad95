//! The report store: dedup, batches, list and summary values, retention.

use std::io::Read as _;

use mta_sts_store::reports::{Insertion, ListQuery, PRUNE_BATCH, Source, SummaryQuery};
use serde_json::json;

use crate::backend::Backend;
use crate::fixtures::{failure, new_report, november, policy, report_json, shift, simple};

pub async fn a_report_is_imported_once(backend: Backend) {
    let store = backend.open().await;
    let report = simple("google.com", "r1", november(1), "example.com", 5);
    let first = store.insert(vec![report.clone()]).await.expect("insert");
    let [Insertion::Imported(key)] = first[..] else {
        panic!("imported: {first:?}");
    };
    // The same report again, and the same content with other bytes (compact JSON, received
    // over another path): duplicates of the first.
    let again = store.insert(vec![report.clone()]).await.expect("again");
    assert_eq!(again, [Insertion::Duplicate(key)]);
    let mut other_bytes = report.clone();
    other_bytes.json = serde_json::to_vec(
        &serde_json::from_slice::<serde_json::Value>(&report.json).expect("json"),
    )
    .expect("compact");
    assert_ne!(other_bytes.json, report.json);
    other_bytes.source = Source::Https;
    let same_content = store.insert(vec![other_bytes]).await.expect("same content");
    assert_eq!(same_content, [Insertion::Duplicate(key)]);
    assert_eq!(backend.query_i64("SELECT count(*) FROM report").await, 1);
    assert_eq!(
        backend
            .query_i64("SELECT count(*) FROM report_policy")
            .await,
        1
    );
}

pub async fn the_same_identity_with_other_content_is_a_duplicate(backend: Backend) {
    let store = backend.open().await;
    let first = store
        .insert(vec![simple(
            "google.com",
            "r1",
            november(1),
            "example.com",
            5,
        )])
        .await
        .expect("insert");
    let changed = store
        .insert(vec![simple(
            "google.com",
            "r1",
            november(1),
            "example.com",
            6,
        )])
        .await
        .expect("insert");
    assert_eq!(changed, [Insertion::Duplicate(first[0].key())]);
    let reports = store.list(&ListQuery::default()).await.expect("list");
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].policies[0].successful, 5,
        "the first one is kept"
    );
}

pub async fn a_reused_report_id_with_another_date_range_is_a_new_report(backend: Backend) {
    let store = backend.open().await;
    let outcomes = store
        .insert(vec![
            simple("google.com", "r1", november(1), "example.com", 5),
            simple("google.com", "r1", november(2), "example.com", 5),
            simple("yahoo.com", "r1", november(1), "example.com", 5),
        ])
        .await
        .expect("insert");
    assert!(
        outcomes.iter().all(|o| matches!(o, Insertion::Imported(_))),
        "{outcomes:?}"
    );
    let mut keys: Vec<_> = outcomes.iter().map(|o| o.key()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 3);
}

pub async fn duplicates_within_one_batch(backend: Backend) {
    let store = backend.open().await;
    let a = simple("google.com", "r1", november(1), "example.com", 5);
    let a_again = a.clone();
    let a_identity = simple("google.com", "r1", november(1), "example.com", 9);
    let c = simple("google.com", "r2", november(1), "example.com", 5);
    let outcomes = store
        .insert(vec![a, a_again, a_identity, c])
        .await
        .expect("insert");
    let Insertion::Imported(a_key) = outcomes[0] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(outcomes[1], Insertion::Duplicate(a_key));
    assert_eq!(outcomes[2], Insertion::Duplicate(a_key));
    assert!(
        matches!(outcomes[3], Insertion::Imported(c) if c != a_key),
        "{outcomes:?}"
    );
    assert_eq!(backend.query_i64("SELECT count(*) FROM report").await, 2);
}

pub async fn a_failing_batch_stores_nothing(backend: Backend) {
    let store = backend.open().await;
    backend.refuse_policies_of("refused.example").await;
    let good = vec![
        simple("google.com", "r1", november(1), "example.com", 5),
        simple("yahoo.com", "r2", november(1), "example.com", 5),
    ];
    let mut batch = good.clone();
    batch.push(simple(
        "refused.example",
        "r3",
        november(1),
        "example.com",
        5,
    ));
    let error = store.insert(batch).await.expect_err("the batch fails");
    assert!(!error.is_unavailable(), "{error}");
    assert!(error.to_string().contains("inserting reports"), "{error}");
    for table in ["report", "report_policy", "failure_detail", "lint_finding"] {
        assert_eq!(
            backend
                .query_i64(&format!("SELECT count(*) FROM {table}"))
                .await,
            0,
            "{table}"
        );
    }
    // Nothing of the failed batch counts as stored: the good reports import on retry.
    let retry = store.insert(good).await.expect("retry");
    assert!(
        retry.iter().all(|o| matches!(o, Insertion::Imported(_))),
        "{retry:?}"
    );
}

pub async fn the_raw_report_and_findings_are_kept(backend: Backend) {
    let store = backend.open().await;
    let report = simple("google.com", "r1", november(1), "example.com", 5);
    store.insert(vec![report.clone()]).await.expect("insert");
    let compressed = backend.query_bytes("SELECT raw_gzip FROM report").await;
    assert!(compressed.starts_with(&[0x1f, 0x8b]), "gzip");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_end(&mut raw)
        .expect("gunzip");
    assert_eq!(raw, report.json);
    assert_eq!(
        backend.query_text("SELECT source FROM report").await,
        "file"
    );
    assert_eq!(
        backend.query_text("SELECT code FROM lint_finding").await,
        "example-finding"
    );
    assert_eq!(
        backend
            .query_text("SELECT severity FROM lint_finding")
            .await,
        "warning"
    );
}

pub async fn a_report_received_as_gzip_is_kept_as_received(backend: Backend) {
    use std::io::Write as _;
    let store = backend.open().await;
    let mut report = simple("google.com", "r1", november(1), "example.com", 5);
    // Two gzip members (RFC 1952 §2.2: one gzip file), as a sender may write them: the bytes are
    // kept exactly, and they decompress to the report.
    let (head, tail) = report.json.split_at(report.json.len() / 2);
    let mut received = Vec::new();
    for part in [head, tail] {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(part).expect("gzip");
        received.extend(encoder.finish().expect("gzip"));
    }
    report.gzip = Some(received.clone());
    store.insert(vec![report.clone()]).await.expect("insert");
    let kept = backend.query_bytes("SELECT raw_gzip FROM report").await;
    assert_eq!(kept, received);
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(kept.as_slice())
        .read_to_end(&mut raw)
        .expect("gunzip");
    assert_eq!(raw, report.json);
}

pub async fn list_serializes_as_the_cli_prints_it(backend: Backend) {
    let store = backend.open().await;
    let report = new_report(
        &report_json(
            "google.com",
            "2026-11-01T00:00:00Z_example.com",
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
                    failure("validation-failure", 4, None, None),
                ],
            )],
        ),
        Source::Mail,
    );
    store.insert(vec![report]).await.expect("insert");
    let reports = store.list(&ListQuery::default()).await.expect("list");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].source, Source::Mail);
    assert_eq!(
        serde_json::to_value(&reports[0]).expect("serializes"),
        json!({
            "organization": "google.com",
            "report_id": "2026-11-01T00:00:00Z_example.com",
            "start": "2026-11-01T00:00:00Z",
            "end": "2026-11-01T23:59:59Z",
            "policies": [{
                "policy_type": "sts",
                "policy_domain": "example.com",
                "successful": 100,
                "failed": 10,
                "failures": [
                    {
                        "result_type": "starttls-not-supported",
                        "count": 6,
                        "receiving_mx_hostname": "mx1.example.com",
                        "sending_mta_ip": "192.0.2.1"
                    },
                    {
                        "result_type": "validation-failure",
                        "count": 4,
                        "receiving_mx_hostname": null,
                        "sending_mta_ip": null
                    }
                ]
            }]
        })
    );
}

pub async fn list_filters_by_domain_since_and_limit(backend: Backend) {
    let store = backend.open().await;
    let both = new_report(
        &report_json(
            "microsoft.com",
            "m3",
            november(3),
            vec![
                policy("sts", "example.com", 3, 0, vec![]),
                policy("sts", "Other.Example.", 4, 0, vec![]),
            ],
        ),
        Source::Https,
    );
    store
        .insert(vec![
            both,
            simple("yahoo.com", "y2", november(2), "Other.Example.", 2),
            simple("google.com", "g1", november(1), "example.com", 1),
        ])
        .await
        .expect("insert");
    let ids = |reports: &[mta_sts_store::reports::StoredReport]| {
        reports
            .iter()
            .map(|r| r.report_id.clone())
            .collect::<Vec<_>>()
    };
    let all = store.list(&ListQuery::default()).await.expect("list");
    assert_eq!(ids(&all), ["g1", "y2", "m3"], "ordered by start");
    assert_eq!(all[2].policies.len(), 2);

    let example = store
        .list(&ListQuery {
            domain: Some("example.com".into()),
            ..ListQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&example), ["g1", "m3"]);
    assert_eq!(example[1].policies.len(), 1, "only the domain's entries");
    assert_eq!(example[1].policies[0].successful, 3);

    // Case and a final dot do not matter; the entry keeps the domain as written.
    let other = store
        .list(&ListQuery {
            domain: Some("OTHER.example".into()),
            ..ListQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&other), ["y2", "m3"]);
    assert_eq!(
        other[1].policies[0].policy_domain.as_deref(),
        Some("Other.Example.")
    );

    let since = store
        .list(&ListQuery {
            since: Some(november(2)),
            ..ListQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&since), ["y2", "m3"]);

    let limited = store
        .list(&ListQuery {
            domain: Some("example.com".into()),
            since: Some(november(1)),
            limit: Some(1),
            ..ListQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&limited), ["g1"]);
}

pub async fn summary_matches_hand_computed_numbers(backend: Backend) {
    let store = backend.open().await;
    let r1 = new_report(
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
                        "certificate-expired",
                        4,
                        Some("mx2.example.com"),
                        Some("192.0.2.2"),
                    ),
                ],
            )],
        ),
        Source::File,
    );
    let r2 = new_report(
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
                    "starttls-not-supported",
                    5,
                    Some("mx1.example.com"),
                    Some("192.0.2.3"),
                )],
            )],
        ),
        Source::File,
    );
    let r3 = simple("yahoo.com", "y2", november(2), "example.com", 20);
    let r4 = new_report(
        &report_json(
            "mail.ru",
            "m2",
            november(2),
            vec![policy(
                "no-policy-found",
                "EXAMPLE.com",
                7,
                1,
                vec![failure("validation-failure", 1, None, None)],
            )],
        ),
        Source::Imap,
    );
    // Not counted: another domain, a day before and a day after the range, a duplicate.
    let other_domain = simple("google.com", "g3", november(3), "other.example", 1000);
    let before = simple(
        "google.com",
        "g0",
        shift(november(1), -86_400),
        "example.com",
        1000,
    );
    let after = simple("google.com", "g4", november(4), "example.com", 1000);
    let duplicate = r1.clone();
    store
        .insert(vec![r1, r2, r3, r4, other_domain, before, after, duplicate])
        .await
        .expect("insert");
    let summary = store
        .summary(&SummaryQuery {
            domain: "Example.COM".into(),
            from: november(1),
            to: shift(november(3), 12 * 3600),
        })
        .await
        .expect("summary");
    assert_eq!(
        serde_json::to_value(&summary).expect("serializes"),
        json!({
            "domain": "example.com",
            "from": "2026-11-01T00:00:00Z",
            "to": "2026-11-04T00:00:00Z",
            "total": {
                "reports": 4,
                "policies": [
                    {
                        "policy_type": "sts",
                        "successful": 170,
                        "failed": 15,
                        "failures": {
                            "by_result_type": [
                                {"result_type": "starttls-not-supported", "count": 11},
                                {"result_type": "certificate-expired", "count": 4}
                            ],
                            "by_organization": [
                                {"organization": "google.com", "successful": 150, "failed": 15},
                                {"organization": "yahoo.com", "successful": 20, "failed": 0}
                            ],
                            "by_receiving_mx": [
                                {"receiving_mx_hostname": "mx1.example.com", "count": 11},
                                {"receiving_mx_hostname": "mx2.example.com", "count": 4}
                            ],
                            "by_sending_ip": [
                                {"sending_mta_ip": "192.0.2.1", "count": 6},
                                {"sending_mta_ip": "192.0.2.3", "count": 5},
                                {"sending_mta_ip": "192.0.2.2", "count": 4}
                            ]
                        }
                    },
                    {
                        "policy_type": "no-policy-found",
                        "successful": 7,
                        "failed": 1,
                        "failures": {
                            "by_result_type": [{"result_type": "validation-failure", "count": 1}],
                            "by_organization": [
                                {"organization": "mail.ru", "successful": 7, "failed": 1}
                            ],
                            "by_receiving_mx": [{"receiving_mx_hostname": null, "count": 1}],
                            "by_sending_ip": [{"sending_mta_ip": null, "count": 1}]
                        }
                    }
                ]
            },
            "days": [
                {
                    "date": "2026-11-01",
                    "reports": 1,
                    "policies": [{"policy_type": "sts", "successful": 100, "failed": 10}],
                    "failures": [
                        {"policy_type": "sts", "result_type": "starttls-not-supported", "count": 6},
                        {"policy_type": "sts", "result_type": "certificate-expired", "count": 4}
                    ]
                },
                {
                    "date": "2026-11-02",
                    "reports": 3,
                    "policies": [
                        {"policy_type": "sts", "successful": 70, "failed": 5},
                        {"policy_type": "no-policy-found", "successful": 7, "failed": 1}
                    ],
                    "failures": [
                        {"policy_type": "sts", "result_type": "starttls-not-supported", "count": 5},
                        {
                            "policy_type": "no-policy-found",
                            "result_type": "validation-failure",
                            "count": 1
                        }
                    ]
                }
            ]
        })
    );
}

pub async fn microsoft_sts_and_tlsa_counts_stay_apart(backend: Backend) {
    let store = backend.open().await;
    // Microsoft counts the same 202 sessions under both policies it applied.
    let report = new_report(
        &report_json(
            "Microsoft Corporation",
            "133456789012345678+example.com",
            november(1),
            vec![
                policy(
                    "sts",
                    "example.com",
                    200,
                    2,
                    vec![failure(
                        "certificate-host-mismatch",
                        2,
                        Some("mx1.example.com"),
                        Some("2001:db8::25"),
                    )],
                ),
                policy(
                    "tlsa",
                    "example.com",
                    200,
                    2,
                    vec![failure(
                        "tlsa-invalid",
                        2,
                        Some("mx1.example.com"),
                        Some("2001:db8::25"),
                    )],
                ),
            ],
        ),
        Source::Mail,
    );
    store.insert(vec![report]).await.expect("insert");
    let summary = store
        .summary(&SummaryQuery {
            domain: "example.com".into(),
            from: november(1),
            to: november(1),
        })
        .await
        .expect("summary");
    assert_eq!(summary.total.reports, 1, "one report, not one per policy");
    let totals: Vec<_> = summary
        .total
        .policies
        .iter()
        .map(|p| (p.policy_type.as_str(), p.successful, p.failed))
        .collect();
    assert_eq!(totals, [("sts", 200, 2), ("tlsa", 200, 2)]);
    let tlsa = &summary.total.policies[1].failures;
    assert_eq!(tlsa.by_result_type.len(), 1);
    assert_eq!(tlsa.by_result_type[0].result_type.as_str(), "tlsa-invalid");
    assert_eq!(tlsa.by_receiving_mx[0].count, 2, "not 4");
    assert_eq!(summary.days.len(), 1);
    assert_eq!(summary.days[0].reports, 1);
    assert_eq!(summary.days[0].policies.len(), 2);
}

pub async fn prune_deletes_ended_reports_in_batches(backend: Backend) {
    let store = backend.open().await;
    let old_day = shift(november(1), -31 * 86_400);
    let old = PRUNE_BATCH * 2 + 100;
    let reports: Vec<_> = (0..old)
        .map(|n| {
            new_report(
                &report_json(
                    "google.com",
                    &format!("old{n}"),
                    old_day,
                    vec![policy(
                        "sts",
                        "example.com",
                        1,
                        1,
                        vec![failure(
                            "starttls-not-supported",
                            1,
                            Some("mx1.example.com"),
                            None,
                        )],
                    )],
                ),
                Source::File,
            )
        })
        .collect();
    for batch in reports.chunks(700) {
        store.insert(batch.to_vec()).await.expect("insert");
    }
    store
        .insert(vec![
            simple("google.com", "new1", november(1), "example.com", 1),
            simple("yahoo.com", "new2", november(1), "example.com", 1),
        ])
        .await
        .expect("insert");
    let pruned = store.prune(november(1)).await.expect("prune");
    assert_eq!(pruned, old as u64);
    let left = store.list(&ListQuery::default()).await.expect("list");
    let mut ids: Vec<_> = left.iter().map(|r| r.report_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["new1", "new2"]);
    for table in ["report_policy", "failure_detail", "lint_finding"] {
        assert_eq!(
            backend
                .query_i64(&format!(
                    "SELECT count(*) FROM {table} WHERE report NOT IN (SELECT id FROM report)"
                ))
                .await,
            0,
            "no orphans in {table}"
        );
    }
    let october = store
        .summary(&SummaryQuery {
            domain: "example.com".into(),
            from: old_day,
            to: old_day,
        })
        .await
        .expect("summary");
    assert_eq!(october.total.reports, 0);
    assert_eq!(store.prune(november(1)).await.expect("again"), 0);
    // A pruned report is new again if it comes back.
    let back = store
        .insert(vec![reports[0].clone()])
        .await
        .expect("insert");
    assert!(matches!(back[0], Insertion::Imported(_)), "{back:?}");
}

pub async fn concurrent_writers_store_each_report_once(backend: Backend) {
    let store = backend.open().await;
    let reports: Vec<_> = (0..200)
        .map(|n| {
            simple(
                "google.com",
                &format!("r{n}"),
                november(1),
                "example.com",
                n,
            )
        })
        .collect();
    // Four writers with the same reports in different orders, as several servers behind one
    // PostgreSQL (or several tasks of one) receiving the same mail at once.
    let writers: Vec<_> = (0..4_usize)
        .map(|writer| {
            let store = store.clone();
            let mut batch = reports.clone();
            batch.rotate_left(writer * 50);
            if writer % 2 == 1 {
                batch.reverse();
            }
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for chunk in batch.chunks(40) {
                    outcomes.extend(store.insert(chunk.to_vec()).await.expect("insert"));
                }
                outcomes
            })
        })
        .collect();
    let mut imported = Vec::new();
    let mut duplicates = 0;
    for writer in writers {
        for outcome in writer.await.expect("writer") {
            match outcome {
                Insertion::Imported(key) => imported.push(key),
                Insertion::Duplicate(_) => duplicates += 1,
            }
        }
    }
    imported.sort();
    imported.dedup();
    assert_eq!(imported.len(), 200, "each report imported exactly once");
    assert_eq!(duplicates, 600);
    assert_eq!(backend.query_i64("SELECT count(*) FROM report").await, 200);
    assert_eq!(
        backend
            .query_i64("SELECT count(*) FROM report_policy")
            .await,
        200
    );
}
