//! The monitor against the lab over real sockets, the lab changed while it runs
//! (`Lab::update`): each breakage raises its event once, undoing it clears the event, and a
//! second monitor sharing the store announces nothing twice.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mta_sts_check::{Checker, NetSettings, Verdict};
use mta_sts_core::Timestamp;
use mta_sts_lab::{
    CertKind, DnsRecord, Lab, MxHost, PolicyResponse, RecordData, Scenario, SmtpBehaviour,
};
use mta_sts_monitor::{Event, EventState, Monitor, MonitorSettings, events, history};
use mta_sts_net::{AddressGuard, Trust};
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::{PolicyFetches, ReportStore};
use mta_sts_store::test_support::{TempDir, TestDatabase};

const DOMAIN: &str = "healthy-enforce.test";

fn checker(lab: &Lab) -> Checker {
    Checker::from_settings(&NetSettings {
        resolver: Some(lab.dns_addr()),
        trust: Trust::only_pem(lab.ca_pem()).expect("lab CA"),
        https_port: lab.https_port(),
        smtp_port: lab.smtp_port(),
        timeout: Duration::from_millis(1500),
        guard: AddressGuard::AllowAll,
        probe_smtp: true,
    })
    .expect("checker")
}

/// The lab makes its certificates from the wall clock, so the monitor's time follows it; each
/// run is an hour after the last, as on a schedule.
struct Clock(i64);

impl Clock {
    fn new() -> Clock {
        Clock(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).expect("seconds"))
                .expect("after 1970"),
        )
    }

    fn tick(&mut self) -> Timestamp {
        self.0 += 3600;
        Timestamp::from_unix_seconds(self.0).expect("in range")
    }
}

/// (code, subject, state) of each event, sorted.
fn seen(events: &[Event]) -> Vec<(String, String, EventState)> {
    let mut out: Vec<_> = events
        .iter()
        .map(|e| (e.code.clone(), e.subject.clone(), e.state))
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1, a.2.as_str()).cmp(&(&b.0, &b.1, b.2.as_str())));
    out
}

fn one(code: &str, subject: &str, state: EventState) -> (String, String, EventState) {
    (code.to_string(), subject.to_string(), state)
}

const RAISED: EventState = EventState::Raised;
const CLEARED: EventState = EventState::Cleared;

fn set_policy(scenario: &mut Scenario, body: &str) {
    for host in &mut scenario.policy_hosts {
        host.response = PolicyResponse::policy(body.to_string());
    }
}

fn set_id(scenario: &mut Scenario, id: &str) {
    let name = format!("_mta-sts.{DOMAIN}");
    for record in &mut scenario.records {
        if record.name == name {
            record.data = RecordData::Txt(vec![format!("v=STSv1; id={id};")]);
        }
    }
}

