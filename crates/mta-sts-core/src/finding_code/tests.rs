use super::*;

/// The names and severities as the checker published them before the codes were typed: they
/// are a public contract and must never change.
const PUBLISHED: &[(&str, Severity)] = &[
    ("sts-record-missing", Severity::Error),
    ("sts-record-multiple", Severity::Error),
    ("sts-record-invalid", Severity::Error),
    ("sts-record-lookup-failed", Severity::Error),
    ("policy-host-unresolvable", Severity::Error),
    ("policy-fetch-failed", Severity::Error),
    ("policy-host-private", Severity::Error),
    ("policy-cert-untrusted", Severity::Error),
    ("policy-cert-hostname", Severity::Error),
    ("policy-cert-expired", Severity::Error),
    ("policy-http-status", Severity::Error),
    ("policy-redirect", Severity::Error),
    ("policy-content-type", Severity::Error),
    ("policy-too-large", Severity::Error),
    ("policy-invalid", Severity::Error),
    ("policy-max-age-low", Severity::Warning),
    ("policy-mode-testing", Severity::Warning),
    ("policy-mode-none", Severity::Warning),
    ("mx-none", Severity::Error),
    ("mx-lookup-failed", Severity::Error),
    ("mx-not-in-policy", Severity::Error),
    ("mx-pattern-unused", Severity::Warning),
    // Added with Postfix 3.10.5's MX rule: a new name, no old one changed.
    ("mx-ip-address", Severity::Error),
    ("mx-unresolvable", Severity::Error),
    ("mx-unreachable", Severity::Warning),
    ("mx-host-private", Severity::Error),
    ("mx-starttls-missing", Severity::Error),
    ("mx-tls-failed", Severity::Error),
    ("mx-cert-untrusted", Severity::Error),
    ("mx-cert-hostname", Severity::Error),
    ("mx-cert-expired", Severity::Error),
    ("cert-expiring-soon", Severity::Warning),
    ("tlsrpt-missing", Severity::Warning),
    ("tlsrpt-multiple", Severity::Error),
    ("tlsrpt-invalid", Severity::Error),
    ("policy-host-cname", Severity::Info),
    ("mx-dane", Severity::Info),
];

#[test]
fn the_names_and_severities_are_exactly_the_published_list() {
    let typed: Vec<(&str, Severity)> = FindingCode::ALL
        .iter()
        .map(|code| (code.as_str(), code.severity()))
        .collect();
    assert_eq!(typed, PUBLISHED);
}

#[test]
fn every_name_round_trips_through_serde_and_from_str() {
    for code in FindingCode::ALL {
        let json = serde_json::to_string(&code).expect("serializes");
        assert_eq!(json, format!("\"{code}\""));
        let back: FindingCode = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, code);
        assert_eq!(code.as_str().parse::<FindingCode>(), Ok(code));
    }
    assert_eq!(
        "mx-not-in-polic".parse::<FindingCode>(),
        Err(UnknownFindingCode("mx-not-in-polic".into()))
    );
    assert!(serde_json::from_str::<FindingCode>("\"MxNone\"").is_err());
}

#[test]
fn sections_follow_the_published_prefixes() {
    // Before the codes were typed the section came from the name's prefix; the typed table
    // keeps every code where that rule put it.
    for code in FindingCode::ALL {
        let name = code.as_str();
        let by_prefix = if name.starts_with("sts-record") {
            Section::Records
        } else if name.starts_with("policy-") {
            Section::Policy
        } else if name.starts_with("tlsrpt-") {
            Section::TlsRpt
        } else {
            Section::MxHosts
        };
        assert_eq!(code.section(), by_prefix, "{name}");
    }
}
