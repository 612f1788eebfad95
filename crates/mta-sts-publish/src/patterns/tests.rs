use super::*;

fn patterns(hosts: &[&str], wildcard: bool) -> Vec<String> {
    let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_string()).collect();
    mx_patterns("acme.test", &hosts, wildcard)
        .expect("valid hosts")
        .into_iter()
        .map(|p| p.pattern)
        .collect()
}

#[test]
fn one_line_per_host_lowercase_sorted_deduplicated_without_the_trailing_dot() {
    assert_eq!(
        patterns(&["MX2.Acme.TEST.", "mx1.acme.test", "mx2.acme.test"], false),
        ["mx1.acme.test", "mx2.acme.test"]
    );
}

#[test]
fn microsoft_365_hosts_become_its_wildcard() {
    let out = mx_patterns(
        "contoso.com",
        &["contoso-com.mail.protection.outlook.com.".to_string()],
        false,
    )
    .expect("valid");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].pattern, "*.mail.protection.outlook.com");
    assert_eq!(out[0].covers, ["contoso-com.mail.protection.outlook.com"]);
    assert_eq!(
        out[0].reason,
        PatternReason::Provider {
            provider: "Microsoft 365"
        }
    );
}

#[test]
fn google_workspace_keeps_its_primary_on_its_own_line() {
    // RFC 8461 §4.1: `*.aspmx.l.google.com` matches one label more, not aspmx.l.google.com.
    let out = patterns(
        &[
            "aspmx.l.google.com",
            "alt1.aspmx.l.google.com",
            "alt2.aspmx.l.google.com",
            "aspmx2.googlemail.com",
            "aspmx3.googlemail.com",
        ],
        false,
    );
    assert_eq!(
        out,
        [
            "*.aspmx.l.google.com",
            "*.googlemail.com",
            "aspmx.l.google.com"
        ]
    );
}

#[test]
fn wildcard_collapses_hosts_sharing_a_parent_and_leaves_lone_hosts() {
    let hosts = ["mx1.acme.test", "mx2.acme.test", "backup.acme.net"];
    assert_eq!(
        patterns(&hosts, false),
        ["backup.acme.net", "mx1.acme.test", "mx2.acme.test"]
    );
    assert_eq!(patterns(&hosts, true), ["*.acme.test", "backup.acme.net"]);
}

#[test]
fn wildcard_never_makes_a_pattern_over_a_top_level_domain() {
    // `*.test` would be flagged too broad by the linter; the hosts stay as they are.
    assert_eq!(patterns(&["a.test", "b.test"], true), ["a.test", "b.test"]);
}

#[test]
fn hosts_no_sender_could_match_are_refused_with_the_host_named() {
    for bad in [
        "192.0.2.25",
        "*.acme.test",
        "mx_1.acme.test",
        "mx..acme.test",
    ] {
        match mx_patterns("acme.test", &[bad.to_string()], false) {
            Err(PublishError::InvalidMxHost { host, .. }) => {
                assert_eq!(host, bad.to_ascii_lowercase(), "{bad}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn every_host_is_matched_by_some_pattern() {
    let hosts: Vec<String> = [
        "mx1.acme.test",
        "mx2.acme.test",
        "t-1.mail.protection.outlook.com",
        "aspmx.l.google.com",
        "alt4.aspmx.l.google.com",
        "in1-smtp.messagingengine.com",
    ]
    .iter()
    .map(|h| (*h).to_string())
    .collect();
    for wildcard in [false, true] {
        let out = mx_patterns("acme.test", &hosts, wildcard).expect("valid");
        for host in &hosts {
            assert!(
                out.iter().any(|p| MxPattern::parse(&p.pattern)
                    .expect("valid pattern")
                    .matches(host)),
                "{host} (wildcard {wildcard})"
            );
        }
    }
}
