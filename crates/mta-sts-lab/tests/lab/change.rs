//! `Lab::update`: a domain changed while the lab serves, seen by real clients over loopback.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use hickory_proto::rr::{RData, RecordType};
use mta_sts_lab::{
    CertKind, DnsRecord, Lab, LabError, MxHost, PolicyResponse, RecordData, ScenarioProblem,
    SmtpBehaviour,
};
use rustls::CertificateError;

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use crate::support::{
    STEP, cert_error, client_config, client_config_at, dns, fetch_policy, https_get, smtp_starttls,
    tls_connect,
};

const DOMAIN: &str = "healthy-enforce.test";
const POLICY_HOST: &str = "mta-sts.healthy-enforce.test";
const MX_HOST: &str = "mx.healthy-enforce.test";
const DAY: Duration = Duration::from_secs(86_400);

async fn policy_body(lab: &Lab) -> String {
    let response = fetch_policy(lab, POLICY_HOST).await.expect("fetch works");
    assert_eq!(response.status, 200);
    String::from_utf8(response.body).expect("utf-8")
}

async fn txt(lab: &Lab, name: &str) -> Vec<String> {
    dns(lab, name, RecordType::TXT)
        .await
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(txt.to_string()),
            _ => None,
        })
        .collect()
}

async fn mx_set(lab: &Lab) -> Vec<String> {
    let mut set: Vec<String> = dns(lab, &format!("{DOMAIN}."), RecordType::MX)
        .await
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some(mx.exchange.to_string()),
            _ => None,
        })
        .collect();
    set.sort();
    set
}

/// Whether a client whose clock runs `ahead` accepts the policy host's certificate; panics on
/// any failure but an expired certificate.
async fn policy_cert_accepted_at(lab: &Lab, ahead: Duration) -> bool {
    let config = client_config_at(lab, &[b"http/1.1"], ahead);
    let path = mta_sts_lab::POLICY_PATH;
    match https_get(
        lab,
        config,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        POLICY_HOST,
        path,
    )
    .await
    {
        Ok(response) => response.status == 200,
        Err(error) => match cert_error(&error) {
            Some(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => false,
            other => panic!("unexpected failure {other:?}: {error}"),
        },
    }
}

/// Whether a client whose clock runs `ahead` accepts the MX's certificate after STARTTLS.
async fn mx_cert_accepted_at(lab: &Lab, ahead: Duration) -> bool {
    match smtp_starttls(lab, client_config_at(lab, &[], ahead), MX_HOST).await {
        Ok(_) => true,
        Err(error) => match cert_error(&error) {
            Some(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => false,
            other => panic!("unexpected failure {other:?}: {error}"),
        },
    }
}

#[tokio::test]
async fn policy_edited_without_an_id_change() {
    let mut lab = Lab::start().await.expect("lab starts");
    let id_before = txt(&lab, &format!("_mta-sts.{DOMAIN}.")).await;
    let body_before = policy_body(&lab).await;
    assert!(body_before.contains("mode: enforce"), "{body_before}");

    let edited = body_before.replace("mode: enforce", "mode: testing");
    lab.update(DOMAIN, |s| {
        let host = s
            .policy_hosts
            .iter_mut()
            .find(|h| h.name == POLICY_HOST)
            .expect("the scenario has a policy host");
        host.response = PolicyResponse::policy(edited.clone());
    })
    .expect("the change is valid");

    assert_eq!(policy_body(&lab).await, edited);
    assert_eq!(txt(&lab, &format!("_mta-sts.{DOMAIN}.")).await, id_before);
    let scenario = lab.scenario("healthy-enforce").expect("still served");
    let served = scenario.policy_host().expect("policy host");
    assert_eq!(served.response.body, edited.as_bytes());
}

#[tokio::test]
async fn mx_added_is_in_dns_and_answers_starttls() {
    let mut lab = Lab::start().await.expect("lab starts");
    assert_eq!(mx_set(&lab).await, [format!("{MX_HOST}.")]);
    let new_mx = "mx2.healthy-enforce.test";
    // Before the change the shared SMTP listener knows no such host: the handshake is aborted.
    assert!(
        smtp_starttls(&lab, client_config(&lab, &[]), new_mx)
            .await
            .is_err()
    );

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
    .expect("the change is valid");

    assert_eq!(
        mx_set(&lab).await,
        [format!("{MX_HOST}."), format!("{new_mx}.")]
    );
    let answer = dns(&lab, &format!("{new_mx}."), RecordType::A).await;
    assert!(
        answer
            .answers
            .iter()
            .any(|r| matches!(&r.data, RData::A(a) if a.0 == Ipv4Addr::LOCALHOST))
    );
    smtp_starttls(&lab, client_config(&lab, &[]), new_mx)
        .await
        .expect("the new MX completes STARTTLS with a valid certificate");
}

#[tokio::test]
async fn certificates_near_expiry_replace_the_cached_ones() {
    let mut lab = Lab::start().await.expect("lab starts");
    // Valid for 90 days: a client four days ahead accepts both (and the lab caches them).
    assert!(policy_cert_accepted_at(&lab, 4 * DAY).await);
    assert!(mx_cert_accepted_at(&lab, 4 * DAY).await);

    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.cert = CertKind::ExpiresInDays(3);
        }
        for host in &mut s.mx_hosts {
            host.behaviour = SmtpBehaviour::Starttls(CertKind::ExpiresInDays(3));
        }
    })
    .expect("the change is valid");

    // Now they expire in three days: accepted two days ahead, expired four days ahead.
    assert!(policy_cert_accepted_at(&lab, 2 * DAY).await);
    assert!(!policy_cert_accepted_at(&lab, 4 * DAY).await);
    assert!(mx_cert_accepted_at(&lab, 2 * DAY).await);
    assert!(!mx_cert_accepted_at(&lab, 4 * DAY).await);
}

