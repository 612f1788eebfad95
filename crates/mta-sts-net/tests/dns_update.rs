//! RFC 2136 + TSIG updates against a real authoritative server: Debian's Knot DNS on loopback,
//! started by each test (skipped visibly when knotd is missing).

use std::sync::Arc;
use std::time::Duration;

use mta_sts_core::time::{Clock as _, ManualClock, Timestamp};
use mta_sts_net::dns_update::knot::{Knot, Zone};
use mta_sts_net::{
    Dns, DnsConfig, DnsUpdater, SystemClock, TsigAlgorithm, TsigKey, UpdateConfig, UpdateError,
};

const ZONE: &str = "example.test";
const STS: &str = "_mta-sts.example.test";

fn knot() -> Option<Knot> {
    Knot::start(&[Zone::new(
        ZONE,
        "@ MX 10 mx1\nmx1 A 127.0.0.1\n\
         _mta-sts TXT \"v=STSv1; id=old1\"\n_mta-sts TXT \"unrelated text\"\n",
    )])
}

fn updater(knot: &Knot, key: TsigKey) -> DnsUpdater {
    DnsUpdater::new(UpdateConfig {
        server: knot.addr(),
        zone: ZONE.into(),
        key,
        timeout: Duration::from_secs(5),
    })
    .expect("an updater")
}

/// The TXT records at `name` as a resolver (hickory, not our update client) reads them.
async fn resolved_txt(knot: &Knot, name: &str) -> Vec<String> {
    let dns = Dns::new(&DnsConfig {
        upstream: Some(knot.addr()),
        ..DnsConfig::default()
    })
    .expect("a resolver");
    let mut records: Vec<String> = dns
        .txt(name)
        .await
        .expect("TXT records")
        .into_iter()
        .map(|strings| String::from_utf8(strings.concat()).expect("UTF-8"))
        .collect();
    records.sort();
    records
}

#[tokio::test]
async fn a_signed_update_replaces_the_whole_txt_rrset() {
    let Some(knot) = knot() else { return };
    assert_eq!(
        resolved_txt(&knot, STS).await,
        ["unrelated text", "v=STSv1; id=old1"]
    );
    let updater = updater(&knot, knot.update_key());
    updater
        .replace_txt(STS, 300, "v=STSv1; id=new2")
        .await
        .unwrap_or_else(|e| panic!("the update failed: {e}\n{}", knot.log()));
    // Both old records are gone; the new one is alone, as the primary and a resolver see it.
    assert_eq!(
        updater.txt(STS).await.expect("read back"),
        ["v=STSv1; id=new2"]
    );
    assert_eq!(resolved_txt(&knot, STS).await, ["v=STSv1; id=new2"]);
    // The same update again changes nothing and still succeeds.
    updater
        .replace_txt(STS, 300, "v=STSv1; id=new2")
        .await
        .expect("a repeated update");
    assert_eq!(
        updater.txt(STS).await.expect("read back"),
        ["v=STSv1; id=new2"]
    );
}

#[tokio::test]
async fn a_name_without_records_gets_its_first_and_long_values_are_split() {
    let Some(knot) = knot() else { return };
    let updater = updater(&knot, knot.update_key());
    let name = "_smtp._tls.example.test";
    assert_eq!(
        updater.txt(name).await.expect("no records yet"),
        Vec::<String>::new()
    );
    let long = format!("v=TLSRPTv1; rua=mailto:{}@example.test", "r".repeat(400));
    updater
        .replace_txt(name, 60, &long)
        .await
        .expect("a long value");
    assert_eq!(
        updater.txt(name).await.expect("read back"),
        vec![long.clone()]
    );
    assert_eq!(resolved_txt(&knot, name).await, [long]);
}

