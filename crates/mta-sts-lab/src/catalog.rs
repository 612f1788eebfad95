//! The scenario catalog: one healthy baseline and one planted defect per scenario.
//!
//! Every scenario starts from [`Plan::healthy`] (STSv1 TXT, an enforce policy over valid HTTPS,
//! one MX with valid STARTTLS, a TLS-RPT record) and changes only what its story is about, so the
//! findings a checker reports can be pinned down exactly in [`Scenario::expect`].

use std::{
    fmt::Write as _,
    net::{Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use bytes::Bytes;
use mta_sts_core::FindingCode;

use crate::scenario::{
    CertKind, DnsRecord, HTTP_ONLY_ADDR, MxHost, PolicyHost, PolicyResponse, RecordData,
    SHARED_ADDR, Scenario, SmtpBehaviour, TlsaAssociation,
};

/// The `id` of every healthy `_mta-sts` record: a timestamp, as operators commonly use.
const POLICY_ID: &str = "20260101T000000";
/// One week: the lower end of what RFC 8461 §3.2 calls "weeks or greater".
const HEALTHY_MAX_AGE: u32 = 604_800;
/// The media type of the web pages misconfigured hosts serve instead of the policy.
const HTML: &str = "text/html; charset=utf-8";

/// The declarative scenario catalog, healthy scenarios first.
///
/// Misbehaving SMTP hosts get the loopback addresses 127.0.0.3, 127.0.0.4, ... in catalog order.
pub fn catalog() -> Vec<Scenario> {
    let mut own = AddrPool::new();
    let mut out = Vec::new();

    // --- Healthy ---------------------------------------------------------------------------
    let mut p = Plan::healthy(
        "healthy-enforce",
        "Everything right: STSv1 record, enforce policy over valid HTTPS, STARTTLS MX, TLS-RPT; \
         policy host and MX also have AAAA ::1",
        &[],
    );
    p.ipv6 = true;
    out.push(p.build());

    let mut p = Plan::healthy(
        "sts-split",
        "The _mta-sts TXT record is split into two strings; readers concatenate them (RFC 8461 §3.1)",
        &[],
    );
    p.sts = vec![vec![
        "v=STSv1; id=2026".to_owned(),
        "0101T000000;".to_owned(),
    ]];
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-cname",
        "mta-sts.<domain> is a CNAME to the web host; the certificate names mta-sts.<domain>",
        &[],
    );
    p.policy_at = PolicyAt::Cname(format!("web.{}", p.domain));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-wildcard",
        "Two MX hosts covered by one `mx: *.<domain>` pattern; policy lines end in CRLF",
        &[],
    );
    let (mx1, mx2) = (format!("mx1.{}", p.domain), format!("mx2.{}", p.domain));
    p.mx = vec![
        PlannedMx::host(10, &mx1, SmtpBehaviour::Starttls(CertKind::Valid)),
        PlannedMx::host(20, &mx2, SmtpBehaviour::Starttls(CertKind::Valid)),
    ];
    let body = policy_text("enforce", &[format!("*.{}", p.domain)], HEALTHY_MAX_AGE);
    p.set_policy_body(body.replace('\n', "\r\n"));
    out.push(p.build());

    // --- The _mta-sts TXT record --------------------------------------------------------------
    let mut p = Plan::healthy(
        "sts-missing",
        "A policy is served but the _mta-sts TXT record is missing, so senders never look",
        &[FindingCode::StsRecordMissing],
    );
    p.sts.clear();
    out.push(p.build());

    let mut p = Plan::healthy(
        "sts-multiple",
        "Two v=STSv1 TXT records: senders must treat this as no record (RFC 8461 §3.1)",
        &[FindingCode::StsRecordMultiple],
    );
    p.sts.push(vec!["v=STSv1; id=20260201T000000;".to_owned()]);
    out.push(p.build());

    let mut p = Plan::healthy(
        "sts-invalid-id",
        "The id contains '-' (id=2026-01-01); only letters and digits are allowed (RFC 8461 §3.1)",
        &[FindingCode::StsRecordInvalid],
    );
    p.sts = vec![vec!["v=STSv1; id=2026-01-01;".to_owned()]];
    out.push(p.build());

    // --- Fetching the policy -------------------------------------------------------------------
    let mut p = Plan::healthy(
        "policy-host-missing",
        "mta-sts.<domain> has no address record, so the policy cannot be fetched",
        &[FindingCode::PolicyHostUnresolvable],
    );
    p.policy_at = PolicyAt::Nowhere;
    p.policy = None;
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-404",
        "The policy URL answers 404 Not Found: only a 200 counts (RFC 8461 §3.3)",
        &[FindingCode::PolicyHttpStatus],
    );
    p.set_policy_response(PolicyResponse {
        status: 404,
        content_type: Some(HTML.to_owned()),
        body: Bytes::from_static(b"<html><body><h1>404 Not Found</h1></body></html>\n"),
        location: None,
        delay: Duration::ZERO,
    });
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-redirect",
        "The policy URL answers 301 to https://www.<domain>/...; redirects must not be followed \
         (RFC 8461 §3.3)",
        &[FindingCode::PolicyRedirect],
    );
    let target = format!("www.{}", p.domain);
    p.set_policy_response(PolicyResponse {
        status: 301,
        content_type: Some(HTML.to_owned()),
        body: Bytes::from_static(b"<html><body>Moved Permanently</body></html>\n"),
        location: Some(format!("https://{target}/.well-known/mta-sts.txt")),
        delay: Duration::ZERO,
    });
    // The target serves a valid policy, so a client that wrongly follows the redirect succeeds
    // and the test that it must not can tell the difference.
    p.extra_records
        .push(DnsRecord::new(&target, RecordData::A(SHARED_ADDR)));
    let body = p.healthy_policy_body();
    p.extra_hosts.push(PolicyHost {
        name: target,
        cert: CertKind::Valid,
        response: PolicyResponse::policy(body),
    });
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-html",
        "The policy URL serves an HTML page as text/html; senders reject any type but text/plain \
         before reading the body",
        &[FindingCode::PolicyContentType],
    );
    p.set_policy_response(PolicyResponse {
        status: 200,
        content_type: Some(HTML.to_owned()),
        body: Bytes::from_static(
            b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>\
              <body><h1>It works!</h1></body></html>\n",
        ),
        location: None,
        delay: Duration::ZERO,
    });
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-no-type",
        "The policy is served without any Content-Type header; senders that check for text/plain \
         reject it",
        &[FindingCode::PolicyContentType],
    );
    if let Some(host) = &mut p.policy {
        host.response.content_type = None;
    }
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-self-signed",
        "The policy host presents a self-signed certificate that chains to no trusted root",
        &[FindingCode::PolicyCertUntrusted],
    );
    p.set_policy_cert(CertKind::SelfSigned);
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-wrong-name",
        "The policy host presents the certificate of www.<domain>, not of mta-sts.<domain>",
        &[FindingCode::PolicyCertHostname],
    );
    let www = format!("www.{}", p.domain);
    p.set_policy_cert(CertKind::OtherName(www));
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-expired",
        "The policy host's certificate expired yesterday",
        &[FindingCode::PolicyCertExpired],
    );
    p.set_policy_cert(CertKind::Expired);
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-http-only",
        "mta-sts.<domain> refuses HTTPS but serves the policy over plain HTTP; HTTPS is required \
         (RFC 8461 §3.3)",
        &[FindingCode::PolicyFetchFailed],
    );
    p.policy_at = PolicyAt::HttpOnly;
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-slow",
        "The policy host answers only after 3 s: a fetch with a shorter timeout fails",
        &[FindingCode::PolicyFetchFailed],
    );
    if let Some(host) = &mut p.policy {
        host.response.delay = Duration::from_secs(3);
    }
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-too-large",
        "A valid policy padded with extension lines to over 64 KiB, the suggested limit \
         (RFC 8461 §3.3)",
        &[FindingCode::PolicyTooLarge],
    );
    let mut body = p.healthy_policy_body();
    let mut line = 0;
    while body.len() <= 70_000 {
        line += 1;
        // Unknown fields are valid and ignored (RFC 8461 §3.2): only the size is wrong.
        let _ = writeln!(body, "padding{line}: {}", "x".repeat(90));
    }
    p.set_policy_body(body);
    out.push(p.build());

    // --- The policy's content --------------------------------------------------------------------
    let mut p = Plan::healthy(
        "policy-bad-mode",
        "The policy says `mode: enforced`; only enforce, testing and none exist (RFC 8461 §3.2)",
        &[FindingCode::PolicyInvalid],
    );
    let mx = p.mx_names();
    p.set_policy_body(policy_text("enforced", &mx, HEALTHY_MAX_AGE));
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-mx-ip",
        "Beside the real MX the policy lists `mx: 192.0.2.25`; patterns match host names, so the \
         valid policy's address line matches no MX (RFC 8461 §4.1)",
        &[FindingCode::MxIpAddress],
    );
    let mut mx = p.mx_names();
    mx.push("192.0.2.25".to_owned());
    p.set_policy_body(policy_text("enforce", &mx, HEALTHY_MAX_AGE));
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-mx-ip-only",
        "The policy's only `mx` lines are IP addresses: valid, but no MX host name matches, so \
         enforcing senders deliver nowhere (RFC 8461 §4.1, §5)",
        &[FindingCode::MxIpAddress, FindingCode::MxNotInPolicy],
    );
    let mx = ["192.0.2.25".to_owned(), "192.0.2.26".to_owned()];
    p.set_policy_body(policy_text("enforce", &mx, HEALTHY_MAX_AGE));
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-bom",
        "The policy file starts with a UTF-8 byte-order mark, so its first line is not `version`",
        &[FindingCode::PolicyInvalid],
    );
    let body = format!("\u{feff}{}", p.healthy_policy_body());
    p.set_policy_body(body);
    out.push(p.build());

    let mut p = Plan::healthy(
        "policy-latin1",
        "The policy was saved as Latin-1: an extension line holds the byte 0xE9 (é), so the body \
         is not UTF-8 and senders reject it",
        &[FindingCode::PolicyInvalid],
    );
    let mut body = p.healthy_policy_body().into_bytes();
    body.extend_from_slice(b"contact: Ren\xe9 at postmaster\n");
    if let Some(host) = &mut p.policy {
        host.response.body = Bytes::from(body);
    }
    out.push(p.build());

    let mut p = Plan::healthy(
        "max-age-low",
        "max_age is 3600 (one hour); RFC 8461 §3.2 asks for weeks or more",
        &[FindingCode::PolicyMaxAgeLow],
    );
    let mx = p.mx_names();
    p.set_policy_body(policy_text("enforce", &mx, 3600));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mode-testing",
        "Policy in testing mode: failures are reported, mail still flows unprotected",
        &[FindingCode::PolicyModeTesting],
    );
    let mx = p.mx_names();
    p.set_policy_body(policy_text("testing", &mx, HEALTHY_MAX_AGE));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mode-none",
        "Policy in none mode: MTA-STS is being retired, senders apply nothing (RFC 8461 §5)",
        &[FindingCode::PolicyModeNone],
    );
    let mx = p.mx_names();
    p.set_policy_body(policy_text("none", &mx, HEALTHY_MAX_AGE));
    out.push(p.build());

    // --- MX records against the policy -----------------------------------------------------------
    let mut p = Plan::healthy(
        "mx-not-in-policy",
        "The policy still names the old mail.<domain>; the real MX mx.<domain> matches no pattern",
        &[FindingCode::MxNotInPolicy, FindingCode::MxPatternUnused],
    );
    let old = vec![format!("mail.{}", p.domain)];
    p.set_policy_body(policy_text("enforce", &old, HEALTHY_MAX_AGE));
    out.push(p.build());

    let mut p = Plan::healthy(
        "null-mx",
        "A null MX (`0 .`, RFC 7505: no mail accepted) beside a policy; with no MX there is \
         nothing to match, so patterns are not reported unused",
        &[FindingCode::MxNone],
    );
    let mx_name = p.mx_names();
    p.mx = vec![PlannedMx {
        preference: 0,
        exchange: ".".to_owned(),
        target: MxTarget::Null,
    }];
    p.set_policy_body(policy_text("enforce", &mx_name, HEALTHY_MAX_AGE));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-no-address",
        "The MX host name has no A or AAAA record (NXDOMAIN)",
        &[FindingCode::MxUnresolvable],
    );
    p.mx[0].target = MxTarget::NoAddress;
    out.push(p.build());

    // --- The SMTP hosts --------------------------------------------------------------------------
    let mut p = Plan::healthy(
        "mx-unreachable",
        "The MX address refuses connections on the SMTP port: nothing listens",
        &[FindingCode::MxUnreachable],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::Unreachable(own.take()));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-greeting-421",
        "The MX greets `421 4.3.2 Service not available` and hangs up; it takes no mail at all, \
         so this is mx-unreachable, not a TLS fault (STARTTLS was never reached)",
        &[FindingCode::MxUnreachable],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::Greeting421(own.take()));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-silent",
        "The MX accepts the connection but never sends a greeting (the client's timeout fires)",
        &[FindingCode::MxUnreachable],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::Silent(own.take()));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-drop",
        "The MX accepts the connection and closes it at once, before any greeting",
        &[FindingCode::MxUnreachable],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::Drop(own.take()));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-no-starttls",
        "The MX does not offer STARTTLS: an enforce policy forbids delivery (RFC 8461 §5)",
        &[FindingCode::MxStarttlsMissing],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::NoStarttls(own.take()));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-starttls-refused",
        "The MX offers STARTTLS, then answers `454 4.7.0 TLS not available` (Postfix unable to \
         read its key): TLS is broken, not absent",
        &[FindingCode::MxTlsFailed],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::StarttlsRefused(own.take()));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-tls-garbage",
        "The MX accepts STARTTLS, then answers the ClientHello with plain text: the handshake fails",
        &[FindingCode::MxTlsFailed],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::TlsGarbage(own.take()));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-self-signed",
        "The MX presents a self-signed certificate that chains to no trusted root",
        &[FindingCode::MxCertUntrusted],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::Starttls(CertKind::SelfSigned));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-wrong-name",
        "The MX presents its hosting provider's default certificate (default.hosting.test)",
        &[FindingCode::MxCertHostname],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::Starttls(CertKind::OtherName(
        "default.hosting.test".to_owned(),
    )));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-expired",
        "The MX certificate expired yesterday",
        &[FindingCode::MxCertExpired],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::Starttls(CertKind::Expired));
    out.push(p.build());

    let mut p = Plan::healthy(
        "mx-expiring",
        "The MX certificate is valid but expires in 5 days (a warning, not yet a failure)",
        &[FindingCode::CertExpiringSoon],
    );
    p.mx[0].target = MxTarget::Host(SmtpBehaviour::Starttls(CertKind::ExpiresInDays(5)));
    out.push(p.build());

    // --- TLS-RPT -----------------------------------------------------------------------------------
    let mut p = Plan::healthy(
        "tlsrpt-missing",
        "No _smtp._tls TXT record: nobody hears about delivery failures (RFC 8460)",
        &[FindingCode::TlsrptMissing],
    );
    p.tlsrpt.clear();
    out.push(p.build());

    let mut p = Plan::healthy(
        "tlsrpt-bare-address",
        "The TLS-RPT rua is a bare address (rua=tlsrpt@<domain>); it needs mailto: (RFC 8460 §3)",
        &[FindingCode::TlsrptInvalid],
    );
    p.tlsrpt = vec![vec![format!("v=TLSRPTv1; rua=tlsrpt@{}", p.domain)]];
    out.push(p.build());

    let mut p = Plan::healthy(
        "tlsrpt-multiple",
        "Two v=TLSRPTv1 TXT records: senders must treat this as no record (RFC 8460 §3)",
        &[FindingCode::TlsrptMultiple],
    );
    p.tlsrpt
        .push(vec![format!("v=TLSRPTv1; rua=mailto:reports@{}", p.domain)]);
    out.push(p.build());

    // --- DANE (RFC 7672) beside MTA-STS ------------------------------------------------------
    // Both publish `3 1 1` TLSA records matching the MX certificate; only the signed zone's
    // answers carry the AD bit. The checker notes TLSA as info (`mx-dane`) and judges nothing.
    let mut p = Plan::healthy(
        "dane-signed",
        "DNSSEC-signed zone (the resolver sets AD) whose MX has a TLSA 3 1 1 record matching its \
         key beside an enforce policy: DANE applies and MTA-STS must not override it (RFC 8461 §2)",
        &[],
    );
    p.signed = true;
    p.add_tlsa_for_every_mx();
    out.push(p.build());

    let mut p = Plan::healthy(
        "dane-unsigned",
        "The same TLSA record and enforce policy in a zone that is not signed: without DNSSEC the \
         TLSA record proves nothing, DANE does not apply (RFC 7672 §2.2), MTA-STS does",
        &[],
    );
    p.add_tlsa_for_every_mx();
    out.push(p.build());

    // The MX host is an alias: mx.<domain> is a CNAME to mx1.provider.<domain>, which stands for
    // a hosting provider's own signed zone (a signed delegation: the lab's signing is per domain
    // suffix) and alone publishes the TLSA record. RFC 7672 §2.2.2: under a secure expansion the
    // TLSA records are looked up at the expanded name first, so DANE applies although nothing
    // sits at _25._tcp.mx.<domain>. The certificate names mx.<domain>, the name the MX record
    // and the policy give (RFC 8461 §4.1, §4.2), and the TLSA record matches its key.
    let mut p = Plan::healthy(
        "dane-cname-mx",
        "Signed zone whose MX host is a CNAME to a provider's host in a signed zone that alone \
         publishes TLSA 3 1 1 at _25._tcp.<target>: DANE applies at the expanded name (RFC 7672 \
         §2.2.2), so MTA-STS must not override it (RFC 8461 §2)",
        &[],
    );
    p.signed = true;
    let mx = format!("mx.{}", p.domain);
    let target = format!("mx1.provider.{}", p.domain);
    p.mx = vec![PlannedMx {
        preference: 10,
        exchange: mx,
        target: MxTarget::Alias(target.clone(), SmtpBehaviour::Starttls(CertKind::Valid)),
    }];
    p.extra_records.push(tlsa_311(&target));
    out.push(p.build());

    out
}

