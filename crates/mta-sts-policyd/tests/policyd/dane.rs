//! DANE first (RFC 8461 §2): domains whose MX RRset and MX-host TLSA records the resolver
//! validates are answered `dane` instead of their MTA-STS policy. The lab's DNS server plays the
//! validating resolver (the AD bit for its signed zones); lookups are counted through the test
//! source and time moves with a manual clock.

use std::sync::Arc;

use mta_sts_core::Mode;
use mta_sts_policyd::cache::{SqliteCache, TieredCache};
use mta_sts_policyd::netstring;
use mta_sts_policyd::{Event, NotFoundReason, Origin, PolicyCache, Reply};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{Env, TempDir, daemon};

const DANE: &str = "OK dane";

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_domain_with_validated_tlsa_is_answered_dane() {
    let env = Env::start().await;
    let outcome = env.query("dane-signed", "postfix").await;
    assert_eq!(outcome.reply.to_string(), DANE);
    assert_eq!(outcome.not_found, None);
    // The MTA-STS policy is still found and shown: DANE is chosen over it, not instead of
    // looking.
    assert_eq!(outcome.policy.as_ref().map(|p| p.mode), Some(Mode::Enforce));
    let dane = outcome.dane.expect("the DANE facts decided the reply");
    assert!(dane.applies && dane.facts.mx_validated);
    assert_eq!(dane.facts.hosts, ["mx.dane-signed.test"]);
    assert!(dane.facts.failed.is_empty() && dane.facts.mx_error.is_none());
    assert_eq!(dane.age, 0);
    assert_eq!(env.source.dane_lookups(), 1);

    // Every zone that would answer `secure` answers `dane`; no lookup is repeated for them.
    for zone in ["nosni", "tlsrpt", "strict"] {
        assert_eq!(env.reply("dane-signed", zone).await, DANE, "{zone}");
    }
    assert_eq!(env.source.dane_lookups(), 1);
    assert_eq!((env.source.txt_lookups(), env.source.fetches()), (1, 1));

    let json = serde_json::to_value(env.query("dane-signed", "postfix").await).expect("json");
    assert_eq!(json["reply"], DANE);
    assert_eq!(json["dane"]["applies"], true);
    assert_eq!(json["dane"]["mx_validated"], true);
    assert_eq!(json["dane"]["hosts"][0], "mx.dane-signed.test");
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_gets_dane_over_the_socketmap_and_metrics_count_it() {
    let env = Env::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = env.daemon.clone();
    let server = tokio::spawn(async move {
        daemon
            .serve(listener.into(), async {
                let _ = stopped.await;
            })
            .await
    });
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // Pipelined, as Postfix may send them: replies come back in order.
    for key in ["dane-signed.test", "dane-unsigned.test", "sts-missing.test"] {
        let request = netstring::encode(format!("postfix {key}").as_bytes());
        stream.write_all(&request).await.expect("write");
    }
    let mut buffer = Vec::new();
    let mut replies = Vec::new();
    while replies.len() < 3 {
        match netstring::decode_with_limit(&buffer, 1 << 20).expect("a netstring") {
            Some((payload, used)) => {
                replies.push(String::from_utf8_lossy(payload).into_owned());
                buffer.drain(..used);
            }
            None => {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "closed after {replies:?}");
                buffer.extend_from_slice(&chunk[..n]);
            }
        }
    }
    assert_eq!(
        replies,
        [
            DANE,
            "OK secure match=mx.dane-unsigned.test servername=hostname",
            "NOTFOUND "
        ]
    );
    let _ = stop.send(());
    server
        .await
        .expect("server task")
        .expect("server stops cleanly");
    let metrics = env.daemon.metrics_text();
    for (reply, n) in [("dane", 1), ("ok", 1), ("notfound", 1)] {
        let line = format!("mta_sts_daemon_requests_total{{reply=\"{reply}\"}} {n}");
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_dane_off_the_signed_domain_gets_its_mta_sts_policy() {
    let env = Env::start_with(|config| config.dane = false).await;
    let outcome = env.query("dane-signed", "postfix").await;
    assert_eq!(
        outcome.reply.to_string(),
        "OK secure match=mx.dane-signed.test servername=hostname"
    );
    assert_eq!(outcome.dane, None);
    assert_eq!(
        env.reply("dane-signed", "strict").await,
        outcome.reply.to_string()
    );
    assert_eq!(
        env.source.dane_lookups(),
        0,
        "dane = false never looks TLSA up"
    );
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_validated_mx_and_tlsa_mta_sts_applies() {
    let env = Env::start().await;
    // TLSA records in a zone the resolver does not validate: DANE does not apply (RFC 7672
    // §2.2.1), and the TLSA records are not even looked up.
    let unsigned = env.query("dane-unsigned", "postfix").await;
    assert_eq!(
        unsigned.reply.to_string(),
        "OK secure match=mx.dane-unsigned.test servername=hostname"
    );
    let facts = unsigned.dane.expect("looked up: the reply would be secure");
    assert!(!facts.applies && !facts.facts.mx_validated);
    assert!(facts.facts.hosts.is_empty() && facts.facts.failed.is_empty());
    // A validated MX RRset whose host's TLSA records are not validated: that host has no DANE.
    let foreign = env.query("dane-foreign-tlsa", "postfix").await;
    assert_eq!(
        foreign.reply.to_string(),
        "OK secure match=mx.dane-unsigned.test servername=hostname"
    );
    let facts = foreign.dane.expect("facts");
    assert!(facts.facts.mx_validated && !facts.applies);
    assert!(facts.facts.hosts.is_empty());
    // A validated MX RRset without any TLSA record (NXDOMAIN): no DANE.
    let none = env.query("dane-no-tlsa", "postfix").await;
    assert_eq!(
        none.reply.to_string(),
        "OK secure match=mx.dane-no-tlsa.test servername=hostname"
    );
    assert!(
        none.dane
            .is_some_and(|d| d.facts.mx_validated && !d.applies)
    );
    // The catalog's healthy domain: unsigned, no TLSA.
    assert_eq!(
        env.reply("healthy-enforce", "postfix").await,
        "OK secure match=mx.healthy-enforce.test servername=hostname"
    );
    assert_eq!(env.source.dane_lookups(), 4);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_that_are_not_secure_cost_no_dane_lookups() {
    let env = Env::start().await;
    // RFC 8461 §5: a testing policy is NOTFOUND outside strict_testing zones, so DANE cannot
    // change the reply and is not looked up, even for a signed domain with TLSA.
    let testing = env.query("dane-testing", "postfix").await;
    assert_eq!(testing.reply, Reply::NotFound);
    assert_eq!(testing.not_found, Some(NotFoundReason::ModeTesting));
    assert_eq!(testing.dane, None);
    assert_eq!(env.source.dane_lookups(), 0);
    // Domains without MTA-STS, or with a policy that cannot be had, or mode none: none either.
    for scenario in ["sts-missing", "policy-404", "mode-none"] {
        let outcome = env.query(scenario, "postfix").await;
        assert_eq!(outcome.reply, Reply::NotFound, "{scenario}");
        assert_eq!(outcome.dane, None, "{scenario}");
    }
    assert_eq!(env.reply("mode-none", "strict").await, "NOTFOUND ");
    assert_eq!(env.source.dane_lookups(), 0);

    // An enforce policy is looked at, even beside a null MX (no MX host, so no DANE).
    let null = env.query("null-mx", "postfix").await;
    assert!(matches!(null.reply, Reply::Ok(_)));
    assert!(
        null.dane
            .is_some_and(|d| !d.applies && d.facts.hosts.is_empty())
    );
    assert_eq!(env.source.dane_lookups(), 1);

    // In a strict_testing zone the testing policy would be `secure`, so DANE decides.
    assert_eq!(env.reply("dane-testing", "strict").await, DANE);
    assert_eq!(env.source.dane_lookups(), 2);
    // The default zone still answers NOTFOUND, with the facts now cached left out.
    let again = env.query("dane-testing", "postfix").await;
    assert_eq!((again.reply, again.dane), (Reply::NotFound, None));
    assert_eq!(env.source.dane_lookups(), 2);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_decision_is_cached_for_check_interval_then_rechecked() {
    let env = Env::start().await;
    assert_eq!(env.reply("dane-signed", "postfix").await, DANE);
    assert_eq!(
        (
            env.source.txt_lookups(),
            env.source.fetches(),
            env.source.dane_lookups()
        ),
        (1, 1, 1)
    );
    // Within check_interval (60 s): the cache answers, no network at all.
    env.advance(59);
    let cached = env.query("dane-signed", "postfix").await;
    assert_eq!(cached.reply.to_string(), DANE);
    assert_eq!(cached.origin, Some(Origin::Cache));
    assert_eq!(cached.dane.map(|d| d.age), Some(59));
    assert_eq!(
        (
            env.source.txt_lookups(),
            env.source.fetches(),
            env.source.dane_lookups()
        ),
        (1, 1, 1)
    );
    // Past it: the TXT id and the DANE facts are checked again (same id: no fetch).
    env.advance(2);
    let rechecked = env.query("dane-signed", "postfix").await;
    assert_eq!(rechecked.reply.to_string(), DANE);
    assert_eq!(rechecked.origin, Some(Origin::Dns));
    assert_eq!(rechecked.dane.map(|d| d.age), Some(0));
    assert_eq!(
        (
            env.source.txt_lookups(),
            env.source.fetches(),
            env.source.dane_lookups()
        ),
        (2, 1, 2)
    );
    // A thousand requests at once after the next check_interval: one DANE lookup.
    env.advance(61);
    let domain = env.domain("dane-signed");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let daemon = env.daemon.clone();
        let payload = format!("postfix {domain}");
        tasks.spawn(async move { daemon.answer(payload.as_bytes()).await });
    }
    let replies = tasks.join_all().await;
    assert!(replies.iter().all(|r| r.to_string() == DANE));
    assert_eq!(env.source.dane_lookups(), 3);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_tlsa_lookup_under_a_validated_mx_rrset_answers_dane() {
    let env = Env::start().await;
    let mut events = env.daemon.subscribe();
    let outcome = env.query("dane-servfail", "postfix").await;
    // Neither "TLSA" nor "no TLSA" was learnt: Postfix, with its own lookups, decides.
    assert_eq!(outcome.reply.to_string(), DANE);
    let facts = outcome.dane.expect("facts");
    assert!(facts.applies && facts.facts.mx_validated);
    assert!(facts.facts.hosts.is_empty());
    assert_eq!(facts.facts.failed, ["mx.servfail.test"]);
    let mut reported = false;
    while let Ok(event) = events.try_recv() {
        if let Event::DaneLookupFailed {
            domain,
            host,
            error,
        } = event
        {
            assert_eq!(domain, "dane-servfail.test");
            assert_eq!(host.as_deref(), Some("mx.servfail.test"));
            assert!(error.contains("SERVFAIL"), "{error}");
            reported = true;
        }
    }
    assert!(reported, "the failed TLSA lookup is reported");
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mixed_mx_set_is_dane_and_names_the_hosts_with_tlsa() {
    let env = Env::start().await;
    let outcome = env.query("dane-mixed", "postfix").await;
    assert_eq!(outcome.reply.to_string(), DANE);
    let facts = outcome.dane.expect("facts");
    // mx.dane-unsigned.test publishes TLSA records too, but unvalidated ones.
    assert_eq!(facts.facts.hosts, ["mx.dane-mixed.test"]);
    assert!(facts.facts.failed.is_empty());
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_daemon_keeps_the_dane_decision_in_sqlite() {
    let dir = TempDir::new("dane-restart");
    let path = dir.file("cache.db");
    let env = Env::start().await;
    let open = || -> Arc<dyn PolicyCache> {
        Arc::new(TieredCache::new(
            100,
            Arc::new(SqliteCache::open(&path).expect("sqlite cache")),
        ))
    };
    {
        let (first, source) = daemon(&env.config, open(), &env.clock);
        let outcome = first.query("dane-signed.test", "postfix").await;
        assert_eq!(outcome.reply.to_string(), DANE);
        assert_eq!(source.dane_lookups(), 1);
    }
    env.advance(30);
    let (second, source) = daemon(&env.config, open(), &env.clock);
    let outcome = second.query("dane-signed.test", "postfix").await;
    assert_eq!(outcome.reply.to_string(), DANE);
    assert_eq!(outcome.origin, Some(Origin::Cache));
    assert_eq!(
        outcome.dane.map(|d| (d.facts.hosts, d.age)),
        Some((vec!["mx.dane-signed.test".to_string()], 30))
    );
    assert_eq!(
        (
            source.txt_lookups(),
            source.fetches(),
            source.dane_lookups()
        ),
        (0, 0, 0),
        "the policy and the DANE decision came from the file"
    );
    // Past check_interval the restarted daemon checks again, like the first would have.
    env.advance(31);
    assert_eq!(
        second
            .query("dane-signed.test", "postfix")
            .await
            .reply
            .to_string(),
        DANE
    );
    assert_eq!(source.dane_lookups(), 1);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mx_host_aliased_to_a_signed_host_with_tlsa_is_answered_dane() {
    let env = Env::start().await;
    let mut events = env.daemon.subscribe();
    // mx.dane-cname-mx.test is a CNAME to mx1.provider.dane-cname-mx.test, the only name with a
    // TLSA record; both are signed, so the expansion is secure and its TLSA records count (RFC
    // 7672 §2.2.2). Answering `secure` here would let MTA-STS override DANE (RFC 8461 §2).
    let outcome = env.query("dane-cname-mx", "postfix").await;
    assert_eq!(outcome.reply.to_string(), DANE);
    assert_eq!(outcome.policy.as_ref().map(|p| p.mode), Some(Mode::Enforce));
    let dane = outcome.dane.expect("the DANE facts decided the reply");
    assert!(dane.applies && dane.facts.mx_validated);
    // The query output names the expanded name the TLSA records were found at.
    let named = "mx.dane-cname-mx.test (via mx1.provider.dane-cname-mx.test)";
    assert_eq!(dane.facts.hosts, [named]);
    assert!(dane.facts.failed.is_empty() && dane.facts.mx_error.is_none());
    let json = serde_json::to_value(env.query("dane-cname-mx", "postfix").await).expect("json");
    assert_eq!(json["reply"], DANE);
    assert_eq!(json["dane"]["hosts"][0], named);
    // One DANE lookup for both queries (the second came from the cache), and nothing failed.
    assert_eq!(env.source.dane_lookups(), 1);
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, Event::DaneLookupFailed { .. }),
            "{event:?}"
        );
    }
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alias_without_a_secure_expansion_gets_the_mta_sts_answer() {
    let env = Env::start().await;
    // The alias is signed, but its target is in the unsigned dane-unsigned.test (TLSA records
    // and all): the expansion is insecure, only the MX host name is a TLSA base domain, and
    // nothing is there.
    let unsigned = env.query("dane-cname-unsigned", "postfix").await;
    assert_eq!(
        unsigned.reply.to_string(),
        "OK secure match=mx.dane-cname-unsigned.test servername=hostname"
    );
    let facts = unsigned.dane.expect("looked up: the reply would be secure");
    assert!(facts.facts.mx_validated && !facts.applies);
    assert!(facts.facts.hosts.is_empty() && facts.facts.failed.is_empty());
    // The alias record itself is unsigned, though it points at dane-cname-mx's signed host
    // with validated TLSA records: an insecure CNAME proves nothing about where the MX host
    // is, so those records are not used (RFC 7672 §2.2.2).
    let insecure = env.query("dane-cname-insecure", "postfix").await;
    assert_eq!(
        insecure.reply.to_string(),
        "OK secure match=mx.dane-alias-host.test servername=hostname"
    );
    let facts = insecure.dane.expect("facts");
    assert!(facts.facts.mx_validated && !facts.applies);
    assert!(facts.facts.hosts.is_empty() && facts.facts.failed.is_empty());
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secure_expansion_without_tlsa_falls_back_to_the_mx_host_name() {
    let env = Env::start().await;
    // No TLSA at the expanded name; the MX host name has a validated record (RFC 7672 §2.2.2:
    // the original name is the next candidate).
    let outcome = env.query("dane-cname-fallback", "postfix").await;
    assert_eq!(outcome.reply.to_string(), DANE);
    let facts = outcome.dane.expect("facts");
    assert!(facts.applies);
    // Found at the MX host name itself: no "via".
    assert_eq!(facts.facts.hosts, ["mx.dane-cname-fallback.test"]);
    env.lab.shutdown().await;
}
