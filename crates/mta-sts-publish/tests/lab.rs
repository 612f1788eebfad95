//! The publisher over real DNS: the lab's name server on loopback, its catalog scenarios (one MX,
//! two MX, a null MX) and scenarios of this file (a provider's MX hosts, no MX at all).

use std::net::Ipv4Addr;
use std::time::Duration;

use mta_sts_core::sts_record::content_id;
use mta_sts_core::{Mode, Policy, Timestamp, policy_lint};
use mta_sts_lab::{DnsRecord, Lab, RecordData, Scenario, catalog};
use mta_sts_net::{Dns, DnsConfig, FetchConfig, Trust};
use mta_sts_publish::{
    MxChangeOptions, PatternReason, PublishError, PublishOptions, Publisher, StepKind,
};

/// A lab domain with only DNS records.
fn dns_only(name: &'static str, records: Vec<DnsRecord>) -> Scenario {
    Scenario {
        name,
        domain: format!("{name}.test"),
        story: "publish test domain",
        expect: &[],
        records,
        policy_hosts: Vec::new(),
        mx_hosts: Vec::new(),
        signed: false,
    }
}

fn mx(domain: &str, preference: u16, exchange: &str) -> DnsRecord {
    DnsRecord::new(
        domain,
        RecordData::Mx {
            preference,
            exchange: exchange.to_string(),
        },
    )
}

/// The catalog plus this file's scenarios.
async fn lab() -> Lab {
    let mut scenarios = catalog();
    scenarios.push(dns_only(
        "publish-microsoft",
        vec![mx(
            "publish-microsoft.test",
            0,
            "publish-microsoft-test.mail.protection.outlook.com",
        )],
    ));
    scenarios.push(dns_only(
        "publish-google",
        vec![
            mx("publish-google.test", 1, "aspmx.l.google.com"),
            mx("publish-google.test", 5, "alt1.aspmx.l.google.com"),
            mx("publish-google.test", 5, "alt2.aspmx.l.google.com"),
            mx("publish-google.test", 10, "alt3.aspmx.l.google.com"),
            mx("publish-google.test", 10, "alt4.aspmx.l.google.com"),
        ],
    ));
    scenarios.push(dns_only(
        "publish-no-mx",
        vec![DnsRecord::new(
            "publish-no-mx.test",
            RecordData::A(Ipv4Addr::LOCALHOST),
        )],
    ));
    Lab::start_with(scenarios, 0).await.expect("lab starts")
}

fn publisher(lab: &Lab) -> Publisher {
    let dns = Dns::new(&DnsConfig {
        upstream: Some(lab.dns_addr()),
        timeout: Duration::from_secs(2),
        attempts: 1,
    })
    .expect("dns");
    Publisher::new(dns)
}