/// A `3 1 1` TLSA record (DANE-EE, SubjectPublicKeyInfo, SHA-256: what RFC 7672 §3.1
/// recommends) at `_25._tcp.<host>` (RFC 7672 §2.2.3), matching the lab's leaf key.
fn tlsa_311(host: &str) -> DnsRecord {
    DnsRecord::new(
        format!("_25._tcp.{host}"),
        RecordData::Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            association: TlsaAssociation::LabLeafSpkiSha256,
        },
    )
}

/// The healthy scenario of generated domain number `n` (1-based): `gen-00001.test`, ...
pub(crate) fn generated(n: usize) -> Scenario {
    Plan::with_domain(
        "generated",
        format!("gen-{n:05}.test"),
        "A generated healthy domain",
        &[],
    )
    .build()
}

/// The address every generated MX host that refuses connections shares (nothing listens there).
const MIX_UNREACHABLE_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 250);
/// The address every generated MX host that never greets shares.
const MIX_SILENT_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 251);

/// `count` generated domains for benchmarks, `mix-00001.test`, `mix-00002.test`, ...: most
/// healthy, a share with one defect each, as a scan of real domains finds them (Ashiq et al.
/// 2025 found 29.6% of MTA-STS domains misconfigured).
///
/// Domain `n` gets the defect its number chooses, so every run sees the same list: out of each
/// 100, 70 are healthy, 4 have an MX the policy does not list, 3 a policy host certificate for
/// another name, 3 a policy answering 404, 5 no TLS-RPT record, 5 a policy in testing mode, 3
/// an expired MX certificate, 3 an invalid `id`, 3 an MX that refuses connections, 1 an expired
/// policy host certificate. Domains 1, 1001, 2001, 3001 and 4001 instead have an MX that accepts
/// connections and never greets: the slow failure, where a check waits for its timeout. They
/// sit in the first half of a 10,000-domain list, so that the end of a scan of it is not just
/// the wait for the last of them. The defects are those of the [`catalog()`] scenarios of the
/// same names, with their expected codes.
pub fn generated_mix(count: usize) -> Vec<Scenario> {
    (1..=count).map(mixed).collect()
}

