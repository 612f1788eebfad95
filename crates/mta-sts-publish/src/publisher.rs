//! The engine: the live MX set of a domain through the network layer's DNS, then
//! [`compose`](crate::compose).

use mta_sts_core::Timestamp;
use mta_sts_core::domain::normalize_mail_domain;
use mta_sts_net::policy_fetch::fetch_policy;
use mta_sts_net::{Dns, DnsConfig, FetchConfig};

use crate::{
    MxChangeOptions, MxChangePlan, Publication, PublishError, PublishOptions, compose,
    plan_mx_change,
};

/// Builds publications from live DNS. Cheap to clone; one serves every domain.
#[derive(Debug, Clone)]
pub struct Publisher {
    dns: Dns,
}

impl Publisher {
    /// A publisher asking `dns` (the resolver is configurable there, as for `check`).
    pub fn new(dns: Dns) -> Publisher {
        Publisher { dns }
    }

    /// A publisher with its own DNS client for `config`.
    pub fn from_dns_config(config: &DnsConfig) -> Result<Publisher, PublishError> {
        Ok(Publisher::new(Dns::new(config)?))
    }

    /// The DNS client it asks.
    pub fn dns(&self) -> &Dns {
        &self.dns
    }

    /// The publication of `domain` (Unicode names are turned into A-labels) from its MX records
    /// as DNS answers now.
    pub async fn publish(
        &self,
        domain: &str,
        options: &PublishOptions,
    ) -> Result<Publication, PublishError> {
        options.validate()?;
        let domain = mail_domain(domain)?;
        let mx = match self.dns.mx(&domain).await {
            Ok(mx) => mx,
            Err(error) if error.is_negative() => {
                return Err(PublishError::NoMx {
                    domain,
                    detail: error,
                });
            }
            Err(error) => return Err(PublishError::MxLookup { domain, error }),
        };
        compose(&domain, &mx, options)
    }

    /// The plan for moving `domain`'s MX records to `new_mx`, from its policy as served now
    /// (fetched as a sender does, with `fetch`'s trust roots and port), timed from `now`.
    pub async fn plan_mx_change(
        &self,
        domain: &str,
        new_mx: &[String],
        options: &MxChangeOptions,
        fetch: &FetchConfig,
        now: Timestamp,
    ) -> Result<MxChangePlan, PublishError> {
        let domain = mail_domain(domain)?;
        if new_mx.is_empty() {
            return Err(PublishError::NoNewMx { domain });
        }
        let fetched = fetch_policy(&domain, &self.dns, fetch)
            .await
            .map_err(|error| PublishError::PolicyFetch {
                domain: domain.clone(),
                error: Box::new(error),
            })?;
        plan_mx_change(&domain, &fetched.body, new_mx, options, now)
    }
}

/// `domain` in A-labels, or a refusal naming the problem.
pub(crate) fn mail_domain(domain: &str) -> Result<String, PublishError> {
    normalize_mail_domain(domain).map_err(|e| PublishError::InvalidDomain {
        domain: domain.to_string(),
        reason: e.diagnostic().message.clone(),
    })
}
