//! The checker engine: audits one domain's MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) setup the
//! way a sending server sees it, and reports [`Finding`]s with stable codes.
//!
//! DNS lookups, the policy fetch and the MX probes run concurrently wherever the data allows; the
//! engine itself keeps no state between checks, so one [`Checker`] serves any number of domains.

mod finding;
mod publish;
mod report;
mod rules;

use std::time::{Duration, Instant};

use mta_sts_core::Severity;
use mta_sts_net::policy_fetch::fetch_policy;
use mta_sts_net::smtp_probe::probe_mx;
use mta_sts_net::{Dns, FetchConfig, ProbeConfig};

pub use finding::{Finding, Verdict};
use futures_util::future::join_all;
pub use mta_sts_core::{FindingCode, Section};
use mta_sts_net::DnsError;
use mta_sts_net::dane::mx_host_tlsa;
use mta_sts_net::dns::Tlsa;
pub use report::{
    CheckReport, NotLearnt, Outcome, PolicyReport, Publish, SectionStatus, SectionView, Timings,
};

/// A check after its first stage ([`Checker::start`]); [`Checker::finish`] completes it.
#[derive(Debug)]
pub struct PartialCheck {
    started: Instant,
    findings: Findings,
    report: CheckReport,
}

impl PartialCheck {
    /// The report so far: every finding of the records, the policy, TLS-RPT and the MX set;
    /// no MX host probed yet, nothing to publish yet.
    pub fn snapshot(&self) -> CheckReport {
        let mut report = self.report.clone();
        (report.findings, report.not_learnt) = self.findings.clone().into_parts();
        report.conclude();
        report
    }
}
use rules::{
    Findings, check_alignment, check_dane, check_mx_set, check_policy, check_probe,
    check_sts_record, check_tlsrpt_record, report_fetch_error,
};

/// What a check from outside cannot see; every report (CLI, web page) ends with it.
pub const CANNOT_PROVE: &str = "What this check cannot prove: how each sending server behaves. It shows what senders \
will find (records, policy, certificates) from where it runs; whether they apply your policy, and \
what failed on real deliveries, is what TLS-RPT reports tell you.";

/// A certificate that expires within this many days is flagged.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// How the checker reaches the network.
#[derive(Debug, Clone)]
pub struct Checker {
    dns: Dns,
    fetch: FetchConfig,
    probe: ProbeConfig,
    probe_smtp: bool,
}

impl Checker {
    /// A checker over these network settings; `probe_smtp: false` skips the SMTP probes (port
    /// 25, which many networks block).
    pub fn new(dns: Dns, fetch: FetchConfig, probe: ProbeConfig, probe_smtp: bool) -> Checker {
        Checker {
            dns,
            fetch,
            probe,
            probe_smtp,
        }
    }

    /// Checks one domain (already normalised to A-labels).
    pub async fn check(&self, domain: &str) -> CheckReport {
        let partial = self.start(domain).await;
        self.finish(partial).await
    }

    /// The first stage of a check, for callers that show results as they come (the web page):
    /// the DNS lookups and the policy fetch, with every finding they allow. The MX records and
    /// their alignment with the policy are known; the MX hosts are not yet probed.
    pub async fn start(&self, domain: &str) -> PartialCheck {
        let started = Instant::now();
        let sts_name = format!("_mta-sts.{domain}");
        let tlsrpt_name = format!("_smtp._tls.{domain}");
        let ((sts_txt, sts_ms), (tlsrpt_txt, tlsrpt_ms), (mx, mx_ms), (fetched, policy_ms)) = tokio::join!(
            timed(self.dns.txt(&sts_name)),
            timed(self.dns.txt(&tlsrpt_name)),
            timed(self.dns.mx(domain)),
            timed(fetch_policy(domain, &self.dns, &self.fetch)),
        );

        let timings = Timings {
            sts_record: sts_ms,
            tlsrpt_record: tlsrpt_ms,
            mx: mx_ms,
            policy: policy_ms,
            smtp: 0,
            total: 0,
        };
        // A definite answer to any lookup (records, NXDOMAIN, NODATA) shows the resolver works.
        let mut findings =
            Findings::new(answered(&sts_txt) || answered(&tlsrpt_txt) || answered(&mx));
        // RFC 8020 §2: NXDOMAIN for the domain's own name means nothing exists at or under it,
        // `_mta-sts` and `_smtp._tls` included: there is nothing to check, and no record to
        // suggest. (A server that still answers for a name under it contradicts itself; the
        // check then goes on as usual.)
        let denied =
            |result: &Result<_, DnsError>| result.as_ref().is_err_and(DnsError::is_negative);
        if matches!(mx, Err(DnsError::NxDomain)) && denied(&sts_txt) && denied(&tlsrpt_txt) {
            return PartialCheck {
                started,
                findings,
                report: CheckReport {
                    outcome: Outcome::NoSuchDomain,
                    ..CheckReport::empty(domain, timings)
                },
            };
        }
        let sts_record = check_sts_record(&mut findings, &sts_name, sts_txt);
        let tlsrpt_record = check_tlsrpt_record(&mut findings, &tlsrpt_name, tlsrpt_txt);
        // Without a record senders never fetch the policy, so its state is not reported.
        let announced = !findings.has(FindingCode::StsRecordMissing);
        let (policy, policy_error) = match fetched {
            Ok(fetch) => (Some(check_policy(&mut findings, fetch, announced)), None),
            Err(error) => {
                if announced {
                    report_fetch_error(&mut findings, domain, &error);
                }
                (None, Some(error))
            }
        };
        let parsed = policy
            .as_ref()
            .and_then(|p| p.parsed.as_ref())
            .filter(|_| announced);
        let mx = check_mx_set(&mut findings, domain, mx, parsed.is_some() || announced);
        if let (Some(policy), Some(mx)) = (parsed, &mx) {
            check_alignment(&mut findings, policy, mx);
        }
        PartialCheck {
            started,
            findings,
            report: CheckReport {
                sts_record,
                policy,
                policy_error,
                mx,
                tlsrpt_record,
                ..CheckReport::empty(domain, timings)
            },
        }
    }

