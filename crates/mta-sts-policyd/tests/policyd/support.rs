//! A lab, a manual clock and a daemon whose network calls are counted.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use mta_sts_lab::{
    CertKind, DnsRecord, Lab, PolicyHost, PolicyResponse, RecordData, SHARED_ADDR, Scenario,
    TlsaAssociation, catalog,
};
use mta_sts_net::{DnsError, FetchError};
use mta_sts_policyd::cache::{CacheEntry, CachedPolicy, MemoryCache};
use mta_sts_policyd::source::{DaneFacts, TxtRecords};
use mta_sts_policyd::{
    Config, Daemon, ManualClock, NetSource, PolicyCache, PolicySource, QueryOutcome, Timestamp,
    Zone,
};
use tokio::sync::Notify;

/// Where every test's clock starts.
pub const START: Timestamp = Timestamp::from_unix_seconds_saturating(1_800_000_000);

/// The id of the lab's healthy `_mta-sts` records.
pub const LAB_ID: &str = "20260101T000000";

/// A [`PolicySource`] that counts what it is asked and signals each fetch as it starts.
#[derive(Debug)]
pub struct Counting {
    inner: NetSource,
    txt: AtomicUsize,
    fetches: AtomicUsize,
    dane: AtomicUsize,
    /// Notified (one permit) when a fetch starts.
    pub fetch_started: Notify,
}

impl Counting {
    pub fn txt_lookups(&self) -> usize {
        self.txt.load(Ordering::SeqCst)
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// DANE lookups: one MX lookup each, and the CNAME and TLSA lookups of its hosts under a
    /// validated MX RRset.
    pub fn dane_lookups(&self) -> usize {
        self.dane.load(Ordering::SeqCst)
    }
}

impl PolicySource for Counting {
    fn sts_records<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<TxtRecords, DnsError>> {
        self.txt.fetch_add(1, Ordering::SeqCst);
        self.inner.sts_records(domain, timeout)
    }

    fn fetch_policy<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.fetch_started.notify_one();
        self.inner.fetch_policy(domain, timeout)
    }

    fn dane<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<DaneFacts, DnsError>> {
        self.dane.fetch_add(1, Ordering::SeqCst);
        self.inner.dane(domain, timeout)
    }
}