/// Generated domain `n` (1-based) of [`generated_mix`].
fn mixed(n: usize) -> Scenario {
    let domain = format!("mix-{n:05}.test");
    let plan = |name: &'static str, story: &'static str, expect: &'static [FindingCode]| {
        Plan::with_domain(name, domain.clone(), story, expect)
    };
    let mut p;
    if n % 1000 == 1 && n < 5000 {
        p = plan(
            "mix-mx-silent",
            "A generated domain whose MX accepts connections and never greets",
            &[FindingCode::MxUnreachable],
        );
        p.mx[0].target = MxTarget::Host(SmtpBehaviour::Silent(MIX_SILENT_ADDR));
        return p.build();
    }
    match n % 100 {
        70..=73 => {
            p = plan(
                "mix-mx-not-in-policy",
                "A generated domain whose policy names an old MX",
                &[FindingCode::MxNotInPolicy, FindingCode::MxPatternUnused],
            );
            let old = vec![format!("mail.{}", p.domain)];
            p.set_policy_body(policy_text("enforce", &old, HEALTHY_MAX_AGE));
        }
        74..=76 => {
            p = plan(
                "mix-policy-wrong-name",
                "A generated domain whose policy host presents the certificate of www.<domain>",
                &[FindingCode::PolicyCertHostname],
            );
            let www = format!("www.{}", p.domain);
            p.set_policy_cert(CertKind::OtherName(www));
        }
        77..=79 => {
            p = plan(
                "mix-policy-404",
                "A generated domain whose policy URL answers 404 Not Found",
                &[FindingCode::PolicyHttpStatus],
            );
            p.set_policy_response(PolicyResponse {
                status: 404,
                content_type: Some(HTML.to_owned()),
                body: Bytes::from_static(b"<html><body><h1>404 Not Found</h1></body></html>\n"),
                location: None,
                delay: Duration::ZERO,
            });
        }
        80..=84 => {
            p = plan(
                "mix-tlsrpt-missing",
                "A generated domain without a _smtp._tls record",
                &[FindingCode::TlsrptMissing],
            );
            p.tlsrpt.clear();
        }
        85..=89 => {
            p = plan(
                "mix-mode-testing",
                "A generated domain whose policy is in testing mode",
                &[FindingCode::PolicyModeTesting],
            );
            let mx = p.mx_names();
            p.set_policy_body(policy_text("testing", &mx, HEALTHY_MAX_AGE));
        }
        90..=92 => {
            p = plan(
                "mix-mx-expired",
                "A generated domain whose MX certificate expired yesterday",
                &[FindingCode::MxCertExpired],
            );
            p.mx[0].target = MxTarget::Host(SmtpBehaviour::Starttls(CertKind::Expired));
        }
        93..=95 => {
            p = plan(
                "mix-sts-invalid-id",
                "A generated domain whose _mta-sts id contains '-'",
                &[FindingCode::StsRecordInvalid],
            );
            p.sts = vec![vec!["v=STSv1; id=2026-01-01;".to_owned()]];
        }
        96..=98 => {
            p = plan(
                "mix-mx-unreachable",
                "A generated domain whose MX refuses connections on the SMTP port",
                &[FindingCode::MxUnreachable],
            );
            p.mx[0].target = MxTarget::Host(SmtpBehaviour::Unreachable(MIX_UNREACHABLE_ADDR));
        }
        99 => {
            p = plan(
                "mix-policy-expired",
                "A generated domain whose policy host certificate expired yesterday",
                &[FindingCode::PolicyCertExpired],
            );
            p.set_policy_cert(CertKind::Expired);
        }
        _ => p = plan("mix-healthy", "A generated healthy domain", &[]),
    }
    p.build()
}

