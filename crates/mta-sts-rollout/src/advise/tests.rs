//! The decision, condition by condition, on hand-made checks and evidence.

use mta_sts_check::{CheckReport, Finding, Outcome, PolicyReport, Publish, Timings, Verdict};
use mta_sts_core::report::{PolicyType, ResultType};
use mta_sts_core::time::UtcDate;
use mta_sts_core::{FindingCode, Mode, Policy, StsRecord, Timestamp, TlsRptRecord};
use mta_sts_net::dns::MxSet;
use mta_sts_net::smtp_probe::TlsSession;
use mta_sts_net::trust::CertInfo;
use mta_sts_net::{CertVerdict, MxProbe, PolicyFetch};
use mta_sts_store::reports::{
    DaySummary, DomainEvidence, DomainSummary, FailureBreakdown, FailureGroup, PolicySeen,
    PolicyTypeCounts, PolicyTypeTotals, Reporter, SummaryTotal,
};

use super::advise;
use crate::{Advice, Evidence, ReasonCode, Stage, Thresholds};

const DOMAIN: &str = "example.com";

fn date(text: &str) -> UtcDate {
    UtcDate::parse(text).expect("a date")
}

/// 2026-12-14, noon: the window of 14 days is Dec 1–14.
fn now() -> Timestamp {
    Timestamp::parse("2026-12-14T12:00:00Z").expect("a time")
}

fn certificate(names: &[&str], days_left: i64, name_matches: bool) -> CertVerdict {
    CertVerdict {
        trusted: true,
        name_matches,
        expired: days_left < 0,
        not_yet_valid: false,
        days_left: Some(days_left),
        chain: vec![CertInfo {
            subject: format!("CN={}", names.first().copied().unwrap_or_default()),
            issuer: "CN=Test CA".to_string(),
            dns_names: names.iter().map(ToString::to_string).collect(),
            not_before: 0,
            not_after: 0,
        }],
        trust_error: None,
    }
}

fn probe(host: &str, certificate: Option<CertVerdict>) -> MxProbe {
    MxProbe {
        host: host.to_string(),
        addresses: vec!["192.0.2.25".parse().expect("ip")],
        address: Some("192.0.2.25:25".parse().expect("addr")),
        banner: Some(format!("220 {host} ESMTP")),
        ehlo: vec!["STARTTLS".to_string()],
        starttls_offered: certificate.is_some(),
        tls: certificate.map(|certificate| TlsSession {
            version: "TLSv1.3".to_string(),
            cipher: "TLS13_AES_128_GCM_SHA256".to_string(),
            certificate,
        }),
        error: None,
        transcript: Vec::new(),
        elapsed_ms: 1,
    }
}

/// A complete, error-free live check: the policy in `mode` listing `patterns`, the MX hosts
/// `hosts` each with a valid certificate for 80 more days, a TLS-RPT record.
fn live(mode: Mode, patterns: &[&str], hosts: &[&str]) -> CheckReport {
    let text = format!(
        "version: STSv1\nmode: {mode}\n{}max_age: 604800\n",
        patterns
            .iter()
            .map(|p| format!("mx: {p}\n"))
            .collect::<String>()
    );
    let parsed = Policy::parse(text.as_bytes()).expect("a valid policy");
    CheckReport {
        domain: DOMAIN.to_string(),
        verdict: Verdict::Pass,
        findings: Vec::new(),
        sts_record: Some(StsRecord::parse("v=STSv1; id=20261201").expect("record")),
        policy: Some(PolicyReport {
            url: format!("https://mta-sts.{DOMAIN}/.well-known/mta-sts.txt"),
            text: text.clone(),
            sha256: String::new(),
            mode: Some(mode),
            max_age: Some(604_800),
            mx: patterns.iter().map(ToString::to_string).collect(),
            fetch: PolicyFetch {
                url: format!("https://mta-sts.{DOMAIN}/.well-known/mta-sts.txt"),
                address: "192.0.2.80:443".parse().expect("addr"),
                cname_chain: Vec::new(),
                tls_version: "TLSv1.3".to_string(),
                cipher: String::new(),
                certificate: certificate(&[&format!("mta-sts.{DOMAIN}")], 80, true),
                content_type: "text/plain".to_string(),
                body: text.into_bytes(),
                elapsed_ms: 1,
            },
            parsed: Some(parsed),
        }),
        policy_error: None,
        mx: Some(MxSet {
            hosts: hosts
                .iter()
                .enumerate()
                .map(|(i, h)| (u16::try_from(i * 10 + 10).expect("small"), h.to_string()))
                .collect(),
            null_mx: false,
        }),
        mx_hosts: hosts
            .iter()
            .map(|h| probe(h, Some(certificate(&[h], 80, true))))
            .collect(),
        tlsrpt_record: Some(
            TlsRptRecord::parse("v=TLSRPTv1; rua=mailto:tlsrpt@example.com").expect("record"),
        ),
        dane: Vec::new(),
        publish: Publish::default(),
        timings_ms: Timings::default(),
        outcome: Outcome::Complete,
        not_learnt: Vec::new(),
        sections: Vec::new(),
        incomplete: None,
    }
}

