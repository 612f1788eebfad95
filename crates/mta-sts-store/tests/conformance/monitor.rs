//! The monitor's tables: checks kept newest first and pruned by age, and one open event per
//! (domain, code, subject) however many servers raise and clear it at once.

use mta_sts_store::reports::{MonitorEvent, NewMonitorCheck, ReportStore};

use crate::backend::Backend;
use crate::fixtures::november;

fn check(domain: &str, day: u32, verdict: &str) -> NewMonitorCheck {
    NewMonitorCheck {
        domain: domain.into(),
        checked_at: november(day),
        verdict: verdict.into(),
        outcome: "complete".into(),
        snapshot: format!("{{\"day\":{day}}}"),
    }
}

pub async fn monitor_checks_are_read_newest_first_and_pruned_by_age(backend: Backend) {
    let store = backend.open().await;
    assert_eq!(
        store
            .latest_monitor_check("example.com")
            .await
            .expect("read"),
        None
    );
    for day in [3, 1, 2] {
        store
            .record_monitor_check(&check("Example.COM.", day, "pass"))
            .await
            .expect("keep");
    }
    store
        .record_monitor_check(&check("example.net", 9, "fail"))
        .await
        .expect("keep");
    let latest = store
        .latest_monitor_check("example.com")
        .await
        .expect("read")
        .expect("one");
    assert_eq!(latest.domain, "example.com");
    assert_eq!(latest.checked_at, november(3));
    assert_eq!(latest.snapshot, "{\"day\":3}");
    let days: Vec<_> = store
        .monitor_checks("example.com", 10)
        .await
        .expect("read")
        .into_iter()
        .map(|c| c.checked_at)
        .collect();
    assert_eq!(days, [november(3), november(2), november(1)]);
    assert_eq!(
        store
            .monitor_checks("example.com", 2)
            .await
            .expect("read")
            .len(),
        2
    );
    // Pruning deletes the old checks of every domain, no event.
    store
        .raise_monitor_event(
            "example.com",
            "mx-none",
            "example.com",
            "no MX",
            november(1),
        )
        .await
        .expect("raise");
    assert_eq!(
        store
            .prune_monitor_checks(november(3))
            .await
            .expect("prune"),
        2
    );
    assert_eq!(
        store
            .monitor_checks("example.com", 10)
            .await
            .expect("read")
            .len(),
        1
    );
    assert_eq!(
        store
            .monitor_checks("example.net", 10)
            .await
            .expect("read")
            .len(),
        1
    );
    assert_eq!(
        store
            .open_monitor_events("example.com")
            .await
            .expect("read")
            .len(),
        1
    );
}

async fn raise(store: &ReportStore, day: u32) -> bool {
    store
        .raise_monitor_event(
            "example.com",
            "cert-expiring-7d",
            "mx.example.com",
            "expires soon",
            november(day),
        )
        .await
        .expect("raise")
}

async fn clear(store: &ReportStore, day: u32) -> bool {
    store
        .clear_monitor_event(
            "example.com",
            "cert-expiring-7d",
            "mx.example.com",
            "renewed",
            november(day),
        )
        .await
        .expect("clear")
}

pub async fn a_monitor_event_is_open_once_and_cleared_once(backend: Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    assert!(!clear(&first, 1).await, "nothing open to clear");
    // Two servers raising at once: exactly one opens the event.
    let raises = tokio::join!(raise(&first, 2), raise(&second, 2));
    assert!(raises.0 ^ raises.1, "{raises:?}");
    assert!(!raise(&first, 3).await, "already open");
    // Another subject or code is another event.
    assert!(
        second
            .raise_monitor_event(
                "example.com",
                "cert-expiring-7d",
                "mta-sts.example.com",
                "m",
                november(2)
            )
            .await
            .expect("raise")
    );
    let clears = tokio::join!(clear(&first, 4), clear(&second, 4));
    assert!(clears.0 ^ clears.1, "{clears:?}");
    assert!(!clear(&second, 5).await, "already cleared");
    // Raised again after the clear: a new event, the old one kept.
    assert!(raise(&second, 6).await);
    let open = first
        .open_monitor_events("EXAMPLE.com.")
        .await
        .expect("read");
    assert_eq!(
        open.iter().map(|e| e.subject.as_str()).collect::<Vec<_>>(),
        ["mta-sts.example.com", "mx.example.com"]
    );
    let all = first.monitor_events("example.com", 10).await.expect("read");
    // Open first (latest raised first), then the cleared one.
    assert_eq!(
        all,
        [
            MonitorEvent {
                domain: "example.com".into(),
                code: "cert-expiring-7d".into(),
                subject: "mx.example.com".into(),
                message: "expires soon".into(),
                raised_at: november(6),
                cleared_at: None,
                clear_message: None,
            },
            MonitorEvent {
                domain: "example.com".into(),
                code: "cert-expiring-7d".into(),
                subject: "mta-sts.example.com".into(),
                message: "m".into(),
                raised_at: november(2),
                cleared_at: None,
                clear_message: None,
            },
            MonitorEvent {
                domain: "example.com".into(),
                code: "cert-expiring-7d".into(),
                subject: "mx.example.com".into(),
                message: "expires soon".into(),
                raised_at: november(2),
                cleared_at: Some(november(4)),
                clear_message: Some("renewed".into()),
            },
        ]
    );
    assert_eq!(
        first
            .monitor_events("example.com", 1)
            .await
            .expect("read")
            .len(),
        1
    );
    assert!(
        first
            .monitor_events("example.org", 10)
            .await
            .expect("read")
            .is_empty()
    );
}
