//! The network layer against the lab's real servers on loopback: every failure class of DNS, the
//! policy fetch and the SMTP probe, each produced by a lab scenario.

use std::time::Duration;

use mta_sts_lab::{DnsRecord, Lab, RecordData, Scenario};
use mta_sts_net::dane::{DaneStatus, mx_host_tlsa};
use mta_sts_net::policy_fetch::{FetchError, Phase, fetch_policy};
use mta_sts_net::smtp_probe::{MxProbe, ProbeError, Step, probe_mx};
use mta_sts_net::{AddressGuard, Dns, DnsConfig, DnsError, FetchConfig, ProbeConfig, Trust};

struct Env {
    lab: Lab,
    dns: Dns,
    fetch: FetchConfig,
    probe: ProbeConfig,
}

async fn env() -> Env {
    let lab = Lab::start().await.expect("lab starts");
    let dns = Dns::new(&DnsConfig {
        upstream: Some(lab.dns_addr()),
        timeout: Duration::from_millis(700),
        attempts: 1,
    })
    .expect("dns client");
    let trust = Trust::only_pem(lab.ca_pem()).expect("lab CA");
    let mut fetch = FetchConfig::new(trust.clone());
    fetch.port = lab.https_port();
    // The lab's slow host answers after 3 s.
    fetch.timeout = Duration::from_millis(1500);
    let mut probe = ProbeConfig::new(trust);
    probe.port = lab.smtp_port();
    probe.step_timeout = Duration::from_millis(1000);
    Env {
        lab,
        dns,
        fetch,
        probe,
    }
}

impl Env {
    fn domain(&self, scenario: &str) -> String {
        self.lab
            .scenario(scenario)
            .unwrap_or_else(|| panic!("no scenario {scenario}"))
            .domain
            .clone()
    }

    async fn fetch(&self, scenario: &str) -> Result<mta_sts_net::PolicyFetch, FetchError> {
        fetch_policy(&self.domain(scenario), &self.dns, &self.fetch).await
    }

