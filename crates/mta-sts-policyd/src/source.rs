//! Where policies come from: the network operations the resolver needs (the `_mta-sts` TXT
//! record, the policy fetch, and the DANE facts of a domain), behind a trait so the resolver's
//! cache logic can be observed (and counted) in tests and reused elsewhere.

use std::fmt;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, join, join_all};
use mta_sts_net::dns::{CnameExpansion, Tlsa};
use mta_sts_net::policy_fetch::fetch_policy;
use mta_sts_net::{Dns, DnsConfig, DnsError, FetchConfig, FetchError, Trust};

use crate::config::Config;
use crate::error::PolicydError;

/// The TXT records at a name, each as its character-strings (RFC 8461 §3.1 joins them).
pub type TxtRecords = Vec<Vec<Vec<u8>>>;

/// The most MX hosts whose TLSA records are looked up, in preference order. Postfix itself
/// tries at most `smtp_mx_address_limit` addresses (5 by default), so hosts further down the
/// list are not reached at delivery either; the cap keeps a domain with hundreds of MX records
/// from costing hundreds of lookups.
pub const MAX_DANE_HOSTS: usize = 16;

/// What the DANE lookups of a domain found: the facts the DANE-first rule of [`crate::policy`]
/// decides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneFacts {
    /// The resolver validated the domain's MX RRset with DNSSEC (AD bit).
    pub mx_validated: bool,
    /// The MX hosts (as the MX records name them), in preference order, with a DNSSEC-validated
    /// TLSA RRset at their TLSA base domain.
    pub hosts: Vec<String>,
    /// The MX hosts whose TLSA lookup failed, and how.
    pub failed: Vec<(String, DnsError)>,
    /// The MX hosts of [`Self::hosts`] and [`Self::failed`] whose deciding TLSA lookup was at
    /// their CNAME-expanded name (RFC 7672 §2.2.2: an alias with a secure expansion), with that
    /// name: `(MX host, expanded name)`. The others were decided at `_25._tcp.<MX host>`.
    pub via: Vec<(String, String)>,
}

/// How the DANE lookups of one MX host came out (RFC 7672 §2.2.2, §2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostOutcome {
    /// A secure TLSA RRset at the TLSA base domain: the expanded name (`via`), or the MX host
    /// name itself (`None`).
    Dane { via: Option<String> },
    /// No usable TLSA RRset at any candidate name.
    NoDane,
    /// A lookup failed where its answer would decide: at the expanded name (`via`), or at the
    /// MX host name.
    Failed {
        error: DnsError,
        via: Option<String>,
    },
}

/// What one TLSA answer says about its name.
enum TlsaAnswer {
    /// A "secure" TLSA RRset (validated, AD=1).
    Secure,
    /// No usable records: NXDOMAIN, NODATA, or records the resolver did not validate.
    Unusable,
    /// The lookup failed (SERVFAIL, timeout): neither "TLSA" nor "no TLSA" was learnt.
    Failed(DnsError),
}

impl TlsaAnswer {
    fn of(answer: Result<Tlsa, DnsError>) -> TlsaAnswer {
        match answer {
            // RFC 7672 §2.2: a "secure" TLSA RRset makes DANE apply to the host.
            Ok(tlsa) if tlsa.authenticated => TlsaAnswer::Secure,
            // RFC 7672 §2.2: TLSA records that are not "secure" are not used; the host gets
            // pre-DANE TLS, as if it had none.
            Ok(_) => TlsaAnswer::Unusable,
            // NXDOMAIN or NODATA: no TLSA records at this name.
            Err(error) if error.is_negative() => TlsaAnswer::Unusable,
            // RFC 7672 §2.1.1: a failed lookup (SERVFAIL, timeout) proves neither that records
            // exist nor that they do not, so it must not be read as "no TLSA".
            Err(error) => TlsaAnswer::Failed(error),
        }
    }
}