/// Hands out the loopback addresses of misbehaving SMTP hosts, one each, in catalog order.
struct AddrPool(u8);

impl AddrPool {
    /// 127.0.0.1 and 127.0.0.2 are the shared addresses; own addresses start after them.
    fn new() -> Self {
        Self(3)
    }

    fn take(&mut self) -> Ipv4Addr {
        let addr = Ipv4Addr::new(127, 0, 0, self.0);
        // The catalog holds far fewer than 250 such hosts; a unit test checks uniqueness.
        self.0 = self.0.saturating_add(1);
        addr
    }
}

/// Where `mta-sts.<domain>` points.
enum PolicyAt {
    /// A (and with `ipv6`, AAAA) records for the shared HTTPS listener.
    Shared,
    /// An A record for [`HTTP_ONLY_ADDR`]: HTTPS refused, plain HTTP served.
    HttpOnly,
    /// A CNAME to this name, which has the A record of the shared listener.
    Cname(String),
    /// No record at all.
    Nowhere,
}

/// What an MX record points at.
enum MxTarget {
    /// A host with A record(s) and this behaviour.
    Host(SmtpBehaviour),
    /// A CNAME to this name, which has the A record(s) of a host with this behaviour: the SMTP
    /// host still answers to the MX name (SNI), on the target's address.
    Alias(String, SmtpBehaviour),
    /// A name without any address record.
    NoAddress,
    /// The root name: the null MX of RFC 7505.
    Null,
}

