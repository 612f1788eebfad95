use mta_sts_core::report;
use prometheus_client::encoding::text::encode;

use super::*;

fn imported(organization: &str) -> Outcome {
    let time = report::Timestamp::parse("2026-12-01T00:00:00Z").expect("valid");
    Outcome::Imported {
        organization: organization.to_string(),
        report_id: "1".to_string(),
        start: time,
        end: time,
    }
}

fn text(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).expect("encodes");
    text
}

#[test]
fn strangers_cannot_grow_the_label_set_without_bound() {
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    for number in 0..MAX_ORGANIZATIONS + 50 {
        metrics.record(&imported(&format!("Org {number}")), None);
    }
    let text = text(&registry);
    assert!(
        text.contains(r#"organization="other",outcome="imported"} 50"#),
        "{text}"
    );
    assert_eq!(
        text.matches("outcome=\"imported\"").count(),
        MAX_ORGANIZATIONS + 1
    );
    // A long name is cut short.
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    metrics.record(&imported(&"x".repeat(1000)), None);
    assert!(text_of_len(&registry, MAX_ORGANIZATION_LABEL));
}

fn text_of_len(registry: &Registry, length: usize) -> bool {
    text(registry).contains(&format!("organization=\"{}\"", "x".repeat(length)))
}

#[test]
fn sessions_count_successes_and_each_result_type() {
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    let report = report::parse(
        br#"{"organization-name":"O","date-range":{"start-datetime":"2026-12-01T00:00:00Z",
        "end-datetime":"2026-12-01T23:59:59Z"},"report-id":"1","policies":[{"policy":{
        "policy-type":"sts","policy-domain":"example.com"},"summary":{
        "total-successful-session-count":7,"total-failure-session-count":5},
        "failure-details":[{"result-type":"certificate-expired","failed-session-count":2},
        {"result-type":"made-up-by-a-sender","failed-session-count":3}]}]}"#,
    )
    .expect("a report");
    metrics.record(&imported("O"), Some(&report));
    // Not newly stored: no sessions counted again.
    metrics.record(
        &Outcome::Duplicate {
            organization: "O".to_string(),
            report_id: "1".to_string(),
            start: report.date_range.start,
            end: report.date_range.end,
        },
        Some(&report),
    );
    let text = text(&registry);
    for line in [
        r#"mta_sts_report_sessions_total{policy_domain="example.com",result="success"} 7"#,
        r#"mta_sts_report_sessions_total{policy_domain="example.com",result="certificate-expired"} 2"#,
        r#"mta_sts_report_sessions_total{policy_domain="example.com",result="other"} 3"#,
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}