/// The catalog plus the scenarios these tests need of their own.
pub fn scenarios() -> Vec<Scenario> {
    let mut all = catalog();
    // Patterns out of alphabetical order, one a wildcard: the reply must keep policy order.
    all.push(scenario(
        "ordered",
        "ordered.test",
        "version: STSv1\nmode: enforce\nmx: zz.ordered.test\nmx: *.aa.ordered.test\nmx: mm.ordered.test\nmax_age: 86400\n",
        Duration::ZERO,
    ));
    // Slow enough that a thousand requests arrive while its one fetch is in flight.
    all.push(scenario(
        "slow-healthy",
        "slow-healthy.test",
        "version: STSv1\nmode: enforce\nmx: mx.slow-healthy.test\nmax_age: 604800\n",
        Duration::from_millis(400),
    ));
    // An internationalised domain, published in A-label form.
    all.push(scenario(
        "idn",
        "xn--bcher-kva.test",
        "version: STSv1\nmode: enforce\nmx: mx.xn--bcher-kva.test\nmax_age: 604800\n",
        Duration::ZERO,
    ));
    // DANE beside MTA-STS, beyond the catalog's dane-signed and dane-unsigned. Every one is
    // signed (its MX RRset validates); what differs is what its MX hosts publish.
    // A testing-mode policy: answered `secure` only in a strict_testing zone.
    all.push(dane_scenario(
        "dane-testing",
        "testing",
        &[(10, "mx.dane-testing.test", true)],
    ));
    // The TLSA lookup of the one MX host fails (its name is under servfail.test).
    all.push(dane_scenario(
        "dane-servfail",
        "enforce",
        &[(10, "mx.servfail.test", false)],
    ));
    // Two MX hosts, one with validated TLSA, one whose TLSA records sit in an unsigned zone.
    all.push(dane_scenario(
        "dane-mixed",
        "enforce",
        &[
            (10, "mx.dane-mixed.test", true),
            (20, "mx.dane-unsigned.test", false),
        ],
    ));
    // A validated MX RRset whose only host has unvalidated TLSA records: no DANE.
    all.push(dane_scenario(
        "dane-foreign-tlsa",
        "enforce",
        &[(10, "mx.dane-unsigned.test", false)],
    ));
    // A validated MX RRset and no TLSA records at all: no DANE.
    all.push(dane_scenario(
        "dane-no-tlsa",
        "enforce",
        &[(10, "mx.dane-no-tlsa.test", false)],
    ));
    // MX hosts that are aliases (RFC 7672 §2.2.2), beside the catalog's dane-cname-mx.
    // The alias is signed, its target (with TLSA records) is in the unsigned dane-unsigned.test:
    // an insecure expansion, so only the MX host name counts, and it has no TLSA.
    let mut s = dane_scenario(
        "dane-cname-unsigned",
        "enforce",
        &[(10, "mx.dane-cname-unsigned.test", false)],
    );
    s.records.push(DnsRecord::new(
        "mx.dane-cname-unsigned.test",
        RecordData::Cname("mx.dane-unsigned.test".into()),
    ));
    all.push(s);
    // The MX host's alias itself sits in an unsigned zone and points at the signed host with
    // TLSA records of dane-cname-mx: the first link proves nothing, so the expansion is
    // insecure and its TLSA records must not be used.
    let mut s = scenario(
        "dane-alias-host",
        "dane-alias-host.test",
        "version: STSv1\nmode: none\nmx: *.dane-alias-host.test\nmax_age: 86400\n",
        Duration::ZERO,
    );
    s.records.push(DnsRecord::new(
        "mx.dane-alias-host.test",
        RecordData::Cname("mx1.provider.dane-cname-mx.test".into()),
    ));
    all.push(s);
    all.push(dane_scenario(
        "dane-cname-insecure",
        "enforce",
        &[(10, "mx.dane-alias-host.test", false)],
    ));
    // A secure alias whose target publishes no TLSA records, while the MX host name does: the
    // lookup falls back to the MX host name (RFC 7672 §2.2.2), and DANE applies there.
    let mut s = dane_scenario(
        "dane-cname-fallback",
        "enforce",
        &[(10, "mx.dane-cname-fallback.test", true)],
    );
    s.records.extend([
        DnsRecord::new(
            "mx.dane-cname-fallback.test",
            RecordData::Cname("mx1.provider.dane-cname-fallback.test".into()),
        ),
        DnsRecord::new(
            "mx1.provider.dane-cname-fallback.test",
            RecordData::A(SHARED_ADDR),
        ),
    ]);
    all.push(s);
    all
}

/// A signed domain `<name>.test` with a `mode` policy listing `mx` hosts `(preference, host,
/// publish a 3 1 1 TLSA record for it here)`.
fn dane_scenario(name: &'static str, mode: &str, mx: &[(u16, &str, bool)]) -> Scenario {
    let domain = format!("{name}.test");
    let mut body = format!("version: STSv1\nmode: {mode}\n");
    for (_, host, _) in mx {
        body.push_str(&format!("mx: {host}\n"));
    }
    body.push_str("max_age: 604800\n");
    let mut s = scenario(name, &domain, &body, Duration::ZERO);
    s.signed = true;
    for (preference, host, tlsa) in mx {
        s.records.push(DnsRecord::new(
            &domain,
            RecordData::Mx {
                preference: *preference,
                exchange: host.to_string(),
            },
        ));
        if *tlsa {
            s.records.push(DnsRecord::new(
                format!("_25._tcp.{host}"),
                RecordData::Tlsa {
                    usage: 3,
                    selector: 1,
                    matching: 1,
                    association: TlsaAssociation::LabLeafSpkiSha256,
                },
            ));
        }
    }
    s
}

fn scenario(name: &'static str, domain: &str, body: &str, delay: Duration) -> Scenario {
    let policy_host = format!("mta-sts.{domain}");
    let mut response = PolicyResponse::policy(body.to_string());
    response.delay = delay;
    Scenario {
        name,
        domain: domain.to_string(),
        story: "a policyd test domain",
        expect: &[],
        records: vec![
            DnsRecord::new(
                format!("_mta-sts.{domain}"),
                RecordData::Txt(vec![format!("v=STSv1; id={LAB_ID};")]),
            ),
            DnsRecord::new(&policy_host, RecordData::A(SHARED_ADDR)),
        ],
        policy_hosts: vec![PolicyHost {
            name: policy_host,
            cert: CertKind::Valid,
            response,
        }],
        mx_hosts: Vec::new(),
        signed: false,
    }
}

