use mta_sts_core::time::ManualClock;

use super::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a timestamp")
}

fn scrape(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
    text
}

#[test]
fn the_gauges_are_named_as_documented_and_ages_grow_at_scrape_time() {
    let clock = Arc::new(ManualClock::new(at("2026-12-07T10:00:00Z")));
    let mut registry = Registry::default();
    let gauges = MonitorGauges::register(&mut registry, clock.clone());
    gauges.update("example.com", |state| {
        state.verdict = Some(Verdict::Warn);
        state
            .certificates
            .insert("mx1.example.com".into(), at("2026-12-14T10:00:00Z"));
        state.policy_changed_at = Some(at("2026-12-07T09:00:00Z"));
        state.last_success = Some(at("2026-12-07T09:59:00Z"));
        state.open_events = 2;
    });
    // A domain not checked yet shows nothing.
    gauges.update("example.net", |_| {});
    let text = scrape(&registry);
    for line in [
        "mta_sts_monitor_verdict{domain=\"example.com\",verdict=\"warn\"} 1",
        "mta_sts_monitor_verdict{domain=\"example.com\",verdict=\"pass\"} 0",
        "mta_sts_monitor_verdict{domain=\"example.com\",verdict=\"fail\"} 0",
        "mta_sts_monitor_verdict{domain=\"example.com\",verdict=\"unknown\"} 0",
        "mta_sts_monitor_certificate_expiry_days{domain=\"example.com\",host=\"mx1.example.com\"} 7.0",
        "mta_sts_monitor_policy_age_seconds{domain=\"example.com\"} 3600",
        "mta_sts_monitor_seconds_since_success{domain=\"example.com\"} 60",
        "mta_sts_monitor_open_events{domain=\"example.com\"} 2",
        "# TYPE mta_sts_monitor_verdict gauge",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(!text.contains("example.net"), "{text}");
    clock.advance(std::time::Duration::from_secs(12 * 3600));
    let text = scrape(&registry);
    for line in [
        "host=\"mx1.example.com\"} 6.5",
        "mta_sts_monitor_seconds_since_success{domain=\"example.com\"} 43260",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    gauges.retain(&["example.net".to_string()]);
    assert!(!scrape(&registry).contains("example.com"));
}
