//! The advisor's scenarios against the lab: the live check over the lab's real DNS, HTTPS and
//! SMTP, the evidence from a real SQLite store filled with the lab's generated reports; each
//! asserted on the advice's JSON.

use std::time::Duration;

use mta_sts_check::{Checker, NetSettings};
use mta_sts_core::report::ResultType;
use mta_sts_core::time::UtcDate;
use mta_sts_core::{Clock, Timestamp};
use mta_sts_lab::{
    CertKind, DnsRecord, Lab, MxHost, Organization, PlannedFailure, RecordData, ReportPlan,
    SHARED_ADDR, Scenario, SmtpBehaviour,
};
use mta_sts_net::{AddressGuard, SystemClock, Trust};
use mta_sts_rollout::{Advisor, Assessment, Thresholds};
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::{NewReport, ReportStore, Source};
use mta_sts_store::test_support::{TempDir, TestDatabase};
use serde_json::Value;

/// A lab serving `scenario` alone, a store, and an advisor over both.
struct Setup {
    lab: Lab,
    store: ReportStore,
    advisor: Advisor,
    now: Timestamp,
    _dir: TempDir,
    _database: Option<TestDatabase>,
}

/// The catalog's scenario called `name`.
fn scenario(name: &str) -> Scenario {
    mta_sts_lab::catalog()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

/// `scenario` with one more MX host, `host`, that well-behaves with `cert`.
fn with_mx(mut scenario: Scenario, host: &str, cert: CertKind) -> Scenario {
    scenario.records.push(DnsRecord::new(
        &scenario.domain,
        RecordData::Mx {
            preference: 20,
            exchange: host.to_string(),
        },
    ));
    scenario
        .records
        .push(DnsRecord::new(host, RecordData::A(SHARED_ADDR)));
    scenario.mx_hosts.push(MxHost {
        name: host.to_string(),
        behaviour: SmtpBehaviour::Starttls(cert),
    });
    scenario
}

async fn setup(scenario: Scenario) -> Setup {
    setup_on(scenario, None).await
}

/// As [`setup`], with the store on the PostgreSQL `database` when given, else on SQLite.
async fn setup_on(scenario: Scenario, database: Option<TestDatabase>) -> Setup {
    let lab = Lab::start_with(vec![scenario], 0)
        .await
        .expect("lab starts");
    let dir = TempDir::new("rollout-lab");
    let url = match &database {
        Some(database) => database.store_url(),
        None => StoreUrl::Sqlite(dir.file("reports.db")),
    };
    let store = ReportStore::open(&url).await.expect("store opens");
    let checker = Checker::from_settings(&NetSettings {
        resolver: Some(lab.dns_addr()),
        trust: Trust::only_pem(lab.ca_pem()).expect("lab CA"),
        https_port: lab.https_port(),
        smtp_port: lab.smtp_port(),
        timeout: Duration::from_millis(1500),
        guard: AddressGuard::AllowAll,
        probe_smtp: true,
    })
    .expect("checker");
    let advisor =
        Advisor::new(checker, store.clone(), Thresholds::default()).expect("default thresholds");
    Setup {
        lab,
        store,
        advisor,
        now: SystemClock.now(),
        _dir: dir,
        _database: database,
    }
}

impl Setup {
    /// The day `back` days before today.
    fn day(&self, back: i64) -> UtcDate {
        UtcDate::from_day_number(self.now.utc_date().day_number() - back).expect("a day")
    }

    fn domain(&self) -> String {
        self.lab.scenarios()[0].domain.clone()
    }

    /// The scenario's MX host names.
    fn mx(&self) -> Vec<String> {
        self.lab.scenarios()[0]
            .mx_hosts
            .iter()
            .map(|h| h.name.clone())
            .collect()
    }

    /// A plan of reports about the scenario's domain over the last `days` days, today included.
    fn plan(&self, days: u32) -> ReportPlan {
        ReportPlan::new(&self.domain(), self.day(i64::from(days) - 1), days)
    }

    /// The policy file of `mode` over the scenario's first MX host.
    fn policy(&self, mode: &str, max_age: u32) -> String {
        format!(
            "version: STSv1\nmode: {mode}\nmx: {}\nmax_age: {max_age}\n",
            self.mx()[0]
        )
    }

    async fn store(&self, plan: &ReportPlan) {
        let reports: Vec<NewReport> = plan
            .reports()
            .into_iter()
            .map(|generated| NewReport {
                report: mta_sts_core::report::read(generated.json.as_bytes())
                    .expect("a readable report"),
                json: generated.json.into_bytes(),
                gzip: None,
                findings: Vec::new(),
                received_at: self.now,
                source: Source::File,
            })
            .collect();
        self.store.insert(reports).await.expect("stored");
    }

    async fn assess(&self) -> (Assessment, Value) {
        let assessment = self
            .advisor
            .assess(&self.domain(), self.now)
            .await
            .expect("advice");
        let json = serde_json::to_value(&assessment.advice).expect("serialises");
        (assessment, json)
    }
}

/// The codes of the failing reasons.
fn failing(json: &Value) -> Vec<String> {
    json["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter(|r| r["ok"] == false)
        .map(|r| r["code"].as_str().expect("code").to_string())
        .collect()
}

/// The messages of the reasons with `code`.
fn messages(json: &Value, code: &str) -> Vec<String> {
    json["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter(|r| r["code"] == code)
        .map(|r| r["message"].as_str().expect("message").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_testing_domain_is_ready_to_enforce() {
    let setup = setup(scenario("mode-testing")).await;
    let policy = setup.policy("testing", 604_800);
    setup
        .store(&setup.plan(14).with_policy(setup.day(30), &policy))
        .await;
    let (assessment, json) = setup.assess().await;
    assert_eq!(json["stage"], "testing");
    assert_eq!(json["ready"], true, "{json:#}");
    assert_eq!(json["domain"], setup.domain());
    let next = &json["next"];
    let enforce = setup.policy("enforce", 604_800);
    assert_eq!(next["policy"], enforce.as_str());
    assert_eq!(
        next["sts_record"],
        format!(
            "_mta-sts.{}. IN TXT \"v=STSv1; id={}\"",
            setup.domain(),
            mta_sts_core::sts_record::content_id(&enforce)
        )
    );
    // The evidence weighed: 14 days from 3 organisations.
    assert_eq!(assessment.evidence.summary.days.len(), 14);
    assert_eq!(assessment.evidence.reporters.len(), 3);
    assert!(messages(&json, "reporters")[0].starts_with("3 organisations reported"));
    // The next policy is one a sender reads, in enforce mode, covering the MX host.
    let parsed = mta_sts_core::Policy::parse(enforce.as_bytes()).expect("valid");
    assert!(parsed.matches_mx(&setup.mx()[0]));
}

#[tokio::test(flavor = "multi_thread")]
async fn too_few_days_of_reports() {
    let setup = setup(scenario("mode-testing")).await;
    let policy = setup.policy("testing", 604_800);
    setup
        .store(&setup.plan(3).with_policy(setup.day(30), &policy))
        .await;
    let (_, json) = setup.assess().await;
    assert_eq!(json["ready"], false);
    assert_eq!(failing(&json), ["report-days"]);
    let message = &messages(&json, "report-days")[0];
    assert!(
        message.contains("cover only 3 of the last 14 days")
            && message.contains("wait for 4 more days"),
        "{message}"
    );
    assert_eq!(
        json["reasons"][0]["evidence"]["days"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert!(json["next"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_reporter_only() {
    let setup = setup(scenario("mode-testing")).await;
    let policy = setup.policy("testing", 604_800);
    let mut plan = setup.plan(14).with_policy(setup.day(30), &policy);
    plan.organizations = vec![Organization::Microsoft];
    setup.store(&plan).await;
    let (_, json) = setup.assess().await;
    assert_eq!(failing(&json), ["reporters"]);
    assert!(
        messages(&json, "reporters")[0]
            .starts_with("1 organisation reported about mode-testing.test in the last 14 days: only Microsoft Corporation (14 days, last on "),
        "{json:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_in_the_window() {
    let setup = setup(scenario("mode-testing")).await;
    let policy = setup.policy("testing", 604_800);
    let mx = setup.mx()[0].clone();
    let plan = setup
        .plan(14)
        .with_policy(setup.day(30), &policy)
        .with_failure(PlannedFailure {
            result_type: ResultType::CertificateHostMismatch,
            receiving_mx: mx.clone(),
            sessions_per_day: 10,
            first_day: setup.day(6),
            last_day: setup.day(4),
            organizations: vec![Organization::Google, Organization::Microsoft],
        });
    setup.store(&plan).await;
    let (assessment, json) = setup.assess().await;
    assert_eq!(json["ready"], false);
    assert_eq!(failing(&json), ["sts-failures"]);
    let reason = &json["reasons"][0];
    let sessions = reason["evidence"]["sessions"].as_u64().expect("sessions");
    // 3 days × 2 organisations × 10 ± 20 %.
    assert!((48..=72).contains(&sessions), "{sessions}");
    // Microsoft's duplicate `tlsa` entry does not count the failures twice.
    let sts_failed = assessment
        .evidence
        .summary
        .total
        .policies
        .iter()
        .find(|p| p.policy_type == mta_sts_core::report::PolicyType::Sts)
        .map(|p| p.failed);
    assert_eq!(sts_failed, Some(sessions));
    let message = reason["message"].as_str().expect("message");
    let expected = format!(
        "{mx} failed `certificate-host-mismatch` in {sessions} sessions from 2 reporters (Google \
         Inc., Microsoft Corporation) on "
    );
    assert!(message.starts_with(&expected), "{message}");
    // The live check of the MX is clean now: the owner is told it must only wait.
    assert!(
        message.contains(&format!(
            "the live check now finds a valid certificate on {mx}"
        )),
        "{message}"
    );
    assert_eq!(reason["evidence"]["kind"], "failures");
    assert_eq!(reason["evidence"]["first_day"], setup.day(6).to_string());
    assert_eq!(reason["evidence"]["last_day"], setup.day(4).to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mx_added_that_the_policy_does_not_cover() {
    let base = scenario("mode-testing");
    let added = format!("mx2.{}", base.domain);
    let setup = setup(with_mx(base, &added, CertKind::Valid)).await;
    let policy = setup.policy("testing", 604_800);
    setup
        .store(&setup.plan(14).with_policy(setup.day(30), &policy))
        .await;
    let (_, json) = setup.assess().await;
    assert_eq!(json["ready"], false);
    assert_eq!(failing(&json), ["mx-covered"]);
    let uncovered = &json["reasons"][0];
    assert_eq!(uncovered["evidence"]["host"], added.as_str());
    assert_eq!(uncovered["evidence"]["matched"], false);
    // What to publish now: still testing, the new host listed, a new id.
    let corrected = format!(
        "version: STSv1\nmode: testing\nmx: {}\nmx: {added}\nmax_age: 604800\n",
        setup.mx()[0]
    );
    assert_eq!(json["next"]["policy"], corrected.as_str());
    assert!(
        json["next"]["sts_record"]
            .as_str()
            .expect("record")
            .contains(&mta_sts_core::sts_record::content_id(&corrected))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_expiring() {
    let mut base = scenario("mode-testing");
    base.mx_hosts[0].behaviour = SmtpBehaviour::Starttls(CertKind::ExpiresInDays(10));
    let setup = setup(base).await;
    let policy = setup.policy("testing", 604_800);
    setup
        .store(&setup.plan(14).with_policy(setup.day(30), &policy))
        .await;
    let (_, json) = setup.assess().await;
    assert_eq!(json["ready"], false);
    assert_eq!(failing(&json), ["mx-certificates"]);
    let reason = &json["reasons"][0];
    let days = reason["evidence"]["days_left"].as_i64().expect("days left");
    assert!((9..=10).contains(&days), "{days}");
    assert_eq!(
        reason["message"],
        format!(
            "the certificate of the MX host {} expires in {days} days; more than 14 days are \
             needed: renew it now, and automate renewal",
            setup.mx()[0]
        )
    );
}

/// Testing for weeks, enforcing for the last 8 days: a failure before enforcing (reported,
/// it cost nothing) and one after (refused mail).
fn testing_then_enforcing(setup: &Setup) -> ReportPlan {
    let mx = setup.mx()[0].clone();
    setup
        .plan(14)
        .with_policy(setup.day(40), &setup.policy("testing", 86_400))
        .with_policy(setup.day(7), &setup.policy("enforce", 604_800))
        .with_failure(PlannedFailure {
            result_type: ResultType::StarttlsNotSupported,
            receiving_mx: mx.clone(),
            sessions_per_day: 5,
            first_day: setup.day(12),
            last_day: setup.day(11),
            organizations: vec![Organization::Google],
        })
        .with_failure(PlannedFailure {
            result_type: ResultType::CertificateExpired,
            receiving_mx: mx,
            sessions_per_day: 20,
            first_day: setup.day(3),
            last_day: setup.day(2),
            organizations: vec![Organization::Google, Organization::Microsoft],
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn enforce_with_regressions() {
    let setup = setup(scenario("healthy-enforce")).await;
    let plan = testing_then_enforcing(&setup);
    setup.store(&plan).await;
    let (assessment, json) = setup.assess().await;
    assert_eq!(json["stage"], "enforce");
    assert_eq!(json["ready"], false);
    assert_eq!(failing(&json), ["regressions"]);
    assert_eq!(assessment.advice.regressions().count(), 1);
    let reason = &json["reasons"][0];
    assert_eq!(reason["evidence"]["result_type"], "certificate-expired");
    let sessions = reason["evidence"]["sessions"].as_u64().expect("sessions");
    let message = reason["message"].as_str().expect("message");
    assert!(
        message.contains(&format!(
            "since enforcing began on {}: enforcing senders did not deliver those {sessions} \
             messages",
            text_day(setup.day(7))
        )),
        "{message}"
    );
    assert!(json["next"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn retiring() {
    let setup = setup(scenario("mode-none")).await;
    let none = setup.policy("none", 604_800);
    let enforce = setup.policy("enforce", 604_800);
    // Senders still used the enforce policy (max_age a week) 3 days ago.
    setup
        .store(
            &setup
                .plan(30)
                .with_policy(setup.day(29), &enforce)
                .with_policy(setup.day(2), &none),
        )
        .await;
    let (assessment, json) = setup.assess().await;
    assert_eq!(json["stage"], "retiring");
    assert_eq!(json["ready"], false);
    assert_eq!(failing(&json), ["old-policy-expired"]);
    let reason = &json["reasons"][0];
    // Seen on day -3, a week's max_age: every copy gone on day +5.
    assert_eq!(reason["evidence"]["last_seen"], setup.day(3).to_string());
    assert_eq!(reason["evidence"]["expires"], setup.day(-5).to_string());
    assert!(
        reason["message"]
            .as_str()
            .expect("message")
            .contains("keep serving `mode: none` (with its new id) until then, and only then remove the `_mta-sts` record"),
        "{reason:#}"
    );
    // The evidence of a retiring domain reaches back past the window.
    assert_eq!(assessment.evidence.summary.days.len(), 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn retired_long_enough_to_remove_the_records() {
    let setup = setup(scenario("mode-none")).await;
    setup
        .store(
            &setup
                .plan(60)
                .with_policy(setup.day(59), &setup.policy("enforce", 604_800))
                .with_policy(setup.day(20), &setup.policy("none", 604_800)),
        )
        .await;
    let (_, json) = setup.assess().await;
    assert_eq!(json["stage"], "retiring");
    assert_eq!(json["ready"], true, "{json:#}");
    assert!(messages(&json, "old-policy-expired")[0].ends_with(
        "remove the `_mta-sts` record first, then the policy file and the mta-sts host"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_and_postgresql_give_the_same_advice() {
    let Some(database) = TestDatabase::create("the advisor on PostgreSQL").await else {
        return;
    };
    let on_sqlite = setup(scenario("healthy-enforce")).await;
    on_sqlite.store(&testing_then_enforcing(&on_sqlite)).await;
    let on_postgres = setup_on(scenario("healthy-enforce"), Some(database)).await;
    on_postgres
        .store(&testing_then_enforcing(&on_postgres))
        .await;
    let (sqlite, sqlite_json) = on_sqlite.assess().await;
    let (postgres, postgres_json) = on_postgres.assess().await;
    assert_eq!(sqlite.evidence, postgres.evidence);
    assert_eq!(sqlite_json, postgres_json);
    assert_eq!(postgres_json["ready"], false);
    assert_eq!(failing(&postgres_json), ["regressions"]);
}

/// `Dec 3`, as the advice words a day.
fn text_day(day: UtcDate) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let text = day.to_string();
    let month: usize = text[5..7].parse().expect("month");
    let date: u32 = text[8..10].parse().expect("day");
    format!("{} {date}", MONTHS[month - 1])
}