/// A check of a domain without MTA-STS: no record, no policy.
fn without_mta_sts(hosts: &[&str]) -> CheckReport {
    // The policy is dropped: its patterns do not matter.
    let mut check = live(Mode::Testing, &["mx.example.com"], hosts);
    check.sts_record = None;
    check.policy = None;
    check
        .findings
        .push(finding(FindingCode::StsRecordMissing, "no _mta-sts record"));
    check
}

fn finding(code: FindingCode, message: &str) -> Finding {
    Finding {
        section: code.section(),
        code,
        severity: code.severity(),
        message: message.to_string(),
        remediation: "fix it".to_string(),
    }
}

/// Evidence of reports on `days` (Dec N) from `organizations`, each day 100 successful sts
/// sessions per organisation, plus `failures`; the senders used `policies`.
fn evidence(
    days: &[u32],
    organizations: &[&str],
    failures: Vec<FailureGroup>,
    policies: Vec<PolicySeen>,
) -> DomainEvidence {
    let day = |n: u32| date(&format!("2026-12-{n:02}"));
    let orgs = organizations.len() as u64;
    let failed: u64 = failures
        .iter()
        .filter(|f| f.policy_type == PolicyType::Sts)
        .map(|f| f.sessions)
        .sum();
    let successful = 100 * orgs * days.len() as u64;
    DomainEvidence {
        summary: DomainSummary {
            domain: DOMAIN.to_string(),
            from: date("2026-12-01").start(),
            to: date("2026-12-15").start(),
            total: SummaryTotal {
                reports: orgs * days.len() as u64,
                policies: vec![PolicyTypeTotals {
                    policy_type: PolicyType::Sts,
                    successful,
                    failed,
                    failures: FailureBreakdown::default(),
                }],
            },
            days: days
                .iter()
                .map(|n| DaySummary {
                    date: day(*n).to_string(),
                    reports: orgs,
                    policies: vec![PolicyTypeCounts {
                        policy_type: PolicyType::Sts,
                        successful: 100 * orgs,
                        failed: 0,
                    }],
                    failures: Vec::new(),
                })
                .collect(),
        },
        reporters: organizations
            .iter()
            .filter(|_| !days.is_empty())
            .map(|o| Reporter {
                organization: o.to_string(),
                first_day: day(days[0]),
                last_day: day(days[days.len() - 1]),
                days: days.len() as u64,
                reports: days.len() as u64,
                successful: 100 * days.len() as u64,
                failed: 0,
            })
            .collect(),
        failures,
        policies_seen: policies,
    }
}

fn every_day() -> Vec<u32> {
    (1..=14).collect()
}

const TWO: &[&str] = &["Google Inc.", "Microsoft Corporation"];

