use super::*;

const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";

#[test]
fn algorithms_are_read_by_their_server_names() {
    for (text, algorithm) in [
        ("hmac-sha256", TsigAlgorithm::HmacSha256),
        ("HMAC-SHA384", TsigAlgorithm::HmacSha384),
        ("hmac-sha512.", TsigAlgorithm::HmacSha512),
    ] {
        assert_eq!(
            text.parse::<TsigAlgorithm>().ok(),
            Some(algorithm),
            "{text}"
        );
        assert_eq!(
            algorithm.as_str().parse::<TsigAlgorithm>().ok(),
            Some(algorithm)
        );
    }
    // RFC 8945 §6 deprecates or does not recommend these; an unknown name is refused, not
    // defaulted.
    for refused in ["hmac-md5", "hmac-sha1", "sha256", ""] {
        assert!(refused.parse::<TsigAlgorithm>().is_err(), "{refused}");
    }
    assert_eq!(TsigAlgorithm::default(), TsigAlgorithm::HmacSha256);
}

#[test]
fn secrets_are_found_in_every_key_file_format() {
    let expected = data_encoding::BASE64
        .decode(SECRET.as_bytes())
        .expect("the test secret");
    // The secret alone, with a newline.
    assert_eq!(
        secret_in_key_file(&format!("{SECRET}\n")),
        Some(expected.clone())
    );
    // BIND's tsig-keygen.
    let bind = format!(
        "key \"mta-sts-update\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{SECRET}\";\n}};\n"
    );
    assert_eq!(secret_in_key_file(&bind), Some(expected.clone()));
    // Knot's keymgr -t.
    let knot = format!(
        "# hmac-sha256:mta-sts-update:{SECRET}\nkey:\n  - id: mta-sts-update\n    algorithm: \
         hmac-sha256\n    secret: {SECRET}\n"
    );
    assert_eq!(secret_in_key_file(&knot), Some(expected));
    // Not base64, or empty: no secret rather than a wrong one.
    assert_eq!(secret_in_key_file("not a secret!"), None);
    assert_eq!(secret_in_key_file(""), None);
    assert_eq!(secret_in_key_file("secret \"\";"), None);
}

#[test]
fn keys_need_a_name_and_a_secret_and_never_show_it() {
    let key = TsigKey::from_base64("Update-Key.", TsigAlgorithm::HmacSha256, SECRET)
        .expect("a valid key");
    assert_eq!(key.name(), "update-key");
    assert_eq!(key.algorithm(), TsigAlgorithm::HmacSha256);
    assert!(!format!("{key:?}").contains(SECRET));
    assert!(TsigKey::from_base64("k", TsigAlgorithm::HmacSha256, "%%%").is_err());
    assert!(TsigKey::new("k", TsigAlgorithm::HmacSha256, Vec::new()).is_err());
    assert!(TsigKey::new("", TsigAlgorithm::HmacSha256, vec![1]).is_err());
    assert!(TsigKey::new("a..b", TsigAlgorithm::HmacSha256, vec![1]).is_err());
}