impl HostOutcome {
    /// The outcome of one MX host from its lookups: `expansion`, the CNAME lookup of the host
    /// name; `at_host`, the TLSA answer at `_25._tcp.<host>`; `at_target`, the expanded name
    /// and the TLSA answer there, looked up only for a secure expansion.
    fn decide(
        expansion: &Result<Option<CnameExpansion>, DnsError>,
        at_host: Result<Tlsa, DnsError>,
        at_target: Option<(String, Result<Tlsa, DnsError>)>,
    ) -> HostOutcome {
        // RFC 7672 §2.2.2 (and RFC 7671 §7): with a secure CNAME expansion the fully expanded
        // name is the preferred TLSA base domain; the MX host name is tried when no TLSA
        // records are found there.
        if let Some((target, answer)) = at_target {
            match TlsaAnswer::of(answer) {
                TlsaAnswer::Secure => return HostOutcome::Dane { via: Some(target) },
                // RFC 7672 §2.1.1: whether the preferred base domain has TLSA records is
                // unknown, so falling back to the host name could let a spoofed or lost answer
                // skip DANE: Postfix, looking up for itself at delivery, decides for this host.
                TlsaAnswer::Failed(error) => {
                    return HostOutcome::Failed {
                        error,
                        via: Some(target),
                    };
                }
                TlsaAnswer::Unusable => {}
            }
        }
        // No expansion, an insecure one (RFC 7672 §2.2.2: an expanded name reached through
        // unvalidated data is no TLSA base domain), or nothing at the expanded name: the MX
        // host name is the (remaining) candidate.
        match TlsaAnswer::of(at_host) {
            // Secure TLSA at the host name decides even when the CNAME lookup failed: DANE
            // applies whichever name turns out to be the base domain.
            TlsaAnswer::Secure => HostOutcome::Dane { via: None },
            TlsaAnswer::Failed(error) => HostOutcome::Failed { error, via: None },
            TlsaAnswer::Unusable => match expansion {
                // RFC 7672 §2.1.1: the CNAME lookup failed, so whether a secure expansion with
                // TLSA records exists is unknown: not "no TLSA".
                Err(error) if !error.is_negative() => HostOutcome::Failed {
                    error: error.clone(),
                    via: None,
                },
                _ => HostOutcome::NoDane,
            },
        }
    }
}

impl DaneFacts {
    /// The facts of an MX RRset the resolver did not validate: no TLSA lookups.
    pub fn unvalidated_mx() -> DaneFacts {
        DaneFacts {
            mx_validated: false,
            hosts: Vec::new(),
            failed: Vec::new(),
            via: Vec::new(),
        }
    }

    /// The facts of a validated MX RRset from the TLSA answers of its hosts (`host`, the answer
    /// for `_25._tcp.<host>`), in MX preference order, for hosts that are not aliases.
    pub fn from_tlsa_answers(answers: Vec<(String, Result<Tlsa, DnsError>)>) -> DaneFacts {
        DaneFacts::from_outcomes(
            answers
                .into_iter()
                .map(|(host, answer)| {
                    let outcome = HostOutcome::decide(&Ok(None), answer, None);
                    (host, outcome)
                })
                .collect(),
        )
    }

    /// The facts of a validated MX RRset from the outcomes of its hosts, in MX preference order.
    fn from_outcomes(outcomes: Vec<(String, HostOutcome)>) -> DaneFacts {
        let mut facts = DaneFacts {
            mx_validated: true,
            hosts: Vec::new(),
            failed: Vec::new(),
            via: Vec::new(),
        };
        for (host, outcome) in outcomes {
            let via = match outcome {
                HostOutcome::Dane { via } => {
                    facts.hosts.push(host.clone());
                    via
                }
                HostOutcome::NoDane => None,
                // Postfix, looking up for itself at delivery, decides for that host.
                HostOutcome::Failed { error, via } => {
                    facts.failed.push((host.clone(), error));
                    via
                }
            };
            if let Some(target) = via {
                facts.via.push((host, target));
            }
        }
        facts
    }