struct PlannedMx {
    preference: u16,
    exchange: String,
    target: MxTarget,
}

impl PlannedMx {
    fn host(preference: u16, exchange: &str, behaviour: SmtpBehaviour) -> Self {
        Self {
            preference,
            exchange: exchange.to_owned(),
            target: MxTarget::Host(behaviour),
        }
    }
}

/// A scenario under construction: the healthy baseline, field by field.
struct Plan {
    name: &'static str,
    story: &'static str,
    expect: &'static [FindingCode],
    domain: String,
    /// TXT records at `_mta-sts.<domain>`, each a list of strings.
    sts: Vec<Vec<String>>,
    /// TXT records at `_smtp._tls.<domain>`.
    tlsrpt: Vec<Vec<String>>,
    mx: Vec<PlannedMx>,
    policy_at: PolicyAt,
    /// The `mta-sts.<domain>` web host, if any.
    policy: Option<PolicyHost>,
    extra_records: Vec<DnsRecord>,
    extra_hosts: Vec<PolicyHost>,
    /// Add AAAA ::1 beside the A records of shared-listener hosts.
    ipv6: bool,
    /// The zone answers as DNSSEC-signed ([`Scenario::signed`]).
    signed: bool,
}

impl Plan {
    fn healthy(name: &'static str, story: &'static str, expect: &'static [FindingCode]) -> Self {
        Self::with_domain(name, format!("{name}.test"), story, expect)
    }