/// "Down" is a 503 from the policy host: every policy host shares one listener, which must stay
/// up for the others, and a 5xx is what a broken host behind a working front end answers.
#[tokio::test]
async fn policy_host_down_and_back() {
    let mut lab = Lab::start().await.expect("lab starts");
    let body = policy_body(&lab).await;
    let healthy = lab
        .scenario("healthy-enforce")
        .and_then(|s| s.policy_host())
        .map(|h| h.response.clone())
        .expect("policy host");

    let mut down = PolicyResponse::policy("service unavailable\n");
    down.status = 503;
    let set = |response: PolicyResponse| {
        move |s: &mut mta_sts_lab::Scenario| {
            for host in &mut s.policy_hosts {
                host.response = response.clone();
            }
        }
    };
    lab.update(DOMAIN, set(down)).expect("the change is valid");
    let response = fetch_policy(&lab, POLICY_HOST)
        .await
        .expect("TLS still works");
    assert_eq!(response.status, 503);

    lab.update(DOMAIN, set(healthy))
        .expect("the change is valid");
    assert_eq!(policy_body(&lab).await, body);
}

#[tokio::test]
async fn refused_changes_keep_the_old_state() {
    let mut lab = Lab::start().await.expect("lab starts");
    let body = policy_body(&lab).await;
    let mx = mx_set(&lab).await;

    // A record outside the domain is refused as at start, policy edit and all.
    let error = lab
        .update(DOMAIN, |s| {
            for host in &mut s.policy_hosts {
                host.response = PolicyResponse::policy("changed\n");
            }
            s.records.push(DnsRecord::new(
                "elsewhere.test",
                RecordData::A(Ipv4Addr::LOCALHOST),
            ));
        })
        .expect_err("outside the domain");
    assert!(
        matches!(
            &error,
            LabError::InvalidScenario { problem: ScenarioProblem::OutsideDomain(name), .. }
                if name == "elsewhere.test"
        ),
        "{error}"
    );

    // A CNAME beside other data at the apex (RFC 1034 §3.6.2), caught by the zone build.
    let error = lab
        .update(DOMAIN, |s| {
            s.records.push(DnsRecord::new(
                DOMAIN,
                RecordData::Cname("healthy-testing.test".to_owned()),
            ));
        })
        .expect_err("CNAME conflict");
    assert!(
        matches!(
            &error,
            LabError::InvalidScenario {
                problem: ScenarioProblem::RecordConflict(_),
                ..
            }
        ),
        "{error}"
    );

    // A host with a listener of its own cannot change while the lab runs.
    let error = lab
        .update("mx-no-starttls.test", |s| {
            for host in &mut s.mx_hosts {
                host.behaviour = SmtpBehaviour::Silent(host.behaviour.addr());
            }
        })
        .expect_err("own listener");
    assert!(
        matches!(
            &error,
            LabError::InvalidScenario {
                problem: ScenarioProblem::ListenerChange(_),
                ..
            }
        ),
        "{error}"
    );

    let error = lab.update("nowhere.test", |_| {}).expect_err("unknown");
    assert!(
        matches!(&error, LabError::UnknownDomain(d) if d == "nowhere.test"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "the lab serves no domain nowhere.test, so it cannot change it"
    );

    assert_eq!(policy_body(&lab).await, body);
    assert_eq!(mx_set(&lab).await, mx);
    let scenario = lab.scenario("healthy-enforce").expect("served");
    assert!(scenario.records.iter().all(|r| r.name != "elsewhere.test"));
}

#[tokio::test]
async fn generated_domains_can_change_too() {
    let mut lab = Lab::start_with(Vec::new(), 3).await.expect("lab starts");
    let domain = lab.generated()[1].domain.clone();
    let name = format!("_mta-sts.{domain}.");
    let before = txt(&lab, &name).await;
    assert_eq!(before.len(), 1);
    lab.update(&domain, |s| {
        for record in &mut s.records {
            if let RecordData::Txt(strings) = &mut record.data
                && strings.concat().starts_with("v=STSv1")
            {
                *strings = vec!["v=STSv1; id=changed1".to_owned()];
            }
        }
    })
    .expect("the change is valid");
    assert_eq!(txt(&lab, &name).await, ["v=STSv1; id=changed1"]);
    // The other generated domains are untouched.
    let other = format!("_mta-sts.{}.", lab.generated()[0].domain);
    assert_eq!(txt(&lab, &other).await.len(), 1);
}

/// One `GET` of the policy on an open connection that stays open (keep-alive): the status line
/// and the body, read by its `Content-Length`.
async fn keep_alive_get<S>(conn: &mut BufReader<S>) -> (String, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {POLICY_HOST}\r\n\r\n",
        mta_sts_lab::POLICY_PATH
    );
    conn.get_mut()
        .write_all(request.as_bytes())
        .await
        .expect("write");
    let mut status = String::new();
    conn.read_line(&mut status).await.expect("status line");
    let mut length = 0;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).await.expect("header line");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a length");
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await.expect("body");
    (
        status.trim_end().to_owned(),
        String::from_utf8(body).expect("utf-8"),
    )
}

#[tokio::test]
async fn an_open_connection_gets_the_new_policy() {
    let mut lab = Lab::start().await.expect("lab starts");
    let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, lab.https_port()))
        .await
        .expect("connect");
    let tls = tls_connect(client_config(&lab, &[b"http/1.1"]), POLICY_HOST, tcp)
        .await
        .expect("handshake");
    let mut conn = BufReader::new(tls);
    let (status, before) = tokio::time::timeout(STEP, keep_alive_get(&mut conn))
        .await
        .expect("first answer in time");
    assert!(status.ends_with("200 OK"), "{status}");

    let edited = before.replace("mode: enforce", "mode: none");
    assert_ne!(edited, before);
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response = PolicyResponse::policy(edited.clone());
        }
    })
    .expect("the change is valid");

    let (status, after) = tokio::time::timeout(STEP, keep_alive_get(&mut conn))
        .await
        .expect("second answer in time");
    assert!(status.ends_with("200 OK"), "{status}");
    assert_eq!(after, edited);
}
