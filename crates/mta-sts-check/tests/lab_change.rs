//! The checker against a lab domain changed while the lab runs (`Lab::update`): each change a
//! monitor must notice shows in the next check's report, and undoing it gives a clean report.

use std::{net::Ipv4Addr, time::Duration};

use mta_sts_check::{CheckReport as Report, Checker, FindingCode, NetSettings, Verdict};
use mta_sts_lab::{
    CertKind, DnsRecord, Lab, MxHost, PolicyResponse, RecordData, Scenario, SmtpBehaviour,
};
use mta_sts_net::{AddressGuard, Trust};

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

fn clean(report: &Report) {
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.findings);
    assert!(report.problem_codes().is_empty(), "{:#?}", report.findings);
}

fn policy_sha256(report: &Report) -> String {
    report
        .policy
        .as_ref()
        .expect("policy fetched")
        .sha256
        .clone()
}

fn sts_id(report: &Report) -> String {
    report.sts_record.as_ref().expect("record").id.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_change_shows_in_the_next_check_and_undoing_it_clears_it() {
    let mut lab = Lab::start().await.expect("lab");
    let checker = checker(&lab);
    let original: Scenario = lab.scenario("healthy-enforce").expect("scenario").clone();
    let restore = |lab: &mut Lab| {
        let original = original.clone();
        lab.update(DOMAIN, move |s| *s = original)
            .expect("the original is valid");
    };
    let before = checker.check(DOMAIN).await;
    clean(&before);

    // Policy edited, TXT id left alone: the body's digest changes, the id does not.
    let body = original
        .policy_host()
        .expect("policy host")
        .response
        .body
        .clone();
    let edited = String::from_utf8_lossy(&body).replace("mode: enforce", "mode: testing");
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response = PolicyResponse::policy(edited.clone());
        }
    })
    .expect("valid change");
    let report = checker.check(DOMAIN).await;
    assert!(
        report.has(FindingCode::PolicyModeTesting),
        "{:#?}",
        report.findings
    );
    assert_ne!(policy_sha256(&report), policy_sha256(&before));
    assert_eq!(sts_id(&report), sts_id(&before));
    restore(&mut lab);
    clean(&checker.check(DOMAIN).await);

    // An MX added that the policy does not list.
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
    let report = checker.check(DOMAIN).await;
    assert_eq!(
        report.problem_codes().into_iter().collect::<Vec<_>>(),
        [FindingCode::MxNotInPolicy],
        "{:#?}",
        report.findings
    );
    restore(&mut lab);
    clean(&checker.check(DOMAIN).await);

    // Certificates of the policy host and the MX a week from expiry.
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.cert = CertKind::ExpiresInDays(7);
        }
        for host in &mut s.mx_hosts {
            host.behaviour = SmtpBehaviour::Starttls(CertKind::ExpiresInDays(7));
        }
    })
    .expect("valid change");
    let report = checker.check(DOMAIN).await;
    assert!(
        report.has(FindingCode::CertExpiringSoon),
        "{:#?}",
        report.findings
    );
    restore(&mut lab);
    clean(&checker.check(DOMAIN).await);

    // The policy host down (503) and back.
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response.status = 503;
        }
    })
    .expect("valid change");
    let report = checker.check(DOMAIN).await;
    assert!(
        report.has(FindingCode::PolicyHttpStatus),
        "{:#?}",
        report.findings
    );
    restore(&mut lab);
    clean(&checker.check(DOMAIN).await);

    // The `_smtp._tls` record gone.
    let tlsrpt = format!("_smtp._tls.{DOMAIN}");
    lab.update(DOMAIN, |s| s.records.retain(|r| r.name != tlsrpt))
        .expect("valid change");
    let report = checker.check(DOMAIN).await;
    assert!(
        report.has(FindingCode::TlsrptMissing),
        "{:#?}",
        report.findings
    );
    assert!(report.tlsrpt_record.is_none());
    restore(&mut lab);
    clean(&checker.check(DOMAIN).await);

    // The policy host down another way: its address now one where nothing listens (the
    // unreachable MX's), so the connection is refused; then back.
    let nowhere = lab
        .scenario("mx-unreachable")
        .and_then(|s| s.mx_hosts.first())
        .map(|h| h.behaviour.addr())
        .expect("the unreachable MX has an address of its own");
    let policy_host = original.policy_host_name();
    lab.update(DOMAIN, |s| {
        // Its ::1 address goes too: the shared listener there would still answer.
        s.records
            .retain(|r| r.name != policy_host || !matches!(r.data, RecordData::Aaaa(_)));
        for record in &mut s.records {
            if record.name == policy_host && matches!(record.data, RecordData::A(_)) {
                record.data = RecordData::A(nowhere);
            }
        }
    })
    .expect("valid change");
    let report = checker.check(DOMAIN).await;
    assert!(
        report.has(FindingCode::PolicyFetchFailed),
        "{:#?}",
        report.findings
    );
    restore(&mut lab);
    clean(&checker.check(DOMAIN).await);

    lab.shutdown().await;
}