    fn with_domain(
        name: &'static str,
        domain: String,
        story: &'static str,
        expect: &'static [FindingCode],
    ) -> Self {
        let mx = format!("mx.{domain}");
        let body = policy_text("enforce", std::slice::from_ref(&mx), HEALTHY_MAX_AGE);
        Self {
            name,
            story,
            expect,
            sts: vec![vec![format!("v=STSv1; id={POLICY_ID};")]],
            tlsrpt: vec![vec![format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}")]],
            mx: vec![PlannedMx::host(
                10,
                &mx,
                SmtpBehaviour::Starttls(CertKind::Valid),
            )],
            policy_at: PolicyAt::Shared,
            policy: Some(PolicyHost {
                name: format!("mta-sts.{domain}"),
                cert: CertKind::Valid,
                response: PolicyResponse::policy(body),
            }),
            extra_records: Vec::new(),
            extra_hosts: Vec::new(),
            ipv6: false,
            signed: false,
            domain,
        }
    }

    /// The MX host names, as a correct policy lists them.
    fn mx_names(&self) -> Vec<String> {
        self.mx.iter().map(|m| m.exchange.clone()).collect()
    }

    fn healthy_policy_body(&self) -> String {
        policy_text("enforce", &self.mx_names(), HEALTHY_MAX_AGE)
    }

    /// A `3 1 1` TLSA record ([`tlsa_311`]) at `_25._tcp.<host>` for each MX host.
    fn add_tlsa_for_every_mx(&mut self) {
        for host in self.mx_names() {
            self.extra_records.push(tlsa_311(&host));
        }
    }

    fn set_policy_body(&mut self, body: String) {
        if let Some(host) = &mut self.policy {
            host.response.body = Bytes::from(body);
        }
    }

    fn set_policy_response(&mut self, response: PolicyResponse) {
        if let Some(host) = &mut self.policy {
            host.response = response;
        }
    }

    fn set_policy_cert(&mut self, cert: CertKind) {
        if let Some(host) = &mut self.policy {
            host.cert = cert;
        }
    }

    fn build(self) -> Scenario {
        let d = &self.domain;
        let mut records = Vec::new();
        let mut mx_hosts = Vec::new();
        let sts_name = format!("_mta-sts.{d}");
        for txt in self.sts {
            records.push(DnsRecord::new(&sts_name, RecordData::Txt(txt)));
        }
        // RFC 8460 §3: the TLS-RPT record lives at _smtp._tls.<domain>.
        let rpt_name = format!("_smtp._tls.{d}");
        for txt in self.tlsrpt {
            records.push(DnsRecord::new(&rpt_name, RecordData::Txt(txt)));
        }
        for mx in self.mx {
            records.push(DnsRecord::new(
                d,
                RecordData::Mx {
                    preference: mx.preference,
                    exchange: mx.exchange.clone(),
                },
            ));
            let (address_name, behaviour) = match mx.target {
                MxTarget::Host(behaviour) => (mx.exchange.clone(), behaviour),
                MxTarget::Alias(target, behaviour) => {
                    records.push(DnsRecord::new(
                        &mx.exchange,
                        RecordData::Cname(target.clone()),
                    ));
                    (target, behaviour)
                }
                MxTarget::NoAddress | MxTarget::Null => continue,
            };
            records.push(DnsRecord::new(
                &address_name,
                RecordData::A(behaviour.addr()),
            ));
            if self.ipv6 && matches!(behaviour, SmtpBehaviour::Starttls(_)) {
                records.push(DnsRecord::new(
                    &address_name,
                    RecordData::Aaaa(Ipv6Addr::LOCALHOST),
                ));
            }
            mx_hosts.push(MxHost {
                name: mx.exchange,
                behaviour,
            });
        }
        let policy_name = format!("mta-sts.{d}");
        match self.policy_at {
            PolicyAt::Shared => {
                records.push(DnsRecord::new(&policy_name, RecordData::A(SHARED_ADDR)));
                if self.ipv6 {
                    records.push(DnsRecord::new(
                        &policy_name,
                        RecordData::Aaaa(Ipv6Addr::LOCALHOST),
                    ));
                }
            }
            PolicyAt::HttpOnly => {
                records.push(DnsRecord::new(&policy_name, RecordData::A(HTTP_ONLY_ADDR)));
            }
            PolicyAt::Cname(target) => {
                records.push(DnsRecord::new(
                    &policy_name,
                    RecordData::Cname(target.clone()),
                ));
                records.push(DnsRecord::new(target, RecordData::A(SHARED_ADDR)));
            }
            PolicyAt::Nowhere => {}
        }
        records.extend(self.extra_records);
        let mut policy_hosts: Vec<PolicyHost> = self.policy.into_iter().collect();
        policy_hosts.extend(self.extra_hosts);
        Scenario {
            name: self.name,
            domain: self.domain,
            story: self.story,
            expect: self.expect,
            records,
            policy_hosts,
            mx_hosts,
            signed: self.signed,
        }
    }
}

/// A policy file (RFC 8461 §3.2) with LF line ends, fields in the RFC's example order.
fn policy_text(mode: &str, mx: &[String], max_age: u32) -> String {
    let mut text = format!("version: STSv1\nmode: {mode}\n");
    for pattern in mx {
        let _ = writeln!(text, "mx: {pattern}");
    }
    let _ = writeln!(text, "max_age: {max_age}");
    text
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap, HashSet};

