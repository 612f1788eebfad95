//! Starting, stopping, scale and refusal of bad scenarios.

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use hickory_proto::rr::RecordType;
use mta_sts_lab::{Lab, LabError, ScenarioProblem, SmtpBehaviour, catalog};

use crate::support::{client_config, dns, fetch_policy, renamed, smtp_starttls};

#[tokio::test]
async fn start_and_shutdown_twice() {
    for _ in 0..2 {
        let started = Instant::now();
        let lab = Lab::start().await.expect("lab starts");
        let elapsed = started.elapsed();
        eprintln!("default catalog started in {elapsed:?}");
        assert!(elapsed < Duration::from_secs(1), "slow start: {elapsed:?}");
        let ca_file = lab.ca_file().to_owned();
        assert_eq!(
            std::fs::read_to_string(&ca_file).expect("CA file exists"),
            lab.ca_pem()
        );
        let dns_addr = lab.dns_addr();
        lab.shutdown().await;
        assert!(!ca_file.exists(), "CA file removed on shutdown");
        // The DNS port is free again.
        std::net::UdpSocket::bind(dns_addr).expect("DNS port released");
    }
}

#[tokio::test]
async fn drop_stops_servers_and_removes_the_ca_file() {
    let lab = Lab::start().await.expect("lab starts");
    let ca_file = lab.ca_file().to_owned();
    let smtp = (Ipv4Addr::LOCALHOST, lab.smtp_port());
    drop(lab);
    assert!(!ca_file.exists());
    // Aborted tasks release their listeners once the runtime has run the cancellations.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(smtp).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "SMTP listener still accepting after drop");
}

#[tokio::test]
async fn two_labs_side_by_side() {
    let a = Lab::start().await.expect("first lab");
    let b = Lab::start().await.expect("second lab");
    assert_ne!(a.smtp_port(), b.smtp_port());
    assert_ne!(a.ca_pem(), b.ca_pem());
    assert_ne!(a.ca_file(), b.ca_file());
    for lab in [&a, &b] {
        let answer = dns(lab, "healthy-enforce.test.", RecordType::MX).await;
        assert_eq!(answer.answers.len(), 1);
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn two_thousand_generated_domains() {
    let started = Instant::now();
    let lab = Lab::start_with(catalog(), 2000).await.expect("lab starts");
    let elapsed = started.elapsed();
    eprintln!("catalog + 2000 generated domains started in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "slow start: {elapsed:?}");
    assert_eq!(lab.generated().len(), 2000);
    assert_eq!(lab.generated()[0].domain, "gen-00001.test");
    assert_eq!(lab.generated()[1999].domain, "gen-02000.test");

    let answer = dns(&lab, "_mta-sts.gen-01234.test.", RecordType::TXT).await;
    assert_eq!(answer.answers.len(), 1);
    let answer = dns(&lab, "gen-02000.test.", RecordType::MX).await;
    assert_eq!(answer.answers.len(), 1);
    let policy = fetch_policy(&lab, "mta-sts.gen-01234.test")
        .await
        .expect("policy fetch works");
    assert_eq!(policy.status, 200);
    assert!(
        String::from_utf8_lossy(&policy.body).contains("mx: mx.gen-01234.test\n"),
        "{policy:?}"
    );
    smtp_starttls(&lab, client_config(&lab, &[]), "mx.gen-01234.test")
        .await
        .expect("STARTTLS works");
    lab.shutdown().await;
}

#[tokio::test]
async fn hosts_that_never_say_their_name_share_an_address_and_others_do_not() {
    let silent = |name: &'static str, domain: &str, behaviour: SmtpBehaviour| {
        let mut s = renamed("mx-silent", name, domain);
        s.mx_hosts[0].behaviour = behaviour;
        s
    };
    let addr = Ipv4Addr::new(127, 0, 0, 240);
    let lab = Lab::start_with(
        vec![
            silent("one", "one.test", SmtpBehaviour::Silent(addr)),
            silent("two", "two.test", SmtpBehaviour::Silent(addr)),
        ],
        0,
    )
    .await
    .expect("two silent hosts share one listener");
    lab.shutdown().await;
    for other in [SmtpBehaviour::Drop(addr), SmtpBehaviour::NoStarttls(addr)] {
        let clash = Lab::start_with(
            vec![
                silent("one", "one.test", SmtpBehaviour::Silent(addr)),
                silent("two", "two.test", other),
            ],
            0,
        )
        .await;
        assert!(matches!(
            scenario_error(clash),
            ScenarioProblem::AddressConflict(a) if a == addr
        ));
    }
    let names = Lab::start_with(
        vec![
            silent("one", "one.test", SmtpBehaviour::NoStarttls(addr)),
            silent("two", "two.test", SmtpBehaviour::NoStarttls(addr)),
        ],
        0,
    )
    .await;
    assert!(matches!(
        scenario_error(names),
        ScenarioProblem::AddressConflict(_)
    ));
}

fn scenario_error(result: Result<Lab, LabError>) -> ScenarioProblem {
    match result {
        Err(LabError::InvalidScenario { problem, .. }) => problem,
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("invalid scenarios accepted"),
    }
}

#[tokio::test]
async fn invalid_scenarios_are_refused() {
    let healthy = || {
        catalog()
            .into_iter()
            .find(|s| s.name == "healthy-enforce")
            .expect("exists")
    };

    let twice = Lab::start_with(vec![healthy(), healthy()], 0).await;
    assert!(matches!(
        scenario_error(twice),
        ScenarioProblem::DuplicateDomain(_)
    ));

    let gen_clash = renamed("healthy-enforce", "clash", "gen-00001.test");
    let clash = Lab::start_with(vec![gen_clash], 1).await;
    assert!(matches!(
        scenario_error(clash),
        ScenarioProblem::DuplicateDomain(_)
    ));

    let mut reserved = healthy();
    reserved.domain = "servfail.test".to_owned();
    let reserved = Lab::start_with(vec![reserved], 0).await;
    assert!(matches!(
        scenario_error(reserved),
        ScenarioProblem::ReservedDomain(_)
    ));

    let mut outside = healthy();
    outside.domain = "example.com".to_owned();
    assert!(matches!(
        scenario_error(Lab::start_with(vec![outside], 0).await),
        ScenarioProblem::OutsideDomain(_)
    ));

    let mut shared = catalog()
        .into_iter()
        .find(|s| s.name == "mx-silent")
        .expect("exists");
    shared.mx_hosts[0].behaviour = SmtpBehaviour::Silent(Ipv4Addr::new(127, 0, 0, 2));
    assert!(matches!(
        scenario_error(Lab::start_with(vec![shared], 0).await),
        ScenarioProblem::AddressConflict(_)
    ));
}
