//! `--summary-json`: what a whole scan found, counted from its JSON lines (so a resumed scan's
//! earlier lines count the same as this run's).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Counts over every line of a scan.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Lines counted (one per domain).
    pub domains: usize,
    /// Domains whose check did not finish within `--check-timeout`.
    pub timed_out: usize,
    /// Domains a queued scan gave up on: each of `--max-attempts` workers lost its lease on
    /// the domain (killed, crashed, cut off from the database) before finishing its check.
    pub given_up: usize,
    /// Domains by verdict (`pass`, `warn`, `fail`).
    pub verdicts: BTreeMap<String, usize>,
    /// Domains by outcome (`complete`, `incomplete`, `no-such-domain`).
    pub outcomes: BTreeMap<String, usize>,
    /// How many publish MTA-STS and TLS-RPT, and in which mode.
    pub adoption: Adoption,
    /// Each finding code with the number of domains that have it, most frequent first.
    pub findings: Vec<CodeCount>,
    /// Who issued the certificates the domains' hosts presented.
    pub certificate_issuers: Issuers,
    /// Where the policies are served from (shared hosting), most domains first.
    pub policy_hosts: Vec<PolicyHostCount>,
    #[serde(skip)]
    codes: BTreeMap<String, usize>,
    #[serde(skip)]
    policy_issuers: BTreeMap<String, usize>,
    #[serde(skip)]
    mx_issuers: BTreeMap<String, usize>,
    #[serde(skip)]
    hosts: BTreeMap<(String, HostVia), usize>,
}

/// Certificate issuers, each with the number of domains whose host presented one of its
/// certificates, most domains first.
#[derive(Debug, Default, Serialize)]
pub struct Issuers {
    /// Issuers of the policy hosts' certificates (fetched or refused).
    pub policy_host: Vec<NameCount>,
    /// Issuers of the MX hosts' certificates (a domain counts once per issuer).
    pub mx: Vec<NameCount>,
}

/// A name and the number of domains it counts.
#[derive(Debug, Serialize)]
pub struct NameCount {
    /// The issuer's organisation (its common name when it has none).
    pub name: String,
    /// Domains counted.
    pub domains: usize,
}

/// How a policy host was grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostVia {
    /// `mta-sts.<domain>` is an alias: grouped by the parent domain of the chain's end.
    Cname,
    /// No alias: grouped by the address the policy was fetched from.
    Address,
}

/// Where some domains' policies are served from.
#[derive(Debug, Serialize)]
pub struct PolicyHostCount {
    /// The parent domain of the CNAME target (`Cname`) or the IP address (`Address`).
    pub host: String,
    /// How the host was found.
    pub via: HostVia,
    /// Domains whose policy it serves.
    pub domains: usize,
}

/// Adoption counts.
#[derive(Debug, Default, Serialize)]
pub struct Adoption {
    /// Domains with a usable `_mta-sts` record.
    pub sts_record: usize,
    /// Domains with a usable `_smtp._tls` record.
    pub tlsrpt_record: usize,
    /// Domains whose fetched policy is valid, by mode.
    pub modes: BTreeMap<String, usize>,
}

/// A finding code and the number of domains that have it.
#[derive(Debug, Serialize)]
pub struct CodeCount {
    /// The finding's stable code.
    pub code: String,
    /// Domains with at least one finding of this code.
    pub domains: usize,
}

impl Summary {
    /// Counts one line of the scan's output.
    pub fn add(&mut self, line: &Value) {
        self.domains += 1;
        match Unchecked::of(line) {
            Some(Unchecked::TimedOut) => {
                self.timed_out += 1;
                return;
            }
            Some(Unchecked::GivenUp) => {
                self.given_up += 1;
                return;
            }
            None => {}
        }
        let count = |map: &mut BTreeMap<String, usize>, value: &Value| {
            if let Some(text) = value.as_str() {
                *map.entry(text.to_string()).or_default() += 1;
            }
        };
        count(&mut self.verdicts, &line["verdict"]);
        count(&mut self.outcomes, &line["outcome"]);
        count(&mut self.adoption.modes, &line["policy"]["mode"]);
        self.adoption.sts_record += usize::from(!line["sts_record"].is_null());
        self.adoption.tlsrpt_record += usize::from(!line["tlsrpt_record"].is_null());
        let mut codes: Vec<&str> = line["findings"]
            .as_array()
            .map(|findings| findings.iter().filter_map(|f| f["code"].as_str()).collect())
            .unwrap_or_default();
        // A domain counts once per code, however many hosts share the finding.
        codes.sort_unstable();
        codes.dedup();
        for code in codes {
            *self.codes.entry(code.to_string()).or_default() += 1;
        }
        if let Some(issuer) = policy_host_issuer(line) {
            *self.policy_issuers.entry(issuer).or_default() += 1;
        }
        let mut mx_issuers: Vec<String> = line["mx_hosts"]
            .as_array()
            .map(|hosts| {
                hosts
                    .iter()
                    .filter_map(|host| leaf_issuer(&host["tls"]["certificate"]["chain"]))
                    .collect()
            })
            .unwrap_or_default();
        mx_issuers.sort_unstable();
        mx_issuers.dedup();
        for issuer in mx_issuers {
            *self.mx_issuers.entry(issuer).or_default() += 1;
        }
        if let Some(host) = policy_host(&line["policy"]["fetch"]) {
            *self.hosts.entry(host).or_default() += 1;
        }
    }

