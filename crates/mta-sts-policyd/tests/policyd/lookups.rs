//! Lookups through [`Daemon::query`]: the replies, and the cache rules behind them.

use std::sync::Arc;

use mta_sts_core::Mode;
use mta_sts_policyd::cache::SqliteCache;
use mta_sts_policyd::cache::TieredCache;
use mta_sts_policyd::socketmap::SkipReason;
use mta_sts_policyd::{
    CacheKind, Daemon, Event, NotFoundReason, Origin, PolicyCache, Problem, Reply,
};

use crate::support::{Env, LAB_ID, TempDir, daemon};

/// A valid policy naming a host the lab's policies do not: seeing it in a reply proves the reply
/// came from the seeded cache entry.
const OLD_POLICY: &str = "version: STSv1\nmode: enforce\nmx: old-mx.example.net\nmax_age: 86400\n";
const OLD_REPLY: &str = "OK secure match=old-mx.example.net servername=hostname";
const OLD_ID: &str = "20250101T000000";

#[tokio::test(flavor = "multi_thread")]
async fn replies_for_each_mode_and_zone() {
    let env = Env::start().await;
    assert_eq!(
        env.reply("healthy-enforce", "postfix").await,
        "OK secure match=mx.healthy-enforce.test servername=hostname"
    );
    // RFC 8461 §5: testing mode does not stop delivery, unless the zone says strict_testing.
    let testing = env.query("mode-testing", "postfix").await;
    assert_eq!(testing.reply, Reply::NotFound);
    assert_eq!(testing.not_found, Some(NotFoundReason::ModeTesting));
    assert_eq!(testing.policy.map(|p| p.mode), Some(Mode::Testing));
    assert_eq!(
        env.reply("mode-testing", "strict").await,
        "OK secure match=mx.mode-testing.test servername=hostname"
    );
    // Mode none is no policy, even for a strict zone.
    let none = env.query("mode-none", "strict").await;
    assert_eq!(none.reply, Reply::NotFound);
    assert_eq!(none.not_found, Some(NotFoundReason::ModeNone));
    // No record, and a record whose policy cannot be fetched: no policy.
    let missing = env.query("sts-missing", "postfix").await;
    assert_eq!(missing.reply, Reply::NotFound);
    assert_eq!(
        missing.not_found,
        Some(NotFoundReason::NoPolicy(Problem::NoRecord))
    );
    let not_served = env.query("policy-404", "postfix").await;
    assert_eq!(not_served.reply, Reply::NotFound);
    assert!(
        matches!(
            not_served.not_found,
            Some(NotFoundReason::NoPolicy(Problem::FetchFailed { ref id, .. })) if id == LAB_ID
        ),
        "{not_served:?}"
    );
    // RFC 8461 §3.1: two STSv1 records are no record.
    assert_eq!(
        env.query("sts-multiple", "postfix").await.not_found,
        Some(NotFoundReason::NoPolicy(Problem::NoRecord))
    );
    // A policy a sender must refuse (RFC 8461 §3.2) is a failed fetch.
    assert!(matches!(
        env.query("policy-bad-mode", "postfix").await.not_found,
        Some(NotFoundReason::NoPolicy(Problem::FetchFailed { .. }))
    ));
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wildcards_policy_order_sni_and_tlsrpt() {
    let env = Env::start().await;
    assert_eq!(
        env.reply("mx-wildcard", "postfix").await,
        "OK secure match=.mx-wildcard.test servername=hostname"
    );
    assert_eq!(
        env.reply("ordered", "postfix").await,
        "OK secure match=zz.ordered.test:.aa.ordered.test:mm.ordered.test servername=hostname"
    );
    assert_eq!(
        env.reply("ordered", "nosni").await,
        "OK secure match=zz.ordered.test:.aa.ordered.test:mm.ordered.test"
    );
    assert_eq!(
        env.reply("ordered", "tlsrpt").await,
        "OK secure match=zz.ordered.test:.aa.ordered.test:mm.ordered.test servername=hostname \
         policy_type=sts policy_domain=ordered.test \
         mx_host_pattern=zz.ordered.test mx_host_pattern=*.aa.ordered.test \
         mx_host_pattern=mm.ordered.test \
         { policy_string = version: STSv1 } { policy_string = mode: enforce } \
         { policy_string = mx: zz.ordered.test } { policy_string = mx: *.aa.ordered.test } \
         { policy_string = mx: mm.ordered.test } { policy_string = max_age: 86400 }"
    );
    // The zones share one cache: one fetch served all four answers.
    assert_eq!(env.source.fetches(), 2);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_normalised_and_non_domains_need_no_lookup() {
    let env = Env::start().await;
    for key in [
        "[Healthy-Enforce.TEST]:25",
        "healthy-enforce.test:25",
        "HEALTHY-ENFORCE.test.",
    ] {
        let outcome = env.daemon.query(key, "postfix").await;
        assert_eq!(
            outcome.domain.as_deref(),
            Some("healthy-enforce.test"),
            "{key}"
        );
        assert_eq!(
            outcome.reply.to_string(),
            "OK secure match=mx.healthy-enforce.test servername=hostname"
        );
    }
    // A U-label name is looked up by its A-labels.
    let idn = env.daemon.query("bücher.test", "postfix").await;
    assert_eq!(idn.domain.as_deref(), Some("xn--bcher-kva.test"));
    assert_eq!(
        idn.reply.to_string(),
        "OK secure match=mx.xn--bcher-kva.test servername=hostname"
    );
    let lookups = env.source.txt_lookups();
    for (key, reason) in [
        (".healthy-enforce.test", SkipReason::ParentDomain),
        ("192.0.2.1", SkipReason::IpLiteral),
        ("[192.0.2.1]:25", SkipReason::IpLiteral),
        ("[2001:db8::1]", SkipReason::IpLiteral),
        ("", SkipReason::Empty),
    ] {
        let outcome = env.daemon.query(key, "postfix").await;
        assert_eq!(outcome.reply, Reply::NotFound, "{key}");
        assert_eq!(
            outcome.not_found,
            Some(NotFoundReason::Key(reason)),
            "{key}"
        );
        assert_eq!(outcome.origin, None);
    }
    assert_eq!(
        env.source.txt_lookups(),
        lookups,
        "no DNS for keys that are not domains"
    );
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_policy_is_served_without_network_then_its_id_checked() {
    let env = Env::start().await;
    let first = env.query("healthy-enforce", "postfix").await;
    assert_eq!(first.origin, Some(Origin::Fetch));
    assert_eq!((env.source.txt_lookups(), env.source.fetches()), (1, 1));
    // An enforce policy is `secure`, so DANE first looks at the (unsigned) MX RRset once.
    assert_eq!(env.source.dane_lookups(), 1);
    assert!(first.dane.is_some_and(|d| !d.applies));

    env.advance(59);
    let second = env.query("healthy-enforce", "postfix").await;
    assert_eq!(second.origin, Some(Origin::Cache));
    assert_eq!(second.reply, first.reply);
    assert_eq!(second.policy.as_ref().map(|p| p.age), Some(59));
    assert_eq!((env.source.txt_lookups(), env.source.fetches()), (1, 1));

    // Past check_interval: the TXT id is checked; unchanged, so no fetch (RFC 8461 §5.1).
    env.advance(2);
    let third = env.query("healthy-enforce", "postfix").await;
    assert_eq!(third.origin, Some(Origin::Dns));
    assert_eq!(third.reply, first.reply);
    assert_eq!((env.source.txt_lookups(), env.source.fetches()), (2, 1));
    // The DANE facts are rechecked with the TXT id, not in between.
    assert_eq!(env.source.dane_lookups(), 2);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_id_triggers_a_fetch() {
    let env = Env::start().await;
    env.seed("healthy-enforce", OLD_ID, OLD_POLICY, 100).await;
    let outcome = env.query("healthy-enforce", "postfix").await;
    assert_eq!(outcome.origin, Some(Origin::Fetch));
    assert_eq!(
        outcome.reply.to_string(),
        "OK secure match=mx.healthy-enforce.test servername=hostname"
    );
    assert_eq!(outcome.policy.map(|p| p.id).as_deref(), Some(LAB_ID));
    assert_eq!(env.source.fetches(), 1);

    // The same id as the lab's: the seeded policy is current, nothing is fetched.
    env.seed("mx-wildcard", LAB_ID, OLD_POLICY, 100).await;
    let same = env.query("mx-wildcard", "postfix").await;
    assert_eq!(same.origin, Some(Origin::Dns));
    assert_eq!(same.reply.to_string(), OLD_REPLY);
    assert_eq!(env.source.fetches(), 1);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_fetch_keeps_an_unexpired_cached_policy() {
    let env = Env::start().await;
    let mut events = env.daemon.subscribe();
    // RFC 8461 §3.3: "if no 'live' policy can be ... fetched via HTTPS, but a valid
    // (non-expired) policy exists in the sender's cache, the sender MUST apply that cached
    // policy".
    env.seed("policy-404", OLD_ID, OLD_POLICY, 100).await;
    let kept = env.query("policy-404", "postfix").await;
    assert_eq!(kept.reply.to_string(), OLD_REPLY);
    assert_eq!(kept.origin, Some(Origin::Fetch));
    assert!(
        matches!(&kept.fallback, Some(Problem::FetchFailed { id, .. }) if id == LAB_ID),
        "{kept:?}"
    );
    assert_eq!(env.source.fetches(), 1);
    match events.try_recv() {
        Ok(Event::FetchFailed {
            domain,
            kept_cached,
            ..
        }) => {
            assert_eq!(domain, "policy-404.test");
            assert!(kept_cached);
        }
        other => panic!("expected a FetchFailed event, got {other:?}"),
    }
    // The same failure with nothing cached: no policy.
    let html = env.query("policy-html", "postfix").await;
    assert_eq!(html.reply, Reply::NotFound);
    assert!(matches!(
        html.not_found,
        Some(NotFoundReason::NoPolicy(Problem::FetchFailed { .. }))
    ));
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vanished_record_keeps_the_cached_policy_until_it_expires() {
    let env = Env::start().await;
    env.seed("sts-missing", LAB_ID, OLD_POLICY, 100).await;
    let kept = env.query("sts-missing", "postfix").await;
    assert_eq!(kept.reply.to_string(), OLD_REPLY);
    assert_eq!(kept.fallback, Some(Problem::NoRecord));
    assert_eq!((env.source.txt_lookups(), env.source.fetches()), (1, 0));
    // Still applied while the record stays away, up to the policy's max_age...
    env.advance(86_400 - 100 - 1);
    assert_eq!(env.reply("sts-missing", "postfix").await, OLD_REPLY);
    // ...and not a second longer.
    env.advance(1);
    let expired = env.query("sts-missing", "postfix").await;
    assert_eq!(expired.reply, Reply::NotFound);
    assert_eq!(
        expired.not_found,
        Some(NotFoundReason::NoPolicy(Problem::NoRecord))
    );
    assert_eq!(env.source.fetches(), 0);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_policy_is_refetched_or_dropped() {
    let env = Env::start().await;
    env.query("healthy-enforce", "postfix").await;
    env.advance(604_800);
    let refetched = env.query("healthy-enforce", "postfix").await;
    assert_eq!(refetched.origin, Some(Origin::Fetch));
    assert_eq!(refetched.policy.map(|p| p.age), Some(0));
    assert_eq!(env.source.fetches(), 2);

    // The lab's id, so no fetch while valid; once expired the fetch is needed, fails, and there is
    // nothing left to apply.
    env.seed("policy-404", LAB_ID, OLD_POLICY, 100).await;
    assert_eq!(env.reply("policy-404", "postfix").await, OLD_REPLY);
    assert_eq!(env.source.fetches(), 2);
    env.advance(86_400);
    let gone = env.query("policy-404", "postfix").await;
    assert_eq!(gone.reply, Reply::NotFound);
    assert!(matches!(
        gone.not_found,
        Some(NotFoundReason::NoPolicy(Problem::FetchFailed { .. }))
    ));
    assert_eq!(env.source.fetches(), 3);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_fetches_back_off_per_id() {
    let env = Env::start().await;
    env.query("policy-404", "postfix").await;
    assert_eq!(env.source.fetches(), 1);
    // Within check_interval: the cache answers, no network at all.
    let cached = env.query("policy-404", "postfix").await;
    assert_eq!(cached.origin, Some(Origin::Cache));
    assert!(matches!(
        cached.not_found,
        Some(NotFoundReason::NoPolicy(Problem::BackingOff { .. }))
    ));
    assert_eq!((env.source.txt_lookups(), env.source.fetches()), (1, 1));
    // Later, the TXT record is checked, but the same id is not fetched again within 5 minutes.
    env.advance(299);
    let backing_off = env.query("policy-404", "postfix").await;
    assert_eq!(backing_off.origin, Some(Origin::Dns));
    assert_eq!((env.source.txt_lookups(), env.source.fetches()), (2, 1));
    // Five minutes after the failure: one more attempt...
    env.advance(1);
    env.query("policy-404", "postfix").await;
    assert_eq!(env.source.fetches(), 2);
    // ...and after a second failure the wait doubles.
    env.advance(599);
    env.query("policy-404", "postfix").await;
    assert_eq!(env.source.fetches(), 2);
    env.advance(1);
    env.query("policy-404", "postfix").await;
    assert_eq!(env.source.fetches(), 3);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_record_is_negatively_cached() {
    let env = Env::start().await;
    env.query("sts-missing", "postfix").await;
    assert_eq!(env.source.txt_lookups(), 1);
    env.advance(299);
    let cached = env.query("sts-missing", "postfix").await;
    assert_eq!(cached.origin, Some(Origin::Cache));
    assert_eq!(
        cached.not_found,
        Some(NotFoundReason::NoPolicy(Problem::NoRecord))
    );
    assert_eq!(env.source.txt_lookups(), 1);
    env.advance(1);
    env.query("sts-missing", "postfix").await;
    assert_eq!(env.source.txt_lookups(), 2);
    // A domain without MTA-STS costs no DANE lookups.
    assert_eq!(env.source.dane_lookups(), 0);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_concurrent_requests_make_one_lookup_and_one_fetch() {
    let env = Env::start().await;
    let domain = env.domain("slow-healthy");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let daemon = env.daemon.clone();
        let domain = domain.clone();
        tasks.spawn(async move { daemon.answer(format!("postfix {domain}").as_bytes()).await });
    }
    let replies = tasks.join_all().await;
    assert_eq!(replies.len(), 1000);
    let expected = Reply::Ok("secure match=mx.slow-healthy.test servername=hostname".into());
    assert!(replies.iter().all(|reply| *reply == expected));
    assert_eq!((env.source.txt_lookups(), env.source.fetches()), (1, 1));
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_refetches_due_policies_and_purges_dead_entries() {
    let env = Env::start().await;
    env.query("healthy-enforce", "postfix").await;
    env.query("sts-missing", "postfix").await;
    let report = env.daemon.refresh_due().await;
    assert_eq!((report.examined, report.due, report.purged), (2, 0, 0));

    // A day on (RFC 8461 §3.3's suggested refresh frequency) the policy is refetched although its
    // id is unchanged, and the stale negative entry is dropped.
    env.advance(86_400);
    let report = env.daemon.refresh_due().await;
    assert_eq!((report.due, report.refreshed, report.purged), (1, 1, 1));
    assert!(report.failed.is_empty());
    assert_eq!(env.source.fetches(), 2);
    let refreshed = env.query("healthy-enforce", "postfix").await;
    assert_eq!(refreshed.origin, Some(Origin::Cache));
    assert_eq!(refreshed.policy.map(|p| p.age), Some(0));

    // A refresh that fails keeps the policy and says so.
    env.seed("policy-404", LAB_ID, OLD_POLICY, 86_000).await;
    let report = env.daemon.refresh_due().await;
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "policy-404.test");
    assert_eq!(env.reply("policy-404", "postfix").await, OLD_REPLY);
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_daemon_keeps_its_sqlite_cache() {
    let dir = TempDir::new("restart");
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
        let outcome = first.query("healthy-enforce.test", "postfix").await;
        assert_eq!(outcome.origin, Some(Origin::Fetch));
        assert_eq!(source.fetches(), 1);
    }
    env.advance(3_600);
    let (second, source) = daemon(&env.config, open(), &env.clock);
    let outcome = second.query("healthy-enforce.test", "postfix").await;
    assert_eq!(
        outcome.reply.to_string(),
        "OK secure match=mx.healthy-enforce.test servername=hostname"
    );
    assert_eq!(outcome.policy.map(|p| p.age), Some(3_600));
    assert_eq!(source.fetches(), 0, "the policy came from the file");
    env.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_built_from_its_configuration_works() {
    let dir = TempDir::new("config");
    let env = Env::start().await;
    let mut config = env.config.clone();
    config.cache = CacheKind::Sqlite(dir.file("cache.db"));
    let daemon = Daemon::new(config).expect("daemon");
    assert_eq!(
        daemon
            .query("healthy-enforce.test", "postfix")
            .await
            .reply
            .to_string(),
        "OK secure match=mx.healthy-enforce.test servername=hostname"
    );
    let json =
        serde_json::to_value(daemon.query("mode-testing.test", "strict").await).expect("json");
    assert_eq!(json["zone"], "strict");
    assert_eq!(
        json["reply"],
        "OK secure match=mx.mode-testing.test servername=hostname"
    );
    assert_eq!(json["policy"]["mode"], "testing");
    assert_eq!(json["policy"]["id"], LAB_ID);
    assert_eq!(json["origin"], "fetch");
    env.lab.shutdown().await;
}