async fn sqlite_store(dir: &TempDir) -> ReportStore {
    let url = format!("sqlite:{}", dir.file("monitor.db").display())
        .parse::<StoreUrl>()
        .expect("store URL");
    ReportStore::open(&url).await.expect("store")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_breakage_is_raised_once_and_cleared_when_undone() {
    let mut lab = Lab::start().await.expect("lab");
    let dir = TempDir::new("monitor-lab");
    let store = sqlite_store(&dir).await;
    let monitor = Monitor::new(checker(&lab), store.clone(), MonitorSettings::default());
    let mut clock = Clock::new();
    let original: Scenario = lab.scenario("healthy-enforce").expect("scenario").clone();
    let restore = |lab: &mut Lab| {
        let original = original.clone();
        lab.update(DOMAIN, move |s| *s = original)
            .expect("the original is valid");
    };
    let body = String::from_utf8_lossy(
        &original
            .policy_host()
            .expect("policy host")
            .response
            .body
            .clone(),
    )
    .into_owned();
    assert!(body.contains("max_age: 604800"), "{body}");

    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        run.report.verdict,
        Verdict::Pass,
        "{:#?}",
        run.report.findings
    );
    assert_eq!(run.events, []);

    // The policy edited, the id left alone: raised once, not again while it lasts.
    let edited = body.replace("max_age: 604800", "max_age: 1234567");
    lab.update(DOMAIN, |s| set_policy(s, &edited))
        .expect("valid change");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("policy-changed-id-unchanged", DOMAIN, RAISED)]
    );
    let message = &run.events[0].message;
    assert!(
        message.contains(DOMAIN) && message.contains("stayed 20260101T000000"),
        "{message}"
    );
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(run.events, []);
    // The id bumped: cleared, and the new id is no wasted change (the policy did change).
    lab.update(DOMAIN, |s| set_id(s, "20260202T000000"))
        .expect("valid change");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("policy-changed-id-unchanged", DOMAIN, CLEARED)]
    );
    // The id bumped again with the same policy: a wasted change, for one check.
    lab.update(DOMAIN, |s| set_id(s, "20260303T000000"))
        .expect("valid change");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("id-changed-policy-unchanged", DOMAIN, RAISED)]
    );
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("id-changed-policy-unchanged", DOMAIN, CLEARED)]
    );
    restore(&mut lab);
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(run.events, [], "{:#?}", run.report.findings);

    // An MX added that the policy does not list: one event for the host, not the finding too.
    let new_mx = "mx2.healthy-enforce.test";
    lab.update(DOMAIN, |s| {
        s.records.push(DnsRecord::new(
            DOMAIN,
            RecordData::Mx {
                preference: 20,
                exchange: new_mx.to_owned(),
            },
        ));
        s.records
            .push(DnsRecord::new(new_mx, RecordData::A(Ipv4Addr::LOCALHOST)));
        s.mx_hosts.push(MxHost {
            name: new_mx.to_owned(),
            behaviour: SmtpBehaviour::Starttls(CertKind::Valid),
        });
    })
    .expect("valid change");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(seen(&run.events), [one("mx-not-covered", new_mx, RAISED)]);
    let message = &run.events[0].message;
    assert!(
        message.contains("the MX set changed")
            && message.contains(&format!("mx.{DOMAIN} → mx.{DOMAIN}, {new_mx}")),
        "{message}"
    );
    // The policy updated to list it, with a new id: cleared.
    let covering = body.replace(
        &format!("mx: mx.{DOMAIN}"),
        &format!("mx: mx.{DOMAIN}\nmx: {new_mx}"),
    );
    assert_ne!(covering, body);
    lab.update(DOMAIN, |s| {
        set_policy(s, &covering);
        set_id(s, "20260404T000000");
    })
    .expect("valid change");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(seen(&run.events), [one("mx-not-covered", new_mx, CLEARED)]);
    restore(&mut lab);
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(run.events, [], "{:#?}", run.report.findings);

    // Certificates of the policy host and the MX a week from expiry: the 7-day event for each
    // host, not the checker's `cert-expiring-soon`; renewed: cleared.
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.cert = CertKind::ExpiresInDays(7);
        }
        for host in &mut s.mx_hosts {
            host.behaviour = SmtpBehaviour::Starttls(CertKind::ExpiresInDays(7));
        }
    })
    .expect("valid change");
    let policy_host = format!("mta-sts.{DOMAIN}");
    let mx_host = format!("mx.{DOMAIN}");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [
            one("cert-expiring-7d", &policy_host, RAISED),
            one("cert-expiring-7d", &mx_host, RAISED)
        ]
    );
    restore(&mut lab);
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [
            one("cert-expiring-7d", &policy_host, CLEARED),
            one("cert-expiring-7d", &mx_host, CLEARED)
        ]
    );
    assert!(
        run.events[0].message.contains("renewed"),
        "{}",
        run.events[0].message
    );

    // The policy host down (503) and back.
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response.status = 503;
        }
    })
    .expect("valid change");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("policy-host-unreachable", DOMAIN, RAISED)],
        "{:#?}",
        run.report.findings
    );
    assert!(
        run.events[0].message.contains("HTTP 503"),
        "{}",
        run.events[0].message
    );
    restore(&mut lab);
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("policy-host-unreachable", DOMAIN, CLEARED)]
    );

    // Down another way: its address one where nothing listens (connection refused).
    let nowhere = lab
        .scenario("mx-unreachable")
        .and_then(|s| s.mx_hosts.first())
        .map(|h| h.behaviour.addr())
        .expect("the unreachable MX has an address of its own");
    lab.update(DOMAIN, |s| {
        s.records
            .retain(|r| r.name != policy_host || !matches!(r.data, RecordData::Aaaa(_)));
        for record in &mut s.records {
            if record.name == policy_host && matches!(record.data, RecordData::A(_)) {
                record.data = RecordData::A(nowhere);
            }
        }
    })
    .expect("valid change");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("policy-host-unreachable", DOMAIN, RAISED)],
        "{:#?}",
        run.report.findings
    );
    restore(&mut lab);
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("policy-host-unreachable", DOMAIN, CLEARED)]
    );

    // `_smtp._tls` removed (after it was seen) and restored.
    let tlsrpt = format!("_smtp._tls.{DOMAIN}");
    lab.update(DOMAIN, |s| s.records.retain(|r| r.name != tlsrpt))
        .expect("valid change");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("tlsrpt-record-gone", DOMAIN, RAISED)]
    );
    restore(&mut lab);
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("tlsrpt-record-gone", DOMAIN, CLEARED)]
    );

    // The history: every run kept, the newest first; every event closed.
    let checks = history(&store, DOMAIN, 100).await.expect("history");
    // 18 runs above; 8 events raised, each cleared.
    assert_eq!(checks.len(), 18);
    assert!(checks[0].checked_at > checks[1].checked_at);
    assert_eq!(checks[0].verdict, Verdict::Pass);
    let all = events(&store, DOMAIN, 100).await.expect("events");
    assert_eq!(all.len(), 8);
    assert!(all.iter().all(|e| e.cleared_at.is_some()), "{all:#?}");
    lab.shutdown().await;
}