    /// The summary with the finding codes ranked (most domains first, then by code).
    pub fn finish(mut self) -> Summary {
        let mut ranked: Vec<CodeCount> = std::mem::take(&mut self.codes)
            .into_iter()
            .map(|(code, domains)| CodeCount { code, domains })
            .collect();
        ranked.sort_by(|a, b| b.domains.cmp(&a.domains).then_with(|| a.code.cmp(&b.code)));
        self.findings = ranked;
        self.certificate_issuers = Issuers {
            policy_host: rank_names(std::mem::take(&mut self.policy_issuers)),
            mx: rank_names(std::mem::take(&mut self.mx_issuers)),
        };
        let mut hosts: Vec<PolicyHostCount> = std::mem::take(&mut self.hosts)
            .into_iter()
            .map(|((host, via), domains)| PolicyHostCount { host, via, domains })
            .collect();
        hosts.sort_by(|a, b| b.domains.cmp(&a.domains).then_with(|| a.host.cmp(&b.host)));
        self.policy_hosts = hosts;
        self
    }

    /// The end-of-scan sentences for standard error (of a finished summary): verdicts, the
    /// most frequent finding codes, issuers and policy hosts (five of each at most).
    pub fn sentences(&self) -> Vec<String> {
        const TOP: usize = 5;
        let mut lines = Vec::new();
        let verdicts: Vec<String> = self
            .verdicts
            .iter()
            .map(|(verdict, n)| format!("{n} {verdict}"))
            .collect();
        // Only a queued scan gives domains up, so a local scan's sentence does not mention it.
        let given_up = if self.given_up > 0 {
            format!(
                "; {} given up after --max-attempts workers were lost on each",
                self.given_up
            )
        } else {
            String::new()
        };
        lines.push(format!(
            "scan summary: {} domains: {}; {} timed out{given_up}.",
            self.domains,
            if verdicts.is_empty() {
                "no verdicts".to_string()
            } else {
                verdicts.join(", ")
            },
            self.timed_out
        ));
        for code in self.findings.iter().take(TOP) {
            lines.push(format!(
                "scan summary: {} {} the finding {}.",
                code.domains,
                domains_have(code.domains),
                code.code
            ));
        }
        for (what, issuers) in [
            ("a policy host", &self.certificate_issuers.policy_host),
            ("an MX", &self.certificate_issuers.mx),
        ] {
            for issuer in issuers.iter().take(TOP) {
                lines.push(format!(
                    "scan summary: {} {} {what} certificate issued by {}.",
                    issuer.domains,
                    domains_have(issuer.domains),
                    issuer.name
                ));
            }
        }
        for host in self.policy_hosts.iter().take(TOP) {
            let how = match host.via {
                HostVia::Cname => "through a CNAME",
                HostVia::Address => "at the address",
            };
            lines.push(format!(
                "scan summary: {} {} served by {} ({how}).",
                host.domains,
                if host.domains == 1 {
                    "domain's policy is"
                } else {
                    "domains' policies are"
                },
                host.host
            ));
        }
        lines
    }
}

/// Why a line holds an error instead of a report: the domain was not checked to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unchecked {
    /// The check did not finish within `--check-timeout` (`scan-check-timeout`).
    TimedOut,
    /// A queued scan gave the domain up after its workers were lost (`scan-worker-lost`).
    GivenUp,
}

impl Unchecked {
    /// How the line ended, when it is an error line.
    pub(super) fn of(line: &Value) -> Option<Unchecked> {
        let error = line.get("error")?;
        Some(match error["code"].as_str() {
            Some("scan-worker-lost") => Unchecked::GivenUp,
            // `scan-check-timeout`, the only other error a scan writes.
            _ => Unchecked::TimedOut,
        })
    }

    /// The word the CSV's `outcome` column and the HTML outcomes table use for it.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Unchecked::TimedOut => "timed-out",
            Unchecked::GivenUp => "given-up",
        }
    }
}

fn domains_have(n: usize) -> &'static str {
    if n == 1 { "domain has" } else { "domains have" }
}

