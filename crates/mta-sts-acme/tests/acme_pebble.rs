//! The engine against Debian's `pebble` on loopback, resolving `mta-sts.<domain>` through the
//! lab's DNS to the responder that answers from the engine's [`Challenges`]: both challenge
//! types, the certificate and account shared through the store by a second server, refusal of
//! names not configured, renewal at its time, and the warning when renewal fails.
//! SKIPPED without pebble; failing instead with `MTA_STS_REQUIRE_TOOLS=1`.

mod responder;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mta_sts_acme::{
    AcmeError, AcmeIssuer, AcmeSettings, CertificateSink, ChallengeKind, Challenges, ExpiryWarning,
    IssuedCertificate, Obtained, keep_certificates,
};
use mta_sts_core::time::Clock;
use mta_sts_lab::{DnsRecord, Lab, RecordData, Scenario};
use mta_sts_net::clock::SystemClock;
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::ReportStore;
use mta_sts_store::test_support::TempDir;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use mta_sts_acme::test_support::Pebble;
use responder::answer_challenges;

/// A lab domain whose `mta-sts.` host resolves to the responder's address.
fn hosted(name: &'static str) -> Scenario {
    let domain = format!("{name}.test");
    Scenario {
        name,
        records: vec![DnsRecord::new(
            format!("mta-sts.{domain}"),
            RecordData::A(Ipv4Addr::LOCALHOST),
        )],
        domain,
        story: "a domain whose policy host gets its certificate by ACME",
        expect: &[],
        policy_hosts: Vec::new(),
        mx_hosts: Vec::new(),
        signed: false,
    }
}

/// The lab, pebble, a responder and a store: everything an issuer needs.
struct World {
    lab: Lab,
    pebble: Pebble,
    challenges: Arc<Challenges>,
    _dir: TempDir,
    store_url: StoreUrl,
}

impl World {
    async fn start(validity: Duration) -> Option<World> {
        let lab = Lab::start_with(vec![hosted("acme-one"), hosted("acme-two")], 0)
            .await
            .expect("lab");
        let http = TcpListener::bind("127.0.0.1:0").await.expect("http");
        let tls = TcpListener::bind("127.0.0.1:0").await.expect("tls");
        let (http_port, tls_port) = (
            http.local_addr().expect("addr").port(),
            tls.local_addr().expect("addr").port(),
        );
        let pebble = Pebble::start(lab.dns_addr(), http_port, tls_port, validity)?;
        let challenges = Arc::new(Challenges::default());
        answer_challenges(Arc::clone(&challenges), http, tls);
        let dir = TempDir::new("mta-sts-acme-store");
        let store_url = StoreUrl::Sqlite(dir.file("store.db"));
        Some(World {
            lab,
            pebble,
            challenges,
            _dir: dir,
            store_url,
        })
    }

    fn settings(&self, challenge: ChallengeKind) -> AcmeSettings {
        AcmeSettings {
            ca_file: Some(self.pebble.ca_file.clone()),
            contact: vec!["mailto:hostmaster@acme-one.test".to_string()],
            challenge,
            order_timeout: Duration::from_secs(30),
            ..AcmeSettings::new(self.pebble.directory.clone())
        }
    }

    async fn issuer(&self, challenge: ChallengeKind, names: &[&str]) -> AcmeIssuer {
        AcmeIssuer::new(
            self.settings(challenge),
            names.iter().map(|n| n.to_string()),
            ReportStore::open(&self.store_url).await.expect("store"),
            Arc::clone(&self.challenges),
            Arc::new(SystemClock),
        )
    }
}

fn issued(obtained: Obtained) -> IssuedCertificate {
    match obtained {
        Obtained::Issued(certificate) => certificate,
        other => panic!("expected a new certificate, got {other:?}"),
    }
}