#[test]
fn a_missing_secret_file_is_named() {
    let path = Path::new("/nonexistent/mta-sts-update.key");
    match TsigKey::from_secret_file("k", TsigAlgorithm::HmacSha256, path) {
        Err(Error::Config(message)) => assert!(message.contains("/nonexistent/mta-sts-update.key")),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

fn updater() -> DnsUpdater {
    DnsUpdater::new(UpdateConfig {
        server: "127.0.0.1:53".parse().expect("an address"),
        zone: "Example.COM".into(),
        key: TsigKey::from_base64("k", TsigAlgorithm::HmacSha256, SECRET).expect("a key"),
        timeout: Duration::from_secs(1),
    })
    .expect("an updater")
}

#[test]
fn names_outside_the_zone_are_refused_before_sending() {
    let updater = updater();
    assert_eq!(updater.zone(), "example.com");
    assert!(updater.covers("_mta-sts.example.com"));
    assert!(updater.covers("example.com."));
    assert!(!updater.covers("_mta-sts.example.net"));
    assert!(!updater.covers("notexample.com"));
    assert!(matches!(
        updater.owner("_mta-sts.example.net"),
        Err(UpdateError::BadName(message)) if message.contains("example.com")
    ));
    assert!(matches!(
        updater.owner("a..b"),
        Err(UpdateError::BadName(_))
    ));
}

#[test]
fn a_replacement_deletes_the_rrset_and_adds_the_record_in_one_message() {
    let zone = absolute_name("example.com").expect("zone");
    let owner = absolute_name("_mta-sts.example.com").expect("owner");
    let message = replace_txt_message(&zone, owner.clone(), 300, "v=STSv1; id=abc");
    assert_eq!(message.metadata.op_code, OpCode::Update);
    // RFC 2136 §2.3: one zone, type SOA, class IN.
    assert_eq!(message.queries.len(), 1);
    assert_eq!(message.queries[0].name(), &zone);
    assert_eq!(message.queries[0].query_type(), RecordType::SOA);
    assert_eq!(message.queries[0].query_class(), DNSClass::IN);
    // No prerequisites; the update section deletes, then adds.
    assert!(message.answers.is_empty());
    let [delete, add] = &message.authorities[..] else {
        panic!("two update records expected: {:?}", message.authorities);
    };
    assert_eq!(delete.name, owner);
    assert_eq!(delete.dns_class, DNSClass::ANY);
    assert_eq!(delete.ttl, 0);
    assert_eq!(delete.data, RData::Update0(RecordType::TXT));
    assert_eq!(add.name, owner);
    assert_eq!(add.dns_class, DNSClass::IN);
    assert_eq!(add.ttl, 300);
    assert_eq!(
        add.data,
        RData::TXT(TXT::from_bytes(vec![b"v=STSv1; id=abc".as_slice()]))
    );
    // It survives the wire.
    let wire = message.to_vec().expect("encode");
    let decoded = Message::from_vec(&wire).expect("decode");
    assert_eq!(decoded.authorities.len(), 2);
}

#[test]
fn long_values_are_split_into_255_byte_strings() {
    let long = "x".repeat(600);
    let strings = txt_strings(&long);
    assert_eq!(
        strings.iter().map(|s| s.len()).collect::<Vec<_>>(),
        [255, 255, 90]
    );
    assert_eq!(strings.concat(), long.as_bytes());
    assert_eq!(txt_strings("short"), vec![b"short".as_slice()]);
    assert_eq!(txt_strings(""), vec![b"".as_slice()]);
}

#[test]
fn only_failures_of_the_moment_are_transient() {
    assert!(UpdateError::Timeout.is_transient());
    assert!(UpdateError::Transport("reset".into()).is_transient());
    assert!(UpdateError::Rejected("SERVFAIL".into()).is_transient());
    for lasting in [
        UpdateError::Refused,
        UpdateError::BadKey,
        UpdateError::BadSig,
        UpdateError::NotZone,
        UpdateError::NotAuth,
    ] {
        assert!(!lasting.is_transient(), "{lasting}");
    }
}

proptest::proptest! {
    /// Any value is written as strings of at most 255 bytes that a reader joins back to it.
    #[test]
    fn txt_strings_join_back_to_the_value(value in "\\PC{0,700}") {
        let strings = txt_strings(&value);
        proptest::prop_assert!(strings.iter().all(|s| s.len() <= TXT_STRING_MAX));
        proptest::prop_assert_eq!(strings.concat(), value.as_bytes());
        // And the message carrying them survives the wire.
        let zone = absolute_name("example.com").expect("zone");
        let owner = absolute_name("_mta-sts.example.com").expect("owner");
        let wire = replace_txt_message(&zone, owner, 60, &value).to_vec().expect("encode");
        let decoded = Message::from_vec(&wire).expect("decode");
        let RData::TXT(txt) = &decoded.authorities[1].data else {
            return Err(proptest::test_runner::TestCaseError::fail("not a TXT record"));
        };
        proptest::prop_assert_eq!(txt.txt_data.concat(), value.as_bytes());
    }
}
