//! The engine: the live MX set of a domain through the network layer's DNS, then
//! [`compose`](crate::compose).

use mta_sts_core::domain::normalize_mail_domain;
use mta_sts_net::{Dns, DnsConfig};

use crate::{Publication, PublishError, PublishOptions, compose};

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
}

/// `domain` in A-labels, or a refusal naming the problem.
pub(crate) fn mail_domain(domain: &str) -> Result<String, PublishError> {
    normalize_mail_domain(domain).map_err(|e| PublishError::InvalidDomain {
        domain: domain.to_string(),
        reason: e.diagnostic().message.clone(),
    })
}
