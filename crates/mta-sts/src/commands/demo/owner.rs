//! `mta-sts demo --serve`: the domain owner's server on the lab, over a store filled with two
//! weeks of generated TLS-RPT reports for three lab domains, so the dashboard and the rollout
//! advisor have something true to show:
//! - `mode-testing.test` publishes `mode: testing` and every report is clean: ready to enforce;
//! - `mx-wrong-name.test` enforces, and its MX presents a certificate for another name: the
//!   reports show `certificate-host-mismatch` failures for the last days;
//! - `healthy-enforce.test` enforces cleanly, but one reporter went silent four days ago.
//!
//! The reports go through the same intake as `mta-sts reports import` (sniffing, the tolerant
//! reader, the lint, the domain filter), into a SQLite store in a fresh temporary directory that
//! is removed when the demo stops.
//!
//! The server also hosts the policy of one more lab domain, [`HOSTED_DOMAIN`]: its
//! `mta-sts.` name points at the server's HTTPS listener, the certificate comes from the lab CA,
//! and its `_mta-sts` id is the content id of the policy served, so the demo's own check of it
//! passes, and any MTA-STS client pointed at the lab can fetch it.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use mta_sts_core::report::ResultType;
use mta_sts_core::sts_record::content_id;
use mta_sts_core::time::{Clock as _, Timestamp, UtcDate};
use mta_sts_lab::{
    CertKind, DnsRecord, Lab, MxHost, Organization, PlannedFailure, RecordData, ReportPlan,
    SHARED_ADDR, Scenario, SmtpBehaviour,
};
use mta_sts_net::SystemClock;
use mta_sts_reports::examine::examine_report;
use mta_sts_reports::{DomainFilter, Intake, Source};
use mta_sts_serve::config::{CheckConfig, HostConfig, HostingConfig, UserConfig};
use mta_sts_serve::{ServeConfig, Server};
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::ReportStore;
use prometheus_client::registry::Registry;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::Serialize;

use crate::commands::CommandError;

/// The days of reports generated, today included: the advisor's default window.
const DAYS: u32 = 14;

/// The dashboard's demo user.
const DEMO_USER: &str = "demo";

/// A domain the demo fills with reports, and how.
struct DemoDomain {
    scenario: &'static str,
    mode: &'static str,
    /// What the reports show, for the closing text.
    shows: &'static str,
}

const DEMO_DOMAINS: [DemoDomain; 3] = [
    DemoDomain {
        scenario: "mode-testing",
        mode: "testing",
        shows: "testing, two weeks of clean reports from three reporters: ready to enforce",
    },
    DemoDomain {
        scenario: "mx-wrong-name",
        mode: "enforce",
        shows: "enforce, its MX's certificate names another host: failures for the last 5 days",
    },
    DemoDomain {
        scenario: "healthy-enforce",
        mode: "enforce",
        shows: "enforce and clean, but Mail.Ru stopped reporting 4 days ago",
    },
];

/// The lab domain whose policy the demo's server hosts.
pub(super) const HOSTED_DOMAIN: &str = "serve-hosted.test";

/// The address the demo's server serves HTTPS on, at the lab's HTTPS port (the lab itself takes
/// 127.0.0.1, 127.0.0.2, and one address from 127.0.0.3 up per misbehaving MX host).
const HOSTED_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 250);

/// The policy the demo's server hosts for [`HOSTED_DOMAIN`], what `mta-sts publish` makes of
/// its one MX host in mode enforce.
fn hosted_policy() -> String {
    format!("version: STSv1\nmode: enforce\nmx: mx.{HOSTED_DOMAIN}\nmax_age: 604800\n")
}

/// The lab scenario of [`HOSTED_DOMAIN`]: a healthy domain whose policy host is the demo's
/// server rather than the lab's own, announced with the content id of [`hosted_policy`].
pub(super) fn hosted_scenario() -> Scenario {
    let mx = format!("mx.{HOSTED_DOMAIN}");
    let id = content_id(&hosted_policy());
    Scenario {
        name: "serve-hosted",
        domain: HOSTED_DOMAIN.to_string(),
        story: "Its policy is hosted by the demo's own `mta-sts serve` (with --serve), with the \
                policy's content id in the _mta-sts record",
        expect: &[],
        records: vec![
            DnsRecord::new(
                format!("_mta-sts.{HOSTED_DOMAIN}"),
                RecordData::Txt(vec![format!("v=STSv1; id={id}")]),
            ),
            DnsRecord::new(
                format!("_smtp._tls.{HOSTED_DOMAIN}"),
                RecordData::Txt(vec![format!(
                    "v=TLSRPTv1; rua=mailto:tlsrpt@{HOSTED_DOMAIN}"
                )]),
            ),
            DnsRecord::new(
                HOSTED_DOMAIN,
                RecordData::Mx {
                    preference: 10,
                    exchange: mx.clone(),
                },
            ),
            DnsRecord::new(&mx, RecordData::A(SHARED_ADDR)),
            DnsRecord::new(
                format!("mta-sts.{HOSTED_DOMAIN}"),
                RecordData::A(HOSTED_ADDR),
            ),
        ],
        policy_hosts: Vec::new(),
        mx_hosts: vec![MxHost {
            name: mx,
            behaviour: SmtpBehaviour::Starttls(CertKind::Valid),
        }],
        signed: false,
    }
}