    /// Probes the scenario's first (lowest-preference) MX host.
    async fn probe(&self, scenario: &str) -> MxProbe {
        let mx = self.dns.mx(&self.domain(scenario)).await.expect("MX set");
        let (_, host) = mx.hosts.first().expect("an MX host");
        probe_mx(host, &self.dns, &self.probe).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_answers_and_failure_classes() {
    let env = env().await;
    let healthy = env.domain("healthy-enforce");
    let txt = env
        .dns
        .txt(&format!("_mta-sts.{healthy}"))
        .await
        .expect("TXT");
    assert_eq!(txt.len(), 1);
    // A record split into two strings comes back as two strings (RFC 8461 §3.1 joins them).
    let split = env
        .dns
        .txt(&format!("_mta-sts.{}", env.domain("sts-split")))
        .await
        .expect("TXT");
    assert_eq!(split.len(), 1);
    assert_eq!(split[0].len(), 2);
    assert_eq!(
        env.dns
            .txt(&format!("_mta-sts.{}", env.domain("sts-multiple")))
            .await
            .expect("TXT")
            .len(),
        2
    );

    assert_eq!(
        env.dns.txt("no-such-name.test").await,
        Err(DnsError::NxDomain)
    );
    // The domain exists (it has MX records) but no TXT at its apex.
    assert_eq!(env.dns.txt(&healthy).await, Err(DnsError::NoData));
    assert_eq!(env.dns.txt("servfail.test").await, Err(DnsError::ServFail));
    assert_eq!(
        env.dns.txt("a.dns-timeout.test").await,
        Err(DnsError::Timeout)
    );

    let null = env.dns.mx(&env.domain("null-mx")).await.expect("MX");
    assert!(null.null_mx);
    assert!(null.hosts.is_empty());
    let mx = env.dns.mx(&env.domain("mx-wildcard")).await.expect("MX");
    assert_eq!(mx.hosts.len(), 2);
    assert!(mx.hosts[0].0 < mx.hosts[1].0, "sorted by preference");

    let cname = env
        .dns
        .addresses(&format!("mta-sts.{}", env.domain("policy-cname")))
        .await
        .expect("addresses");
    assert_eq!(cname.cname_chain.len(), 1);
    assert!(!cname.ips.is_empty());
    let dual = env
        .dns
        .addresses(&format!("mta-sts.{healthy}"))
        .await
        .expect("addresses");
    assert!(
        dual.ips.iter().any(|ip| ip.is_ipv4()) && dual.ips.iter().any(|ip| ip.is_ipv6()),
        "{dual:?}"
    );
    // The healthy scenario publishes no TLSA record: NXDOMAIN, never "authenticated".
    assert_eq!(
        env.dns.tlsa(&format!("_25._tcp.mx.{healthy}")).await,
        Err(DnsError::NxDomain)
    );
    env.lab.shutdown().await;
}

/// The AD bit of MX and TLSA answers: set for the lab's signed zone (its DNS server plays a
/// validating resolver), clear elsewhere; failures keep their classes.
#[tokio::test(flavor = "multi_thread")]
async fn mx_and_tlsa_lookups_report_dnssec_validation() {
    let env = env().await;
    let signed = env.domain("dane-signed");
    let (mx, authenticated) = env.dns.mx_authenticated(&signed).await.expect("MX");
    assert!(authenticated, "the signed zone's MX RRset is validated");
    assert_eq!(mx.hosts, [(10, format!("mx.{signed}"))]);
    // The same set as the plain lookup: one parser for both.
    assert_eq!(env.dns.mx(&signed).await.as_ref(), Ok(&mx));
    let tlsa = env
        .dns
        .tlsa(&format!("_25._tcp.mx.{signed}"))
        .await
        .expect("TLSA");
    assert!(tlsa.authenticated);
    let hex: String = env
        .lab
        .leaf_spki_sha256()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(tlsa.records.len(), 1);
    assert!(
        tlsa.records[0].eq_ignore_ascii_case(&format!("3 1 1 {hex}")),
        "{:?}",
        tlsa.records
    );

    let unsigned = env.domain("dane-unsigned");
    let (mx, authenticated) = env.dns.mx_authenticated(&unsigned).await.expect("MX");
    assert!(!authenticated, "an unsigned zone");
    assert_eq!(mx.hosts.len(), 1);
    let tlsa = env
        .dns
        .tlsa(&format!("_25._tcp.mx.{unsigned}"))
        .await
        .expect("TLSA");
    assert!(!tlsa.authenticated && tlsa.records.len() == 1);

    let healthy = env.domain("healthy-enforce");
    assert!(matches!(
        env.dns.mx_authenticated(&healthy).await,
        Ok((_, false))
    ));
    // A null MX parses the same (RFC 7505), and is no MX host to look TLSA up for.
    let (null, _) = env
        .dns
        .mx_authenticated(&env.domain("null-mx"))
        .await
        .expect("null MX");
    assert!(null.null_mx && null.hosts.is_empty());
    // The name exists without MX records: NODATA, as from Dns::mx.
    assert_eq!(
        env.dns
            .mx_authenticated(&format!("_mta-sts.{healthy}"))
            .await,
        Err(DnsError::NoData)
    );
    assert_eq!(
        env.dns.mx_authenticated("no-such-name.test").await,
        Err(DnsError::NxDomain)
    );
    assert_eq!(
        env.dns.mx_authenticated("servfail.test").await,
        Err(DnsError::ServFail)
    );
    assert_eq!(
        env.dns.mx_authenticated("a.dns-timeout.test").await,
        Err(DnsError::Timeout)
    );
    assert!(matches!(
        env.dns.mx_authenticated("bad..name").await,
        Err(DnsError::BadName(_))
    ));
    assert_eq!(
        env.dns.tlsa("_25._tcp.mx.servfail.test").await,
        Err(DnsError::ServFail)
    );
    env.lab.shutdown().await;
}

/// The CNAME chain of a host name as the resolver followed it, with its AD bit: what RFC 7672
/// §2.2.2 needs to choose the TLSA base domain of an MX host that is an alias.
#[tokio::test(flavor = "multi_thread")]
async fn cname_expansions_report_dnssec_validation() {
    let env = env().await;
    // dane-cname-mx: a signed alias to a host in a signed zone, a secure expansion.
    let domain = env.domain("dane-cname-mx");
    let secure = env
        .dns
        .cname_target_authenticated(&format!("MX.{domain}."))
        .await
        .expect("lookup")
        .expect("an alias");
    let target = format!("mx1.provider.{domain}");
    assert_eq!(secure.target, target);
    assert_eq!(secure.chain, std::slice::from_ref(&target));
    assert!(secure.authenticated, "both names are signed");
    // The same chain as the resolver's own address lookup sees.
    let addresses = env
        .dns
        .addresses(&format!("mx.{domain}"))
        .await
        .expect("addresses");
    assert_eq!(addresses.cname_chain, secure.chain);

    // An alias in an unsigned zone: expanded, not validated.
    let policy = env.domain("policy-cname");
    let insecure = env
        .dns
        .cname_target_authenticated(&format!("mta-sts.{policy}"))
        .await
        .expect("lookup")
        .expect("an alias");
    assert_eq!(insecure.target, format!("web.{policy}"));
    assert!(!insecure.authenticated);

    // Not aliases: the expanded name itself, a signed host, a dual-stack host, and a name that
    // exists without address records (NODATA).
    let healthy = env.domain("healthy-enforce");
    for host in [
        target,
        format!("mx.{}", env.domain("dane-signed")),
        format!("mx.{healthy}"),
        format!("_mta-sts.{healthy}"),
    ] {
        assert_eq!(
            env.dns.cname_target_authenticated(&host).await,
            Ok(None),
            "{host}"
        );
    }
    // Failures keep their classes.
    assert_eq!(
        env.dns
            .cname_target_authenticated("no-such-name.test")
            .await,
        Err(DnsError::NxDomain)
    );
    assert_eq!(
        env.dns.cname_target_authenticated("mx.servfail.test").await,
        Err(DnsError::ServFail)
    );
    assert_eq!(
        env.dns
            .cname_target_authenticated("mx.dns-timeout.test")
            .await,
        Err(DnsError::Timeout)
    );
    assert!(matches!(
        env.dns.cname_target_authenticated("bad..name").await,
        Err(DnsError::BadName(_))
    ));
    env.lab.shutdown().await;
}

/// The TLSA records of an MX host where RFC 7672 §2.2.2 looks for them: at the validated CNAME
/// expansion first, then at the host name; the status is what a DANE sender makes of them.
#[tokio::test(flavor = "multi_thread")]
async fn mx_host_tlsa_follows_secure_expansions() {
    let env = env().await;
    // dane-cname-mx: only the expanded name of the (signed) alias publishes TLSA.
    let domain = env.domain("dane-cname-mx");
    let host = format!("mx.{domain}");
    let target = format!("mx1.provider.{domain}");
    let found = mx_host_tlsa(&env.dns, &host).await;
    assert_eq!(found.via.as_deref(), Some(target.as_str()), "{found:?}");
    let tlsa = found.answer.as_ref().expect("TLSA at the expanded name");
    assert!(tlsa.authenticated && tlsa.records.len() == 1, "{tlsa:?}");
    assert_eq!(found.expansion_failure, None);
    assert_eq!(found.status(), DaneStatus::Applies);
    assert_eq!(found.label(&host), format!("{host} (via {target})"));
    // The records are the expanded name's: the host name itself has none.
    assert_eq!(
        env.dns.tlsa(&format!("_25._tcp.{host}")).await,
        Err(DnsError::NxDomain)
    );

    // Not aliases: the host name's own records, validated or not.
    for (scenario, status) in [
        ("dane-signed", DaneStatus::Applies),
        ("dane-unsigned", DaneStatus::DoesNotApply),
    ] {
        let host = format!("mx.{}", env.domain(scenario));
        let found = mx_host_tlsa(&env.dns, &host).await;
        assert_eq!(found.via, None, "{scenario}");
        let tlsa = found.answer.as_ref().expect("TLSA at the host name");
        assert_eq!(tlsa.records.len(), 1, "{scenario}");
        assert_eq!(
            tlsa.authenticated,
            status == DaneStatus::Applies,
            "{scenario}"
        );
        assert_eq!(found.status(), status, "{scenario}");
        assert_eq!(found.label(&host), host);
    }

    // No TLSA records anywhere: a negative answer at the host name, DANE does not apply.
    let healthy = format!("mx.{}", env.domain("healthy-enforce"));
    let none = mx_host_tlsa(&env.dns, &healthy).await;
    assert_eq!(none.via, None);
    assert_eq!(none.answer, Err(DnsError::NxDomain));
    assert_eq!(none.status(), DaneStatus::DoesNotApply);

    // Failed lookups are not "no TLSA" (RFC 7672 §2.1.1): the answer is unknown.
    for (host, error) in [
        ("mx.servfail.test", DnsError::ServFail),
        ("mx.dns-timeout.test", DnsError::Timeout),
    ] {
        let failed = mx_host_tlsa(&env.dns, host).await;
        assert_eq!(failed.via, None, "{host}");
        assert_eq!(failed.expansion_failure.as_ref(), Some(&error), "{host}");
        assert_eq!(failed.status(), DaneStatus::Unknown(error), "{host}");
    }
    env.lab.shutdown().await;
}

/// A chain that leaves the signed domains is not validated, though its first link is: the
/// resolver sets AD only when every RRset of the answer validated (RFC 4035 §3.2.3).
#[tokio::test(flavor = "multi_thread")]
async fn a_chain_into_an_unsigned_zone_is_not_validated() {
    let mut scenarios = mta_sts_lab::catalog();
    scenarios.push(Scenario {
        name: "alias-out",
        domain: "alias-out.test".to_owned(),
        story: "a signed alias to a host in an unsigned zone",
        expect: &[],
        records: vec![DnsRecord::new(
            "mx.alias-out.test",
            RecordData::Cname("mx.dane-unsigned.test".to_owned()),
        )],
        policy_hosts: Vec::new(),
        mx_hosts: Vec::new(),
        signed: true,
    });
    let lab = Lab::start_with(scenarios, 0).await.expect("lab starts");
    let dns = Dns::new(&DnsConfig {
        upstream: Some(lab.dns_addr()),
        timeout: Duration::from_millis(700),
        attempts: 1,
    })
    .expect("dns client");
    let expansion = dns
        .cname_target_authenticated("mx.alias-out.test")
        .await
        .expect("lookup")
        .expect("an alias");
    assert_eq!(expansion.target, "mx.dane-unsigned.test");
    assert!(!expansion.authenticated);
    // An insecure expansion is no TLSA base domain (RFC 7672 §2.2.2): the target's TLSA records
    // are not looked up, only the host name's, which has none.
    let found = mx_host_tlsa(&dns, "mx.alias-out.test").await;
    assert_eq!(found.via, None, "{found:?}");
    assert!(
        found.answer.as_ref().is_err_and(DnsError::is_negative),
        "{found:?}"
    );
    assert_eq!(found.status(), DaneStatus::DoesNotApply);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_fetch_succeeds_for_healthy_hosts() {
    let env = env().await;
    let fetch = env.fetch("healthy-enforce").await.expect("healthy policy");
    assert!(fetch.certificate.is_valid(), "{:?}", fetch.certificate);
    assert!(fetch.content_type.starts_with("text/plain"));
    assert!(mta_sts_core::Policy::parse(&fetch.body).is_ok());
    assert!(
        fetch.tls_version.starts_with("TLSv1."),
        "{}",
        fetch.tls_version
    );
    let via_cname = env
        .fetch("policy-cname")
        .await
        .expect("policy behind a CNAME");
    assert_eq!(via_cname.cname_chain.len(), 1);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_fetch_classifies_every_failure() {
    let env = env().await;
    assert!(matches!(
        env.fetch("policy-404").await,
        Err(FetchError::HttpStatus { status: 404 })
    ));
    match env.fetch("policy-redirect").await {
        Err(FetchError::Redirect {
            status: 301,
            location: Some(location),
        }) => assert!(location.starts_with("https://www.")),
        other => panic!("expected a redirect, got {other:?}"),
    }
    match env.fetch("policy-html").await {
        Err(FetchError::MediaType {
            content_type: Some(ct),
            body,
        }) => {
            assert!(ct.starts_with("text/html"));
            assert!(body.starts_with(b"<"));
        }
        other => panic!("expected a media type error, got {other:?}"),
    }
    assert!(matches!(
        env.fetch("policy-self-signed").await,
        Err(FetchError::CertUntrusted { .. })
    ));
    match env.fetch("policy-wrong-name").await {
        Err(FetchError::CertNameMismatch { verdict, .. }) => {
            assert!(verdict.trusted && !verdict.name_matches)
        }
        other => panic!("expected a name mismatch, got {other:?}"),
    }
    match env.fetch("policy-expired").await {
        Err(FetchError::CertExpired { verdict }) => assert!(verdict.trusted && verdict.expired),
        other => panic!("expected an expired certificate, got {other:?}"),
    }
    assert!(matches!(
        env.fetch("policy-http-only").await,
        Err(FetchError::Connect { .. })
    ));
    assert!(matches!(
        env.fetch("policy-slow").await,
        Err(FetchError::Timeout {
            phase: Phase::Response | Phase::Body
        })
    ));
    assert!(matches!(
        env.fetch("policy-too-large").await,
        Err(FetchError::TooLarge { limit: 65536 })
    ));
    assert!(matches!(
        env.fetch("policy-host-missing").await,
        Err(FetchError::Dns {
            error: DnsError::NxDomain
        })
    ));
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_fetch_handshake_failure_and_guard() {
    let env = env().await;
    // An SMTP server where HTTPS is expected: the TLS handshake fails before any certificate.
    let mut smtp_as_https = env.fetch.clone();
    smtp_as_https.port = env.lab.smtp_port();
    let result = fetch_policy(&env.domain("healthy-enforce"), &env.dns, &smtp_as_https).await;
    assert!(
        matches!(result, Err(FetchError::TlsHandshake { .. })),
        "{result:?}"
    );
    // A public checker refuses the lab's loopback addresses, judged on the address dialled.
    let mut guarded = env.fetch.clone();
    guarded.guard = AddressGuard::PublicOnly;
    let result = fetch_policy(&env.domain("healthy-enforce"), &env.dns, &guarded).await;
    assert!(
        matches!(result, Err(FetchError::Blocked { .. })),
        "{result:?}"
    );
    // With the Web PKI roots only, the lab CA is unknown.
    let mut web_pki = env.fetch.clone();
    web_pki.trust = Trust::web_pki();
    assert!(matches!(
        fetch_policy(&env.domain("healthy-enforce"), &env.dns, &web_pki).await,
        Err(FetchError::CertUntrusted { .. })
    ));
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_probe_reports_healthy_sessions_in_full() {
    let env = env().await;
    let probe = env.probe("healthy-enforce").await;
    assert_eq!(probe.error, None, "{:?}", probe.transcript);
    assert!(probe.starttls_offered);
    let tls = probe.tls.expect("TLS session");
    assert!(tls.certificate.is_valid(), "{:?}", tls.certificate);
    assert!(tls.version.starts_with("TLSv1."));
    assert!(tls.certificate.days_left.is_some_and(|d| d > 14));
    assert!(probe.banner.is_some_and(|b| b.contains("ESMTP")));
    assert!(
        probe
            .transcript
            .iter()
            .any(|l| l.text.starts_with("STARTTLS"))
    );
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_probe_classifies_every_failure() {
    let env = env().await;
    let no_tls = env.probe("mx-no-starttls").await;
    assert!(!no_tls.starttls_offered && no_tls.error.is_none() && no_tls.tls.is_none());

    let wrong = env.probe("mx-wrong-name").await.tls.expect("TLS");
    assert!(wrong.certificate.trusted && !wrong.certificate.name_matches);
    let expired = env.probe("mx-expired").await.tls.expect("TLS");
    assert!(expired.certificate.trusted && expired.certificate.expired);
    let self_signed = env.probe("mx-self-signed").await.tls.expect("TLS");
    assert!(!self_signed.certificate.trusted);
    let expiring = env.probe("mx-expiring").await.tls.expect("TLS");
    assert!(
        expiring
            .certificate
            .days_left
            .is_some_and(|d| (0..14).contains(&d)),
        "{:?}",
        expiring.certificate.days_left
    );

    assert!(matches!(
        env.probe("mx-greeting-421").await.error,
        Some(ProbeError::Refused {
            step: Step::Greeting,
            code: 421,
            ..
        })
    ));
    assert!(matches!(
        env.probe("mx-silent").await.error,
        Some(ProbeError::Timeout {
            step: Step::Greeting
        })
    ));
    assert!(matches!(
        env.probe("mx-drop").await.error,
        Some(ProbeError::Closed {
            step: Step::Greeting
        })
    ));
    assert!(matches!(
        env.probe("mx-unreachable").await.error,
        Some(ProbeError::Connect { .. })
    ));
    assert!(matches!(
        env.probe("mx-no-address").await.error,
        Some(ProbeError::Dns { .. })
    ));
    assert!(matches!(
        env.probe("mx-starttls-refused").await.error,
        Some(ProbeError::Refused {
            step: Step::StartTls,
            code: 454,
            ..
        })
    ));
    assert!(matches!(
        env.probe("mx-tls-garbage").await.error,
        Some(ProbeError::Tls { .. })
    ));

    let mut guarded = env.probe.clone();
    guarded.guard = AddressGuard::PublicOnly;
    let mx = env
        .dns
        .mx(&env.domain("healthy-enforce"))
        .await
        .expect("MX");
    let blocked = probe_mx(&mx.hosts[0].1, &env.dns, &guarded).await;
    assert!(
        matches!(blocked.error, Some(ProbeError::Blocked { .. })),
        "{:?}",
        blocked.error
    );
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn extra_roots_come_from_a_pem_file() {
    let lab = Lab::start().await.expect("lab");
    let web_pki = Trust::web_pki().root_count();
    let with_lab = Trust::web_pki_and_pem_file(lab.ca_file()).expect("the lab's CA file");
    assert_eq!(with_lab.root_count(), web_pki + 1);

    let missing = Trust::web_pki_and_pem_file(std::path::Path::new("/nonexistent/ca.pem"));
    assert!(missing.is_err_and(|e| e.to_string().contains("cannot read CA file")));
    let not_pem = std::env::temp_dir().join(format!("mta-sts-not-pem-{}", std::process::id()));
    std::fs::write(&not_pem, "this is not a certificate\n").expect("write");
    let refused = Trust::web_pki_and_pem_file(&not_pem);
    let _ = std::fs::remove_file(&not_pem);
    assert!(refused.is_err_and(|e| e.to_string().contains("no certificate found")));
    lab.shutdown().await;
}