/// A configuration pointing at the lab, with zones `strict`, `nosni` and `tlsrpt`.
pub fn lab_config(lab: &Lab) -> Config {
    let mut config = Config {
        resolver: Some(lab.dns_addr()),
        https_port: lab.https_port(),
        ca_file: Some(lab.ca_file().to_path_buf()),
        // Each test says where its cache is; never the system's default file.
        cache: mta_sts_policyd::CacheKind::Memory,
        ..Config::default()
    };
    config.refresh.enabled = false;
    config.default_zone.timeout = Duration::from_secs(3);
    for (name, zone) in [
        (
            "strict",
            Zone {
                strict_testing: true,
                ..Zone::default()
            },
        ),
        (
            "nosni",
            Zone {
                require_sni: false,
                ..Zone::default()
            },
        ),
        (
            "tlsrpt",
            Zone {
                tlsrpt: Some(true),
                ..Zone::default()
            },
        ),
    ] {
        config.zones.insert(name.to_string(), zone);
    }
    config
}

/// A lab, a clock at [`START`] and a daemon with a memory cache and a counting source.
pub struct Env {
    pub lab: Lab,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    pub daemon: Daemon,
    pub source: Arc<Counting>,
    pub cache: Arc<dyn PolicyCache>,
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(|_| {}).await
    }

    /// Starts with the configuration adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Env {
        let lab = Lab::start_with(scenarios(), 0).await.expect("lab starts");
        let mut config = lab_config(&lab);
        tweak(&mut config);
        let clock = Arc::new(ManualClock::new(START));
        let cache: Arc<dyn PolicyCache> = Arc::new(MemoryCache::new(1000));
        let (daemon, source) = daemon(&config, Arc::clone(&cache), &clock);
        Env {
            lab,
            clock,
            config,
            daemon,
            source,
            cache,
        }
    }

    pub fn domain(&self, scenario: &str) -> String {
        self.lab
            .scenario(scenario)
            .unwrap_or_else(|| panic!("no scenario {scenario}"))
            .domain
            .clone()
    }

    /// Asks for a scenario's domain in a zone.
    pub async fn query(&self, scenario: &str, zone: &str) -> QueryOutcome {
        self.daemon.query(&self.domain(scenario), zone).await
    }

    /// The reply text for a scenario in a zone.
    pub async fn reply(&self, scenario: &str, zone: &str) -> String {
        self.query(scenario, zone).await.reply.to_string()
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub fn now(&self) -> Timestamp {
        use mta_sts_policyd::Clock as _;
        self.clock.now()
    }

    /// Puts a policy into the cache for a scenario's domain: fetched `age` seconds ago under
    /// `id`, its TXT id last checked `age` seconds ago too.
    pub async fn seed(&self, scenario: &str, id: &str, body: &str, age: u64) {
        let at = self.now().saturating_sub(Duration::from_secs(age));
        let entry = CacheEntry {
            policy: Some(CachedPolicy::new(id, body, at).expect("valid seed policy")),
            checked_at: Some(at),
            negative: None,
            backoff: None,
        };
        self.cache
            .put(&self.domain(scenario), entry)
            .await
            .expect("seed");
    }
}

/// A daemon over `cache` with a counting source for `config`'s lab.
pub fn daemon(
    config: &Config,
    cache: Arc<dyn PolicyCache>,
    clock: &Arc<ManualClock>,
) -> (Daemon, Arc<Counting>) {
    let source = Arc::new(Counting {
        inner: NetSource::from_config(config).expect("net source"),
        txt: AtomicUsize::new(0),
        fetches: AtomicUsize::new(0),
        dane: AtomicUsize::new(0),
        fetch_started: Notify::new(),
    });
    let daemon = Daemon::with_parts(
        config.clone(),
        source.clone(),
        cache,
        Arc::clone(clock) as Arc<dyn mta_sts_policyd::Clock>,
    );
    (daemon, source)
}

/// A private directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mta-sts-policyd-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