/// The owner's server running on the lab.
pub(super) struct OwnerDemo {
    server: Server,
    /// Where the dashboard is and how to log in, as printed.
    pub(super) login: DemoLogin,
    directory: PathBuf,
}

/// The dashboard's address and the demo login, printed as text or as JSON.
#[derive(Debug, Clone, Serialize)]
pub(super) struct DemoLogin {
    /// The dashboard, `http://127.0.0.1:PORT/`.
    pub(super) url: String,
    /// The user name.
    pub(super) user: String,
    /// The password, made for this run.
    pub(super) password: String,
    /// The store (`sqlite:PATH`), for `mta-sts reports` and `mta-sts rollout --store`.
    pub(super) store: String,
    /// The domains with reports, and what each shows.
    pub(super) domains: Vec<DemoDomainView>,
    /// The hosted policy's URL, and where the server listens for it.
    pub(super) hosted: HostedView,
}

/// The policy the demo's server hosts, as printed.
#[derive(Debug, Clone, Serialize)]
pub(super) struct HostedView {
    /// The domain.
    pub(super) domain: &'static str,
    /// `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`.
    pub(super) url: String,
    /// The HTTPS listener, `127.0.0.250:PORT` (the lab's DNS points the policy host there).
    pub(super) address: String,
}

/// One filled domain, as printed.
#[derive(Debug, Clone, Serialize)]
pub(super) struct DemoDomainView {
    /// The domain.
    pub(super) domain: String,
    /// What its reports show.
    pub(super) shows: &'static str,
}

impl OwnerDemo {
    /// Fills a fresh store with reports for the demo domains and starts the owner's server on
    /// loopback, its live checks pointed at the lab.
    pub(super) async fn start(lab: &Lab, timeout: Duration) -> Result<OwnerDemo, CommandError> {
        let setup = |what: &str, error: &dyn std::fmt::Display| {
            CommandError::Setup(format!("cannot start the demo's server: {what}: {error}"))
        };
        let directory = std::env::temp_dir().join(format!(
            "mta-sts-demo-{}-{}",
            std::process::id(),
            SystemClock.now().unix_seconds()
        ));
        std::fs::create_dir_all(&directory)
            .map_err(|e| setup(&format!("cannot make {}", directory.display()), &e))?;
        let demo = OwnerDemo::fill_and_serve(lab, timeout, &directory).await;
        if demo.is_err() {
            let _ = std::fs::remove_dir_all(&directory);
        }
        demo.map(|(server, login)| OwnerDemo {
            server,
            login,
            directory,
        })
    }

