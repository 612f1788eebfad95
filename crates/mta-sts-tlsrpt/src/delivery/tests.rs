use std::collections::BTreeMap;

use super::*;

fn deliverer(from: Option<&str>, by_domain: &[(&str, &str)]) -> Deliverer {
    Deliverer::new(&DeliverySettings {
        mail: MailSettings {
            from: from.map(String::from),
            from_by_domain: by_domain
                .iter()
                .map(|(d, f)| (d.to_string(), f.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..MailSettings::default()
        },
        ..DeliverySettings::default()
    })
    .expect("deliverer")
}

#[test]
fn the_most_specific_sender_wins_on_label_boundaries() {
    let d = deliverer(
        Some("default@sender.test"),
        &[
            ("example.net", "net@sender.test"),
            ("mail.example.net.", "mail@sender.test"),
            ("ample.net", "wrong@sender.test"),
        ],
    );
    assert_eq!(d.sender_for("example.net"), Some("net@sender.test"));
    assert_eq!(d.sender_for("a.mail.example.net"), Some("mail@sender.test"));
    assert_eq!(d.sender_for("other.example.net"), Some("net@sender.test"));
    // `ample.net` is not a parent of `example.net`.
    assert_eq!(d.sender_for("xexample.net"), Some("default@sender.test"));
    assert_eq!(d.sender_for("example.org"), Some("default@sender.test"));
    assert_eq!(deliverer(None, &[]).sender_for("example.org"), None);
}

#[test]
fn without_a_sender_mail_waits_for_the_setting() {
    let report = OutboxReport {
        day: mta_sts_core::time::UtcDate::parse("2026-12-06").expect("day"),
        domain: "example.org".into(),
        tlsrpt_record: "v=TLSRPTv1; rua=mailto:r@example.org".into(),
        report_id: "r".into(),
        organization_name: "o".into(),
        submitter: "sender.test".into(),
        file_name: "f.json.gz".into(),
        gzip: Vec::new(),
    };
    let failure = deliverer(None, &[])
        .mail_message(&report, "mailto:r@example.org", Timestamp::UNIX_EPOCH)
        .expect_err("no sender");
    assert_eq!(failure.permanence, Permanence::Temporary);
    assert!(failure.message.contains("mail.from"), "{}", failure.message);
}