    /// The second stage: probes every MX host (and looks up its TLSA records), then completes
    /// the report.
    pub async fn finish(&self, partial: PartialCheck) -> CheckReport {
        let PartialCheck {
            started,
            mut findings,
            mut report,
        } = partial;
        let hosts: Vec<String> = report
            .mx
            .iter()
            .flat_map(|set| set.hosts.iter().map(|(_, host)| host.clone()))
            .collect();
        let probes = async {
            if self.probe_smtp {
                join_all(
                    hosts
                        .iter()
                        .map(|host| probe_mx(host, &self.dns, &self.probe)),
                )
                .await
            } else {
                Vec::new()
            }
        };
        // RFC 7672 §2.2.2: the TLSA records of an MX host are at `_25._tcp.<expanded name>`
        // when the host name is an alias whose expansion the resolver validated, else (or when
        // none are there) at `_25._tcp.<host>`; the daemon decides with the same lookups.
        let tlsa = join_all(hosts.iter().map(|host| mx_host_tlsa(&self.dns, host)));
        let ((mx_hosts, tlsa), smtp_ms) = timed(async { tokio::join!(probes, tlsa) }).await;
        for probe in &mx_hosts {
            check_probe(&mut findings, probe, self.probe.port);
        }
        // Hosts with records, validated or not, named with the name they came from. Failed
        // lookups and hosts without TLSA are not DANE facts a checker reports.
        let dane: Vec<(String, Tlsa)> = hosts
            .iter()
            .zip(tlsa)
            .filter_map(|(host, found)| {
                let label = found.label(host);
                found.answer.ok().map(|records| (label, records))
            })
            .collect();
        check_dane(&mut findings, &dane);
        report.publish = publish::suggest(
            &report.domain,
            &findings,
            report.policy.as_ref(),
            report.mx.as_ref(),
            report.tlsrpt_record.as_ref(),
        );
        (report.findings, report.not_learnt) = findings.into_parts();
        report.mx_hosts = mx_hosts;
        report.dane = dane;
        report.timings_ms.smtp = smtp_ms;
        report.timings_ms.total = millis(started);
        report.conclude();
        report
    }
}

/// Network settings, resolved from what a user gives on the command line.
#[derive(Debug, Clone)]
pub struct NetSettings {
    /// Where DNS queries go (`None`: the system's resolvers).
    pub resolver: Option<std::net::SocketAddr>,
    /// The trust roots.
    pub trust: mta_sts_net::Trust,
    /// HTTPS port of policy hosts.
    pub https_port: u16,
    /// SMTP port of MX hosts.
    pub smtp_port: u16,
    /// Time limit for the policy fetch and for each SMTP step.
    pub timeout: Duration,
    /// Which addresses may be dialled.
    pub guard: mta_sts_net::AddressGuard,
    /// Whether to probe MX hosts on port 25.
    pub probe_smtp: bool,
}

impl Checker {
    /// A checker from network settings.
    pub fn from_settings(settings: &NetSettings) -> Result<Checker, mta_sts_net::Error> {
        let dns = Dns::new(&mta_sts_net::DnsConfig {
            upstream: settings.resolver,
            timeout: settings.timeout.min(Duration::from_secs(5)),
            attempts: 2,
        })?;
        let mut fetch = FetchConfig::new(settings.trust.clone());
        fetch.port = settings.https_port;
        fetch.timeout = settings.timeout;
        fetch.guard = settings.guard;
        let mut probe = ProbeConfig::new(settings.trust.clone());
        probe.port = settings.smtp_port;
        probe.step_timeout = settings.timeout;
        probe.guard = settings.guard;
        Ok(Checker::new(dns, fetch, probe, settings.probe_smtp))
    }
}

impl Checker {
    /// The same checker with its DNS queries limited to `per_second` a second, a limit shared
    /// by every check it runs at once and by its clones (see
    /// [`Dns::with_max_query_rate`]). An error if `per_second` is not a number above 0.
    pub fn with_max_dns_rate(mut self, per_second: f64) -> Result<Checker, mta_sts_net::Error> {
        self.dns = self.dns.with_max_query_rate(per_second)?;
        Ok(self)
    }
}

/// Severity order helper for callers that count findings.
pub fn count(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity == severity).count()
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Whether a lookup got a definite answer: records, or a name or type that does not exist.
fn answered<T>(result: &Result<T, DnsError>) -> bool {
    result.as_ref().map_or_else(DnsError::is_negative, |_| true)
}

/// Runs a future and measures it.
async fn timed<T>(future: impl Future<Output = T>) -> (T, u64) {
    let started = Instant::now();
    let output = future.await;
    (output, millis(started))
}
