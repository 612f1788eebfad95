//! The checker against every lab scenario: each must produce exactly the error and warning codes
//! its scenario declares, and together they must produce every code the checker knows.

use std::collections::BTreeSet;
use std::time::Duration;

use mta_sts_check::{CODES, Checker, NetSettings, Verdict};
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
        let expected: BTreeSet<&str> = scenario.expect.iter().copied().collect();
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
        report.has("policy-host-private") && report.has("mx-host-private"),
        "{:#?}",
        report.findings
    );
    produced.extend(report.problem_codes());

    // The DNS failure domain produces the two lookup-failure codes no scenario can.
    let broken = checker.check("servfail.test").await;
    assert!(
        broken.has("sts-record-lookup-failed") && broken.has("mx-lookup-failed"),
        "{:#?}",
        broken.findings
    );
    produced.extend(broken.findings.iter().map(|f| f.code));

    // Info codes describe rather than judge; the table of errors and warnings must be covered.
    let never: Vec<&str> = CODES
        .iter()
        .filter(|(_, severity)| *severity != Severity::Info)
        .map(|(c, _)| *c)
        .filter(|c| !produced.contains(c))
        .collect();
    assert!(never.is_empty(), "codes no scenario produces: {never:?}");
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
        cname.has("policy-host-cname") && cname.verdict == Verdict::Pass,
        "{:#?}",
        cname.findings
    );

    // A policy listing the real MX hosts, and a TXT record with a fresh id to announce it.
    let broken = lab.scenario("mx-not-in-policy").expect("scenario");
    let report = checker.check(&broken.domain).await;
    let policy = report.publish.policy.expect("a policy to publish");
    assert!(
        policy.contains(&format!("mx: mx.{}\n", broken.domain)),
        "{policy}"
    );
    assert!(mta_sts_core::Policy::parse(policy.as_bytes()).is_ok());
    assert!(
        report
            .publish
            .sts_record
            .is_some_and(|r| r.contains("v=STSv1; id="))
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
    assert!(snapshot.mx_hosts.is_empty() && !snapshot.has("mx-cert-hostname"));
    assert!(snapshot.sts_record.is_some() && snapshot.policy.is_some());
    let report = checker.finish(partial).await;
    assert!(report.has("mx-cert-hostname"));
    assert_eq!(
        report.problem_codes(),
        checker.check(domain).await.problem_codes()
    );

    let early = checker
        .start(&lab.scenario("policy-404").expect("scenario").domain)
        .await
        .snapshot();
    assert!(early.has("policy-http-status"));
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
        assert!(report.has("mx-dane"), "{name}: {:#?}", report.findings);
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
        .filter(|f| f.code == "mx-dane")
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
    assert!(healthy.dane.is_empty() && !healthy.has("mx-dane"));
    lab.shutdown().await;
}