    /// `host` named with the TLSA base domain that decided it, for display and the cache:
    /// `mx.example.com (via mx1.provider.net)` when that was its CNAME-expanded name (see
    /// [`Self::via`]), the host name alone otherwise.
    pub fn label(&self, host: &str) -> String {
        match self.via.iter().find(|(name, _)| name == host) {
            Some((_, target)) => format!("{host} (via {target})"),
            None => host.to_string(),
        }
    }
}

/// The network side of policy discovery (RFC 8461 §3.1, §3.3).
pub trait PolicySource: Send + Sync + fmt::Debug {
    /// The TXT records at `_mta-sts.<domain>`, within `timeout`.
    fn sts_records<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<TxtRecords, DnsError>>;

    /// The body of `https://mta-sts.<domain>/.well-known/mta-sts.txt`, fetched as RFC 8461 §3.3
    /// requires (valid certificate, 200 only, no redirects, `text/plain`, size cap), within
    /// `timeout`.
    fn fetch_policy<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>>;

    /// The DANE facts of `domain` (RFC 7672 §2.2): whether the resolver validated its MX RRset
    /// (the AD bit) and, under a validated MX RRset only, what the TLSA lookups gave for each MX
    /// host (at most [`MAX_DANE_HOSTS`], looked up at once): at `_25._tcp.<host>`, and first at
    /// `_25._tcp.<expanded name>` when the host name is an alias whose expansion the resolver
    /// validated (RFC 7672 §2.2.2). The MX lookup is bounded by `timeout`, and so are each
    /// host's lookups together; an error is the MX lookup's.
    fn dane<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<DaneFacts, DnsError>>;
}

/// The real [`PolicySource`]: DNS and HTTPS through `mta-sts-net`.
#[derive(Debug, Clone)]
pub struct NetSource {
    dns: Dns,
    fetch: FetchConfig,
}

impl NetSource {
    /// A source using this DNS client and fetch configuration (its timeout is replaced by each
    /// call's).
    pub fn new(dns: Dns, fetch: FetchConfig) -> NetSource {
        NetSource { dns, fetch }
    }

    /// The source a daemon with `config` uses: its resolver, its extra CA roots, its HTTPS port.
    pub fn from_config(config: &Config) -> Result<NetSource, PolicydError> {
        let longest = config
            .zones
            .values()
            .chain(std::iter::once(&config.default_zone))
            .map(|zone| zone.timeout)
            .max()
            .unwrap_or(config.default_zone.timeout);
        let dns = Dns::new(&DnsConfig {
            upstream: config.resolver,
            // Each lookup is bounded by its zone's timeout; the client's own is the longest.
            timeout: longest,
            attempts: 2,
        })?;
        let trust = match &config.ca_file {
            Some(path) => Trust::web_pki_and_pem_file(path)?,
            None => Trust::web_pki(),
        };
        let mut fetch = FetchConfig::new(trust);
        fetch.port = config.https_port;
        Ok(NetSource::new(dns, fetch))
    }
}

impl PolicySource for NetSource {
    fn sts_records<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<TxtRecords, DnsError>> {
        async move {
            // RFC 8461 §3.1: the record lives at `_mta-sts.<domain>`.
            let name = format!("_mta-sts.{domain}");
            tokio::time::timeout(timeout, self.dns.txt(&name))
                .await
                .unwrap_or(Err(DnsError::Timeout))
        }
        .boxed()
    }

    fn fetch_policy<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>> {
        async move {
            let mut config = self.fetch.clone();
            config.timeout = timeout;
            fetch_policy(domain, &self.dns, &config)
                .await
                .map(|fetched| fetched.body)
        }
        .boxed()
    }