/// The leaf's subjectAltNames.
fn names(certificate: &IssuedCertificate) -> Vec<String> {
    let key = certificate.certified_key();
    let (_, leaf) = X509Certificate::from_der(&key.cert[0]).expect("leaf");
    leaf.subject_alternative_name()
        .expect("SAN")
        .expect("present")
        .value
        .general_names
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_issues_once_and_a_second_server_finds_it_in_the_store() {
    let Some(world) = World::start(Duration::from_secs(3600)).await else {
        return;
    };
    let name = "mta-sts.acme-one.test";
    let first = world.issuer(ChallengeKind::Http01, &[name]).await;
    let certificate = issued(first.obtain(name).await.expect("issued"));
    assert_eq!(names(&certificate), [format!("DNSName({name})")]);
    assert!(
        certificate.certified_key().cert.len() >= 2,
        "leaf and intermediate"
    );
    // Pebble's validity period counts both ends (notAfter is the last valid second).
    let lifetime = certificate
        .not_after()
        .duration_since(certificate.not_before());
    assert!(
        lifetime.abs_diff(Duration::from_secs(3600)) <= Duration::from_secs(1),
        "{lifetime:?}"
    );
    // The answer is withdrawn once the order is done.
    assert!(world.challenges.http01("anything").is_none());

    // Asking again, or from a second server on the same store, finds it: nothing is ordered.
    for issuer in [&first, &world.issuer(ChallengeKind::Http01, &[name]).await] {
        match issuer.obtain(name).await.expect("stored") {
            Obtained::Stored(stored) => assert_eq!(stored.stored(), certificate.stored()),
            other => panic!("expected the stored certificate, got {other:?}"),
        }
    }
    // One account for the directory, kept in the store.
    let store = ReportStore::open(&world.store_url).await.expect("store");
    assert!(
        store
            .acme_account(&world.pebble.directory)
            .await
            .expect("account")
            .is_some()
    );

    // A name not configured is refused before anything is ordered.
    let error = first
        .obtain("mta-sts.acme-two.test")
        .await
        .expect_err("not configured");
    assert!(matches!(error, AcmeError::NotConfigured { .. }), "{error}");
    assert!(error.is_refusal());
    assert_eq!(
        store
            .acme_certificate("mta-sts.acme-two.test")
            .await
            .expect("read"),
        None
    );
    drop(world.lab);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_issues_through_the_acme_tls_certificate() {
    let Some(world) = World::start(Duration::from_secs(3600)).await else {
        return;
    };
    let name = "mta-sts.acme-two.test";
    let issuer = world.issuer(ChallengeKind::TlsAlpn01, &[name]).await;
    let certificate = issued(issuer.obtain(name).await.expect("issued"));
    assert_eq!(names(&certificate), [format!("DNSName({name})")]);
    assert!(world.challenges.tls_alpn01(name).is_none(), "withdrawn");
}

/// Collects what the keeper hands over.
#[derive(Default)]
struct Collected {
    installed: Mutex<Option<mpsc::UnboundedSender<IssuedCertificate>>>,
    warned: Mutex<Option<mpsc::UnboundedSender<ExpiryWarning>>>,
}

impl CertificateSink for Collected {
    fn install(&self, certificate: &IssuedCertificate) {
        if let Some(tx) = &*self.installed.lock().expect("lock") {
            let _ = tx.send(certificate.clone());
        }
    }

    fn expiring(&self, warning: &ExpiryWarning) {
        if let Some(tx) = &*self.warned.lock().expect("lock") {
            let _ = tx.send(warning.clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lived_certificate_is_renewed_and_a_failing_renewal_warns() {
    // Nine seconds: renewed after three (a third), a warning after six (two thirds).
    let Some(mut world) = World::start(Duration::from_secs(9)).await else {
        return;
    };
    let name = "mta-sts.acme-one.test";
    let issuer = AcmeIssuer::new(
        AcmeSettings {
            renew_at: 1.0 / 3.0,
            warn_at: 2.0 / 3.0,
            retry_first: Duration::from_millis(500),
            retry_max: Duration::from_secs(1),
            ..world.settings(ChallengeKind::Http01)
        },
        [name.to_string()],
        ReportStore::open(&world.store_url).await.expect("store"),
        Arc::clone(&world.challenges),
        Arc::new(SystemClock),
    );
    let (installed_tx, mut installed) = mpsc::unbounded_channel();
    let (warned_tx, mut warned) = mpsc::unbounded_channel();
    let sink = Collected {
        installed: Mutex::new(Some(installed_tx)),
        warned: Mutex::new(Some(warned_tx)),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let clock = SystemClock;
    let keeper = async {
        keep_certificates(&issuer, &clock, &sink, async {
            let _ = stop_rx.await;
        })
        .await;
    };
    let test = async {
        let first = installed.recv().await.expect("first certificate");
        let renewed = installed.recv().await.expect("renewed certificate");
        assert!(renewed.not_after() > first.not_after());
        // Renewed at its renewal time, before it expired.
        assert!(renewed.not_before() >= issuer.renewal_time(&first));
        assert!(renewed.not_before() < first.not_after());
        assert!(warned.try_recv().is_err(), "no warning while renewals work");

        // The CA goes away: renewing fails, and the certificate is reported once it passes its
        // warning time.
        world.pebble.stop();
        let warning = warned.recv().await.expect("warning");
        assert_eq!(warning.name, name);
        assert_eq!(warning.not_after, renewed.not_after());
        assert!(warning.last_error.is_some(), "{warning}");
        assert!(SystemClock.now() >= issuer.warning_time(&renewed));
        let _ = stop_tx.send(());
    };
    tokio::join!(keeper, test);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_asking_at_once_order_once() {
    let Some(world) = World::start(Duration::from_secs(3600)).await else {
        return;
    };
    let name = "mta-sts.acme-one.test";
    let first = world.issuer(ChallengeKind::Http01, &[name]).await;
    let second = world.issuer(ChallengeKind::Http01, &[name]).await;
    let (a, b) = tokio::join!(first.obtain(name), second.obtain(name));
    let outcomes = [a.expect("first"), b.expect("second")];
    let issued: Vec<&IssuedCertificate> = outcomes
        .iter()
        .filter_map(|o| match o {
            Obtained::Issued(certificate) => Some(certificate),
            _ => None,
        })
        .collect();
    assert_eq!(issued.len(), 1, "exactly one order: {outcomes:?}");
    // The other one waited for the lease, or found the certificate already kept.
    assert!(
        outcomes.iter().any(|o| match o {
            Obtained::Busy => true,
            Obtained::Stored(stored) => stored.stored() == issued[0].stored(),
            Obtained::Issued(_) => false,
            _ => false,
        }),
        "{outcomes:?}"
    );
    // Asked again once the order is done, the other server gets the one certificate.
    for issuer in [&first, &second] {
        match issuer.obtain(name).await.expect("stored") {
            Obtained::Stored(stored) => assert_eq!(stored.stored(), issued[0].stored()),
            other => panic!("expected the stored certificate, got {other:?}"),
        }
    }
}
