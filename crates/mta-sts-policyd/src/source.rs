//! Where policies come from: the network operations the resolver needs (the `_mta-sts` TXT
//! record, the policy fetch, and the DANE facts of a domain), behind a trait so the resolver's
//! cache logic can be observed (and counted) in tests and reused elsewhere.

use std::fmt;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, join_all};
use mta_sts_net::dane::{DaneStatus, MxHostTlsa, mx_host_tlsa};
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

    /// The facts of a validated MX RRset from the deciding TLSA answers of its hosts, in MX
    /// preference order.
    fn from_host_tlsa(hosts: Vec<(String, MxHostTlsa)>) -> DaneFacts {
        let mut facts = DaneFacts {
            mx_validated: true,
            hosts: Vec::new(),
            failed: Vec::new(),
            via: Vec::new(),
        };
        for (host, tlsa) in hosts {
            match tlsa.status() {
                DaneStatus::Applies => facts.hosts.push(host.clone()),
                // No usable TLSA: where the answer came from decided nothing.
                DaneStatus::DoesNotApply => continue,
                // Postfix, looking up for itself at delivery, decides for that host.
                DaneStatus::Unknown(error) => facts.failed.push((host.clone(), error)),
            }
            if let Some(target) = tlsa.via {
                facts.via.push((host, target));
            }
        }
        facts
    }

    /// `host` named with the TLSA base domain that decided it, for display and the cache:
    /// `mx.example.com (via mx1.provider.net)` when that was its CNAME-expanded name (see
    /// [`Self::via`]), the host name alone otherwise.
    pub fn label(&self, host: &str) -> String {
        let via = self.via.iter().find(|(name, _)| name == host);
        mta_sts_net::dane::label(host, via.map(|(_, target)| target.as_str()))
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
                // RFC 7672 §2.2.2's candidates for this host: its validated CNAME expansion
                // first, then the host name. Out of time, the host's answer is unknown, never
                // "no TLSA" (RFC 7672 §2.1.1).
                let outcome = tokio::time::timeout(timeout, mx_host_tlsa(&self.dns, &host))
                    .await
                    .unwrap_or(MxHostTlsa {
                        via: None,
                        answer: Err(DnsError::Timeout),
                        expansion_failure: None,
                    });
                (host, outcome)
            }))
            .await;
            Ok(DaneFacts::from_host_tlsa(outcomes))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mta_sts_net::dns::Tlsa;

    fn tlsa(authenticated: bool) -> Result<Tlsa, DnsError> {
        Ok(Tlsa {
            records: vec!["3 1 1 00".into()],
            authenticated,
        })
    }

    /// The facts from the answers at `_25._tcp.<host>` of hosts that are not aliases.
    fn from_tlsa_answers(answers: Vec<(String, Result<Tlsa, DnsError>)>) -> DaneFacts {
        DaneFacts::from_host_tlsa(
            answers
                .into_iter()
                .map(|(host, answer)| (host, MxHostTlsa::decide(&Ok(None), answer, None)))
                .collect(),
        )
    }

    #[test]
    fn only_validated_tlsa_counts_and_failures_are_kept_apart() {
        let facts = from_tlsa_answers(vec![
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
            from_tlsa_answers(Vec::new()),
            DaneFacts {
                mx_validated: true,
                hosts: Vec::new(),
                failed: Vec::new(),
                via: Vec::new(),
            }
        );
        assert!(!DaneFacts::unvalidated_mx().mx_validated);
    }

    #[test]
    fn facts_name_the_expanded_name_that_decided() {
        let target = || Some("mx1.provider.example".to_string());
        let decided = |via: Option<String>, answer: Result<Tlsa, DnsError>| MxHostTlsa {
            via,
            answer,
            expansion_failure: None,
        };
        let facts = DaneFacts::from_host_tlsa(vec![
            ("mx.example".into(), decided(target(), tlsa(true))),
            ("mx2.example".into(), decided(None, tlsa(true))),
            ("mx3.example".into(), decided(None, Err(DnsError::NxDomain))),
            // Unvalidated records at the expanded name decide nothing: no `via` for the host.
            ("mx5.example".into(), decided(target(), tlsa(false))),
            (
                "mx4.example".into(),
                decided(target(), Err(DnsError::ServFail)),
            ),
            // No TLSA at the host name, but its CNAME lookup failed: unknown, not "no TLSA".
            (
                "mx6.example".into(),
                MxHostTlsa {
                    expansion_failure: Some(DnsError::Timeout),
                    ..decided(None, Err(DnsError::NxDomain))
                },
            ),
        ]);
        assert_eq!(facts.hosts, ["mx.example", "mx2.example"]);
        assert_eq!(
            facts.failed,
            [
                ("mx4.example".to_string(), DnsError::ServFail),
                ("mx6.example".to_string(), DnsError::Timeout)
            ]
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