    fn dane<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<DaneFacts, DnsError>> {
        async move {
            let (mx, validated) = tokio::time::timeout(timeout, self.dns.mx_authenticated(domain))
                .await
                .unwrap_or(Err(DnsError::Timeout))?;
            // RFC 7672 §2.2.1: DANE can authenticate delivery to the domain only when its MX
            // RRset was obtained by a DNSSEC-validated lookup; for an "insecure" one DANE "need
            // not apply". No TLSA lookups then.
            if !validated {
                return Ok(DaneFacts::unvalidated_mx());
            }
            let mut hosts: Vec<String> = Vec::new();
            for (_, host) in mx.hosts {
                if !hosts.contains(&host) && hosts.len() < MAX_DANE_HOSTS {
                    hosts.push(host);
                }
            }
            // All hosts at once, each host's lookups bounded together: the facts take the MX
            // lookup's time and one host's, not the sum over hosts.
            let outcomes = join_all(hosts.into_iter().map(|host| async move {
                let outcome = tokio::time::timeout(timeout, self.host_dane(&host))
                    .await
                    .unwrap_or(HostOutcome::Failed {
                        error: DnsError::Timeout,
                        via: None,
                    });
                (host, outcome)
            }))
            .await;
            Ok(DaneFacts::from_outcomes(outcomes))
        }
        .boxed()
    }
}

