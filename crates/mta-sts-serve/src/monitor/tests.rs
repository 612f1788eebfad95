use mta_sts_core::Timestamp;

use super::*;

#[test]
fn an_event_becomes_a_monitor_alert_claimed_for_its_time_and_state() {
    let at = Timestamp::parse("2026-12-07T10:00:00Z").expect("a time");
    let event = |state| Event {
        domain: "example.com".into(),
        code: "policy-changed-id-unchanged".into(),
        subject: "example.com".into(),
        state,
        message: "The policy of example.com changed while its id stayed 20261201.".into(),
        at,
    };
    let raised = monitor_alert(event(EventState::Raised));
    assert_eq!(raised.domain, "example.com");
    assert_eq!(raised.period, "2026-12-07T10:00:00Z");
    assert_eq!(
        raised.condition_key(),
        "monitor:policy-changed-id-unchanged:example.com:raised"
    );
    assert_eq!(
        raised.summary(),
        "The policy of example.com changed while its id stayed 20261201."
    );
    let cleared = monitor_alert(event(EventState::Cleared));
    assert_eq!(
        cleared.condition_key(),
        "monitor:policy-changed-id-unchanged:example.com:cleared"
    );
}