#[tokio::test]
async fn a_key_file_written_by_tsig_keygen_is_used_as_is() {
    let Some(knot) = knot() else { return };
    let key = TsigKey::from_secret_file(
        "mta-sts-update",
        TsigAlgorithm::HmacSha256,
        &knot.write_update_key_file(),
    )
    .expect("the key file");
    updater(&knot, key)
        .replace_txt(STS, 300, "v=STSv1; id=fromfile")
        .await
        .expect("an update signed with the file's key");
    assert_eq!(resolved_txt(&knot, STS).await, ["v=STSv1; id=fromfile"]);
}

#[tokio::test]
async fn a_wrong_secret_is_badsig_and_changes_nothing() {
    let Some(knot) = knot() else { return };
    let wrong =
        TsigKey::new("mta-sts-update", TsigAlgorithm::HmacSha256, vec![7; 32]).expect("a key");
    let error = updater(&knot, wrong)
        .replace_txt(STS, 300, "v=STSv1; id=forged")
        .await
        .expect_err("a wrong secret must be refused");
    assert_eq!(error, UpdateError::BadSig);
    assert_eq!(
        resolved_txt(&knot, STS).await,
        ["unrelated text", "v=STSv1; id=old1"]
    );
}

#[tokio::test]
async fn an_unknown_key_is_badkey() {
    let Some(knot) = knot() else { return };
    let unknown =
        TsigKey::new("nobody-knows-me", TsigAlgorithm::HmacSha256, vec![7; 32]).expect("a key");
    let error = updater(&knot, unknown)
        .replace_txt(STS, 300, "v=STSv1; id=forged")
        .await
        .expect_err("an unknown key must be refused");
    assert_eq!(error, UpdateError::BadKey);
}

#[tokio::test]
async fn a_key_the_access_list_does_not_allow_is_refused() {
    let Some(knot) = knot() else { return };
    let error = updater(&knot, knot.read_only_key())
        .replace_txt(STS, 300, "v=STSv1; id=notallowed")
        .await
        .expect_err("the access list allows only the update key");
    // BIND answers REFUSED; Knot answers NOTAUTH with BADKEY, as for a key it does not know.
    assert!(
        matches!(
            error,
            UpdateError::Refused | UpdateError::NotAuth | UpdateError::BadKey
        ),
        "{error}"
    );
    assert!(!error.is_transient());
    assert_eq!(
        resolved_txt(&knot, STS).await,
        ["unrelated text", "v=STSv1; id=old1"]
    );
}

#[tokio::test]
async fn a_clock_an_hour_off_is_badtime() {
    let Some(knot) = knot() else { return };
    let an_hour_ago =
        Timestamp::from_unix_seconds_saturating(SystemClock.now().unix_seconds() - 3600);
    let error = updater(&knot, knot.update_key())
        .with_clock(Arc::new(ManualClock::new(an_hour_ago)))
        .replace_txt(STS, 300, "v=STSv1; id=stale")
        .await
        .expect_err("a signature an hour old must be refused");
    assert_eq!(error, UpdateError::BadTime);
}

