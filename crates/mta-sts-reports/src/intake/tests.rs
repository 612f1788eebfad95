use mta_sts_core::time::ManualClock;
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::ListQuery;
use mta_sts_store::test_support::{TempDir, TestDatabase};
use prometheus_client::encoding::text::encode;

use super::*;

const MAIL_RU: &[u8] = include_bytes!("../../tests/fixtures/mail.ru.json");
const MAIL_RU_GZ: &[u8] = include_bytes!("../../tests/fixtures/mail.ru.json.gz");
const GOOGLE: &[u8] = include_bytes!("../../tests/fixtures/google-mox.eml");

async fn intake(url: &StoreUrl, domains: &[&str], registry: &mut Registry) -> Intake {
    let store = ReportStore::open(url).await.expect("the store opens");
    let filter = DomainFilter::from_names(domains.iter().copied()).expect("valid domains");
    let clock = ManualClock::new(Timestamp::parse("2026-12-07T00:00:00Z").expect("valid"));
    Intake::new(store, filter, registry).with_clock(Arc::new(clock))
}

/// The same checks on either backend.
async fn takes_each_report_once(url: StoreUrl) {
    let mut registry = Registry::default();
    let intake = intake(&url, &[], &mut registry).await;
    let first = intake
        .take_report(MAIL_RU, Source::File)
        .await
        .expect("stored");
    assert_eq!(first.name(), "imported");
    // The same report gzip-compressed, by another path, is the same report.
    let again = intake
        .take_report(MAIL_RU_GZ, Source::Https)
        .await
        .expect("stored");
    assert_eq!(again.name(), "duplicate");
    let mail = intake
        .take_message(GOOGLE, Source::Mail)
        .await
        .expect("stored");
    assert_eq!(
        mail.iter().map(Outcome::name).collect::<Vec<_>>(),
        ["imported"]
    );
    let listed = intake
        .store()
        .list(&ListQuery::default())
        .await
        .expect("listed");
    assert_eq!(listed.len(), 2);

    let mut text = String::new();
    encode(&mut text, &registry).expect("encodes");
    assert!(
        text.contains(
            r#"mta_sts_reports_taken_total{organization="Mail.ru",outcome="imported"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"mta_sts_reports_taken_total{organization="Mail.ru",outcome="duplicate"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"mta_sts_report_sessions_total{policy_domain="example.com",result="sts-policy-fetch-error"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn takes_each_report_once_on_sqlite() {
    let dir = TempDir::new("intake-once");
    takes_each_report_once(StoreUrl::Sqlite(dir.file("reports.db"))).await;
}

#[tokio::test]
async fn takes_each_report_once_on_postgres() {
    let Some(database) = TestDatabase::create("takes_each_report_once_on_postgres").await else {
        return;
    };
    takes_each_report_once(database.store_url()).await;
}

#[tokio::test]
async fn a_batch_keeps_order_and_outcomes() {
    let dir = TempDir::new("intake-batch");
    let mut registry = Registry::default();
    let intake = intake(
        &StoreUrl::Sqlite(dir.file("r.db")),
        &["example.com"],
        &mut registry,
    )
    .await;
    let batch = vec![
        (intake.examine_report(b"not json"), Source::File),
        (intake.examine_report(MAIL_RU), Source::File),
        (
            intake.examine_report(include_bytes!("../../tests/fixtures/rfc8460.json")),
            Source::File,
        ),
        (intake.examine_report(MAIL_RU_GZ), Source::File),
    ];
    let outcomes = intake.take(batch).await.expect("stored");
    let names: Vec<&str> = outcomes.iter().map(Outcome::name).collect();
    assert_eq!(
        names,
        ["not-a-report", "imported", "refused-domain", "duplicate"]
    );
    let mut text = String::new();
    encode(&mut text, &registry).expect("encodes");
    assert!(
        text.contains(r#"organization="Company-X",outcome="refused-domain"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"organization="",outcome="not-a-report"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_store_that_is_down_is_unavailable_and_keeps_nothing() {
    // A loopback port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url: StoreUrl = format!("postgres://nobody:secret@127.0.0.1:{port}/reports")
        .parse()
        .expect("a valid URL");
    let error = ReportStore::open(&url).await.expect_err("nothing listens");
    assert!(IntakeError::from_store(error).is_unavailable());
}

#[tokio::test]
async fn a_new_domain_list_applies_to_every_clone_and_keeps_the_metrics() {
    let dir = TempDir::new("intake-domains");
    let mut registry = Registry::default();
    let intake = intake(
        &StoreUrl::Sqlite(dir.file("reports.db")),
        &["example.org"],
        &mut registry,
    )
    .await;
    // A clone made before the change, as a server's request handlers hold.
    let clone = intake.clone();
    let refused = clone
        .take_report(MAIL_RU, Source::Https)
        .await
        .expect("judged");
    assert_eq!(refused.name(), "refused-domain");

    intake.set_domains(DomainFilter::from_names(["example.com"]).expect("valid domains"));
    assert!(clone.domains().accepts("example.com"));
    assert!(!clone.domains().accepts("example.org"));
    let taken = clone
        .take_report(MAIL_RU, Source::Https)
        .await
        .expect("stored");
    assert_eq!(taken.name(), "imported");

    // One set of metrics across the change: both outcomes are counted in the same registry.
    let mut text = String::new();
    encode(&mut text, &registry).expect("encodes");
    for outcome in ["refused-domain", "imported"] {
        assert!(
            text.contains(&format!(
                r#"mta_sts_reports_taken_total{{organization="Mail.ru",outcome="{outcome}"}} 1"#
            )),
            "{text}"
        );
    }
}
