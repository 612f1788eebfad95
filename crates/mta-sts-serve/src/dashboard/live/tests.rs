use std::net::SocketAddr;

use mta_sts_core::time::ManualClock;
use mta_sts_rollout::Stage;
use mta_sts_store::reports::ReportStore;
use mta_sts_store::test_support::TempDir;

use super::*;
use crate::config::ServeConfig;

/// Live checks over an empty SQLite store, asking a DNS resolver that is not there (a UDP
/// socket bound here and never read, so each lookup ends at its time limit of a second).
async fn checks(dir: &TempDir, clock: Arc<ManualClock>) -> (Arc<LiveChecks>, std::net::UdpSocket) {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let resolver: SocketAddr = silent.local_addr().expect("address");
    let url = format!("sqlite:{}", dir.file("reports.db").display())
        .parse()
        .expect("url");
    let store = ReportStore::open(&url).await.expect("store");
    let mut config = ServeConfig::default();
    config.check.resolver = Some(resolver);
    config.check.timeout = Duration::from_secs(1);
    let advisor = config.advisor(store).expect("advisor");
    (
        Arc::new(LiveChecks::new(advisor, Duration::from_secs(600), clock)),
        silent,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn one_check_runs_at_a_time_and_its_result_is_kept_until_it_is_old() {
    let dir = TempDir::new("live-checks");
    let clock = Arc::new(ManualClock::new(
        Timestamp::parse("2026-12-07T05:00:00Z").expect("time"),
    ));
    let (live, _silent) = checks(&dir, clock.clone()).await;

    assert!(live.current("example.com").last.is_none());
    let mut first = live.refresh("example.com").expect("a check starts");
    assert!(live.current("example.com").checking);
    // Asked again while it runs: the same check is waited on, no second one starts.
    let mut second = live.refresh("example.com").expect("the running check");
    first.wait_for(|done| *done).await.expect("done");
    second.wait_for(|done| *done).await.expect("done");

    let now = live.current("example.com");
    assert!(!now.checking);
    let last = now.last.expect("a result");
    assert_eq!(last.at, clock.now());
    match &last.outcome {
        Outcome::Assessed(assessment) => {
            // Nothing was learnt and nothing is stored: no MTA-STS to speak of, not ready.
            assert_eq!(assessment.advice.domain, "example.com");
            assert_eq!(assessment.advice.stage, Stage::None);
            assert!(!assessment.check.not_learnt.is_empty());
        }
        Outcome::Failed(sentence) => panic!("the advisor failed: {sentence}"),
    }

    // Fresh for check_cache_seconds: no new check.
    clock.advance(Duration::from_secs(599));
    assert!(live.refresh("example.com").is_none());
    // Then old: a new one starts, and the old result is shown meanwhile.
    clock.advance(Duration::from_secs(1));
    let mut third = live.refresh("example.com").expect("a new check");
    let meanwhile = live.current("example.com");
    assert!(meanwhile.checking && meanwhile.last.is_some());
    third.wait_for(|done| *done).await.expect("done");
    assert_eq!(
        live.current("example.com").last.expect("result").at,
        clock.now()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_waits_only_so_long() {
    let dir = TempDir::new("live-wait");
    let clock = Arc::new(ManualClock::new(
        Timestamp::parse("2026-12-07T05:00:00Z").expect("time"),
    ));
    let (live, _silent) = checks(&dir, clock).await;
    // The check needs its DNS time limits (seconds); the page gives it no time at all.
    let shown = live
        .get_all(&["example.com".to_string()], Duration::ZERO)
        .await;
    assert_eq!(shown.len(), 1);
    assert!(shown[0].checking && shown[0].last.is_none());
}
