//! The renderer escapes everything a report carries: a hostile domain owner controls policy
//! bodies, TXT records, certificate names and the text of every finding.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mta_sts_check::{
    CheckReport, Finding, FindingCode, NotLearnt, Outcome, PolicyReport, Publish, Section, Timings,
    Verdict,
};
use mta_sts_core::{Mode, Severity, StsRecord};
use mta_sts_net::dns::MxSet;
use mta_sts_net::smtp_probe::TlsSession;
use mta_sts_net::trust::CertInfo;
use mta_sts_net::{CertVerdict, MxProbe, PolicyFetch};

const SCRIPT: &str = "<script>alert(1)</script>";
const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

fn certificate() -> CertVerdict {
    CertVerdict {
        trusted: false,
        name_matches: false,
        expired: false,
        not_yet_valid: false,
        days_left: Some(30),
        chain: vec![CertInfo {
            subject: format!("CN={SCRIPT}"),
            issuer: "CN=evil".to_string(),
            dns_names: vec![SCRIPT.to_string()],
            not_before: 0,
            not_after: 0,
        }],
        trust_error: Some(SCRIPT.to_string()),
    }
}

fn hostile_report() -> CheckReport {
    let host = "mx.evil.test".to_string();
    CheckReport {
        domain: "evil.test".to_string(),
        verdict: Verdict::Fail,
        findings: vec![
            Finding {
                section: Section::Policy,
                code: FindingCode::PolicyInvalid,
                severity: Severity::Error,
                message: format!("the policy says `{SCRIPT}` and {SCRIPT}"),
                remediation: format!("remove {SCRIPT}"),
            },
            Finding {
                section: Section::MxHosts,
                code: FindingCode::MxCertHostname,
                severity: Severity::Error,
                message: format!("{host} presents {SCRIPT}"),
                remediation: SCRIPT.to_string(),
            },
        ],
        sts_record: Some(StsRecord {
            id: "1".to_string(),
            extensions: vec![("x".to_string(), SCRIPT.to_string())],
        }),
        policy: Some(PolicyReport {
            url: format!("https://mta-sts.evil.test/{SCRIPT}"),
            text: format!("version: STSv1\nmode: enforce\nmx: {SCRIPT}\nmax_age: 86400\n"),
            sha256: SCRIPT.to_string(),
            mode: Some(Mode::Enforce),
            max_age: Some(86_400),
            mx: vec![SCRIPT.to_string()],
            fetch: PolicyFetch {
                url: SCRIPT.to_string(),
                address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 443),
                cname_chain: vec![SCRIPT.to_string()],
                tls_version: SCRIPT.to_string(),
                cipher: SCRIPT.to_string(),
                certificate: certificate(),
                content_type: format!("text/plain; {SCRIPT}"),
                body: Vec::new(),
                elapsed_ms: 1,
            },
            parsed: None,
        }),
        policy_error: None,
        mx: Some(MxSet {
            hosts: vec![(10, host.clone())],
            null_mx: false,
        }),
        mx_hosts: vec![MxProbe {
            host,
            addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            address: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 25)),
            banner: Some(SCRIPT.to_string()),
            ehlo: vec!["STARTTLS".to_string()],
            starttls_offered: true,
            tls: Some(TlsSession {
                version: SCRIPT.to_string(),
                cipher: SCRIPT.to_string(),
                certificate: certificate(),
            }),
            error: None,
            transcript: Vec::new(),
            elapsed_ms: 1,
        }],
        tlsrpt_record: None,
        dane: Vec::new(),
        publish: Publish {
            sts_record: Some(format!("_mta-sts.evil.test. IN TXT \"{SCRIPT}\"")),
            policy: Some(format!("version: STSv1\nmx: {SCRIPT}\n")),
            tlsrpt_record: Some(SCRIPT.to_string()),
        },
        timings_ms: Timings::default(),
        outcome: Outcome::Incomplete,
        // What could not be learnt names hosts and resolver errors: attacker-controlled too.
        not_learnt: vec![NotLearnt {
            section: Section::TlsRpt,
            what: format!("the TXT records at `{SCRIPT}` \" onmouseover=\""),
            why: SCRIPT.to_string(),
        }],
        sections: Vec::new(),
        incomplete: Some(SCRIPT.to_string()),
    }
}

#[test]
fn every_attacker_controlled_value_is_escaped() {
    let html = mta_sts_web::render_page(&hostile_report());
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("\" onmouseover=\""), "{html}");
    assert!(html.contains("data-code=\"mx-cert-hostname\""));
    // Each place shows the text, escaped: finding, policy body, publish blocks, names.
    assert!(html.matches(ESCAPED).count() >= 10, "{html}");
    assert!(html.contains(&format!(
        "<pre class=\"copy\">_mta-sts.evil.test. IN TXT &quot;{ESCAPED}&quot;</pre>"
    )));
    assert!(html.contains(&format!("mx: {ESCAPED}")));
    // The only script element is the page's own.
    assert_eq!(html.matches("<script").count(), 1);
    // A finished page carries the verdict and no status line.
    assert!(html.contains("data-verdict=\"fail\""));
    assert!(!html.contains("class=\"status\""));
}
