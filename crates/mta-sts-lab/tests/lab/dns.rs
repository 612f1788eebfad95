//! The authoritative DNS server.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{
        Name, RData, RecordType,
        rdata::{
            TLSA,
            tlsa::{CertUsage, Matching, Selector},
        },
    },
};
use mta_sts_lab::{DnsRecord, Lab, REVERSE_NAMES, RecordData, TlsaAssociation, catalog};

use crate::support::{Ask, dns, dns_asking, dns_tcp, dns_udp, renamed};

fn txt_strings(answer: &Message) -> Vec<Vec<String>> {
    answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn loopback_clients_have_reverse_names_and_only_the_first_resolves_back() {
    let lab = Lab::start().await.expect("lab starts");
    for (address, name) in REVERSE_NAMES {
        let reverse = Name::from(std::net::IpAddr::V4(address)).to_ascii();
        let answer = dns(&lab, &reverse, RecordType::PTR).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        let targets: Vec<String> = answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(target) => Some(target.0.to_ascii()),
                _ => None,
            })
            .collect();
        assert_eq!(targets, [format!("{name}.")]);
    }
    let forward = |name: &str| format!("{name}.");
    let confirmed = dns(&lab, &forward(REVERSE_NAMES[0].1), RecordType::A).await;
    assert!(
        confirmed
            .answers
            .iter()
            .any(|r| matches!(&r.data, RData::A(a) if a.0 == REVERSE_NAMES[0].0))
    );
    let claimed = dns(&lab, &forward(REVERSE_NAMES[1].1), RecordType::A).await;
    assert_eq!(claimed.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn multi_string_txt_keeps_its_strings_apart() {
    let lab = Lab::start().await.expect("lab starts");
    let answer = dns(&lab, "_mta-sts.sts-split.test.", RecordType::TXT).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.authoritative);
    assert_eq!(
        txt_strings(&answer),
        vec![vec![
            "v=STSv1; id=2026".to_owned(),
            "0101T000000;".to_owned()
        ]]
    );
}

#[tokio::test]
async fn several_txt_records_at_one_name() {
    let lab = Lab::start().await.expect("lab starts");
    let answer = dns(&lab, "_mta-sts.sts-multiple.test.", RecordType::TXT).await;
    let mut records = txt_strings(&answer);
    records.sort();
    assert_eq!(
        records,
        vec![
            vec!["v=STSv1; id=20260101T000000;".to_owned()],
            vec!["v=STSv1; id=20260201T000000;".to_owned()],
        ]
    );
    let answer = dns(&lab, "_smtp._tls.tlsrpt-multiple.test.", RecordType::TXT).await;
    assert_eq!(txt_strings(&answer).len(), 2);
}

#[tokio::test]
async fn mx_records_including_the_null_mx() {
    let lab = Lab::start().await.expect("lab starts");
    let answer = dns(&lab, "healthy-enforce.test.", RecordType::MX).await;
    let mx: Vec<_> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(mx, vec![(10, "mx.healthy-enforce.test.".to_owned())]);

    let answer = dns(&lab, "null-mx.test.", RecordType::MX).await;
    let [record] = answer.answers.as_slice() else {
        panic!("one null MX: {:?}", answer.answers);
    };
    let RData::MX(mx) = &record.data else {
        panic!("not an MX: {record:?}");
    };
    // RFC 7505 §3: preference 0, exchange the root.
    assert_eq!(mx.preference, 0);
    assert!(mx.exchange.is_root());
}

#[tokio::test]
async fn policy_host_cname_is_followed_to_its_address() {
    let lab = Lab::start().await.expect("lab starts");
    let answer = dns(&lab, "mta-sts.policy-cname.test.", RecordType::A).await;
    let chain: Vec<_> = answer.answers.iter().map(|r| r.data.clone()).collect();
    assert_eq!(
        chain,
        vec![
            RData::CNAME(hickory_proto::rr::rdata::CNAME(
                Name::from_ascii("web.policy-cname.test.").expect("name")
            )),
            RData::A(Ipv4Addr::LOCALHOST.into()),
        ]
    );
}