impl NetSource {
    /// The DANE lookups of one MX host of a validated MX RRset (RFC 7672 §2.2.2, §2.2.3).
    async fn host_dane(&self, host: &str) -> HostOutcome {
        // RFC 7672 §2.2.3, with the naming of RFC 6698 §3: the TLSA records of a TLSA base
        // domain are at `_25._tcp.<base domain>`. The host name is a candidate whatever its
        // CNAME lookup says, so both go out at once.
        let at_host_name = format!("_25._tcp.{host}");
        let (expansion, at_host) = join(
            self.dns.cname_target_authenticated(host),
            self.dns.tlsa(&at_host_name),
        )
        .await;
        // RFC 7672 §2.2.2: only a secure expansion (every CNAME validated) makes the expanded
        // name a TLSA base domain, tried before the host name; an insecure one leaves the host
        // name alone.
        let secure_target = match &expansion {
            Ok(Some(expanded)) if expanded.authenticated && expanded.target != host => {
                Some(expanded.target.clone())
            }
            _ => None,
        };
        let at_target = match secure_target {
            Some(target) => {
                let answer = self.dns.tlsa(&format!("_25._tcp.{target}")).await;
                Some((target, answer))
            }
            None => None,
        };
        HostOutcome::decide(&expansion, at_host, at_target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlsa(authenticated: bool) -> Result<Tlsa, DnsError> {
        Ok(Tlsa {
            records: vec!["3 1 1 00".into()],
            authenticated,
        })
    }

    #[test]
    fn only_validated_tlsa_counts_and_failures_are_kept_apart() {
        let facts = DaneFacts::from_tlsa_answers(vec![
            ("a.example".into(), tlsa(true)),
            ("b.example".into(), tlsa(false)),
            ("c.example".into(), Err(DnsError::NxDomain)),
            ("d.example".into(), Err(DnsError::NoData)),
            ("e.example".into(), Err(DnsError::ServFail)),
            ("f.example".into(), Err(DnsError::Timeout)),
            ("g.example".into(), tlsa(true)),
        ]);
        assert!(facts.mx_validated);
        assert_eq!(facts.hosts, ["a.example", "g.example"]);
        assert_eq!(
            facts.failed,
            [
                ("e.example".to_string(), DnsError::ServFail),
                ("f.example".to_string(), DnsError::Timeout)
            ]
        );
        assert!(facts.via.is_empty());
        assert_eq!(
            DaneFacts::from_tlsa_answers(Vec::new()),
            DaneFacts {
                mx_validated: true,
                hosts: Vec::new(),
                failed: Vec::new(),
                via: Vec::new(),
            }
        );
        assert!(!DaneFacts::unvalidated_mx().mx_validated);
    }

    fn alias(authenticated: bool) -> Result<Option<CnameExpansion>, DnsError> {
        Ok(Some(CnameExpansion {
            target: "mx1.provider.example".into(),
            chain: vec!["mx1.provider.example".into()],
            authenticated,
        }))
    }

    fn at_target(answer: Result<Tlsa, DnsError>) -> Option<(String, Result<Tlsa, DnsError>)> {
        Some(("mx1.provider.example".into(), answer))
    }

    #[test]
    fn a_secure_expansion_is_tried_first_then_the_host_name() {
        let via = Some("mx1.provider.example".to_string());
        // TLSA at the expanded name: DANE, decided there, whatever the host name has.
        for at_host in [tlsa(true), Err(DnsError::NxDomain), Err(DnsError::ServFail)] {
            assert_eq!(
                HostOutcome::decide(&alias(true), at_host, at_target(tlsa(true))),
                HostOutcome::Dane { via: via.clone() }
            );
        }
        // Nothing usable at the expanded name (none, or unvalidated): the host name decides.
        for nothing in [Err(DnsError::NxDomain), Err(DnsError::NoData), tlsa(false)] {
            assert_eq!(
                HostOutcome::decide(&alias(true), tlsa(true), at_target(nothing.clone())),
                HostOutcome::Dane { via: None }
            );
            assert_eq!(
                HostOutcome::decide(&alias(true), Err(DnsError::NxDomain), at_target(nothing)),
                HostOutcome::NoDane
            );
        }
        // A failed lookup at the expanded name is not "no TLSA there": no fallback.
        assert_eq!(
            HostOutcome::decide(&alias(true), tlsa(true), at_target(Err(DnsError::Timeout))),
            HostOutcome::Failed {
                error: DnsError::Timeout,
                via: via.clone()
            }
        );
    }

    #[test]
    fn without_a_secure_expansion_only_the_host_name_counts() {
        // Not an alias, or an alias the resolver did not validate (no target lookup is made):
        // the host name's own TLSA answer decides.
        for expansion in [Ok(None), alias(false), Err(DnsError::NxDomain)] {
            assert_eq!(
                HostOutcome::decide(&expansion, tlsa(true), None),
                HostOutcome::Dane { via: None }
            );
            assert_eq!(
                HostOutcome::decide(&expansion, tlsa(false), None),
                HostOutcome::NoDane
            );
            assert_eq!(
                HostOutcome::decide(&expansion, Err(DnsError::ServFail), None),
                HostOutcome::Failed {
                    error: DnsError::ServFail,
                    via: None
                }
            );
        }
        // A failed CNAME lookup leaves the expansion unknown: not "no TLSA", unless the host
        // name has secure TLSA anyway.
        let failed = Err(DnsError::Timeout);
        assert_eq!(
            HostOutcome::decide(&failed, Err(DnsError::NxDomain), None),
            HostOutcome::Failed {
                error: DnsError::Timeout,
                via: None
            }
        );
        assert_eq!(
            HostOutcome::decide(&failed, tlsa(true), None),
            HostOutcome::Dane { via: None }
        );
    }

    #[test]
    fn facts_name_the_expanded_name_that_decided() {
        let target = || Some("mx1.provider.example".to_string());
        let facts = DaneFacts::from_outcomes(vec![
            ("mx.example".into(), HostOutcome::Dane { via: target() }),
            ("mx2.example".into(), HostOutcome::Dane { via: None }),
            ("mx3.example".into(), HostOutcome::NoDane),
            (
                "mx4.example".into(),
                HostOutcome::Failed {
                    error: DnsError::ServFail,
                    via: target(),
                },
            ),
        ]);
        assert_eq!(facts.hosts, ["mx.example", "mx2.example"]);
        assert_eq!(
            facts.failed,
            [("mx4.example".to_string(), DnsError::ServFail)]
        );
        assert_eq!(
            facts.via,
            [
                ("mx.example".to_string(), "mx1.provider.example".to_string()),
                (
                    "mx4.example".to_string(),
                    "mx1.provider.example".to_string()
                )
            ]
        );
        assert_eq!(
            facts.label("mx.example"),
            "mx.example (via mx1.provider.example)"
        );
        assert_eq!(facts.label("mx2.example"), "mx2.example");
    }
}