/// Two servers on one store (PostgreSQL when `MTA_STS_TEST_POSTGRES` is set, SQLite else):
/// of two monitors running the same broken domain at once, one announces the raise, and of the
/// two running it fixed, one announces the clear.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_monitor_on_the_same_store_announces_nothing_twice() {
    let mut lab = Lab::start().await.expect("lab");
    let dir = TempDir::new("monitor-two");
    let database = TestDatabase::create("a_second_monitor_on_the_same_store").await;
    let (first, second) = match &database {
        Some(database) => (
            ReportStore::open(&database.store_url())
                .await
                .expect("store"),
            ReportStore::open(&database.store_url())
                .await
                .expect("store"),
        ),
        None => (sqlite_store(&dir).await, sqlite_store(&dir).await),
    };
    let first = Monitor::new(checker(&lab), first, MonitorSettings::default());
    let second = Monitor::new(checker(&lab), second, MonitorSettings::default());
    let mut clock = Clock::new();
    let original: Scenario = lab.scenario("healthy-enforce").expect("scenario").clone();

    let now = clock.tick();
    let (a, b) = tokio::join!(first.run(DOMAIN, now), second.run(DOMAIN, now));
    assert_eq!(a.expect("run").events, []);
    assert_eq!(b.expect("run").events, []);
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response.status = 503;
        }
    })
    .expect("valid change");
    let now = clock.tick();
    let (a, b) = tokio::join!(first.run(DOMAIN, now), second.run(DOMAIN, now));
    let mut both = a.expect("run").events;
    both.extend(b.expect("run").events);
    assert_eq!(
        seen(&both),
        [one("policy-host-unreachable", DOMAIN, RAISED)]
    );
    // The one that did not raise it does not raise it later either.
    let run = second.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(run.events, []);
    lab.update(DOMAIN, move |s| *s = original).expect("valid");
    let now = clock.tick();
    let (a, b) = tokio::join!(first.run(DOMAIN, now), second.run(DOMAIN, now));
    let mut both = a.expect("run").events;
    both.extend(b.expect("run").events);
    assert_eq!(
        seen(&both),
        [one("policy-host-unreachable", DOMAIN, CLEARED)]
    );
    lab.shutdown().await;
}