#[tokio::test]
async fn nxdomain_and_nodata_are_told_apart() {
    let lab = Lab::start().await.expect("lab starts");
    // The name does not exist at all: NXDOMAIN.
    let answer = dns(&lab, "mta-sts.policy-host-missing.test.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert!(
        answer
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::SOA)
    );
    let answer = dns(&lab, "_mta-sts.sts-missing.test.", RecordType::TXT).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    let answer = dns(&lab, "mx.mx-no-address.test.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    // The name exists, without the asked type: NOERROR and no answers (NODATA).
    let answer = dns(&lab, "mx.healthy-enforce.test.", RecordType::TXT).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.answers.is_empty());
    // RFC 2308 §2.2: a negative answer carries the zone's SOA, so resolvers can cache it.
    assert!(
        answer
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::SOA),
        "{:?}",
        answer.authorities
    );
    let answer = dns(&lab, "mx.sts-split.test.", RecordType::AAAA).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.answers.is_empty());
}

#[tokio::test]
async fn healthy_scenario_has_aaaa_loopback() {
    let lab = Lab::start().await.expect("lab starts");
    let answer = dns(&lab, "mx.healthy-enforce.test.", RecordType::AAAA).await;
    if lab.ipv6() {
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(
            answer.answers[0].data,
            RData::AAAA(Ipv6Addr::LOCALHOST.into())
        );
    } else {
        assert!(answer.answers.is_empty());
    }
}