    use super::*;
    use mta_sts_core::Severity;

    #[test]
    fn names_and_domains_are_unique_and_kebab_case() {
        let all = catalog();
        let names: HashSet<_> = all.iter().map(|s| s.name).collect();
        let domains: HashSet<_> = all.iter().map(|s| s.domain.as_str()).collect();
        assert_eq!(names.len(), all.len(), "duplicate scenario name");
        assert_eq!(domains.len(), all.len(), "duplicate scenario domain");
        for s in &all {
            assert!(
                s.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{} is not kebab-case",
                s.name
            );
            assert_eq!(s.domain, format!("{}.test", s.name));
        }
    }

    #[test]
    fn stories_are_one_non_empty_line() {
        for s in catalog() {
            assert!(!s.story.trim().is_empty(), "{} has no story", s.name);
            assert!(!s.story.contains('\n'), "{}: story is not one line", s.name);
            // A line continuation inside the literal that kept its indentation.
            assert!(
                !s.story.contains("  "),
                "{}: story has a run of spaces",
                s.name
            );
        }
    }

    #[test]
    fn expected_codes_are_problems_and_cover_every_one_a_scenario_can_plant() {
        // Four codes no scenario plants: the address guard's two (the lab serves loopback,
        // which only a guarded checker refuses) and the two lookup failures, which need a
        // SERVFAIL among answers (the checker's tests build those from SERVFAIL_DOMAIN).
        let unplantable = [
            FindingCode::PolicyHostPrivate,
            FindingCode::MxHostPrivate,
            FindingCode::StsRecordLookupFailed,
            FindingCode::MxLookupFailed,
        ];
        let mut covered = BTreeSet::new();
        for s in catalog() {
            for code in s.expect {
                assert_ne!(
                    code.severity(),
                    Severity::Info,
                    "{}: {code} is no problem",
                    s.name
                );
                assert!(!unplantable.contains(code), "{}: {code}", s.name);
                covered.insert(*code);
            }
        }
        let missing: Vec<_> = FindingCode::ALL
            .into_iter()
            .filter(|c| c.severity() != Severity::Info && !unplantable.contains(c))
            .filter(|c| !covered.contains(c))
            .collect();
        assert!(missing.is_empty(), "codes no scenario expects: {missing:?}");
    }

    #[test]
    fn healthy_scenarios_expect_nothing_and_exist() {
        let all = catalog();
        for name in [
            "healthy-enforce",
            "sts-split",
            "policy-cname",
            "mx-wildcard",
        ] {
            let s = all
                .iter()
                .find(|s| s.name == name)
                .expect("scenario exists");
            assert!(s.expect.is_empty(), "{name} should be healthy");
        }
    }

    #[test]
    fn own_addresses_are_unique_and_not_shared() {
        let mut seen = HashSet::new();
        for s in catalog() {
            for host in &s.mx_hosts {
                let addr = host.behaviour.addr();
                if addr == SHARED_ADDR {
                    continue;
                }
                assert_ne!(addr, HTTP_ONLY_ADDR);
                assert!(seen.insert(addr), "{addr} given twice");
            }
        }
    }

