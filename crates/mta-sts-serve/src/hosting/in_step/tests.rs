use super::*;

#[test]
fn the_id_is_read_as_a_sender_reads_it() {
    let one = |records: &[&str]| dns_id(&records.iter().map(|r| r.to_string()).collect::<Vec<_>>());
    assert_eq!(one(&["v=STSv1; id=abc123"]), Some("abc123".to_string()));
    // Other TXT records beside it are discarded (RFC 8461 §3.1).
    assert_eq!(
        one(&["unrelated", "v=STSv1; id=abc123"]),
        Some("abc123".to_string())
    );
    // Two STS records, or an invalid one, mean no policy: no id is in step.
    assert_eq!(one(&["v=STSv1; id=a", "v=STSv1; id=b"]), None);
    assert_eq!(one(&["v=STSv1; id=not-valid!"]), None);
    assert_eq!(one(&[]), None);
    assert_eq!(
        dns_id_of_strings(&[vec![b"v=STSv1; ".to_vec(), b"id=split".to_vec()]]),
        Some("split".to_string())
    );
}

#[test]
fn the_record_line_is_what_a_zone_file_takes() {
    assert_eq!(
        zone_line("example.com", 300, "0123abcd"),
        "_mta-sts.example.com. 300 IN TXT \"v=STSv1; id=0123abcd\""
    );
}

#[test]
fn statuses_of_domains_no_longer_hosted_are_dropped() {
    let statuses = IdStatuses::default();
    for domain in ["a.example", "b.example"] {
        statuses.set(IdStatus {
            domain: domain.into(),
            id: "1".into(),
            record: zone_line(domain, 300, "1"),
            state: IdState::NotUpdatedYet,
            method: IdMethod::ByHand,
            dns_id: None,
            served_since: Timestamp::UNIX_EPOCH,
            checked: None,
            problem: None,
        });
    }
    statuses.retain(&["b.example".to_string()]);
    assert!(statuses.get("a.example").is_none());
    assert_eq!(
        statuses.get("b.example").map(|s| s.state),
        Some(IdState::NotUpdatedYet)
    );
}

fn zone(name: &str) -> ZoneUpdater {
    let key = mta_sts_net::TsigKey::new("k", mta_sts_net::TsigAlgorithm::HmacSha256, vec![1; 32])
        .expect("a key");
    ZoneUpdater {
        zone: name.into(),
        ttl: 300,
        updater: DnsUpdater::new(mta_sts_net::UpdateConfig {
            server: "127.0.0.1:53".parse().expect("address"),
            zone: name.into(),
            key,
            timeout: Duration::from_secs(1),
        })
        .expect("an updater"),
    }
}

#[test]
fn the_longest_zone_holding_the_domain_wins() {
    let settings = InStepSettings {
        zones: vec![zone("example.com"), zone("mail.example.com")],
        ..InStepSettings::default()
    };
    let zone = |domain| settings.zone_for(domain).map(|z| z.zone.as_str());
    assert_eq!(zone("example.com"), Some("example.com"));
    assert_eq!(zone("shop.example.com"), Some("example.com"));
    assert_eq!(zone("mail.example.com"), Some("mail.example.com"));
    assert_eq!(zone("eu.mail.example.com"), Some("mail.example.com"));
    assert_eq!(zone("notexample.com"), None);
    assert_eq!(zone("example.net"), None);
}

#[test]
fn each_state_is_said_in_a_sentence() {
    let mut status = IdStatus {
        domain: "example.com".into(),
        id: "new1".into(),
        record: zone_line("example.com", 300, "new1"),
        state: IdState::NotUpdatedYet,
        method: IdMethod::ByHand,
        dns_id: Some("old0".into()),
        served_since: Timestamp::UNIX_EPOCH,
        checked: None,
        problem: None,
    };
    let by_hand = status.sentence();
    assert!(by_hand.starts_with("id not updated yet"), "{by_hand}");
    assert!(by_hand.contains("the id old0"), "{by_hand}");
    assert!(by_hand.contains(&status.record), "{by_hand}");
    assert!(by_hand.contains("1970-01-01T00:00:00Z"), "{by_hand}");
    status.method = IdMethod::DnsUpdate;
    status.dns_id = None;
    status.problem = Some("the DNS server refused the update (REFUSED)".into());
    let failing = status.sentence();
    assert!(failing.starts_with("id not updated yet"), "{failing}");
    assert!(failing.contains("no valid _mta-sts record"), "{failing}");
    assert!(failing.contains("REFUSED"), "{failing}");
    status.state = IdState::InStep;
    assert!(!status.sentence().contains("not updated"));
}