#[tokio::test]
async fn a_zone_the_server_does_not_serve_is_not_updated() {
    let Some(knot) = knot() else { return };
    let other = DnsUpdater::new(UpdateConfig {
        server: knot.addr(),
        zone: "elsewhere.test".into(),
        key: knot.update_key(),
        timeout: Duration::from_secs(5),
    })
    .expect("an updater");
    let error = other
        .replace_txt("_mta-sts.elsewhere.test", 300, "v=STSv1; id=x")
        .await
        .expect_err("knot is not authoritative for elsewhere.test");
    assert!(
        matches!(
            error,
            UpdateError::NotAuth | UpdateError::Refused | UpdateError::NotZone
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout_and_none_at_all_a_transport_error() {
    let key = TsigKey::new("k", TsigAlgorithm::HmacSha256, vec![1; 32]).expect("a key");
    let updater = |server| {
        DnsUpdater::new(UpdateConfig {
            server,
            zone: ZONE.into(),
            key: key.clone(),
            timeout: Duration::from_millis(300),
        })
        .expect("an updater")
    };
    // A real listener that accepts and then says nothing.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("address");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let error = updater(silent_addr)
        .replace_txt(STS, 300, "v=STSv1; id=x")
        .await
        .expect_err("the server never answers");
    assert_eq!(error, UpdateError::Timeout);
    assert!(error.is_transient());
    holder.abort();

    // A closed port: a listener bound and dropped leaves its port refusing connections.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let closed_addr = closed.local_addr().expect("address");
    drop(closed);
    let error = updater(closed_addr)
        .replace_txt(STS, 300, "v=STSv1; id=x")
        .await
        .expect_err("nothing listens there");
    assert!(matches!(error, UpdateError::Transport(_)), "{error}");
    assert!(error.is_transient());
}

/// A DNS server on loopback that answers every update NOERROR, as a forger on the path
/// would: unsigned, or signed with the key `(name, secret)` (the client's own key gives a
/// genuine answer: the control showing that the others fail for their signature alone).
async fn answering_noerror(key: Option<(&str, Vec<u8>)>) -> std::net::SocketAddr {
    use hickory_proto::op::{Message, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::tsig::TsigAlgorithm as HickoryAlgorithm;
    use hickory_proto::rr::{Name, TSigResponseContext, TSigner};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let signer = key.map(|(name, secret)| {
        TSigner::new(
            secret,
            HickoryAlgorithm::HmacSha256,
            Name::from_ascii(format!("{name}.")).expect("a key name"),
            300,
        )
        .expect("a signer")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut length = [0u8; 2];
            if stream.read_exact(&mut length).await.is_err() {
                continue;
            }
            let mut request = vec![0u8; usize::from(u16::from_be_bytes(length))];
            if stream.read_exact(&mut request).await.is_err() {
                continue;
            }
            let request = Message::from_vec(&request).expect("a DNS request");
            let mut response = Message::response(request.metadata.id, OpCode::Update);
            response.metadata.response_code = ResponseCode::NoError;
            response.add_queries(request.queries.clone());
            if let Some(signer) = &signer {
                let mac = request
                    .signature()
                    .map(|tsig| tsig.data.mac.clone())
                    .unwrap_or_default();
                let now = u64::try_from(SystemClock.now().unix_seconds()).expect("after 1970");
                let unsigned = response.to_vec().expect("encode");
                let tsig =
                    TSigResponseContext::new(request.metadata.id, now, signer.clone(), mac, None)
                        .sign(&unsigned)
                        .expect("sign");
                response.set_signature(tsig);
            }
            let wire = response.to_vec().expect("encode");
            let mut framed = u16::try_from(wire.len())
                .expect("short")
                .to_be_bytes()
                .to_vec();
            framed.extend_from_slice(&wire);
            let _ = stream.write_all(&framed).await;
        }
    });
    address
}

#[tokio::test]
async fn an_answer_not_signed_with_the_key_is_never_taken_as_success() {
    let client = TsigKey::new("client", TsigAlgorithm::HmacSha256, vec![1; 32]).expect("a key");
    let send = |server| {
        let client = client.clone();
        async move {
            DnsUpdater::new(UpdateConfig {
                server,
                zone: ZONE.into(),
                key: client,
                timeout: Duration::from_secs(5),
            })
            .expect("an updater")
            .replace_txt(STS, 300, "v=STSv1; id=x")
            .await
        }
    };
    // The control: an answer signed with the client's own key is success.
    let genuine = answering_noerror(Some(("client", vec![1; 32]))).await;
    assert_eq!(send(genuine).await, Ok(()));
    // RFC 8945 §5.4: unsigned, or signed with another secret or key, NOERROR proves nothing.
    for server in [
        answering_noerror(None).await,
        answering_noerror(Some(("client", vec![2; 32]))).await,
        answering_noerror(Some(("forger", vec![1; 32]))).await,
    ] {
        let error = send(server).await.expect_err("a forged success");
        assert!(matches!(error, UpdateError::Unauthenticated(_)), "{error}");
    }
}