fn rank_names(counts: BTreeMap<String, usize>) -> Vec<NameCount> {
    let mut ranked: Vec<NameCount> = counts
        .into_iter()
        .map(|(name, domains)| NameCount { name, domains })
        .collect();
    ranked.sort_by(|a, b| b.domains.cmp(&a.domains).then_with(|| a.name.cmp(&b.name)));
    ranked
}

/// The issuer of the policy host's certificate: from the fetch, or from the error that refused
/// the certificate.
pub(super) fn policy_host_issuer(line: &Value) -> Option<String> {
    let chain = if line["policy"]["fetch"].is_object() {
        &line["policy"]["fetch"]["certificate"]["chain"]
    } else {
        &line["policy_error"]["verdict"]["chain"]
    };
    leaf_issuer(chain)
}

/// The issuer of a chain's first (leaf) certificate, by organisation, else common name, else
/// the whole distinguished name: one CA issues from several intermediates (Let's Encrypt's
/// R10, R11, E5...), and the organisation is what a reader of a survey wants counted.
fn leaf_issuer(chain: &Value) -> Option<String> {
    let issuer = chain.get(0)?["issuer"].as_str()?;
    // The report writes names as `C=US, O=Let's Encrypt, CN=R11` (x509-parser's form).
    let attribute = |key: &str| {
        issuer
            .split(", ")
            .find_map(|part| part.strip_prefix(key))
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let name = attribute("O=")
        .or_else(|| attribute("CN="))
        .unwrap_or(issuer.trim());
    (!name.is_empty()).then(|| name.to_string())
}

/// Where a fetched policy came from: the provider-ish parent domain of the end of the
/// `mta-sts.<domain>` CNAME chain, or the IP address that answered when there is no alias.
fn policy_host(fetch: &Value) -> Option<(String, HostVia)> {
    if let Some(target) = fetch["cname_chain"]
        .as_array()
        .and_then(|chain| chain.last())
        .and_then(Value::as_str)
    {
        return Some((provider_domain(target), HostVia::Cname));
    }
    let address: std::net::SocketAddr = fetch["address"].as_str()?.parse().ok()?;
    Some((address.ip().to_string(), HostVia::Address))
}

/// The registrable-looking part of a host name: its last two labels, or three when the second
/// last is a common second-level label under a two-letter country code (`co.uk`, `com.au`).
/// A heuristic: the public suffix list is not in the dependency tree, and grouping hosting
/// providers needs no more than this.
fn provider_domain(host: &str) -> String {
    const SECOND_LEVEL: [&str; 8] = ["co", "com", "net", "org", "ac", "gov", "edu", "ne"];
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let keep = match labels.as_slice() {
        [.., second, tld] if tld.len() == 2 && SECOND_LEVEL.contains(second) => 3,
        _ => 2,
    };
    labels[labels.len().saturating_sub(keep)..].join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_verdicts_modes_and_ranks_codes_once_per_domain() {
        let lines = [
            serde_json::json!({"domain": "a.test", "verdict": "fail", "outcome": "complete",
                "sts_record": {"id": "1"}, "tlsrpt_record": null, "policy": {"mode": "enforce"},
                "findings": [{"code": "mx-cert-expired"}, {"code": "mx-cert-expired"},
                             {"code": "tlsrpt-missing"}]}),
            serde_json::json!({"domain": "b.test", "verdict": "warn", "outcome": "complete",
                "sts_record": {"id": "2"}, "tlsrpt_record": {"rua": []},
                "policy": {"mode": "testing"}, "findings": [{"code": "tlsrpt-missing"}]}),
            serde_json::json!({"domain": "c.test", "error": {"code": "scan-check-timeout"}}),
        ];
        let mut summary = Summary::default();
        for line in &lines {
            summary.add(line);
        }
        let summary = summary.finish();
        assert_eq!((summary.domains, summary.timed_out), (3, 1));
        assert_eq!(summary.verdicts["fail"], 1);
        assert_eq!(summary.verdicts["warn"], 1);
        assert_eq!(summary.adoption.sts_record, 2);
        assert_eq!(summary.adoption.tlsrpt_record, 1);
        assert_eq!(summary.adoption.modes["enforce"], 1);
        let ranked: Vec<(&str, usize)> = summary
            .findings
            .iter()
            .map(|c| (c.code.as_str(), c.domains))
            .collect();
        assert_eq!(ranked, vec![("tlsrpt-missing", 2), ("mx-cert-expired", 1)]);
    }

    #[test]
    fn a_domain_given_up_by_the_queue_is_not_counted_as_timed_out() {
        let lines = [
            serde_json::json!({"domain": "a.test", "verdict": "pass", "outcome": "complete"}),
            serde_json::json!({"domain": "b.test", "error": {"code": "scan-check-timeout",
                "message": "The check of b.test did not finish."}}),
            serde_json::json!({"domain": "c.test", "error": {"code": "scan-worker-lost",
                "message": "The check of c.test was started 3 times."}}),
            serde_json::json!({"domain": "d.test", "error": {"code": "scan-worker-lost",
                "message": "The check of d.test was started 3 times."}}),
        ];
        let mut summary = Summary::default();
        for line in &lines {
            summary.add(line);
        }
        let summary = summary.finish();
        assert_eq!(
            (summary.domains, summary.timed_out, summary.given_up),
            (4, 1, 2)
        );
        let json = serde_json::to_value(&summary).expect("summary JSON");
        assert_eq!(
            (&json["timed_out"], &json["given_up"]),
            (&1.into(), &2.into())
        );
        assert_eq!(
            summary.sentences()[0],
            "scan summary: 4 domains: 1 pass; 1 timed out; 2 given up after --max-attempts \
             workers were lost on each."
        );
        // A local scan never gives up a domain, and its sentence does not say so.
        let mut local = Summary::default();
        local.add(&lines[1]);
        assert_eq!(
            local.finish().sentences()[0],
            "scan summary: 1 domains: no verdicts; 1 timed out."
        );
    }

    fn chain(issuer: &str) -> Value {
        serde_json::json!([{"subject": "CN=x", "issuer": issuer}])
    }

    #[test]
    fn counts_issuers_by_organisation_and_groups_policy_hosts() {
        let le = "C=US, O=Let's Encrypt, CN=R11";
        let lines = [
            serde_json::json!({"domain": "a.test", "verdict": "pass",
                "policy": {"fetch": {"address": "192.0.2.7:443",
                    "cname_chain": ["mta-sts.customers.hoster.co.uk"],
                    "certificate": {"chain": chain(le)}}},
                "mx_hosts": [{"tls": {"certificate": {"chain": chain("CN=Private MX CA")}}},
                             {"tls": {"certificate": {"chain": chain("CN=Private MX CA")}}},
                             {"tls": null}]}),
            serde_json::json!({"domain": "b.test", "verdict": "pass",
                "policy": {"fetch": {"address": "192.0.2.8:443",
                    "cname_chain": ["a.example.", "mta-sts.Hoster.co.uk."],
                    "certificate": {"chain": chain("C=US, O=Let's Encrypt, CN=E5")}}}}),
            serde_json::json!({"domain": "c.test", "verdict": "fail", "policy": null,
                "policy_error": {"kind": "cert-expired",
                    "verdict": {"chain": chain("CN=Old CA")}}}),
            serde_json::json!({"domain": "d.test", "verdict": "pass",
                "policy": {"fetch": {"address": "[2001:db8::1]:443", "cname_chain": [],
                    "certificate": {"chain": []}}}}),
        ];
        let mut summary = Summary::default();
        for line in &lines {
            summary.add(line);
        }
        let summary = summary.finish();
        let names = |counts: &[NameCount]| -> Vec<(String, usize)> {
            counts.iter().map(|c| (c.name.clone(), c.domains)).collect()
        };
        assert_eq!(
            names(&summary.certificate_issuers.policy_host),
            vec![("Let's Encrypt".to_string(), 2), ("Old CA".to_string(), 1)]
        );
        // Two MX hosts of one domain with the same issuer count once.
        assert_eq!(
            names(&summary.certificate_issuers.mx),
            vec![("Private MX CA".to_string(), 1)]
        );
        let hosts: Vec<(&str, HostVia, usize)> = summary
            .policy_hosts
            .iter()
            .map(|h| (h.host.as_str(), h.via, h.domains))
            .collect();
        assert_eq!(
            hosts,
            vec![
                ("hoster.co.uk", HostVia::Cname, 2),
                ("2001:db8::1", HostVia::Address, 1)
            ]
        );
        let text = summary.sentences().join("\n");
        assert!(
            text.contains("2 domains' policies are served by hoster.co.uk (through a CNAME)."),
            "{text}"
        );
        assert!(
            text.contains("2 domains have a policy host certificate issued by Let's Encrypt."),
            "{text}"
        );
        assert!(
            text.contains("1 domain has an MX certificate issued by Private MX CA."),
            "{text}"
        );
    }

    #[test]
    fn provider_domains_keep_country_second_levels() {
        for (host, provider) in [
            ("mta-sts.mailhardener.com", "mailhardener.com"),
            ("x.y.example.com.au.", "example.com.au"),
            ("localhost", "localhost"),
            ("a.b.c.de", "c.de"),
        ] {
            assert_eq!(provider_domain(host), provider, "{host}");
        }
    }
}