    async fn fill_and_serve(
        lab: &Lab,
        timeout: Duration,
        directory: &std::path::Path,
    ) -> Result<(Server, DemoLogin), CommandError> {
        let setup = |what: &str, error: &dyn std::fmt::Display| {
            CommandError::Setup(format!("cannot start the demo's server: {what}: {error}"))
        };
        let store_text = format!("sqlite:{}", directory.join("demo.db").display());
        let url: StoreUrl = store_text.parse().map_err(|e| setup("the store", &e))?;
        let store = ReportStore::open(&url)
            .await
            .map_err(|e| setup("the store", &e))?;
        let now = SystemClock.now();
        let mut domains = Vec::new();
        let mut views = Vec::new();
        for demo in &DEMO_DOMAINS {
            let scenario = lab.scenario(demo.scenario).ok_or_else(|| {
                CommandError::Setup(format!("the lab has no scenario named {}", demo.scenario))
            })?;
            domains.push(scenario.domain.clone());
            views.push(DemoDomainView {
                domain: scenario.domain.clone(),
                shows: demo.shows,
            });
        }
        let filter = DomainFilter::from_names(domains.iter().map(String::as_str))
            .map_err(|e| setup("the domains", &e))?;
        let mut registry = Registry::default();
        let intake = Intake::new(store, filter.clone(), &mut registry);
        let mut batch = Vec::new();
        for demo in &DEMO_DOMAINS {
            let Some(scenario) = lab.scenario(demo.scenario) else {
                continue;
            };
            for generated in plan(scenario, demo, now).reports() {
                let examined = examine_report(generated.json.as_bytes(), &filter, None);
                batch.push((examined, Source::Https));
            }
        }
        intake
            .take(batch)
            .await
            .map_err(|e| setup("storing the generated reports", &e))?;

        let certs = directory.join("certs");
        let host_name = format!("mta-sts.{HOSTED_DOMAIN}");
        let (chain, key) = lab
            .issue_certificate(&host_name)
            .map_err(|e| setup("a certificate for the hosted policy", &e))?;
        std::fs::create_dir_all(&certs)
            .and_then(|()| std::fs::write(certs.join(format!("{host_name}.pem")), chain))
            .and_then(|()| std::fs::write(certs.join(format!("{host_name}.key")), key))
            .map_err(|e| setup(&format!("cannot write {}", certs.display()), &e))?;
        let mut hosted = HostConfig::auto(HOSTED_DOMAIN);
        hosted.auto = false;
        hosted.policy = Some(hosted_policy());

        let password = demo_password().map_err(|e| setup("making a password", &e))?;
        let password_hash =
            mta_sts_serve::hash_password(&password).map_err(|e| setup("hashing", &e))?;
        let mut config = ServeConfig {
            domains,
            listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            https: Some(SocketAddr::from((HOSTED_ADDR, lab.https_port()))),
            hosts: vec![hosted],
            hosting: HostingConfig {
                certs: Some(certs),
                ..HostingConfig::default()
            },
            store: store_text.clone(),
            users: vec![UserConfig {
                name: DEMO_USER.to_string(),
                password_hash,
            }],
            check: CheckConfig {
                resolver: Some(lab.dns_addr()),
                ca_file: Some(lab.ca_file().to_path_buf()),
                https_port: lab.https_port(),
                smtp_port: lab.smtp_port(),
                timeout,
            },
            ..ServeConfig::default()
        };
        // Plain HTTP on loopback: a Secure cookie would never be sent back.
        config.dashboard.secure_cookie = false;
        config
            .validate()
            .map_err(|e| setup("the configuration", &e))?;
        let server = Server::start(config)
            .await
            .map_err(|e| setup("the server", &e))?;
        let https_address = server
            .https_addr()
            .map_or_else(String::new, |a| a.to_string());
        let address = server.http_addr().ok_or_else(|| {
            CommandError::Setup("the demo's server has no plain-HTTP listener".to_string())
        })?;
        Ok((
            server,
            DemoLogin {
                url: format!("http://{address}/"),
                user: DEMO_USER.to_string(),
                password,
                store: store_text,
                domains: views,
                hosted: HostedView {
                    domain: HOSTED_DOMAIN,
                    url: format!("https://{host_name}{}", mta_sts_lab::POLICY_PATH),
                    address: https_address,
                },
            },
        ))
    }

    /// Serves until `stop` completes, then removes the demo's store.
    pub(super) async fn serve(self, stop: impl Future<Output = ()> + Send) {
        self.server.serve(stop).await;
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// The reports of one demo domain: two weeks up to today, from every organisation the
/// generator knows, with the senders applying the domain's own policy.
fn plan(scenario: &Scenario, demo: &DemoDomain, now: Timestamp) -> ReportPlan {
    let today = now.utc_date();
    let day = |back: i64| UtcDate::from_day_number(today.day_number() - back).unwrap_or(today);
    let first_day = day(i64::from(DAYS) - 1);
    let mx: Vec<&str> = scenario.mx_hosts.iter().map(|h| h.name.as_str()).collect();
    let mut policy = format!("version: STSv1\nmode: {}\n", demo.mode);
    for host in &mx {
        policy.push_str(&format!("mx: {host}\n"));
    }
    policy.push_str("max_age: 604800\n");
    let mut plan =
        ReportPlan::new(&scenario.domain, first_day, DAYS).with_policy(first_day, &policy);
    match demo.scenario {
        "mx-wrong-name" => {
            if let Some(host) = mx.first() {
                plan = plan.with_failure(PlannedFailure {
                    result_type: ResultType::CertificateHostMismatch,
                    receiving_mx: (*host).to_string(),
                    sessions_per_day: 40,
                    first_day: day(4),
                    last_day: today,
                    organizations: vec![Organization::Google, Organization::Microsoft],
                });
            }
        }
        "healthy-enforce" => plan.silent_from.push((Organization::MailRu, day(3))),
        _ => {}
    }
    plan
}

/// A password for this run: 16 random bytes as hex.
fn demo_password() -> Result<String, ring::error::Unspecified> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