fn failure(mx: &str, result: ResultType, sessions: u64, first: &str, last: &str) -> FailureGroup {
    FailureGroup {
        policy_type: PolicyType::Sts,
        result_type: result,
        receiving_mx_hostname: Some(mx.to_string()),
        organizations: TWO.iter().map(ToString::to_string).collect(),
        first_day: date(first),
        last_day: date(last),
        days: 1,
        sessions,
    }
}

fn seen(mode: &str, max_age: u32, first: &str, last: &str) -> PolicySeen {
    PolicySeen {
        policy_type: PolicyType::Sts,
        policy_string: vec![
            "version: STSv1".to_string(),
            format!("mode: {mode}"),
            "mx: mx.example.com".to_string(),
            format!("max_age: {max_age}"),
        ],
        first_day: date(first),
        last_day: date(last),
        reports: 3,
    }
}

fn failing(advice: &Advice) -> Vec<ReasonCode> {
    advice.failing().map(|r| r.code).collect()
}

fn message(advice: &Advice, code: ReasonCode) -> String {
    advice
        .reasons
        .iter()
        .filter(|r| r.code == code)
        .map(|r| r.message.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn a_clean_testing_domain_is_ready_to_enforce_with_the_exact_policy_to_publish() {
    let check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(advice.stage, Stage::Testing);
    assert!(advice.ready, "{:#?}", advice.reasons);
    assert!(advice.failing().next().is_none());
    let next = advice.next.expect("the enforce policy");
    assert_eq!(
        next.policy,
        "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n"
    );
    let id = mta_sts_core::sts_record::content_id(&next.policy);
    assert_eq!(
        next.sts_record,
        format!("_mta-sts.example.com. IN TXT \"v=STSv1; id={id}\"")
    );
    // Every condition of the stage was judged, each once or per MX host.
    let codes: Vec<ReasonCode> = advice.reasons.iter().map(|r| r.code).collect();
    for code in [
        ReasonCode::LiveCheck,
        ReasonCode::TlsrptRecord,
        ReasonCode::ReportDays,
        ReasonCode::Reporters,
        ReasonCode::StsFailures,
        ReasonCode::MxCovered,
        ReasonCode::MxCertificates,
    ] {
        assert!(codes.contains(&code), "{code} is judged");
    }
}

#[test]
fn the_json_has_exactly_the_issues_shape() {
    let check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    let advice = advise(
        &check,
        &evidence(&[13, 14], TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    let json = serde_json::to_value(&advice).expect("serialises");
    let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["domain", "next", "ready", "reasons", "stage"]);
    assert_eq!(json["stage"], "testing");
    assert_eq!(json["ready"], false);
    assert!(json["next"].is_null());
    for reason in json["reasons"].as_array().expect("reasons") {
        let keys: Vec<&String> = reason.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["code", "evidence", "message", "ok"]);
        assert!(reason["evidence"]["kind"].is_string());
    }
    assert_eq!(json["reasons"][0]["code"], "report-days");
    assert_eq!(json["reasons"][0]["ok"], false);
    assert_eq!(
        json["reasons"][0]["evidence"]["days"],
        serde_json::json!(["2026-12-13", "2026-12-14"])
    );
}

#[test]
fn too_few_days_says_how_many_more_are_needed() {
    let check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    let advice = advise(
        &check,
        &evidence(&[10, 11, 12, 14], TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert!(!advice.ready);
    assert_eq!(failing(&advice), [ReasonCode::ReportDays]);
    assert_eq!(
        message(&advice, ReasonCode::ReportDays),
        "reports about example.com cover only 4 of the last 14 days (2026-12-01 to 2026-12-14) \
         (Dec 10–12, Dec 14); 7 are needed: wait for 3 more days of reports (senders report \
         once a day)"
    );
    // Reports before the window do not count.
    let mut old = evidence(&every_day(), TWO, Vec::new(), Vec::new());
    old.summary.days[0].date = "2026-11-30".to_string();
    for n in 1..8 {
        old.summary.days[n].date = format!("2026-11-{:02}", 20 + n);
    }
    let advice = advise(&check, &old, &Thresholds::default(), now());
    assert_eq!(failing(&advice), [ReasonCode::ReportDays]);
    // Thresholds are settings.
    let lenient = Thresholds {
        min_report_days: 4,
        ..Thresholds::default()
    };
    let advice = advise(
        &check,
        &evidence(&[10, 11, 12, 14], TWO, Vec::new(), Vec::new()),
        &lenient,
        now(),
    );
    assert!(advice.ready);
}

#[test]
fn no_reports_at_all_says_where_reports_come_from() {
    let check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    let advice = advise(
        &check,
        &evidence(&[], &[], Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(
        failing(&advice),
        [ReasonCode::ReportDays, ReasonCode::Reporters]
    );
    assert!(message(&advice, ReasonCode::ReportDays).contains("no reports about example.com"));
    assert!(message(&advice, ReasonCode::Reporters).starts_with("no organisation reported"));
}

#[test]
fn one_reporter_only_is_not_enough() {
    let check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    let advice = advise(
        &check,
        &evidence(&every_day(), &["Google Inc."], Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(failing(&advice), [ReasonCode::Reporters]);
    assert_eq!(
        message(&advice, ReasonCode::Reporters),
        "1 organisation reported about example.com in the last 14 days: only Google Inc. (14 \
         days, last on Dec 14); 2 are needed so that one sender's view is not all you see: wait \
         until another sender reports (large senders report daily to domains they deliver mail \
         to)"
    );
    match &advice.failing().next().expect("one").evidence {
        Evidence::Reporters {
            reporters,
            required,
        } => {
            assert_eq!(*required, 2);
            assert_eq!(reporters.len(), 1);
            assert_eq!(reporters[0].organization, "Google Inc.");
        }
        other => panic!("reporters evidence, not {other:?}"),
    }
}

#[test]
fn failures_in_the_window_name_the_mx_the_result_the_reporters_the_days_and_the_live_state() {
    let mut check = live(
        Mode::Testing,
        &["mx1.example.com", "mx2.example.com"],
        &["mx1.example.com", "mx2.example.com"],
    );
    // The live probe still sees the wrong certificate on mx2.
    check.mx_hosts[1] = probe(
        "mx2.example.com",
        Some(certificate(&["mail.example.net"], 60, false)),
    );
    let failures = vec![failure(
        "mx2.example.com",
        ResultType::CertificateHostMismatch,
        31,
        "2026-12-03",
        "2026-12-05",
    )];
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, failures, Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert!(!advice.ready);
    assert_eq!(
        failing(&advice),
        [ReasonCode::StsFailures, ReasonCode::MxCertificates]
    );
    let sts = message(&advice, ReasonCode::StsFailures);
    assert!(
        sts.starts_with(
            "mx2.example.com failed `certificate-host-mismatch` in 31 sessions from 2 reporters \
             (Google Inc., Microsoft Corporation) on Dec 3–5: its certificate names \
             mail.example.net; fix: install on mx2.example.com a certificate whose \
             subjectAltName includes mx2.example.com, then wait until these failures leave the \
             window (after Dec 19)"
        ),
        "{sts}"
    );
    let certs: Vec<&str> = advice
        .failing()
        .filter(|r| r.code == ReasonCode::MxCertificates)
        .map(|r| r.message.as_str())
        .collect();
    assert_eq!(
        certs,
        [
            "the MX host mx2.example.com presents a certificate senders refuse: its certificate \
          names mail.example.net; fix: install on mx2.example.com a certificate for \
          mx2.example.com from a public CA"
        ]
    );
    // No next step while failures stand.
    assert_eq!(advice.next, None);
}

#[test]
fn a_fixed_mx_still_waits_for_its_failures_to_leave_the_window_unless_a_rate_is_allowed() {
    let check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    let failures = vec![failure(
        "mx.example.com",
        ResultType::CertificateExpired,
        2,
        "2026-12-02",
        "2026-12-02",
    )];
    let evidence = evidence(&every_day(), TWO, failures, Vec::new());
    let advice = advise(&check, &evidence, &Thresholds::default(), now());
    assert_eq!(failing(&advice), [ReasonCode::StsFailures]);
    assert!(
        message(&advice, ReasonCode::StsFailures)
            .contains(": the live check now finds a valid certificate on mx.example.com;")
    );
    // 2 of 2802 sessions: under 0.1 %.
    let allowing = Thresholds {
        max_failure_rate: 0.001,
        ..Thresholds::default()
    };
    let advice = advise(&check, &evidence, &allowing, now());
    assert!(advice.ready, "{:#?}", advice.reasons);
    assert_eq!(
        message(&advice, ReasonCode::StsFailures),
        "2 of 2802 sts sessions failed from 2026-12-01 to 2026-12-14 (0.07 %), within the \
         highest rate allowed (0.10 %)"
    );
    // Failures of other policy types (DANE's `tlsa`) are not the policy's.
    let mut tlsa = evidence.clone();
    tlsa.failures[0].policy_type = PolicyType::Tlsa;
    tlsa.summary.total.policies[0].failed = 0;
    assert!(advise(&check, &tlsa, &Thresholds::default(), now()).ready);
}

#[test]
fn an_mx_added_that_the_policy_does_not_cover_gets_a_corrected_policy_now() {
    let check = live(
        Mode::Testing,
        &["mx1.example.com"],
        &["mx1.example.com", "mx2.example.com"],
    );
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert!(!advice.ready);
    assert_eq!(failing(&advice), [ReasonCode::MxCovered]);
    assert_eq!(
        message(&advice, ReasonCode::MxCovered),
        "the MX host mx2.example.com matches no `mx` pattern of the policy (mx1.example.com): an \
         enforcing sender would not deliver to it; publish the policy below, which lists it, \
         with its new id | the MX host mx1.example.com matches the policy's `mx` patterns"
    );
    // What to publish now: the testing policy covering both, with a new id.
    let next = advice.next.expect("a corrected policy");
    assert_eq!(
        next.policy,
        "version: STSv1\nmode: testing\nmx: mx1.example.com\nmx: mx2.example.com\nmax_age: \
         604800\n"
    );
    assert!(!next.sts_record.contains("20261201"));
    // Enforcing, the same correction keeps the mode.
    let check = live(
        Mode::Enforce,
        &["mx1.example.com"],
        &["mx1.example.com", "mx2.example.com"],
    );
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(failing(&advice), [ReasonCode::MxCovered]);
    assert!(
        advice
            .next
            .expect("a corrected policy")
            .policy
            .contains("mode: enforce\nmx: mx1.example.com\nmx: mx2.example.com\n")
    );
}

#[test]
fn a_certificate_expiring_within_the_days_required_is_not_ready() {
    let mut check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    check.mx_hosts[0] = probe(
        "mx.example.com",
        Some(certificate(&["mx.example.com"], 10, true)),
    );
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(failing(&advice), [ReasonCode::MxCertificates]);
    assert_eq!(
        message(&advice, ReasonCode::MxCertificates),
        "the certificate of the MX host mx.example.com expires in 10 days; more than 14 days are \
         needed: renew it now, and automate renewal"
    );
    // The boundary: 14 days left is not more than 14; 15 is.
    for (days, ready) in [(14, false), (15, true)] {
        check.mx_hosts[0] = probe(
            "mx.example.com",
            Some(certificate(&["mx.example.com"], days, true)),
        );
        let advice = advise(
            &check,
            &evidence(&every_day(), TWO, Vec::new(), Vec::new()),
            &Thresholds::default(),
            now(),
        );
        assert_eq!(advice.ready, ready, "{days} days left");
    }
    // A host without STARTTLS, or not probed, has no certificate to judge.
    check.mx_hosts[0] = probe("mx.example.com", None);
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert!(
        message(&advice, ReasonCode::MxCertificates)
            .contains("could not be seen: it does not offer STARTTLS")
    );
    check.mx_hosts.clear();
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert!(message(&advice, ReasonCode::MxCertificates).contains("it was not probed"));
}

#[test]
fn errors_of_the_live_check_and_an_incomplete_check_are_not_ready() {
    let mut check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    check.findings.push(finding(
        FindingCode::PolicyContentType,
        "the policy is served as text/html",
    ));
    // Warnings do not stop a rollout.
    check
        .findings
        .push(finding(FindingCode::PolicyModeTesting, "mode testing"));
    let evidence = evidence(&every_day(), TWO, Vec::new(), Vec::new());
    let advice = advise(&check, &evidence, &Thresholds::default(), now());
    assert_eq!(failing(&advice), [ReasonCode::LiveCheck]);
    assert_eq!(
        message(&advice, ReasonCode::LiveCheck),
        "the live check of example.com found `policy-content-type`: the policy is served as \
         text/html; fix: fix it"
    );
    let mut check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    check.outcome = Outcome::Incomplete;
    check.incomplete = Some("1 lookup got no usable answer: timed out".to_string());
    let advice = advise(&check, &evidence, &Thresholds::default(), now());
    assert_eq!(failing(&advice), [ReasonCode::LiveCheck]);
    assert!(message(&advice, ReasonCode::LiveCheck).contains("could not be completed"));
}

#[test]
fn a_missing_tlsrpt_record_means_no_evidence() {
    let mut check = live(Mode::Testing, &["mx.example.com"], &["mx.example.com"]);
    check.tlsrpt_record = None;
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(failing(&advice), [ReasonCode::TlsrptRecord]);
    assert!(message(&advice, ReasonCode::TlsrptRecord).ends_with(
        "publish _smtp._tls.example.com. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@example.com\""
    ));
}

#[test]
fn a_domain_without_mta_sts_is_ready_to_start_testing() {
    let check = without_mta_sts(&["mx.example.com"]);
    let advice = advise(
        &check,
        &evidence(&[], &[], Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(advice.stage, Stage::None);
    assert!(advice.ready, "{:#?}", advice.reasons);
    let next = advice.next.expect("a testing policy");
    assert_eq!(
        next.policy,
        "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n"
    );
    // Without a TLS-RPT record it would learn nothing from testing; with a null MX there is
    // nothing to protect.
    let mut check = without_mta_sts(&["mx.example.com"]);
    check.tlsrpt_record = None;
    let advice = advise(
        &check,
        &evidence(&[], &[], Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(failing(&advice), [ReasonCode::TlsrptRecord]);
    assert_eq!(advice.next, None);
    let mut check = without_mta_sts(&[]);
    check.mx = Some(MxSet {
        hosts: Vec::new(),
        null_mx: true,
    });
    let advice = advise(
        &check,
        &evidence(&[], &[], Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(failing(&advice), [ReasonCode::MxHosts]);
}

#[test]
fn a_policy_over_no_mx_hosts_is_never_ready() {
    let mut check = live(Mode::Enforce, &["mx.example.com"], &[]);
    check.mx = Some(MxSet {
        hosts: Vec::new(),
        null_mx: true,
    });
    check.findings.push(finding(
        FindingCode::MxNone,
        "example.com publishes a null MX, yet has an MTA-STS policy",
    ));
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), Vec::new()),
        &Thresholds::default(),
        now(),
    );
    assert!(!advice.ready);
    assert_eq!(failing(&advice), [ReasonCode::MxHosts]);
    assert!(
        message(&advice, ReasonCode::MxHosts).ends_with("or retire the policy with `mode: none`")
    );
    assert_eq!(advice.next, None);
}

#[test]
fn enforcing_without_failures_is_fine_and_regressions_say_what_they_cost() {
    let check = live(Mode::Enforce, &["mx.example.com"], &["mx.example.com"]);
    let policies = vec![
        seen("testing", 86_400, "2026-11-20", "2026-12-06"),
        seen("enforce", 604_800, "2026-12-06", "2026-12-14"),
    ];
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), policies.clone()),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(advice.stage, Stage::Enforce);
    assert!(advice.ready, "{:#?}", advice.reasons);
    assert_eq!(advice.next, None);
    assert!(message(&advice, ReasonCode::Regressions).starts_with(
        "no sts failures were reported about example.com since enforcing began on Dec 6"
    ));
    // Failures before enforcing are not regressions; those after are.
    let failures = vec![
        failure(
            "mx.example.com",
            ResultType::StarttlsNotSupported,
            4,
            "2026-12-02",
            "2026-12-03",
        ),
        failure(
            "mx.example.com",
            ResultType::CertificateExpired,
            57,
            "2026-12-09",
            "2026-12-11",
        ),
    ];
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, failures, policies),
        &Thresholds::default(),
        now(),
    );
    assert!(!advice.ready);
    assert_eq!(advice.regressions().count(), 1);
    assert_eq!(
        message(&advice, ReasonCode::Regressions),
        "mx.example.com failed `certificate-expired` in 57 sessions from 2 reporters (Google \
         Inc., Microsoft Corporation) on Dec 9–11 since enforcing began on Dec 6: enforcing \
         senders did not deliver those 57 messages: the live check now finds a valid \
         certificate on mx.example.com; fix: renew the certificate of mx.example.com, and \
         automate renewal"
    );
    assert_eq!(
        advice.verdict(),
        "not ready to keep enforcing: 1 condition fails (regressions)"
    );
}

#[test]
fn retiring_waits_for_the_old_max_age_then_says_to_remove_the_records() {
    let check = live(Mode::None, &["mx.example.com"], &["mx.example.com"]);
    // Senders still reported the enforce policy (a week) on Dec 10: copies last to Dec 17.
    let policies = vec![
        seen("enforce", 604_800, "2026-06-01", "2026-12-10"),
        seen("none", 86_400, "2026-12-10", "2026-12-14"),
    ];
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), policies),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(advice.stage, Stage::Retiring);
    assert!(!advice.ready);
    assert_eq!(failing(&advice), [ReasonCode::OldPolicyExpired]);
    assert_eq!(
        message(&advice, ReasonCode::OldPolicyExpired),
        "senders reported using the enforce policy (max_age 604800 s) on Dec 10; a sender that \
         fetched it then may keep it until Dec 18: keep serving `mode: none` (with its new id) \
         until then, and only then remove the `_mta-sts` record, then the policy file"
    );
    assert_eq!(advice.next, None);
    // Once every copy has expired, remove.
    let policies = vec![
        seen("enforce", 604_800, "2026-06-01", "2026-12-05"),
        seen("none", 86_400, "2026-12-05", "2026-12-14"),
    ];
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), policies),
        &Thresholds::default(),
        now(),
    );
    assert!(advice.ready, "{:#?}", advice.reasons);
    assert!(message(&advice, ReasonCode::OldPolicyExpired).ends_with(
        "remove the `_mta-sts` record first, then the policy file and the mta-sts host"
    ));
}

#[test]
fn the_stage_falls_back_to_what_senders_saw_when_the_policy_cannot_be_read_now() {
    let mut check = live(Mode::Enforce, &["mx.example.com"], &["mx.example.com"]);
    check.policy = None;
    check.findings.push(finding(
        FindingCode::PolicyHttpStatus,
        "the policy URL answers 404",
    ));
    // Mail.ru's reports carry no policy text: they say nothing of the mode.
    let mut mailru = seen("enforce", 0, "2026-12-01", "2026-12-14");
    mailru.policy_string.clear();
    let policies = vec![seen("enforce", 604_800, "2026-11-01", "2026-12-13"), mailru];
    let advice = advise(
        &check,
        &evidence(&every_day(), TWO, Vec::new(), policies),
        &Thresholds::default(),
        now(),
    );
    assert_eq!(advice.stage, Stage::Enforce);
    assert_eq!(failing(&advice), [ReasonCode::LiveCheck]);
    assert!(
        message(&advice, ReasonCode::Regressions)
            .contains("while enforcing (throughout the window, since Dec 1)")
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// 1 to 4 MX hosts under example.com, and which of them the policy lists (or a wildcard).
    fn hosts_and_patterns() -> impl Strategy<Value = (Vec<String>, Vec<String>, bool)> {
        (
            proptest::collection::btree_set("[a-z][a-z0-9]{0,6}", 1..=4),
            proptest::collection::vec(any::<bool>(), 4),
            any::<bool>(),
        )
            .prop_map(|(labels, listed, wildcard)| {
                let hosts: Vec<String> = labels
                    .into_iter()
                    .map(|label| format!("{label}.example.com"))
                    .collect();
                let mut patterns: Vec<String> = if wildcard {
                    vec!["*.example.com".to_string()]
                } else {
                    hosts
                        .iter()
                        .zip(&listed)
                        .filter(|(_, listed)| **listed)
                        .map(|(host, _)| host.clone())
                        .collect()
                };
                if patterns.is_empty() {
                    // A policy needs one pattern; an old host's is as good as any.
                    patterns.push("old.example.com".to_string());
                }
                let enforce = listed[3];
                (hosts, patterns, enforce)
            })
    }

    proptest! {
        /// Whatever the MX hosts and the patterns: ready exactly when no reason fails, failing
        /// reasons first, one coverage reason per MX host; and whatever is to be published is a
        /// policy a sender reads, covering every MX host, announced with its own content id.
        #[test]
        fn advice_is_consistent_and_next_covers_every_mx(
            (hosts, patterns, enforce) in hosts_and_patterns(),
            days in 0u32..=14,
        ) {
            let hosts_ref: Vec<&str> = hosts.iter().map(String::as_str).collect();
            let patterns_ref: Vec<&str> = patterns.iter().map(String::as_str).collect();
            let mode = if enforce { Mode::Enforce } else { Mode::Testing };
            let check = live(mode, &patterns_ref, &hosts_ref);
            let report_days: Vec<u32> = (1..=days).collect();
            let advice = advise(
                &check,
                &evidence(&report_days, TWO, Vec::new(), Vec::new()),
                &Thresholds::default(),
                now(),
            );
            prop_assert_eq!(advice.ready, advice.reasons.iter().all(|r| r.ok));
            let first_ok = advice.reasons.iter().position(|r| r.ok).unwrap_or(advice.reasons.len());
            prop_assert!(advice.reasons[first_ok..].iter().all(|r| r.ok));
            let coverage = advice.reasons.iter().filter(|r| r.code == ReasonCode::MxCovered).count();
            prop_assert_eq!(coverage, hosts.len());
            let uncovered = advice
                .reasons
                .iter()
                .any(|r| r.code == ReasonCode::MxCovered && !r.ok);
            prop_assert_eq!(uncovered || (advice.ready && !enforce), advice.next.is_some());
            if let Some(next) = &advice.next {
                let policy = Policy::parse(next.policy.as_bytes());
                prop_assert!(policy.is_ok(), "{}", next.policy);
                let policy = policy.expect("checked");
                for host in &hosts {
                    prop_assert!(policy.matches_mx(host), "{} not in {}", host, next.policy);
                }
                let expected_mode = if uncovered { mode } else { Mode::Enforce };
                prop_assert_eq!(policy.mode, expected_mode);
                let id = mta_sts_core::sts_record::content_id(&next.policy);
                let ending = format!("id={id}\"");
                prop_assert!(next.sts_record.ends_with(&ending));
            }
        }
    }
}