#[tokio::test]
async fn a_single_mx_is_named_in_a_valid_policy_with_its_content_id() {
    let lab = lab().await;
    let options = PublishOptions {
        mode: Mode::Enforce,
        rua: vec!["mailto:tlsrpt@healthy-enforce.test".to_string()],
        ..PublishOptions::default()
    };
    let out = publisher(&lab)
        .publish("Healthy-Enforce.test.", &options)
        .await
        .expect("published");
    assert_eq!(out.domain, "healthy-enforce.test");
    assert_eq!(
        out.policy,
        "version: STSv1\nmode: enforce\nmx: mx.healthy-enforce.test\nmax_age: 604800\n"
    );
    assert_eq!(out.id, content_id(&out.policy));
    assert_eq!(out.sts_record, format!("v=STSv1; id={}", out.id));
    // The lab serves the same policy for this domain: publishing it is a no-op but for the id.
    let served = lab
        .scenario("healthy-enforce")
        .and_then(|s| s.policy_host())
        .map(|h| h.response.body.clone())
        .expect("served policy");
    let served = Policy::parse(&served).expect("valid");
    assert_eq!(Policy::parse(out.policy.as_bytes()).expect("valid"), served);
    assert_eq!(
        out.tlsrpt_record.as_deref(),
        Some("v=TLSRPTv1; rua=mailto:tlsrpt@healthy-enforce.test")
    );
    assert!(
        policy_lint::lint(out.policy.as_bytes())
            .diagnostics
            .is_empty(),
        "{:?}",
        out.notes
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn several_mx_hosts_each_get_a_line_or_one_wildcard_when_asked() {
    let lab = lab().await;
    let publisher = publisher(&lab);
    let out = publisher
        .publish("mx-wildcard.test", &PublishOptions::default())
        .await
        .expect("published");
    assert_eq!(
        out.policy,
        "version: STSv1\nmode: testing\nmx: mx1.mx-wildcard.test\nmx: mx2.mx-wildcard.test\nmax_age: 604800\n"
    );
    assert_eq!(out.mx.len(), 2);
    let wildcard = PublishOptions {
        wildcard: true,
        ..PublishOptions::default()
    };
    let collapsed = publisher
        .publish("mx-wildcard.test", &wildcard)
        .await
        .expect("published");
    assert_eq!(
        collapsed.policy,
        "version: STSv1\nmode: testing\nmx: *.mx-wildcard.test\nmax_age: 604800\n"
    );
    assert_ne!(collapsed.id, out.id);
    // Asking again gives the same id: nothing changed.
    let again = publisher
        .publish("mx-wildcard.test", &wildcard)
        .await
        .expect("published");
    assert_eq!(again.id, collapsed.id);
    lab.shutdown().await;
}

#[tokio::test]
async fn provider_hosts_become_the_providers_wildcard() {
    let lab = lab().await;
    let publisher = publisher(&lab);
    let microsoft = publisher
        .publish("publish-microsoft.test", &PublishOptions::default())
        .await
        .expect("published");
    assert_eq!(
        microsoft.policy,
        "version: STSv1\nmode: testing\nmx: *.mail.protection.outlook.com\nmax_age: 604800\n"
    );
    assert_eq!(
        microsoft.patterns[0].reason,
        PatternReason::Provider {
            provider: "Microsoft 365"
        }
    );
    let google = publisher
        .publish("publish-google.test", &PublishOptions::default())
        .await
        .expect("published");
    // RFC 8461 §4.1: the wildcard does not cover aspmx.l.google.com itself.
    assert_eq!(
        google.policy,
        "version: STSv1\nmode: testing\nmx: *.aspmx.l.google.com\nmx: aspmx.l.google.com\nmax_age: 604800\n"
    );
    let policy = Policy::parse(google.policy.as_bytes()).expect("valid");
    for host in &google.mx {
        assert!(policy.matches_mx(&host.host), "{}", host.host);
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn null_mx_no_mx_and_no_domain_are_refused_with_a_reason() {
    let lab = lab().await;
    let publisher = publisher(&lab);
    let options = PublishOptions::default();
    let null = publisher
        .publish("null-mx.test", &options)
        .await
        .expect_err("null MX refused");
    assert!(matches!(null, PublishError::NullMx { .. }), "{null}");
    let none = publisher
        .publish("publish-no-mx.test", &options)
        .await
        .expect_err("no MX refused");
    assert!(matches!(none, PublishError::NoMx { .. }), "{none}");
    let missing = publisher
        .publish("no-such-domain.test", &options)
        .await
        .expect_err("no domain refused");
    assert!(matches!(missing, PublishError::NoMx { .. }), "{missing}");
    let failing = publisher
        .publish("servfail.test", &options)
        .await
        .expect_err("SERVFAIL");
    assert!(
        matches!(failing, PublishError::MxLookup { .. }),
        "{failing}"
    );
    let invalid = publisher
        .publish("not a domain", &options)
        .await
        .expect_err("bad name");
    assert!(
        matches!(invalid, PublishError::InvalidDomain { .. }),
        "{invalid}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn an_mx_change_is_planned_from_the_policy_served_now() {
    let lab = lab().await;
    let trust = Trust::only_pem(lab.ca_pem()).expect("lab CA");
    let mut fetch = FetchConfig::new(trust);
    fetch.port = lab.https_port();
    let now = Timestamp::parse("2026-12-07T08:00:00Z").expect("valid");
    let plan = publisher(&lab)
        .plan_mx_change(
            "healthy-enforce.test",
            &["mx.new-provider.test".to_string()],
            &MxChangeOptions::default(),
            &fetch,
            now,
        )
        .await
        .expect("planned");
    assert_eq!(plan.mode, Mode::Enforce);
    assert_eq!(plan.old_patterns, ["mx.healthy-enforce.test"]);
    let kinds: Vec<StepKind> = plan.steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StepKind::PublishTransition,
            StepKind::WaitOldMaxAge,
            StepKind::SwitchMx,
            StepKind::PublishFinal
        ]
    );
    let served = Policy::parse(
        &lab.scenario("healthy-enforce")
            .and_then(|s| s.policy_host())
            .map(|h| h.response.body.clone())
            .expect("served"),
    )
    .expect("valid");
    let switch = now.saturating_add(Duration::from_secs(u64::from(served.max_age)));
    assert_eq!(plan.steps[2].earliest, switch);
    // A domain whose policy cannot be fetched cannot be planned.
    let err = publisher(&lab)
        .plan_mx_change(
            "policy-404.test",
            &["mx.new-provider.test".to_string()],
            &MxChangeOptions::default(),
            &fetch,
            now,
        )
        .await
        .expect_err("no policy");
    assert!(matches!(err, PublishError::PolicyFetch { .. }), "{err}");
    lab.shutdown().await;
}

/// `mta-sts serve` runs publications on spawned tasks: the publisher and its futures must be
/// `Send`, and one publisher shared by every domain.
#[tokio::test]
async fn publications_run_on_spawned_tasks_with_one_shared_publisher() {
    let lab = lab().await;
    let publisher = std::sync::Arc::new(publisher(&lab));
    let tasks: Vec<_> = ["healthy-enforce.test", "mx-wildcard.test", "null-mx.test"]
        .into_iter()
        .map(|domain| {
            let publisher = std::sync::Arc::clone(&publisher);
            tokio::spawn(async move {
                publisher
                    .publish(domain, &PublishOptions::default())
                    .await
                    .map(|p| p.domain)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task ran"));
    }
    assert_eq!(results[0].as_deref().ok(), Some("healthy-enforce.test"));
    assert_eq!(results[1].as_deref().ok(), Some("mx-wildcard.test"));
    assert!(matches!(results[2], Err(PublishError::NullMx { .. })));
    lab.shutdown().await;
}
