//! The SMTP servers: the shared STARTTLS listener and every misbehaving address.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use mta_sts_lab::{Lab, SmtpBehaviour};
use rustls::CertificateError;
use tokio::{io::AsyncReadExt, net::TcpStream};

use crate::support::{
    Smtp, cert_error, client_config, client_config_at, smtp_connect, smtp_starttls, tls_connect,
};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The own address of scenario `name`'s first MX host.
fn mx_addr(lab: &Lab, name: &str) -> IpAddr {
    let scenario = lab.scenario(name).expect("scenario exists");
    IpAddr::V4(scenario.mx_hosts[0].behaviour.addr())
}

#[tokio::test]
async fn shared_listener_speaks_esmtp_and_starttls() {
    let lab = Lab::start().await.expect("lab starts");
    let mut smtp = smtp_connect(&lab, LOCAL).await.expect("connect");
    let (code, greeting) = smtp.reply().await.expect("greeting");
    assert_eq!(code, 220);
    assert!(greeting[0].ends_with("ESMTP mta-sts-lab"), "{greeting:?}");
    let (code, ehlo) = smtp.command("EHLO probe.test").await.expect("EHLO");
    assert_eq!(code, 250);
    for extension in ["PIPELINING", "8BITMIME", "STARTTLS"] {
        assert!(
            ehlo.iter().any(|l| l == extension),
            "{extension} in {ehlo:?}"
        );
    }
    assert_eq!(smtp.command("NOOP").await.expect("NOOP").0, 250);
    assert_eq!(smtp.command("RSET").await.expect("RSET").0, 250);
    assert_eq!(
        smtp.command("MAIL FROM:<a@b.test>").await.expect("MAIL").0,
        502
    );
    let (code, _) = smtp.command("STARTTLS").await.expect("STARTTLS");
    assert_eq!(code, 220);

    let config = client_config(&lab, &[]);
    let tls = tls_connect(config, "mx.healthy-enforce.test", smtp.conn.into_inner())
        .await
        .expect("certificate verifies against the lab CA");
    let mut smtp = Smtp::new(tls);
    let (code, ehlo) = smtp.command("EHLO probe.test").await.expect("EHLO in TLS");
    assert_eq!(code, 250);
    assert!(ehlo[0].starts_with("mx.healthy-enforce.test"), "{ehlo:?}");
    assert!(!ehlo.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    assert_eq!(smtp.command("QUIT").await.expect("QUIT").0, 221);
}

#[tokio::test]
async fn every_healthy_mx_verifies() {
    let lab = Lab::start().await.expect("lab starts");
    let config = client_config(&lab, &[]);
    for scenario in lab.scenarios().iter().filter(|s| s.expect.is_empty()) {
        for host in &scenario.mx_hosts {
            let mut smtp = smtp_starttls(&lab, config.clone(), &host.name)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", host.name));
            assert_eq!(smtp.command("QUIT").await.expect("QUIT").0, 221);
        }
    }
}

#[tokio::test]
async fn bad_mx_certificates_fail_verification() {
    let lab = Lab::start().await.expect("lab starts");
    let config = client_config(&lab, &[]);
    for (host, expected) in [
        ("mx.mx-self-signed.test", "UnknownIssuer"),
        ("mx.mx-wrong-name.test", "NotValidForName"),
        ("mx.mx-expired.test", "Expired"),
    ] {
        let Err(error) = smtp_starttls(&lab, config.clone(), host).await else {
            panic!("{host}: handshake succeeded");
        };
        let kind = match cert_error(&error) {
            Some(CertificateError::UnknownIssuer) => "UnknownIssuer",
            Some(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => "NotValidForName",
            Some(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => "Expired",
            other => panic!("{host}: unexpected {other:?} ({error})"),
        };
        assert_eq!(kind, expected, "{host}");
    }
}

#[tokio::test]
async fn expiring_certificate_is_valid_for_five_days() {
    let lab = Lab::start().await.expect("lab starts");
    let host = "mx.mx-expiring.test";
    let day = Duration::from_secs(86_400);
    smtp_starttls(&lab, client_config(&lab, &[]), host)
        .await
        .expect("valid today");
    smtp_starttls(&lab, client_config_at(&lab, &[], 4 * day), host)
        .await
        .expect("valid in 4 days");
    let error = smtp_starttls(&lab, client_config_at(&lab, &[], 6 * day), host)
        .await
        .err()
        .expect("expired in 6 days");
    assert!(
        matches!(
            cert_error(&error),
            Some(CertificateError::Expired | CertificateError::ExpiredContext { .. })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn without_sni_the_shared_name_is_presented() {
    let lab = Lab::start().await.expect("lab starts");
    // SNI "mx.lab.test" stands in for "no SNI": rustls clients always send one for names.
    smtp_starttls(&lab, client_config(&lab, &[]), "mx.lab.test")
        .await
        .expect("the shared listener's own certificate verifies");
}

#[tokio::test]
async fn no_starttls_host() {
    let lab = Lab::start().await.expect("lab starts");
    let mut smtp = smtp_connect(&lab, mx_addr(&lab, "mx-no-starttls"))
        .await
        .expect("connect");
    let (code, greeting) = smtp.reply().await.expect("greeting");
    assert_eq!(code, 220);
    assert_eq!(greeting[0], "mx.mx-no-starttls.test ESMTP mta-sts-lab");
    let (code, ehlo) = smtp.command("EHLO probe.test").await.expect("EHLO");
    assert_eq!(code, 250);
    assert!(!ehlo.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    assert_eq!(smtp.command("STARTTLS").await.expect("STARTTLS").0, 502);
    assert_eq!(smtp.command("QUIT").await.expect("QUIT").0, 221);
}

#[tokio::test]
async fn starttls_refused_host_answers_454() {
    let lab = Lab::start().await.expect("lab starts");
    let mut smtp = smtp_connect(&lab, mx_addr(&lab, "mx-starttls-refused"))
        .await
        .expect("connect");
    assert_eq!(smtp.reply().await.expect("greeting").0, 220);
    let (_, ehlo) = smtp.command("EHLO probe.test").await.expect("EHLO");
    assert!(ehlo.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    assert_eq!(smtp.command("STARTTLS").await.expect("STARTTLS").0, 454);
}

#[tokio::test]
async fn tls_garbage_host_breaks_the_handshake() {
    let lab = Lab::start().await.expect("lab starts");
    let mut smtp = smtp_connect(&lab, mx_addr(&lab, "mx-tls-garbage"))
        .await
        .expect("connect");
    assert_eq!(smtp.reply().await.expect("greeting").0, 220);
    smtp.command("EHLO probe.test").await.expect("EHLO");
    assert_eq!(smtp.command("STARTTLS").await.expect("STARTTLS").0, 220);
    let result = tls_connect(
        client_config(&lab, &[]),
        "mx.mx-tls-garbage.test",
        smtp.conn.into_inner(),
    )
    .await;
    assert!(result.is_err(), "handshake must fail");
}

#[tokio::test]
async fn greeting_421_then_close() {
    let lab = Lab::start().await.expect("lab starts");
    let mut smtp = smtp_connect(&lab, mx_addr(&lab, "mx-greeting-421"))
        .await
        .expect("connect");
    let (code, text) = smtp.reply().await.expect("greeting");
    assert_eq!(code, 421);
    assert_eq!(text, ["4.3.2 Service not available"]);
    let eof = smtp.reply().await.expect_err("closed");
    assert_eq!(eof.kind(), io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn silent_host_never_speaks() {
    let lab = Lab::start().await.expect("lab starts");
    let mut tcp = TcpStream::connect(SocketAddr::new(mx_addr(&lab, "mx-silent"), lab.smtp_port()))
        .await
        .expect("connection accepted");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_millis(500), tcp.read(&mut buf)).await;
    assert!(read.is_err(), "silent host said something: {read:?}");
}

#[tokio::test]
async fn dropping_host_closes_at_once() {
    let lab = Lab::start().await.expect("lab starts");
    let mut tcp = TcpStream::connect(SocketAddr::new(mx_addr(&lab, "mx-drop"), lab.smtp_port()))
        .await
        .expect("connection accepted");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf))
        .await
        .expect("closed quickly");
    // EOF, or a reset if the close raced our read.
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn unreachable_host_refuses_connections() {
    let lab = Lab::start().await.expect("lab starts");
    let addr = mx_addr(&lab, "mx-unreachable");
    let error = TcpStream::connect(SocketAddr::new(addr, lab.smtp_port()))
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn every_misbehaving_host_has_its_own_address() {
    let lab = Lab::start().await.expect("lab starts");
    for scenario in lab.scenarios() {
        for host in &scenario.mx_hosts {
            let addr = host.behaviour.addr();
            match host.behaviour {
                SmtpBehaviour::Starttls(_) => assert_eq!(addr, Ipv4Addr::LOCALHOST),
                _ => assert!(addr.octets()[3] >= 3, "{}: {addr}", host.name),
            }
        }
    }
}

#[tokio::test]
async fn ipv6_smtp_listener() {
    let lab = Lab::start().await.expect("lab starts");
    if !lab.ipv6() {
        return;
    }
    let mut smtp = smtp_connect(&lab, IpAddr::V6(Ipv6Addr::LOCALHOST))
        .await
        .expect("connect over ::1");
    assert_eq!(smtp.reply().await.expect("greeting").0, 220);
}

/// One DER TLV at the start of `der`: (tag, the whole TLV, what follows it).
fn der_tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = der[0];
    let (len, header) = match der[1] {
        short if short < 0x80 => (usize::from(short), 2),
        long => {
            let n = usize::from(long & 0x7f);
            let len = der[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + n)
        }
    };
    (tag, &der[..header + len], &der[header + len..])
}

/// The contents of a constructed TLV (what follows its header).
fn der_contents(tlv: &[u8]) -> &[u8] {
    let header = if tlv[1] < 0x80 {
        2
    } else {
        2 + usize::from(tlv[1] & 0x7f)
    };
    &tlv[header..]
}

/// The SubjectPublicKeyInfo TLV of an X.509 certificate (RFC 5280 §4.1): the seventh field of
/// tbsCertificate, after the optional [0] version.
fn spki_of(certificate: &[u8]) -> Vec<u8> {
    let (_, cert, _) = der_tlv(certificate);
    let (_, tbs, _) = der_tlv(der_contents(cert));
    let mut rest = der_contents(tbs);
    if rest[0] == 0xa0 {
        rest = der_tlv(rest).2;
    }
    // serialNumber, signature, issuer, validity, subject
    for _ in 0..5 {
        rest = der_tlv(rest).2;
    }
    let (tag, spki, _) = der_tlv(rest);
    assert_eq!(tag, 0x30, "SubjectPublicKeyInfo is a SEQUENCE");
    spki.to_vec()
}

/// The `3 1 1` TLSA record of the signed DANE scenario names the key its MX really presents: a
/// DANE client (RFC 7672 §3.1.1, DANE-EE) would authenticate the lab MX with it.
#[tokio::test]
async fn the_dane_mx_certificate_matches_its_tlsa_record() {
    let lab = Lab::start().await.expect("lab starts");
    let host = format!(
        "mx.{}",
        lab.scenario("dane-signed").expect("scenario").domain
    );
    let smtp = smtp_starttls(&lab, client_config(&lab, &[]), &host)
        .await
        .expect("STARTTLS");
    let (_, session) = smtp.conn.get_ref().get_ref();
    let chain = session.peer_certificates().expect("a certificate");
    let spki = spki_of(chain[0].as_ref());
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .expect("a TLS 1.3 suite");
    let digest = suite.common.hash_provider.hash(&spki);
    assert_eq!(digest.as_ref(), lab.leaf_spki_sha256());
    lab.shutdown().await;
}