    #[test]
    fn every_mx_host_has_an_a_record_at_its_address() {
        for s in catalog() {
            for host in &s.mx_hosts {
                // Through its CNAME, if the host name is an alias (one link at most here).
                let name = s
                    .records_at(&host.name)
                    .find_map(|r| match r {
                        RecordData::Cname(target) => Some(target.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| host.name.clone());
                let a: Vec<_> = s
                    .records_at(&name)
                    .filter_map(|r| match r {
                        RecordData::A(a) => Some(*a),
                        _ => None,
                    })
                    .collect();
                assert_eq!(a, vec![host.behaviour.addr()], "{}", host.name);
            }
        }
    }

    #[test]
    fn healthy_policy_lists_the_mx_and_a_long_max_age() {
        let all = catalog();
        let s = all
            .iter()
            .find(|s| s.name == "healthy-enforce")
            .expect("exists");
        let host = s.policy_host().expect("policy host");
        let body = std::str::from_utf8(&host.response.body).expect("utf-8");
        assert_eq!(
            body,
            "version: STSv1\nmode: enforce\nmx: mx.healthy-enforce.test\nmax_age: 604800\n"
        );
        assert_eq!(
            host.response.content_type.as_deref(),
            Some("text/plain; charset=utf-8")
        );
    }

    #[test]
    fn too_large_policy_exceeds_64_kib() {
        let all = catalog();
        let s = all
            .iter()
            .find(|s| s.name == "policy-too-large")
            .expect("exists");
        let len = s.policy_host().expect("host").response.body.len();
        assert!(len > 64 * 1024, "{len}");
    }

    #[test]
    fn dane_scenarios_publish_tlsa_and_only_one_is_signed() {
        let all = catalog();
        let find = |name: &str| all.iter().find(|s| s.name == name).expect("exists");
        for (name, signed) in [("dane-signed", true), ("dane-unsigned", false)] {
            let s = find(name);
            assert_eq!(s.signed, signed, "{name}");
            assert!(s.expect.is_empty(), "{name}: TLSA is no defect");
            let tlsa: Vec<_> = s
                .records_at(&format!("_25._tcp.mx.{}", s.domain))
                .cloned()
                .collect();
            assert_eq!(
                tlsa,
                [RecordData::Tlsa {
                    usage: 3,
                    selector: 1,
                    matching: 1,
                    association: TlsaAssociation::LabLeafSpkiSha256
                }],
                "{name}"
            );
        }
        // Every other scenario stays unsigned: DANE applies to the two signed DANE scenarios
        // alone.
        let signed: Vec<_> = all.iter().filter(|s| s.signed).map(|s| s.name).collect();
        assert_eq!(signed, ["dane-signed", "dane-cname-mx"]);
    }

    #[test]
    fn dane_cname_mx_publishes_tlsa_at_the_expanded_name_only() {
        let all = catalog();
        let s = all
            .iter()
            .find(|s| s.name == "dane-cname-mx")
            .expect("exists");
        assert!(s.signed && s.expect.is_empty());
        let mx = format!("mx.{}", s.domain);
        let target = format!("mx1.provider.{}", s.domain);
        let exchanges: Vec<_> = s
            .records_at(&s.domain)
            .filter_map(|r| match r {
                RecordData::Mx { exchange, .. } => Some(exchange.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(exchanges, std::slice::from_ref(&mx));
        assert_eq!(
            s.records_at(&mx).cloned().collect::<Vec<_>>(),
            [RecordData::Cname(target.clone())]
        );
        assert_eq!(
            s.records_at(&format!("_25._tcp.{target}"))
                .cloned()
                .collect::<Vec<_>>(),
            [RecordData::Tlsa {
                usage: 3,
                selector: 1,
                matching: 1,
                association: TlsaAssociation::LabLeafSpkiSha256
            }]
        );
        assert_eq!(s.records_at(&format!("_25._tcp.{mx}")).count(), 0);
        // The policy names the MX host as the MX record gives it, and so does the SMTP host.
        let body = &s.policy_host().expect("policy host").response.body;
        assert!(
            std::str::from_utf8(body)
                .expect("utf-8")
                .contains(&format!("mx: {mx}\n"))
        );
        assert_eq!(
            s.mx_host(&mx).map(|h| &h.behaviour),
            Some(&SmtpBehaviour::Starttls(CertKind::Valid))
        );
    }

    #[test]
    fn the_generated_mix_is_numbered_and_three_in_ten_broken() {
        let mix = generated_mix(2000);
        assert_eq!(mix[0].domain, "mix-00001.test");
        assert_eq!(mix[1999].domain, "mix-02000.test");
        let healthy = mix.iter().filter(|s| s.expect.is_empty()).count();
        assert_eq!(healthy, 1400 - 2, "70 in 100, less the two silent MX hosts");
        // Every defect of the mix is there, each as its catalog namesake declares it.
        let all = catalog();
        let mut kinds = BTreeSet::new();
        for s in &mix {
            kinds.insert(s.name);
            if let Some(namesake) = s
                .name
                .strip_prefix("mix-")
                .and_then(|name| all.iter().find(|c| c.name == name))
            {
                assert_eq!(s.expect, namesake.expect, "{}", s.name);
            } else {
                assert_eq!(s.name, "mix-healthy");
            }
        }
        assert_eq!(kinds.len(), 11, "{kinds:?}");
        let silent: Vec<_> = mix
            .iter()
            .filter(|s| s.name == "mix-mx-silent")
            .map(|s| s.domain.as_str())
            .collect();
        assert_eq!(silent, ["mix-00001.test", "mix-01001.test"]);
    }

    #[test]
    fn only_hosts_that_never_say_their_name_share_an_address() {
        let mut by_addr: HashMap<Ipv4Addr, Vec<SmtpBehaviour>> = HashMap::new();
        for s in generated_mix(1000) {
            for host in s.mx_hosts {
                if host.behaviour.addr() != SHARED_ADDR {
                    by_addr
                        .entry(host.behaviour.addr())
                        .or_default()
                        .push(host.behaviour);
                }
            }
        }
        assert_eq!(by_addr.len(), 2);
        for hosts in by_addr.values() {
            assert!(hosts.iter().all(|h| h == &hosts[0] && !h.names_itself()));
        }
    }

    #[test]
    fn generated_domains_are_numbered_and_healthy() {
        let s = generated(42);
        assert_eq!(s.domain, "gen-00042.test");
        assert!(s.expect.is_empty());
        assert_eq!(s.mx_hosts.len(), 1);
        assert_eq!(s.mx_hosts[0].name, "mx.gen-00042.test");
    }
}