#[tokio::test]
async fn servfail_domain_fails_every_query() {
    let lab = Lab::start().await.expect("lab starts");
    for name in [
        "servfail.test.",
        "_mta-sts.servfail.test.",
        "a.b.servfail.test.",
    ] {
        for rtype in [RecordType::TXT, RecordType::MX, RecordType::A] {
            let answer = dns(&lab, name, rtype).await;
            assert_eq!(
                answer.metadata.response_code,
                ResponseCode::ServFail,
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn timeout_domain_never_answers() {
    let lab = Lab::start().await.expect("lab starts");
    for name in ["dns-timeout.test.", "_mta-sts.dns-timeout.test."] {
        let answer = dns_udp(&lab, name, RecordType::TXT, Duration::from_secs(1)).await;
        assert!(answer.is_none(), "{name} answered: {answer:?}");
    }
    // The server is still alive for everyone else.
    let answer = dns(&lab, "healthy-enforce.test.", RecordType::MX).await;
    assert_eq!(answer.answers.len(), 1);
}

#[tokio::test]
async fn tcp_answers_like_udp() {
    let lab = Lab::start().await.expect("lab starts");
    let answer = dns_tcp(&lab, "_mta-sts.sts-split.test.", RecordType::TXT).await;
    assert_eq!(txt_strings(&answer).len(), 1);
    let answer = dns_tcp(&lab, "nothing-here.test.", RecordType::TXT).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn outside_the_zone_is_refused() {
    let lab = Lab::start().await.expect("lab starts");
    let answer = dns(&lab, "example.com.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);
}

/// Every record of every scenario is served, as declared.
#[tokio::test]
async fn every_catalog_record_is_served() {
    let lab = Lab::start().await.expect("lab starts");
    for scenario in lab.scenarios() {
        for record in &scenario.records {
            let (rtype, expected) = match &record.data {
                RecordData::A(a) => (RecordType::A, RData::A((*a).into())),
                RecordData::Aaaa(a) if !lab.ipv6() && a.is_loopback() => continue,
                RecordData::Aaaa(a) => (RecordType::AAAA, RData::AAAA((*a).into())),
                RecordData::Cname(target) => (
                    RecordType::CNAME,
                    RData::CNAME(hickory_proto::rr::rdata::CNAME(
                        Name::from_ascii(format!("{target}.")).expect("name"),
                    )),
                ),
                RecordData::Mx {
                    preference,
                    exchange,
                } => (
                    RecordType::MX,
                    RData::MX(hickory_proto::rr::rdata::MX::new(
                        *preference,
                        if exchange == "." {
                            Name::root()
                        } else {
                            Name::from_ascii(format!("{exchange}.")).expect("name")
                        },
                    )),
                ),
                RecordData::Txt(strings) => (
                    RecordType::TXT,
                    RData::TXT(hickory_proto::rr::rdata::TXT::new(strings.clone())),
                ),
                RecordData::Tlsa {
                    usage,
                    selector,
                    matching,
                    association,
                } => (
                    RecordType::TLSA,
                    RData::TLSA(TLSA::new(
                        CertUsage::from(*usage),
                        Selector::from(*selector),
                        Matching::from(*matching),
                        match association {
                            TlsaAssociation::Bytes(bytes) => bytes.clone(),
                            TlsaAssociation::LabLeafSpkiSha256 => lab.leaf_spki_sha256().to_vec(),
                            other => panic!("unexpected TLSA association {other:?}"),
                        },
                    )),
                ),
                other => panic!("unexpected record data {other:?}"),
            };
            let answer = dns(&lab, &format!("{}.", record.name), rtype).await;
            assert!(
                answer.answers.iter().any(|r| r.data == expected),
                "{}: {} {rtype} missing from {:?}",
                scenario.name,
                record.name,
                answer.answers
            );
        }
    }
}

/// The signed scenario's names are answered with AD when the query asks, as a validating resolver
/// answers; unsigned names never are, and nobody gets AD without asking (RFC 6840 §5.7).
#[tokio::test]
async fn signed_zones_answer_with_the_ad_bit_when_asked() {
    let lab = Lab::start().await.expect("lab starts");
    let ad = Ask {
        ad: true,
        dnssec_ok: false,
    };
    let dnssec_ok = Ask {
        ad: false,
        dnssec_ok: true,
    };
    let signed = lab.scenario("dane-signed").expect("scenario");
    let unsigned = lab.scenario("dane-unsigned").expect("scenario");
    assert!(signed.signed && !unsigned.signed);

    for ask in [ad, dnssec_ok] {
        let mx = dns_asking(&lab, &format!("{}.", signed.domain), RecordType::MX, ask).await;
        assert_eq!(mx.answers.len(), 1, "{ask:?}");
        assert!(mx.metadata.authentic_data, "{ask:?}: a signed MX RRset");
        let tlsa = dns_asking(
            &lab,
            &format!("_25._tcp.mx.{}.", signed.domain),
            RecordType::TLSA,
            ask,
        )
        .await;
        assert!(tlsa.metadata.authentic_data, "{ask:?}: a signed TLSA RRset");
        // Authenticated denial is authenticated data too.
        let missing = dns_asking(
            &lab,
            &format!("_25._tcp.nothing.{}.", signed.domain),
            RecordType::TLSA,
            ask,
        )
        .await;
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
        assert!(missing.metadata.authentic_data, "{ask:?}");

        let mx = dns_asking(&lab, &format!("{}.", unsigned.domain), RecordType::MX, ask).await;
        assert_eq!(mx.answers.len(), 1);
        assert!(!mx.metadata.authentic_data, "{ask:?}: an unsigned zone");
        let tlsa = dns_asking(
            &lab,
            &format!("_25._tcp.mx.{}.", unsigned.domain),
            RecordType::TLSA,
            ask,
        )
        .await;
        assert_eq!(tlsa.answers.len(), 1, "the record is there, unsigned");
        assert!(!tlsa.metadata.authentic_data, "{ask:?}");
    }
    // Not asked: no AD, even for the signed zone.
    let plain = dns(&lab, &format!("{}.", signed.domain), RecordType::MX).await;
    assert_eq!(plain.answers.len(), 1);
    assert!(!plain.metadata.authentic_data);
    // The failure domains stay failures, with no AD.
    let failed = dns_asking(&lab, "servfail.test.", RecordType::MX, ad).await;
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
    assert!(!failed.metadata.authentic_data);
    lab.shutdown().await;
}

/// An answer that follows a CNAME chain carries AD only while the chain stays in signed domains
/// (RFC 4035 §3.2.3: AD when every RRset of the answer validated), as dane-cname-mx needs: its
/// MX host is an alias between two signed names, so the expansion is secure (RFC 7672 §2.2.2).
#[tokio::test]
async fn cname_chains_are_authenticated_only_inside_signed_domains() {
    let mut scenarios = catalog();
    // A signed domain with an alias out into the unsigned dane-unsigned.test, and an unsigned
    // one with an alias into the signed dane-cname-mx.test.
    let mut out = renamed("dane-signed", "alias-out", "alias-out.test");
    out.records.push(DnsRecord::new(
        "mx2.alias-out.test",
        RecordData::Cname("mx.dane-unsigned.test".to_owned()),
    ));
    let mut into = renamed("dane-unsigned", "alias-in", "alias-in.test");
    into.records.push(DnsRecord::new(
        "mx2.alias-in.test",
        RecordData::Cname("mx1.provider.dane-cname-mx.test".to_owned()),
    ));
    assert!(out.signed && !into.signed);
    scenarios.extend([out, into]);
    let lab = Lab::start_with(scenarios, 0).await.expect("lab starts");
    let ad = Ask {
        ad: true,
        dnssec_ok: false,
    };
    let cname_of = |answer: &Message| -> Vec<String> {
        answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::CNAME(target) => Some(target.0.to_ascii()),
                _ => None,
            })
            .collect()
    };
    let addresses = |answer: &Message| -> Vec<RData> {
        answer
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::A)
            .map(|r| r.data.clone())
            .collect()
    };

    // Secure: both names signed. The address query shows the chain and the target's address.
    let secure = dns_asking(&lab, "mx.dane-cname-mx.test.", RecordType::A, ad).await;
    assert_eq!(secure.metadata.response_code, ResponseCode::NoError);
    assert_eq!(cname_of(&secure), ["mx1.provider.dane-cname-mx.test."]);
    assert_eq!(addresses(&secure), [RData::A(Ipv4Addr::LOCALHOST.into())]);
    assert!(
        secure.metadata.authentic_data,
        "a chain inside signed domains"
    );
    // The TLSA record sits at the expanded name only, validated; at the alias: authenticated
    // denial.
    let tlsa = dns_asking(
        &lab,
        "_25._tcp.mx1.provider.dane-cname-mx.test.",
        RecordType::TLSA,
        ad,
    )
    .await;
    assert_eq!(tlsa.answers.len(), 1);
    assert!(tlsa.metadata.authentic_data);
    let none = dns_asking(
        &lab,
        "_25._tcp.mx.dane-cname-mx.test.",
        RecordType::TLSA,
        ad,
    )
    .await;
    assert_eq!(none.metadata.response_code, ResponseCode::NXDomain);
    assert!(none.metadata.authentic_data);

    // Out of the signed domains: the data is all there, the AD bit is not.
    let leaving = dns_asking(&lab, "mx2.alias-out.test.", RecordType::A, ad).await;
    assert_eq!(cname_of(&leaving), ["mx.dane-unsigned.test."]);
    assert_eq!(addresses(&leaving).len(), 1);
    assert!(!leaving.metadata.authentic_data, "the target is unsigned");
    // The CNAME record itself is in the signed zone: asked for alone, it validates.
    let link = dns_asking(&lab, "mx2.alias-out.test.", RecordType::CNAME, ad).await;
    assert_eq!(cname_of(&link), ["mx.dane-unsigned.test."]);
    assert!(link.metadata.authentic_data);
    // An unsigned alias into a signed zone is insecure too: its first link proves nothing.
    let entering = dns_asking(&lab, "mx2.alias-in.test.", RecordType::A, ad).await;
    assert_eq!(cname_of(&entering), ["mx1.provider.dane-cname-mx.test."]);
    assert!(!entering.metadata.authentic_data);
    lab.shutdown().await;
}

#[tokio::test]
async fn the_tlsa_data_is_the_digest_of_the_lab_key() {
    let lab = Lab::start().await.expect("lab starts");
    let signed = lab.scenario("dane-signed").expect("scenario");
    let answer = dns(
        &lab,
        &format!("_25._tcp.mx.{}.", signed.domain),
        RecordType::TLSA,
    )
    .await;
    let records: Vec<String> = answer.answers.iter().map(|r| r.data.to_string()).collect();
    let hex: String = lab
        .leaf_spki_sha256()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(lab.leaf_spki_sha256().len(), 32, "a SHA-256 digest");
    assert_eq!(records.len(), 1);
    assert!(
        records[0].eq_ignore_ascii_case(&format!("3 1 1 {hex}")),
        "{records:?}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn negative_answers_are_the_whole_zones_answers() {
    // The lab answers "no such name" and "no such data" from an index rather than from
    // hickory's zone (see `Negatives` in src/dns.rs); a wildcard record anywhere turns that off,
    // so a second lab with one gives the whole zone's answers to compare with.
    let plain = Lab::start_with(catalog(), 50).await.expect("lab starts");
    let mut wild = renamed("healthy-enforce", "wild", "wild.test");
    wild.records.push(DnsRecord::new(
        "*.wild.test",
        RecordData::Txt(vec!["wildcard".to_owned()]),
    ));
    let mut scenarios = catalog();
    scenarios.push(wild);
    let whole = Lab::start_with(scenarios, 50).await.expect("lab starts");
    let questions = [
        // NXDOMAIN: no such name, under a domain, or outside every domain.
        ("_25._tcp.mx.gen-00042.test.", RecordType::TLSA),
        ("mta-sts.policy-host-missing.test.", RecordType::A),
        ("_mta-sts.sts-missing.test.", RecordType::TXT),
        ("nowhere.test.", RecordType::MX),
        // NODATA: a name with other types, an empty non-terminal, the apex, a signed domain.
        ("mta-sts.gen-00042.test.", RecordType::AAAA),
        ("mx.gen-00042.test.", RecordType::TXT),
        ("mx.gen-00042.test.", RecordType::CNAME),
        ("_tcp.mx.dane-signed.test.", RecordType::TXT),
        ("test.", RecordType::TXT),
        ("dane-signed.test.", RecordType::TXT),
        ("_25._tcp.mx.dane-signed.test.", RecordType::A),
        // Positive and alias answers take the zone's own way in both labs.
        ("mta-sts.gen-00042.test.", RecordType::A),
        ("mta-sts.policy-cname.test.", RecordType::AAAA),
    ];
    let asks = [
        Ask::default(),
        Ask {
            ad: true,
            dnssec_ok: false,
        },
        Ask {
            ad: false,
            dnssec_ok: true,
        },
    ];
    for (name, rtype) in questions {
        for ask in asks {
            let fast = dns_asking(&plain, name, rtype, ask).await;
            let slow = dns_asking(&whole, name, rtype, ask).await;
            let what = format!("{name} {rtype} {ask:?}");
            assert_eq!(
                fast.metadata.response_code, slow.metadata.response_code,
                "{what}"
            );
            assert_eq!(
                fast.metadata.authoritative, slow.metadata.authoritative,
                "{what}"
            );
            assert_eq!(
                fast.metadata.authentic_data, slow.metadata.authentic_data,
                "{what}"
            );
            assert_eq!(fast.answers, slow.answers, "{what}");
            assert_eq!(fast.authorities, slow.authorities, "{what}");
            assert_eq!(fast.additionals, slow.additionals, "{what}");
            assert_eq!(fast.edns, slow.edns, "{what}");
        }
    }
    plain.shutdown().await;
    whole.shutdown().await;
}