/// A fetcher that fetched every six hours for ten days and then stopped: raised once its
/// silence stands out, cleared when it fetches again. The fetch rows go through the store as
/// the policy host writes them.
#[tokio::test(flavor = "multi_thread")]
async fn a_regular_fetcher_that_stops_is_raised_and_cleared_when_it_returns() {
    let lab = Lab::start().await.expect("lab");
    let dir = TempDir::new("monitor-fetchers");
    let store = sqlite_store(&dir).await;
    let monitor = Monitor::new(checker(&lab), store.clone(), MonitorSettings::default());
    let start = Timestamp::from_unix_seconds(1_800_000_000).expect("in range");
    let day = |n: u64| start.saturating_add(Duration::from_secs(n * 86_400));
    let rows = |fetches, first, last| PolicyFetches {
        domain: DOMAIN.into(),
        organization: "Google".into(),
        fetches,
        first_fetch: first,
        last_fetch: last,
    };
    store
        .add_policy_fetches(&[rows(41, day(0), day(10))])
        .await
        .expect("fetches");
    // Two days of silence: as usual.
    assert_eq!(
        monitor.run_fetchers(DOMAIN, day(12)).await.expect("run"),
        []
    );
    let raised = monitor.run_fetchers(DOMAIN, day(14)).await.expect("run");
    assert_eq!(seen(&raised), [one("fetcher-stopped", "Google", RAISED)]);
    assert!(
        raised[0].message.contains("Google") && raised[0].message.contains(DOMAIN),
        "{}",
        raised[0].message
    );
    assert_eq!(
        monitor.run_fetchers(DOMAIN, day(15)).await.expect("run"),
        []
    );
    // A run of the checks leaves the fetcher event alone.
    let run = monitor.run(DOMAIN, day(15)).await.expect("run");
    assert!(run.events.iter().all(|e| e.code != "fetcher-stopped"));
    store
        .add_policy_fetches(&[rows(1, day(16), day(16))])
        .await
        .expect("fetches");
    let cleared = monitor.run_fetchers(DOMAIN, day(16)).await.expect("run");
    assert_eq!(seen(&cleared), [one("fetcher-stopped", "Google", CLEARED)]);
    lab.shutdown().await;
}

/// A check whose resolver does not answer learns nothing: it raises nothing and clears
/// nothing, `policy-host-unreachable` above all (DNS silence says nothing about the host).
#[tokio::test(flavor = "multi_thread")]
async fn a_check_that_learnt_nothing_clears_nothing() {
    let mut lab = Lab::start().await.expect("lab");
    let dir = TempDir::new("monitor-incomplete");
    let store = sqlite_store(&dir).await;
    let monitor = Monitor::new(checker(&lab), store.clone(), MonitorSettings::default());
    let mut clock = Clock::new();
    let original: Scenario = lab.scenario("healthy-enforce").expect("scenario").clone();
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response.status = 503;
        }
    })
    .expect("valid change");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("policy-host-unreachable", DOMAIN, RAISED)]
    );
    // A resolver that takes every query and answers none.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let deaf = Checker::from_settings(&NetSettings {
        resolver: Some(silent.local_addr().expect("address")),
        trust: Trust::only_pem(lab.ca_pem()).expect("lab CA"),
        https_port: lab.https_port(),
        smtp_port: lab.smtp_port(),
        timeout: Duration::from_millis(300),
        guard: AddressGuard::AllowAll,
        probe_smtp: true,
    })
    .expect("checker");
    let blind = Monitor::new(deaf, store.clone(), MonitorSettings::default());
    let run = blind.run(DOMAIN, clock.tick()).await.expect("run");
    assert_ne!(run.snapshot.outcome, mta_sts_check::Outcome::Complete);
    assert_eq!(run.events, []);
    let open = store.open_monitor_events(DOMAIN).await.expect("open");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].code, "policy-host-unreachable");
    // The next check that learns clears it.
    lab.update(DOMAIN, move |s| *s = original).expect("valid");
    let run = monitor.run(DOMAIN, clock.tick()).await.expect("run");
    assert_eq!(
        seen(&run.events),
        [one("policy-host-unreachable", DOMAIN, CLEARED)]
    );
    drop(silent);
    lab.shutdown().await;
}
