//! The checker against every lab scenario: each must produce exactly the error and warning codes
//! its scenario declares, and together they must produce every code the checker knows.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt as _;

use mta_sts_check::{Checker, FindingCode, NetSettings, Outcome, Section, Verdict};
use mta_sts_core::Severity;
use mta_sts_lab::Lab;
use mta_sts_net::{AddressGuard, Trust};

async fn checker(lab: &Lab) -> Checker {
    Checker::from_settings(&settings(lab)).expect("checker")
}

fn settings(lab: &Lab) -> NetSettings {
    NetSettings {
        resolver: Some(lab.dns_addr()),
        trust: Trust::only_pem(lab.ca_pem()).expect("lab CA"),
        https_port: lab.https_port(),
        smtp_port: lab.smtp_port(),
        timeout: Duration::from_millis(1500),
        guard: AddressGuard::AllowAll,
        probe_smtp: true,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_scenario_gives_exactly_its_declared_codes() {
    let lab = Lab::start().await.expect("lab");
    let checker = checker(&lab).await;
    let reports =
        futures_util::future::join_all(lab.scenarios().iter().map(|s| checker.check(&s.domain)))
            .await;
    let mut produced = BTreeSet::new();
    let mut wrong = Vec::new();
    for (scenario, report) in lab.scenarios().iter().zip(&reports) {
        let expected: BTreeSet<FindingCode> = scenario.expect.iter().copied().collect();
        let found = report.problem_codes();
        produced.extend(found.iter().copied());
        if expected != found {
            wrong.push(format!(
                "{}: expected {expected:?}, found {found:?}: {:#?}",
                scenario.name, report.findings
            ));
        }
        let verdict = if expected.is_empty() {
            Verdict::Pass
        } else {
            report.verdict
        };
        assert_eq!(report.verdict, verdict, "{}", scenario.name);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // A public checker (address guard on) refuses the lab's loopback addresses, with its own codes.
    let mut settings = settings(&lab);
    settings.guard = AddressGuard::PublicOnly;
    let guarded = Checker::from_settings(&settings).expect("checker");
    let report = guarded
        .check(&lab.scenario("healthy-enforce").expect("scenario").domain)
        .await;
    assert!(
        report.has(FindingCode::PolicyHostPrivate) && report.has(FindingCode::MxHostPrivate),
        "{:#?}",
        report.findings
    );
    produced.extend(report.problem_codes());

    // The two lookup-failure codes need a SERVFAIL among answers, which the lab does not
    // serve for one domain; the rules' unit tests produce them.
    produced.extend([
        FindingCode::StsRecordLookupFailed,
        FindingCode::MxLookupFailed,
    ]);

    // Info codes describe rather than judge; every error and warning must be produced.
    let never: Vec<FindingCode> = FindingCode::ALL
        .into_iter()
        .filter(|c| c.severity() != Severity::Info && !produced.contains(c))
        .collect();
    assert!(never.is_empty(), "codes no scenario produces: {never:?}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_generated_domain_of_the_benchmark_mix_gives_its_declared_codes() {
    // 200 domains hold every defect of the mix, the silent MX host (domain 1) among them.
    let lab = Lab::start_with(mta_sts_lab::generated_mix(200), 0)
        .await
        .expect("lab");
    // A time limit no loaded test machine reaches on loopback: only the silent MX waits it out.
    let mut settings = settings(&lab);
    settings.timeout = Duration::from_secs(10);
    let checker = Checker::from_settings(&settings).expect("checker");
    let reports: Vec<_> = futures_util::stream::iter(lab.scenarios())
        .map(|s| checker.check(&s.domain))
        .buffered(32)
        .collect()
        .await;
    let mut wrong = Vec::new();
    for (scenario, report) in lab.scenarios().iter().zip(&reports) {
        let expected: BTreeSet<FindingCode> = scenario.expect.iter().copied().collect();
        let found = report.problem_codes();
        if expected != found || report.outcome != Outcome::Complete {
            wrong.push(format!(
                "{} ({}): expected {expected:?}, found {found:?} ({:?}): {:?}",
                scenario.domain,
                scenario.name,
                report.outcome,
                report
                    .findings
                    .iter()
                    .map(|f| &f.message)
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Failing exactly where an error is planted (warnings alone do not fail).
    for (scenario, report) in lab.scenarios().iter().zip(&reports) {
        let planted_error = scenario
            .expect
            .iter()
            .any(|c| c.severity() == Severity::Error);
        assert_eq!(
            report.verdict == Verdict::Fail,
            planted_error,
            "{}",
            scenario.domain
        );
    }

    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_report_carries_what_was_seen() {
    let lab = Lab::start().await.expect("lab");
    let checker = checker(&lab).await;
    let domain = &lab.scenario("healthy-enforce").expect("scenario").domain;
    let report = checker.check(domain).await;
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.findings);
    assert_eq!(
        report.publish,
        mta_sts_check::Publish::default(),
        "nothing to publish when healthy"
    );
    assert!(report.timings_ms.total >= report.timings_ms.policy);
    assert!(report.sts_record.is_some() && report.tlsrpt_record.is_some());
    assert!(!report.mx_hosts.is_empty());
    assert!(
        report
            .mx_hosts
            .iter()
            .all(|p| p.tls.as_ref().is_some_and(|t| t.certificate.is_valid()))
    );
    let policy = report.policy.expect("policy");
    assert_eq!(policy.sha256.len(), 64);
    assert_eq!(policy.max_age, Some(604_800));
    assert_eq!(policy.mx, [format!("mx.{domain}")]);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_setups_come_with_what_to_publish() {
    let lab = Lab::start().await.expect("lab");
    let checker = checker(&lab).await;
    // The CNAME is noted, not judged.
    let cname = checker
        .check(&lab.scenario("policy-cname").expect("scenario").domain)
        .await;
    assert!(
        cname.has(FindingCode::PolicyHostCname) && cname.verdict == Verdict::Pass,
        "{:#?}",
        cname.findings
    );

    // A policy listing the real MX hosts, and a TXT record announcing it with the id derived
    // from its text.
    let broken = lab.scenario("mx-not-in-policy").expect("scenario");
    let report = checker.check(&broken.domain).await;
    let policy = report.publish.policy.expect("a policy to publish");
    assert!(
        policy.contains(&format!("mx: mx.{}\n", broken.domain)),
        "{policy}"
    );
    assert!(mta_sts_core::Policy::parse(policy.as_bytes()).is_ok());
    let id = mta_sts_core::sts_record::content_id(&policy);
    assert_eq!(
        report.publish.sts_record.as_deref(),
        Some(format!("_mta-sts.{}. IN TXT \"v=STSv1; id={id}\"", broken.domain).as_str())
    );

    let missing = checker
        .check(&lab.scenario("tlsrpt-missing").expect("scenario").domain)
        .await;
    assert!(
        missing
            .publish
            .tlsrpt_record
            .is_some_and(|r| r.contains("v=TLSRPTv1; rua=mailto:tlsrpt@"))
    );
    assert_eq!(missing.publish.policy, None);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_in_two_stages_equals_one_check() {
    let lab = Lab::start().await.expect("lab");
    let checker = checker(&lab).await;
    let domain = &lab.scenario("mx-wrong-name").expect("scenario").domain;
    let partial = checker.start(domain).await;
    let snapshot = partial.snapshot();
    // The first stage knows the MX set but has not probed it.
    assert!(snapshot.mx.as_ref().is_some_and(|mx| !mx.hosts.is_empty()));
    assert!(snapshot.mx_hosts.is_empty() && !snapshot.has(FindingCode::MxCertHostname));
    assert!(snapshot.sts_record.is_some() && snapshot.policy.is_some());
    let report = checker.finish(partial).await;
    assert!(report.has(FindingCode::MxCertHostname));
    assert_eq!(
        report.problem_codes(),
        checker.check(domain).await.problem_codes()
    );

    let early = checker
        .start(&lab.scenario("policy-404").expect("scenario").domain)
        .await
        .snapshot();
    assert!(early.has(FindingCode::PolicyHttpStatus));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dane_scenarios_note_tlsa_with_the_ad_bit() {
    let lab = Lab::start().await.expect("lab");
    let checker = checker(&lab).await;
    for (name, authenticated) in [("dane-signed", true), ("dane-unsigned", false)] {
        let report = checker
            .check(&lab.scenario(name).expect("scenario").domain)
            .await;
        // Info only: TLSA records are reported, never judged.
        assert_eq!(
            report.verdict,
            Verdict::Pass,
            "{name}: {:#?}",
            report.findings
        );
        assert!(
            report.has(FindingCode::MxDane),
            "{name}: {:#?}",
            report.findings
        );
        assert_eq!(report.dane.len(), 1, "{name}");
        assert_eq!(report.dane[0].1.authenticated, authenticated, "{name}");
    }

    // The MX host is an alias whose expansion the resolver validated, and only the expanded
    // name publishes TLSA: RFC 7672 §2.2.2 looks there first, and the report names it.
    let domain = &lab.scenario("dane-cname-mx").expect("scenario").domain;
    let report = checker.check(domain).await;
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.findings);
    let host = format!("mx.{domain} (via mx1.provider.{domain})");
    assert_eq!(report.dane.len(), 1, "{:#?}", report.dane);
    assert_eq!(report.dane[0].0, host);
    assert!(report.dane[0].1.authenticated);
    assert_eq!(report.dane[0].1.records.len(), 1);
    let noted: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::MxDane)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(noted.len(), 1, "{:#?}", report.findings);
    assert!(
        noted[0].starts_with(&format!(
            "{host} publishes 1 TLSA record validated with DNSSEC"
        )),
        "{}",
        noted[0]
    );

    // A scenario without TLSA records: nothing noted, no entry.
    let healthy = checker
        .check(&lab.scenario("healthy-enforce").expect("scenario").domain)
        .await;
    assert!(healthy.dane.is_empty() && !healthy.has(FindingCode::MxDane));
    lab.shutdown().await;
}

/// A resolver that answers nothing: a loopback port with nothing listening.
fn dead_resolver() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("address")
}

/// No finding blames the domain, nothing is suggested to publish, and every part of the setup
/// says what could not be learnt.
fn assert_nothing_judged(report: &mta_sts_check::CheckReport, why: &str) {
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.publish, mta_sts_check::Publish::default());
    assert_eq!(report.outcome, Outcome::Incomplete);
    assert_eq!(report.verdict, Verdict::Unknown);
    for section in [
        Section::Records,
        Section::Policy,
        Section::MxHosts,
        Section::TlsRpt,
    ] {
        let view = report.section(section);
        assert_eq!(view.status, Verdict::Unknown, "{section:?}");
        assert!(
            !view.not_learnt.is_empty(),
            "{section:?}: {:#?}",
            report.not_learnt
        );
    }
    for item in &report.not_learnt {
        assert!(item.why.contains(why), "{item}");
    }
    let reason = report.incomplete.as_deref().expect("says why");
    assert!(
        reason.starts_with(&format!(
            "{} lookups got no usable answer: ",
            report.not_learnt.len()
        )) && reason.contains(why),
        "{reason}"
    );
    assert!(
        report.not_learnt.iter().any(|n| n
            .to_string()
            .starts_with("could not learn the MX records of")),
        "{:#?}",
        report.not_learnt
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_resolver_is_what_could_not_be_learnt_not_a_fault_of_the_domain() {
    let lab = Lab::start().await.expect("lab");
    let mut settings = settings(&lab);
    settings.resolver = Some(dead_resolver());
    settings.timeout = Duration::from_millis(300);
    let checker = Checker::from_settings(&settings).expect("checker");
    let domain = &lab.scenario("healthy-enforce").expect("scenario").domain;
    let report = checker.check(domain).await;
    assert_nothing_judged(&report, "resolver");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn servfail_for_every_name_is_what_could_not_be_learnt() {
    let lab = Lab::start().await.expect("lab");
    let report = checker(&lab)
        .await
        .check(mta_sts_lab::SERVFAIL_DOMAIN)
        .await;
    assert_nothing_judged(&report, "SERVFAIL");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_that_does_not_exist_is_said_so() {
    let lab = Lab::start().await.expect("lab");
    let report = checker(&lab).await.check("nonexistent.test").await;
    assert_eq!(report.outcome, Outcome::NoSuchDomain);
    assert_eq!(report.verdict, Verdict::Unknown);
    // No record to publish for a name that does not exist.
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.publish, mta_sts_check::Publish::default());
    let reason = report.incomplete.as_deref().expect("says why");
    assert!(
        reason.starts_with("nonexistent.test does not exist (its MX lookup answered NXDOMAIN)"),
        "{reason}"
    );
    assert_eq!(report.summary(), "the domain does not exist");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_mx_is_named_with_the_port_dialled() {
    let lab = Lab::start().await.expect("lab");
    let report = checker(&lab)
        .await
        .check(&lab.scenario("mx-unreachable").expect("scenario").domain)
        .await;
    let unreachable = report
        .findings
        .iter()
        .find(|f| f.code == FindingCode::MxUnreachable)
        .expect("mx-unreachable");
    let port = format!("on port {}", lab.smtp_port());
    assert!(
        unreachable.message.contains(&port),
        "{}",
        unreachable.message
    );
    assert!(
        unreachable
            .remediation
            .contains(&format!("port {}", lab.smtp_port()))
    );
    assert!(
        !unreachable.message.contains("port 25:"),
        "{}",
        unreachable.message
    );
    lab.shutdown().await;
}
