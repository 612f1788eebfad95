use mta_sts_core::report::{PolicyType, ResultType};
use mta_sts_store::reports::{Source, StoredFailure, StoredPolicy};

use super::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a timestamp")
}

fn policy(domain: &str, failed: u64) -> StoredPolicy {
    StoredPolicy {
        policy_type: PolicyType::Sts,
        policy_domain: Some(domain.to_string()),
        successful: 100,
        failed,
        failures: (failed > 0)
            .then(|| StoredFailure {
                result_type: ResultType::CertificateExpired,
                count: failed,
                receiving_mx_hostname: Some("mx.example.com".into()),
                sending_mta_ip: None,
            })
            .into_iter()
            .collect(),
    }
}

fn report(id: i64, policies: Vec<StoredPolicy>) -> StoredReport {
    StoredReport {
        key: ReportKey::from_id(id),
        organization: "Google LLC".into(),
        report_id: format!("r{id}"),
        start: at("2026-12-06T00:00:00Z"),
        end: at("2026-12-06T23:59:59Z"),
        policies,
        received_at: at("2026-12-07T04:00:00Z"),
        source: Source::Https,
    }
}

#[test]
fn only_failures_of_configured_domains_count() {
    let domains = vec!["example.com".to_string(), "example.net".to_string()];
    let fresh = vec![
        report(1, vec![policy("example.com", 0)]),
        report(2, vec![policy("Example.COM.", 3), policy("example.net", 0)]),
        report(3, vec![policy("other.example", 9)]),
        report(4, vec![policy("example.net", 2), policy("example.com", 1)]),
    ];
    let found = failures_by_domain(&fresh, &domains);
    let ids = |domain: &str| -> Vec<String> {
        found[domain].iter().map(|r| r.report_id.clone()).collect()
    };
    assert_eq!(found.len(), 2);
    assert_eq!(ids("example.com"), ["r2", "r4"]);
    assert_eq!(ids("example.net"), ["r4"]);
    // Only the failing entry of the domain is kept.
    assert_eq!(found["example.com"][0].policies.len(), 1);
    assert_eq!(found["example.com"][0].failed_sessions(), 3);
}

#[test]
fn the_failure_period_is_the_utc_day_or_hour() {
    let now = at("2026-12-07T04:59:59Z");
    assert_eq!(failure_period(now, FailurePeriod::Day), "2026-12-07");
    assert_eq!(failure_period(now, FailurePeriod::Hour), "2026-12-07T04");
}

#[test]
fn the_verdict_is_the_stage_and_readiness() {
    let mut advice = Advice {
        domain: "example.com".into(),
        stage: mta_sts_rollout::Stage::Testing,
        ready: false,
        reasons: Vec::new(),
        next: None,
    };
    assert_eq!(verdict(&advice), "testing: not ready to enforce");
    advice.ready = true;
    assert_eq!(verdict(&advice), "testing: ready to enforce");
    advice.stage = mta_sts_rollout::Stage::Enforce;
    assert_eq!(verdict(&advice), "enforce: ready to keep enforcing");
}
